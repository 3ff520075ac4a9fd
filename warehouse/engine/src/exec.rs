//! Running one submitted statement on its own DuckDB connection, on a blocking thread: the
//! whole statement (every run of a batch) in one transaction, with its ledger record committed
//! in that same transaction; a tenant's checked query, which changes nothing, on its own
//! (recorded when it has ended, [`Recorded::AtEnd`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Utc;
use duckdb::Connection;

use super::confine::{self, CheckCache, Policy, Principal};
use super::dialect;
use super::params::Bound;
use super::runs::Recorded;
use super::statements::Record;
use super::{copy, ledger, like, types, unload};
use spectra_worker::ports::{ColumnMetadata, Field, StatementStatus};

/// The Data API refuses results over 100 MB (use UNLOAD); so does the embedded warehouse.
pub(crate) const MAX_RESULT_BYTES: usize = 100 * 1024 * 1024;

/// A result set, kept for GetStatementResult.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredResult {
    pub columns: Vec<ColumnMetadata>,
    pub rows: Vec<Vec<Field>>,
}

/// What a statement needs besides its SQL.
pub(crate) struct Context {
    /// Root of the local object store: `s3://bucket/key` is `<object_root>/bucket/key`.
    pub object_root: PathBuf,
    /// Set by CancelStatement; checked between steps, and the connection is interrupted.
    pub cancelled: Arc<AtomicBool>,
    /// The remote store UNLOAD and COPY mirror to, when there is one.
    pub remote: Option<Arc<dyn super::RemoteObjects>>,
    /// The tenant the statement runs for, confined; `None` for full access.
    pub principal: Option<Principal>,
    /// The statement's `DbUser` and `Database`, which Redshift's session functions answer.
    pub db_user: Option<String>,
    pub database: Option<String>,
    /// What a confined statement may call.
    pub policy: Arc<Policy>,
    /// Tenant queries already checked.
    pub checks: Arc<CheckCache>,
    /// When the statement's ledger record is written: with its transaction, or at its end
    /// only (a tenant's query, run without a transaction).
    pub recorded: Recorded,
    /// The Redshift query id of each run, reserved before it started.
    pub query_ids: Vec<i64>,
    /// Set when the warehouse stops: an interrupted statement failed for that, retryably.
    pub stopping: Arc<AtomicBool>,
    /// Called once the statement has ended, before its failure is recorded: stops further
    /// interrupts of its connection (a stop keeps interrupting running statements, and one that
    /// lands on the ledger's save would leave the failure unrecorded).
    pub ended: Arc<dyn Fn() + Send + Sync>,
}

impl Context {
    /// How a statement whose step failed with `error` ended: `ABORTED` when it was cancelled,
    /// `FAILED` (retryably) when the warehouse stopped under it, else `FAILED` with the error.
    fn ended_by(&self, error: String) -> (StatementStatus, String) {
        if self.cancelled.swap(false, Ordering::SeqCst) {
            (StatementStatus::Aborted, "the statement was cancelled".to_owned())
        } else if self.stopping.load(Ordering::SeqCst) {
            (StatementStatus::Failed, super::shutdown::STOPPED.to_owned())
        } else {
            (StatementStatus::Failed, error)
        }
    }

    /// The session Redshift's SQL is translated for.
    pub(crate) fn session(&self) -> dialect::Session<'_> {
        dialect::Session::new(self.db_user.as_deref(), self.database.as_deref())
    }

    /// A tenant's query, checked by the engine: the text to execute in its place.
    pub(crate) fn confined_query(&self, conn: &Connection, sql: &str) -> Result<String, RunError> {
        match &self.principal {
            None => Ok(sql.to_owned()),
            Some(principal) => confine::check_cached(conn, &self.policy, &self.checks, principal, sql)
                .map(|canonical| canonical.to_string())
                .map_err(|e| format!("SQL_BLOCKED: {e}")),
        }
    }

    /// Whether a confined statement of this kind may run at all. Tenants submit queries (and
    /// exports of them); the worker's ingest batches for a tenant add staging, COPY and DML,
    /// built from validated identifiers.
    fn allows(&self, kind: Kind, sql: &str, in_batch: bool) -> Result<(), RunError> {
        let Some(principal) = &self.principal else { return Ok(()) };
        let allowed = match kind {
            Kind::Rows | Kind::Unload => true,
            Kind::Copy => in_batch && copy::target_schema(sql).is_some_and(|s| principal.may_read(s.as_deref())),
            Kind::Changes => {
                in_batch && confine::dml_target(sql).is_some_and(|(schema, _)| principal.may_read(schema.as_deref()))
            }
            Kind::Other => {
                in_batch
                    && like::parse_create_like(sql)
                        .is_some_and(|c| c.temp && principal.may_read(c.parent_schema.as_deref()))
            }
        };
        if allowed {
            Ok(())
        } else {
            Err("SQL_BLOCKED: only read-only queries (SELECT, WITH, VALUES) are allowed".into())
        }
    }
}

