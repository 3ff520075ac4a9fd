//! The consumer loop: receive from the work queue, hand each message to the handler, and
//! settle it as the handler says — ack, retry with backoff, defer, or dead-letter.
//!
//! - **Bounded in flight.** A permit is taken *before* each receive, so the process never holds
//!   more unhandled messages than it can work on (held messages would only time out). A handled
//!   message gives its permit back before it is settled: its acknowledgement may wait a moment
//!   to share a batch call (`coalesce`).
//! - **Heartbeat.** While a handler runs, the message's visibility is extended every half
//!   timeout, so a long handler keeps its message.
//! - **Backoff.** A retried message becomes visible again after `base × 2^(deliveries−1)`
//!   (capped), with jitter, through its visibility timeout; the queue's receive limit sends a
//!   message that never succeeds to the dead-letter queue.
//! - **Shutdown.** On cancel the loops stop receiving; handlers get until the deadline to
//!   finish, then are stopped and their messages released for immediate redelivery. Nothing is
//!   acknowledged that was not handled, so nothing is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::coalesce::{ACK_LINGER, CoalescedAcks};
use crate::handler::{Disposition, MessageHandler};
use crate::messaging_spans;
use crate::ports::{MAX_RECEIVE_BATCH, OutgoingMessage, Queue, QueueError, ReceivedMessage};

/// SQS's longest message delay; deferrals are capped to it.
const MAX_DELAY: Duration = Duration::from_secs(15 * 60);

/// How the consumer runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// Receive loops per process.
    pub loops: usize,
    /// Messages held at once by this process.
    pub max_in_flight: usize,
    /// Messages per receive (1..=10).
    pub batch: usize,
    /// Long-poll wait per receive.
    pub wait: Duration,
    /// Visibility timeout of received messages.
    pub visibility: Duration,
    /// First retry delay.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// How long in-flight handlers may run on after shutdown begins.
    pub shutdown_deadline: Duration,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            loops: 2,
            max_in_flight: 16,
            batch: MAX_RECEIVE_BATCH,
            wait: Duration::from_secs(20),
            visibility: Duration::from_secs(30),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(5 * 60),
            shutdown_deadline: Duration::from_secs(25),
        }
    }
}

/// What the consumer did, for logs and benchmarks.
#[derive(Debug, Default)]
pub struct ConsumerStats {
    /// Messages acknowledged.
    pub acked: AtomicU64,
    /// Messages put back for a retry.
    pub retried: AtomicU64,
    /// Messages deferred (backpressure).
    pub deferred: AtomicU64,
    /// Messages dead-lettered.
    pub dead_lettered: AtomicU64,
    /// Messages released unhandled at shutdown.
    pub released: AtomicU64,
    /// Messages whose handler was cancelled because another consumer had taken them.
    pub lost: AtomicU64,
}

/// The delay before the `deliveries`-th retry: exponential from `base`, capped at `max`, with
/// the upper half jittered so that failures in step do not retry in step.
pub fn backoff(config: &ConsumerConfig, deliveries: u32) -> Duration {
    let exp = config.retry_base.saturating_mul(2u32.saturating_pow(deliveries.saturating_sub(1).min(20)));
    let capped = exp.min(config.retry_max);
    let half = capped / 2;
    half + Duration::from_millis(fastrand::u64(0..=half.as_millis() as u64))
}

