//! Either kind of job, as one job table stores them side by side.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::bulk_job::{BulkJob, BulkState};
use crate::ids::{JobId, TenantId};
use crate::options::{JobKind, Operation};
use crate::query_job::{QueryJob, QueryStatus};

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

    /// The kind of job this state belongs to.
    pub fn kind(self) -> JobKind {
        match self {
            Self::Bulk(_) => JobKind::Bulk,
            Self::Query(_) => JobKind::Query,
        }
    }
}

impl Job {
    /// The owning tenant.
    pub fn tenant_id(&self) -> &TenantId {
        match self {
            Self::Bulk(j) => &j.tenant_id,
            Self::Query(j) => &j.tenant_id,
        }
    }

    /// The job's id.
    pub fn job_id(&self) -> &JobId {
        match self {
            Self::Bulk(j) => &j.job_id,
            Self::Query(j) => &j.job_id,
        }
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

    /// The optimistic-concurrency version.
    pub fn version(&self) -> u64 {
        match self {
            Self::Bulk(j) => j.version,
            Self::Query(j) => j.version,
        }
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
        match self {
            Self::Bulk(j) => j.updated_at,
            Self::Query(j) => j.updated_at,
        }
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
