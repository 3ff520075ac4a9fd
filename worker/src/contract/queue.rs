//! The `Queue` contract. Uses short real timeouts (about a second) rather than paused time,
//! because the adapters keep time in their store (SQLite, SQS), not in tokio.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Mutex;

use crate::ports::{OutgoingMessage, Queue, QueueError};

/// What the suite needs from an adapter under test.
#[async_trait]
pub trait QueueFixture: Send + Sync {
    /// The adapter.
    type Queue: Queue + Clone + 'static;
    /// A new, empty queue that dead-letters after `max_receives` deliveries.
    async fn queue(&self, max_receives: u32) -> Self::Queue;
    /// The bodies in the queue's dead-letter queue.
    async fn dead_letter_bodies(&self, queue: &Self::Queue) -> Vec<String>;
    /// Whether concurrent receives are exclusive without exception. SQS standard queues are
    /// at-least-once and may, rarely, hand one message to two receivers; a fixture whose queue
    /// can do that says so, and `concurrent_consumers_never_share` then allows a rare duplicate
    /// (never a lost message). The handlers are idempotent for exactly this reason.
    fn exclusive_receives(&self) -> bool {
        true
    }
    /// Another handle on `queue` that shares nothing in memory with it, as another process
    /// would have (a Lambda function is handed messages its event source mapping received).
    async fn reopen(&self, queue: &Self::Queue) -> Self::Queue;
}

const LONG: Duration = Duration::from_secs(30);
const SHORT_VISIBILITY: Duration = Duration::from_millis(1000);

fn msg(body: &str) -> OutgoingMessage {
    OutgoingMessage::new(body)
}

async fn sleep_past(d: Duration) {
    tokio::time::sleep(d + Duration::from_millis(300)).await;
}

/// Messages come back with their bodies and attributes, and acked ones are gone.
pub async fn delivers_and_acks<F: QueueFixture>(f: &F) {
    let q = f.queue(5).await;
    let mut attributes = BTreeMap::new();
    attributes.insert("traceparent".to_owned(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned());
    q.send(OutgoingMessage { body: "one".into(), attributes: attributes.clone(), delay: Duration::ZERO })
        .await
        .unwrap();
    q.send(msg("two")).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        let batch = q.receive(10, Duration::from_secs(2), LONG).await.unwrap();
        assert!(!batch.is_empty(), "sent messages were not delivered");
        got.extend(batch);
    }
    got.sort_by(|a, b| a.body.cmp(&b.body));
    assert_eq!(got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["one", "two"]);
    assert_eq!(got[0].attributes, attributes);
    assert!(got.iter().all(|m| m.receive_count == 1));
    let outcome = q.ack(&got.iter().map(|m| m.receipt.clone()).collect::<Vec<_>>()).await.unwrap();
    assert!(outcome.failed.is_empty());
    assert!(q.receive(10, Duration::ZERO, LONG).await.unwrap().is_empty(), "acked messages came back");
}

/// A batch of 25 (more than SQS takes in one call) arrives whole, bodies and attributes kept.
pub async fn sends_batches<F: QueueFixture>(f: &F) {
    let q = f.queue(5).await;
    let mut attributes = BTreeMap::new();
    attributes.insert("kind".to_owned(), "batch".to_owned());
    let batch: Vec<OutgoingMessage> = (0..25)
        .map(|i| OutgoingMessage { body: format!("b{i:02}"), attributes: attributes.clone(), delay: Duration::ZERO })
        .collect();
    assert_eq!(q.send_batch(batch).await.unwrap(), 25);
    let mut got = Vec::new();
    while got.len() < 25 {
        let received = q.receive(10, Duration::from_secs(2), LONG).await.unwrap();
        assert!(!received.is_empty(), "only {} of 25 batched messages arrived", got.len());
        got.extend(received);
    }
    let mut bodies: Vec<String> = got.iter().map(|m| m.body.clone()).collect();
    bodies.sort();
    assert_eq!(bodies, (0..25).map(|i| format!("b{i:02}")).collect::<Vec<_>>());
    assert!(got.iter().all(|m| m.attributes == attributes));
}

