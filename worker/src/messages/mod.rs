//! The messages Spectra reads and writes, each with a JSON Schema in `schemas/`.
//!
//! The work queue carries two kinds of body: Spectra's [`CommandMessage`]s and EventBridge's
//! [`StatementStatusChange`] events. [`Envelope::parse`] tells them apart and refuses anything
//! else with a [`MessageError`] that says why, which becomes the dead-letter reason: an unknown
//! body never crashes the consumer and is never dropped silently.

mod command;
mod lifecycle;
mod statement_event;

use thiserror::Error;

pub use command::{COMMAND_SCHEMA_VERSION, Command, CommandMessage};
pub use lifecycle::{JobChange, JobStateChange, LIFECYCLE_DETAIL_TYPE, LIFECYCLE_SCHEMA_VERSION, LIFECYCLE_SOURCE};
pub use spectra_state_machine::{TraceParent, TraceParentError};
pub use statement_event::{
    REDSHIFT_DATA_SOURCE, STATEMENT_STATUS_CHANGE, StatementDetail, StatementEndState, StatementName,
    StatementStatusChange,
};

/// A work-queue body, recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Envelope {
    /// One of Spectra's commands.
    Command(CommandMessage),
    /// A Data API statement status change.
    StatementEvent(StatementStatusChange),
}

/// Why a body is not a message Spectra can handle. Never retryable: the same bytes will fail
/// the same way, so the consumer dead-letters them with this text as the reason.
#[derive(Debug, Error)]
pub enum MessageError {
    /// Not JSON, or not a JSON object.
    #[error("body is not a JSON object: {0}")]
    NotJson(String),
    /// An EventBridge event from another source or of another type.
    #[error("unexpected EventBridge event: source {event_source:?}, detail-type {detail_type:?}")]
    ForeignEvent {
        /// The event's `source`.
        event_source: String,
        /// The event's `detail-type`.
        detail_type: String,
    },
    /// A command written by a newer (or older) Spectra.
    #[error("command schema_version {0} is not supported (this build reads {COMMAND_SCHEMA_VERSION})")]
    UnsupportedVersion(u64),
    /// Recognised, but a field is missing or wrong.
    #[error("malformed {kind}: {reason}")]
    Malformed {
        /// Which kind of message it looked like.
        kind: &'static str,
        /// serde's explanation.
        reason: String,
    },
    /// Neither a command nor an EventBridge event.
    #[error("unrecognised body: neither a Spectra command (schema_version) nor an EventBridge event (source)")]
    Unrecognised,
}

impl Envelope {
    /// Recognises a queue body.
    pub fn parse(body: &str) -> Result<Self, MessageError> {
        let value: serde_json::Value = serde_json::from_str(body).map_err(|e| MessageError::NotJson(e.to_string()))?;
        let object = value.as_object().ok_or_else(|| MessageError::NotJson("top level is not an object".into()))?;
        let text = |key: &str| object.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        if object.contains_key("source") {
            let (event_source, detail_type) = (text("source"), text("detail-type"));
            if event_source != REDSHIFT_DATA_SOURCE || detail_type != STATEMENT_STATUS_CHANGE {
                return Err(MessageError::ForeignEvent { event_source, detail_type });
            }
            return serde_json::from_value(value)
                .map(Envelope::StatementEvent)
                .map_err(|e| MessageError::Malformed { kind: "statement status change", reason: e.to_string() });
        }
        match object.get("schema_version").map(|v| v.as_u64()) {
            None => Err(MessageError::Unrecognised),
            Some(Some(v)) if v == u64::from(COMMAND_SCHEMA_VERSION) => {
                let message: CommandMessage = serde_json::from_value(value)
                    .map_err(|e| MessageError::Malformed { kind: "command", reason: e.to_string() })?;
                if let Command::SubmitStatement { attempt: 0 } = message.command {
                    return Err(MessageError::Malformed { kind: "command", reason: "attempts count from 1".into() });
                }
                Ok(Envelope::Command(message))
            }
            Some(Some(v)) => Err(MessageError::UnsupportedVersion(v)),
            Some(None) => {
                Err(MessageError::Malformed { kind: "command", reason: "schema_version is not an integer".into() })
            }
        }
    }
}
