//! Calls from concurrent handlers gathered into batch calls: lifecycle events into one
//! `PutEvents`, acknowledgements into one `DeleteMessageBatch`.
//!
//! Each handler publishes its job's transitions and acknowledges its messages on its own; on
//! AWS that was a request per transition and per message. Here callers hand their items to a
//! [`Coalescer`]; a flusher takes the first waiting item, waits up to the coalescer's *linger*
//! for company (not at all once the batch is full), and sends the batch as one call.
//!
//! - `bus`: [`CoalescedBus`]. Publishing returns at once (a lifecycle event never decides
//!   anything, and a synchronous query must not wait for one); events go out within
//!   [`EVENT_LINGER`], retried, and [`CoalescedBus::flush`] sends what is left at a stop.
//! - `acks`: [`CoalescedAcks`]. An acknowledgement waits for its batch's outcome, up to
//!   [`ACK_LINGER`]: the consumer settles a message after releasing its in-flight slot, so the
//!   wait holds no handler back, and one job's two messages (its submit, its statement's end)
//!   usually share one delete.

mod acks;
mod bus;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, TraceContextExt};
use tokio::sync::{Mutex, Notify, mpsc, oneshot};
use tracing::{Instrument, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::trace;

pub use acks::{ACK_LINGER, CoalescedAcks};
pub use bus::{CoalescedBus, EVENT_LINGER};

/// Flushers per coalescer: calls in flight at once.
const FLUSHERS: usize = 2;

/// An item, and where its outcome goes (nowhere for fire-and-forget items).
/// What could not be sent: the item and who to answer.
type Unsent<T, E> = (T, Option<oneshot::Sender<Result<(), E>>>);

/// An item, who to answer, and the trace context of the span that submitted it.
type Waiting<T, E> = (T, Option<oneshot::Sender<Result<(), E>>>, SpanContext);

/// Gathers items of concurrent callers into batch calls of at most `max` items.
pub struct Coalescer<T, E> {
    tx: mpsc::UnboundedSender<Waiting<T, E>>,
    /// Items handed in and not yet sent, and a wake-up for [`Coalescer::flush`].
    pending: Arc<(AtomicUsize, Notify)>,
    /// Flushes under way, and a wake-up for a batch lingering meanwhile: a flush sends at once.
    hurry: Arc<(AtomicUsize, Notify)>,
}

/// How a coalescer batches.
#[derive(Debug, Clone, Copy)]
pub struct Batching {
    /// What a batch call does (the name of its span).
    pub name: &'static str,
    /// Items per call at most.
    pub max: usize,
    /// How long the first item of a batch waits for company.
    pub linger: Duration,
}

impl<T: Send + 'static, E: Send + 'static> Coalescer<T, E> {
    /// Starts the flushers; `call` sends a batch and answers for each item, in order. They end
    /// when the coalescer is dropped and nothing waits. Must be called within a Tokio runtime.
    pub fn start<F, Fut>(batching: Batching, call: F) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<Result<(), E>>> + Send,
    {
        let (tx, rx) = mpsc::unbounded_channel::<Waiting<T, E>>();
        let (rx, call) = (Arc::new(Mutex::new(rx)), Arc::new(call));
        let pending = Arc::new((AtomicUsize::new(0), Notify::new()));
        let hurry = Arc::new((AtomicUsize::new(0), Notify::new()));
        for _ in 0..FLUSHERS {
            let (rx, call, pending) = (Arc::clone(&rx), Arc::clone(&call), Arc::clone(&pending));
            let hurry = Arc::clone(&hurry);
            tokio::spawn(async move {
                while let Some(batch) = next_batch(&rx, batching, &hurry).await {
                    let n = batch.len();
                    let mut callers = Vec::with_capacity(n);
                    let (items, answers): (Vec<T>, Vec<_>) = batch
                        .into_iter()
                        .map(|(item, answer, caller)| {
                            callers.push(caller);
                            (item, answer)
                        })
                        .unzip();
                    let results = match batch_span(batching.name, &callers) {
                        Some(span) => call(items).instrument(span).await,
                        None => call(items).await,
                    };
                    for (answer, result) in answers.into_iter().zip(results) {
                        if let Some(answer) = answer {
                            let _ = answer.send(result); // a caller that went away needs no answer
                        }
                    }
                    pending.0.fetch_sub(n, Ordering::SeqCst);
                    pending.1.notify_waiters();
                }
            });
        }
        Self { tx, pending, hurry }
    }

    fn send(&self, item: T, answer: Option<oneshot::Sender<Result<(), E>>>) -> Result<(), Unsent<T, E>> {
        self.pending.0.fetch_add(1, Ordering::SeqCst);
        let caller = trace::span_context_of(&tracing::Span::current());
        self.tx.send((item, answer, caller)).map_err(|e| {
            self.pending.0.fetch_sub(1, Ordering::SeqCst);
            (e.0.0, e.0.1)
        })
    }

    /// Sends `item` with whatever else is waiting; its own outcome. `gone` is the error when
    /// the flushers are gone (the runtime is shutting down).
    pub async fn submit(&self, item: T, gone: impl FnOnce() -> E) -> Result<(), E> {
        let (answer, outcome) = oneshot::channel();
        if self.send(item, Some(answer)).is_err() {
            return Err(gone());
        }
        outcome.await.unwrap_or_else(|_| Err(gone()))
    }

    /// Hands `item` over without waiting for its outcome; the item back when the flushers are
    /// gone.
    pub fn enqueue(&self, item: T) -> Result<(), T> {
        self.send(item, None).map_err(|(item, _)| item)
    }

    /// Sends what waits now, without its linger, and waits until every item handed in so far
    /// has been sent (a function invocation answers only then; a linger would add to each).
    pub async fn flush(&self) {
        self.hurry.0.fetch_add(1, Ordering::SeqCst);
        self.hurry.1.notify_waiters();
        self.sent().await;
        self.hurry.0.fetch_sub(1, Ordering::SeqCst);
    }

    async fn sent(&self) {
        loop {
            let sent = self.pending.1.notified();
            tokio::pin!(sent);
            sent.as_mut().enable();
            if self.pending.0.load(Ordering::SeqCst) == 0 {
                return;
            }
            sent.await;
        }
    }
}

/// The first waiting item (waiting for one), then what arrives within the linger, up to `max`;
/// the linger ends early when a flush is (or gets) under way.
async fn next_batch<T>(
    rx: &Mutex<mpsc::UnboundedReceiver<T>>,
    batching: Batching,
    hurry: &(AtomicUsize, Notify),
) -> Option<Vec<T>> {
    let mut rx = rx.lock().await;
    let first = rx.recv().await?;
    let until = tokio::time::Instant::now() + batching.linger;
    let hurried = hurry.1.notified();
    tokio::pin!(hurried);
    hurried.as_mut().enable();
    let mut batch = vec![first];
    while batch.len() < batching.max.max(1) {
        match rx.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) if hurry.0.load(Ordering::SeqCst) > 0 => break,
            Err(_) => tokio::select! {
                received = tokio::time::timeout_at(until, rx.recv()) => match received {
                    Ok(Some(item)) => batch.push(item),
                    Ok(None) | Err(_) => break,
                },
                _ = hurried.as_mut() => break,
            },
        }
    }
    Some(batch)
}

