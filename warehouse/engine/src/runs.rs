//! A submitted statement's life on its blocking thread: run, record, announce.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use super::exec::{self, StoredResult};
use super::statements::Record;
use super::{DuckWarehouse, MAX_KEPT_RESULTS, events, params};
use spectra_worker::ports::{StatementDescription, StatementStatus, Warehouse, WarehouseError, deadline_after};

/// How often a waiter looks even without a notification.
const RECHECK: Duration = Duration::from_millis(100);

impl DuckWarehouse {
    /// Sends the status-change event of an ended `WithEvent` statement. Best effort, as in AWS:
    /// the worker's reconciler covers a lost event.
    pub(super) async fn announce(&self, record: &Record) {
        let Some(sink) = &self.inner.events else { return };
        let body = events::status_change(record, &self.inner.config.region);
        if let Err(e) = sink.send(body).await {
            tracing::warn!(statement = %record.id, error = %e, "could not send the statement's status-change event");
        }
    }

    /// Runs a submitted statement to its end on a blocking thread, then records and announces it.
    pub(super) fn spawn_run(&self, record: Record, bound: Option<params::Bound>, cancelled: Arc<AtomicBool>) {
        let this = self.clone();
        let handle = tokio::runtime::Handle::current();
        self.inner.threads.fetch_add(1, Ordering::SeqCst);
        tokio::task::spawn_blocking(move || {
            let id = record.id.clone();
            let outcome = this.inner.connection().map(|conn| {
                if let Some(entry) = this.inner.registry().entries.get_mut(&id) {
                    entry.interrupt = Some(conn.interrupt_handle());
                    entry.record.status = StatementStatus::Started;
                }
                let ctx = exec::Context {
                    object_root: this.inner.object_root.clone(),
                    cancelled,
                    remote: this.inner.remote.clone(),
                    principal: this.inner.config.access.principal(record.db_user.as_deref()),
                    policy: Arc::clone(&this.inner.policy),
                    stopping: Arc::clone(&this.inner.stopping),
                    ended: {
                        let (inner, id) = (Arc::clone(&this.inner), id.clone());
                        Arc::new(move || {
                            if let Some(entry) = inner.registry().entries.get_mut(&id) {
                                entry.interrupt = None;
                            }
                        })
                    },
                };
                exec::execute_guarded(&conn, &ctx, record.clone(), bound.as_ref())
            });
            let (record, results) = match outcome {
                Ok(done) => done,
                Err(e) => {
                    let mut failed = record;
                    failed.end_unfinished(StatementStatus::Failed, &e.to_string(), Utc::now());
                    let n = failed.runs.len();
                    (failed, vec![None; n])
                }
            };
            this.finish(record.clone(), results);
            if record.with_event {
                handle.block_on(this.announce(&record));
            }
            this.inner.threads.fetch_sub(1, Ordering::SeqCst);
        });
    }

    fn finish(&self, record: Record, results: Vec<Option<StoredResult>>) {
        let mut registry = self.inner.registry();
        for (i, result) in results.into_iter().enumerate() {
            let Some(result) = result else { continue };
            let key = if record.is_batch { format!("{}:{}", record.id, i + 1) } else { record.id.clone() };
            registry.results.insert(key.clone(), Arc::new(result));
            registry.result_order.push_back(key);
            while registry.result_order.len() > MAX_KEPT_RESULTS {
                if let Some(old) = registry.result_order.pop_front() {
                    registry.results.remove(&old);
                }
            }
        }
        if let Some(entry) = registry.entries.get_mut(&record.id) {
            entry.interrupt = None;
            entry.record = record;
        }
        drop(registry);
        self.inner.ended.notify_waiters();
    }

    /// [`Warehouse::wait`] by notification: every statement's end wakes the waiters, which look
    /// at their own. A synchronous query's request learns of its end within microseconds
    /// instead of at its next poll. The look every [`RECHECK`] is a second line only.
    pub(super) async fn wait_ended(&self, id: &str, timeout: Duration) -> Result<StatementDescription, WarehouseError> {
        let deadline = deadline_after(Instant::now(), timeout);
        loop {
            // Registered before the look, so an end between the look and the await still wakes it.
            let ended = self.inner.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            let description = self.describe(id).await?;
            if description.status.is_terminal() || Instant::now() >= deadline {
                return Ok(description);
            }
            let _ = tokio::time::timeout_at(deadline.min(Instant::now() + RECHECK), ended).await;
        }
    }
}
