//! The bulk job machine (statig). The table it implements is in the crate docs; each handler's
//! doc comment lists its own rows.

use chrono::{DateTime, Utc};
use statig::prelude::*;

use crate::bulk_job::{BulkJob, BulkJobSpec, BulkState};
use crate::error::TransitionError;
use crate::event::{Effect, ErrorCode, JobEvent, RetryPolicy};
use crate::ids::TenantId;
use crate::machine::{Change, Ctx, RunStep, Transition};

/// The statig machine. It holds no data: the job's data travels in the context, and the
/// machine is rebuilt from the stored state for every event.
#[derive(Debug, Default)]
struct BulkMachine;

#[state_machine(
    initial = "State::open()",
    state(derive(Debug, Clone, Copy, PartialEq, Eq)),
    after_transition = "Self::after_transition",
    visibility = "pub(crate)"
)]
impl BulkMachine {
    /// `Open` → `UploadComplete` on UploadCompleted (submit attempt 1); → `Failed`
    /// (UPLOAD_WINDOW_EXPIRED) on DeadlinePassed; the rest as `active`.
    #[state(superstate = "active")]
    fn open(context: &mut Ctx, event: &JobEvent) -> Outcome<State> {
        match event {
            JobEvent::UploadCompleted => {
                context.submit();
                Transition(State::upload_complete())
            }
            JobEvent::DeadlinePassed => {
                context.fail(ErrorCode::UploadWindowExpired, "the upload was not completed within the upload window");
                Transition(State::failed())
            }
            _ => Super,
        }
    }

    /// `UploadComplete` → `InProgress` on StatementSubmitted of the current attempt (another
    /// attempt's statement is cancelled); statement outcomes of the current attempt are early
    /// (retry later), of older attempts stale; → `Failed` (STATEMENT_REJECTED) on
    /// SubmitRejected of the current attempt; the rest as `active`.
    #[state(superstate = "active")]
    fn upload_complete(context: &mut Ctx, event: &JobEvent) -> Outcome<State> {
        match event {
            JobEvent::StatementSubmitted { attempt, statement_id } => {
                if context.accept_submit(*attempt, statement_id) {
                    Transition(State::in_progress())
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

    /// `InProgress` → `JobComplete` on StatementFinished (counts recorded); → `UploadComplete`
    /// on a retryable StatementFailed with retries left (retries + 1, submit the next attempt);
    /// → `Failed` on any other StatementFailed or a StatementAborted; StatementInterrupted
    /// resubmits without using a retry (up to the policy's bound). Events of other statements
    /// are stale; the rest as `active`.
    #[state(superstate = "active")]
    fn in_progress(context: &mut Ctx, event: &JobEvent) -> Outcome<State> {
        match context.while_running(event) {
            Some(RunStep::Finished) => Transition(State::job_complete()),
            Some(RunStep::Retry) => Transition(State::upload_complete()),
            Some(RunStep::Failed) => Transition(State::failed()),
            None if context.verdict.is_some() => Handled,
            None => Super,
        }
    }

    /// Any live state: → `Aborted` on AbortRequested; → `Failed` (DEADLINE_EXCEEDED) on
    /// DeadlinePassed; both cancel the running statement, if any. Anything else is illegal.
    #[superstate]
    fn active(context: &mut Ctx, event: &JobEvent) -> Outcome<State> {
        match event {
            JobEvent::AbortRequested => {
                context.cancel_current();
                Transition(State::aborted())
            }
            JobEvent::DeadlinePassed => {
                context.cancel_current();
                context.fail(ErrorCode::DeadlineExceeded, "the job ran past its deadline and was cancelled");
                Transition(State::failed())
            }
            _ => Handled,
        }
    }

    /// `JobComplete`: absorbing, as `terminal`.
    #[state(superstate = "terminal")]
    fn job_complete() -> Outcome<State> {
        Super
    }

    /// `Failed`: absorbing, as `terminal`.
    #[state(superstate = "terminal")]
    fn failed() -> Outcome<State> {
        Super
    }

    /// `Aborted`: absorbing, as `terminal`.
    #[state(superstate = "terminal")]
    fn aborted() -> Outcome<State> {
        Super
    }

    /// Terminal states absorb: statement news and deadlines are ignored (an unwanted submit is
    /// cancelled); UploadCompleted and AbortRequested are illegal.
    #[superstate]
    fn terminal(context: &mut Ctx, event: &JobEvent) -> Outcome<State> {
        context.while_terminal(event);
        Handled
    }
}

impl BulkMachine {
    /// Every transition is announced: dashboards and front ends follow jobs through these.
    fn after_transition(&mut self, _source: &State, _target: &State, context: &mut Ctx) {
        context.effects.push(Effect::PublishStateChange);
    }
}

fn to_machine(state: BulkState) -> State {
    match state {
        BulkState::Open => State::open(),
        BulkState::UploadComplete => State::upload_complete(),
        BulkState::InProgress => State::in_progress(),
        BulkState::JobComplete => State::job_complete(),
        BulkState::Failed => State::failed(),
        BulkState::Aborted => State::aborted(),
    }
}

fn from_machine(state: &State) -> BulkState {
    match state {
        State::Open {} => BulkState::Open,
        State::UploadComplete {} => BulkState::UploadComplete,
        State::InProgress {} => BulkState::InProgress,
        State::JobComplete {} => BulkState::JobComplete,
        State::Failed {} => BulkState::Failed,
        State::Aborted {} => BulkState::Aborted,
    }
}

/// Creates a bulk job and the effects creation implies: the announcement, and for query jobs
/// (which start `UploadComplete`) the submit of attempt 1.
pub fn create(tenant_id: TenantId, spec: BulkJobSpec, now: DateTime<Utc>) -> (BulkJob, Vec<Effect>) {
    let job = BulkJob::new(tenant_id, spec, now);
    let mut effects = vec![Effect::PublishStateChange];
    if job.state == BulkState::UploadComplete {
        effects.push(Effect::SubmitStatement { attempt: job.execution.attempt });
    }
    (job, effects)
}

/// Applies `event` to `job` at time `now`: rebuilds the machine in the job's state, handles the
/// event, and returns the new record (version bumped, timestamps set) with the effects to
/// perform after writing it. An illegal or early event is an error and changes nothing.
pub fn apply(
    job: &BulkJob,
    event: &JobEvent,
    now: DateTime<Utc>,
    policy: RetryPolicy,
) -> Result<Transition<BulkJob, BulkState>, TransitionError> {
    let mut context = Ctx::new(
        job.execution.clone(),
        job.number_records_processed,
        job.number_records_failed,
        job.error.clone(),
        policy,
    );
    let mut machine = BulkMachine.uninitialized_state_machine();
    *machine.state_mut() = to_machine(job.state);
    // No state has an entry action, so initialising into the stored state produces no effects.
    let mut machine = machine.init_with_context(&mut context);
    machine.handle_with_context(event, &mut context);

    let from = job.state;
    let to = from_machine(machine.state());
    if to == from {
        let change = context.unchanged(from.as_str(), event)?;
        return Ok(Transition { job: job.clone(), from, to, change, effects: context.effects });
    }
    let mut next = job.clone();
    next.state = to;
    next.execution = context.execution;
    next.number_records_processed = context.rows;
    next.number_records_failed = context.rows_failed;
    next.error = context.error;
    next.version += 1;
    next.updated_at = now;
    if to == BulkState::InProgress && next.started_at.is_none() {
        next.started_at = Some(now);
    }
    if to.is_terminal() {
        next.completed_at = Some(now);
    }
    Ok(Transition { job: next, from, to, change: Change::Applied, effects: context.effects })
}
