//! Every mutation of an organization as one value. The org actor runs each inside its own
//! transaction; HTTP handlers build them from parsed, validated input.

use super::ids::{MemberId, ScimId, TeamId, Version};
use super::model::{GroupMapping, Role, SsoConfig, TokenHash};
use super::state::Tx;
use super::DomainResult;
use crate::scim::patch::PatchOp;
use serde_json::{Map, Value};

#[derive(Debug, Clone)]
pub enum Command {
    CreateUser(Map<String, Value>),
    ReplaceUser {
        id: ScimId,
        attrs: Map<String, Value>,
        if_match: Option<Version>,
    },
    PatchUser {
        id: ScimId,
        ops: Vec<PatchOp>,
        if_match: Option<Version>,
    },
    DeleteUser {
        id: ScimId,
        if_match: Option<Version>,
    },
    CreateGroup(Map<String, Value>),
    ReplaceGroup {
        id: ScimId,
        attrs: Map<String, Value>,
        if_match: Option<Version>,
    },
    PatchGroup {
        id: ScimId,
        ops: Vec<PatchOp>,
        if_match: Option<Version>,
    },
    DeleteGroup {
        id: ScimId,
        if_match: Option<Version>,
    },
    ConfigureSso(SsoConfig),
    InstallToken {
        hash: TokenHash,
        rotate: bool,
    },
    RevokeToken,
    SetMappings(Vec<GroupMapping>),
    AddMember {
        email: String,
        name: String,
        role: Role,
    },
    CreateTeam {
        name: String,
    },
    SetTeamMembers {
        team: TeamId,
        members: Vec<MemberId>,
    },
}

/// What a command produced (besides the new state).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The SCIM resource created or changed.
    Resource(ScimId),
    Deleted,
    Updated,
    /// A token was installed; it replaced this one (rotation).
    TokenInstalled {
        replaced: Option<TokenHash>,
    },
    TokenRevoked(TokenHash),
    Member(MemberId),
    Team(TeamId),
}

impl Command {
    /// Short name for spans and logs (never the payload).
    pub fn name(&self) -> &'static str {
        match self {
            Command::CreateUser(_) => "create_user",
            Command::ReplaceUser { .. } => "replace_user",
            Command::PatchUser { .. } => "patch_user",
            Command::DeleteUser { .. } => "delete_user",
            Command::CreateGroup(_) => "create_group",
            Command::ReplaceGroup { .. } => "replace_group",
            Command::PatchGroup { .. } => "patch_group",
            Command::DeleteGroup { .. } => "delete_group",
            Command::ConfigureSso(_) => "configure_sso",
            Command::InstallToken { .. } => "install_token",
            Command::RevokeToken => "revoke_token",
            Command::SetMappings(_) => "set_mappings",
            Command::AddMember { .. } => "add_member",
            Command::CreateTeam { .. } => "create_team",
            Command::SetTeamMembers { .. } => "set_team_members",
        }
    }

    pub fn run(self, tx: &mut Tx<'_>) -> DomainResult<Outcome> {
        Ok(match self {
            Command::CreateUser(attrs) => Outcome::Resource(tx.create_user(attrs)?),
            Command::ReplaceUser {
                id,
                attrs,
                if_match,
            } => {
                tx.replace_user(id, attrs, if_match)?;
                Outcome::Resource(id)
            }
            Command::PatchUser { id, ops, if_match } => {
                tx.patch_user(id, &ops, if_match)?;
                Outcome::Resource(id)
            }
            Command::DeleteUser { id, if_match } => {
                tx.delete_user(id, if_match)?;
                Outcome::Deleted
            }
            Command::CreateGroup(attrs) => Outcome::Resource(tx.create_group(attrs)?),
            Command::ReplaceGroup {
                id,
                attrs,
                if_match,
            } => {
                tx.replace_group(id, attrs, if_match)?;
                Outcome::Resource(id)
            }
            Command::PatchGroup { id, ops, if_match } => {
                tx.patch_group(id, ops, if_match)?;
                Outcome::Resource(id)
            }
            Command::DeleteGroup { id, if_match } => {
                tx.delete_group(id, if_match)?;
                Outcome::Deleted
            }
            Command::ConfigureSso(sso) => {
                tx.configure_sso(sso)?;
                Outcome::Updated
            }
            Command::InstallToken { hash, rotate } => Outcome::TokenInstalled {
                replaced: tx.install_token(hash, rotate)?,
            },
            Command::RevokeToken => Outcome::TokenRevoked(tx.revoke_token()?),
            Command::SetMappings(m) => {
                tx.set_mappings(m)?;
                Outcome::Updated
            }
            Command::AddMember { email, name, role } => {
                Outcome::Member(tx.add_manual_member(email, name, role)?)
            }
            Command::CreateTeam { name } => Outcome::Team(tx.create_team(name)?),
            Command::SetTeamMembers { team, members } => {
                tx.set_team_members(team, members)?;
                Outcome::Team(team)
            }
        })
    }
}
