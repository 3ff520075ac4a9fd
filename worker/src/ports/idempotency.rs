//! The `IdempotencyStore` port: `X-Idempotency-Key` records, so a repeated POST returns the first
//! one's response instead of running again — across API instances, because the claim is a
//! conditional insert in shared storage.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use spectra_state_machine::TenantId;

use super::StoreError;

/// How long a key is remembered (seed 001: 24 h).
pub const IDEMPOTENCY_TTL_HOURS: i64 = 24;

/// How long an unfinished claim holds its key against a retry of the same request. A claim
/// older than this is taken over: its owner died between claiming and finishing, or is slow.
/// Taking over is safe either way, because the claim's [`Claim::Fresh`] token names the job the
/// request creates: the owner and its successor create the *same* job id, the job table's
/// create-if-absent lets one of them store it, and the other answers with that job. So the
/// lease only needs to outlast an ordinary request, not the longest one; a client retrying a
/// crashed create waits this long, not a day.
pub const CLAIM_LEASE_SECONDS: i64 = 30;

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
    /// Nobody used the key (or it expired, or its owner's lease lapsed): the caller runs the
    /// request, then `complete`s or `release`s it. `token` is bound to the claim — the same on a
    /// takeover of a lapsed lease, new after a release or expiry — and names what the request
    /// creates, so a retry after a crash finds the first attempt's job instead of a second one.
    Fresh {
        /// A UUID (hyphenated), chosen by the store at the first claim.
        token: String,
    },
    /// The same request already ran: here is its response.
    Replay(StoredResponse),
    /// The same request is running right now.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

/// Idempotency records. The SQLite store and the DynamoDB table implement it.
///
/// # Contract
/// - `claim` is atomic: of concurrent claims of one (tenant, key), exactly one gets `Fresh`.
/// - A claim names the request by a fingerprint; another fingerprint under the same key is
///   `Mismatch`. Records older than [`IDEMPOTENCY_TTL_HOURS`] are forgotten.
/// - A claim is a lease: one neither completed nor released within [`CLAIM_LEASE_SECONDS`]
///   (its owner died) is `Fresh` again for the same request, atomically, to one claimant, with
///   the *same* token as the first claim. A claim after a release or after expiry gets a new
///   token.
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
