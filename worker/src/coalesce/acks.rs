//! Acknowledgements of concurrent handlers in shared `DeleteMessageBatch` calls.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{Batching, Coalescer};
use crate::ports::{AckOutcome, MAX_RECEIVE_BATCH, OutgoingMessage, Queue, QueueError, ReceivedMessage};

/// How long an acknowledgement waits for others to share its call. A message is hidden (its
/// visibility timeout) until then, so the wait costs nothing but the moment.
pub const ACK_LINGER: Duration = Duration::from_millis(250);

/// A queue whose single-receipt acknowledgements from concurrent handlers share
/// `DeleteMessageBatch` calls (up to [`MAX_RECEIVE_BATCH`]); everything else goes straight through.
/// Cheap to clone (clones share the batches).
#[derive(Clone)]
pub struct CoalescedAcks {
    inner: Arc<dyn Queue>,
    acks: Arc<Coalescer<String, QueueError>>,
}

impl CoalescedAcks {
    /// Coalesces acknowledgements on `inner`, each waiting up to `linger` for company. Must be
    /// called within a Tokio runtime.
    pub fn new(inner: Arc<dyn Queue>, linger: Duration) -> Self {
        let queue = Arc::clone(&inner);
        let batching = Batching { name: "acknowledge messages", max: MAX_RECEIVE_BATCH, linger };
        let acks = Coalescer::start(batching, move |receipts: Vec<String>| {
            let queue = Arc::clone(&queue);
            async move { per_receipt(&receipts, queue.ack(&receipts).await) }
        });
        Self { inner, acks: Arc::new(acks) }
    }
}

/// Each receipt's outcome of one batch acknowledgement, in order.
fn per_receipt(receipts: &[String], outcome: Result<AckOutcome, QueueError>) -> Vec<Result<(), QueueError>> {
    match outcome {
        Ok(AckOutcome { mut failed }) => receipts
            .iter()
            .map(|r| match failed.iter().position(|(f, _)| f == r) {
                Some(i) => Err(failed.swap_remove(i).1),
                None => Ok(()),
            })
            .collect(),
        Err(e) => receipts
            .iter()
            .map(|_| {
                Err(match &e {
                    QueueError::LostOwnership => QueueError::LostOwnership,
                    QueueError::Invalid(m) => QueueError::Invalid(m.clone()),
                    QueueError::Unavailable(m) => QueueError::Unavailable(m.clone()),
                })
            })
            .collect(),
    }
}

#[async_trait]
impl Queue for CoalescedAcks {
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
        self.inner.receive(max, wait, visibility).await
    }

    async fn ack(&self, receipts: &[String]) -> Result<AckOutcome, QueueError> {
        let [one] = receipts else { return self.inner.ack(receipts).await };
        let gone = || QueueError::Unavailable("the acknowledger stopped".into());
        match self.acks.submit(one.clone(), gone).await {
            Ok(()) => Ok(AckOutcome { failed: Vec::new() }),
            Err(e @ (QueueError::LostOwnership | QueueError::Invalid(_))) => {
                Ok(AckOutcome { failed: vec![(one.clone(), e)] })
            }
            Err(e) => Err(e),
        }
    }

    async fn extend(&self, receipt: &str, visibility: Duration) -> Result<(), QueueError> {
        self.inner.extend(receipt, visibility).await
    }

    async fn dead_letter(&self, receipt: &str, reason: &str) -> Result<(), QueueError> {
        self.inner.dead_letter(receipt, reason).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_acknowledgements_answer_per_receipt() {
        let receipts: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let outcome = Ok(AckOutcome { failed: vec![("b".into(), QueueError::LostOwnership)] });
        let each = per_receipt(&receipts, outcome);
        assert!(each[0].is_ok() && each[2].is_ok(), "{each:?}");
        assert!(matches!(each[1], Err(QueueError::LostOwnership)), "{each:?}");
        let down = per_receipt(&receipts, Err(QueueError::Unavailable("down".into())));
        assert!(down.iter().all(|r| matches!(r, Err(QueueError::Unavailable(m)) if m == "down")), "{down:?}");
    }
}
