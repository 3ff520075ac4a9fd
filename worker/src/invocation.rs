//! A batch of messages handed to a function invocation — AWS Lambda's SQS event source mapping
//! — run through the same handlers as the consumer loop and settled the way a function answers.
//!
//! The mapping received the messages and deletes the ones the function does not report as
//! failed, so each [`Disposition`] maps to Lambda's semantics:
//! - `Ack` → done (the mapping deletes it).
//! - `Retry` → its visibility is set to the consumer's backoff and it is reported failed: it
//!   comes back after the backoff (not at once, so the function does not spin on it), and the
//!   failed delivery counts towards the queue's dead-letter limit as in the consumer.
//! - `Defer` (throttling) → a delayed copy is sent and the original reported done (the mapping
//!   deletes it): throttling never counts towards the dead-letter limit.
//! - `DeadLetter` → moved to the dead-letter queue with its reason, reported done.
//! - A handler still running when the invocation's time is nearly up ([`SETTLE_MARGIN`] before
//!   the deadline) is stopped and its message retried as above (hidden for the backoff,
//!   reported failed). Handlers are level-triggered, so a stopped one leaves nothing that a
//!   redelivery does not finish; with less than the margin given, none is started.
//!
//! When settling itself fails (the queue unreachable), the message is reported failed and
//! comes back after its visibility timeout: nothing is dropped.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::SpanContext;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

use crate::consumer::{self, ConsumerConfig};
use crate::handler::{Disposition, MessageHandler};
use crate::messaging_spans;
use crate::ports::{Queue, QueueError, ReceivedMessage};

/// The time kept back from the handlers at the end of an invocation: settling the messages
/// (a visibility change, a send to the dead-letter queue) and answering the Runtime API.
pub const SETTLE_MARGIN: Duration = Duration::from_secs(2);

/// Why a message is retried when the invocation ran out of time before its handler finished
/// (or, with less than [`SETTLE_MARGIN`] given, before it started).
const OUT_OF_TIME: &str = "the invocation's time ran out before the message was handled";

/// The messages of a batch the function reports as failed (their message ids), in the order
/// they came.
pub type Failed = Vec<String>;

/// Runs every message of the batch concurrently under `handler` until `deadline` (less
/// [`SETTLE_MARGIN`]) and settles each as the module says; returns the ids of the failed ones.
/// `invocation` is the span context each message's process span links to.
pub async fn handle_batch(
    queue: Arc<dyn Queue>,
    handler: Arc<dyn MessageHandler>,
    config: &ConsumerConfig,
    messages: Vec<ReceivedMessage>,
    deadline: Instant,
    invocation: &SpanContext,
) -> Failed {
    crate::metrics::received(messages.len());
    let order: Vec<String> = messages.iter().map(|m| m.id.clone()).collect();
    let mut running = JoinSet::new();
    let mut tasks = HashMap::new();
    for message in messages {
        // The mapping's receive set the message's visibility to at least the function's
        // timeout (AWS requires it), so this receipt owns the message until the deadline.
        queue.adopt(&message, deadline.saturating_duration_since(Instant::now()));
        let span = messaging_spans::process(queue.as_ref(), &message, invocation);
        let (queue, handler, config) = (queue.clone(), handler.clone(), config.clone());
        let id = message.id.clone();
        let task = running.spawn(
            async move { settle(queue.as_ref(), handler.as_ref(), &config, &message, deadline).await }.instrument(span),
        );
        tasks.insert(task.id(), id);
    }
    let mut failed = HashSet::new();
    while let Some(joined) = running.join_next_with_id().await {
        match joined {
            Ok((task, true)) => failed.extend(tasks.remove(&task)),
            Ok((_, false)) => {}
            // A panicked handler: its message comes back (and, if it always panics, ends in
            // the dead-letter queue through the receive limit).
            Err(e) => {
                tracing::error!(error = %e, "a message's handler panicked; reported failed");
                failed.extend(tasks.remove(&e.id()));
            }
        }
    }
    order.into_iter().filter(|id| failed.contains(id)).collect()
}

/// Handles one message and settles it by `deadline`; whether the function must report it
/// failed. A settling call that has not answered by the deadline leaves the message failed: it
/// comes back after its visibility timeout.
async fn settle(
    queue: &dyn Queue,
    handler: &dyn MessageHandler,
    config: &ConsumerConfig,
    message: &ReceivedMessage,
    deadline: Instant,
) -> bool {
    let handlers_until = deadline.checked_sub(SETTLE_MARGIN).unwrap_or_else(Instant::now);
    let disposition = if Instant::now() < handlers_until {
        crate::metrics::in_flight(1);
        let ran = tokio::time::timeout_at(handlers_until, handler.handle(message)).await;
        crate::metrics::in_flight(-1);
        ran.unwrap_or_else(|_| Disposition::Retry(OUT_OF_TIME.into()))
    } else {
        Disposition::Retry(OUT_OF_TIME.into())
    };
    match tokio::time::timeout_at(deadline, apply(queue, config, message, disposition)).await {
        Ok(failed) => failed,
        Err(_) => {
            tracing::warn!(id = %message.id, "settling the message did not finish by the deadline; reported failed");
            true
        }
    }
}

/// Does what the disposition says with the message; whether it is reported failed.
async fn apply(
    queue: &dyn Queue,
    config: &ConsumerConfig,
    message: &ReceivedMessage,
    disposition: Disposition,
) -> bool {
    let (how, settled, failed): (&'static str, Result<(), QueueError>, bool) = match disposition {
        Disposition::Ack => ("acked", Ok(()), false),
        Disposition::Retry(reason) => {
            let delay = consumer::backoff(config, message.receive_count);
            tracing::info!(id = %message.id, %reason, ?delay, deliveries = message.receive_count, "retrying later");
            ("retried", queue.extend(&message.receipt, delay).await, true)
        }
        Disposition::Defer { delay, reason } => {
            tracing::info!(id = %message.id, %reason, ?delay, "deferred");
            return defer(queue, message, delay).await;
        }
        Disposition::DeadLetter(reason) => {
            tracing::error!(id = %message.id, %reason, "dead-lettering a message");
            ("dead_lettered", queue.dead_letter(&message.receipt, &reason).await, false)
        }
    };
    match settled {
        Ok(()) => {
            crate::metrics::message_settled(how);
            failed
        }
        Err(e) => {
            tracing::warn!(id = %message.id, error = %e, "could not settle a message; reported failed");
            true
        }
    }
}

/// A delayed copy, the original reported done (the mapping deletes it): a deferral does not
/// count as a failed delivery. If the copy cannot be sent, the original is hidden for the delay
/// and reported failed instead — it comes back, never lost. Whether it is reported failed.
async fn defer(queue: &dyn Queue, message: &ReceivedMessage, delay: Duration) -> bool {
    let copy = consumer::deferred_copy(message, delay);
    let hide = copy.delay;
    match queue.send(copy).await {
        Ok(_) => {
            crate::metrics::message_settled("deferred");
            false
        }
        Err(e) => {
            tracing::warn!(id = %message.id, error = %e, "could not send a deferred copy; reported failed");
            if let Err(e) = queue.extend(&message.receipt, hide).await {
                tracing::warn!(id = %message.id, error = %e, "could not hide the deferred message either");
            }
            true
        }
    }
}
