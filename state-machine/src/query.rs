//! The async query job machine (statig). The table it implements is in the crate docs; each
//! handler's doc comment lists its own rows.

use chrono::{DateTime, Utc};
use statig::prelude::*;

use crate::error::TransitionError;
use crate::event::{Effect, ErrorCode, JobEvent, RetryPolicy};
use crate::ids::TenantId;
use crate::machine::{Change, Ctx, RunStep, Transition};
use crate::options::{OutputFormat, ResultLocation};
use crate::query_job::{QueryJob, QueryJobSpec, QueryStatus};

/// The statig machine; like the bulk machine it holds no data and is rebuilt per event.
#[derive(Debug, Default)]
struct QueryMachine;

#[state_machine(
    initial = "State::queued()",
    state(derive(Debug, Clone, Copy, PartialEq, Eq)),
    after_transition = "Self::after_transition",
    visibility = "pub(crate)"
)]
impl QueryMachine {
    /// `QUEUED` → `RUNNING` on StatementSubmitted of the current attempt (another attempt's
    /// statement is cancelled); statement outcomes of the current attempt are early, of older
    /// attempts stale; → `FAILED` (STATEMENT_REJECTED) on SubmitRejected of the current
    /// attempt; the rest as `active`.
    #[state(superstate = "active")]
    fn queued(context: &mut Ctx, event: &JobEvent) -> Outcome<State> {
        match event {
            JobEvent::StatementSubmitted { attempt, statement_id } => {
                if context.accept_submit(*attempt, statement_id) {
                    Transition(State::running())
                } else {
                    Handled
                }
            }
            JobEvent::StatementFinished { attempt, .. }
            | JobEvent::StatementFailed { attempt, .. }
            | JobEvent::StatementInterrupted { attempt, .. }
            | JobEvent::StatementAborted { attempt, .. } => {
                context.outcome_while_waiting(*attempt);
                Handled
            }
            JobEvent::SubmitRejected { attempt, message } => {
                if context.reject_submit(*attempt, message) {
                    Transition(State::failed())
                } else {
                    Handled
                }
            }
            _ => Super,
        }
    }

    /// `RUNNING` → `COMPLETED` on StatementFinished (row count recorded); → `QUEUED` on a
    /// retryable StatementFailed with retries left (retries + 1, submit the next attempt);
    /// → `FAILED` on any other StatementFailed or a StatementAborted; StatementInterrupted
    /// resubmits without using a retry (up to the policy's bound). Events of other statements
    /// are stale; the rest as `active`.
    #[state(superstate = "active")]
    fn running(context: &mut Ctx, event: &JobEvent) -> Outcome<State> {
        match context.while_running(event) {
            Some(RunStep::Finished) => Transition(State::completed()),
            Some(RunStep::Retry) => Transition(State::queued()),
            Some(RunStep::Failed) => Transition(State::failed()),
            None if context.verdict.is_some() => Handled,
            None => Super,
        }
    }

    /// Any live status: → `CANCELLED` on AbortRequested; → `FAILED` (DEADLINE_EXCEEDED) on
    /// DeadlinePassed; both cancel the running statement, if any. Anything else (including
    /// UploadCompleted: query jobs have no upload) is illegal.
    #[superstate]
    fn active(context: &mut Ctx, event: &JobEvent) -> Outcome<State> {
        match event {
            JobEvent::AbortRequested => {
                context.cancel_current();
                Transition(State::cancelled())
            }
            JobEvent::DeadlinePassed => {
                context.cancel_current();
                context.fail(ErrorCode::DeadlineExceeded, "the query ran past its deadline and was cancelled");
                Transition(State::failed())
            }
            _ => Handled,
        }
    }

    /// `COMPLETED`: absorbing, as `terminal`.
    #[state(superstate = "terminal")]
    fn completed() -> Outcome<State> {
        Super
    }

    /// `FAILED`: absorbing, as `terminal`.
    #[state(superstate = "terminal")]
    fn failed() -> Outcome<State> {
        Super
    }

    /// `CANCELLED`: absorbing, as `terminal`.
    #[state(superstate = "terminal")]
    fn cancelled() -> Outcome<State> {
        Super
    }

    /// Terminal statuses absorb: statement news and deadlines are ignored (an unwanted submit
    /// is cancelled); UploadCompleted and AbortRequested are illegal.
    #[superstate]
    fn terminal(context: &mut Ctx, event: &JobEvent) -> Outcome<State> {
        context.while_terminal(event);
        Handled
    }
}

impl QueryMachine {
    /// Every transition is announced on the event bus.
    fn after_transition(&mut self, _source: &State, _target: &State, context: &mut Ctx) {
        context.effects.push(Effect::PublishStateChange);
    }
}

fn to_machine(status: QueryStatus) -> State {
    match status {
        QueryStatus::Queued => State::queued(),
        QueryStatus::Running => State::running(),
        QueryStatus::Completed => State::completed(),
        QueryStatus::Failed => State::failed(),
        QueryStatus::Cancelled => State::cancelled(),
    }
}

fn from_machine(state: &State) -> QueryStatus {
    match state {
        State::Queued {} => QueryStatus::Queued,
        State::Running {} => QueryStatus::Running,
        State::Completed {} => QueryStatus::Completed,
        State::Failed {} => QueryStatus::Failed,
        State::Cancelled {} => QueryStatus::Cancelled,
    }
}

/// Creates a query job and the effects creation implies: the announcement and the submit of
/// attempt 1.
pub fn create(tenant_id: TenantId, spec: QueryJobSpec, now: DateTime<Utc>) -> (QueryJob, Vec<Effect>) {
    let job = QueryJob::new(tenant_id, spec, now);
    let effects = vec![Effect::PublishStateChange, Effect::SubmitStatement { attempt: job.execution.attempt }];
    (job, effects)
}

/// Applies `event` to `job` at time `now`, like [`crate::bulk::apply`].
pub fn apply(
    job: &QueryJob,
    event: &JobEvent,
    now: DateTime<Utc>,
    policy: RetryPolicy,
) -> Result<Transition<QueryJob, QueryStatus>, TransitionError> {
    let mut context = Ctx::new(job.execution.clone(), job.row_count.unwrap_or(0), 0, job.error.clone(), policy);
    let mut machine = QueryMachine.uninitialized_state_machine();
    *machine.state_mut() = to_machine(job.status);
    // No state has an entry action, so initialising into the stored state produces no effects.
    let mut machine = machine.init_with_context(&mut context);
    machine.handle_with_context(event, &mut context);

    let from = job.status;
    let to = from_machine(machine.state());
    if to == from {
        let change = context.unchanged(from.as_str(), event)?;
        return Ok(Transition { job: job.clone(), from, to, change, effects: context.effects });
    }
    let mut next = job.clone();
    next.status = to;
    next.execution = context.execution;
    next.error = context.error;
    next.version += 1;
    next.updated_at = now;
    if to == QueryStatus::Running && next.started_at.is_none() {
        next.started_at = Some(now);
    }
    if to == QueryStatus::Completed {
        next.row_count = Some(context.rows);
        next.result_location = Some(match job.output_format {
            OutputFormat::Json => ResultLocation::Inline,
            OutputFormat::Csv | OutputFormat::Parquet => ResultLocation::S3,
        });
    }
    if to.is_terminal() {
        next.completed_at = Some(now);
        next.execution_time_ms =
            next.started_at.map(|started| u64::try_from((now - started).num_milliseconds()).unwrap_or(0));
    }
    Ok(Transition { job: next, from, to, change: Change::Applied, effects: context.effects })
}
