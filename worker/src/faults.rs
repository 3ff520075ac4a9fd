//! Fault injection for `spectra chaos`: decorators over the work queue and the warehouse that
//! make real adapters misbehave the way production does — a message delivered twice, a status
//! event that never arrives, a submit refused as throttled. Off unless asked for
//! (`--inject-faults`); the point is to prove, on the real stack, that the worker's design
//! (level-triggered handlers, the reconciler, backpressure) absorbs each fault class.
//!
//! Faults are injected at the consumer's edge, not in the adapters, so one implementation
//! serves the embedded platform and AWS alike.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use thiserror::Error;

use crate::messages::Envelope;
use crate::ports::{
    AckOutcome, OutgoingMessage, Queue, QueueError, ReceivedMessage, ResultPage, Sql, StatementDescription,
    StatementRequest, Warehouse, WarehouseError,
};

/// The attribute marking an injected copy, so a copy is not copied again.
const COPY_ATTRIBUTE: &str = "spectra-chaos-copy";

/// The log line of each injected duplicate, lost event and throttled submit: `spectra chaos`
/// counts them in the log to show the faults really happened.
pub const DUPLICATING: &str = "chaos: delivering a message twice";
/// See [`DUPLICATING`].
pub const DROPPING: &str = "chaos: dropping a statement event";
/// See [`DUPLICATING`].
pub const THROTTLING: &str = "chaos: throttling a submit";

/// Which faults to inject, each as a probability in `0..=1`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    /// Share of received messages that are delivered a second time (a copy is sent back).
    pub duplicate: f64,
    /// Share of statement status-change events acknowledged unseen (lost on the way).
    pub drop_events: f64,
    /// Share of statement submits refused as throttled.
    pub throttle: f64,
}

/// A fault specification that does not parse.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0} (expected e.g. duplicate=1,drop-events=0.2,throttle=0.3)")]
pub struct FaultsError(String);

impl Faults {
    /// Parses `duplicate=P,drop-events=P,throttle=P` (any subset; empty means none).
    pub fn parse(text: &str) -> Result<Self, FaultsError> {
        let mut faults = Self::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').ok_or_else(|| FaultsError(format!("{part:?} has no '='")))?;
            let p: f64 = value.trim().parse().map_err(|_| FaultsError(format!("{value:?} is not a number")))?;
            if !(0.0..=1.0).contains(&p) {
                return Err(FaultsError(format!("{name} must be between 0 and 1, not {p}")));
            }
            match name.trim() {
                "duplicate" => faults.duplicate = p,
                "drop-events" => faults.drop_events = p,
                "throttle" => faults.throttle = p,
                other => return Err(FaultsError(format!("unknown fault {other:?}"))),
            }
        }
        Ok(faults)
    }

    /// Whether any fault is on.
    pub fn any(&self) -> bool {
        self.duplicate > 0.0 || self.drop_events > 0.0 || self.throttle > 0.0
    }

    /// `queue` with this spec's queue faults, or `queue` itself when there are none.
    pub fn queue(&self, queue: Arc<dyn Queue>) -> Arc<dyn Queue> {
        if self.duplicate > 0.0 || self.drop_events > 0.0 {
            Arc::new(FaultyQueue { inner: queue, faults: *self })
        } else {
            queue
        }
    }

    /// `warehouse` with this spec's warehouse faults, or `warehouse` itself when there are none.
    pub fn warehouse(&self, warehouse: Arc<dyn Warehouse>) -> Arc<dyn Warehouse> {
        if self.throttle > 0.0 { Arc::new(FaultyWarehouse { inner: warehouse, faults: *self }) } else { warehouse }
    }
}

fn happens(p: f64) -> bool {
    p > 0.0 && fastrand::f64() < p
}

/// The work queue, as a consumer sees it under faults.
struct FaultyQueue {
    inner: Arc<dyn Queue>,
    faults: Faults,
}

impl FaultyQueue {
    /// Sends a copy of `message` back (SQS's at-least-once delivery, made certain).
    async fn copy(&self, message: &ReceivedMessage) {
        let mut attributes: BTreeMap<String, String> = message.attributes.clone();
        attributes.insert(COPY_ATTRIBUTE.into(), "1".into());
        let copy = OutgoingMessage { body: message.body.clone(), attributes, delay: Duration::ZERO };
        tracing::info!(message = %message.id, "{DUPLICATING}");
        if let Err(e) = self.inner.send(copy).await {
            tracing::warn!(error = %e, "chaos: could not send a duplicate");
        }
    }

