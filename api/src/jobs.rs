//! The Job API of seed 001: `GET /v1/jobs/{id}`, `GET /v1/jobs/{id}/results`,
//! `DELETE /v1/jobs/{id}`. Query jobs show the Job API's fields; a bulk job's id works too.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use spectra_state_machine::{Job, JobId, OutputFormat, QueryJob, QueryStatus};
use spectra_worker::ports::{WarehouseError, read_rows};

use crate::auth::Principal;
use crate::bulk;
use crate::error::ApiError;
use crate::extract::{PathParams, QueryParams, job_id};
use crate::rows::{Page, Rows};
use crate::state::AppState;

/// A query job as seed 001's Job API shows it.
pub fn view(job: &QueryJob) -> Value {
    json!({
        "job_id": job.header.job_id,
        "tenant_id": job.header.tenant_id,
        "status": job.status,
        "submitted_at": job.submitted_at,
        "started_at": job.started_at,
        "completed_at": job.completed_at,
        "row_count": job.row_count,
        "execution_time_ms": job.execution_time_ms,
        "output_format": job.output_format,
        "query_id": job.header.execution.statement_id,
        "error": job.header.error,
    })
}

fn any_view(job: &Job) -> Value {
    match job {
        Job::Query(q) => view(q),
        Job::Bulk(b) => bulk::view(b),
    }
}

/// `GET /v1/jobs/{id}`.
pub async fn get(
    State(state): State<AppState>,
    who: Principal,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(any_view(&state.producer.get(&who.tenant, &job_id(&id)?).await?)))
}

/// `DELETE /v1/jobs/{id}`: cancels the job (and its running statement).
pub async fn cancel(
    State(state): State<AppState>,
    who: Principal,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(any_view(&state.producer.abort(&who.tenant, &job_id(&id)?, None).await?)))
}

/// Paging of inline results.
#[derive(Debug, Deserialize)]
pub struct Paging {
    offset: Option<usize>,
    limit: Option<usize>,
}

/// `GET /v1/jobs/{id}/results`: inline rows for JSON query jobs (paged by `offset`/`limit`),
/// download links for exports.
pub async fn results(
    State(state): State<AppState>,
    who: Principal,
    PathParams(id): PathParams<String>,
    QueryParams(paging): QueryParams<Paging>,
) -> Result<Response, ApiError> {
    let job = state.producer.get(&who.tenant, &job_id(&id)?).await?;
    match &job {
        Job::Query(q) if q.status == QueryStatus::Completed && q.output_format == OutputFormat::Json => {
            inline(&state, q, paging.offset.unwrap_or(0), paging.limit.unwrap_or(1000)).await
        }
        _ => results_of(&state, &who, &job).await.map(IntoResponse::into_response),
    }
}

/// Download links of a completed job (an export, or a query job with CSV/Parquet output).
pub async fn results_of(state: &AppState, who: &Principal, job: &Job) -> Result<Json<Value>, ApiError> {
    let results = state.producer.results(&who.tenant, job.job_id()).await?;
    let mut body = bulk::results_body(&results);
    body["job_id"] = json!(job.job_id());
    Ok(Json(body))
}

async fn inline(state: &AppState, job: &QueryJob, offset: usize, limit: usize) -> Result<Response, ApiError> {
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::invalid("limit must be between 1 and 10000"));
    }
    let statement =
        job.header.execution.statement_id.clone().ok_or_else(|| ApiError::not_found("the job has no result"))?;
    let (metadata, rows) = match read_rows(state.warehouse.as_ref(), &statement, Some(offset + limit)).await {
        Ok(read) => read,
        Err(WarehouseError::NotFound(_)) => {
            return Err(ApiError::not_found("the result has expired; run the query again"));
        }
        Err(e) => return Err(ApiError::unavailable(&e)),
    };
    let columns = crate::rows::unique_names(metadata.iter().map(|c| c.name.clone()).collect());
    let rows: Vec<_> = rows.into_iter().skip(offset).take(limit).collect();
    let metadata = json!({"columns": columns, "row_count": rows.len(), "offset": offset});
    Ok(Json(Page { data: Rows { columns, rows }, metadata }).into_response())
}

/// Waits until the job has ended or `timeout` passes (then the job is cancelled: 504).
pub async fn wait_for_job(state: &AppState, who: &Principal, id: &JobId, timeout: Duration) -> Result<Job, ApiError> {
    let deadline = Instant::now() + timeout;
    loop {
        let job = state.producer.get(&who.tenant, id).await?;
        match job.state() {
            spectra_state_machine::AnyState::Query(QueryStatus::Completed) => return Ok(job),
            spectra_state_machine::AnyState::Query(QueryStatus::Failed | QueryStatus::Cancelled) => {
                let message = match &job {
                    Job::Query(q) => {
                        q.header.error.as_ref().map_or_else(|| "the query did not finish".into(), |e| e.message.clone())
                    }
                    Job::Bulk(_) => String::new(),
                };
                return Err(ApiError::sql_failed(message, id.as_str()));
            }
            _ if Instant::now() >= deadline => {
                let _ = state.producer.abort(&who.tenant, id, None).await;
                return Err(ApiError::timeout(timeout.as_secs()));
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}
