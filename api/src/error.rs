//! The error envelope of seed 001: `{"error": {"code", "message", "details"}}`, with the seed's
//! codes and statuses. Every failure the API returns goes through [`ApiError`], so clients never
//! see a plain-text rejection or an internal message.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use spectra_worker::producer::ProducerError;
use spectra_worker::sql::GuardError;

/// An error response.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The seed's code (`INVALID_REQUEST`, `NOT_FOUND`, ...).
    pub code: &'static str,
    /// For people.
    pub message: String,
    /// For programs.
    pub details: Value,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: json!({}) }
    }

    /// Adds `details`.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// 400 `INVALID_REQUEST`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
    }

    /// 401 `UNAUTHORIZED`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    /// 403 `FORBIDDEN`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
    }

    /// 404 `NOT_FOUND`; also what another tenant's job looks like.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    /// 409 `CONFLICT`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "CONFLICT", message)
    }

    /// 413 `PAYLOAD_TOO_LARGE`.
    pub fn too_large(limit: usize) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", "request body exceeds the limit")
            .with_details(json!({ "limit_bytes": limit }))
    }

    /// 429 `RATE_LIMITED`, to retry after `seconds`.
    pub fn rate_limited(seconds: i64) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED", "Too many requests")
            .with_details(json!({ "retry_after": seconds.max(1) }))
    }

    /// 504 `QUERY_TIMEOUT`: the statement was cancelled.
    pub fn timeout(seconds: u64) -> Self {
        Self::new(StatusCode::GATEWAY_TIMEOUT, "QUERY_TIMEOUT", "the query ran past its timeout and was cancelled")
            .with_details(json!({ "timeout_seconds": seconds }))
    }

    /// 400 `INVALID_SQL` for a query the warehouse refused or failed, with its message.
    pub fn sql_failed(message: String, job_id: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_SQL", "the query failed in the warehouse")
            .with_details(json!({ "warehouse_error": message, "job_id": job_id }))
    }

    /// 500 `INTERNAL_ERROR`: the cause is logged, never returned.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "internal error; it has been logged")
    }

    /// 503 while a dependency is down (retry later).
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "dependency unavailable");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "INTERNAL_ERROR", "temporarily unavailable; retry later")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message, "details": self.details}});
        (self.status, axum::Json(body)).into_response()
    }
}

/// The 1-based character offset of a (line, column) position in `sql`, as seed 001's
/// `details.position` gives it.
fn position(sql: &str, line: u64, column: u64) -> usize {
    let before: usize = sql.split('\n').take(line.saturating_sub(1) as usize).map(|l| l.chars().count() + 1).sum();
    before + column as usize
}

/// A guard refusal as seed 001's `INVALID_SQL` / `SQL_BLOCKED`.
pub fn guard_error(sql: &str, e: GuardError) -> ApiError {
    match e {
        GuardError::Invalid { message, line, column, hint } => {
            let at = line.zip(column).map(|(l, c)| position(sql, l, c));
            ApiError::new(StatusCode::BAD_REQUEST, "INVALID_SQL", "SQL syntax error")
                .with_details(json!({"position": at, "line": line, "column": column, "hint": hint, "parser": message}))
        }
        GuardError::Blocked { pattern, reason } => {
            ApiError::new(StatusCode::BAD_REQUEST, "SQL_BLOCKED", "Query contains forbidden patterns")
                .with_details(json!({"pattern": pattern, "reason": reason}))
        }
    }
}

impl From<ProducerError> for ApiError {
    fn from(e: ProducerError) -> Self {
        match e {
            ProducerError::Spec(spec) => {
                let details = match &spec {
                    spectra_state_machine::SpecError::Field { field, source } => {
                        json!({"field": field, "reason": source.to_string()})
                    }
                    other => json!({"reason": other.to_string()}),
                };
                ApiError::invalid(spec.to_string()).with_details(details)
            }
            ProducerError::Sql(_) => ApiError::invalid("the query is refused"),
            ProducerError::NotFound(id) => ApiError::not_found(format!("job {id} not found")),
            e @ ProducerError::Conflict { .. } => ApiError::conflict(e.to_string()),
            e if e.is_retryable() => ApiError::unavailable(&e),
            e => ApiError::internal(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_across_lines() {
        assert_eq!(position("SELECT id,\nFROM t", 2, 1), 12);
        assert_eq!(position("SELEC 1", 1, 1), 1);
    }
}
