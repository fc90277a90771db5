//! sled implementation of [`Store`].
//!
//! One tree, keys prefixed by record kind and org id, so that a group commit is a single
//! `sled::Batch` (atomic) followed by a single flush (durable). Records are JSON: small,
//! debuggable, and forward-compatible with added fields.

use super::{Store, StoreError, StoreResult};
use crate::domain::ids::{OrgId, ScimId};
use crate::domain::model::{Counters, Event, Member, OrgMeta, Team, TokenHash};
use crate::domain::resources::{GroupRecord, UserRecord};
use crate::domain::state::OrgParts;
use crate::domain::Change;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;

const ORG: u8 = b'o';
const COUNTERS: u8 = b'c';
const USER: u8 = b'u';
const GROUP: u8 = b'g';
const EDGE: u8 = b'e';
const MEMBER: u8 = b'm';
const TEAM: u8 = b'T';
const EVENT: u8 = b'v';
const TOKEN: u8 = b't';
const SETTING: u8 = b's';

pub struct SledStore {
    db: sled::Db,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

fn key(kind: u8, org: &OrgId, rest: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(17 + rest.iter().map(|r| r.len()).sum::<usize>());
    k.push(kind);
    k.extend_from_slice(org.as_bytes());
    for r in rest {
        k.extend_from_slice(r);
    }
    k
}

fn enc<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("records serialize")
}

fn dec<T: DeserializeOwned>(b: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(b).map_err(|e| StoreError(format!("corrupt record: {e}")))
}

impl SledStore {
    pub fn open(dir: &Path, cache_bytes: u64) -> StoreResult<SledStore> {
        let db = sled::Config::new()
            .path(dir)
            // We flush explicitly after each group commit; sled's own timer flush would
            // only add fsyncs that nobody waits for.
            .flush_every_ms(None)
            // sled's default cache is 1 GiB; org state lives in memory anyway.
            .cache_capacity(cache_bytes)
            .open()
            .map_err(err)?;
        Ok(SledStore { db })
    }

    fn scan<T: DeserializeOwned>(&self, kind: u8, org: &OrgId) -> StoreResult<Vec<T>> {
        self.db
            .scan_prefix(key(kind, org, &[]))
            .values()
            .map(|v| dec(&v.map_err(err)?))
            .collect()
    }

    fn apply(batch: &mut sled::Batch, c: &Change) {
        match c {
            Change::PutOrg(m) => batch.insert(key(ORG, &m.id, &[]), enc(&**m)),
            Change::Counters(org, c) => batch.insert(key(COUNTERS, org, &[]), enc(c)),
            Change::PutUser(org, u) => batch.insert(key(USER, org, &[u.id.as_bytes()]), enc(&**u)),
            Change::DeleteUser(org, id) => batch.remove(key(USER, org, &[id.as_bytes()])),
            Change::PutGroup(org, g) => {
                batch.insert(key(GROUP, org, &[g.id.as_bytes()]), enc(&**g))
            }
            Change::DeleteGroup(org, id) => batch.remove(key(GROUP, org, &[id.as_bytes()])),
            Change::AddGroupMember { org, group, user } => batch.insert(
                key(EDGE, org, &[group.as_bytes(), user.as_bytes()]),
                &[][..],
            ),
            Change::RemoveGroupMember { org, group, user } => {
                batch.remove(key(EDGE, org, &[group.as_bytes(), user.as_bytes()]))
            }
            Change::PutMember(org, m) => {
                batch.insert(key(MEMBER, org, &[m.id.as_bytes()]), enc(&**m))
            }
            Change::DeleteMember(org, id) => batch.remove(key(MEMBER, org, &[id.as_bytes()])),
            Change::PutTeam(org, t) => batch.insert(key(TEAM, org, &[t.id.as_bytes()]), enc(&**t)),
            Change::DeleteTeam(org, id) => batch.remove(key(TEAM, org, &[id.as_bytes()])),
            Change::Event(org, e) => {
                batch.insert(key(EVENT, org, &[&e.seq.to_be_bytes()]), enc(&**e))
            }
            Change::PutToken(hash, org) => {
                let mut k = vec![TOKEN];
                k.extend_from_slice(&hash.0);
                batch.insert(k, &org.as_bytes()[..])
            }
            Change::DeleteToken(hash) => {
                let mut k = vec![TOKEN];
                k.extend_from_slice(&hash.0);
                batch.remove(k)
            }
        }
    }
}

