//! Operator SQL on the embedded warehouse (`spectra sql`).
//!
//! DuckDB lets one process open a database file. When `spectra up` holds the data directory, it
//! writes its address to `spectra.addr` and serves `POST /admin/sql`, guarded by the bearer
//! token in `admin.token` (mode 0600, so only the directory's owner can use it; both files are
//! `spectra_local`'s data-directory layout); `spectra sql`
//! goes through it. When nothing holds the directory, `spectra sql` opens the warehouse itself.
//! Either way the statements go through the `Warehouse` port, one at a time, stopping at the
//! first failure.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::split_script;
use spectra_worker::ports::{Field, StatementRequest, StatementStatus, Warehouse, WarehouseError, read_rows, wait_for};

/// The body of `POST /admin/sql`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SqlRequest {
    /// One or more statements separated by `;`.
    pub sql: String,
}

/// What one statement did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SqlOutcome {
    /// The statement.
    pub sql: String,
    /// Its Data API id.
    pub statement_id: String,
    /// FINISHED, FAILED or ABORTED.
    pub status: String,
    /// The error, when it failed.
    pub error: Option<String>,
    /// Rows returned or changed.
    pub result_rows: i64,
    /// Result column names (empty without a result set).
    pub columns: Vec<String>,
    /// Result column Redshift types.
    pub column_types: Vec<String>,
    /// Result rows as JSON values.
    pub rows: Vec<Vec<Value>>,
}

/// Runs a script statement by statement; stops after the first that does not finish.
pub async fn run_script(warehouse: &dyn Warehouse, sql: &str) -> Result<Vec<SqlOutcome>, WarehouseError> {
    let statements = split_script(sql);
    if statements.is_empty() {
        return Err(WarehouseError::Validation("no SQL statement given".into()));
    }
    let mut outcomes = Vec::new();
    for statement in statements {
        let id = warehouse.execute(StatementRequest::single(statement.clone())).await?;
        let description = wait_for(warehouse, &id).await?;
        let mut outcome = SqlOutcome {
            sql: statement,
            statement_id: id.clone(),
            status: description.status.as_str().to_owned(),
            error: description.error.clone(),
            result_rows: description.result_rows,
            columns: Vec::new(),
            column_types: Vec::new(),
            rows: Vec::new(),
        };
        if description.status == StatementStatus::Finished && description.has_result_set {
            let (columns, rows) = read_rows(warehouse, &id, None).await?;
            outcome.columns = columns.iter().map(|c| c.name.clone()).collect();
            outcome.column_types = columns.iter().map(|c| c.type_name.clone()).collect();
            outcome.rows = rows.iter().map(|r| r.iter().map(Field::to_json).collect()).collect();
        }
        let finished = description.status == StatementStatus::Finished;
        outcomes.push(outcome);
        if !finished {
            break;
        }
    }
    Ok(outcomes)
}

#[derive(Clone)]
struct AdminState {
    warehouse: Arc<dyn Warehouse>,
    token: Arc<str>,
}

/// `POST /admin/sql` for a running instance.
pub fn admin_routes(warehouse: Arc<dyn Warehouse>, token: String) -> Router {
    Router::new().route("/admin/sql", post(admin_sql)).with_state(AdminState { warehouse, token: token.into() })
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn admin_sql(State(state): State<AdminState>, headers: HeaderMap, Json(request): Json<SqlRequest>) -> Response {
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !same(presented.as_bytes(), state.token.as_bytes()) {
        let body = json!({"error": {"code": "UNAUTHORIZED", "message": "missing or wrong admin token"}});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    match run_script(state.warehouse.as_ref(), &request.sql).await {
        Ok(outcomes) => Json(outcomes).into_response(),
        Err(e) => {
            let status = if e.is_retryable() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::BAD_REQUEST };
            (status, Json(json!({"error": {"code": "INVALID_REQUEST", "message": e.to_string()}}))).into_response()
        }
    }
}
