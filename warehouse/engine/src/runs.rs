//! A submitted statement's life on its blocking thread: run, record, announce.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use duckdb::Connection;

use super::exec::{self, StoredResult};
use super::statements::Record;
use super::{DuckWarehouse, MAX_KEPT_RESULTS, events, ledger, params, unavailable};
use spectra_worker::ports::{StatementDescription, StatementStatus, Warehouse, WarehouseError, deadline_after};

/// How often a waiter looks even without a notification.
const RECHECK: Duration = Duration::from_millis(100);

/// When a statement's ledger record is first written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// At submit, and again inside the statement's own transaction: a statement that may
    /// change anything needs both, so that after a crash the ledger and the data agree and a
    /// statement that never committed is known to have failed (and is retried).
    AtSubmit,
    /// Once, when it has ended: a tenant's checked query changes nothing and its result is
    /// kept in memory only, so a crash during it loses nothing a ledger record could keep.
    /// The worker's reconciler retries a running job whose statement the warehouse does not
    /// know. Two commits of three saved, and no transaction around the query.
    AtEnd,
}

/// A statement registered by a submit, to be run.
pub(crate) struct Submitted {
    pub record: Record,
    /// A single statement's SQL with its parameters bound.
    pub bound: Option<params::Bound>,
    /// Set by CancelStatement.
    pub cancelled: Arc<AtomicBool>,
    pub recorded: Recorded,
}

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

    /// Makes a registered submit durable when its kind needs that (before its id is handed
    /// out), then starts its run; if the ledger refuses it, forgets it.
    pub(super) async fn store_and_run(
        &self,
        submitted: Submitted,
        token: Option<String>,
    ) -> Result<(), WarehouseError> {
        if submitted.recorded == Recorded::AtSubmit {
            let stored = submitted.record.clone();
            let inserted = match self.inner.connection() {
                Ok(conn) => tokio::task::spawn_blocking(move || ledger::insert(&conn, &stored).map_err(unavailable))
                    .await
                    .map_err(unavailable)
                    .and_then(|inserted| inserted),
                Err(e) => Err(e),
            };
            if let Err(e) = inserted {
                let mut registry = self.inner.registry();
                registry.entries.remove(&submitted.record.id);
                registry.active.remove(&submitted.record.id);
                if let Some(token) = &token {
                    registry.tokens.remove(token);
                }
                return Err(e);
            }
        }
        self.spawn_run(submitted);
        self.prune_now_and_then();
        Ok(())
    }

    /// Runs a submitted statement to its end on a blocking thread, then records and announces it.
    fn spawn_run(&self, submitted: Submitted) {
        let this = self.clone();
        let handle = tokio::runtime::Handle::current();
        self.inner.threads.fetch_add(1, Ordering::SeqCst);
        tokio::task::spawn_blocking(move || {
            let recorded = submitted.recorded;
            // Anything but a checked tenant query may change the catalog the checks looked at.
            let writing = (recorded == Recorded::AtSubmit).then(|| this.inner.checks.writing());
            let conn = this.inner.connection();
            let (record, results) = match &conn {
                Ok(conn) => this.run_on(conn, submitted),
                Err(e) => {
                    let mut failed = submitted.record;
                    failed.end_unfinished(StatementStatus::Failed, &e.to_string(), Utc::now());
                    let n = failed.runs.len();
                    (failed, vec![None; n])
                }
            };
            drop(writing);
            // Recorded before anyone learns it ended: what a caller saw end, a restart still knows.
            if let (Recorded::AtEnd, Ok(conn)) = (recorded, &conn)
                && let Err(e) = ledger::with_retries(|| ledger::insert(conn, &record))
            {
                tracing::error!(statement = %record.id, error = %e, "could not record how the statement ended");
            }
            this.finish(record.clone(), results);
            if record.with_event {
                handle.block_on(this.announce(&record));
            }
            this.inner.threads.fetch_sub(1, Ordering::SeqCst);
        });
    }

    /// Runs `submitted` on `conn` (its own connection): the statement's context, then the run.
    fn run_on(&self, conn: &Connection, submitted: Submitted) -> (Record, Vec<Option<StoredResult>>) {
        let Submitted { record, bound, cancelled, recorded } = submitted;
        let id = record.id.clone();
        if let Some(entry) = self.inner.registry().entries.get_mut(&id) {
            entry.interrupt = Some(conn.interrupt_handle());
            entry.record.status = StatementStatus::Started;
        }
        let query_ids = self.inner.query_ids.take(conn, record.runs.len()).unwrap_or_else(|e| {
            tracing::warn!(statement = %id, error = %e, "no query ids could be reserved");
            Vec::new()
        });
        let ctx = exec::Context {
            object_root: self.inner.object_root.clone(),
            cancelled,
            remote: self.inner.remote.clone(),
            principal: self.inner.config.access.principal(record.db_user.as_deref()),
            db_user: record.db_user.clone(),
            database: record.database.clone(),
            policy: Arc::clone(&self.inner.policy),
            checks: Arc::clone(&self.inner.checks),
            recorded,
            query_ids,
            stopping: Arc::clone(&self.inner.stopping),
            ended: {
                let (inner, id) = (Arc::clone(&self.inner), id.clone());
                Arc::new(move || {
                    if let Some(entry) = inner.registry().entries.get_mut(&id) {
                        entry.interrupt = None;
                    }
                })
            },
        };
        exec::execute_guarded(conn, &ctx, record, bound.as_ref())
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
        registry.active.remove(&record.id);
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