/// A received message is hidden until its visibility runs out, then redelivered with a new
/// receipt and a higher count; the old receipt no longer owns it.
pub async fn redelivers_after_visibility_timeout<F: QueueFixture>(f: &F) {
    let q = f.queue(5).await;
    let id = q.send(msg("work")).await.unwrap();
    let first = q.receive(1, Duration::from_secs(2), SHORT_VISIBILITY).await.unwrap().remove(0);
    assert_eq!((first.id.as_str(), first.receive_count), (id.as_str(), 1));
    assert!(q.receive(1, Duration::ZERO, LONG).await.unwrap().is_empty(), "a hidden message was delivered");
    sleep_past(SHORT_VISIBILITY).await;
    let second = q.receive(1, Duration::from_secs(2), LONG).await.unwrap().remove(0);
    assert_eq!((second.id.as_str(), second.receive_count), (id.as_str(), 2));
    assert_ne!(second.receipt, first.receipt);
    assert!(matches!(q.extend(&first.receipt, LONG).await, Err(QueueError::LostOwnership)));
    q.ack(&[second.receipt]).await.unwrap();
}

/// A heartbeat keeps a message hidden past its first timeout.
pub async fn extend_keeps_a_message_hidden<F: QueueFixture>(f: &F) {
    let q = f.queue(5).await;
    q.send(msg("long job")).await.unwrap();
    let held = q.receive(1, Duration::from_secs(2), SHORT_VISIBILITY).await.unwrap().remove(0);
    q.extend(&held.receipt, Duration::from_secs(10)).await.unwrap();
    sleep_past(SHORT_VISIBILITY).await;
    assert!(q.receive(1, Duration::ZERO, LONG).await.unwrap().is_empty(), "an extended message was redelivered");
    q.ack(&[held.receipt]).await.unwrap();
}

/// Extending to zero releases a message for immediate redelivery.
pub async fn release_redelivers_at_once<F: QueueFixture>(f: &F) {
    let q = f.queue(5).await;
    q.send(msg("retry me")).await.unwrap();
    let held = q.receive(1, Duration::from_secs(2), LONG).await.unwrap().remove(0);
    q.extend(&held.receipt, Duration::ZERO).await.unwrap();
    let again = q.receive(1, Duration::from_secs(2), LONG).await.unwrap();
    assert_eq!(again.len(), 1, "a released message was not redelivered");
    assert_eq!(again[0].receive_count, 2);
}

/// A message delivered `max_receives` times without an ack goes to the dead-letter queue.
pub async fn dead_letters_after_max_receives<F: QueueFixture>(f: &F) {
    let q = f.queue(2).await;
    q.send(msg("poison")).await.unwrap();
    for n in 1..=2 {
        let got = q.receive(1, Duration::from_secs(2), SHORT_VISIBILITY).await.unwrap();
        assert_eq!(got.len(), 1, "delivery {n} missing");
        sleep_past(SHORT_VISIBILITY).await;
    }
    assert!(q.receive(1, Duration::from_secs(1), LONG).await.unwrap().is_empty(), "delivered past max receives");
    assert_eq!(f.dead_letter_bodies(&q).await, ["poison"]);
}

/// `dead_letter` moves a held message at once; a receipt that lost the message cannot.
pub async fn dead_letter_moves_a_held_message<F: QueueFixture>(f: &F) {
    let q = f.queue(5).await;
    q.send(msg("{not json")).await.unwrap();
    let held = q.receive(1, Duration::from_secs(2), LONG).await.unwrap().remove(0);
    q.dead_letter(&held.receipt, "body is not JSON").await.unwrap();
    assert!(q.receive(1, Duration::ZERO, LONG).await.unwrap().is_empty());
    assert_eq!(q.dead_letter_count().await.unwrap(), 1, "the dead-letter queue counts it");
    assert_eq!(f.dead_letter_bodies(&q).await, ["{not json"]);
    assert!(matches!(q.dead_letter(&held.receipt, "again").await, Err(QueueError::LostOwnership)));
}

