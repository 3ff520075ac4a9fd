//! `X-Idempotency-Key` on POSTs (seed 001): the first request runs; a repeat within 24 hours
//! gets the stored response (same status and body, marked `Idempotent-Replayed: true`) without
//! running again; a repeat while the first still runs, or the same key on a different request,
//! is 409. The claim is a conditional insert in the shared store, so it holds across API
//! instances. Only successful responses are kept: after a failure, a retry runs anew.
//!
//! A claim is a lease bound to a token, handed to the route as a [`CreationToken`]: the job a
//! request creates takes its id from it, so a retry after the first attempt died (claim taken,
//! job perhaps created, response never stored) returns that job rather than a second one.

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::json;
use spectra_worker::ports::{Claim, StoredResponse, hash_key};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// The request header.
const KEY_HEADER: &str = "x-idempotency-key";
/// Longest key accepted.
const MAX_KEY_LEN: usize = 255;
/// Largest response kept for replays.
const MAX_STORED_BODY: usize = 10 * 1024 * 1024;

/// The idempotency claim's token, in the request's extensions when the request carries a key;
/// routes that create a job make its id from it ([`spectra_worker::producer::Producer::create_bulk`]).
#[derive(Debug, Clone)]
pub struct CreationToken(pub String);

impl CreationToken {
    /// The token of an optional extension, as the producer takes it.
    pub fn of(token: &Option<axum::Extension<Self>>) -> Option<&str> {
        token.as_ref().map(|t| t.0.0.as_str())
    }
}

/// The middleware (on every route; it acts on POSTs that carry the header).
pub async fn idempotency(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let key = match request.headers().get(KEY_HEADER).map(|v| v.to_str().map(str::to_owned)) {
        None => return next.run(request).await,
        Some(_) if request.method() != Method::POST => return next.run(request).await,
        Some(Ok(key)) if !key.is_empty() && key.len() <= MAX_KEY_LEN => key,
        Some(_) => {
            return ApiError::invalid(format!("X-Idempotency-Key must be 1 to {MAX_KEY_LEN} characters"))
                .into_response();
        }
    };
    let (mut parts, body) = request.into_parts();
    // Authenticate first: a replay must never hand a stored response to someone else.
    let who = match Principal::from_request_parts(&mut parts, &state).await {
        Ok(who) => who,
        Err(e) => return e.into_response(),
    };
    let Ok(bytes) = to_bytes(body, state.body_limit).await else {
        return ApiError::too_large(state.body_limit).into_response();
    };
    let request_text = format!("{} {}\n{}", parts.method, parts.uri, String::from_utf8_lossy(&bytes));
    let fingerprint = hash_key(&request_text);
    let claim = match state.idempotency.claim(&who.tenant, &key, &fingerprint, Utc::now()).await {
        Ok(claim) => claim,
        Err(e) => return ApiError::unavailable(&e).into_response(),
    };
    match claim {
        Claim::Replay(stored) => replay(stored),
        Claim::InProgress => {
            ApiError::conflict("a request with this X-Idempotency-Key is still running; retry later").into_response()
        }
        Claim::Mismatch => ApiError::conflict("this X-Idempotency-Key was already used for a different request")
            .with_details(json!({"reason": "the method, path or body differs from the first use of the key"}))
            .into_response(),
        Claim::Fresh { token } => {
            parts.extensions.insert(CreationToken(token));
            let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
            remember(&state, &who, &key, response).await
        }
    }
}

/// Keeps a successful response for replays; forgets the claim otherwise.
async fn remember(state: &AppState, who: &Principal, key: &str, response: Response) -> Response {
    if !response.status().is_success() {
        if let Err(e) = state.idempotency.release(&who.tenant, key).await {
            tracing::warn!(error = %e, "could not release an idempotency key");
        }
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_STORED_BODY).await else {
        let _ = state.idempotency.release(&who.tenant, key).await;
        return ApiError::internal(&"a response too large to keep for idempotent replays").into_response();
    };
    let stored = StoredResponse { status: parts.status.as_u16(), body: String::from_utf8_lossy(&bytes).into_owned() };
    if let Err(e) = state.idempotency.complete(&who.tenant, key, &stored).await {
        tracing::warn!(error = %e, "could not store a response for idempotent replays");
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
