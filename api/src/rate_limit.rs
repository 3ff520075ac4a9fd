//! Per-tenant rate limits by endpoint group (seed 001's table), counted in memory and written
//! behind to shared storage so that every API instance counts against the same limit (the
//! bounds this leaves are in `rate_window`). Every limited response carries
//! `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (epoch seconds); past the
//! limit the answer is 429 `RATE_LIMITED` with `details.retry_after` in seconds.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use spectra_worker::ports::RateWindow;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// Requests per window, per tenant, per group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// `POST /v1/queries`.
    pub queries: u64,
    /// `/v1/jobs/*`.
    pub job_reads: u64,
    /// `POST /v1/bulk/jobs`.
    pub bulk_creates: u64,
    /// The rest of `/v1/bulk/*`.
    pub bulk_reads: u64,
    /// The window, in seconds (a minute in the seed).
    pub window_seconds: i64,
}

impl Default for RateLimits {
    /// Seed 001: 100/min queries, 300/min job reads, 10/min bulk creates, 100/min bulk reads.
    fn default() -> Self {
        Self { queries: 100, job_reads: 300, bulk_creates: 10, bulk_reads: 100, window_seconds: 60 }
    }
}

impl RateLimits {
    /// Parses `queries=100,job_reads=300,bulk_creates=10,bulk_reads=100,window_seconds=60`;
    /// names left out keep the seed's defaults.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut limits = Self::default();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').ok_or_else(|| format!("{pair:?} is not name=number"))?;
            let n: u64 = value.trim().parse().map_err(|_| format!("{pair:?}: {value:?} is not a number"))?;
            if n == 0 {
                return Err(format!("{pair:?}: limits and the window are at least 1"));
            }
            match name.trim() {
                "queries" => limits.queries = n,
                "job_reads" => limits.job_reads = n,
                "bulk_creates" => limits.bulk_creates = n,
                "bulk_reads" => limits.bulk_reads = n,
                "window_seconds" => limits.window_seconds = i64::try_from(n).map_err(|e| e.to_string())?,
                other => {
                    return Err(format!(
                        "unknown limit {other:?} (queries, job_reads, bulk_creates, bulk_reads, window_seconds)"
                    ));
                }
            }
        }
        Ok(limits)
    }

    /// The group and limit of a request; `None` for unlimited routes (health, objects).
    fn group(&self, method: &Method, path: &str) -> Option<(&'static str, u64)> {
        match (method, path) {
            (&Method::POST, "/v1/queries") => Some(("queries", self.queries)),
            (_, p) if p.starts_with("/v1/jobs") => Some(("jobs", self.job_reads)),
            (&Method::POST, "/v1/bulk/jobs") => Some(("bulk_create", self.bulk_creates)),
            (_, p) if p.starts_with("/v1/bulk") => Some(("bulk", self.bulk_reads)),
            _ => None,
        }
    }
}

fn header(n: i64) -> HeaderValue {
    HeaderValue::from(n)
}

/// The middleware. It authenticates (a limit is per tenant) and leaves the [`Principal`] in the
/// request for the handler.
pub async fn rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limits = state.limits;
    let Some((group, limit)) = limits.group(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let (mut parts, body) = request.into_parts();
    let who = match Principal::from_request_parts(&mut parts, &state).await {
        Ok(who) => who,
        Err(e) => return e.into_response(),
    };
    parts.extensions.insert(who.clone());
    let at = Utc::now();
    let window = RateWindow::containing(at, limits.window_seconds);
    let (now, reset) = (at.timestamp(), window.end());
    let count = match state.rates.hit(&who.tenant, group, window, at).await {
        Ok(count) => count,
        Err(e) => return ApiError::unavailable(&e).into_response(),
    };
    let mut response = if count > limit {
        ApiError::rate_limited(reset - now).into_response()
    } else {
        next.run(Request::from_parts(parts, body)).await
    };
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", header(i64::try_from(limit).unwrap_or(i64::MAX)));
    headers.insert("x-ratelimit-remaining", header(i64::try_from(limit.saturating_sub(count)).unwrap_or(0)));
    headers.insert("x-ratelimit-reset", header(reset));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_over_the_seed_defaults() {
        let limits = RateLimits::parse("bulk_creates=1000, window_seconds=10").unwrap();
        assert_eq!(limits, RateLimits { bulk_creates: 1000, window_seconds: 10, ..RateLimits::default() });
        assert_eq!(RateLimits::parse("").unwrap(), RateLimits::default());
        for bad in ["bulk_creates", "bulk_creates=x", "bulk_creates=0", "reads=5"] {
            assert!(RateLimits::parse(bad).is_err(), "{bad}");
        }
    }
}
