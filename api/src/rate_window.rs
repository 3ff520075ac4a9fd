//! Rate counts kept in memory and written behind to the shared [`RateCounter`].
//!
//! Counting every request in the shared store cost a write (and, on SQLite, a commit) per
//! request, reads included. Here a request costs a map update under a lock; the store sees one
//! `add` per counter per [`FLUSH_INTERVAL`] carrying the hits counted since the last one, and
//! answers with the shared total, which brings in what the other API processes counted.
//!
//! What that costs in exactness, stated:
//! - **One process**: the limit is exact.
//! - **Restarts**: a graceful stop writes every pending count ([`RateWindows::flush`]); a crash
//!   loses at most the hits of the last [`FLUSH_INTERVAL`], so a restarted process may admit that
//!   many more in the same window.
//! - **Several processes**: each learns the others' counts at most two flush intervals late. A
//!   sustained rate is held to the limit plus what arrives in that time; a burst that reaches
//!   `k` processes at once may be admitted up to `k` times the limit in the worst case.
//!
//! The first request of a counter in a window, and the first after it went quiet for longer
//! than [`STALE_AFTER`], goes to the store directly, so an idle process never limits on a count
//! it has not refreshed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use spectra_state_machine::TenantId;
use spectra_worker::ports::{RateCounter, RateWindow, StoreError};

/// How often pending counts are written to the shared store.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(250);

/// A counter not synchronised with the store for this long is read from it again before use.
const STALE_AFTER: Duration = Duration::from_millis(500);

