//! The worker's message handlers: level-triggered, so any message may come twice, late or out
//! of order and the job still ends right.
//!
//! Every handler loads the job, decides from the job's *current* state what (if anything) the
//! message still means, and moves the job only through [`crate::driver::apply_event`]. The
//! answer is a [`Disposition`] that tells the consumer loop what to do with the message.
//!
//! - `submit`: a `submit_statement` command → build the SQL, execute it with the attempt's
//!   statement name and client token, record the statement.
//! - `outcome`: a statement status-change event → describe the statement, gather counts and
//!   results, apply the outcome.
//! - `reconcile`: a `reconcile` command (the sweeper's) → deadlines, lost submits, lost events.

mod outcome;
mod recent;
mod reconcile;
mod submit;

pub use outcome::is_retryable_failure;
pub use submit::{client_token, named_request};

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use spectra_state_machine::TransitionError;
use thiserror::Error;

use crate::driver::DriveError;
use crate::messages::{Command, Envelope, StatementEndState};
use crate::platform::Platform;
use crate::ports::{ObjectError, QueueError, ReceivedMessage, StoreError, Warehouse, WarehouseError};
use crate::traced_warehouse::TracedWarehouse;
use crate::upload::UploadError;

/// What the consumer does with a message once it is handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Done (including "nothing to do"): delete it.
    Ack,
    /// Something failed that may work later: make it visible again after a backoff. Counts
    /// towards the dead-letter limit, so a message that always fails ends in the DLQ.
    Retry(String),
    /// Backpressure (the warehouse is at its limit): put it back after `delay` without
    /// counting a failed delivery, so throttling never dead-letters a job.
    Defer {
        /// How long to wait.
        delay: Duration,
        /// Why.
        reason: String,
    },
    /// The body can never be handled: move it to the dead-letter queue with this reason.
    DeadLetter(String),
}

/// Handles one received message.
#[async_trait]
pub trait MessageHandler: Send + Sync {
    /// Decides what the message means and does it.
    async fn handle(&self, message: &ReceivedMessage) -> Disposition;
}

/// Why handling failed; [`Disposition`]s are derived from it.
#[derive(Debug, Error)]
pub(crate) enum HandleError {
    #[error(transparent)]
    Drive(#[from] DriveError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    #[error(transparent)]
    Object(#[from] ObjectError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Upload(#[from] UploadError),
    #[error("{0}")]
    Retry(String),
}

impl HandleError {
    fn disposition(self) -> Disposition {
        let retryable = match &self {
            // The job is gone or already past what the message asked: nothing left to do.
            Self::Drive(DriveError::NotFound(_) | DriveError::Transition(TransitionError::Illegal { .. })) => {
                tracing::info!(reason = %self, "message no longer applies");
                return Disposition::Ack;
            }
            Self::Drive(e) => e.is_retryable(),
            Self::Store(e) => e.is_retryable(),
            Self::Warehouse(e) => e.is_retryable(),
            Self::Object(e) => e.is_retryable(),
            Self::Queue(e) => e.is_retryable(),
            Self::Upload(e) => e.is_retryable(),
            Self::Retry(_) => true,
        };
        if retryable {
            return Disposition::Retry(self.to_string());
        }
        crate::metrics::dead_lettered(self.class());
        Disposition::DeadLetter(self.to_string())
    }

    /// The reason class a dead letter is counted under (a bounded label).
    fn class(&self) -> &'static str {
        match self {
            Self::Drive(_) => "job",
            Self::Store(StoreError::Corrupt { .. }) => "corrupt_record",
            Self::Store(_) => "job_store",
            Self::Warehouse(_) => "warehouse",
            Self::Object(_) => "object_store",
            Self::Queue(_) => "queue",
            Self::Upload(_) => "upload",
            Self::Retry(_) => "retry",
        }
    }
}

/// The worker: handlers over the platform and the warehouse. Cheap to clone.
#[derive(Clone)]
pub struct Worker {
    pub(crate) platform: Platform,
    pub(crate) warehouse: Arc<dyn Warehouse>,
    /// The records this worker wrote last (see `recent`).
    recent: Arc<recent::RecentJobs>,
}

impl Worker {
    /// A worker on these ports.
    pub fn new(platform: Platform, warehouse: Arc<dyn Warehouse>) -> Self {
        Self { platform, warehouse: TracedWarehouse::wrap(warehouse), recent: Arc::default() }
    }

    /// The ports and settings it runs on.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    async fn dispatch(&self, envelope: Envelope) -> Result<Disposition, HandleError> {
        match envelope {
            Envelope::Command(message) => {
                let tp = message.traceparent.as_ref();
                let (tenant, job) = (&message.tenant_id, &message.job_id);
                match &message.command {
                    Command::SubmitStatement { attempt } => self.submit(tenant, job, *attempt, tp).await,
                    Command::CancelStatement { statement_id } => self.cancel(statement_id).await,
                    Command::Reconcile => self.reconcile(tenant, job, tp).await,
                }
            }
            Envelope::StatementEvent(event) => {
                let Some(name) = event.statement_name() else {
                    tracing::debug!(statement = %event.detail.statement_id, "statement event is not Spectra's");
                    return Ok(Disposition::Ack);
                };
                // Usually the record this worker wrote when it submitted the statement.
                let known = self.recent.take(&name.tenant_id, &name.job_id);
                let detail = &event.detail;
                let ended = outcome::Ended {
                    statement_id: &detail.statement_id,
                    finished_rows: (detail.state == StatementEndState::Finished).then_some(detail.rows),
                    known: known.map_or(outcome::Known::Nothing, outcome::Known::Remembered),
                    if_unknown: outcome::IfUnknown::Ignore,
                };
                self.statement_ended(&name, ended).await
            }
        }
    }

    /// Cancels a statement; one that already ended or is unknown needs nothing more.
    async fn cancel(&self, statement_id: &str) -> Result<Disposition, HandleError> {
        match self.warehouse.cancel(statement_id).await {
            Ok(cancelled) => {
                tracing::info!(statement = statement_id, cancelled, "cancel requested");
                Ok(Disposition::Ack)
            }
            Err(WarehouseError::NotFound(_)) => Ok(Disposition::Ack),
            Err(e) => Err(e.into()),
        }
    }
}

#[async_trait]
impl MessageHandler for Worker {
    /// Runs in the consumer's `process` span for the message (`messaging_spans`).
    async fn handle(&self, message: &ReceivedMessage) -> Disposition {
        let envelope = match Envelope::parse(&message.body) {
            Ok(envelope) => envelope,
            Err(e) => {
                crate::metrics::dead_lettered("malformed");
                return Disposition::DeadLetter(e.to_string());
            }
        };
        match self.dispatch(envelope).await {
            Ok(disposition) => disposition,
            Err(e) => e.disposition(),
        }
    }
}
