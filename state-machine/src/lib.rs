//! Spectra's job domain: validated identifiers, the job records, and the one job lifecycle (a
//! statig machine) that both kinds of job move through. Pure: no I/O, no async, no clock of its
//! own (callers pass `now`).
//!
//! # Layout
//! - [`ids`]: `TenantId`, `JobId`, `Identifier`, `TableName` — parsed once, valid forever.
//! - [`options`]: `JobKind`, `Operation`, `ContentType`, `Compression`, `OutputFormat`, `ResultLocation`.
//! - [`bulk_job`] / [`query_job`]: the stored records (seed 001's field names) and the requests
//!   that create them, with validation.
//! - [`job`]: `Job` (either kind, as the job table stores it), `AnyState`, and `JobHeader`,
//!   what both records share.
//! - [`event`]: `JobEvent` (what happens to a job), `Effect` (what the worker must do next),
//!   the shared `Execution` bookkeeping, `JobError`, `RetryPolicy`.
//! - `lifecycle`: the one statig machine every job moves through, in kind-neutral phases.
//! - [`bulk`] / [`query`]: each kind's names for the phases and its record's changes, behind
//!   `create` and `apply`.
//! - `machine`: the lifecycle's context (statement correlation) and the [`Transition`] result.
//!
//! # How the machines are used
//! The job table is the truth. For every message the worker loads the record and calls
//! `apply(record, event, now, policy)`, which rebuilds the machine in the stored state, handles
//! the event, and returns a [`Transition`]: the new record, whether it changed, and the
//! [`Effect`]s to perform. The worker writes the record conditionally on the old `version` and
//! state, and performs the effects only after the write succeeded. Statement events carry the
//! attempt (from the statement name `spectra:<tenant_id>:<job_id>:<attempt>`) and the statement id; an event
//! of another attempt or statement is stale, and a statement nobody wants is cancelled.
//!
//! # Bulk job transitions
//! One machine (`lifecycle`) implements both tables below: its phases Open, Ready, Running,
//! Complete, Failed and Aborted are the bulk states of the same order and, without Open, the
//! query statuses. Rows are states, columns events. `→ X` moves the job; *ignored* leaves it unchanged without
//! error; *illegal* is [`TransitionError::Illegal`] (the API's 409); *early* is
//! [`TransitionError::EarlyEvent`] (retry the message later). "cur" means the event's attempt
//! and statement id are the job's current ones.
//!
//! | state | UploadCompleted | AbortRequested | StatementSubmitted | StatementFinished | StatementFailed | StatementAborted | SubmitRejected | DeadlinePassed |
//! |---|---|---|---|---|---|---|---|---|
//! | Open | → UploadComplete, submit | → Aborted | illegal | illegal | illegal | illegal | illegal | → Failed (UPLOAD_WINDOW_EXPIRED) |
//! | UploadComplete | illegal | → Aborted | cur attempt: → InProgress; else ignored, cancel it | cur attempt: early; else ignored | cur attempt: early; else ignored | cur attempt: early; else ignored | cur attempt: → Failed (STATEMENT_REJECTED); else ignored | → Failed (DEADLINE_EXCEEDED) |
//! | InProgress | illegal | → Aborted, cancel | cur: ignored (duplicate); else ignored, cancel it | cur: → JobComplete, counts; else ignored | cur, retryable, retries left: → UploadComplete, retries + 1, submit next attempt; cur otherwise: → Failed (STATEMENT_FAILED); else ignored | cur: → Failed (STATEMENT_ABORTED); else ignored | ignored (stale) | → Failed (DEADLINE_EXCEEDED), cancel |
//! | JobComplete, Failed, Aborted | illegal | illegal | recorded one: ignored; else ignored, cancel it | ignored | ignored | ignored | ignored | ignored |
//!
//! `StatementInterrupted` (the warehouse stopped under the statement: a SIGTERM, a crash) is
//! handled as a retryable `StatementFailed` whose resubmit uses no retry — the stop was not the
//! statement's fault — up to [`RetryPolicy::max_interruptions`] times, then → Failed
//! (STATEMENT_FAILED).
//!
//! Query jobs of the Bulk API start in `UploadComplete` with a submit of attempt 1; ingest jobs
//! start `Open`. Every transition also publishes the state change.
//!
//! # Query job transitions
//! The same rules with the Job API's names: `QUEUED` plays `UploadComplete`, `RUNNING` plays
//! `InProgress`, `COMPLETED`/`FAILED`/`CANCELLED` are terminal, and there is no `Open`.
//!
//! | status | UploadCompleted | AbortRequested | StatementSubmitted | StatementFinished | StatementFailed | StatementAborted | SubmitRejected | DeadlinePassed |
//! |---|---|---|---|---|---|---|---|---|
//! | QUEUED | illegal | → CANCELLED | cur attempt: → RUNNING; else ignored, cancel it | cur attempt: early; else ignored | cur attempt: early; else ignored | cur attempt: early; else ignored | cur attempt: → FAILED (STATEMENT_REJECTED); else ignored | → FAILED (DEADLINE_EXCEEDED) |
//! | RUNNING | illegal | → CANCELLED, cancel | cur: ignored (duplicate); else ignored, cancel it | cur: → COMPLETED, row count; else ignored | cur, retryable, retries left: → QUEUED, retries + 1, submit next attempt; cur otherwise: → FAILED (STATEMENT_FAILED); else ignored | cur: → FAILED (STATEMENT_ABORTED); else ignored | ignored (stale) | → FAILED (DEADLINE_EXCEEDED), cancel |
//! | COMPLETED, FAILED, CANCELLED | illegal | illegal | recorded one: ignored; else ignored, cancel it | ignored | ignored | ignored | ignored | ignored |
//!
//! `StatementInterrupted` as for bulk jobs. Query jobs are created `QUEUED` with a submit of
//! attempt 1.

pub mod bulk;
pub mod bulk_job;
pub mod error;
pub mod event;
pub mod ids;
pub mod job;
mod lifecycle;
mod machine;
pub mod options;
pub mod query;
pub mod query_job;
mod trace;

pub use bulk_job::{BulkJob, BulkJobRequest, BulkJobSpec, BulkState};
pub use error::{ParseError, SpecError, TransitionError};
pub use event::{Effect, ErrorCode, Execution, JobError, JobEvent, RetryPolicy};
pub use ids::{Identifier, JobId, TableName, TenantId};
pub use job::{AnyState, HISTORY_LIMIT, Job, JobHeader, StateChange};
pub use lifecycle::Phase;
pub use machine::{Change, IgnoreReason, Transition};
pub use options::{Compression, ContentType, JobKind, Operation, OutputFormat, ResultLocation};
pub use query_job::{QueryJob, QueryJobRequest, QueryJobSpec, QueryParameter, QueryStatus, RawParameter};
pub use trace::{TraceParent, TraceParentError};
