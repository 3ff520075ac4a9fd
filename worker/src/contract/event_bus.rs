//! The `EventBus` contract.

use async_trait::async_trait;
use chrono::Utc;
use serde_json::Value;
use spectra_state_machine::{BulkJobRequest, TenantId, bulk};

use crate::messages::{JobStateChange, LIFECYCLE_DETAIL_TYPE, LIFECYCLE_SOURCE};
use crate::ports::{BusError, EventBus};

/// What the suite needs from an adapter under test.
#[async_trait]
pub trait EventBusFixture: Send + Sync {
    /// The adapter.
    type Bus: EventBus + 'static;
    /// A new bus.
    async fn bus(&self) -> Self::Bus;
    /// The EventBridge-shaped envelopes delivered so far (through a rule's queue target, or the
    /// embedded events queue), consuming them.
    async fn delivered(&self, bus: &Self::Bus) -> Vec<Value>;
}

fn event(n: u64) -> JobStateChange {
    let request = BulkJobRequest { operation: "insert".into(), object: "sales".into(), ..Default::default() };
    let (mut job, _) = bulk::create(TenantId::parse("acme").unwrap(), request.validate().unwrap(), Utc::now());
    job.header.version = n;
    JobStateChange::bulk(&job, None, None)
}

/// Published events arrive with Spectra's source and detail-type, detail intact.
pub async fn publishes_lifecycle_events<F: EventBusFixture>(f: &F) {
    let bus = f.bus().await;
    let events: Vec<_> = (1..=3).map(event).collect();
    bus.publish(&events).await.unwrap();
    let mut delivered = f.delivered(&bus).await;
    assert_eq!(delivered.len(), 3);
    delivered.sort_by_key(|e| e["detail"]["version"].as_u64());
    for (envelope, sent) in delivered.iter().zip(&events) {
        assert_eq!(envelope["source"], LIFECYCLE_SOURCE);
        assert_eq!(envelope["detail-type"], LIFECYCLE_DETAIL_TYPE);
        let detail: JobStateChange = serde_json::from_value(envelope["detail"].clone()).unwrap();
        assert_eq!(&detail, sent);
    }
}

/// Batches are 1..=10 events.
pub async fn refuses_oversized_batches<F: EventBusFixture>(f: &F) {
    let bus = f.bus().await;
    let events: Vec<_> = (1..=11).map(event).collect();
    assert!(matches!(bus.publish(&events).await, Err(BusError::Invalid(_))));
    assert!(matches!(bus.publish(&[]).await, Err(BusError::Invalid(_))));
}

/// Generates one `#[tokio::test]` per event bus check for a fixture expression.
#[macro_export]
macro_rules! event_bus_contract_tests {
    ($fixture:expr) => {
        $crate::contract_tests!(event_bus, $fixture;
            publishes_lifecycle_events,
            refuses_oversized_batches,
        );
    };
}
