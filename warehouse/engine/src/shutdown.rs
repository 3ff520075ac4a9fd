//! Stopping the warehouse within a deadline: no new statement is taken, and running ones are
//! interrupted so that the process can exit (a statement runs on a blocking thread the runtime
//! waits for) and release the database file's lock for whoever starts next.
//!
//! An interrupted statement ends `FAILED` with a retryable error ("the warehouse stopped while
//! the statement ran"), its transaction rolled back; its status-change event is sent as for
//! any other end, and a statement that could not even be recorded is failed the same way by the
//! ledger at the next start. Either way its job retries the statement after the restart.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::DuckWarehouse;

/// How often running statements are interrupted again until they have ended (DuckDB forgets
/// an interrupt that lands between two queries of a connection).
const INTERRUPT_EVERY: Duration = Duration::from_millis(50);

/// The error of a statement the warehouse stopped under.
pub(crate) use spectra_worker::ports::STOPPED_UNDER_STATEMENT as STOPPED;

impl DuckWarehouse {
    /// Refuses new statements and interrupts running ones until all have ended (and sent their
    /// events) or `deadline` has passed; returns how many were still running when it gave up.
    pub async fn stop(&self, deadline: Duration) -> usize {
        self.inner.stopping.store(true, Ordering::SeqCst);
        let until = Instant::now() + deadline;
        let mut announced = false;
        loop {
            let running: Vec<_> = {
                let registry = self.inner.registry();
                registry
                    .entries
                    .values()
                    .filter(|e| !e.record.status.is_terminal())
                    .map(|e| e.interrupt.clone())
                    .collect()
            };
            // Ended and announced: the events of interrupted statements are in the queue.
            if running.is_empty() && self.inner.threads.load(Ordering::SeqCst) == 0 {
                return 0;
            }
            if !announced {
                tracing::info!(statements = running.len(), "interrupting running statements");
                announced = true;
            }
            if Instant::now() >= until {
                tracing::warn!(statements = running.len(), "statements still running at the shutdown deadline");
                return running.len().max(1);
            }
            for interrupt in running.iter().flatten() {
                interrupt.interrupt();
            }
            tokio::time::sleep(INTERRUPT_EVERY).await;
        }
    }
}