/// A message received by another handle (Lambda's poller) and adopted here can be released,
/// and dead-lettered, by its receipt.
pub async fn settles_an_adopted_message<F: QueueFixture>(f: &F) {
    let q = f.queue(5).await;
    let here = f.reopen(&q).await;
    q.send(msg("released")).await.unwrap();
    let polled = q.receive(1, Duration::from_secs(2), LONG).await.unwrap().remove(0);
    here.adopt(&polled, LONG);
    here.extend(&polled.receipt, Duration::ZERO).await.unwrap();
    // The poller's next receive (a fresh handle: the first one still counts the message as its
    // own, as a poller that handed it on would not).
    let poller = f.reopen(&q).await;
    let again = poller.receive(1, Duration::from_secs(2), LONG).await.unwrap().remove(0);
    assert_eq!((again.body.as_str(), again.receive_count), ("released", 2), "released at once");
    here.adopt(&again, LONG);
    here.dead_letter(&again.receipt, "poison").await.unwrap();
    assert!(poller.receive(1, Duration::ZERO, LONG).await.unwrap().is_empty());
    assert_eq!(f.dead_letter_bodies(&q).await, ["released"]);
}

/// A delayed message is not delivered before its delay.
pub async fn delays_delivery<F: QueueFixture>(f: &F) {
    let q = f.queue(5).await;
    let delay = Duration::from_secs(1);
    q.send(OutgoingMessage { delay, ..msg("later") }).await.unwrap();
    assert!(q.receive(1, Duration::ZERO, LONG).await.unwrap().is_empty(), "delivered before its delay");
    sleep_past(delay).await;
    assert_eq!(q.receive(1, Duration::from_secs(2), LONG).await.unwrap().len(), 1);
}

/// A long poll returns a message sent while it waits.
pub async fn long_poll_sees_messages_sent_while_waiting<F: QueueFixture>(f: &F) {
    let q = f.queue(5).await;
    let waiter = {
        let q = q.clone();
        tokio::spawn(async move { q.receive(1, Duration::from_secs(10), LONG).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    q.send(msg("ping")).await.unwrap();
    let got = waiter.await.unwrap().unwrap();
    assert_eq!(got.len(), 1, "the long poll missed a message sent during its wait");
}

/// Concurrent consumers never hold the same message at once: with a long visibility, every
/// message is delivered exactly once across them.
pub async fn concurrent_consumers_never_share<F: QueueFixture>(f: &F) {
    let q = f.queue(5).await;
    const N: usize = 60;
    for i in 0..N {
        q.send(msg(&format!("m{i}"))).await.unwrap();
    }
    let seen = Arc::new(Mutex::new(HashMap::<String, u32>::new()));
    let mut consumers = Vec::new();
    for _ in 0..4 {
        let (q, seen) = (q.clone(), Arc::clone(&seen));
        consumers.push(tokio::spawn(async move {
            loop {
                let batch = q.receive(10, Duration::from_millis(500), LONG).await.unwrap();
                if batch.is_empty() {
                    return;
                }
                let mut seen = seen.lock().await;
                for m in &batch {
                    *seen.entry(m.body.clone()).or_default() += 1;
                }
                drop(seen);
                q.ack(&batch.iter().map(|m| m.receipt.clone()).collect::<Vec<_>>()).await.unwrap();
            }
        }));
    }
    for c in consumers {
        c.await.unwrap();
    }
    let seen = seen.lock().await;
    assert_eq!(seen.len(), N, "some messages were never delivered");
    let doubles: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    let allowed = if f.exclusive_receives() { 0 } else { N / 20 };
    assert!(doubles.len() <= allowed, "delivered to two consumers: {doubles:?}");
}

/// Bad batch sizes are refused, not clamped.
pub async fn refuses_bad_batch_sizes<F: QueueFixture>(f: &F) {
    let q = f.queue(5).await;
    assert!(matches!(q.receive(0, Duration::ZERO, LONG).await, Err(QueueError::Invalid(_))));
    assert!(matches!(q.receive(11, Duration::ZERO, LONG).await, Err(QueueError::Invalid(_))));
}

/// Generates one `#[tokio::test]` per queue check for a fixture expression.
#[macro_export]
macro_rules! queue_contract_tests {
    ($fixture:expr) => {
        $crate::contract_tests!(queue, $fixture;
            delivers_and_acks,
            sends_batches,
            redelivers_after_visibility_timeout,
            extend_keeps_a_message_hidden,
            release_redelivers_at_once,
            dead_letters_after_max_receives,
            dead_letter_moves_a_held_message,
            settles_an_adopted_message,
            delays_delivery,
            long_poll_sees_messages_sent_while_waiting,
            concurrent_consumers_never_share,
            refuses_bad_batch_sizes,
        );
    };
}
