//! Spectra's own command messages (`schemas/command-message.schema.json`): what producers, the
//! API and the worker itself put on the work queue.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use spectra_state_machine::{Effect, JobId, JobKind, TenantId};
use uuid::Uuid;

use spectra_state_machine::TraceParent;

/// The one schema version this build reads and writes. A message of another version is
/// dead-lettered with a reason rather than guessed at.
pub const COMMAND_SCHEMA_VERSION: u32 = 1;

/// A command on the work queue. Commands are hints, not orders: the handler loads the job and
/// acts only if the job still needs what the command asks (level-triggered), so duplicates and
/// late deliveries are harmless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandMessage {
    /// Always [`COMMAND_SCHEMA_VERSION`]; lets consumers refuse what they cannot read.
    pub schema_version: u32,
    /// Unique per message, for logs and de-duplication metrics.
    pub message_id: Uuid,
    /// Which table the job lives in.
    pub job_kind: JobKind,
    /// The job's tenant: the job table is keyed by tenant, so every message names it.
    pub tenant_id: TenantId,
    /// The job.
    pub job_id: JobId,
    /// What to do.
    #[serde(flatten)]
    pub command: Command,
    /// When the message was sent.
    pub sent_at: DateTime<Utc>,
    /// W3C trace context of the sender, so the worker's spans join the caller's trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<TraceParent>,
}

/// The commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Submit the job's statement for `attempt` (if the job still waits for it).
    SubmitStatement {
        /// The attempt; the statement name and client token derive from it.
        attempt: u32,
    },
    /// Cancel a statement (the job's, on abort or deadline, or an orphan).
    CancelStatement {
        /// The Data API statement id.
        statement_id: String,
    },
    /// Look at the job and its statement, and apply whatever has happened (the reconciler's
    /// and the operator's nudge).
    Reconcile,
}

impl CommandMessage {
    /// A new message for a job, stamped now with a fresh id.
    pub fn new(job_kind: JobKind, tenant_id: TenantId, job_id: JobId, command: Command) -> Self {
        Self {
            schema_version: COMMAND_SCHEMA_VERSION,
            message_id: Uuid::new_v4(),
            job_kind,
            tenant_id,
            job_id,
            command,
            sent_at: Utc::now(),
            traceparent: None,
        }
    }

    /// Attaches the sender's trace context.
    pub fn with_traceparent(mut self, traceparent: Option<TraceParent>) -> Self {
        self.traceparent = traceparent;
        self
    }
}

impl Command {
    /// The command that carries out a machine effect on a worker, if the effect is one that is
    /// delegated through the queue (publishing is done in place).
    pub fn for_effect(effect: &Effect) -> Option<Self> {
        match effect {
            Effect::SubmitStatement { attempt } => Some(Self::SubmitStatement { attempt: *attempt }),
            Effect::CancelStatement { statement_id } => {
                Some(Self::CancelStatement { statement_id: statement_id.clone() })
            }
            Effect::PublishStateChange => None,
        }
    }
}
