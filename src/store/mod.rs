//! The storage seam. Everything persistent goes through [`Store`]; the only
//! implementation today is [`sled_store::SledStore`], and only the persistence actor and
//! the loaders in `actors` hold one.

pub mod sled_store;

use crate::domain::ids::OrgId;
use crate::domain::model::{Event, TokenHash};
use crate::domain::state::OrgParts;
use crate::domain::Change;
use std::fmt;

#[derive(Debug, Clone)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

pub type StoreResult<T> = Result<T, StoreError>;

pub trait Store: Send + Sync + 'static {
    /// Write the changes of several commits as ONE atomic batch and make it durable before
    /// returning (group commit: one flush for many writers).
    fn commit(&self, commits: &[&[Change]]) -> StoreResult<()>;
    /// Everything needed to rebuild one org, or `None` if it does not exist.
    fn load_org(&self, org: OrgId) -> StoreResult<Option<OrgParts>>;
    /// Whether the org exists, without loading it.
    fn org_exists(&self, org: OrgId) -> StoreResult<bool>;
    /// The token index: hash of each live SCIM token and its org.
    fn tokens(&self) -> StoreResult<Vec<(TokenHash, OrgId)>>;
    /// Events with `seq > after`, in order, at most `limit`.
    fn events(&self, org: OrgId, after: u64, limit: usize) -> StoreResult<Vec<Event>>;
    /// A small server-wide setting (the admin token hash).
    fn setting(&self, name: &str) -> StoreResult<Option<Vec<u8>>>;
    /// Durably write a setting.
    fn put_setting(&self, name: &str, value: &[u8]) -> StoreResult<()>;
}