/// How a statement is executed, from its leading keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Returns rows.
    Rows,
    /// INSERT, UPDATE, DELETE, MERGE: returns a count of changed rows.
    Changes,
    /// Redshift UNLOAD to `s3://`.
    Unload,
    /// Redshift COPY from `s3://` (or a DuckDB COPY, which is refused).
    Copy,
    /// DDL and the rest.
    Other,
}

/// Classifies a statement by its first keyword, skipping whitespace, comments and parentheses.
pub(crate) fn classify(sql: &str) -> Kind {
    let mut rest = sql.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.split_once('\n').map_or("", |(_, after)| after).trim_start();
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, after)| after).trim_start();
        } else if let Some(r) = rest.strip_prefix('(') {
            rest = r.trim_start();
        } else {
            break;
        }
    }
    let word: String = rest.chars().take_while(|c| c.is_ascii_alphabetic()).collect::<String>().to_ascii_uppercase();
    match word.as_str() {
        "SELECT" | "WITH" | "VALUES" | "SHOW" | "DESCRIBE" | "TABLE" | "FROM" | "PRAGMA" | "EXPLAIN" | "SUMMARIZE" => {
            Kind::Rows
        }
        "INSERT" | "UPDATE" | "DELETE" | "MERGE" => Kind::Changes,
        "UNLOAD" => Kind::Unload,
        "COPY" => Kind::Copy,
        _ => Kind::Other,
    }
}

/// A failure of one run, as DescribeStatement's `Error` shows it.
pub(crate) type RunError = String;

/// What one run produced: rows counted, and the result set for queries.
struct RunOutput {
    rows: i64,
    result: Option<StoredResult>,
}

fn run_one(
    conn: &Connection,
    ctx: &Context,
    sql: &str,
    values: &[String],
    query_id: i64,
    in_batch: bool,
) -> Result<RunOutput, RunError> {
    let err = |e: duckdb::Error| e.to_string();
    // Redshift's SQL in DuckDB's terms, before anything else looks at it: the tenant boundary
    // checks, and the engine runs, the translated text. UNLOAD and COPY are Spectra's own.
    let translated = match classify(sql) {
        Kind::Unload | Kind::Copy => None,
        _ => dialect::translate(sql, &ctx.session()).map_err(|e| e.to_string())?,
    };
    let sql = translated.as_deref().unwrap_or(sql);
    let kind = classify(sql);
    ctx.allows(kind, sql, in_batch)?;
    if kind == Kind::Other
        && let Some(create) = like::parse_create_like(sql)
    {
        return like::run(conn, &create).map(|()| RunOutput { rows: 0, result: None });
    }
    match kind {
        Kind::Unload => unload::run(conn, ctx, sql).map(|rows| RunOutput { rows, result: None }),
        Kind::Copy => copy::run(conn, ctx, sql, query_id).map(|rows| RunOutput { rows, result: None }),
        Kind::Rows => {
            let sql = ctx.confined_query(conn, sql)?;
            let result = query_rows(conn, &sql, values)?;
            Ok(RunOutput { rows: result.rows.len() as i64, result: Some(result) })
        }
        // DDL the SQL layer wrote as several statements (an identity column's sequence, then its
        // table) runs as one batch, in the statement's transaction.
        Kind::Other if values.is_empty() => {
            conn.execute_batch(sql).map(|()| RunOutput { rows: 0, result: None }).map_err(err)
        }
        kind => {
            let mut stmt = conn.prepare(sql).map_err(err)?;
            for (i, v) in values.iter().enumerate() {
                stmt.raw_bind_parameter(i + 1, v.as_str()).map_err(err)?;
            }
            let changed = stmt.raw_execute().map_err(err)?;
            Ok(RunOutput { rows: if kind == Kind::Changes { changed as i64 } else { 0 }, result: None })
        }
    }
}