/// Runs the consumer until `shutdown` is cancelled and in-flight work has settled.
pub async fn run(
    queue: Arc<dyn Queue>,
    handler: Arc<dyn MessageHandler>,
    config: ConsumerConfig,
    shutdown: CancellationToken,
) -> Arc<ConsumerStats> {
    let config = Arc::new(ConsumerConfig { batch: config.batch.clamp(1, MAX_RECEIVE_BATCH), ..config });
    // Handlers acknowledge one message each; concurrent ones share a batch call.
    let queue: Arc<dyn Queue> = Arc::new(CoalescedAcks::new(queue, ACK_LINGER));
    let stats = Arc::new(ConsumerStats::default());
    let permits = Arc::new(Semaphore::new(config.max_in_flight.max(1)));
    let tracker = TaskTracker::new();
    let hard_stop = CancellationToken::new();
    let loops: Vec<_> = (0..config.loops.max(1))
        .map(|_| {
            let ctx = Ctx {
                queue: queue.clone(),
                handler: handler.clone(),
                config: config.clone(),
                stats: stats.clone(),
                hard_stop: hard_stop.clone(),
            };
            tokio::spawn(receive_loop(ctx, permits.clone(), tracker.clone(), shutdown.clone()))
        })
        .collect();
    for l in loops {
        if let Err(e) = l.await {
            tracing::error!(error = %e, "a receive loop panicked");
        }
    }
    tracker.close();
    if tokio::time::timeout(config.shutdown_deadline, tracker.wait()).await.is_err() {
        tracing::warn!(deadline = ?config.shutdown_deadline, "handlers still running at the deadline; releasing");
        hard_stop.cancel();
        tracker.wait().await;
    }
    stats
}

#[derive(Clone)]
struct Ctx {
    queue: Arc<dyn Queue>,
    handler: Arc<dyn MessageHandler>,
    config: Arc<ConsumerConfig>,
    stats: Arc<ConsumerStats>,
    hard_stop: CancellationToken,
}

async fn receive_loop(ctx: Ctx, permits: Arc<Semaphore>, tracker: TaskTracker, shutdown: CancellationToken) {
    let mut failures = 0u32;
    loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => return,
            permit = permits.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => return },
        };
        let mut held = vec![first];
        while held.len() < ctx.config.batch {
            match permits.clone().try_acquire_owned() {
                Ok(p) => held.push(p),
                Err(_) => break,
            }
        }
        let started = SystemTime::now();
        let received = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = ctx.queue.receive(held.len(), ctx.config.wait, ctx.config.visibility) => r,
        };
        match received {
            Ok(messages) => {
                failures = 0;
                crate::metrics::received(messages.len());
                let receive = messaging_spans::received(ctx.queue.as_ref(), messages.len(), started);
                for (message, permit) in messages.into_iter().zip(held.drain(..)) {
                    let ctx = ctx.clone();
                    let span = messaging_spans::process(ctx.queue.as_ref(), &message, &receive);
                    tracker.spawn(async move { settle(&ctx, message, permit).await }.instrument(span));
                }
            }
            Err(e) => {
                failures += 1;
                let pause = backoff(&ctx.config, failures);
                tracing::warn!(error = %e, ?pause, "receive failed");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}

/// How a handler's run ended.
enum Ran {
    /// It returned what to do with the message.
    Done(Disposition),
    /// The hard stop came first: the message goes back unhandled.
    Stopped,
    /// The heartbeat found the message taken by another consumer: the handler was cancelled
    /// (the `Queue` port's rule: a lost message is not ours to act on).
    Lost,
}

/// Keeps the message hidden while its handler runs; cancels `lost` when the queue says the
/// message is someone else's now. Each extend is bounded, so a hung queue cannot stall it.
fn heartbeat(queue: Arc<dyn Queue>, receipt: String, visibility: Duration, lost: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(visibility / 2).await;
            match tokio::time::timeout(visibility / 4, queue.extend(&receipt, visibility)).await {
                Ok(Ok(())) => {}
                Ok(Err(QueueError::LostOwnership)) => {
                    tracing::warn!("lost the message to its visibility timeout; cancelling its handler");
                    lost.cancel();
                    return;
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "could not extend the message's visibility"),
                Err(_) => tracing::warn!("extending the message's visibility timed out"),
            }
        }
    })
}

