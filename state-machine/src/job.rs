//! Either kind of job, as one job table stores them side by side.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::bulk_job::{BulkJob, BulkState};
use crate::error::TransitionError;
use crate::event::{Execution, JobError, JobEvent, RetryPolicy};
use crate::ids::{JobId, TenantId};
use crate::lifecycle::{KindState, Phase};
use crate::machine::{Change, Transition};
use crate::options::{JobKind, Operation};
use crate::query_job::{QueryJob, QueryStatus};
use crate::trace::TraceParent;

/// A bulk job or an async query job. Serialised with a `job_kind` tag so a stored record says
/// which it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "job_kind", rename_all = "snake_case")]
pub enum Job {
    /// A Bulk API job.
    Bulk(BulkJob),
    /// An async query job.
    Query(QueryJob),
}

/// The state of either kind of job: what list filters and stale sweeps select on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnyState {
    /// A bulk job's state.
    Bulk(BulkState),
    /// A query job's status.
    Query(QueryStatus),
}

impl AnyState {
    /// The seed's spelling (`InProgress`, `RUNNING`, ...). The two vocabularies do not overlap,
    /// so the text alone identifies the state.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bulk(s) => s.as_str(),
            Self::Query(s) => s.as_str(),
        }
    }

    /// Where this state is in the one lifecycle.
    pub fn phase(self) -> Phase {
        match self {
            Self::Bulk(s) => s.phase(),
            Self::Query(s) => s.phase(),
        }
    }

    /// Every state of either kind.
    pub fn all() -> impl Iterator<Item = Self> {
        BulkState::ALL.into_iter().map(Self::Bulk).chain(QueryStatus::ALL.into_iter().map(Self::Query))
    }

    /// The state spelled `name` (either kind's spelling).
    pub fn named(name: &str) -> Option<Self> {
        Self::all().find(|s| s.as_str() == name)
    }

    /// The kind of job this state belongs to.
    pub fn kind(self) -> JobKind {
        match self {
            Self::Bulk(_) => JobKind::Bulk,
            Self::Query(_) => JobKind::Query,
        }
    }
}

/// What every job record has, whatever its kind: whose it is, its version, its attempts and
/// its error. Each record flattens it, so stored records and API bodies keep their shapes; the
/// worker and the lifecycle events read it without asking which kind a job is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobHeader {
    /// The job's id (`bulk-<uuid>`, `job-<uuid>`).
    pub job_id: JobId,
    /// The owning tenant; every lookup is scoped by it.
    pub tenant_id: TenantId,
    /// When the record last changed; stale-job sweeps key on it.
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version: every write is conditional on it and bumps it.
    pub version: u64,
    /// Attempt, retries and the current statement id.
    #[serde(flatten)]
    pub execution: Execution,
    /// Why the job failed, once it has.
    #[serde(default)]
    pub error: Option<JobError>,
    /// The trace the job belongs to (the context it was created in), when tracing is on: work
    /// on the job that arrives without one (a statement's status-change event, a sweep)
    /// continues in this trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<TraceParent>,
    /// The states the job entered after its creation, oldest first (the last
    /// [`HISTORY_LIMIT`]): the timeline operators read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<StateChange>,
}

/// How many state changes a record keeps (a job that keeps retrying keeps its latest).
pub const HISTORY_LIMIT: usize = 32;

/// A state a job entered, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChange {
    /// The state's name (`InProgress`, `RUNNING`, ...).
    pub state: String,
    /// When the job entered it.
    pub at: DateTime<Utc>,
}

impl JobHeader {
    /// The header of a job created `now`: version 1, attempt 1, no error.
    pub fn new(job_id: JobId, tenant_id: TenantId, now: DateTime<Utc>) -> Self {
        Self {
            job_id,
            tenant_id,
            updated_at: now,
            version: 1,
            execution: Execution::default(),
            error: None,
            traceparent: None,
            history: Vec::new(),
        }
    }

    /// A transition's bookkeeping: the version bumped, the time of the change.
    pub(crate) fn bump(&mut self, now: DateTime<Utc>) {
        self.version += 1;
        self.updated_at = now;
    }

    /// Records that the job entered `state` at `now`.
    fn entered(&mut self, state: AnyState, now: DateTime<Utc>) {
        if self.history.len() >= HISTORY_LIMIT {
            self.history.remove(0);
        }
        self.history.push(StateChange { state: state.as_str().to_owned(), at: now });
    }
}

impl Job {
    /// What every kind of job has: id, tenant, version, attempts, error.
    pub fn header(&self) -> &JobHeader {
        match self {
            Self::Bulk(j) => &j.header,
            Self::Query(j) => &j.header,
        }
    }

    /// The owning tenant.
    pub fn tenant_id(&self) -> &TenantId {
        &self.header().tenant_id
    }

    /// The job's id.
    pub fn job_id(&self) -> &JobId {
        &self.header().job_id
    }

    /// Which kind it is.
    pub fn kind(&self) -> JobKind {
        match self {
            Self::Bulk(_) => JobKind::Bulk,
            Self::Query(_) => JobKind::Query,
        }
    }

    /// The state.
    pub fn state(&self) -> AnyState {
        match self {
            Self::Bulk(j) => AnyState::Bulk(j.state),
            Self::Query(j) => AnyState::Query(j.status),
        }
    }

    /// Where the job is in the one lifecycle.
    pub fn phase(&self) -> Phase {
        match self {
            Self::Bulk(j) => j.state.phase(),
            Self::Query(j) => j.status.phase(),
        }
    }

    /// Applies `event` at time `now`, whichever kind the job is (see [`crate::bulk::apply`]).
    pub fn apply(
        &self,
        event: &JobEvent,
        now: DateTime<Utc>,
        policy: RetryPolicy,
    ) -> Result<Transition<Job, AnyState>, TransitionError> {
        let mut step = match self {
            Self::Bulk(j) => {
                let t = crate::bulk::apply(j, event, now, policy)?;
                let (from, to) = (AnyState::Bulk(t.from), AnyState::Bulk(t.to));
                Transition { job: Self::Bulk(t.job), from, to, change: t.change, effects: t.effects }
            }
            Self::Query(j) => {
                let t = crate::query::apply(j, event, now, policy)?;
                let (from, to) = (AnyState::Query(t.from), AnyState::Query(t.to));
                Transition { job: Self::Query(t.job), from, to, change: t.change, effects: t.effects }
            }
        };
        if step.change == Change::Applied && step.from != step.to {
            step.job.header_mut().entered(step.to, now);
        }
        Ok(step)
    }

    fn header_mut(&mut self) -> &mut JobHeader {
        match self {
            Self::Bulk(j) => &mut j.header,
            Self::Query(j) => &mut j.header,
        }
    }

    /// The optimistic-concurrency version.
    pub fn version(&self) -> u64 {
        self.header().version
    }

    /// When the job was created (bulk) or submitted (query): the list order.
    pub fn created_at(&self) -> DateTime<Utc> {
        match self {
            Self::Bulk(j) => j.created_at,
            Self::Query(j) => j.submitted_at,
        }
    }

    /// When the record last changed: what stale sweeps compare.
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.header().updated_at
    }

    /// The bulk operation; query jobs of the Job API have none.
    pub fn operation(&self) -> Option<Operation> {
        match self {
            Self::Bulk(j) => Some(j.operation),
            Self::Query(_) => None,
        }
    }
}

impl From<BulkJob> for Job {
    fn from(j: BulkJob) -> Self {
        Self::Bulk(j)
    }
}

impl From<QueryJob> for Job {
    fn from(j: QueryJob) -> Self {
        Self::Query(j)
    }
}
