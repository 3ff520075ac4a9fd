//! The `Queue` port: a work queue with SQS semantics.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use thiserror::Error;

/// Most messages one receive returns (SQS's limit).
pub const MAX_RECEIVE_BATCH: usize = 10;

/// Refuses a receive batch outside `1..=`[`MAX_RECEIVE_BATCH`] (never clamps: a caller asking
/// for 0 or 11 has a bug).
pub fn check_receive_batch(max: usize) -> Result<(), QueueError> {
    if (1..=MAX_RECEIVE_BATCH).contains(&max) {
        Ok(())
    } else {
        Err(QueueError::Invalid(format!("receive takes 1..={MAX_RECEIVE_BATCH} messages, not {max}")))
    }
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutgoingMessage {
    /// The body (JSON for everything Spectra sends).
    pub body: String,
    /// String attributes (e.g. `traceparent`), carried beside the body.
    pub attributes: BTreeMap<String, String>,
    /// Hold the message invisible this long before its first delivery (SQS allows up to 15 min).
    pub delay: Duration,
}

impl OutgoingMessage {
    /// A message with just a body.
    pub fn new(body: impl Into<String>) -> Self {
        Self { body: body.into(), ..Self::default() }
    }
}

/// A received message. Ownership lasts until the visibility timeout runs out; `receipt` is
/// what proves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The message's id, stable across redeliveries.
    pub id: String,
    /// The handle of *this* delivery: ack, extend and release need it, and a redelivery
    /// invalidates it.
    pub receipt: String,
    /// The body.
    pub body: String,
    /// The attributes it was sent with.
    pub attributes: BTreeMap<String, String>,
    /// How many times it has been delivered, this delivery included (SQS's
    /// `ApproximateReceiveCount`).
    pub receive_count: u32,
}

/// The outcome of acknowledging several messages: which receipts failed and why. SQS's
/// `DeleteMessageBatch` can fail per entry; callers retry only the failed ones.
#[derive(Debug, Default)]
pub struct AckOutcome {
    /// Receipts that were not acknowledged, with the error for each.
    pub failed: Vec<(String, QueueError)>,
}

/// Why a queue call failed.
#[derive(Debug, Error)]
pub enum QueueError {
    /// The receipt no longer owns the message: its visibility ran out and it was redelivered
    /// (or it was already acknowledged). Whoever held it must stop working on it.
    #[error("receipt no longer owns the message (visibility expired or already acknowledged)")]
    LostOwnership,
    /// The request was invalid (body too large, batch too big, ...): retrying will not help.
    #[error("invalid queue request: {0}")]
    Invalid(String),
    /// The queue could not be reached or is overloaded; retrying later may succeed.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
}

impl QueueError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// A work queue with SQS semantics; the embedded SQLite queue and the SQS adapter both pass
/// `contract::queue`.
///
/// # Contract
/// - **At-least-once delivery, no ordering.** A message is delivered until it is acknowledged
///   or dead-lettered; duplicates and reordering are normal and handlers must be idempotent.
/// - **Visibility.** A received message is hidden from other receivers for the visibility
///   timeout given at receive. While hidden, no other receive returns it — two consumers never
///   hold the same message at once (SQS standard queues may, rarely, break this: they are
///   at-least-once, which is why handlers are idempotent; the contract suite allows it for
///   fixtures that say so). When the timeout runs out it becomes receivable again,
///   with a new receipt and `receive_count + 1`; the old receipt then fails with
///   [`QueueError::LostOwnership`] on extend (and may be silently ignored on ack, as SQS does).
/// - **Dead letters.** A message received more than the queue's maximum receive count is moved
///   to the dead-letter queue instead of being delivered again. [`Queue::dead_letter`] moves one
///   there at once, with a reason, for bodies that can never be handled.
/// - **Long polling.** `receive` waits up to `wait` for the first message and returns early
///   when one arrives; an empty result is normal.
/// - **Partial failure.** `ack` of several receipts reports per-receipt failures in
///   [`AckOutcome`]; the others are acknowledged.
/// - **Errors.** Only [`QueueError::Unavailable`] is retryable.
#[async_trait]
pub trait Queue: Send + Sync {
    /// The queue's name (`messaging.destination.name` on spans).
    fn destination(&self) -> &str;

    /// The messaging system (`messaging.system` on spans): `aws_sqs` for SQS.
    fn system(&self) -> &'static str;

    /// Sends one message; returns its id.
    async fn send(&self, message: OutgoingMessage) -> Result<String, QueueError>;

    /// Sends several messages, in as few round trips (and commits) as the queue allows; all
    /// are sent or the call fails (a retry may then send some twice, which every consumer
    /// tolerates). The default sends them one by one.
    async fn send_batch(&self, messages: Vec<OutgoingMessage>) -> Result<usize, QueueError> {
        let n = messages.len();
        for message in messages {
            self.send(message).await?;
        }
        Ok(n)
    }

    /// Receives up to `max` (1..=[`MAX_RECEIVE_BATCH`]) messages, waiting up to `wait` for the
    /// first, and hides them for `visibility`.
    async fn receive(
        &self,
        max: usize,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError>;

    /// Acknowledges (deletes) handled messages.
    async fn ack(&self, receipts: &[String]) -> Result<AckOutcome, QueueError>;

    /// Sets the remaining visibility of a held message to `visibility` from now: a heartbeat
    /// for long handlers, or `Duration::ZERO` to release it for immediate redelivery.
    async fn extend(&self, receipt: &str, visibility: Duration) -> Result<(), QueueError>;

    /// How many messages the dead-letter queue holds (approximately, on SQS): what operators
    /// must look at.
    async fn dead_letter_count(&self) -> Result<u64, QueueError>;

    /// Moves a held message to the dead-letter queue with a reason, now.
    async fn dead_letter(&self, receipt: &str, reason: &str) -> Result<(), QueueError>;

    /// Takes over a message that something else received for this process — AWS Lambda's
    /// event source mapping polls SQS and hands the function the messages — so that `extend`
    /// and `dead_letter` work on it as on one `receive` returned, for `visibility` from now.
    /// Queues that settle by receipt alone (the embedded one) need nothing: the default.
    fn adopt(&self, message: &ReceivedMessage, visibility: Duration) {
        let _ = (message, visibility);
    }
}