/// (tenant, group, window).
type Key = (TenantId, &'static str, RateWindow);

/// One counter: the store's total when last synchronised, plus what was counted here since
/// (being written, and not yet).
#[derive(Debug, Clone, Copy)]
struct Count {
    shared: u64,
    writing: u64,
    pending: u64,
    synced: Instant,
}

impl Count {
    fn new() -> Self {
        Self { shared: 0, writing: 0, pending: 0, synced: Instant::now() }
    }

    fn total(&self) -> u64 {
        self.shared + self.writing + self.pending
    }

    /// Takes in the store's `total` as of now.
    fn synced_at(&mut self, total: u64) {
        self.shared = self.shared.max(total);
        self.synced = Instant::now();
    }
}

/// Per-tenant window counters in memory, written behind to a shared store. Cheap to share.
pub struct RateWindows {
    store: Arc<dyn RateCounter>,
    counts: Mutex<HashMap<Key, Count>>,
}

impl RateWindows {
    /// Counters over `store`, with a task that writes them behind every [`FLUSH_INTERVAL`] for
    /// as long as the returned value lives. Must be called within a Tokio runtime.
    pub fn start(store: Arc<dyn RateCounter>) -> Arc<Self> {
        let windows = Arc::new(Self { store, counts: Mutex::new(HashMap::new()) });
        tokio::spawn(flush_every(FLUSH_INTERVAL, Arc::downgrade(&windows)));
        windows
    }

    fn counts(&self) -> MutexGuard<'_, HashMap<Key, Count>> {
        // Every update leaves the map consistent; a panicking holder cannot break it half-way.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one request of `tenant` in `group`'s `window`; returns the window's count so far,
    /// this request included.
    pub async fn hit(
        &self,
        tenant: &TenantId,
        group: &'static str,
        window: RateWindow,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let key = (tenant.clone(), group, window);
        if let Some(count) = self.counts().get_mut(&key)
            && count.synced.elapsed() < STALE_AFTER
        {
            count.pending += 1;
            return Ok(count.total());
        }
        // Unknown or stale here: count it in the store, and learn the total.
        let total = self.store.add(tenant, group, window, 1, now).await?;
        let mut counts = self.counts();
        let count = counts.entry(key).or_insert_with(Count::new);
        count.synced_at(total);
        Ok(count.total())
    }

    /// Writes every pending count to the store and forgets windows that have ended. A graceful
    /// stop calls this last, so that a restart loses no count.
    pub async fn flush(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let due: Vec<(Key, u64)> = {
            let mut counts = self.counts();
            counts.retain(|_, c| c.pending + c.writing > 0 || c.synced.elapsed() < STALE_AFTER * 4);
            let due = counts.iter_mut().filter(|(_, c)| c.pending > 0);
            due.map(|(key, c)| {
                let pending = std::mem::take(&mut c.pending);
                c.writing += pending;
                (key.clone(), pending)
            })
            .collect()
        };
        let mut first_error = None;
        for ((tenant, group, window), pending) in due {
            let written = self.store.add(&tenant, group, window, pending, now).await;
            let mut counts = self.counts();
            // Kept by `retain` while it has hits being written.
            let Some(count) = counts.get_mut(&(tenant, group, window)) else { continue };
            count.writing = count.writing.saturating_sub(pending);
            match written {
                // The total includes the hits just written.
                Ok(total) => count.synced_at(total),
                Err(e) => {
                    // Put the hits back: they are written with the next flush.
                    count.pending += pending;
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// The write-behind loop; ends when the counters are dropped.
async fn flush_every(interval: Duration, windows: Weak<RateWindows>) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(windows) = windows.upgrade() else { return };
        if let Err(e) = windows.flush(Utc::now()).await {
            tracing::warn!(error = %e, "rate counts not written to the shared store; retrying with the next flush");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use spectra_local::SqliteRateCounter;

    use super::*;

    async fn store(dir: &std::path::Path) -> Arc<dyn RateCounter> {
        Arc::new(SqliteRateCounter::open(&dir.join("jobs.sqlite")).await.unwrap())
    }

    /// A data directory, a tenant, the time, and the current minute's window.
    fn setup() -> (tempfile::TempDir, TenantId, DateTime<Utc>, RateWindow) {
        let now = Utc::now();
        (tempfile::tempdir().unwrap(), TenantId::parse("acme").unwrap(), now, RateWindow::containing(now, 60))
    }

    #[tokio::test]
    async fn counts_are_exact_in_one_process_and_survive_a_graceful_restart() {
        let (dir, acme, now, w) = setup();
        let first = RateWindows::start(store(dir.path()).await);
        for expected in 1..=5 {
            assert_eq!(first.hit(&acme, "queries", w, now).await.unwrap(), expected);
        }
        assert_eq!(first.hit(&acme, "bulk", w, now).await.unwrap(), 1, "groups count apart");
        first.flush(now).await.unwrap();
        drop(first);
        let second = RateWindows::start(store(dir.path()).await);
        assert_eq!(second.hit(&acme, "queries", w, now).await.unwrap(), 6);
        assert_eq!(
            second.hit(&acme, "queries", RateWindow { start: w.end(), ..w }, now).await.unwrap(),
            1,
            "a new window starts over"
        );
    }

    #[tokio::test]
    async fn a_crash_loses_at_most_the_last_flush_interval() {
        let (dir, acme, now, w) = setup();
        let crashed = RateWindows::start(store(dir.path()).await);
        for _ in 0..4 {
            crashed.hit(&acme, "queries", w, now).await.unwrap();
        }
        // No graceful flush: only the write-behind task has run before the "crash".
        tokio::time::sleep(FLUSH_INTERVAL * 3).await;
        drop(crashed);
        let restarted = RateWindows::start(store(dir.path()).await);
        assert_eq!(restarted.hit(&acme, "queries", w, now).await.unwrap(), 5);
    }

    #[tokio::test]
    async fn processes_learn_each_others_counts_through_the_store() {
        let (dir, acme, now, w) = setup();
        let shared = store(dir.path()).await;
        let (a, b) = (RateWindows::start(shared.clone()), RateWindows::start(shared));
        for _ in 0..3 {
            a.hit(&acme, "queries", w, now).await.unwrap();
        }
        a.flush(now).await.unwrap();
        assert_eq!(b.hit(&acme, "queries", w, now).await.unwrap(), 4, "b's first hit reads the store");
        b.hit(&acme, "queries", w, now).await.unwrap();
        b.flush(now).await.unwrap();
        a.flush(now).await.unwrap();
        // a has nothing pending; its next flush-free hit is stale only after STALE_AFTER.
        tokio::time::sleep(STALE_AFTER).await;
        assert_eq!(a.hit(&acme, "queries", w, now).await.unwrap(), 6);
    }
}
