//! The local warehouse: DuckDB (bundled) with Redshift Data API semantics, behind the
//! `Warehouse` port — what `spectra up` runs statements on, and what the Data API emulator
//! (`spectra-emulator`) serves. The only crate of the workspace that links DuckDB besides it.
//!
//! # Layout
//! - this file: [`DuckWarehouse`] — submit, describe, cancel, results; client tokens; the
//!   active-statement limit.
//! - `open`: opening the warehouse (and an embedded platform's); `engine`: opening DuckDB
//!   hermetic; `confine`: the tenant boundary (what a tenant's statement may run, checked with
//!   the engine's own parser, and the checks kept); `shutdown`: stopping within a deadline.
//! - `statements`: the statement record and its DescribeStatement view; `catalog`: metadata
//!   queries and the statement list, for the Data API emulator.
//! - `ledger`: the record's durable copy, committed with the statement's own transaction (a
//!   tenant's query, which changes nothing: written once, when it has ended).
//! - `runs`: a statement's blocking thread (run, record, announce its status-change event);
//!   `exec`: running it on its own connection, in one transaction.
//! - `params`: `:name` parameters; `types`: Field and Redshift type mapping.
//! - `unload`, `copy`, `options`: Redshift's UNLOAD and COPY against the local object store
//!   (`remote`: mirrored to S3 for the emulator);
//!   `like`: `CREATE TABLE ... (LIKE ...)`.
//! - `dialect`: Redshift's SQL rewritten into DuckDB's (or refused by name) before a statement
//!   runs, with the table of what is translated.
//! - `admin`: operator SQL (`spectra sql`, `POST /admin/sql`).
//!
//! Results of queries are kept in memory (the most recent [`MAX_KEPT_RESULTS`]); after a restart
//! DescribeStatement still answers from the ledger, but GetStatementResult of an older
//! statement is "not found", as after the Data API's retention.

mod admin;
mod catalog;
mod confine;
mod copy;
mod dialect;
mod engine;
mod events;
mod exec;
mod gauges;
mod ledger;
mod like;
mod open;
mod options;
mod params;
mod remote;
mod retention;
mod runs;
mod shutdown;
mod statements;
mod tokens;
mod types;
mod unload;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use duckdb::Connection;

pub use self::admin::{SqlOutcome, SqlRequest, admin_routes, run_script};
pub use self::confine::Access;
pub use self::dialect::{engine_schema, shown_schema};
pub use self::events::{SinkError, StatementEventSink};
use self::exec::StoredResult;
pub use self::open::open_in;
pub(crate) use self::params::split_script;
pub use self::remote::{RemoteError, RemoteObjects};
use self::runs::{Recorded, Submitted};
use self::statements::{Record, split_id, validate};
pub use self::unload::files_under;
/// The engine itself, for references measured against it (the `fast_paths` benchmark runs the
/// same statements on a bare DuckDB connection).
pub use duckdb;
use spectra_worker::ports::{
    ResultPage, Sql, StatementDescription, StatementRequest, StatementStatus, Warehouse, WarehouseError,
};

/// How many result sets stay in memory for GetStatementResult.
pub const MAX_KEPT_RESULTS: usize = 256;
/// How often a cancelled statement is interrupted again until it has ended.
const CANCEL_RETRY: std::time::Duration = std::time::Duration::from_millis(50);
/// The Data API's limit on statements in one batch.
pub const MAX_BATCH_STATEMENTS: usize = 40;

/// Settings of the embedded warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarehouseConfig {
    /// Statements allowed to be submitted or running at once; one more is refused with
    /// "active statements exceeded", as the Data API does.
    pub max_active_statements: usize,
    /// Rows per GetStatementResult page.
    pub page_size: usize,
    /// Region named in status-change events.
    pub region: String,
    /// Who may run what: tenants' statements confined to their grants.
    pub access: Access,
}

impl Default for WarehouseConfig {
    fn default() -> Self {
        Self { max_active_statements: 16, page_size: 1000, region: "local".into(), access: Access::default() }
    }
}

struct Entry {
    record: Record,
    cancelled: Arc<AtomicBool>,
    interrupt: Option<Arc<duckdb::InterruptHandle>>,
}

