//! The organization's domain records: roles, members, teams, SSO, token metadata, group
//! mappings and the event log entries. These are what the store persists.

use super::ids::{MemberId, OrgId, ScimId, TeamId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// A member's role. Declared from most to least privileged among the roles SCIM may assign
/// (DESIGN §3: admin > developer > viewer > operator); `Owner` is above all and is never
/// assigned by SCIM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Developer,
    Viewer,
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Developer => "developer",
            Role::Viewer => "viewer",
            Role::Operator => "operator",
        }
    }

    /// Higher is more privileged.
    pub fn privilege(self) -> u8 {
        match self {
            Role::Owner => 5,
            Role::Admin => 4,
            Role::Developer => 3,
            Role::Viewer => 2,
            Role::Operator => 1,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "developer" => Ok(Role::Developer),
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            _ => Err(()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberStatus {
    Active,
    /// Suspended in the directory (`active: false`): role kept, sign-in refused.
    Banned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ManagedBy {
    Scim,
    Manual,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: MemberId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub status: MemberStatus,
    pub managed_by: ManagedBy,
    pub scim_user_id: Option<ScimId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    pub id: TeamId,
    pub name: String,
    pub members: Vec<MemberId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SsoProtocol {
    Saml,
    Oidc,
}

/// The organization's SSO configuration. scimd does not run SSO itself; it only requires
/// one before SCIM can be enabled, so members it provisions can sign in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoConfig {
    pub protocol: SsoProtocol,
    pub issuer: String,
    /// The rest of what the host's dashboard sends (metadata URL, client id, ...), kept as is.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub settings: serde_json::Map<String, Value>,
}

/// Metadata of the org's live SCIM token. The token itself is never stored: only its hash,
/// which lives in the token index, not here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimTokenInfo {
    /// SHA-256 of the token; the key of the token index.
    pub hash: TokenHash,
    pub created_at: String,
}

/// SHA-256 of a bearer token.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TokenHash(#[serde(with = "hex32")] pub [u8; 32]);

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A hash is not a secret, but keep it out of logs anyway: short prefix only.
        write!(f, "TokenHash({:02x}{:02x}..)", self.0[0], self.0[1])
    }
}

mod hex32 {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::util::hex(b))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        crate::util::unhex32(&s).ok_or_else(|| D::Error::custom("expected 64 hex digits"))
    }
}

/// One directory group mapped to a role (DESIGN §3). Group names compare
/// case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMapping {
    pub group: String,
    pub role: Role,
}

/// Everything about an organization that is not a SCIM resource, member or team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgMeta {
    pub id: OrgId,
    pub name: String,
    pub created_at: String,
    pub owner: MemberId,
    pub sso: Option<SsoConfig>,
    pub scim_token: Option<ScimTokenInfo>,
    pub mappings: Vec<GroupMapping>,
}

/// Per-org counters, written in every commit so they survive restarts exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Counters {
    /// Last version handed out.
    pub version: u64,
    /// Last event sequence number written.
    pub event_seq: u64,
}

/// An entry of the org's ordered event log (DESIGN §3). `seq` starts at 1 and has no gaps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub at: String,
    pub kind: EventKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_id: Option<MemberId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scim_user_id: Option<ScimId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scim_group_id: Option<ScimId>,
    /// What changed, kind-specific (e.g. `{"from": "viewer", "to": "developer"}`).
    #[serde(skip_serializing_if = "Value::is_null", default)]
    pub detail: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    OrgCreated,
    SsoConfigured,
    TokenGenerated,
    TokenRotated,
    TokenRevoked,
    MappingsChanged,
    TeamCreated,
    TeamMembersChanged,
    MemberAdded,
    RoleChanged,
    MemberBanned,
    MemberUnbanned,
    MemberRemoved,
    ProfileUpdated,
    OwnerProtected,
}