/// Runs a query with positional `values` and keeps its whole result (at most 100 MB, as the
/// Data API allows).
pub(crate) fn query_rows(conn: &Connection, sql: &str, values: &[String]) -> Result<StoredResult, String> {
    let err = |e: duckdb::Error| e.to_string();
    let mut stmt = conn.prepare(sql).map_err(err)?;
    for (i, v) in values.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, v.as_str()).map_err(err)?;
    }
    stmt.raw_execute().map_err(err)?;
    let columns: Vec<ColumnMetadata> =
        stmt.column_names().iter().enumerate().map(|(i, name)| types::column(name, &stmt.column_type(i))).collect();
    let mut rows = Vec::new();
    let mut bytes = 0usize;
    let mut cursor = stmt.raw_query();
    while let Some(row) = cursor.next().map_err(err)? {
        let mut fields = Vec::with_capacity(columns.len());
        for i in 0..columns.len() {
            let field = types::field(row.get_ref(i).map_err(err)?);
            bytes += types::approx_size(&field);
            fields.push(field);
        }
        if bytes > MAX_RESULT_BYTES {
            return Err("the query result exceeds the maximum size of 100 MB; use UNLOAD".into());
        }
        rows.push(fields);
    }
    Ok(StoredResult { columns, rows })
}

/// [`execute`], with a panic anywhere in the engine or its driver ending the statement `FAILED`
/// (rolled back, recorded) instead of leaving it running forever and holding its slot.
pub(crate) fn execute_guarded(
    conn: &Connection,
    ctx: &Context,
    record: Record,
    bound: Option<&Bound>,
) -> (Record, Vec<Option<StoredResult>>) {
    let started = std::time::Instant::now();
    let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| execute(conn, ctx, record.clone(), bound)));
    match attempt {
        Ok(done) => done,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            tracing::error!(statement = %record.id, panic = %what, "the engine panicked while running a statement");
            let mut failed = record;
            let message = format!("the statement failed inside the engine ({what}); nothing it did was committed");
            record_failure(conn, ctx, &mut failed, StatementStatus::Failed, &message, started);
            let n = failed.runs.len();
            (failed, vec![None; n])
        }
    }
}

/// Ends what is unfinished of `record` with `status` and `error`, its transaction rolled back,
/// and records that in the ledger (a statement recorded at its end is recorded by its thread).
fn record_failure(
    conn: &Connection,
    ctx: &Context,
    record: &mut Record,
    status: StatementStatus,
    error: &str,
    started: std::time::Instant,
) {
    record.end_unfinished(status, error, Utc::now());
    record.duration_ns = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
    if ctx.recorded == Recorded::AtEnd {
        return;
    }
    let _ = conn.execute_batch("ROLLBACK");
    if let Err(e) = ledger::with_retries(|| ledger::save(conn, record)) {
        tracing::error!(statement = %record.id, error = %e, "could not record the statement's failure");
    }
}

