//! What the lifecycle's handlers work with: the context they mutate, the rules for correlating
//! statement events with the job's attempt, and the result of applying an event.
//!
//! The handlers in [`crate::lifecycle`] decide *which phase* comes next; the methods here
//! decide *whether a statement event belongs to the job* and record counts, errors and effects.
//! Keeping the correlation rules in one place is what makes "one statement per attempt" hold
//! for every kind of job.

use crate::error::TransitionError;
use crate::event::{Effect, ErrorCode, Execution, JobError, JobEvent, RetryPolicy};
use crate::options::JobKind;

/// Why an event left the job as it was, though it was not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    /// The same fact was already recorded (a redelivered message).
    Duplicate,
    /// The event belongs to an earlier attempt or another statement.
    Stale,
    /// A statement was submitted that the job no longer wants; a `CancelStatement` effect
    /// stops it.
    Orphan,
    /// The job is finished; statement news changes nothing.
    Terminal,
}

/// Whether the record changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The job moved: write it (conditionally on the old version and state), then perform the
    /// effects.
    Applied,
    /// Nothing to write; perform the effects (if any) and acknowledge the message.
    Ignored(IgnoreReason),
}

/// The result of applying one event to a job record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition<J, S> {
    /// The record after the event (equal to the input when ignored).
    pub job: J,
    /// The state before.
    pub from: S,
    /// The state after.
    pub to: S,
    /// Whether the record changed.
    pub change: Change,
    /// What the caller must do once the record is written, in order.
    pub effects: Vec<Effect>,
}

/// Verdicts a handler leaves when it does not transition. No verdict and no transition means
/// the event is illegal in that state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Ignored(IgnoreReason),
    Early { attempt: u32 },
}

/// The statement-driven progress a running state can make.
pub(crate) enum RunStep {
    /// The statement finished; counts are recorded.
    Finished,
    /// A retryable failure with retries left: the next attempt is set up and its submit queued.
    Retry,
    /// The job fails; `error` is set.
    Failed,
}

/// The mutable part of a job that the machines work on, plus what they produce.
#[derive(Debug)]
pub(crate) struct Ctx {
    kind: JobKind,
    pub execution: Execution,
    pub rows: u64,
    pub rows_failed: u64,
    pub error: Option<JobError>,
    pub effects: Vec<Effect>,
    pub verdict: Option<Verdict>,
    policy: RetryPolicy,
}

impl Ctx {
    pub fn new(
        kind: JobKind,
        execution: Execution,
        rows: u64,
        rows_failed: u64,
        error: Option<JobError>,
        policy: RetryPolicy,
    ) -> Self {
        Self { kind, execution, rows, rows_failed, error, effects: Vec::new(), verdict: None, policy }
    }

    fn ignore(&mut self, reason: IgnoreReason) {
        self.verdict = Some(Verdict::Ignored(reason));
    }

    /// Cancels a statement the job does not want.
    fn orphan(&mut self, statement_id: &str) {
        self.effects.push(Effect::CancelStatement { statement_id: statement_id.to_owned() });
        self.ignore(IgnoreReason::Orphan);
    }

    /// Queues the submit of the current attempt.
    pub fn submit(&mut self) {
        self.effects.push(Effect::SubmitStatement { attempt: self.execution.attempt });
    }

    /// Cancels the current attempt's statement, if one is recorded.
    pub fn cancel_current(&mut self) {
        if let Some(id) = &self.execution.statement_id {
            self.effects.push(Effect::CancelStatement { statement_id: id.clone() });
        }
    }

    pub fn fail(&mut self, code: ErrorCode, message: impl Into<String>) {
        self.error = Some(JobError { code, message: message.into() });
    }

    /// The job ran past its deadline (said in the kind's words).
    pub fn fail_deadline(&mut self) {
        let message = match self.kind {
            JobKind::Bulk => "the job ran past its deadline and was cancelled",
            JobKind::Query => "the query ran past its deadline and was cancelled",
        };
        self.fail(ErrorCode::DeadlineExceeded, message);
    }

    /// A submit while the job waits for one. True when it is the current attempt's statement,
    /// which the caller then moves to its running state.
    pub fn accept_submit(&mut self, attempt: u32, statement_id: &str) -> bool {
        if attempt == self.execution.attempt {
            self.execution.statement_id = Some(statement_id.to_owned());
            true
        } else {
            self.orphan(statement_id);
            false
        }
    }

    /// A rejected submit while the job waits for one. True when it is the current attempt's,
    /// which fails the job (the caller moves it to its failed state).
    pub fn reject_submit(&mut self, attempt: u32, message: &str) -> bool {
        if attempt == self.execution.attempt {
            self.fail(ErrorCode::StatementRejected, message);
            true
        } else {
            self.ignore(IgnoreReason::Stale);
            false
        }
    }

