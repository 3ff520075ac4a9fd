//! The `EventBus` port on Amazon EventBridge: `PutEvents` onto a custom bus, `source: spectra`,
//! `detail-type: Spectra Job State Change`. PutEvents can accept some entries and refuse
//! others; the refused ones are reported by index as [`BusError::Partial`] so only they are
//! retried.

use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use super::classify;
use spectra_worker::messages::{JobStateChange, LIFECYCLE_DETAIL_TYPE, LIFECYCLE_SOURCE};
use spectra_worker::ports::{BusError, EventBus, MAX_PUBLISH_BATCH};

/// A custom event bus.
#[derive(Clone)]
pub struct EventBridgeBus {
    client: Client,
    bus: String,
}

impl EventBridgeBus {
    /// Publishes to the bus named (or ARN'd) `bus`.
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        Self { client, bus: bus.into() }
    }
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn publish(&self, events: &[JobStateChange]) -> Result<(), BusError> {
        if events.is_empty() || events.len() > MAX_PUBLISH_BATCH {
            return Err(BusError::Invalid(format!(
                "publish takes 1..={MAX_PUBLISH_BATCH} events, not {}",
                events.len()
            )));
        }
        let mut entries = Vec::with_capacity(events.len());
        for event in events {
            let detail = serde_json::to_string(event).map_err(|e| BusError::Invalid(e.to_string()))?;
            entries.push(
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(LIFECYCLE_SOURCE)
                    .detail_type(LIFECYCLE_DETAIL_TYPE)
                    .detail(detail)
                    .build(),
            );
        }
        let out = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| classify(&e).into_error(BusError::Unavailable, BusError::Invalid))?;
        if out.failed_entry_count() == 0 {
            return Ok(());
        }
        let failed: Vec<(usize, String)> = out
            .entries()
            .iter()
            .enumerate()
            .filter(|(_, e)| e.error_code().is_some())
            .map(|(i, e)| {
                (i, format!("{}: {}", e.error_code().unwrap_or_default(), e.error_message().unwrap_or_default()))
            })
            .collect();
        Err(BusError::Partial(failed))
    }
}
