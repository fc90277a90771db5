//! The directory of live org actors: starts one on first use (loading the org from the
//! store), hands out [`OrgHandle`]s, and forgets actors that unloaded themselves.

use super::org::{Applied, Apply, OrgActor, Published};
use super::persistence::PersistenceActor;
use super::share::{OrgShare, WriteShares};
use crate::domain::command::Command;
use crate::domain::ids::OrgId;
use crate::domain::state::OrgParts;
use crate::domain::{Change, DomainError, DomainResult, OrgState};
use crate::store::Store;
use actix::prelude::*;
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// What callers hold to talk to one org: reads from the published snapshot, writes
/// through the actor. The only way to reach an org's data.
#[derive(Clone)]
pub struct OrgHandle {
    org: OrgId,
    addr: Addr<OrgActor>,
    published: Published,
    /// Commands sent to this org and not yet answered (queued in the mailbox or waiting
    /// for their flush). Bounded by `max_pending`: past it, callers get 429.
    in_flight: Arc<AtomicUsize>,
    /// This org's side of the fair shares of the write pipeline (see [`super::share`]).
    share: Arc<OrgShare>,
}

/// Decrements an org's in-flight count when a command's caller is done with it.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl OrgHandle {
    pub fn org(&self) -> OrgId {
        self.org
    }

    /// Commands admitted to this org and not yet answered (see `max_pending`).
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Writes of this org running now, within its share (see [`super::share`]).
    pub fn running(&self) -> usize {
        self.share.running()
    }

    /// Pause this org's mailbox until `release` fires (see [`super::org::Hold`]).
    pub fn hold(&self, release: tokio::sync::oneshot::Receiver<()>) {
        self.addr.do_send(super::org::Hold(release));
    }

    /// The latest committed state. Cheap: one lock-free-in-practice read and an Arc clone.
    pub fn snapshot(&self) -> Arc<OrgState> {
        self.published.read().clone()
    }
}

pub struct DirectoryConfig {
    pub max_pending: usize,
    pub idle_after: Duration,
    /// Writes running at once that active orgs share (see [`super::share`]).
    pub write_slots: usize,
    /// The write pipeline's nice value, kept when its scheduler slice changes.
    pub pipeline_nice: i32,
}

pub struct Directory {
    slots: Mutex<HashMap<OrgId, Arc<OnceCell<OrgHandle>>>>,
    store: Arc<dyn Store>,
    persistence: Addr<PersistenceActor>,
    arbiters: Vec<ArbiterHandle>,
    next_arbiter: AtomicUsize,
    shares: WriteShares,
    /// Whether the pipeline runs with short slices now (several orgs active).
    contended: std::sync::atomic::AtomicBool,
    config: DirectoryConfig,
}

impl Directory {
    pub fn new(
        store: Arc<dyn Store>,
        persistence: Addr<PersistenceActor>,
        arbiters: Vec<ArbiterHandle>,
        config: DirectoryConfig,
    ) -> Arc<Directory> {
        assert!(!arbiters.is_empty(), "at least one arbiter for org actors");
        Arc::new(Directory {
            slots: Mutex::new(HashMap::new()),
            store,
            persistence,
            arbiters,
            next_arbiter: AtomicUsize::new(0),
            shares: WriteShares::new(config.write_slots),
            contended: std::sync::atomic::AtomicBool::new(false),
            config,
        })
    }

    /// Orgs with a live actor (for metrics and tests of unloading).
    pub fn loaded(&self) -> usize {
        self.slots
            .lock()
            .values()
            .filter(|c| c.initialized())
            .count()
    }

    /// Orgs that made a request in the last moment (see [`super::share`]).
    pub fn active(&self) -> usize {
        self.shares.active()
    }

    /// Whether the write pipeline runs with short scheduler slices now: it does while
    /// several orgs are active (see `util::set_pipeline_slice`).
    pub fn contended(&self) -> bool {
        self.contended.load(Ordering::Acquire)
    }

    /// The org's handle, loading it on first use, and counting the org as active. Every
    /// SCIM request gets its org here. `NotFound` if no such org exists.
    pub async fn get(self: &Arc<Self>, org: OrgId) -> DomainResult<OrgHandle> {
        let handle = self.load(org).await?;
        self.shares.touch(&handle.share);
        // Read first: every SCIM request passes here, and the state rarely changes.
        let contended = self.shares.active() >= 2;
        if self.contended.load(Ordering::Relaxed) != contended
            && self
                .contended
                .compare_exchange(!contended, contended, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            crate::util::set_pipeline_slice(contended, self.config.pipeline_nice);
        }
        Ok(handle)
    }