/// Runs `record`'s statements in one transaction (a query recorded at its end: alone) and
/// returns the final record with the result set of each run. A single statement with
/// parameters runs as `bound` (placeholders renumbered, values in order); the record keeps the
/// SQL as submitted.
pub(crate) fn execute(
    conn: &Connection,
    ctx: &Context,
    mut record: Record,
    bound: Option<&Bound>,
) -> (Record, Vec<Option<StoredResult>>) {
    let started = std::time::Instant::now();
    let mut results = vec![None; record.runs.len()];
    let fail = |record: &mut Record, status: StatementStatus, error: String| {
        (ctx.ended)();
        record_failure(conn, ctx, record, status, &error, started);
    };
    // `swap` clears the request as it is honoured, which stops the canceller's interrupts.
    if ctx.cancelled.swap(false, Ordering::SeqCst) {
        fail(&mut record, StatementStatus::Aborted, "the statement was cancelled before it started".into());
        return (record, results);
    }
    if ctx.stopping.load(Ordering::SeqCst) {
        fail(&mut record, StatementStatus::Failed, super::shutdown::STOPPED.into());
        return (record, results);
    }
    record.status = StatementStatus::Started;
    // `sys_load_error_detail` resolves unqualified, as Redshift's system table does; a tenant's
    // search path holds only its granted schemas.
    let search_path = match &ctx.principal {
        Some(principal) => principal.search_path_sql(),
        None => "SET search_path = 'main,spectra_internal'".to_owned(),
    };
    let begin = match ctx.recorded {
        Recorded::AtSubmit => format!("{search_path}; BEGIN TRANSACTION"),
        Recorded::AtEnd => search_path,
    };
    if let Err(e) = conn.execute_batch(&begin) {
        // A cancel (or a stop) that lands here interrupts the BEGIN: that is still a cancel.
        let (status, message) = ctx.ended_by(e.to_string());
        fail(&mut record, status, message);
        return (record, results);
    }
    for i in 0..record.runs.len() {
        let run_started = std::time::Instant::now();
        record.runs[i].status = StatementStatus::Started;
        record.runs[i].redshift_query_id = ctx.query_ids.get(i).copied().unwrap_or(-1);
        let (sql, values) = match bound {
            Some(b) if !record.is_batch => (b.sql.clone(), b.values.as_slice()),
            _ => (record.runs[i].sql.clone(), &[][..]),
        };
        match run_one(conn, ctx, &sql, values, record.runs[i].redshift_query_id, record.is_batch) {
            Ok(out) => {
                let run = &mut record.runs[i];
                run.status = StatementStatus::Finished;
                run.result_rows = out.rows;
                run.has_result_set = out.result.is_some();
                run.updated_at = Utc::now();
                run.duration_ns = i64::try_from(run_started.elapsed().as_nanos()).unwrap_or(i64::MAX);
                results[i] = out.result;
            }
            Err(error) => {
                let (status, message) = ctx.ended_by(error);
                record.runs[i].status = status;
                record.runs[i].error = Some(message.clone());
                record.runs[i].updated_at = Utc::now();
                // Later statements of a batch never ran.
                fail(&mut record, status, message);
                for r in record.runs.iter_mut().skip(i + 1) {
                    r.status = StatementStatus::Aborted;
                }
                results = vec![None; record.runs.len()];
                return (record, results);
            }
        }
    }
    let now = Utc::now();
    record.status = StatementStatus::Finished;
    record.updated_at = now;
    record.duration_ns = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
    if ctx.recorded == Recorded::AtEnd {
        return (record, results);
    }
    // The ledger's FINISHED commits with the statement's effects, or not at all.
    let committed = ledger::save(conn, &record).and_then(|()| conn.execute_batch("COMMIT"));
    if let Err(e) = committed {
        record.status = StatementStatus::Started;
        for run in &mut record.runs {
            run.status = StatementStatus::Started;
        }
        let (status, message) = ctx.ended_by(format!("the transaction could not commit: {e}"));
        fail(&mut record, status, message);
        results = vec![None; record.runs.len()];
    }
    (record, results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_classified_by_their_first_keyword() {
        assert_eq!(classify("  -- note\n /* c */ (SELECT 1)"), Kind::Rows);
        assert_eq!(classify("with x as (select 1) select * from x"), Kind::Rows);
        assert_eq!(classify("insert into t values (1)"), Kind::Changes);
        assert_eq!(classify("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE"), Kind::Changes);
        assert_eq!(classify("unload ('select 1') to 's3://b/p'"), Kind::Unload);
        assert_eq!(classify("COPY t FROM 's3://b/p'"), Kind::Copy);
        assert_eq!(classify("create table t (a int)"), Kind::Other);
    }
}
