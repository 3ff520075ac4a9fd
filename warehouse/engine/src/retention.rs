//! Statements are kept for [`RETENTION_HOURS`], as the Data API keeps them, and then forgotten:
//! their records, client tokens and results, in memory and in the ledger.
//!
//! The ledger was pruned only when the warehouse opened, so a long-running `spectra up` or
//! emulator kept every statement it ever ran, in its registry (memory) and in the ledger table.
//! Now a submit that finds the last prune older than [`PRUNE_EVERY`] starts one in the
//! background.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::ledger::{self, RETENTION_HOURS};
use super::statements::split_id;
use super::{DuckWarehouse, unavailable};
use spectra_worker::ports::WarehouseError;

/// How often a busy warehouse forgets expired statements.
pub(crate) const PRUNE_EVERY: Duration = Duration::from_secs(600);

impl DuckWarehouse {
    /// Starts a prune when the last one is older than [`PRUNE_EVERY`].
    pub(crate) fn prune_now_and_then(&self) {
        {
            let mut last = self.inner.last_prune.lock().unwrap_or_else(|p| p.into_inner());
            if last.elapsed() < PRUNE_EVERY {
                return;
            }
            *last = Instant::now();
        }
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.forget_expired(Utc::now()).await {
                tracing::warn!(error = %e, "could not forget expired statements; trying again later");
            }
        });
    }

    /// Forgets the ended statements created before `now` − [`RETENTION_HOURS`]; how many.
    /// Statements still running are kept, however old.
    pub(crate) async fn forget_expired(&self, now: DateTime<Utc>) -> Result<usize, WarehouseError> {
        let cutoff = now - chrono::Duration::hours(RETENTION_HOURS);
        let conn = self.inner.connection()?;
        tokio::task::spawn_blocking(move || ledger::delete_ended_before(&conn, cutoff).map_err(unavailable))
            .await
            .map_err(unavailable)??;
        let mut registry = self.inner.registry();
        let expired: HashSet<String> = registry
            .entries
            .values()
            .filter(|e| e.record.status.is_terminal() && e.record.created_at < cutoff)
            .map(|e| e.record.id.clone())
            .collect();
        registry.entries.retain(|id, _| !expired.contains(id));
        registry.tokens.retain(|_, id| !expired.contains(id));
        registry.results.retain(|key, _| !expired.contains(split_id(key).0));
        registry.result_order.retain(|key| !expired.contains(split_id(key).0));
        Ok(expired.len())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::WarehouseConfig;
    use spectra_worker::ports::{StatementRequest, Warehouse};

    async fn open(dir: &std::path::Path) -> DuckWarehouse {
        DuckWarehouse::open(&dir.join("w.duckdb"), &dir.join("objects"), WarehouseConfig::default(), None)
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ended_statements_are_forgotten_after_the_retention_and_running_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let w = open(dir.path()).await;
        let request = StatementRequest { client_token: Some("token-1".into()), ..StatementRequest::single("SELECT 1") };
        let ended = w.execute(request.clone()).await.unwrap();
        w.wait(&ended, Duration::from_secs(60)).await.unwrap();
        let slow = "SELECT max(md5(i::VARCHAR)) FROM range(5000000000) t(i)";
        let running = w.execute(StatementRequest::single(slow)).await.unwrap();

        assert_eq!(w.forget_expired(Utc::now()).await.unwrap(), 0, "nothing is a day old yet");
        assert!(w.results(&ended, None).await.is_ok());
        let tomorrow = Utc::now() + chrono::Duration::hours(RETENTION_HOURS + 1);
        assert_eq!(w.forget_expired(tomorrow).await.unwrap(), 1);
        assert!(matches!(w.describe(&ended).await, Err(WarehouseError::NotFound(_))));
        assert!(w.describe(&running).await.is_ok(), "a running statement is kept");
        assert_ne!(w.execute(request).await.unwrap(), ended, "its client token is forgotten too");
        assert!(w.cancel(&running).await.unwrap());
        w.wait(&running, Duration::from_secs(60)).await.unwrap();
        // The cancelled statement's thread may still be saving its end: let it finish and close
        // the file before it is opened again (else the two instances race on its WAL).
        assert_eq!(w.stop(Duration::from_secs(30)).await, 0);
        drop(w);

        // And it is gone from the ledger: a reopened warehouse does not know it either.
        let reopened = open(dir.path()).await;
        assert!(matches!(reopened.describe(&ended).await, Err(WarehouseError::NotFound(_))));
        assert!(reopened.describe(&running).await.is_ok());
    }
}