    async fn load(self: &Arc<Self>, org: OrgId) -> DomainResult<OrgHandle> {
        let cell = self.slots.lock().entry(org).or_default().clone();
        let this = self.clone();
        let result = cell
            .get_or_try_init(|| async move {
                let store = this.store.clone();
                let parts = tokio::task::spawn_blocking(move || store.load_org(org))
                    .await
                    .map_err(|e| DomainError::Unavailable(e.to_string()))?
                    .map_err(|e| DomainError::Unavailable(e.to_string()))?
                    .ok_or(DomainError::NotFound("organization"))?;
                Ok(this.start(parts))
            })
            .await
            .cloned();
        if result.is_err() {
            let mut slots = self.slots.lock();
            if slots.get(&org).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                slots.remove(&org);
            }
        }
        result
    }

    fn start(self: &Arc<Self>, parts: OrgParts) -> OrgHandle {
        self.spawn(OrgState::from_parts(parts))
    }

    fn spawn(self: &Arc<Self>, state: OrgState) -> OrgHandle {
        let org = state.id();
        let published: Published = Arc::new(RwLock::new(Arc::new(state.clone())));
        let arbiter =
            &self.arbiters[self.next_arbiter.fetch_add(1, Ordering::Relaxed) % self.arbiters.len()];
        let (p, persistence, dir) = (
            published.clone(),
            self.persistence.clone(),
            Arc::downgrade(self),
        );
        let (max_pending, idle_after) = (self.config.max_pending, self.config.idle_after);
        let addr = OrgActor::start_in_arbiter(arbiter, move |_| {
            OrgActor::new(state, p, persistence, dir, max_pending, idle_after)
        });
        OrgHandle {
            org,
            addr,
            published,
            in_flight: Arc::new(AtomicUsize::new(0)),
            share: Arc::default(),
        }
    }

    /// Register a freshly created org (its first commit is `changes`) and persist it.
    pub async fn create(
        self: &Arc<Self>,
        state: OrgState,
        changes: Vec<Change>,
    ) -> DomainResult<OrgHandle> {
        let (done, acked) = tokio::sync::oneshot::channel();
        self.persistence
            .send(super::persistence::Commit { changes, done })
            .await
            .map_err(|e| DomainError::Unavailable(e.to_string()))?;
        acked
            .await
            .map_err(|e| DomainError::Unavailable(e.to_string()))?
            .map_err(|e| DomainError::Unavailable(e.to_string()))?;
        let handle = self.spawn(state);
        let cell = Arc::new(OnceCell::new());
        let _ = cell.set(handle.clone());
        self.slots.lock().insert(handle.org, cell);
        Ok(handle)
    }

    /// Called by an actor that stops (idle or failed): drop its slot if it is still the
    /// registered one, so the next use loads afresh.
    pub fn forget(&self, org: OrgId, addr: &Addr<OrgActor>) {
        let mut slots = self.slots.lock();
        if slots
            .get(&org)
            .and_then(|c| c.get())
            .is_some_and(|h| &h.addr == addr)
        {
            slots.remove(&org);
        }
    }

    /// Run a command on an org: one message to its actor. If the actor unloaded between
    /// lookup and send, the org is loaded again and the command sent once more (it was
    /// never applied: a stopped actor drops its mailbox unprocessed).
    pub async fn apply(self: &Arc<Self>, org: OrgId, command: Command) -> DomainResult<Applied> {
        let slot = Arc::new(Mutex::new(Some(command)));
        for _ in 0..3 {
            let handle = self.get(org).await?;
            // Backpressure: each org's pending work is bounded, so a flooding IdP gets
            // 429 + Retry-After (which IdPs honour) instead of an unbounded queue, and
            // other orgs keep their latency.
            // A refused command never counts, not even for an instant.
            let max = self.config.max_pending;
            if handle
                .in_flight
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < max).then_some(n + 1)
                })
                .is_err()
            {
                return Err(DomainError::Overloaded {
                    retry_after_secs: 1,
                });
            }
            let _in_flight = InFlight(handle.in_flight.clone());
            // While other orgs are active, wait for a slot of this org's share: its
            // burst of writes must not stand before their requests without bound.
            let _running = self.shares.enter(&handle.share).await;
            match handle.addr.send(Apply(slot.clone())).await {
                Ok(r) => return r,
                Err(MailboxError::Closed) if slot.lock().is_some() => {
                    self.forget(org, &handle.addr)
                }
                Err(MailboxError::Closed) => break,
                Err(MailboxError::Timeout) => {
                    return Err(DomainError::Overloaded {
                        retry_after_secs: 1,
                    })
                }
            }
        }
        Err(DomainError::Unavailable(
            "the organization's actor stopped".into(),
        ))
    }
}
