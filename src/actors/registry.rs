//! The token registry: generates, rotates and revokes SCIM tokens, and publishes the
//! read-only index (token hash -> org) that the auth extractor consults on every request
//! without a message round trip.

use super::directory::Directory;
use crate::domain::command::{Command, Outcome};
use crate::domain::ids::OrgId;
use crate::domain::model::TokenHash;
use crate::domain::{DomainError, DomainResult};
use crate::util::{hex, unix_now};
use actix::prelude::*;
use parking_lot::RwLock;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Prefix of every SCIM token: lets secret scanners recognise a leaked one.
pub const TOKEN_PREFIX: &str = "scimd_";

/// A fresh secret: 256 bits from the OS random source, hex-encoded behind a prefix.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the OS random source is available");
    format!("{TOKEN_PREFIX}{}", hex(&bytes))
}

pub fn hash_token(raw: &str) -> TokenHash {
    TokenHash(Sha256::digest(raw.as_bytes()).into())
}

struct IndexEntry {
    org: OrgId,
    hash: TokenHash,
    /// Unix seconds of the last authenticated request (in memory only).
    last_used: AtomicU64,
}

/// The published token index. Lookups hash the presented token and find it by hash: the
/// map compares hashes, never secrets, and the final comparison of the 32-byte digest is
/// constant-time.
#[derive(Clone, Default)]
pub struct TokenIndex {
    inner: Arc<RwLock<HashMap<TokenHash, Arc<IndexEntry>>>>,
}

impl TokenIndex {
    pub fn new(entries: Vec<(TokenHash, OrgId)>) -> TokenIndex {
        let map = entries
            .into_iter()
            .map(|(hash, org)| {
                (
                    hash,
                    Arc::new(IndexEntry {
                        org,
                        hash,
                        last_used: AtomicU64::new(0),
                    }),
                )
            })
            .collect();
        TokenIndex {
            inner: Arc::new(RwLock::new(map)),
        }
    }

    /// The org a presented bearer token belongs to, if it is live.
    pub fn resolve(&self, presented: &str) -> Option<OrgId> {
        let hash = hash_token(presented);
        let entry = self.inner.read().get(&hash).cloned()?;
        if !bool::from(entry.hash.0.ct_eq(&hash.0)) {
            return None;
        }
        let now = unix_now();
        if entry.last_used.load(Ordering::Relaxed) != now {
            entry.last_used.store(now, Ordering::Relaxed);
        }
        Some(entry.org)
    }

    /// Unix seconds of the org's last SCIM request since this process started.
    pub fn last_used(&self, org: OrgId) -> Option<u64> {
        self.inner
            .read()
            .values()
            .find(|e| e.org == org)
            .map(|e| e.last_used.load(Ordering::Relaxed))
            .filter(|t| *t > 0)
    }

    fn replace(&self, remove: Option<TokenHash>, add: Option<(TokenHash, OrgId)>) {
        let mut map = self.inner.write();
        if let Some(h) = remove {
            map.remove(&h);
        }
        if let Some((hash, org)) = add {
            map.insert(
                hash,
                Arc::new(IndexEntry {
                    org,
                    hash,
                    last_used: AtomicU64::new(0),
                }),
            );
        }
    }
}

/// Generate the org's first SCIM token. Replies with the raw token, shown once.
#[derive(Message)]
#[rtype(result = "DomainResult<String>")]
pub struct GenerateToken(pub OrgId);

/// Replace the org's token; the old one is refused from the reply on.
#[derive(Message)]
#[rtype(result = "DomainResult<String>")]
pub struct RotateToken(pub OrgId);

/// Remove the org's token: SCIM is off until a new one is generated.
#[derive(Message)]
#[rtype(result = "DomainResult<()>")]
pub struct RevokeToken(pub OrgId);

pub struct TokenRegistry {
    index: TokenIndex,
    directory: Arc<Directory>,
}

impl TokenRegistry {
    pub fn new(index: TokenIndex, directory: Arc<Directory>) -> Self {
        TokenRegistry { index, directory }
    }
}

impl Actor for TokenRegistry {
    type Context = Context<Self>;
}

async fn install(
    dir: Arc<Directory>,
    index: TokenIndex,
    org: OrgId,
    rotate: bool,
) -> DomainResult<String> {
    let raw = generate_secret();
    let hash = hash_token(&raw);
    let applied = dir
        .apply(org, Command::InstallToken { hash, rotate })
        .await?;
    let Outcome::TokenInstalled { replaced } = applied.outcome else {
        return Err(DomainError::Unavailable("unexpected outcome".into()));
    };
    // The commit is durable; swap the index before replying, so the old token is refused
    // from the moment the caller sees the new one.
    index.replace(replaced, Some((hash, org)));
    Ok(raw)
}

// AtomicResponse: token operations run one at a time, so two concurrent rotations cannot
// interleave their index updates.
impl Handler<GenerateToken> for TokenRegistry {
    type Result = AtomicResponse<Self, DomainResult<String>>;

    fn handle(&mut self, GenerateToken(org): GenerateToken, _: &mut Self::Context) -> Self::Result {
        let fut = install(self.directory.clone(), self.index.clone(), org, false);
        AtomicResponse::new(Box::pin(fut.into_actor(self)))
    }
}

impl Handler<RotateToken> for TokenRegistry {
    type Result = AtomicResponse<Self, DomainResult<String>>;

    fn handle(&mut self, RotateToken(org): RotateToken, _: &mut Self::Context) -> Self::Result {
        let fut = install(self.directory.clone(), self.index.clone(), org, true);
        AtomicResponse::new(Box::pin(fut.into_actor(self)))
    }
}

impl Handler<RevokeToken> for TokenRegistry {
    type Result = AtomicResponse<Self, DomainResult<()>>;

    fn handle(&mut self, RevokeToken(org): RevokeToken, _: &mut Self::Context) -> Self::Result {
        let (dir, index) = (self.directory.clone(), self.index.clone());
        let fut = async move {
            let applied = dir.apply(org, Command::RevokeToken).await?;
            if let Outcome::TokenRevoked(hash) = applied.outcome {
                index.replace(Some(hash), None);
            }
            Ok(())
        };
        AtomicResponse::new(Box::pin(fut.into_actor(self)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_256_bit_and_distinct() {
        let a = generate_secret();
        let b = generate_secret();
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 64);
    }

    #[test]
    fn index_resolves_only_live_tokens() {
        let org = OrgId::new_random();
        let raw = generate_secret();
        let idx = TokenIndex::new(vec![(hash_token(&raw), org)]);
        assert_eq!(idx.resolve(&raw), Some(org));
        assert_eq!(idx.resolve("scimd_wrong"), None);
        idx.replace(Some(hash_token(&raw)), None);
        assert_eq!(idx.resolve(&raw), None);
    }
}