#[derive(Default)]
struct Registry {
    entries: HashMap<String, Entry>,
    /// The statements not yet ended (what the active-statement limit counts), kept apart so
    /// that a submit does not count through a day of ended ones.
    active: HashSet<String>,
    tokens: HashMap<String, String>,
    results: HashMap<String, Arc<StoredResult>>,
    result_order: VecDeque<String>,
}

struct Inner {
    root: Mutex<Connection>,
    policy: Arc<confine::Policy>,
    /// Set by [`DuckWarehouse::stop`]: no new statement, running ones are interrupted.
    stopping: Arc<AtomicBool>,
    /// Statement threads not yet done (their event sent): a stop waits for them.
    threads: AtomicUsize,
    object_root: PathBuf,
    config: WarehouseConfig,
    registry: Mutex<Registry>,
    events: Option<Arc<dyn StatementEventSink>>,
    remote: Option<Arc<dyn RemoteObjects>>,
    /// Woken whenever a statement ends, so that [`Warehouse::wait`] answers at once.
    ended: tokio::sync::Notify,
    /// When expired statements were last forgotten (`retention`).
    last_prune: Mutex<std::time::Instant>,
    /// Tenant queries already checked, while the catalog stays as it was.
    checks: Arc<confine::CheckCache>,
    /// Redshift query ids handed out from blocks reserved in the ledger's sequence.
    query_ids: ledger::QueryIds,
}

/// DuckDB behind the `Warehouse` port. Cheap to clone.
#[derive(Clone)]
pub struct DuckWarehouse {
    inner: Arc<Inner>,
}

fn unavailable(e: impl std::fmt::Display) -> WarehouseError {
    WarehouseError::Unavailable(e.to_string())
}

impl Inner {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn connection(&self) -> Result<Connection, WarehouseError> {
        self.root.lock().unwrap_or_else(|p| p.into_inner()).try_clone().map_err(unavailable)
    }
}