impl Store for SledStore {
    fn commit(&self, commits: &[&[Change]]) -> StoreResult<()> {
        let mut batch = sled::Batch::default();
        for commit in commits {
            for c in commit.iter() {
                Self::apply(&mut batch, c);
            }
        }
        self.db.apply_batch(batch).map_err(err)?;
        self.db.flush().map_err(err)?;
        Ok(())
    }

    fn load_org(&self, org: OrgId) -> StoreResult<Option<OrgParts>> {
        let Some(meta) = self.db.get(key(ORG, &org, &[])).map_err(err)? else {
            return Ok(None);
        };
        let meta: OrgMeta = dec(&meta)?;
        let counters: Counters = match self.db.get(key(COUNTERS, &org, &[])).map_err(err)? {
            Some(c) => dec(&c)?,
            None => Counters::default(),
        };
        let users: Vec<UserRecord> = self.scan(USER, &org)?;
        let groups: Vec<GroupRecord> = self.scan(GROUP, &org)?;
        let members: Vec<Member> = self.scan(MEMBER, &org)?;
        let teams: Vec<Team> = self.scan(TEAM, &org)?;
        let mut edges = Vec::new();
        for k in self.db.scan_prefix(key(EDGE, &org, &[])).keys() {
            let k = k.map_err(err)?;
            if k.len() != 49 {
                return Err(StoreError("corrupt edge key".into()));
            }
            let g = ScimId::from_bytes(k[17..33].try_into().expect("16 bytes"));
            let u = ScimId::from_bytes(k[33..49].try_into().expect("16 bytes"));
            edges.push((g, u));
        }
        Ok(Some(OrgParts {
            meta,
            counters,
            users,
            groups,
            edges,
            members,
            teams,
        }))
    }

    fn org_exists(&self, org: OrgId) -> StoreResult<bool> {
        self.db.contains_key(key(ORG, &org, &[])).map_err(err)
    }

    fn tokens(&self) -> StoreResult<Vec<(TokenHash, OrgId)>> {
        self.db
            .scan_prefix([TOKEN])
            .map(|kv| {
                let (k, v) = kv.map_err(err)?;
                let hash: [u8; 32] = k[1..]
                    .try_into()
                    .map_err(|_| StoreError("corrupt token key".into()))?;
                let org: [u8; 16] = v
                    .as_ref()
                    .try_into()
                    .map_err(|_| StoreError("corrupt token value".into()))?;
                Ok((TokenHash(hash), OrgId::from_bytes(org)))
            })
            .collect()
    }

    fn events(&self, org: OrgId, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        let start = key(EVENT, &org, &[&after.saturating_add(1).to_be_bytes()]);
        let end = key(EVENT, &org, &[&u64::MAX.to_be_bytes()]);
        self.db
            .range(start..=end)
            .values()
            .take(limit)
            .map(|v| dec(&v.map_err(err)?))
            .collect()
    }

    fn setting(&self, name: &str) -> StoreResult<Option<Vec<u8>>> {
        let mut k = vec![SETTING];
        k.extend_from_slice(name.as_bytes());
        Ok(self.db.get(k).map_err(err)?.map(|v| v.to_vec()))
    }

    fn put_setting(&self, name: &str, value: &[u8]) -> StoreResult<()> {
        let mut k = vec![SETTING];
        k.extend_from_slice(name.as_bytes());
        self.db.insert(k, value).map_err(err)?;
        self.db.flush().map_err(err)?;
        Ok(())
    }
}
