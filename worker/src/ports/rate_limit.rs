//! The `RateCounter` port: per-tenant request counters in fixed windows, kept in shared storage
//! so every API instance counts against the same limit.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use spectra_state_machine::TenantId;

use super::StoreError;

/// A fixed window of time, aligned on multiples of its length since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateWindow {
    /// Its start, in seconds since the epoch.
    pub start: i64,
    /// Its length, in seconds (at least 1).
    pub seconds: i64,
}

impl RateWindow {
    /// How long a counter is kept after its window ends, so that clocks a little apart still
    /// find it.
    pub const KEEP_AFTER_END: i64 = 3600;

    /// The window of length `seconds` that contains `now`.
    pub fn containing(now: DateTime<Utc>, seconds: i64) -> Self {
        let seconds = seconds.max(1);
        let at = now.timestamp();
        Self { start: at - at.rem_euclid(seconds), seconds }
    }

    /// When it ends, in seconds since the epoch.
    pub fn end(&self) -> i64 {
        self.start + self.seconds
    }

    /// When its counter may be forgotten.
    pub fn expires_at(&self) -> i64 {
        self.end() + Self::KEEP_AFTER_END
    }
}

/// Counts requests.
///
/// # Contract
/// - `add` adds `n` requests (0 reads) to the counter of (tenant, group, window) and returns
///   the count including them; concurrent adds never lose a count. A window's counter is kept
///   at least until [`RateWindow::expires_at`], and may be forgotten after it.
///
/// The API counts in memory and adds in batches (`spectra_api`'s `rate_window`), so this is
/// called about once per counter per flush interval, not per request.
#[async_trait]
pub trait RateCounter: Send + Sync {
    /// Counts `n` requests; the window's count so far, these included.
    async fn add(
        &self,
        tenant: &TenantId,
        group: &str,
        window: RateWindow,
        n: u64,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
}