    /// A statement outcome while the job still waits for its submit: the current attempt's
    /// news came early (retry later), an older attempt's is stale.
    pub fn outcome_while_waiting(&mut self, attempt: u32) {
        if attempt == self.execution.attempt {
            self.verdict = Some(Verdict::Early { attempt });
        } else {
            self.ignore(IgnoreReason::Stale);
        }
    }

    fn is_current(&self, attempt: u32, statement_id: &str) -> bool {
        attempt == self.execution.attempt && self.execution.statement_id.as_deref() == Some(statement_id)
    }

    /// A statement event while the current attempt's statement runs. `None` for events that
    /// are not statement events (the caller passes them to its superstate) and for events that
    /// leave the job as it is (a verdict is recorded).
    pub fn while_running(&mut self, event: &JobEvent) -> Option<RunStep> {
        match event {
            JobEvent::StatementSubmitted { attempt, statement_id } => {
                if self.is_current(*attempt, statement_id) {
                    self.ignore(IgnoreReason::Duplicate);
                } else {
                    self.orphan(statement_id);
                }
                None
            }
            JobEvent::StatementFinished { attempt, statement_id, .. }
            | JobEvent::StatementFailed { attempt, statement_id, .. }
            | JobEvent::StatementInterrupted { attempt, statement_id }
            | JobEvent::StatementAborted { attempt, statement_id }
                if !self.is_current(*attempt, statement_id) =>
            {
                self.ignore(IgnoreReason::Stale);
                None
            }
            JobEvent::StatementFinished { rows, rows_failed, .. } => {
                self.rows = *rows;
                self.rows_failed = *rows_failed;
                Some(RunStep::Finished)
            }
            JobEvent::StatementFailed { retryable: true, .. } if self.execution.retries < self.policy.max_retries => {
                self.execution.retries += 1;
                self.execution.attempt += 1;
                self.execution.statement_id = None;
                self.submit();
                Some(RunStep::Retry)
            }
            JobEvent::StatementFailed { message, retryable, .. } => {
                let message = if *retryable {
                    format!("{message} (gave up after {} attempts)", self.execution.attempt)
                } else {
                    message.clone()
                };
                self.fail(ErrorCode::StatementFailed, message);
                Some(RunStep::Failed)
            }
            // Attempts are retries plus interruptions plus the first: the interruptions so far.
            JobEvent::StatementInterrupted { .. }
                if self.execution.attempt - 1 - self.execution.retries < self.policy.max_interruptions =>
            {
                self.execution.attempt += 1;
                self.execution.statement_id = None;
                self.submit();
                Some(RunStep::Retry)
            }
            JobEvent::StatementInterrupted { .. } => {
                let times = self.policy.max_interruptions + 1;
                self.fail(
                    ErrorCode::StatementFailed,
                    format!("the warehouse stopped under the statement {times} times"),
                );
                Some(RunStep::Failed)
            }
            JobEvent::StatementAborted { .. } => {
                self.fail(ErrorCode::StatementAborted, "the statement was aborted outside Spectra");
                Some(RunStep::Failed)
            }
            JobEvent::SubmitRejected { .. } => {
                // The running statement was accepted; a rejection of a submit is old news.
                self.ignore(IgnoreReason::Stale);
                None
            }
            JobEvent::UploadCompleted | JobEvent::AbortRequested | JobEvent::DeadlinePassed => None,
        }
    }

    /// Any event in a terminal state: statement news is ignored (an unwanted submit is
    /// cancelled); user commands are left unhandled, so they come back as illegal.
    pub fn while_terminal(&mut self, event: &JobEvent) {
        match event {
            JobEvent::StatementSubmitted { statement_id, .. } => {
                if self.execution.statement_id.as_deref() == Some(statement_id) {
                    self.ignore(IgnoreReason::Duplicate);
                } else {
                    self.orphan(statement_id);
                }
            }
            JobEvent::StatementFinished { .. }
            | JobEvent::StatementFailed { .. }
            | JobEvent::StatementInterrupted { .. }
            | JobEvent::StatementAborted { .. }
            | JobEvent::SubmitRejected { .. }
            | JobEvent::DeadlinePassed => self.ignore(IgnoreReason::Terminal),
            JobEvent::UploadCompleted | JobEvent::AbortRequested => {}
        }
    }

    /// Turns a handled event that did not move the job into its change, or its error.
    pub fn unchanged(&self, state: &'static str, event: &JobEvent) -> Result<Change, TransitionError> {
        match self.verdict {
            Some(Verdict::Ignored(reason)) => Ok(Change::Ignored(reason)),
            Some(Verdict::Early { attempt }) => Err(TransitionError::EarlyEvent { event: event.name(), attempt }),
            None => Err(TransitionError::Illegal { state, event: event.name() }),
        }
    }
}