#[async_trait]
impl Warehouse for DuckWarehouse {
    fn system(&self) -> &'static str {
        "duckdb"
    }

    async fn execute(&self, request: StatementRequest) -> Result<String, WarehouseError> {
        validate(&request)?;
        if self.inner.stopping.load(Ordering::SeqCst) {
            return Err(WarehouseError::Unavailable("the warehouse is stopping".into()));
        }
        let bound = match &request.sql {
            Sql::Single { sql, parameters } => Some(params::bind(sql, parameters)?),
            Sql::Batch(_) => None,
        };
        let id = uuid::Uuid::new_v4().to_string();
        let record = Record::submitted(&request, &id);
        let recorded = match &request.sql {
            Sql::Single { sql, .. }
                if self.inner.config.access.confines(request.db_user.as_deref())
                    && exec::classify(sql) == exec::Kind::Rows =>
            {
                Recorded::AtEnd
            }
            _ => Recorded::AtSubmit,
        };
        let cancelled = Arc::new(AtomicBool::new(false));
        {
            let mut registry = self.inner.registry();
            if let Some(existing) = request.client_token.as_ref().and_then(|t| registry.tokens.get(t)) {
                return Ok(existing.clone());
            }
            let active = registry.active.len();
            if active >= self.inner.config.max_active_statements {
                return Err(WarehouseError::ActiveStatementsExceeded(format!(
                    "{active} statements are active; the limit is {}",
                    self.inner.config.max_active_statements
                )));
            }
            if let Some(token) = &request.client_token {
                registry.tokens.insert(token.clone(), id.clone());
            }
            let entry = Entry { record: record.clone(), cancelled: Arc::clone(&cancelled), interrupt: None };
            registry.entries.insert(id.clone(), entry);
            registry.active.insert(id.clone());
        }
        // From here the statement is registered under its client token, so it must reach its
        // run even if the caller goes away (a Data API client that disconnects, a worker killed
        // mid-request): a retry with the token gets this id, and an id whose run never starts
        // stays SUBMITTED forever. So the rest runs as a task of its own, not in this future.
        let this = self.clone();
        let submitted = Submitted { record, bound, cancelled, recorded };
        let token = request.client_token.clone();
        tokio::spawn(async move { this.store_and_run(submitted, token).await }).await.map_err(unavailable)??;
        Ok(id)
    }

    async fn describe(&self, id: &str) -> Result<StatementDescription, WarehouseError> {
        let (base, sub) = split_id(id);
        let registry = self.inner.registry();
        registry
            .entries
            .get(base)
            .and_then(|e| e.record.describe(sub))
            .ok_or_else(|| WarehouseError::NotFound(id.to_owned()))
    }

    async fn wait(&self, id: &str, timeout: std::time::Duration) -> Result<StatementDescription, WarehouseError> {
        self.wait_ended(id, timeout).await
    }

    async fn cancel(&self, id: &str) -> Result<bool, WarehouseError> {
        let base = split_id(id).0.to_owned();
        {
            let registry = self.inner.registry();
            let entry = registry.entries.get(&base).ok_or_else(|| WarehouseError::NotFound(id.to_owned()))?;
            if entry.record.status.is_terminal() {
                return Ok(false);
            }
            entry.cancelled.store(true, Ordering::SeqCst);
        }
        // DuckDB forgets an interrupt that arrives between two queries of a connection (the next
        // query clears it), and a statement checks the flag only between its steps. So keep
        // interrupting until the statement has ended: the first interrupt that lands on a
        // running query stops it.
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            loop {
                {
                    let registry = inner.registry();
                    let Some(entry) = registry.entries.get(&base) else { return };
                    // Done, or the statement has honoured the cancel and is cleaning up.
                    if entry.record.status.is_terminal() || !entry.cancelled.load(Ordering::SeqCst) {
                        return;
                    }
                    if let Some(interrupt) = &entry.interrupt {
                        interrupt.interrupt();
                    }
                }
                tokio::time::sleep(CANCEL_RETRY).await;
            }
        });
        Ok(true)
    }

    async fn check_query(&self, sql: &Sql, db_user: Option<&str>) -> Result<(), WarehouseError> {
        let Some(principal) = self.inner.config.access.principal(db_user) else { return Ok(()) };
        let text = match sql {
            Sql::Single { sql, parameters } => params::bind(sql, parameters)?.sql,
            Sql::Batch(_) => return Err(WarehouseError::Validation("a tenant query is one statement".into())),
        };
        // Checked as it will run: translated from Redshift's SQL first, as `exec::run_one` does.
        let session = dialect::Session::new(db_user, None);
        let text = match dialect::translate(&text, &session) {
            Ok(translated) => translated.unwrap_or(text),
            Err(e) => return Err(WarehouseError::Validation(e.to_string())),
        };
        if self.inner.checks.get(&principal, &text).is_some() {
            return Ok(());
        }
        let conn = self.inner.connection()?;
        let (policy, checks) = (Arc::clone(&self.inner.policy), Arc::clone(&self.inner.checks));
        tokio::task::spawn_blocking(move || {
            conn.execute_batch(&principal.search_path_sql()).map_err(unavailable)?;
            confine::check_cached(&conn, &policy, &checks, &principal, &text).map(drop).map_err(WarehouseError::Refused)
        })
        .await
        .map_err(unavailable)?
    }

    async fn results(&self, id: &str, next_token: Option<&str>) -> Result<ResultPage, WarehouseError> {
        let (base, sub) = split_id(id);
        let registry = self.inner.registry();
        let entry = registry.entries.get(base).ok_or_else(|| WarehouseError::NotFound(id.to_owned()))?;
        let record = &entry.record;
        if record.is_batch && sub.is_none() {
            return Err(WarehouseError::Validation(format!("{id} is a batch; ask for the results of {id}:<n>")));
        }
        let description = record.describe(sub).ok_or_else(|| WarehouseError::NotFound(id.to_owned()))?;
        if description.status != StatementStatus::Finished {
            return Err(WarehouseError::Validation(format!(
                "statement {id} is {}, not FINISHED",
                description.status.as_str()
            )));
        }
        if !description.has_result_set {
            return Err(WarehouseError::NotFound(format!("statement {id} has no result set")));
        }
        let result = registry
            .results
            .get(id)
            .ok_or_else(|| WarehouseError::NotFound(format!("the results of {id} have expired")))?;
        let offset = match next_token {
            None => 0,
            Some(t) => t
                .strip_prefix("row-")
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| *n <= result.rows.len())
                .ok_or_else(|| WarehouseError::Validation("invalid NextToken".into()))?,
        };
        let end = (offset + self.inner.config.page_size).min(result.rows.len());
        Ok(ResultPage {
            columns: result.columns.clone(),
            records: result.rows[offset..end].to_vec(),
            total_rows: result.rows.len() as u64,
            next_token: (end < result.rows.len()).then(|| format!("row-{end}")),
        })
    }
}
