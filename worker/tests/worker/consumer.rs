//! The consumer loop on the real SQLite queue, with scripted handlers (the handler is a test
//! double here: these tests are about the loop): heartbeats, backoff, deferral, dead letters and
//! shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use spectra_local::{QueueConfig, SqliteQueue};
use spectra_worker::consumer::{self, ConsumerConfig, ConsumerStats};
use spectra_worker::handler::{Disposition, MessageHandler};
use spectra_worker::ports::{OutgoingMessage, Queue, ReceivedMessage};
use tokio_util::sync::CancellationToken;

/// Answers each delivery with `script(n)` (n counts deliveries from 0) after `work`.
struct Scripted {
    work: Duration,
    script: fn(usize) -> Disposition,
    seen: Mutex<Vec<u32>>,
}

#[async_trait]
impl MessageHandler for Scripted {
    async fn handle(&self, message: &ReceivedMessage) -> Disposition {
        let n = {
            let mut seen = self.seen.lock().unwrap();
            seen.push(message.receive_count);
            seen.len() - 1
        };
        tokio::time::sleep(self.work).await;
        (self.script)(n)
    }
}

fn config() -> ConsumerConfig {
    ConsumerConfig {
        loops: 2,
        wait: Duration::from_millis(100),
        visibility: Duration::from_secs(1),
        retry_base: Duration::from_millis(50),
        retry_max: Duration::from_millis(200),
        shutdown_deadline: Duration::from_secs(5),
        ..ConsumerConfig::default()
    }
}

struct Running {
    queue: SqliteQueue,
    handler: Arc<Scripted>,
    stop: CancellationToken,
    done: tokio::task::JoinHandle<Arc<ConsumerStats>>,
    _dir: tempfile::TempDir,
}

async fn start(max_receives: u32, work: Duration, script: fn(usize) -> Disposition, config: ConsumerConfig) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let queue = SqliteQueue::open(&dir.path().join("q.sqlite"), "work", QueueConfig { max_receives }).await.unwrap();
    let handler = Arc::new(Scripted { work, script, seen: Mutex::new(Vec::new()) });
    let stop = CancellationToken::new();
    let done = tokio::spawn(consumer::run(Arc::new(queue.clone()), handler.clone(), config, stop.clone()));
    queue.send(OutgoingMessage::new("{}")).await.unwrap();
    Running { queue, handler, stop, done, _dir: dir }
}

