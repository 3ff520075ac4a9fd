//! Extractors that fail with the seed's error envelope instead of axum's plain-text
//! rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::json;
use spectra_state_machine::JobId;

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body: malformed JSON and wrong fields are 400 `INVALID_REQUEST` naming the problem,
/// an oversized body 413 `PAYLOAD_TOO_LARGE`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large(state.body_limit)
            } else {
                ApiError::invalid(format!("could not read the request body: {rejection}"))
            }
        })?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))
    }
}

/// A job id from the path. A malformed id cannot name anyone's job, so it is 404, like a
/// missing one.
pub fn job_id(text: &str) -> Result<JobId, ApiError> {
    JobId::parse(text).map_err(|_| ApiError::not_found(format!("job {text} not found")))
}

/// Query-string parameters: a malformed query string is 400 `INVALID_REQUEST` in the envelope,
/// with the query string and the reason in `details`.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::invalid("invalid query string").with_details(json!({
                "query_string": parts.uri.query().unwrap_or_default(),
                "reason": rejection.body_text(),
            }))),
        }
    }
}

/// Path parameters: one that cannot be decoded is 400 `INVALID_REQUEST` in the envelope.
pub struct PathParams<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::invalid("invalid path")
                .with_details(json!({"path": parts.uri.path(), "reason": rejection.body_text()}))),
        }
    }
}
