//! The `Warehouse` port: SQL with Redshift Data API semantics (seed 004).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use spectra_state_machine::QueryParameter;
use thiserror::Error;

/// What to run: one statement (with optional `:name` parameters) or a batch, which runs as one
/// transaction (a failing statement rolls back the ones before it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sql {
    /// `ExecuteStatement`.
    Single {
        /// The statement.
        sql: String,
        /// Values for its `:name` placeholders, never spliced into the text.
        parameters: Vec<QueryParameter>,
    },
    /// `BatchExecuteStatement` (the Data API takes no parameters for batches).
    Batch(Vec<String>),
}

/// A statement submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementRequest {
    /// The SQL.
    pub sql: Sql,
    /// `StatementName`; Spectra's names correlate status-change events with jobs.
    pub statement_name: Option<String>,
    /// `ClientToken`: a repeated submit with the same token returns the first submit's id and
    /// does not run the SQL again.
    pub client_token: Option<String>,
    /// `WithEvent`: emit a status-change event when the statement ends.
    pub with_event: bool,
    /// `DbUser`: the database user to run as (per tenant, so row-level security applies).
    pub db_user: Option<String>,
    /// `Database`: the database the statement runs in. The Data API adapter sends its
    /// configured one; the embedded warehouse has one database and answers `current_database()`
    /// with this name.
    pub database: Option<String>,
}

impl StatementRequest {
    /// A plain single statement, no name, token or event.
    pub fn single(sql: impl Into<String>) -> Self {
        Self {
            sql: Sql::Single { sql: sql.into(), parameters: Vec::new() },
            statement_name: None,
            client_token: None,
            with_event: false,
            db_user: None,
            database: None,
        }
    }
}

/// A statement's status, as DescribeStatement reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StatementStatus {
    /// Accepted, not yet processed.
    Submitted,
    /// Chosen to run.
    Picked,
    /// Running.
    Started,
    /// Ended successfully.
    Finished,
    /// Stopped by CancelStatement.
    Aborted,
    /// Ended with an error.
    Failed,
}

impl StatementStatus {
    /// The Data API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "SUBMITTED",
            Self::Picked => "PICKED",
            Self::Started => "STARTED",
            Self::Finished => "FINISHED",
            Self::Aborted => "ABORTED",
            Self::Failed => "FAILED",
        }
    }

    /// Whether the statement has ended.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Finished | Self::Aborted | Self::Failed)
    }
}

/// One statement of a batch (`SubStatementData`).
#[derive(Debug, Clone, PartialEq)]
pub struct SubStatement {
    /// `<batch id>:<n>`, n from 1.
    pub id: String,
    /// Its status; statements after a failing one end `ABORTED`.
    pub status: StatementStatus,
    /// The error, when it failed.
    pub error: Option<String>,
    /// Whether it produced a result set.
    pub has_result_set: bool,
    /// Rows returned or affected (-1 when unknown).
    pub result_rows: i64,
    /// The SQL.
    pub query_string: String,
    /// Redshift's query id (-1 when none).
    pub redshift_query_id: i64,
    /// Submit time.
    pub created_at: DateTime<Utc>,
    /// Last status change.
    pub updated_at: DateTime<Utc>,
    /// Run time in nanoseconds.
    pub duration_ns: i64,
}

/// DescribeStatement's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct StatementDescription {
    /// The statement id (a UUID).
    pub id: String,
    /// Overall status (a batch is `FAILED` when any sub-statement failed).
    pub status: StatementStatus,
    /// The error, when it failed.
    pub error: Option<String>,
    /// Whether it (or any sub-statement) produced a result set.
    pub has_result_set: bool,
    /// Rows returned or affected by a single statement (-1 for batches and when unknown).
    pub result_rows: i64,
    /// The SQL (the batch's statements joined with `; `).
    pub query_string: String,
    /// The name given at submit.
    pub statement_name: Option<String>,
    /// The database user it ran as (`DbUser`), when one was given.
    pub db_user: Option<String>,
    /// The parameters given at submit.
    pub query_parameters: Vec<QueryParameter>,
    /// Redshift's query id (-1 when none).
    pub redshift_query_id: i64,
    /// Submit time.
    pub created_at: DateTime<Utc>,
    /// Last status change.
    pub updated_at: DateTime<Utc>,
    /// Run time in nanoseconds.
    pub duration_ns: i64,
    /// A batch's statements, in order; empty for a single statement.
    pub sub_statements: Vec<SubStatement>,
}

