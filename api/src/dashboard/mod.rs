//! The operator dashboard: `GET /dashboard`, server-rendered HTML over the job table, for
//! operators only (an operator token, never a tenant's key). Lists jobs of every tenant with
//! filters, shows one job's timeline, aborts a job and re-runs a failed one as a new job with
//! the same spec. The list reads the job table's indexes (a tenant's jobs, or every tenant's
//! by state and time), never a table scan, on the embedded platform and DynamoDB alike.

mod auth;
mod html;
mod list;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use spectra_state_machine::{AnyState, BulkJobRequest, Job, JobId, Phase, TenantId};
use spectra_worker::producer::ProducerError;

pub use auth::OperatorToken;

use crate::state::AppState;
use auth::Operator;
use list::Filters;

/// The dashboard's routes (served only when an operator token is configured).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(jobs))
        .route("/dashboard/login", get(auth::login_form).post(auth::login))
        .route("/dashboard/jobs/{tenant}/{id}", get(job))
        .route("/dashboard/jobs/{tenant}/{id}/abort", post(abort))
        .route("/dashboard/jobs/{tenant}/{id}/rerun", post(rerun))
}

/// A page that could not be served, as a small HTML page with its status.
pub(crate) struct PageError(StatusCode, String);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        (self.0, Html(html::message(self.0.as_str(), &self.1))).into_response()
    }
}

impl From<ProducerError> for PageError {
    fn from(e: ProducerError) -> Self {
        let status = match &e {
            ProducerError::NotFound(_) => StatusCode::NOT_FOUND,
            e if e.is_retryable() => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::CONFLICT,
        };
        Self(status, e.to_string())
    }
}

async fn jobs(
    _: Operator,
    State(state): State<AppState>,
    Query(filters): Query<Filters>,
) -> Result<Html<String>, PageError> {
    let found = list::find(&state, &filters).await?;
    let tiles = list::tiles(&state).await?;
    Ok(Html(html::list_page(&filters, &found, &tiles)))
}

/// The tenant and job a detail route names.
fn target(tenant: &str, id: &str) -> Result<(TenantId, JobId), PageError> {
    let bad = |e: spectra_state_machine::ParseError| PageError(StatusCode::NOT_FOUND, e.to_string());
    Ok((TenantId::parse(tenant).map_err(bad)?, JobId::parse(id).map_err(bad)?))
}

async fn job(
    _: Operator,
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<Html<String>, PageError> {
    let (tenant, id) = target(&tenant, &id)?;
    let job = state.producer.get(&tenant, &id).await?;
    Ok(Html(html::job_page(&job)))
}

async fn abort(
    _: Operator,
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<Redirect, PageError> {
    let (tenant, id) = target(&tenant, &id)?;
    let job = state.producer.abort(&tenant, &id, None).await?;
    tracing::info!(%tenant, job = %id, "an operator aborted the job");
    Ok(Redirect::to(&html::job_href(&job)))
}

/// A failed bulk job again, as a new job with the same spec (its data must be uploaded again
/// for an ingest job: the new job starts Open).
async fn rerun(
    _: Operator,
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<Redirect, PageError> {
    let (tenant, id) = target(&tenant, &id)?;
    let Job::Bulk(failed) = state.producer.get(&tenant, &id).await? else {
        return Err(PageError(StatusCode::CONFLICT, "only bulk jobs are re-run from here".into()));
    };
    if !matches!(AnyState::Bulk(failed.state).phase(), Phase::Failed | Phase::Aborted) {
        return Err(PageError(
            StatusCode::CONFLICT,
            format!("job {id} is {}; only an ended, unsuccessful job is re-run", failed.state.as_str()),
        ));
    }
    let request = BulkJobRequest {
        operation: failed.operation.as_str().to_owned(),
        object: failed.object.to_string(),
        query: failed.query.clone(),
        content_type: Some(failed.content_type.as_str().to_owned()),
        compression: Some(failed.compression.as_str().to_owned()),
        primary_key: (!failed.primary_key.is_empty())
            .then(|| failed.primary_key.iter().map(ToString::to_string).collect()),
    };
    let created = state.producer.create_bulk(&tenant, request, None, None).await?;
    tracing::info!(%tenant, job = %id, rerun = %created.header.job_id, "an operator re-ran the job");
    Ok(Redirect::to(&html::job_href(&Job::Bulk(created))))
}
