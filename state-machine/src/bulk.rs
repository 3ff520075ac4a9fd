//! Bulk jobs on the one lifecycle ([`crate::lifecycle`]): its phases under the Bulk API's state
//! names, and what a transition changes in a bulk record (counts, timestamps).

use chrono::{DateTime, Utc};

use crate::bulk_job::{BulkJob, BulkJobSpec, BulkState};
use crate::error::TransitionError;
use crate::event::{Effect, JobEvent, RetryPolicy};
use crate::ids::TenantId;
use crate::lifecycle::{self, KindState, Phase, Step};
use crate::machine::{Change, Ctx, Transition};
use crate::options::JobKind;

impl KindState for BulkState {
    fn phase(self) -> Phase {
        match self {
            BulkState::Open => Phase::Open,
            BulkState::UploadComplete => Phase::Ready,
            BulkState::InProgress => Phase::Running,
            BulkState::JobComplete => Phase::Complete,
            BulkState::Failed => Phase::Failed,
            BulkState::Aborted => Phase::Aborted,
        }
    }

    fn of_phase(phase: Phase) -> Option<Self> {
        Some(match phase {
            Phase::Open => BulkState::Open,
            Phase::Ready => BulkState::UploadComplete,
            Phase::Running => BulkState::InProgress,
            Phase::Complete => BulkState::JobComplete,
            Phase::Failed => BulkState::Failed,
            Phase::Aborted => BulkState::Aborted,
        })
    }

    fn name(self) -> &'static str {
        self.as_str()
    }
}

/// Creates a bulk job and the effects creation implies: the announcement, and for query jobs
/// (which start `UploadComplete`) the submit of attempt 1.
pub fn create(tenant_id: TenantId, spec: BulkJobSpec, now: DateTime<Utc>) -> (BulkJob, Vec<Effect>) {
    let job = BulkJob::new(tenant_id, spec, now);
    let mut effects = vec![Effect::PublishStateChange];
    if job.state == BulkState::UploadComplete {
        effects.push(Effect::SubmitStatement { attempt: job.header.execution.attempt });
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
        JobKind::Bulk,
        job.header.execution.clone(),
        job.number_records_processed,
        job.number_records_failed,
        job.header.error.clone(),
        policy,
    );
    let from = job.state;
    let to = match lifecycle::step(from, &mut context, event)? {
        Step::Moved(to) => to,
        Step::Stayed(change) => {
            return Ok(Transition { job: job.clone(), from, to: from, change, effects: context.effects });
        }
    };
    let mut next = job.clone();
    next.state = to;
    next.header.execution = context.execution;
    next.number_records_processed = context.rows;
    next.number_records_failed = context.rows_failed;
    next.header.error = context.error;
    next.header.bump(now);
    if to == BulkState::InProgress && next.started_at.is_none() {
        next.started_at = Some(now);
    }
    if to.is_terminal() {
        next.completed_at = Some(now);
    }
    Ok(Transition { job: next, from, to, change: Change::Applied, effects: context.effects })
}
