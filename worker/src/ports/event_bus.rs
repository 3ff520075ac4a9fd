//! The `EventBus` port: where job lifecycle events go.

use async_trait::async_trait;
use thiserror::Error;

use crate::messages::JobStateChange;

/// Most events one publish call takes (EventBridge PutEvents' limit).
pub const MAX_PUBLISH_BATCH: usize = 10;

/// Why a publish failed.
#[derive(Debug, Error)]
pub enum BusError {
    /// The request was invalid (too many events, an event too large): retrying will not help.
    #[error("invalid publish request: {0}")]
    Invalid(String),
    /// Some events were not accepted; their indexes in the input, with the reason for each.
    /// Retry those only.
    #[error("{} of the events were not published", .0.len())]
    Partial(Vec<(usize, String)>),
    /// The bus could not be reached; retrying later may succeed.
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
}

impl BusError {
    /// Whether retrying (the failed part) may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Partial(_) | Self::Unavailable(_))
    }
}

/// Publishes lifecycle events (`source: spectra`, `detail-type: Spectra Job State Change`).
///
/// # Contract
/// - **At least once, unordered.** Consumers de-duplicate and order by (job id, version).
/// - **Batches** of 1..=[`MAX_PUBLISH_BATCH`]; a batch may partly fail
///   ([`BusError::Partial`]), naming the events to retry.
/// - Publishing never decides anything: a job's state is in the job table whether or not its
///   event got out.
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Publishes `events`.
    async fn publish(&self, events: &[JobStateChange]) -> Result<(), BusError>;
}
