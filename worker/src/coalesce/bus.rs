//! Lifecycle events published in shared `PutEvents` calls, without making publishers wait.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{Batching, Coalescer};
use crate::messages::JobStateChange;
use crate::ports::{BusError, EventBus, MAX_PUBLISH_BATCH};

/// How long an event waits for others to share its call: the longest a lifecycle event is
/// delayed, and the window in which one job's transitions share a call.
pub const EVENT_LINGER: Duration = Duration::from_millis(250);

/// Attempts per batch before its events are given up (logged with their jobs).
const ATTEMPTS: u64 = 3;

/// An event bus whose publishes are batched in the background: `publish` of one event returns
/// once it is queued; it goes out within [`EVENT_LINGER`] with others, retried on transient
/// failures. A stop calls [`CoalescedBus::flush`]; a crash loses what was queued, as a crash
/// between a job's write and its publish always could (the job table is the truth).
pub struct CoalescedBus {
    inner: Arc<dyn EventBus>,
    events: Coalescer<JobStateChange, BusError>,
}

impl CoalescedBus {
    /// Batches publishes to `inner`. Must be called within a Tokio runtime.
    pub fn new(inner: Arc<dyn EventBus>, linger: Duration) -> Self {
        let bus = Arc::clone(&inner);
        let batching = Batching { name: "publish lifecycle events", max: MAX_PUBLISH_BATCH, linger };
        let events = Coalescer::start(batching, move |events: Vec<JobStateChange>| {
            let bus = Arc::clone(&bus);
            async move {
                let n = events.len();
                publish_with_retries(bus.as_ref(), events).await;
                (0..n).map(|_| Ok(())).collect()
            }
        });
        Self { inner, events }
    }

    /// Sends every queued event; returns when none is left.
    pub async fn flush(&self) {
        self.events.flush().await;
    }
}

/// Publishes `events`, retrying the failed ones; logs those given up.
async fn publish_with_retries(bus: &dyn EventBus, mut events: Vec<JobStateChange>) {
    for attempt in 1..=ATTEMPTS {
        let error = match bus.publish(&events).await {
            Ok(()) => return,
            Err(BusError::Partial(failed)) => {
                let reason = failed.first().map(|(_, r)| r.clone()).unwrap_or_default();
                let keep: Vec<usize> = failed.into_iter().map(|(i, _)| i).collect();
                events = events.into_iter().enumerate().filter(|(i, _)| keep.contains(i)).map(|(_, e)| e).collect();
                BusError::Partial(vec![(0, reason)])
            }
            Err(e) => e,
        };
        if !error.is_retryable() || attempt == ATTEMPTS {
            for event in &events {
                tracing::warn!(job = %event.job_id, error = %error, "could not publish a lifecycle event");
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
    }
}

#[async_trait]
impl EventBus for CoalescedBus {
    async fn publish(&self, events: &[JobStateChange]) -> Result<(), BusError> {
        let [one] = events else {
            // A caller with a batch of its own already saves the calls.
            return self.inner.publish(events).await;
        };
        match self.events.enqueue(one.clone()) {
            Ok(()) => Ok(()),
            // The flushers are gone (the runtime is stopping): publish it here.
            Err(event) => self.inner.publish(std::slice::from_ref(&event)).await,
        }
    }
}