/// Handles one message under a visibility heartbeat and settles it; counts it once settled.
/// The in-flight slot (`permit`) is given back once the handler has run: settling (a batched
/// acknowledgement may wait for company) holds no handler back.
async fn settle(ctx: &Ctx, message: ReceivedMessage, permit: OwnedSemaphorePermit) {
    crate::metrics::in_flight(1);
    let lost = CancellationToken::new();
    let beat = heartbeat(ctx.queue.clone(), message.receipt.clone(), ctx.config.visibility, lost.clone());
    let ran = tokio::select! {
        d = ctx.handler.handle(&message) => Ran::Done(d),
        _ = ctx.hard_stop.cancelled() => Ran::Stopped,
        _ = lost.cancelled() => Ran::Lost,
    };
    beat.abort();
    drop(permit);
    crate::metrics::in_flight(-1);
    let queue = &ctx.queue;
    let (counter, how, outcome) = match ran {
        Ran::Lost => (&ctx.stats.lost, "lost", Ok(())),
        Ran::Stopped => (&ctx.stats.released, "released", queue.extend(&message.receipt, Duration::ZERO).await),
        Ran::Done(Disposition::Ack) => (&ctx.stats.acked, "acked", ack(queue.as_ref(), &message.receipt).await),
        Ran::Done(Disposition::Retry(reason)) => {
            let delay = backoff(&ctx.config, message.receive_count);
            tracing::info!(id = %message.id, %reason, ?delay, deliveries = message.receive_count, "retrying later");
            (&ctx.stats.retried, "retried", queue.extend(&message.receipt, delay).await)
        }
        Ran::Done(Disposition::Defer { delay, reason }) => {
            tracing::info!(id = %message.id, %reason, ?delay, "deferred");
            (&ctx.stats.deferred, "deferred", defer(queue.as_ref(), &message, delay).await)
        }
        Ran::Done(Disposition::DeadLetter(reason)) => {
            tracing::error!(id = %message.id, %reason, "dead-lettering a message");
            (&ctx.stats.dead_lettered, "dead_lettered", queue.dead_letter(&message.receipt, &reason).await)
        }
    };
    match outcome {
        Ok(()) => {
            counter.fetch_add(1, Ordering::Relaxed);
            crate::metrics::message_settled(how);
        }
        // The message stays in the queue and comes back after its visibility timeout.
        Err(e) => tracing::warn!(id = %message.id, error = %e, "could not settle a message"),
    }
}

/// A fresh copy, delayed, then the original acked: a deferral does not count as a failed
/// delivery. If the copy cannot be sent, the visibility timeout brings the original back.
async fn defer(queue: &dyn Queue, message: &ReceivedMessage, delay: Duration) -> Result<(), QueueError> {
    match queue.send(deferred_copy(message, delay)).await {
        Ok(_) => ack(queue, &message.receipt).await,
        Err(_) => queue.extend(&message.receipt, delay.min(MAX_DELAY)).await,
    }
}

/// The copy a deferral sends: the same body and attributes, delayed by `delay` (capped to
/// SQS's longest delay), a first delivery again.
pub(crate) fn deferred_copy(message: &ReceivedMessage, delay: Duration) -> OutgoingMessage {
    OutgoingMessage { body: message.body.clone(), attributes: message.attributes.clone(), delay: delay.min(MAX_DELAY) }
}

async fn ack(queue: &dyn Queue, receipt: &str) -> Result<(), QueueError> {
    let outcome = queue.ack(&[receipt.to_owned()]).await?;
    match outcome.failed.into_iter().next() {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let config = ConsumerConfig {
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            ..ConsumerConfig::default()
        };
        for _ in 0..100 {
            let first = backoff(&config, 1);
            assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1), "{first:?}");
            let fourth = backoff(&config, 4);
            assert!(fourth >= Duration::from_secs(4) && fourth <= Duration::from_secs(8), "{fourth:?}");
            let late = backoff(&config, 40);
            assert!(late >= Duration::from_secs(30) && late <= Duration::from_secs(60), "{late:?}");
        }
    }
}
