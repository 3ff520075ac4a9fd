//! Calls from concurrent handlers gathered into batch calls: lifecycle events into one
//! `PutEvents`, acknowledgements into one `DeleteMessageBatch`.
//!
//! Each handler publishes its job's transition and acknowledges its message on its own; on AWS
//! that was two requests per message. Here a caller hands its item to a [`Coalescer`] and waits
//! for the outcome of *its* item. A flusher takes what is waiting (up to the batch limit) and
//! sends it as one call — without lingering: an item that finds no company goes out at once,
//! so a lone request (a synchronous query) pays no added latency, and batches form by
//! themselves while calls are in flight under load (group commit).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::messages::JobStateChange;
use crate::ports::{
    AckOutcome, BusError, EventBus, MAX_PUBLISH_BATCH, MAX_RECEIVE_BATCH, OutgoingMessage, Queue, QueueError,
    ReceivedMessage,
};

/// Flushers per coalescer: calls in flight at once.
const FLUSHERS: usize = 2;

type Waiting<T, E> = (T, oneshot::Sender<Result<(), E>>);

/// Gathers items of concurrent callers into batch calls of at most `max` items.
pub struct Coalescer<T, E> {
    tx: mpsc::UnboundedSender<Waiting<T, E>>,
}

impl<T: Send + 'static, E: Send + 'static> Coalescer<T, E> {
    /// Starts the flushers; `call` sends a batch and answers for each item, in order. They end
    /// when the coalescer is dropped and nothing waits. Must be called within a Tokio runtime.
    pub fn start<F, Fut>(max: usize, call: F) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<Result<(), E>>> + Send,
    {
        let (tx, rx) = mpsc::unbounded_channel::<Waiting<T, E>>();
        let (rx, call) = (Arc::new(Mutex::new(rx)), Arc::new(call));
        for _ in 0..FLUSHERS {
            let (rx, call) = (Arc::clone(&rx), Arc::clone(&call));
            tokio::spawn(async move {
                while let Some(batch) = next_batch(&rx, max.max(1)).await {
                    let (items, answers): (Vec<T>, Vec<_>) = batch.into_iter().unzip();
                    let results = call(items).await;
                    for (answer, result) in answers.into_iter().zip(results) {
                        let _ = answer.send(result); // a caller that went away needs no answer
                    }
                }
            });
        }
        Self { tx }
    }

    /// Sends `item` with whatever else is waiting; its own outcome. `gone` is the error when
    /// the flushers are gone (the runtime is shutting down).
    pub async fn submit(&self, item: T, gone: impl FnOnce() -> E) -> Result<(), E> {
        let (answer, outcome) = oneshot::channel();
        if self.tx.send((item, answer)).is_err() {
            return Err(gone());
        }
        outcome.await.unwrap_or_else(|_| Err(gone()))
    }
}

/// The first waiting item (waiting for one), then whatever else is already there, up to `max`.
async fn next_batch<T>(rx: &Mutex<mpsc::UnboundedReceiver<T>>, max: usize) -> Option<Vec<T>> {
    let mut rx = rx.lock().await;
    let first = rx.recv().await?;
    let mut batch = vec![first];
    while batch.len() < max {
        match rx.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// An event bus whose single-event publishes from concurrent handlers share `PutEvents` calls.
pub struct CoalescedBus {
    inner: Arc<dyn EventBus>,
    events: Coalescer<JobStateChange, BusError>,
}

impl CoalescedBus {
    /// Coalesces publishes to `inner`.
    pub fn new(inner: Arc<dyn EventBus>) -> Self {
        let bus = Arc::clone(&inner);
        let events = Coalescer::start(MAX_PUBLISH_BATCH, move |events: Vec<JobStateChange>| {
            let bus = Arc::clone(&bus);
            async move {
                let n = events.len();
                match bus.publish(&events).await {
                    Ok(()) => (0..n).map(|_| Ok(())).collect(),
                    Err(BusError::Partial(failed)) => (0..n)
                        .map(|i| match failed.iter().find(|(at, _)| *at == i) {
                            Some((_, reason)) => Err(BusError::Partial(vec![(0, reason.clone())])),
                            None => Ok(()),
                        })
                        .collect(),
                    Err(BusError::Invalid(m)) => (0..n).map(|_| Err(BusError::Invalid(m.clone()))).collect(),
                    Err(BusError::Unavailable(m)) => (0..n).map(|_| Err(BusError::Unavailable(m.clone()))).collect(),
                }
            }
        });
        Self { inner, events }
    }
}

#[async_trait]
impl EventBus for CoalescedBus {
    async fn publish(&self, events: &[JobStateChange]) -> Result<(), BusError> {
        match events {
            [one] => self.events.submit(one.clone(), || BusError::Unavailable("the publisher stopped".into())).await,
            // A caller with a batch of its own already saves the calls.
            _ => self.inner.publish(events).await,
        }
    }
}

/// A queue whose single-receipt acknowledgements from concurrent handlers share
/// `DeleteMessageBatch` calls (up to [`MAX_RECEIVE_BATCH`]); everything else goes straight through.
/// Cheap to clone (clones share the batches).
#[derive(Clone)]
pub struct CoalescedAcks {
    inner: Arc<dyn Queue>,
    acks: Arc<Coalescer<String, QueueError>>,
}

impl CoalescedAcks {
    /// Coalesces acknowledgements on `inner`.
    pub fn new(inner: Arc<dyn Queue>) -> Self {
        let queue = Arc::clone(&inner);
        let acks = Coalescer::start(MAX_RECEIVE_BATCH, move |receipts: Vec<String>| {
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
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_items_share_calls_and_each_caller_gets_its_own_outcome() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        // Odd items fail; the call takes a moment, so that items queue up behind it.
        let coalescer = Arc::new(Coalescer::start(10, move |items: Vec<u32>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                items.iter().map(|i| if i % 2 == 1 { Err(*i) } else { Ok(()) }).collect()
            }
        }));
        let outcomes = futures::future::join_all((0..100u32).map(|i| {
            let coalescer = Arc::clone(&coalescer);
            async move { (i, coalescer.submit(i, || u32::MAX).await) }
        }))
        .await;
        for (i, outcome) in outcomes {
            assert_eq!(outcome, if i % 2 == 1 { Err(i) } else { Ok(()) });
        }
        let calls = calls.load(Ordering::SeqCst);
        assert!((10..100).contains(&calls), "100 items in {calls} calls of at most 10");
    }

    #[tokio::test]
    async fn a_lone_item_goes_out_on_its_own() {
        let coalescer =
            Coalescer::start(10, |items: Vec<u32>| async move { items.iter().map(|_| Ok::<(), ()>(())).collect() });
        assert_eq!(coalescer.submit(7, || ()).await, Ok(()));
        assert_eq!(coalescer.submit(8, || ()).await, Ok(()));
    }

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
