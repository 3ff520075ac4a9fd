//! The `Queue` port on Amazon SQS.
//!
//! SQS gives at-least-once delivery, visibility timeouts, long polling and redrive to a
//! dead-letter queue natively; this adapter maps the port onto it. Two things SQS lacks:
//! - a "dead-letter now" call: [`Queue::dead_letter`] sends the body to the queue's DLQ (found
//!   from its `RedrivePolicy`) with the reason as an attribute, then deletes the original;
//! - the body behind a receipt handle: the adapter remembers what it handed out, per process,
//!   until the message is acknowledged, released or dead-lettered.
//!
//! It also drops a delivery of a message this process already holds under another receipt
//! (standard queues may deliver duplicates; moto's server does so under concurrent receives),
//! so two of this process's handlers never work on one message at once.
//!
//! It also remembers until when each receipt owns its message. Once that has passed, another
//! consumer may hold the message, so `extend` reports [`QueueError::LostOwnership`] without
//! asking SQS: real SQS still accepts an old receipt until the message is received again,
//! and moto accepts it even after, so only this local check keeps two workers from both
//! believing they own one message.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageAttributeValue, MessageSystemAttributeName, SendMessageBatchRequestEntry,
};

use super::{Failure, classify};
use spectra_worker::ports::{
    AckOutcome, MAX_RECEIVE_BATCH, OutgoingMessage, Queue, QueueError, ReceivedMessage, check_receive_batch,
};

/// The attribute a dead-lettered message carries its reason in.
pub const DEAD_LETTER_REASON: &str = "spectra-dead-letter-reason";
/// SQS's longest long poll.
const MAX_WAIT: Duration = Duration::from_secs(20);
/// SQS's longest visibility timeout; held bodies older than this cannot be owned any more.
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 3600);
/// SQS's longest delivery delay.
const MAX_DELAY: Duration = Duration::from_secs(900);
/// Error codes that mean "this receipt no longer owns the message".
const LOST: &[&str] = &["ReceiptHandleIsInvalid", "MessageNotInflight", "InvalidParameterValue"];

/// What a held message was, so it can be dead-lettered by receipt.
struct Held {
    /// The message id, to recognise a second delivery of a message still held.
    id: String,
    body: String,
    attributes: BTreeMap<String, String>,
    /// When this receipt's visibility runs out.
    until: Instant,
}

/// A queue on SQS, with its dead-letter queue.
#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
    dead_letter_url: String,
    held: Arc<Mutex<HashMap<String, Held>>>,
}

fn unavailable_or_invalid(f: Failure) -> QueueError {
    f.into_error(QueueError::Unavailable, QueueError::Invalid)
}

/// Whole seconds for SQS, rounding up so a short timeout never becomes zero.
fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_millis().div_ceil(1000)).unwrap_or(i32::MAX)
}

impl SqsQueue {
    /// The queue at `url`; its dead-letter queue is read from its `RedrivePolicy`, which must
    /// exist (a work queue without one would retry a poison message forever).
    pub async fn new(client: Client, url: impl Into<String>) -> Result<Self, QueueError> {
        let url = url.into();
        let attributes = client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .map_err(|e| unavailable_or_invalid(classify(&e)))?;
        let policy = attributes
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy))
            .ok_or_else(|| QueueError::Invalid(format!("queue {url} has no RedrivePolicy (dead-letter queue)")))?;
        let arn = serde_json::from_str::<serde_json::Value>(policy)
            .ok()
            .and_then(|p| p["deadLetterTargetArn"].as_str().map(str::to_owned))
            .ok_or_else(|| QueueError::Invalid(format!("queue {url} has an unreadable RedrivePolicy: {policy}")))?;
        let dead_letter_url = dead_letter_url(&client, &arn).await?;
        Ok(Self { client, url, dead_letter_url, held: Arc::default() })
    }

    /// The work queue's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The dead-letter queue's URL.
    pub fn dead_letter_url(&self) -> &str {
        &self.dead_letter_url
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        // A poisoned lock only means another task panicked mid-insert; the map is still usable.
        self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn forget(&self, receipts: &[String]) {
        let mut held = self.held();
        for r in receipts {
            held.remove(r);
        }
    }
}