    /// Loses a statement event: acknowledged, never handled.
    async fn lose(&self, message: &ReceivedMessage) -> bool {
        let is_event = matches!(Envelope::parse(&message.body), Ok(Envelope::StatementEvent(_)));
        if !is_event || !happens(self.faults.drop_events) {
            return false;
        }
        tracing::info!(message = %message.id, "{DROPPING}");
        match self.inner.ack(std::slice::from_ref(&message.receipt)).await {
            Ok(outcome) => outcome.failed.is_empty(),
            Err(_) => false,
        }
    }
}

#[async_trait]
impl Queue for FaultyQueue {
    fn destination(&self) -> &str {
        self.inner.destination()
    }

    fn system(&self) -> &'static str {
        self.inner.system()
    }

    fn adopt(&self, message: &ReceivedMessage, visibility: Duration) {
        self.inner.adopt(message, visibility);
    }

    async fn dead_letter_count(&self) -> Result<u64, QueueError> {
        self.inner.dead_letter_count().await
    }

    async fn send(&self, message: OutgoingMessage) -> Result<String, QueueError> {
        self.inner.send(message).await
    }

    async fn send_batch(&self, messages: Vec<OutgoingMessage>) -> Result<usize, QueueError> {
        self.inner.send_batch(messages).await
    }

    async fn receive(
        &self,
        max: usize,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let received = self.inner.receive(max, wait, visibility).await?;
        let mut kept = Vec::with_capacity(received.len());
        for message in received {
            if self.lose(&message).await {
                continue;
            }
            if !message.attributes.contains_key(COPY_ATTRIBUTE) && happens(self.faults.duplicate) {
                self.copy(&message).await;
            }
            kept.push(message);
        }
        Ok(kept)
    }

    async fn ack(&self, receipts: &[String]) -> Result<AckOutcome, QueueError> {
        self.inner.ack(receipts).await
    }

    async fn extend(&self, receipt: &str, visibility: Duration) -> Result<(), QueueError> {
        self.inner.extend(receipt, visibility).await
    }

    async fn dead_letter(&self, receipt: &str, reason: &str) -> Result<(), QueueError> {
        self.inner.dead_letter(receipt, reason).await
    }
}

/// The warehouse, as the worker sees it under faults.
struct FaultyWarehouse {
    inner: Arc<dyn Warehouse>,
    faults: Faults,
}

#[async_trait]
impl Warehouse for FaultyWarehouse {
    fn system(&self) -> &'static str {
        self.inner.system()
    }

    async fn execute(&self, request: StatementRequest) -> Result<String, WarehouseError> {
        if happens(self.faults.throttle) {
            tracing::info!("{THROTTLING}");
            return Err(WarehouseError::Throttled("injected by --inject-faults".into()));
        }
        self.inner.execute(request).await
    }

    async fn describe(&self, id: &str) -> Result<StatementDescription, WarehouseError> {
        self.inner.describe(id).await
    }

    async fn cancel(&self, id: &str) -> Result<bool, WarehouseError> {
        self.inner.cancel(id).await
    }

    async fn results(&self, id: &str, next_token: Option<&str>) -> Result<ResultPage, WarehouseError> {
        self.inner.results(id, next_token).await
    }

    async fn check_query(&self, sql: &Sql, db_user: Option<&str>) -> Result<(), WarehouseError> {
        self.inner.check_query(sql, db_user).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn specs_parse_and_bad_ones_say_why() {
        let f = Faults::parse("duplicate=1, drop-events=0.25,throttle=0").unwrap();
        assert_eq!(f, Faults { duplicate: 1.0, drop_events: 0.25, throttle: 0.0 });
        assert!(f.any());
        assert!(!Faults::parse("").unwrap().any());
        assert!(Faults::parse("duplicate=2").unwrap_err().to_string().contains("between 0 and 1"));
        assert!(Faults::parse("explode=1").unwrap_err().to_string().contains("unknown fault"));
        assert!(Faults::parse("duplicate").unwrap_err().to_string().contains("no '='"));
        assert!(Faults::parse("throttle=lots").unwrap_err().to_string().contains("not a number"));
    }
}
