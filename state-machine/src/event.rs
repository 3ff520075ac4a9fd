//! What drives the machines (`JobEvent`) and what they ask the worker to do (`Effect`), plus
//! the execution bookkeeping both job kinds share.

use serde::{Deserialize, Serialize};

/// The statement bookkeeping of a job, the same for bulk and query jobs.
///
/// Invariant kept by the machines: `attempt == retries + 1`. Both are stored because ops
/// dashboards read the job table directly and should not have to derive either.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    /// The statement attempt the job is on, from 1. Statement names and client tokens are
    /// derived from (job, attempt), so a re-sent submit never runs the SQL twice.
    pub attempt: u32,
    /// How many retryable failures sent the job back for another attempt.
    pub retries: u32,
    /// The Data API id of the current attempt's statement, once its submit is recorded.
    pub statement_id: Option<String>,
}

impl Default for Execution {
    fn default() -> Self {
        Self { attempt: 1, retries: 0, statement_id: None }
    }
}

/// Why a job failed, as shown to API clients and dashboards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    /// A stable machine-readable code.
    pub code: ErrorCode,
    /// A human-readable explanation (for statement failures, the warehouse's message).
    pub message: String,
}

/// The stable codes of [`JobError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The warehouse reported the statement failed (and it was not retryable, or retries ran out).
    StatementFailed,
    /// The statement was aborted by someone other than Spectra.
    StatementAborted,
    /// The job ran past its deadline (query 5 min, bulk 24 h by default) and was cancelled.
    DeadlineExceeded,
    /// An ingest job stayed `Open` past its upload window.
    UploadWindowExpired,
    /// The job could not become a statement: the warehouse refused it (`ValidationException`)
    /// or the upload cannot be loaded (e.g. a CSV header that names no valid column).
    StatementRejected,
}

/// How many retryable statement failures a job survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The most retries; the failure after the last retry fails the job.
    pub max_retries: u32,
    /// The most resubmits after the warehouse stopped under the statement (a deploy, a
    /// restart, a crash). They are not the statement's fault, so they do not use up retries;
    /// the bound only keeps a warehouse that never stays up from cycling a job forever.
    pub max_interruptions: u32,
}

impl Default for RetryPolicy {
    /// Three retries: enough to ride out a serialization conflict or a throttled cluster,
    /// few enough that a broken job fails within minutes.
    fn default() -> Self {
        Self { max_retries: 3, max_interruptions: 10 }
    }
}

/// Everything that can happen to a job. Statement events carry the attempt (from the
/// statement name `spectra:<job>:<attempt>`) and the statement id, so that late events of an
/// earlier attempt are recognised as stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEvent {
    /// The producer finished uploading (`PATCH state=UploadComplete`).
    UploadCompleted,
    /// The user aborted or cancelled the job.
    AbortRequested,
    /// The warehouse accepted the attempt's statement.
    StatementSubmitted {
        /// The attempt the statement belongs to.
        attempt: u32,
        /// The Data API statement id.
        statement_id: String,
    },
    /// The statement finished.
    StatementFinished {
        /// The attempt the statement belongs to.
        attempt: u32,
        /// The Data API statement id.
        statement_id: String,
        /// Rows written (ingest) or exported (query).
        rows: u64,
        /// Rows rejected under MAXERROR (ingest); 0 otherwise.
        rows_failed: u64,
    },
    /// The statement failed.
    StatementFailed {
        /// The attempt the statement belongs to.
        attempt: u32,
        /// The Data API statement id.
        statement_id: String,
        /// The warehouse's message.
        message: String,
        /// Serialization conflicts, lost connections and the like: another attempt may succeed.
        retryable: bool,
    },
    /// The statement failed because the warehouse stopped while it ran (a SIGTERM, a crash);
    /// nothing it did was committed and the same statement may well succeed after the restart.
    StatementInterrupted {
        /// The attempt the statement belongs to.
        attempt: u32,
        /// The Data API statement id.
        statement_id: String,
    },
    /// The statement was aborted.
    StatementAborted {
        /// The attempt the statement belongs to.
        attempt: u32,
        /// The Data API statement id.
        statement_id: String,
    },
    /// The attempt's statement could not be submitted and never will be: the warehouse
    /// refused it as invalid, or the SQL could not be built from the job (a bad upload).
    SubmitRejected {
        /// The attempt that was being submitted.
        attempt: u32,
        /// Why, for the job's error.
        message: String,
    },
    /// The job's deadline passed (the reconciler decides when).
    DeadlinePassed,
}

impl JobEvent {
    /// The event's name, for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::UploadCompleted => "UploadCompleted",
            Self::AbortRequested => "AbortRequested",
            Self::StatementSubmitted { .. } => "StatementSubmitted",
            Self::StatementFinished { .. } => "StatementFinished",
            Self::StatementFailed { .. } => "StatementFailed",
            Self::StatementInterrupted { .. } => "StatementInterrupted",
            Self::StatementAborted { .. } => "StatementAborted",
            Self::SubmitRejected { .. } => "SubmitRejected",
            Self::DeadlinePassed => "DeadlinePassed",
        }
    }
}

/// Work the caller must perform after it has durably recorded the transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Submit the job's statement for this attempt (name and client token from job + attempt).
    SubmitStatement {
        /// The attempt to submit.
        attempt: u32,
    },
    /// Cancel a statement: the job's own on abort or deadline, or an orphan submitted for an
    /// attempt the job no longer wants.
    CancelStatement {
        /// The Data API statement id.
        statement_id: String,
    },
    /// Publish the job's state change on the event bus.
    PublishStateChange,
}