impl StatementDescription {
    /// What is known of a statement that ended as `status` without its description: from a
    /// status-change event (its `rows`), or for a statement the warehouse no longer knows.
    pub fn ended(id: &str, status: StatementStatus, error: Option<String>, result_rows: i64) -> Self {
        let now = Utc::now();
        Self {
            id: id.to_owned(),
            status,
            error,
            has_result_set: false,
            result_rows,
            query_string: String::new(),
            statement_name: None,
            db_user: None,
            query_parameters: Vec::new(),
            redshift_query_id: -1,
            created_at: now,
            updated_at: now,
            duration_ns: 0,
            sub_statements: Vec::new(),
        }
    }
}

/// A result column (`ColumnMetadata`), with Redshift type names (`int8`, `varchar`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMetadata {
    /// Column name.
    pub name: String,
    /// Column label (the same as the name here).
    pub label: String,
    /// Redshift type name.
    pub type_name: String,
    /// 0 not nullable, 1 nullable, 2 unknown (JDBC's convention, as the Data API uses it).
    pub nullable: i32,
    /// Precision (decimals, varchar length), 0 when not applicable.
    pub precision: i32,
    /// Scale (decimals), 0 when not applicable.
    pub scale: i32,
}

/// One value of a result (`Field` union).
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// SQL NULL.
    IsNull,
    /// A boolean.
    Boolean(bool),
    /// An integer.
    Long(i64),
    /// A floating-point number.
    Double(f64),
    /// Text, and everything rendered as text (decimals, dates, timestamps).
    String(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl Field {
    /// The value as JSON: the natural JSON type, text for decimals and times, base64 for bytes.
    pub fn to_json(&self) -> serde_json::Value {
        use base64::Engine;
        match self {
            Self::IsNull => serde_json::Value::Null,
            Self::Boolean(b) => (*b).into(),
            Self::Long(v) => (*v).into(),
            Self::Double(v) => (*v).into(),
            Self::String(s) => s.clone().into(),
            Self::Blob(b) => base64::engine::general_purpose::STANDARD.encode(b).into(),
        }
    }
}

/// One page of GetStatementResult.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultPage {
    /// The columns.
    pub columns: Vec<ColumnMetadata>,
    /// The rows on this page.
    pub records: Vec<Vec<Field>>,
    /// Rows in the whole result.
    pub total_rows: u64,
    /// Token for the next page; `None` on the last.
    pub next_token: Option<String>,
}

/// Why a warehouse call failed. A statement whose SQL fails is not an error of `execute`: it is
/// accepted and ends `FAILED`, as in the Data API.
#[derive(Debug, Error)]
pub enum WarehouseError {
    /// Too many statements are running (`ActiveStatementsExceededException`): backpressure,
    /// retry later.
    #[error("active statements exceeded: {0}")]
    ActiveStatementsExceeded(String),
    /// The service is throttling requests: backpressure, retry later.
    #[error("throttled: {0}")]
    Throttled(String),
    /// No such statement (or its results expired) (`ResourceNotFoundException`).
    #[error("statement not found: {0}")]
    NotFound(String),
    /// The request is invalid (`ValidationException`): a job failure, not retryable.
    #[error("validation error: {0}")]
    Validation(String),
    /// The service failed or could not be reached; retry later.
    #[error("warehouse unavailable: {0}")]
    Unavailable(String),
    /// A tenant's query that this warehouse refuses to run ([`Warehouse::check_query`]).
    #[error("refused: {0}")]
    Refused(crate::sql::GuardError),
}

/// The error of a statement the embedded warehouse stopped under (a SIGTERM, or a crash its
/// ledger finds at the next start). The worker recognises it and resubmits the statement
/// without using a retry ([`spectra_state_machine::JobEvent::StatementInterrupted`]); the
/// emulator passes it through the Data API unchanged, so one text serves both paths.
pub const STOPPED_UNDER_STATEMENT: &str = "the warehouse stopped while the statement ran; nothing it did was committed";

impl WarehouseError {
    /// Whether the same call may succeed later (backpressure and outages).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::ActiveStatementsExceeded(_) | Self::Throttled(_) | Self::Unavailable(_))
    }
}

