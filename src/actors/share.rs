//! Fair shares of the write pipeline between organizations that are active at once.
//!
//! Every write of an org runs through its actor and waits for a group commit. An org
//! flooding writes on many connections keeps that many requests in the pipeline; each time
//! a flush completes they all wake on the HTTP worker together, and another org's request
//! waits behind that whole burst. So while several orgs are active, each may run at most
//! its share of the write slots (`--write-slots`) at once; its other writes wait (parked, at no
//! cost, and still counted against `--org-max-pending`, so nothing queues without bound).
//! A lone active org is not limited: the share only bounds what one org can make others
//! wait for.
//!
//! "Active" means it made a request (read or write) in the current or previous
//! [`EPOCH`], counted without locks or timers.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How long an org counts as active after a request: one to two epochs.
pub const EPOCH: Duration = Duration::from_millis(100);

/// The least any active org may run at once, however many are active.
pub const MIN_SHARE: usize = 4;

const COUNT_BITS: u32 = 24;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

/// How many orgs are active, shared by all orgs of the process.
pub struct WriteShares {
    start: Instant,
    slots: usize,
    /// Two epochs' counts, each slot packed as `epoch << COUNT_BITS | count`.
    counts: [AtomicU64; 2],
}

/// One org's side: when it was last counted, and its writes running now.
#[derive(Default)]
pub struct OrgShare {
    counted_epoch: AtomicU64,
    running: AtomicUsize,
    freed: Notify,
}

impl WriteShares {
    /// `slots`: the writes running at once that active orgs share.
    pub fn new(slots: usize) -> WriteShares {
        WriteShares {
            start: Instant::now(),
            slots: slots.max(1),
            counts: Default::default(),
        }
    }

    fn epoch(&self) -> u64 {
        // Epoch 0 is never current, so an org's zeroed `counted_epoch` means "not counted".
        1 + (self.start.elapsed().as_millis() / EPOCH.as_millis()) as u64
    }

    /// Count `org` as active now (once per epoch).
    pub fn touch(&self, org: &OrgShare) {
        self.touch_at(org, self.epoch());
    }

    fn touch_at(&self, org: &OrgShare, epoch: u64) {
        if org.counted_epoch.swap(epoch, Ordering::Relaxed) == epoch {
            return;
        }
        let slot = &self.counts[(epoch % 2) as usize];
        let _ = slot.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
            Some(if v >> COUNT_BITS == epoch {
                v + 1
            } else {
                epoch << COUNT_BITS | 1
            })
        });
    }

    /// Orgs active in this epoch or the previous one.
    pub fn active(&self) -> usize {
        self.active_at(self.epoch())
    }

    fn active_at(&self, epoch: u64) -> usize {
        let count = |e: u64| {
            let v = self.counts[(e % 2) as usize].load(Ordering::Acquire);
            if v >> COUNT_BITS == e {
                (v & COUNT_MASK) as usize
            } else {
                0
            }
        };
        count(epoch).max(count(epoch - 1))
    }

    /// The writes one org may run at once now.
    pub fn share(&self) -> usize {
        share_of(self.slots, self.active())
    }

    /// Wait until `org` may run one more write; the returned guard frees it.
    pub async fn enter<'a>(&self, org: &'a OrgShare) -> Running<'a> {
        loop {
            // A release between the check and the wait leaves a permit (`notify_one`),
            // so this wait still wakes; a stale permit only costs one more check.
            let freed = org.freed.notified();
            let share = self.share();
            if org
                .running
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < share).then_some(n + 1)
                })
                .is_ok()
            {
                return Running(org);
            }
            freed.await;
        }
    }
}

fn share_of(slots: usize, active: usize) -> usize {
    if active <= 1 {
        usize::MAX
    } else {
        (slots / active).max(MIN_SHARE)
    }
}

impl OrgShare {
    /// Writes of this org running now (admitted by its share and not yet answered).
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }
}

/// One running write; dropping it lets the next waiting write of the org in.
pub struct Running<'a>(&'a OrgShare);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
        // `notify_one` keeps a permit when nobody waits yet, so a writer between its
        // check and its wait still wakes.
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orgs_count_once_per_epoch_and_stay_active_one_more() {
        let s = WriteShares::new(32);
        let (a, b) = (OrgShare::default(), OrgShare::default());
        assert_eq!(s.active_at(5), 0);
        s.touch_at(&a, 5);
        s.touch_at(&a, 5);
        assert_eq!(s.active_at(5), 1, "one org, however many requests");
        s.touch_at(&b, 5);
        assert_eq!(s.active_at(5), 2);
        // Next epoch: only A is back, but B still counts from the previous one.
        s.touch_at(&a, 6);
        assert_eq!(s.active_at(6), 2);
        // Two epochs on, B has gone quiet.
        s.touch_at(&a, 7);
        assert_eq!(s.active_at(7), 1);
        // A slot left from long ago counts for nothing.
        assert_eq!(s.active_at(20), 0);
    }

    #[test]
    fn a_lone_org_is_not_limited_and_many_share_with_a_floor() {
        assert_eq!(share_of(32, 0), usize::MAX);
        assert_eq!(share_of(32, 1), usize::MAX);
        assert_eq!(share_of(32, 2), 16);
        assert_eq!(share_of(32, 3), 10);
        assert_eq!(share_of(32, 100), MIN_SHARE);
    }

    #[actix_rt::test]
    async fn writes_past_the_share_wait_for_a_free_slot() {
        let s = WriteShares::new(8);
        let (a, b) = (OrgShare::default(), OrgShare::default());
        s.touch(&a);
        s.touch(&b);
        assert_eq!(s.share(), 4);
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(s.enter(&a).await);
        }
        assert_eq!(a.running(), 4);
        let fifth = s.enter(&a);
        tokio::pin!(fifth);
        let waited = tokio::time::timeout(Duration::from_millis(50), fifth.as_mut()).await;
        assert!(waited.is_err(), "the fifth write waits while four run");
        // B's share is its own.
        drop(s.enter(&b).await);
        held.pop();
        let _fifth = tokio::time::timeout(Duration::from_secs(5), fifth)
            .await
            .expect("a freed slot lets the waiting write in");
        assert_eq!(a.running(), 4);
    }
}
