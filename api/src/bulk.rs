//! The Bulk API of seed 001: `/v1/bulk/jobs` — create, list, get, patch (`UploadComplete` or
//! `Aborted`), upload URL, results. Every call is scoped to the caller's tenant; another
//! tenant's job is 404, never 403.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use spectra_state_machine::{AnyState, BulkJob, BulkJobRequest, BulkState, Job, JobKind, TenantId};
use spectra_worker::ports::{ListFilter, MAX_PAGE_SIZE, Sql};
use spectra_worker::producer::ProducerError;
use spectra_worker::results::{JobResults, ResultFile};
use spectra_worker::sql::{check, export_query};

use crate::auth::Principal;
use crate::error::{ApiError, guard_error};
use crate::extract::{JsonBody, PathParams, QueryParams, job_id};
use crate::idempotency::CreationToken;
use crate::queries::check_with_engine;
use crate::state::AppState;

type Reply = Result<(StatusCode, Json<Value>), ApiError>;

/// A bulk job as the API shows it: the seed's fields plus what else a client needs.
pub fn view(job: &BulkJob) -> Value {
    json!({
        "job_id": job.header.job_id,
        "state": job.state,
        "operation": job.operation,
        "object": job.object,
        "query": job.query,
        "content_type": job.content_type,
        "compression": job.compression,
        "primary_key": job.primary_key,
        "number_records_processed": job.number_records_processed,
        "number_records_failed": job.number_records_failed,
        "created_at": job.created_at,
        "updated_at": job.header.updated_at,
        "completed_at": job.completed_at,
        "error": job.header.error,
    })
}

/// The tenant's bulk job; a query job (Job API) is not found here.
async fn bulk_job(state: &AppState, tenant: &TenantId, id: &str) -> Result<BulkJob, ApiError> {
    match state.producer.get(tenant, &job_id(id)?).await? {
        Job::Bulk(job) => Ok(job),
        Job::Query(_) => Err(ApiError::not_found(format!("bulk job {id} not found"))),
    }
}

/// `POST /v1/bulk/jobs` → 201.
pub async fn create(
    State(state): State<AppState>,
    who: Principal,
    bound: Option<Extension<CreationToken>>,
    JsonBody(request): JsonBody<BulkJobRequest>,
) -> Reply {
    let query = request.query.clone().unwrap_or_default();
    if request.operation.eq_ignore_ascii_case("query") && !query.trim().is_empty() {
        // The guard's answer first (syntax positions, read-only); then the engine's, on the text
        // the export will run.
        check(&query, state.producer.platform().settings.guard).map_err(|e| guard_error(&query, e))?;
        if let Ok(text) = export_query(&query) {
            let runs = Sql::Single { sql: text, parameters: Vec::new() };
            check_with_engine(&state, &who.tenant, &runs, &query).await?;
        }
    }
    match state.producer.create_bulk(&who.tenant, request, None, CreationToken::of(&bound)).await {
        Ok(job) => Ok((StatusCode::CREATED, Json(view(&job)))),
        Err(ProducerError::Sql(e)) => Err(guard_error(&query, e)),
        Err(e) => Err(e.into()),
    }
}

/// Query parameters of the list.
#[derive(Debug, Deserialize)]
pub struct ListParams {
    state: Option<String>,
    operation: Option<String>,
    limit: Option<usize>,
    offset: Option<String>,
}

