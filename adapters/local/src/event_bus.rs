//! The embedded `EventBus`: lifecycle events go onto a local queue (the `events` queue of the
//! embedded SQLite file), wrapped in the envelope EventBridge would deliver, so a consumer of
//! the embedded queue and an SQS target of the real bus read the same bytes.

use async_trait::async_trait;
use serde_json::json;

use spectra_worker::messages::{JobStateChange, LIFECYCLE_DETAIL_TYPE, LIFECYCLE_SOURCE};
use spectra_worker::ports::{BusError, EventBus, MAX_PUBLISH_BATCH, OutgoingMessage, Queue};

/// Publishes lifecycle events onto a queue.
pub struct QueueEventBus<Q> {
    queue: Q,
    region: String,
}

impl<Q: Queue> QueueEventBus<Q> {
    /// A bus that writes to `queue`; `region` goes into the envelope (`local` for `spectra up`).
    pub fn new(queue: Q, region: impl Into<String>) -> Self {
        Self { queue, region: region.into() }
    }
}

#[async_trait]
impl<Q: Queue> EventBus for QueueEventBus<Q> {
    async fn publish(&self, events: &[JobStateChange]) -> Result<(), BusError> {
        if events.is_empty() || events.len() > MAX_PUBLISH_BATCH {
            return Err(BusError::Invalid(format!(
                "publish takes 1..={MAX_PUBLISH_BATCH} events, not {}",
                events.len()
            )));
        }
        let mut failed = Vec::new();
        for (index, event) in events.iter().enumerate() {
            let envelope = json!({
                "version": "0",
                "id": uuid::Uuid::new_v4().to_string(),
                "detail-type": LIFECYCLE_DETAIL_TYPE,
                "source": LIFECYCLE_SOURCE,
                "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "region": self.region,
                "resources": [],
                "detail": event,
            });
            if let Err(e) = self.queue.send(OutgoingMessage::new(envelope.to_string())).await {
                failed.push((index, e.to_string()));
            }
        }
        match failed.len() {
            0 => Ok(()),
            n if n == events.len() => Err(BusError::Unavailable(failed.remove(0).1)),
            _ => Err(BusError::Partial(failed)),
        }
    }
}
