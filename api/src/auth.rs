//! Who is calling: `Authorization: Bearer <API key or JWT>` and `X-Tenant-ID`, checked on every
//! request that touches tenant data.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use spectra_state_machine::TenantId;
use spectra_worker::ports::hash_key;

use crate::error::ApiError;
use crate::jwt::{looks_like_jwt, verify};
use crate::state::AppState;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The tenant every read and write is scoped to.
    pub tenant: TenantId,
    /// The API key used, for logs.
    pub key_id: String,
}

/// Compares in time independent of where the first difference is.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Already authenticated by a middleware (rate limits) for this request.
        if let Some(who) = parts.extensions.get::<Principal>() {
            return Ok(who.clone());
        }
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
        let token = header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthorized("missing credentials: send Authorization: Bearer <API key>"))?;
        if looks_like_jwt(token) {
            let Some(config) = &state.jwt else {
                return Err(ApiError::unauthorized("JWT bearer tokens are not enabled"));
            };
            let (tenant, subject) = verify(token, config, chrono::Utc::now().timestamp())
                .map_err(|why| ApiError::unauthorized(format!("invalid token: {why}")))?;
            return match header("x-tenant-id") {
                Some(t) if t == tenant.as_str() => Ok(Principal { tenant, key_id: format!("jwt:{subject}") }),
                Some(_) => Err(ApiError::forbidden("X-Tenant-ID does not match the credentials")),
                None => Err(ApiError::forbidden("the X-Tenant-ID header is required")),
            };
        }
        // Keys are looked up by their hash: the store never sees or keeps the key itself.
        let hash = hash_key(token);
        let record = match state.keys.find(&hash).await {
            Ok(Some(record)) if same(record.hash.as_bytes(), hash.as_bytes()) => record,
            Ok(_) => return Err(ApiError::unauthorized("invalid API key")),
            Err(e) => return Err(ApiError::unavailable(&e)),
        };
        if record.revoked_at.is_some() {
            return Err(ApiError::unauthorized("the API key has been revoked"));
        }
        match header("x-tenant-id") {
            None => Err(ApiError::forbidden("the X-Tenant-ID header is required")),
            Some(tenant) if tenant != record.tenant_id.as_str() => {
                Err(ApiError::forbidden("X-Tenant-ID does not match the credentials"))
            }
            Some(_) => Ok(Principal { tenant: record.tenant_id, key_id: record.key_id }),
        }
    }
}