/// SQL execution with Data API semantics. The embedded DuckDB warehouse and the Redshift Data
/// API adapter both pass `contract::warehouse`.
///
/// # Contract
/// - **Asynchronous.** `execute` returns an id at once; the statement runs in the background.
///   `describe` reports its progress; results are read once it has `FINISHED`.
/// - **Ids** are UUIDs; a batch's sub-statements are `<id>:<n>`, n from 1.
/// - **Batches are transactions**: a failing statement rolls back the earlier ones; the batch
///   is `FAILED`, later sub-statements `ABORTED`.
/// - **Idempotent submits.** The same `client_token` returns the same id without running the
///   SQL again.
/// - **Cancel** stops a running statement (it ends `ABORTED`); it returns `false` when the
///   statement had already ended.
/// - **Limits.** Past the configured number of active statements, `execute` fails with
///   [`WarehouseError::ActiveStatementsExceeded`].
/// - **Events.** With `with_event`, the end of the statement is announced as a "Redshift Data
///   Statement Status Change" event in AWS's exact shape.
/// - **Errors.** [`WarehouseError::is_retryable`] tells backpressure and outages from failures.
#[async_trait]
pub trait Warehouse: Send + Sync {
    /// What runs the SQL (`db.system.name` on spans): `aws.redshift` unless said otherwise.
    fn system(&self) -> &'static str {
        "aws.redshift"
    }

    /// Submits SQL; returns the statement id.
    async fn execute(&self, request: StatementRequest) -> Result<String, WarehouseError>;

    /// Describes a statement (a batch id gives its sub-statements too).
    async fn describe(&self, id: &str) -> Result<StatementDescription, WarehouseError>;

    /// Cancels a statement; `false` when it had already ended.
    async fn cancel(&self, id: &str) -> Result<bool, WarehouseError>;

    /// A page of a finished statement's result (a sub-statement's by `<id>:<n>`).
    async fn results(&self, id: &str, next_token: Option<&str>) -> Result<ResultPage, WarehouseError>;

    /// Waits until the statement ends or `timeout` passes; its description then (not ended when
    /// the time ran out). The default polls `describe`, first after 1 ms (a small query ends in
    /// a couple), then backing off to 250 ms; a warehouse that knows when its statements end
    /// answers at once instead.
    async fn wait(&self, id: &str, timeout: Duration) -> Result<StatementDescription, WarehouseError> {
        let deadline = deadline_after(tokio::time::Instant::now(), timeout);
        let mut pause = Duration::from_millis(1);
        loop {
            let description = self.describe(id).await?;
            let now = tokio::time::Instant::now();
            if description.status.is_terminal() || now >= deadline {
                return Ok(description);
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    /// Checks, without running anything, that `sql` is a query `db_user` may run here, exactly
    /// as `execute` would check it; a refusal is [`WarehouseError::Refused`]. The API asks
    /// before it creates a job, so a refused query is a 400 rather than a failed job.
    ///
    /// The default accepts: on Redshift the database user's grants decide, when it runs.
    async fn check_query(&self, sql: &Sql, db_user: Option<&str>) -> Result<(), WarehouseError> {
        let _ = (sql, db_user);
        Ok(())
    }
}

/// `start + timeout`, or a year from `start` when that overflows (`Duration::MAX`: no deadline).
pub fn deadline_after(start: tokio::time::Instant, timeout: Duration) -> tokio::time::Instant {
    start.checked_add(timeout).unwrap_or_else(|| start + Duration::from_secs(365 * 24 * 3600))
}

/// Waits until the statement ends ([`Warehouse::wait`] without a deadline of its own: wrap it
/// in `tokio::time::timeout`, and cancel on expiry).
pub async fn wait_for(warehouse: &dyn Warehouse, id: &str) -> Result<StatementDescription, WarehouseError> {
    loop {
        let description = warehouse.wait(id, Duration::MAX).await?;
        if description.status.is_terminal() {
            return Ok(description);
        }
    }
}

/// A finished statement's result read page after page: its columns, and its rows up to the first
/// page boundary at or past `at_least` rows (all of them with `None`).
pub async fn read_rows(
    warehouse: &dyn Warehouse,
    id: &str,
    at_least: Option<usize>,
) -> Result<(Vec<ColumnMetadata>, Vec<Vec<Field>>), WarehouseError> {
    let (mut columns, mut rows, mut token) = (Vec::new(), Vec::new(), None::<String>);
    loop {
        let page = warehouse.results(id, token.as_deref()).await?;
        if columns.is_empty() {
            columns = page.columns;
        }
        rows.extend(page.records);
        match page.next_token {
            Some(next) if at_least.is_none_or(|n| rows.len() < n) => token = Some(next),
            _ => return Ok((columns, rows)),
        }
    }
}
