//! What every handler shares.

use std::sync::Arc;

use spectra_worker::ports::{IdempotencyStore, KeyStore, RateCounter, Warehouse};

use crate::dashboard::OperatorToken;
use crate::jwt::JwtConfig;
use crate::key_cache::CachedKeys;
use crate::rate_limit::RateLimits;
use crate::rate_window::RateWindows;
use spectra_worker::producer::Producer;

/// Request bodies larger than this are refused with 413 (API Gateway's 10 MiB).
pub const DEFAULT_BODY_LIMIT: usize = 10 * 1024 * 1024;

/// The API's state. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Jobs: create, move, read, results.
    pub producer: Producer,
    /// API keys.
    pub keys: Arc<dyn KeyStore>,
    /// Where synchronous queries run.
    pub warehouse: Arc<dyn Warehouse>,
    /// `X-Idempotency-Key` records.
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// Request counters for the rate limits, in memory and written behind to the shared store.
    pub rates: Arc<RateWindows>,
    /// The rate limits.
    pub limits: RateLimits,
    /// JWT bearer tokens, when configured (API keys always work).
    pub jwt: Option<Arc<JwtConfig>>,
    /// Largest request body accepted.
    pub body_limit: usize,
    /// The operator token's hash: the dashboard is served only when one is set.
    pub operator: Option<Arc<OperatorToken>>,
    /// The warehouse's active-statement limit, when known (the dashboard shows it).
    pub statement_limit: Option<usize>,
}

impl AppState {
    /// State with the default body limit and the seed's rate limits. Must be called within a
    /// Tokio runtime (the rate counters' write-behind task starts here).
    pub fn new(
        producer: Producer,
        keys: Arc<dyn KeyStore>,
        warehouse: Arc<dyn Warehouse>,
        idempotency: Arc<dyn IdempotencyStore>,
        rates: Arc<dyn RateCounter>,
    ) -> Self {
        let limits = RateLimits::default();
        // Every request looks its key up; a moment's cache spares the store (see `key_cache`).
        let keys: Arc<dyn KeyStore> = Arc::new(CachedKeys::new(keys));
        // Counting every request in the store cost a write per request (see `rate_window`).
        let rates = RateWindows::start(rates);
        Self {
            producer,
            keys,
            warehouse,
            idempotency,
            rates,
            limits,
            jwt: None,
            body_limit: DEFAULT_BODY_LIMIT,
            operator: None,
            statement_limit: None,
        }
    }
}
