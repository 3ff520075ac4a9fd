//! The `IdempotencyStore` port: `X-Idempotency-Key` records, so a repeated POST returns the first
//! one's response instead of running again — across API instances, because the claim is a
//! conditional insert in shared storage.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use spectra_state_machine::TenantId;

use super::StoreError;

/// How long a key is remembered (seed 001: 24 h).
pub const IDEMPOTENCY_TTL_HOURS: i64 = 24;

/// How long an unfinished claim holds its key: longer than any request may run (a synchronous
/// query's timeout is at most 300 s). A claim older than this belongs to an owner that died
/// between claiming and finishing, and the same request may take it over.
pub const CLAIM_LEASE_SECONDS: i64 = 360;

/// A stored response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// The body (JSON).
    pub body: String,
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Nobody used the key (or it expired): the caller runs the request, then `complete`s or
    /// `release`s it.
    Fresh,
    /// The same request already ran: here is its response.
    Replay(StoredResponse),
    /// The same request is running right now.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

/// Idempotency records. The SQLite store and (later) the DynamoDB table implement it.
///
/// # Contract
/// - `claim` is atomic: of concurrent claims of one (tenant, key), exactly one gets `Fresh`.
/// - A claim names the request by a fingerprint; another fingerprint under the same key is
///   `Mismatch`. Records older than [`IDEMPOTENCY_TTL_HOURS`] are forgotten.
/// - A claim is a lease: one neither completed nor released within [`CLAIM_LEASE_SECONDS`]
///   (its owner died) is `Fresh` again for the same request, atomically, to one claimant.
/// - `release` forgets a claim whose request did not succeed, so a retry runs again.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for the request `fingerprint` at `now`.
    async fn claim(
        &self,
        tenant: &TenantId,
        key: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError>;
    /// Stores the response of a claimed key.
    async fn complete(&self, tenant: &TenantId, key: &str, response: &StoredResponse) -> Result<(), StoreError>;
    /// Forgets a claimed key.
    async fn release(&self, tenant: &TenantId, key: &str) -> Result<(), StoreError>;
}
