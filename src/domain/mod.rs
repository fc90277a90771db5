//! Domain rules: organizations, their SCIM resources, and how directory data becomes
//! membership (DESIGN §3). Pure: no actix, no sled. The actors own an [`OrgState`] and
//! hand the [`Change`]s of each transaction to the store.

pub mod command;
pub mod ids;
pub mod membership;
pub mod model;
pub mod query;
pub mod render;
pub mod resources;
pub mod state;

use crate::scim::ScimError;
use ids::{MemberId, OrgId, ScimId, TeamId};
use model::{Counters, Event, Member, OrgMeta, Team, TokenHash};
use resources::{GroupRecord, UserRecord};
use std::fmt;
use std::sync::Arc;

pub use state::OrgState;

/// One durable effect of a transaction. A commit is a list of these, written atomically
/// (one storage batch) so that a resource and the events it caused never part.
#[derive(Debug, Clone)]
pub enum Change {
    PutOrg(Arc<OrgMeta>),
    Counters(OrgId, Counters),
    PutUser(OrgId, Arc<UserRecord>),
    DeleteUser(OrgId, ScimId),
    PutGroup(OrgId, Arc<GroupRecord>),
    DeleteGroup(OrgId, ScimId),
    AddGroupMember {
        org: OrgId,
        group: ScimId,
        user: ScimId,
    },
    RemoveGroupMember {
        org: OrgId,
        group: ScimId,
        user: ScimId,
    },
    PutMember(OrgId, Arc<Member>),
    DeleteMember(OrgId, MemberId),
    PutTeam(OrgId, Arc<Team>),
    DeleteTeam(OrgId, TeamId),
    Event(OrgId, Arc<Event>),
    PutToken(TokenHash, OrgId),
    DeleteToken(TokenHash),
}

/// Why a domain operation was refused. Mapped to HTTP in one place (`http::errors`).
#[derive(Debug, Clone, PartialEq)]
pub enum DomainError {
    /// A protocol-level refusal with its `scimType` (invalidValue, mutability, ...).
    Scim(ScimError),
    /// The resource does not exist in this organization (or belongs to another: same answer).
    NotFound(&'static str),
    /// `If-Match` named a version that is no longer current (RFC 7644 §3.14).
    VersionMismatch,
    /// The org has no SSO configured, so SCIM cannot be enabled (DESIGN §2).
    SsoRequired,
    /// A SCIM token exists already: rotate it instead.
    TokenExists,
    /// A request to the admin API that breaks a rule (bad role, empty name, ...).
    Invalid(String),
    /// A conflict in the admin API (duplicate team name, ...).
    Conflict(String),
    /// The org's queue is full: retry later (backpressure, RFC 6585 §4).
    Overloaded { retry_after_secs: u32 },
    /// The store could not make the change durable; nothing was published.
    Unavailable(String),
}

impl From<ScimError> for DomainError {
    fn from(e: ScimError) -> Self {
        DomainError::Scim(e)
    }
}

impl fmt::Display for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DomainError::Scim(e) => write!(f, "{e}"),
            DomainError::NotFound(what) => write!(f, "{what} not found"),
            DomainError::VersionMismatch => f.write_str("version mismatch"),
            DomainError::SsoRequired => f.write_str("SSO must be configured before SCIM"),
            DomainError::TokenExists => f.write_str("a SCIM token exists already"),
            DomainError::Invalid(d) | DomainError::Conflict(d) => f.write_str(d),
            DomainError::Overloaded { .. } => f.write_str("too many pending requests"),
            DomainError::Unavailable(d) => write!(f, "store unavailable: {d}"),
        }
    }
}

impl std::error::Error for DomainError {}

pub type DomainResult<T> = Result<T, DomainError>;
