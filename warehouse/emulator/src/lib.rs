//! A faithful local Redshift Data API: the AWS JSON 1.1 protocol of seed 004 over the embedded
//! DuckDB warehouse, for tests and for users' own CI (`spectra redshift-emulator`).
//!
//! Requests are `POST /` with `X-Amz-Target: RedshiftData.<Operation>`; SigV4 signatures are
//! accepted from any credentials and not verified. Any cluster, workgroup, database or user
//! maps to the one local engine (the user is recorded and reported as `DbUser`).
//!
//! # Layout
//! - this file: the router and dispatch; [`Emulator`] and what it remembers per statement.
//! - `statements`: ExecuteStatement, BatchExecuteStatement, DescribeStatement,
//!   CancelStatement, ListStatements, and sessions.
//! - `results`: GetStatementResult (JSON `Field`s) and GetStatementResultV2 (CSV).
//! - `catalog`: ListDatabases, ListSchemas, ListTables, DescribeTable.
//! - `wire`: the JSON shapes and errors.
//! - `s3`, `events`: UNLOAD/COPY on a real S3 endpoint, status-change events by PutEvents.

mod catalog;
mod events;
mod results;
mod s3;
mod statements;
mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use self::events::PutEventsSink;
pub use self::s3::S3Mirror;
pub use self::wire::AwsError;
use spectra_warehouse::{Access, DuckWarehouse, StatementEventSink, WarehouseConfig};
use spectra_worker::ports::WarehouseError;

/// What the Data API reports about a statement beyond what the engine keeps: its target.
#[derive(Debug, Clone, Default)]
struct StatementMeta {
    cluster_identifier: Option<String>,
    workgroup_name: Option<String>,
    database: Option<String>,
    db_user: Option<String>,
    secret_arn: Option<String>,
    session_id: Option<String>,
    csv: bool,
}

/// A session kept alive between statements (`SessionKeepAliveSeconds`).
#[derive(Debug, Clone)]
struct Session {
    meta: StatementMeta,
    expires_at: DateTime<Utc>,
}

/// The emulator's state: the engine, and per-statement targets and sessions (in memory: after
/// a restart, statements are still described from the engine's ledger, without their target).
pub struct Emulator {
    warehouse: DuckWarehouse,
    meta: Arc<Mutex<HashMap<String, StatementMeta>>>,
    sessions: Mutex<HashMap<String, Session>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Emulator {
    /// An emulator over `warehouse`, with the statement targets `meta` (shared with its event
    /// sink).
    fn new(warehouse: DuckWarehouse, meta: Arc<Mutex<HashMap<String, StatementMeta>>>) -> Arc<Self> {
        Arc::new(Self { warehouse, meta, sessions: Mutex::default() })
    }

    fn meta(&self, id: &str) -> StatementMeta {
        let base = id.split(':').next().unwrap_or(id);
        lock(&self.meta).get(base).cloned().unwrap_or_default()
    }
}

/// How to start an emulator.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// Where the engine keeps its database and local object mirror.
    pub data_dir: std::path::PathBuf,
    /// The S3 endpoint UNLOAD writes to and COPY reads from; the local directory alone if `None`.
    pub s3_endpoint: Option<String>,
    /// The EventBridge endpoint status-change events go to; no events if `None`.
    pub events_endpoint: Option<String>,
    /// Statements allowed at once; one more is `ActiveStatementsExceededException`.
    pub max_active_statements: usize,
    /// The region named in events.
    pub region: String,
}

impl Emulator {
    /// Opens the engine in `options.data_dir` and connects its S3 and EventBridge (credentials
    /// from the default chain; any will do for local endpoints).
    pub async fn open(options: &EmulatorOptions) -> Result<Arc<Self>, WarehouseError> {
        tokio::fs::create_dir_all(&options.data_dir).await.map_err(|e| WarehouseError::Unavailable(e.to_string()))?;
        let sdk = |endpoint: &str| spectra_aws::AwsOptions {
            region: Some(options.region.clone()),
            endpoint_url: Some(endpoint.to_owned()),
        };
        let remote = match &options.s3_endpoint {
            Some(url) => {
                let client = spectra_aws::s3_client(&sdk(url).load().await, true);
                Some(Arc::new(S3Mirror::new(client)) as Arc<dyn spectra_warehouse::RemoteObjects>)
            }
            None => None,
        };
        let meta = Arc::new(Mutex::new(HashMap::new()));
        let events = match &options.events_endpoint {
            Some(url) => {
                let client = aws_sdk_eventbridge::Client::new(&sdk(url).load().await);
                Some(Arc::new(PutEventsSink::new(client, meta.clone())) as Arc<dyn StatementEventSink>)
            }
            None => None,
        };
        let config = WarehouseConfig {
            max_active_statements: options.max_active_statements,
            region: options.region.clone(),
            // A local Redshift's callers are its operators, as on a cluster without per-user
            // grants; the engine stays hermetic all the same.
            access: Access { confine_db_users: false, ..Access::default() },
            ..WarehouseConfig::default()
        };
        let dir = &options.data_dir;
        let warehouse =
            DuckWarehouse::open_with(&dir.join("warehouse.duckdb"), &dir.join("objects"), config, events, remote)
                .await?;
        Ok(Self::new(warehouse, meta))
    }
}

/// The emulator's routes: `POST /` for every operation.
pub fn router(emulator: Arc<Emulator>) -> Router {
    Router::new().route("/", axum::routing::post(dispatch)).with_state(emulator)
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, AwsError> {
    let body = if body.is_empty() { b"{}".as_slice() } else { body };
    serde_json::from_slice(body).map_err(|e| AwsError::validation(format!("invalid request body: {e}")))
}

async fn dispatch(State(emulator): State<Arc<Emulator>>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some(operation) = target.strip_prefix("RedshiftData.") else {
        return AwsError::validation(format!("unknown X-Amz-Target {target:?}")).into_response();
    };
    let e = &emulator;
    // Every operation reads its own request shape from the body, then runs.
    macro_rules! call {
        ($op:path $(, $arg:expr)*) => {
            match parse(&body) {
                Ok(request) => $op(e, request $(, $arg)*).await,
                Err(error) => Err(error),
            }
        };
    }
    let result: Result<Value, AwsError> = match operation {
        "ExecuteStatement" => call!(statements::execute, false),
        "BatchExecuteStatement" => call!(statements::execute, true),
        "DescribeStatement" => call!(statements::describe),
        "CancelStatement" => call!(statements::cancel),
        "ListStatements" => call!(statements::list),
        "GetStatementResult" => call!(results::get, false),
        "GetStatementResultV2" => call!(results::get, true),
        "ListDatabases" => call!(catalog::databases),
        "ListSchemas" => call!(catalog::schemas),
        "ListTables" => call!(catalog::tables),
        "DescribeTable" => call!(catalog::describe_table),
        other => Err(AwsError::validation(format!("unknown operation {other}"))),
    };
    match result {
        Ok(body) => ([("content-type", "application/x-amz-json-1.1")], body.to_string()).into_response(),
        Err(error) => {
            tracing::debug!(operation, kind = error.kind(), "request refused");
            error.into_response()
        }
    }
}
