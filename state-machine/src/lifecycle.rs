//! The one job lifecycle (statig): every kind of job moves through the same [`Phase`]s by the
//! same rules; [`crate::bulk`] and [`crate::query`] map them to the names their APIs use
//! (`UploadComplete`/`QUEUED`, `InProgress`/`RUNNING`, ...) and keep their own records. The
//! table it implements is in the crate docs; each handler's doc comment lists its own rows.

use statig::prelude::*;

use crate::error::TransitionError;
use crate::event::{Effect, ErrorCode, JobEvent};
use crate::machine::{Change, Ctx, RunStep};

/// Where a job is, whatever its kind calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the producer's upload (bulk ingest jobs only).
    Open,
    /// Ready to run: waiting for the current attempt's statement to be submitted.
    Ready,
    /// The current attempt's statement is running.
    Running,
    /// Done; counts and results are final.
    Complete,
    /// Gave up; the error says why.
    Failed,
    /// Stopped by the user.
    Aborted,
}

impl Phase {
    /// Finished one way or another: every later event is absorbed.
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Complete | Phase::Failed | Phase::Aborted)
    }
}

/// A kind's names for the phases: the states its records store and its API shows.
pub(crate) trait KindState: Copy + Eq {
    /// The phase this state is.
    fn phase(self) -> Phase;
    /// The state a phase is, for this kind; `None` for a phase the kind does not have (query
    /// jobs have no `Open`, and no transition leads into it).
    fn of_phase(phase: Phase) -> Option<Self>;
    /// The API's spelling.
    fn name(self) -> &'static str;
}

/// Applies `event` to a job in state `from`: the state after, or how the unchanged record
/// answers (ignored, early, illegal). `context` collects the record's new values and effects.
pub(crate) fn step<S: KindState>(from: S, context: &mut Ctx, event: &JobEvent) -> Result<Step<S>, TransitionError> {
    let mut machine = Lifecycle.uninitialized_state_machine();
    *machine.state_mut() = State::of(from.phase());
    // No state has an entry action, so initialising into the stored state produces no effects.
    let mut machine = machine.init_with_context(context);
    machine.handle_with_context(event, context);
    let illegal = || TransitionError::Illegal { state: from.name(), event: event.name() };
    let to = S::of_phase(machine.state().phase()).ok_or_else(illegal)?;
    if to == from { Ok(Step::Stayed(context.unchanged(from.name(), event)?)) } else { Ok(Step::Moved(to)) }
}

/// What [`step`] decided.
pub(crate) enum Step<S> {
    /// The job moves to this state: write the record, then perform the effects.
    Moved(S),
    /// The record stays as it is (ignored); perform the effects.
    Stayed(Change),
}

/// The statig machine. It holds no data: the job's data travels in the context, and the
/// machine is rebuilt from the stored state for every event.
#[derive(Debug, Default)]
struct Lifecycle;

#[state_machine(
    initial = "State::open()",
    state(derive(Debug, Clone, Copy, PartialEq, Eq)),
    after_transition = "Self::after_transition",
    visibility = "pub(crate)"
)]
impl Lifecycle {
    /// `Open` → `Ready` on UploadCompleted (submit attempt 1); → `Failed`
    /// (UPLOAD_WINDOW_EXPIRED) on DeadlinePassed; the rest as `active`.
    #[state(superstate = "active")]
    fn open(context: &mut Ctx, event: &JobEvent) -> Outcome<State> {
        match event {
            JobEvent::UploadCompleted => {
                context.submit();
                Transition(State::ready())
            }
            JobEvent::DeadlinePassed => {
                context.fail(ErrorCode::UploadWindowExpired, "the upload was not completed within the upload window");
                Transition(State::failed())
            }
            _ => Super,
        }
    }

    /// `Ready` → `Running` on StatementSubmitted of the current attempt (another attempt's
    /// statement is cancelled); statement outcomes of the current attempt are early (retry
    /// later), of older attempts stale; → `Failed` (STATEMENT_REJECTED) on SubmitRejected of
    /// the current attempt; the rest (UploadCompleted included: illegal) as `active`.
    #[state(superstate = "active")]
    fn ready(context: &mut Ctx, event: &JobEvent) -> Outcome<State> {
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

    /// `Running` → `Complete` on StatementFinished (counts recorded); → `Ready` on a retryable
    /// StatementFailed with retries left (retries + 1, submit the next attempt); → `Failed` on
    /// any other StatementFailed or a StatementAborted; StatementInterrupted resubmits without
    /// using a retry (up to the policy's bound). Events of other statements are stale; the
    /// rest as `active`.
    #[state(superstate = "active")]
    fn running(context: &mut Ctx, event: &JobEvent) -> Outcome<State> {
        match context.while_running(event) {
            Some(RunStep::Finished) => Transition(State::complete()),
            Some(RunStep::Retry) => Transition(State::ready()),
            Some(RunStep::Failed) => Transition(State::failed()),
            None if context.verdict.is_some() => Handled,
            None => Super,
        }
    }

    /// Any live phase: → `Aborted` on AbortRequested; → `Failed` (DEADLINE_EXCEEDED) on
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
                context.fail_deadline();
                Transition(State::failed())
            }
            _ => Handled,
        }
    }

    /// `Complete`: absorbing, as `terminal`.
    #[state(superstate = "terminal")]
    fn complete() -> Outcome<State> {
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

    /// Terminal phases absorb: statement news and deadlines are ignored (an unwanted submit is
    /// cancelled); UploadCompleted and AbortRequested are illegal.
    #[superstate]
    fn terminal(context: &mut Ctx, event: &JobEvent) -> Outcome<State> {
        context.while_terminal(event);
        Handled
    }
}

impl Lifecycle {
    /// Every transition is announced: dashboards and front ends follow jobs through these.
    fn after_transition(&mut self, _source: &State, _target: &State, context: &mut Ctx) {
        context.effects.push(Effect::PublishStateChange);
    }
}

impl State {
    fn of(phase: Phase) -> Self {
        match phase {
            Phase::Open => State::open(),
            Phase::Ready => State::ready(),
            Phase::Running => State::running(),
            Phase::Complete => State::complete(),
            Phase::Failed => State::failed(),
            Phase::Aborted => State::aborted(),
        }
    }

    fn phase(&self) -> Phase {
        match self {
            State::Open {} => Phase::Open,
            State::Ready {} => Phase::Ready,
            State::Running {} => Phase::Running,
            State::Complete {} => Phase::Complete,
            State::Failed {} => Phase::Failed,
            State::Aborted {} => Phase::Aborted,
        }
    }
}
