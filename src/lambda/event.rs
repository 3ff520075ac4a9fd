//! What a Lambda invocation of Spectra's function carries: an SQS batch from the work queue's
//! event source mapping, or an EventBridge schedule's tick (the reconciler's).

use std::collections::BTreeMap;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use serde_json::Value;
use spectra_worker::ports::ReceivedMessage;
use thiserror::Error;

/// An invocation's payload, recognised.
#[derive(Debug)]
pub enum Invocation {
    /// Messages of the work queue, to handle and report per message.
    Batch(Vec<ReceivedMessage>),
    /// A scheduled tick: one reconciler sweep.
    Schedule,
}

/// Why a payload is not one the function handles. The invocation then fails as a whole, and
/// Lambda retries it (an SQS batch comes back; its messages end in the dead-letter queue
/// after the queue's receive limit).
#[derive(Debug, Error)]
pub enum PayloadError {
    /// Neither an SQS batch nor an EventBridge event.
    #[error("not an SQS batch (Records) nor an EventBridge scheduled event (detail-type): {0}")]
    Unknown(String),
    /// An SQS batch that does not parse.
    #[error("an SQS batch that does not parse: {0}")]
    Batch(serde_json::Error),
    /// A record from another source than SQS.
    #[error("record {index} comes from {source_name}, not aws:sqs")]
    NotSqs {
        /// Its place in the batch.
        index: usize,
        /// Its `eventSource`.
        source_name: String,
    },
    /// A record without the message id or receipt handle every SQS record has.
    #[error("record {0} has no messageId or receiptHandle")]
    Incomplete(usize),
    /// An EventBridge event that is not a schedule's.
    #[error("an EventBridge event of detail-type {0:?}, not a schedule's (\"Scheduled Event\")")]
    NotScheduled(String),
}

/// EventBridge's detail-type for rule schedules and EventBridge Scheduler.
const SCHEDULED: &str = "Scheduled Event";

/// Recognises a payload.
pub fn parse(payload: Value) -> Result<Invocation, PayloadError> {
    if payload.get("Records").is_some() {
        let batch: SqsEvent = serde_json::from_value(payload).map_err(PayloadError::Batch)?;
        let messages =
            batch.records.into_iter().enumerate().map(|(i, record)| message(i, record)).collect::<Result<_, _>>()?;
        return Ok(Invocation::Batch(messages));
    }
    if payload.get("detail-type").is_some() {
        let event: EventBridgeEvent = serde_json::from_value(payload).map_err(PayloadError::Batch)?;
        if event.detail_type != SCHEDULED {
            return Err(PayloadError::NotScheduled(event.detail_type));
        }
        return Ok(Invocation::Schedule);
    }
    let mut shown = payload.to_string();
    shown.truncate(200);
    Err(PayloadError::Unknown(shown))
}

/// One record as the queue port's message: string attributes (the only kind Spectra sends),
/// and the delivery count SQS reports.
fn message(index: usize, record: SqsMessage) -> Result<ReceivedMessage, PayloadError> {
    if let Some(source) = record.event_source.as_deref()
        && source != "aws:sqs"
    {
        return Err(PayloadError::NotSqs { index, source_name: source.to_owned() });
    }
    let (Some(id), Some(receipt)) = (record.message_id, record.receipt_handle) else {
        return Err(PayloadError::Incomplete(index));
    };
    let attributes: BTreeMap<String, String> =
        record.message_attributes.into_iter().filter_map(|(k, v)| v.string_value.map(|s| (k, s))).collect();
    let receive_count = record.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1);
    Ok(ReceivedMessage { id, receipt, body: record.body.unwrap_or_default(), attributes, receive_count })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(id: &str) -> Value {
        json!({
            "messageId": id, "receiptHandle": format!("rh-{id}"), "body": "{\"a\":1}",
            "attributes": {"ApproximateReceiveCount": "3", "SentTimestamp": "1"},
            "messageAttributes": {"traceparent": {"stringValue": "00-abc", "dataType": "String"}},
            "md5OfBody": "x", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:1:q",
            "awsRegion": "us-east-1"
        })
    }

    #[test]
    fn an_sqs_batch_becomes_the_queue_ports_messages() {
        let Ok(Invocation::Batch(messages)) = parse(json!({"Records": [record("m1"), record("m2")]})) else {
            panic!("not a batch");
        };
        assert_eq!(messages.len(), 2);
        let m = &messages[1];
        assert_eq!((m.id.as_str(), m.receipt.as_str(), m.body.as_str()), ("m2", "rh-m2", "{\"a\":1}"));
        assert_eq!(m.receive_count, 3);
        assert_eq!(m.attributes.get("traceparent").map(String::as_str), Some("00-abc"));
    }

    #[test]
    fn a_schedules_tick_is_a_sweep() {
        let tick = json!({"version": "0", "id": "1", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "1", "time": "2026-11-25T00:00:00Z", "region": "us-east-1", "resources": [], "detail": {}});
        assert!(matches!(parse(tick), Ok(Invocation::Schedule)));
    }

    #[test]
    fn other_payloads_are_refused_by_name() {
        let other = json!({"detail-type": "Object Created", "source": "aws.s3", "detail": {}});
        assert!(matches!(parse(other), Err(PayloadError::NotScheduled(t)) if t == "Object Created"));
        assert!(matches!(parse(json!({"hello": 1})), Err(PayloadError::Unknown(_))));
        let mut kinesis = record("k");
        kinesis["eventSource"] = json!("aws:kinesis");
        assert!(matches!(parse(json!({"Records": [kinesis]})), Err(PayloadError::NotSqs { index: 0, .. })));
        let mut bare = record("b");
        bare.as_object_mut().map(|o| o.remove("receiptHandle"));
        assert!(matches!(parse(json!({"Records": [record("a"), bare]})), Err(PayloadError::Incomplete(1))));
    }
}
