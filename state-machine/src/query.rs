//! Async query jobs on the one lifecycle ([`crate::lifecycle`]): its phases under the Job API's
//! status names (no `Open`: query jobs have no upload), and what a transition changes in a
//! query record (row count, result location, execution time).

use chrono::{DateTime, Utc};

use crate::error::TransitionError;
use crate::event::{Effect, JobEvent, RetryPolicy};
use crate::ids::TenantId;
use crate::lifecycle::{self, KindState, Phase, Step};
use crate::machine::{Change, Ctx, Transition};
use crate::options::{JobKind, OutputFormat, ResultLocation};
use crate::query_job::{QueryJob, QueryJobSpec, QueryStatus};

impl KindState for QueryStatus {
    fn phase(self) -> Phase {
        match self {
            QueryStatus::Queued => Phase::Ready,
            QueryStatus::Running => Phase::Running,
            QueryStatus::Completed => Phase::Complete,
            QueryStatus::Failed => Phase::Failed,
            QueryStatus::Cancelled => Phase::Aborted,
        }
    }

    fn of_phase(phase: Phase) -> Option<Self> {
        match phase {
            Phase::Open => None,
            Phase::Ready => Some(QueryStatus::Queued),
            Phase::Running => Some(QueryStatus::Running),
            Phase::Complete => Some(QueryStatus::Completed),
            Phase::Failed => Some(QueryStatus::Failed),
            Phase::Aborted => Some(QueryStatus::Cancelled),
        }
    }

    fn name(self) -> &'static str {
        self.as_str()
    }
}

/// Creates a query job and the effects creation implies: the announcement and the submit of
/// attempt 1.
pub fn create(tenant_id: TenantId, spec: QueryJobSpec, now: DateTime<Utc>) -> (QueryJob, Vec<Effect>) {
    let job = QueryJob::new(tenant_id, spec, now);
    let effects = vec![Effect::PublishStateChange, Effect::SubmitStatement { attempt: job.header.execution.attempt }];
    (job, effects)
}

/// Applies `event` to `job` at time `now`, like [`crate::bulk::apply`].
pub fn apply(
    job: &QueryJob,
    event: &JobEvent,
    now: DateTime<Utc>,
    policy: RetryPolicy,
) -> Result<Transition<QueryJob, QueryStatus>, TransitionError> {
    let mut context = Ctx::new(
        JobKind::Query,
        job.header.execution.clone(),
        job.row_count.unwrap_or(0),
        0,
        job.header.error.clone(),
        policy,
    );
    let from = job.status;
    let to = match lifecycle::step(from, &mut context, event)? {
        Step::Moved(to) => to,
        Step::Stayed(change) => {
            return Ok(Transition { job: job.clone(), from, to: from, change, effects: context.effects });
        }
    };
    let mut next = job.clone();
    next.status = to;
    next.header.execution = context.execution;
    next.header.error = context.error;
    next.header.bump(now);
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