/// `GET /v1/bulk/jobs` → the tenant's jobs, newest first, with an opaque `next_offset`.
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    QueryParams(params): QueryParams<ListParams>,
) -> Reply {
    let limit = params.limit.unwrap_or(25);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(ApiError::invalid(format!("limit must be between 1 and {MAX_PAGE_SIZE}")));
    }
    let filter = ListFilter {
        kind: Some(JobKind::Bulk),
        state: match params.state {
            Some(s) => Some(AnyState::Bulk(s.parse::<BulkState>().map_err(|e| ApiError::invalid(e.to_string()))?)),
            None => None,
        },
        operation: match params.operation {
            Some(o) => {
                Some(o.parse().map_err(|e: spectra_state_machine::ParseError| ApiError::invalid(e.to_string()))?)
            }
            None => None,
        },
    };
    let page = match state.producer.list(&who.tenant, &filter, limit, params.offset.as_deref()).await {
        Err(ProducerError::Store(spectra_worker::ports::StoreError::InvalidPageToken)) => {
            return Err(ApiError::invalid("offset is not a token this API issued for this list"));
        }
        other => other?,
    };
    let jobs: Vec<Value> = page
        .jobs
        .iter()
        .filter_map(|job| match job {
            Job::Bulk(b) => Some(view(b)),
            Job::Query(_) => None,
        })
        .collect();
    Ok((StatusCode::OK, Json(json!({"jobs": jobs, "next_offset": page.next_page}))))
}

/// `GET /v1/bulk/jobs/{id}`.
pub async fn get(State(state): State<AppState>, who: Principal, PathParams(id): PathParams<String>) -> Reply {
    Ok((StatusCode::OK, Json(view(&bulk_job(&state, &who.tenant, &id).await?))))
}

/// The body of a state change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    state: String,
}

/// `PATCH /v1/bulk/jobs/{id}` with `{"state": "UploadComplete" | "Aborted"}`; any other state,
/// or a change the job's state does not allow, is 409.
pub async fn patch(
    State(state): State<AppState>,
    who: Principal,
    PathParams(id): PathParams<String>,
    JsonBody(patch): JsonBody<Patch>,
) -> Reply {
    let job = bulk_job(&state, &who.tenant, &id).await?;
    let moved = match patch.state.as_str() {
        "UploadComplete" => state.producer.close(&who.tenant, &job.header.job_id, None).await?,
        "Aborted" => state.producer.abort(&who.tenant, &job.header.job_id, None).await?,
        other => {
            return Err(ApiError::conflict(format!("state can be set to UploadComplete or Aborted, not {other:?}")));
        }
    };
    match moved {
        Job::Bulk(b) => Ok((StatusCode::OK, Json(view(&b)))),
        Job::Query(_) => Err(ApiError::not_found(format!("bulk job {id} not found"))),
    }
}

/// `GET /v1/bulk/jobs/{id}/upload-url`: a presigned PUT for one part of an `Open` ingest job.
pub async fn upload_url(State(state): State<AppState>, who: Principal, PathParams(id): PathParams<String>) -> Reply {
    let job = bulk_job(&state, &who.tenant, &id).await?;
    let link = state.producer.upload_url(&who.tenant, &job.header.job_id).await?;
    Ok((StatusCode::OK, Json(json!({"upload_url": link.url, "expires_at": link.expires_at, "method": "PUT"}))))
}

/// `GET /v1/bulk/jobs/{id}/results`: the seed's fields (first part's link, total size), every
/// part in `files`, and `failed_records_url` when an ingest rejected rows.
pub async fn results(State(state): State<AppState>, who: Principal, PathParams(id): PathParams<String>) -> Reply {
    let job = bulk_job(&state, &who.tenant, &id).await?;
    let results = state.producer.results(&who.tenant, &job.header.job_id).await?;
    Ok((StatusCode::OK, Json(results_body(&results))))
}

/// The seed's results fields (first part's link, total size), every part in `files`, and
/// `failed_records_url` when an ingest rejected rows. The Job API answers the same for exports.
pub fn results_body(results: &JobResults) -> Value {
    let file =
        |f: &ResultFile| json!({"download_url": f.download_url, "size_bytes": f.size_bytes, "row_count": f.row_count});
    json!({
        "download_url": results.files.first().map(|f| f.download_url.clone()),
        "expires_at": results.expires_at,
        "format": results.format.as_str().to_ascii_lowercase(),
        "compression": results.compression.as_str().to_ascii_lowercase(),
        "size_bytes": results.size_bytes(),
        "files": results.files.iter().map(file).collect::<Vec<_>>(),
        "failed_records_url": results.failed_records.as_ref().map(|f| f.download_url.clone()),
    })
}
