//! `POST /v1/queries` (seed 001's Query API, with seed 000's `async` and `output_format`): the
//! SQL guard, the row cap, then either a synchronous run through the warehouse (JSON) or an
//! async query job. Every query is a job, so `GET /v1/jobs/{id}` works for it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use spectra_state_machine::{Job, OutputFormat, QueryJob, QueryJobRequest, RawParameter, TenantId};
use spectra_worker::handler::named_request;
use spectra_worker::ports::{Sql, StatementStatus, WarehouseError, read_rows};
use spectra_worker::producer::{ProducerError, Runner};
use spectra_worker::sql::{cap_rows, check, export_query};

use crate::auth::Principal;
use crate::error::{ApiError, guard_error};
use crate::extract::JsonBody;
use crate::idempotency::CreationToken;
use crate::jobs::wait_for_job;
use crate::rows::{Page, Rows};
use crate::state::AppState;

/// Most rows a synchronous query returns (seed 001).
pub const MAX_ROWS: u64 = 10_000;
/// Longest a synchronous query may run (seed 001).
pub const MAX_TIMEOUT_SECONDS: u64 = 300;

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    sql: String,
    /// `limit` and `timeout_seconds` (seed 001); every other key is a named SQL parameter
    /// (`:name`), passed to the warehouse as a parameter, never spliced.
    #[serde(default)]
    parameters: BTreeMap<String, Value>,
    #[serde(default, rename = "async")]
    run_async: bool,
    #[serde(default)]
    output_format: Option<String>,
}

fn number(parameters: &BTreeMap<String, Value>, name: &str, default: u64, max: u64) -> Result<u64, ApiError> {
    match parameters.get(name) {
        None => Ok(default),
        Some(v) => match v.as_u64() {
            Some(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid(format!("parameters.{name} must be an integer from 1 to {max}"))),
        },
    }
}

fn text(value: &Value) -> Result<String, ApiError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(ApiError::invalid("SQL parameter values must be strings, numbers or booleans")),
    }
}

/// `POST /v1/queries`.
pub async fn execute(
    State(state): State<AppState>,
    who: Principal,
    bound: Option<Extension<CreationToken>>,
    JsonBody(request): JsonBody<QueryRequest>,
) -> Result<Response, ApiError> {
    let guard = state.producer.platform().settings.guard;
    check(&request.sql, guard).map_err(|e| guard_error(&request.sql, e))?;
    let limit = number(&request.parameters, "limit", MAX_ROWS, MAX_ROWS)?;
    let timeout = Duration::from_secs(number(&request.parameters, "timeout_seconds", 60, MAX_TIMEOUT_SECONDS)?);
    let parameters = request
        .parameters
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "limit" | "timeout_seconds"))
        .map(|(name, value)| Ok(RawParameter { name: name.clone(), value: text(value)? }))
        .collect::<Result<Vec<_>, ApiError>>()?;
    let json_output = request.output_format.as_deref().is_none_or(|f| f.eq_ignore_ascii_case("json"));
    let capped = cap_rows(&request.sql, limit).map_err(|e| ApiError::invalid(e.to_string()))?;
    let sql = if json_output { capped.sql.clone() } else { request.sql.clone() };
    let job_request = QueryJobRequest { sql, parameters, output_format: request.output_format.clone() };
    // The job's own validation (names of parameters, output format), before the engine is asked.
    let spec = job_request.clone().validate().map_err(|e| ApiError::from(ProducerError::Spec(e)))?;
    let runs = if json_output {
        Some(Sql::Single { sql: spec.sql, parameters: spec.parameters })
    } else {
        export_query(&spec.sql).ok().map(|text| Sql::Single { sql: text, parameters: Vec::new() })
    };
    if let Some(runs) = runs {
        check_with_engine(&state, &who.tenant, &runs, &request.sql).await?;
    }
    // A synchronous JSON query runs in this request; everything else runs through a worker.
    let runner = if request.run_async || !json_output { Runner::Worker } else { Runner::Caller };
    let created = state.producer.create_query(&who.tenant, job_request, runner, None, CreationToken::of(&bound)).await;
    let job = match created {
        Ok(job) => job,
        Err(ProducerError::Sql(e)) => return Err(guard_error(&request.sql, e)),
        Err(e) => return Err(e.into()),
    };
    if request.run_async {
        return Ok(
            (StatusCode::ACCEPTED, Json(json!({"job_id": job.header.job_id, "status": job.status}))).into_response()
        );
    }
    if job.output_format != OutputFormat::Json {
        // UNLOAD runs through the worker; wait for it, then hand out the links.
        let done = wait_for_job(&state, &who, &job.header.job_id, timeout).await?;
        return crate::jobs::results_of(&state, &who, &done).await.map(IntoResponse::into_response);
    }
    run_sync(&state, &who, job, limit, capped.may_exceed, timeout).await.map(IntoResponse::into_response)
}

