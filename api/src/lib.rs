//! Spectra's REST front end: the Query, Job and Bulk APIs of seed 001 (with seed 000's `async`
//! and `output_format`), multi-tenant.
//!
//! # Layout
//! - [`router`]: the routes, the JSON fallbacks, the body limit and request ids.
//! - `queries`: `POST /v1/queries` — the guard, the row cap, synchronous runs, async jobs.
//! - `jobs`: `/v1/jobs/{id}` (status, results, cancel).
//! - `bulk`: `/v1/bulk/jobs` over the producer library.
//! - `auth`: API-key and JWT (`jwt`, RS256) bearer auth and the `X-Tenant-ID` check ([`Principal`]).
//! - `idempotency`: `X-Idempotency-Key` replays; `rate_limit`: per-tenant limits, counted in
//!   memory and written behind by `rate_window` ([`RateWindows`]); `key_cache`: API-key lookups cached for at most [`KEY_CACHE_TTL`].
//! - `error`: the seed's error envelope ([`ApiError`]); `extract`: JSON bodies and ids that fail
//!   with it.
//! - `rows`: result pages as JSON; `state`: [`AppState`], what the handlers share.
//!
//! The crate depends on the core's ports only: the binary (or a test) hands it the adapters.

mod auth;
mod bulk;
pub mod dashboard;
mod error;
mod extract;
mod http_metrics;
mod http_trace;
mod idempotency;
mod jobs;
mod jwt;
mod key_cache;
mod queries;
mod rate_limit;
mod rate_window;
mod rows;
mod state;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tracing::Instrument;

pub use auth::Principal;
pub use error::ApiError;
pub use jwt::JwtConfig;
pub use key_cache::KEY_CACHE_TTL;
pub use rate_limit::RateLimits;
pub use rate_window::{FLUSH_INTERVAL, RateWindows};
pub use state::{AppState, DEFAULT_BODY_LIMIT};

/// The request id header, echoed on every response.
const REQUEST_ID: &str = "x-request-id";

/// Echoes `X-Request-ID` (or a fresh one) and logs the request under it.
async fn request_id(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let span = http_trace::server_span(&request, &id);
    let mut response = next.run(request).instrument(span.clone()).await;
    http_trace::finish(&span, response.status().as_u16());
    span.in_scope(|| tracing::info!(status = response.status().as_u16(), "served"));
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// The OpenAPI 3.1 document in `schemas/`, served as is.
pub const OPENAPI: &str = include_str!("../../schemas/openapi.json");

/// Every (method, path) the router serves; a test checks it against the router and the
/// OpenAPI document, both ways. Keep it beside the routes.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/v1/openapi.json"),
    ("POST", "/v1/queries"),
    ("GET", "/v1/jobs/{id}"),
    ("DELETE", "/v1/jobs/{id}"),
    ("GET", "/v1/jobs/{id}/results"),
    ("GET", "/v1/bulk/jobs"),
    ("POST", "/v1/bulk/jobs"),
    ("GET", "/v1/bulk/jobs/{id}"),
    ("PATCH", "/v1/bulk/jobs/{id}"),
    ("GET", "/v1/bulk/jobs/{id}/upload-url"),
    ("GET", "/v1/bulk/jobs/{id}/results"),
];

async fn openapi() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn no_route() -> ApiError {
    ApiError::not_found("no such route")
}

async fn wrong_method() -> Response {
    let mut e = ApiError::invalid("method not allowed on this route");
    e.status = StatusCode::METHOD_NOT_ALLOWED;
    e.into_response()
}

/// The API's routes on `state`.
pub fn router(state: AppState) -> Router {
    let limit = state.body_limit;
    Router::new()
        .route("/health", get(health))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/queries", axum::routing::post(queries::execute))
        .route("/v1/jobs/{id}", get(jobs::get).delete(jobs::cancel))
        .route("/v1/jobs/{id}/results", get(jobs::results))
        .route("/v1/bulk/jobs", get(bulk::list).post(bulk::create))
        .route("/v1/bulk/jobs/{id}", get(bulk::get).patch(bulk::patch))
        .route("/v1/bulk/jobs/{id}/upload-url", get(bulk::upload_url))
        .route("/v1/bulk/jobs/{id}/results", get(bulk::results))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn_with_state(state.clone(), idempotency::idempotency))
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit::rate_limit))
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(http_metrics::record))
        .layer(middleware::from_fn(request_id))
        // The dashboard is for operators: no tenant, so no tenant rate limit or idempotency.
        .merge(
            dashboard::routes().layer(middleware::from_fn(http_metrics::record)).layer(middleware::from_fn(request_id)),
        )
        .with_state(state)
}