async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_longer_than_the_visibility_timeout_keeps_its_message() {
    let r = start(5, Duration::from_millis(2500), |_| Disposition::Ack, config()).await;
    until("the ack", || r.queue.depth_blocking() == 0).await;
    assert_eq!(*r.handler.seen.lock().unwrap(), [1], "delivered once: the heartbeat kept it hidden");
    r.stop.cancel();
    assert_eq!(r.done.await.unwrap().acked.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_back_off_and_end_in_the_dead_letter_queue() {
    let r = start(3, Duration::ZERO, |_| Disposition::Retry("boom".into()), config()).await;
    let queue = r.queue.clone();
    until("the dead letter", || !queue.dead_letters_blocking().is_empty()).await;
    assert_eq!(*r.handler.seen.lock().unwrap(), [1, 2, 3]);
    assert!(queue.dead_letters_blocking()[0].reason.contains("maxReceiveCount"));
    r.stop.cancel();
    r.done.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferrals_do_not_count_towards_the_dead_letter_limit() {
    let defer = |n| {
        if n < 4 {
            Disposition::Defer { delay: Duration::from_millis(30), reason: "busy".into() }
        } else {
            Disposition::Ack
        }
    };
    let r = start(2, Duration::ZERO, defer, config()).await;
    let handler = r.handler.clone();
    until("the fifth delivery", || handler.seen.lock().unwrap().len() == 5).await;
    assert_eq!(*r.handler.seen.lock().unwrap(), [1, 1, 1, 1, 1], "each deferral is a fresh message");
    until("the ack", || r.queue.depth_blocking() == 0).await;
    assert!(r.queue.dead_letters_blocking().is_empty());
    r.stop.cancel();
    let stats = r.done.await.unwrap();
    assert_eq!((stats.deferred.load(Ordering::Relaxed), stats.acked.load(Ordering::Relaxed)), (4, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_is_dead_lettered_at_once_with_its_reason() {
    let r = start(5, Duration::ZERO, |_| Disposition::DeadLetter("body is not a JSON object".into()), config()).await;
    let queue = r.queue.clone();
    until("the dead letter", || !queue.dead_letters_blocking().is_empty()).await;
    let dead = queue.dead_letters_blocking();
    assert_eq!((dead[0].reason.as_str(), dead[0].receive_count), ("body is not a JSON object", 1));
    r.stop.cancel();
    r.done.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_releases_work_that_misses_the_deadline() {
    let config = ConsumerConfig { shutdown_deadline: Duration::from_millis(200), ..config() };
    let r = start(5, Duration::from_secs(60), |_| Disposition::Ack, config).await;
    let handler = r.handler.clone();
    until("the handler to start", || !handler.seen.lock().unwrap().is_empty()).await;
    r.stop.cancel();
    let stats = r.done.await.unwrap();
    // The handler (a minute of work) was stopped at the deadline, not waited for.
    assert_eq!(stats.released.load(Ordering::Relaxed), 1);
    assert_eq!(stats.acked.load(Ordering::Relaxed), 0);
    // Released, not lost: it is deliverable again at once.
    let again = r.queue.receive(1, Duration::ZERO, Duration::from_secs(30)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].receive_count, 2);
}

/// Blocking peeks for the `until` checks.
trait Peek {
    fn depth_blocking(&self) -> u64;
    fn dead_letters_blocking(&self) -> Vec<spectra_local::DeadLetter>;
}

impl Peek for SqliteQueue {
    fn depth_blocking(&self) -> u64 {
        tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(self.depth())).unwrap()
    }
    fn dead_letters_blocking(&self) -> Vec<spectra_local::DeadLetter> {
        tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(self.dead_letters())).unwrap()
    }
}

/// Remembers each delivery's receipt, then works for `work` and marks itself finished.
struct Slow {
    work: Duration,
    receipts: Mutex<Vec<String>>,
    finished: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl MessageHandler for Slow {
    async fn handle(&self, message: &ReceivedMessage) -> Disposition {
        self.receipts.lock().unwrap().push(message.receipt.clone());
        tokio::time::sleep(self.work).await;
        self.finished.store(true, Ordering::SeqCst);
        Disposition::Ack
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_taken_by_another_consumer_cancels_its_handler() {
    let dir = tempfile::tempdir().unwrap();
    let queue = SqliteQueue::open(&dir.path().join("q.sqlite"), "work", QueueConfig { max_receives: 5 }).await.unwrap();
    let handler = Arc::new(Slow {
        work: Duration::from_secs(4),
        receipts: Mutex::new(Vec::new()),
        finished: std::sync::atomic::AtomicBool::new(false),
    });
    let stop = CancellationToken::new();
    let config = ConsumerConfig { loops: 1, max_in_flight: 1, batch: 1, ..config() };
    let done = tokio::spawn(consumer::run(Arc::new(queue.clone()), handler.clone(), config, stop.clone()));
    queue.send(OutgoingMessage::new("{}")).await.unwrap();
    until("the delivery", || !handler.receipts.lock().unwrap().is_empty()).await;
    // Another consumer takes the message: it becomes visible, and is received elsewhere.
    let first = handler.receipts.lock().unwrap()[0].clone();
    queue.extend(&first, Duration::ZERO).await.unwrap();
    stop.cancel();
    let taken = queue.receive(1, Duration::from_secs(1), Duration::from_secs(60)).await.unwrap();
    assert_eq!(taken.len(), 1, "the other consumer has it");
    let stats = done.await.unwrap();
    assert!(!handler.finished.load(Ordering::SeqCst), "the handler ran on after the message was lost");
    assert_eq!(stats.lost.load(Ordering::Relaxed), 1);
    assert_eq!(stats.acked.load(Ordering::Relaxed), 0);
}