/// Asks the warehouse whether the tenant may run `sql` exactly as it will be submitted (the
/// embedded engine parses and checks it with its own parser; Redshift accepts here and lets
/// the tenant's grants decide). A refusal is the same 400 as the guard's.
pub(crate) async fn check_with_engine(
    state: &AppState,
    tenant: &TenantId,
    sql: &Sql,
    shown: &str,
) -> Result<(), ApiError> {
    let db_user = state.producer.platform().settings.db_user(tenant);
    match state.warehouse.check_query(sql, db_user.as_deref()).await {
        Ok(()) => Ok(()),
        Err(WarehouseError::Refused(e)) => Err(guard_error(shown, e)),
        Err(WarehouseError::Validation(message)) => Err(ApiError::invalid(message)),
        Err(e) => Err(ApiError::unavailable(&e)),
    }
}

/// Runs a JSON query in this request: submit (with the job's statement name and client token,
/// so a worker submitting the same attempt gets the same statement), wait for its end until the
/// timeout, page the result.
async fn run_sync(
    state: &AppState,
    who: &Principal,
    job: QueryJob,
    limit: u64,
    may_exceed: bool,
    timeout: Duration,
) -> Result<Page, ApiError> {
    let started = Instant::now();
    let deadline = started + timeout;
    let settings = &state.producer.platform().settings;
    let sql = Sql::Single { sql: job.sql.clone(), parameters: job.parameters.clone() };
    let request = named_request(&Job::Query(job.clone()), job.header.execution.attempt, sql, settings);
    let statement = loop {
        match state.warehouse.execute(request.clone()).await {
            Ok(id) => break id,
            Err(WarehouseError::ActiveStatementsExceeded(_) | WarehouseError::Throttled(_))
                if Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(timeout_or(state, who, &job, e).await),
        }
    };
    state.producer.submitted(&who.tenant, &job.header.job_id, job.header.execution.attempt, &statement).await;
    // Told when it ends (the embedded warehouse notifies; the Data API is polled).
    let left = deadline.saturating_duration_since(Instant::now());
    let description = state.warehouse.wait(&statement, left).await.map_err(|e| ApiError::unavailable(&e))?;
    if !description.status.is_terminal() {
        let _ = state.warehouse.cancel(&statement).await;
        let _ = state.producer.abort(&who.tenant, &job.header.job_id, None).await;
        return Err(ApiError::timeout(timeout.as_secs()));
    }
    if description.status != StatementStatus::Finished {
        let message = description.error.unwrap_or_else(|| "the query did not finish".into());
        return Err(ApiError::sql_failed(message, job.header.job_id.as_str()));
    }
    // One row past the cap tells whether the result was cut.
    let (metadata, mut rows) = read_rows(state.warehouse.as_ref(), &statement, Some(limit as usize + 1))
        .await
        .map_err(|e| ApiError::unavailable(&e))?;
    let columns = crate::rows::unique_names(metadata.iter().map(|c| c.name.clone()).collect());
    let types: Vec<String> = metadata.iter().map(|c| c.type_name.clone()).collect();
    let truncated = may_exceed && rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let count = rows.len();
    let metadata = json!({
        "columns": columns,
        "column_types": types,
        "row_count": count,
        // Without running the query again, the total is only known when nothing was cut.
        "total_rows": if truncated { Value::Null } else { json!(count) },
        "truncated": truncated,
        "execution_time_ms": started.elapsed().as_millis() as u64,
        "query_id": statement,
        "job_id": job.header.job_id,
    });
    Ok(Page { data: Rows { columns, rows }, metadata })
}

async fn timeout_or(state: &AppState, who: &Principal, job: &QueryJob, e: WarehouseError) -> ApiError {
    let _ = state.producer.abort(&who.tenant, &job.header.job_id, None).await;
    match e {
        WarehouseError::ActiveStatementsExceeded(_) | WarehouseError::Throttled(_) => {
            ApiError::timeout(0).with_details(json!({"reason": "the warehouse stayed busy until the timeout"}))
        }
        WarehouseError::Validation(message) => ApiError::sql_failed(message, job.header.job_id.as_str()),
        other => ApiError::unavailable(&other),
    }
}
