//! The organization actor: the single writer of one org's state.
//!
//! Ordering: a handler applies its command to the org state synchronously, inside
//! `handle`, before it returns, and hands the resulting changes to the persistence actor
//! in that same step. So commands take effect, and reach the store, exactly in mailbox
//! order, even though the wait for durability happens afterwards, off the mailbox: the
//! next command is validated against the state that includes its predecessors, and the
//! store commits FIFO. Replies are sent only after their flush; a snapshot is published
//! to readers right before each reply. This pipelining is what lets one org's IdP push
//! thousands of durable writes a second while each reply still waits for its fsync.

use super::directory::Directory;
use super::persistence::{Commit, PersistenceActor};
use crate::domain::command::{Command, Outcome};
use crate::domain::ids::OrgId;
use crate::domain::state::OrgParts;
use crate::domain::{DomainError, DomainResult, OrgState};
use actix::prelude::*;
use parking_lot::RwLock;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Run one command as one transaction; answered after the commit is durable.
///
/// The actor takes the command out of the slot when it runs it. If the actor stopped
/// (idle unload) before running it, the sender finds the command still there and can
/// send it to a freshly loaded actor without cloning it up front.
#[derive(Message)]
#[rtype(result = "DomainResult<Applied>")]
pub struct Apply(pub Arc<parking_lot::Mutex<Option<Command>>>);

/// The reply to [`Apply`]: the outcome and the state right after this command.
#[derive(Clone)]
pub struct Applied {
    pub outcome: Outcome,
    pub snapshot: Arc<OrgState>,
}

/// Pause this org's mailbox until `release` fires or is dropped. Only this org waits:
/// `ctx.wait` suspends this actor's mailbox, not the thread it shares with other orgs.
/// Used for maintenance and by the test that proves a stalled org holds no other.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Hold(pub oneshot::Receiver<()>);

impl Handler<Hold> for OrgActor {
    type Result = ();

    fn handle(&mut self, Hold(release): Hold, ctx: &mut Self::Context) {
        ctx.wait(
            async move {
                let _ = release.await;
            }
            .into_actor(self),
        );
    }
}

/// The published, immutable view that readers use without queuing behind writers.
pub type Published = Arc<RwLock<Arc<OrgState>>>;

pub struct OrgActor {
    state: OrgState,
    published: Published,
    persistence: Addr<PersistenceActor>,
    directory: Weak<Directory>,
    /// Commits handed to the store and not yet acknowledged.
    pending: usize,
    max_pending: usize,
    idle_after: Duration,
    last_active: Instant,
}

impl OrgActor {
    pub fn new(
        state: OrgState,
        published: Published,
        persistence: Addr<PersistenceActor>,
        directory: Weak<Directory>,
        max_pending: usize,
        idle_after: Duration,
    ) -> Self {
        OrgActor {
            state,
            published,
            persistence,
            directory,
            pending: 0,
            max_pending,
            idle_after,
            last_active: Instant::now(),
        }
    }

    fn org(&self) -> OrgId {
        self.state.id()
    }

    fn publish(&self, snapshot: &Arc<OrgState>) {
        let mut p = self.published.write();
        // Acknowledgements arrive in commit order; the check only guards the invariant
        // that readers never see the published version go backwards.
        if snapshot.counters.version >= p.counters.version
            && snapshot.counters.event_seq >= p.counters.event_seq
        {
            *p = snapshot.clone();
        }
    }
}

impl Drop for OrgActor {
    /// An unloaded org's memory goes back to the OS, not only to the allocator: glibc keeps
    /// freed pages for reuse, so without the trim an idle org would leave the process's
    /// resident memory as high as when the org was loaded. The actor's references to the
    /// org are released first; a reader still holding a snapshot keeps that alive until it
    /// is done, and those pages go back at the next trim.
    fn drop(&mut self) {
        let hollow = OrgState::from_parts(OrgParts {
            meta: (*self.state.meta).clone(),
            counters: self.state.counters,
            users: Vec::new(),
            groups: Vec::new(),
            edges: Vec::new(),
            members: Vec::new(),
            teams: Vec::new(),
        });
        drop(std::mem::replace(&mut self.state, hollow.clone()));
        drop(std::mem::replace(
            &mut self.published,
            Arc::new(RwLock::new(Arc::new(hollow))),
        ));
        crate::util::release_free_memory();
    }
}

impl Actor for OrgActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // The directory admits at most `max_pending` commands per org (429 past it); the
        // mailbox holds them all, plus room for control messages.
        ctx.set_mailbox_capacity(self.max_pending + 16);
        let tick = (self.idle_after / 4).clamp(Duration::from_millis(50), Duration::from_secs(30));
        ctx.run_interval(tick, |act, ctx| {
            if act.pending == 0 && act.last_active.elapsed() >= act.idle_after {
                if let Some(dir) = act.directory.upgrade() {
                    dir.forget(act.org(), &ctx.address());
                }
                tracing::debug!(org_id = %act.org(), "org idle: unloading");
                ctx.stop();
            }
        });
    }
}

impl Handler<Apply> for OrgActor {
    type Result = ResponseActFuture<Self, DomainResult<Applied>>;

    fn handle(&mut self, Apply(slot): Apply, _: &mut Self::Context) -> Self::Result {
        self.last_active = Instant::now();
        let Some(command) = slot.lock().take() else {
            return Box::pin(fut::ready(Err(DomainError::Unavailable(
                "command already taken".into(),
            ))));
        };
        let op = command.name();
        let mut next = self.state.clone();
        let mut tx = next.begin();
        let result = command.run(&mut tx);
        let changes = tx.finish();
        let outcome = match result {
            Ok(o) => o,
            // Validation failed: `next` is dropped, nothing changed, nothing is written.
            Err(e) => return Box::pin(fut::ready(Err(e))),
        };
        self.state = next;
        let snapshot = Arc::new(self.state.clone());
        let (done, acked) = oneshot::channel();
        tracing::debug!(org_id = %self.org(), op, version = snapshot.counters.version, changes = changes.len(), "commit");
        // Even a command that changed nothing goes through the pipeline: its reply must
        // not overtake the durability of the commits before it.
        self.persistence.do_send(Commit { changes, done });
        self.pending += 1;
        Box::pin(acked.into_actor(self).map(move |ack, act, ctx| {
            act.pending -= 1;
            act.last_active = Instant::now();
            match ack {
                Ok(Ok(())) => {
                    act.publish(&snapshot);
                    Ok(Applied { outcome, snapshot })
                }
                Ok(Err(e)) => {
                    tracing::error!(org_id = %act.org(), error = %e, "commit failed; unloading org");
                    if let Some(dir) = act.directory.upgrade() {
                        dir.forget(act.org(), &ctx.address());
                    }
                    ctx.stop();
                    Err(DomainError::Unavailable("the change could not be made durable".into()))
                }
                Err(_) => Err(DomainError::Unavailable("the store is shutting down".into())),
            }
        }))
    }
}
