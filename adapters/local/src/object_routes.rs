//! The HTTP routes behind the embedded object store's presigned links:
//! `GET|PUT /objects/{bucket}/{*key}?expires=..&signature=..`. Mounted by `spectra up` and by the
//! REST API. Bodies stream both ways; nothing is buffered whole.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::TryStreamExt;
use serde_json::json;
use tokio_util::io::{ReaderStream, StreamReader};

use super::object_store::LocalObjectStore;
use super::presign::{LinkError, Method};
use spectra_worker::ports::{ObjectError, ObjectKey, ObjectStore};

/// The routes for one local bucket.
pub fn object_routes(store: LocalObjectStore) -> Router {
    Router::new().route("/objects/{bucket}/{*key}", get(get_object).put(put_object)).with_state(store)
}

/// The API's error envelope (`{"error": {"code", "message", "details"}}`), so clients parse one
/// shape; `details.reason` repeats why, for clients that only read details.
fn error(status: StatusCode, code: &str, message: impl std::fmt::Display) -> Response {
    let message = message.to_string();
    (status, Json(json!({"error": {"code": code, "message": message, "details": {"reason": message}}}))).into_response()
}

fn object_error(e: ObjectError) -> Response {
    match e {
        ObjectError::NotFound(key) => error(StatusCode::NOT_FOUND, "NOT_FOUND", format!("no object at {key}")),
        ObjectError::InvalidKey { .. } | ObjectError::Invalid(_) => {
            error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", e)
        }
        ObjectError::Body(_) => error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", e),
        ObjectError::Unavailable(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", e),
    }
}

/// Checks the link's bucket, key and signature; returns the key it grants.
fn authorise(
    store: &LocalObjectStore,
    method: Method,
    bucket: &str,
    key: &str,
    query: &HashMap<String, String>,
) -> Result<ObjectKey, Box<Response>> {
    if bucket != store.bucket() {
        return Err(Box::new(error(StatusCode::NOT_FOUND, "NOT_FOUND", format!("no bucket {bucket}"))));
    }
    let key = ObjectKey::parse(key).map_err(|e| Box::new(object_error(e)))?;
    let (Some(expires), Some(signature)) =
        (query.get("expires").and_then(|e| e.parse::<i64>().ok()), query.get("signature"))
    else {
        return Err(Box::new(error(StatusCode::FORBIDDEN, "FORBIDDEN", "the link has no valid expires and signature")));
    };
    let now = chrono::Utc::now().timestamp();
    store.signer().verify(method, bucket, key.as_str(), expires, signature, now).map_err(|e| match e {
        LinkError::Expired | LinkError::BadSignature => Box::new(error(StatusCode::FORBIDDEN, "FORBIDDEN", e)),
    })?;
    Ok(key)
}

async fn get_object(
    State(store): State<LocalObjectStore>,
    Path((bucket, key)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let key = match authorise(&store, Method::Get, &bucket, &key, &query) {
        Ok(key) => key,
        Err(response) => return *response,
    };
    match store.get(&key).await {
        Ok((meta, reader)) => (
            [
                (header::CONTENT_LENGTH, meta.size.to_string()),
                (header::CONTENT_TYPE, "application/octet-stream".into()),
            ],
            Body::from_stream(ReaderStream::new(reader)),
        )
            .into_response(),
        Err(e) => object_error(e),
    }
}

async fn put_object(
    State(store): State<LocalObjectStore>,
    Path((bucket, key)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    body: Body,
) -> Response {
    let key = match authorise(&store, Method::Put, &bucket, &key, &query) {
        Ok(key) => key,
        Err(response) => return *response,
    };
    let reader = StreamReader::new(body.into_data_stream().map_err(std::io::Error::other));
    match store.put(&key, Box::pin(reader)).await {
        Ok(meta) => (StatusCode::OK, Json(json!({"key": meta.key.as_str(), "size_bytes": meta.size}))).into_response(),
        Err(e) => object_error(e),
    }
}