/// The span a batch call runs in when traces are exported: a child of the first submitter's
/// span, linked to the others', so that the one call that carried several jobs' items (a
/// `PutEvents` of lifecycle events, a `DeleteMessageBatch`) shows in each job's trace.
fn batch_span(name: &'static str, callers: &[SpanContext]) -> Option<Span> {
    let mut valid = callers.iter().filter(|c| c.is_valid());
    let first = valid.next()?;
    let span = tracing::info_span!("batch", otel.name = name, spectra.batch.size = callers.len());
    let _ = span.set_parent(Context::new().with_remote_span_context(first.clone()));
    for other in valid {
        span.add_link(other.clone());
    }
    Some(span)
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
        let coalescer = Arc::new(Coalescer::start(
            Batching { name: "test", max: 10, linger: Duration::ZERO },
            move |items: Vec<u32>| {
                counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    items.iter().map(|i| if i % 2 == 1 { Err(*i) } else { Ok(()) }).collect()
                }
            },
        ));
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
        let coalescer = Coalescer::start(
            Batching { name: "test", max: 10, linger: Duration::ZERO },
            |items: Vec<u32>| async move { items.iter().map(|_| Ok::<(), ()>(())).collect() },
        );
        assert_eq!(coalescer.submit(7, || ()).await, Ok(()));
        assert_eq!(coalescer.submit(8, || ()).await, Ok(()));
    }

    #[tokio::test]
    async fn items_within_the_linger_share_a_call_and_flush_waits_for_them() {
        let batches = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::clone(&batches);
        let linger = Duration::from_secs(3600);
        let coalescer = Coalescer::start(Batching { name: "test", max: 3, linger }, move |items: Vec<u32>| {
            let n = items.len();
            seen.lock().unwrap().push(items);
            async move { (0..n).map(|_| Ok::<(), ()>(())).collect() }
        });
        // A full batch does not wait out the linger (an hour); fire-and-forget items are sent
        // by the time `flush` returns.
        for i in 0..3 {
            coalescer.enqueue(i).unwrap();
        }
        let flushed = tokio::time::timeout(Duration::from_secs(60), coalescer.flush()).await;
        assert!(flushed.is_ok(), "a full batch waited for its linger");
        assert_eq!(*batches.lock().unwrap(), vec![vec![0, 1, 2]]);
    }

    #[tokio::test]
    async fn flush_sends_a_lingering_batch_at_once_and_batching_goes_on_after() {
        let batches = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::clone(&batches);
        let linger = Duration::from_secs(3600);
        let coalescer = Coalescer::start(Batching { name: "test", max: 10, linger }, move |items: Vec<u32>| {
            let n = items.len();
            seen.lock().unwrap().push(items);
            async move { (0..n).map(|_| Ok::<(), ()>(())).collect() }
        });
        coalescer.enqueue(1).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await; // taken, and lingering for an hour
        let flushed = tokio::time::timeout(Duration::from_secs(60), coalescer.flush()).await;
        assert!(flushed.is_ok(), "flush waited out the linger");
        coalescer.enqueue(2).unwrap();
        coalescer.enqueue(3).unwrap();
        let flushed = tokio::time::timeout(Duration::from_secs(60), coalescer.flush()).await;
        assert!(flushed.is_ok(), "the second flush waited out the linger");
        assert_eq!(*batches.lock().unwrap(), vec![vec![1], vec![2, 3]]);
    }
}
