//! The persistence actor: the only writer to the store, committing in groups.
//!
//! Org actors send [`Commit`]s here in their own order; the actor forwards them to one
//! flusher thread, which takes everything that has queued up while the previous flush ran,
//! writes it as one atomic batch, flushes once, and then acknowledges each writer in
//! order. Throughput therefore grows with load (more writers share each fsync) while
//! latency stays one flush. A dedicated thread is used because the flush blocks, and sled
//! 0.34's `flush_async` deadlocks under concurrent callers.

use crate::domain::Change;
use crate::store::{Store, StoreError};
use actix::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// Make these changes durable, then answer on `done`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Commit {
    pub changes: Vec<Change>,
    pub done: oneshot::Sender<Result<(), StoreError>>,
}

/// Health and counters of the commit pipeline, readable without a message.
#[derive(Default, Debug)]
pub struct CommitStats {
    /// Set after a failed flush: nothing more is acknowledged (see `flusher`).
    pub failed: AtomicBool,
    pub batches: AtomicU64,
    pub commits: AtomicU64,
}

struct Job {
    changes: Vec<Change>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

pub struct PersistenceActor {
    queue: Option<mpsc::Sender<Job>>,
    flusher: Option<JoinHandle<()>>,
}

/// Upper bound of commits merged into one batch, so a flood cannot build a batch whose
/// flush makes the first writer in it wait unboundedly.
const MAX_GROUP: usize = 4096;

impl PersistenceActor {
    /// `nice`: the flusher thread's priority (see `Config::pipeline_nice`).
    pub fn new(store: Arc<dyn Store>, stats: Arc<CommitStats>, nice: i32) -> PersistenceActor {
        let (tx, rx) = mpsc::channel::<Job>();
        let flusher = std::thread::Builder::new()
            .name("scimd-flusher".into())
            .spawn(move || {
                crate::util::enter_write_pipeline(nice);
                flusher(store, rx, stats)
            })
            .expect("spawn flusher thread");
        PersistenceActor {
            queue: Some(tx),
            flusher: Some(flusher),
        }
    }
}

fn flusher(store: Arc<dyn Store>, rx: mpsc::Receiver<Job>, stats: Arc<CommitStats>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        // After a failed flush the store's state on disk is unknown relative to what the
        // org actors hold in memory: refuse everything rather than acknowledge a write
        // built on top of a lost one. Readiness turns false; an operator restarts, and
        // recovery reloads what is on disk.
        let result = if stats.failed.load(Ordering::Acquire) {
            Err(StoreError(
                "the store failed earlier; restart the service".into(),
            ))
        } else {
            let refs: Vec<&[Change]> = jobs.iter().map(|j| j.changes.as_slice()).collect();
            let r = store.commit(&refs);
            if let Err(e) = &r {
                tracing::error!(error = %e, "group commit failed; refusing further writes");
                stats.failed.store(true, Ordering::Release);
            }
            r
        };
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats
            .commits
            .fetch_add(jobs.len() as u64, Ordering::Relaxed);
        for j in jobs {
            let _ = j.done.send(result.clone());
        }
    }
}

impl Actor for PersistenceActor {
    type Context = Context<Self>;

    fn stopped(&mut self, _: &mut Self::Context) {
        self.shutdown();
    }
}

impl PersistenceActor {
    /// Close the queue and wait until everything queued is flushed.
    fn shutdown(&mut self) {
        self.queue.take();
        if let Some(h) = self.flusher.take() {
            let _ = h.join();
        }
    }
}

impl Handler<Commit> for PersistenceActor {
    type Result = ();

    fn handle(&mut self, msg: Commit, _: &mut Self::Context) {
        match &self.queue {
            Some(q) => {
                if let Err(mpsc::SendError(job)) = q.send(Job {
                    changes: msg.changes,
                    done: msg.done,
                }) {
                    let _ = job
                        .done
                        .send(Err(StoreError("the store is shut down".into())));
                }
            }
            None => {
                let _ = msg
                    .done
                    .send(Err(StoreError("the store is shut down".into())));
            }
        }
    }
}

/// Flush everything queued and stop the flusher (graceful shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain;

impl Handler<Drain> for PersistenceActor {
    type Result = ();

    fn handle(&mut self, _: Drain, ctx: &mut Self::Context) {
        self.shutdown();
        ctx.stop();
    }
}
