//! The `RateCounter` port: per-tenant request counters in fixed windows, kept in shared storage
//! so every API instance counts against the same limit.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use spectra_state_machine::TenantId;

use super::StoreError;

/// Counts requests.
///
/// # Contract
/// - `hit` adds one request to the counter of (tenant, group, window) and returns the count
///   including it; concurrent hits never lose a count. Windows are identified by their start
///   (seconds since the epoch); old windows may be forgotten.
#[async_trait]
pub trait RateCounter: Send + Sync {
    /// Counts one request; the window's count so far, this one included.
    async fn hit(
        &self,
        tenant: &TenantId,
        group: &str,
        window_start: i64,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
}
