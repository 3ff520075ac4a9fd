//! The "Redshift Data Statement Status Change" event of an ended statement, in AWS's envelope,
//! and where it goes: a queue (`spectra up`: straight onto the work queue, as the EventBridge
//! rule would deliver it) or any other [`StatementEventSink`] (the emulator: EventBridge).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Duration, SecondsFormat, Utc};

use super::ledger::RETENTION_HOURS;
use super::statements::Record;
use spectra_worker::messages::{
    REDSHIFT_DATA_SOURCE, STATEMENT_STATUS_CHANGE, StatementDetail, StatementEndState, StatementStatusChange,
};
use spectra_worker::ports::{OutgoingMessage, Queue, StatementStatus};

/// Why an event was not delivered (logged: delivery is best effort).
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The event was not valid JSON in the expected envelope.
    #[error("malformed event: {0}")]
    Malformed(#[from] serde_json::Error),
    /// The work queue refused it.
    #[error(transparent)]
    Queue(#[from] spectra_worker::ports::QueueError),
    /// The event bus refused it.
    #[error("the event bus refused the event: {0}")]
    Bus(String),
}

/// Receives the status-change events of ended `WithEvent` statements, as JSON text in AWS's
/// EventBridge envelope. Delivery is best effort, as on AWS.
#[async_trait]
pub trait StatementEventSink: Send + Sync {
    /// Delivers one event.
    async fn send(&self, event: String) -> Result<(), SinkError>;
}

/// Events straight onto a queue.
pub(crate) struct QueueSink(pub Arc<dyn Queue>);

#[async_trait]
impl StatementEventSink for QueueSink {
    async fn send(&self, event: String) -> Result<(), SinkError> {
        self.0.send(OutgoingMessage::new(event)).await?;
        Ok(())
    }
}

/// The account the embedded warehouse claims (AWS's example format: twelve digits).
const ACCOUNT: &str = "000000000000";

/// The event's JSON body for an ended statement.
pub(crate) fn status_change(record: &Record, region: &str) -> String {
    let state = match record.status {
        StatementStatus::Finished => StatementEndState::Finished,
        StatementStatus::Aborted => StatementEndState::Aborted,
        _ => StatementEndState::Failed,
    };
    let event = StatementStatusChange {
        version: "0".into(),
        id: uuid::Uuid::new_v4().to_string(),
        detail_type: STATEMENT_STATUS_CHANGE.into(),
        source: REDSHIFT_DATA_SOURCE.into(),
        account: Some(ACCOUNT.into()),
        time: Utc::now(),
        region: region.into(),
        resources: vec![format!("arn:aws:redshift:{region}:{ACCOUNT}:cluster:spectra-embedded")],
        detail: StatementDetail {
            principal: format!("arn:aws:iam::{ACCOUNT}:user/spectra"),
            statement_name: record.statement_name.clone(),
            statement_id: record.id.clone(),
            redshift_query_id: record.redshift_query_id(),
            state,
            rows: record.result_rows(),
            expire_at: (record.created_at + Duration::hours(RETENTION_HOURS)).timestamp(),
        },
    };
    // `time` goes out in AWS's whole-second form.
    let mut value = serde_json::to_value(&event).unwrap_or_default();
    value["time"] = serde_json::Value::String(event.time.to_rfc3339_opts(SecondsFormat::Secs, true));
    value.to_string()
}