/// The URL of the queue named by an ARN (`arn:aws:sqs:region:account:name`).
async fn dead_letter_url(client: &Client, arn: &str) -> Result<String, QueueError> {
    let mut parts = arn.split(':');
    let (Some(_), Some(_), Some(_), Some(_), Some(account), Some(name)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(QueueError::Invalid(format!("not an SQS queue ARN: {arn}")));
    };
    let out = client
        .get_queue_url()
        .queue_name(name)
        .queue_owner_aws_account_id(account)
        .send()
        .await
        .map_err(|e| unavailable_or_invalid(classify(&e)))?;
    out.queue_url().map(str::to_owned).ok_or_else(|| QueueError::Invalid(format!("no URL for {arn}")))
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, QueueError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| QueueError::Invalid(e.to_string()))
}

#[async_trait]
impl Queue for SqsQueue {
    /// The queue's name: the last segment of its URL.
    fn destination(&self) -> &str {
        self.url.rsplit('/').next().unwrap_or(&self.url)
    }

    fn system(&self) -> &'static str {
        "aws_sqs"
    }

    async fn send(&self, message: OutgoingMessage) -> Result<String, QueueError> {
        if message.delay > MAX_DELAY {
            return Err(QueueError::Invalid(format!("delay {:?} is over SQS's 15 minutes", message.delay)));
        }
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(message.body)
            .delay_seconds(seconds(message.delay));
        for (name, value) in &message.attributes {
            request = request.message_attributes(name, string_attribute(value)?);
        }
        let out = request.send().await.map_err(|e| unavailable_or_invalid(classify(&e)))?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }

    /// `SendMessageBatch` in tens (SQS's limit); an entry SQS refuses fails the call.
    async fn send_batch(&self, messages: Vec<OutgoingMessage>) -> Result<usize, QueueError> {
        let n = messages.len();
        let mut entries = Vec::with_capacity(n);
        for (i, message) in messages.into_iter().enumerate() {
            if message.delay > MAX_DELAY {
                return Err(QueueError::Invalid(format!("delay {:?} is over SQS's 15 minutes", message.delay)));
            }
            let mut entry = SendMessageBatchRequestEntry::builder()
                .id(format!("m{i}"))
                .message_body(message.body)
                .delay_seconds(seconds(message.delay));
            for (name, value) in &message.attributes {
                entry = entry.message_attributes(name, string_attribute(value)?);
            }
            entries.push(entry.build().map_err(|e| QueueError::Invalid(e.to_string()))?);
        }
        for chunk in entries.chunks(10) {
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| unavailable_or_invalid(classify(&e)))?;
            if let Some(failed) = out.failed().first() {
                return Err(QueueError::Unavailable(format!(
                    "SQS refused a batched message: {}",
                    failed.message().unwrap_or(failed.code())
                )));
            }
        }
        Ok(n)
    }

    async fn receive(
        &self,
        max: usize,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        check_receive_batch(max)?;
        if visibility > MAX_VISIBILITY {
            return Err(QueueError::Invalid(format!("visibility {visibility:?} is over SQS's 12 hours")));
        }
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(i32::try_from(max).unwrap_or(10))
            .wait_time_seconds(seconds(wait.min(MAX_WAIT)))
            .visibility_timeout(seconds(visibility))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| unavailable_or_invalid(classify(&e)))?;
        let now = Instant::now();
        let mut received = Vec::new();
        let mut held = self.held();
        held.retain(|_, h| now.saturating_duration_since(h.until) < MAX_VISIBILITY);
        for m in out.messages.unwrap_or_default() {
            let (Some(id), Some(receipt)) = (m.message_id.clone(), m.receipt_handle.clone()) else { continue };
            if held.values().any(|h| h.id == id && h.until > now) {
                tracing::debug!(message = %id, "a duplicate delivery of a message this process holds; skipped");
                continue;
            }
            let attributes: BTreeMap<String, String> = m
                .message_attributes
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(k, v)| v.string_value.map(|s| (k, s)))
                .collect();
            let receive_count = m
                .attributes
                .as_ref()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            let body = m.body.unwrap_or_default();
            held.insert(
                receipt.clone(),
                Held { id: id.clone(), body: body.clone(), attributes: attributes.clone(), until: now + visibility },
            );
            received.push(ReceivedMessage { id, receipt, body, attributes, receive_count });
        }
        Ok(received)
    }

    async fn ack(&self, receipts: &[String]) -> Result<AckOutcome, QueueError> {
        let mut outcome = AckOutcome::default();
        for chunk in receipts.chunks(MAX_RECEIVE_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(r).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| QueueError::Invalid(e.to_string()))?;
            let out = self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| unavailable_or_invalid(classify(&e)))?;
            for failed in out.failed() {
                let Some(receipt) = failed.id().parse::<usize>().ok().and_then(|i| chunk.get(i)) else { continue };
                let message = format!("{}: {}", failed.code(), failed.message().unwrap_or_default());
                let error = if failed.sender_fault() {
                    if LOST.contains(&failed.code()) { QueueError::LostOwnership } else { QueueError::Invalid(message) }
                } else {
                    QueueError::Unavailable(message)
                };
                outcome.failed.push((receipt.clone(), error));
            }
            self.forget(chunk);
        }
        Ok(outcome)
    }

    async fn extend(&self, receipt: &str, visibility: Duration) -> Result<(), QueueError> {
        if visibility > MAX_VISIBILITY {
            return Err(QueueError::Invalid(format!("visibility {visibility:?} is over SQS's 12 hours")));
        }
        let now = Instant::now();
        if self.held().get(receipt).is_some_and(|h| h.until <= now) {
            self.forget(&[receipt.to_owned()]);
            return Err(QueueError::LostOwnership);
        }
        let result = self
            .client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds(visibility))
            .send()
            .await;
        if visibility.is_zero() {
            self.forget(&[receipt.to_owned()]);
        }
        match result {
            Ok(_) => {
                if let Some(h) = self.held().get_mut(receipt) {
                    h.until = now + visibility;
                }
                Ok(())
            }
            Err(e) => {
                let f = classify(&e);
                if LOST.contains(&f.code.as_str()) {
                    Err(QueueError::LostOwnership)
                } else {
                    Err(unavailable_or_invalid(f))
                }
            }
        }
    }

    /// Visible, in flight (someone is reading them) and delayed: every message the DLQ holds.
    async fn dead_letter_count(&self) -> Result<u64, QueueError> {
        use aws_sdk_sqs::types::QueueAttributeName as Name;
        let counted = [
            Name::ApproximateNumberOfMessages,
            Name::ApproximateNumberOfMessagesNotVisible,
            Name::ApproximateNumberOfMessagesDelayed,
        ];
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.dead_letter_url)
            .set_attribute_names(Some(counted.to_vec()))
            .send()
            .await
            .map_err(|e| unavailable_or_invalid(classify(&e)))?;
        let attributes = out.attributes();
        let count = |name: &Name| attributes.and_then(|a| a.get(name)).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
        Ok(counted.iter().map(count).sum())
    }

    /// Held like a received message, so that `dead_letter` finds its body by receipt and
    /// `extend` knows until when the receipt owns it.
    fn adopt(&self, message: &ReceivedMessage, visibility: Duration) {
        let held = Held {
            id: message.id.clone(),
            body: message.body.clone(),
            attributes: message.attributes.clone(),
            until: Instant::now() + visibility.min(MAX_VISIBILITY),
        };
        self.held().insert(message.receipt.clone(), held);
    }

    async fn dead_letter(&self, receipt: &str, reason: &str) -> Result<(), QueueError> {
        let (body, mut attributes) = {
            let held = self.held();
            let h = held.get(receipt).filter(|h| h.until > Instant::now()).ok_or(QueueError::LostOwnership)?;
            (h.body.clone(), h.attributes.clone())
        };
        attributes.insert(DEAD_LETTER_REASON.to_owned(), reason.chars().take(1024).collect());
        let mut request = self.client.send_message().queue_url(&self.dead_letter_url).message_body(body);
        for (name, value) in &attributes {
            request = request.message_attributes(name, string_attribute(value)?);
        }
        request.send().await.map_err(|e| unavailable_or_invalid(classify(&e)))?;
        // Sent first, deleted second: a crash in between leaves a duplicate, never a loss.
        let outcome = self.ack(&[receipt.to_owned()]).await?;
        match outcome.failed.into_iter().next() {
            Some((_, error)) => Err(error),
            None => Ok(()),
        }
    }
}
