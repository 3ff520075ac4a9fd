//! The job lifecycle event (`schemas/job-lifecycle-event.schema.json`): published on every
//! transition as the `detail` of an EventBridge event with `source: spectra` and
//! `detail-type: Spectra Job State Change`, for dashboards and front ends.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use spectra_state_machine::{
    BulkJob, BulkState, JobError, JobHeader, JobId, Operation, QueryJob, QueryStatus, TableName, TenantId,
};

use spectra_state_machine::TraceParent;

/// `source` of Spectra's lifecycle events.
pub const LIFECYCLE_SOURCE: &str = "spectra";
/// `detail-type` of Spectra's lifecycle events.
pub const LIFECYCLE_DETAIL_TYPE: &str = "Spectra Job State Change";
/// The schema version this build writes.
pub const LIFECYCLE_SCHEMA_VERSION: u32 = 1;

/// One state change of one job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStateChange {
    /// Always [`LIFECYCLE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The job's tenant (rules can route per tenant).
    pub tenant_id: TenantId,
    /// The job.
    pub job_id: JobId,
    /// The record version after the change: consumers order and de-duplicate by it, since
    /// EventBridge delivers at least once and in no particular order.
    pub version: u64,
    /// The attempt the job is on.
    pub attempt: u32,
    /// Retries so far.
    pub retries: u32,
    /// Why the job failed, on a change to a failed state.
    #[serde(default)]
    pub error: Option<JobError>,
    /// When the change was recorded.
    pub occurred_at: DateTime<Utc>,
    /// Trace context of the work that caused the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<TraceParent>,
    /// Kind-specific part.
    #[serde(flatten)]
    pub job: JobChange,
}

/// The part of a state change that depends on the job's kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "job_kind", rename_all = "snake_case")]
pub enum JobChange {
    /// A Bulk API job.
    Bulk {
        /// The state before; `null` when the job was just created.
        from: Option<BulkState>,
        /// The state after.
        to: BulkState,
        /// What the job does.
        operation: Operation,
        /// Its table.
        object: TableName,
        /// Rows written or exported so far.
        number_records_processed: u64,
        /// Rows rejected.
        number_records_failed: u64,
    },
    /// An async query job.
    Query {
        /// The status before; `null` when the job was just created.
        from: Option<QueryStatus>,
        /// The status after.
        to: QueryStatus,
        /// Rows in the result, once completed.
        row_count: Option<u64>,
    },
}

impl JobStateChange {
    /// The fields every kind shares, from the record's header; the change is the event's time.
    fn of(header: &JobHeader, traceparent: Option<TraceParent>, job: JobChange) -> Self {
        Self {
            schema_version: LIFECYCLE_SCHEMA_VERSION,
            tenant_id: header.tenant_id.clone(),
            job_id: header.job_id.clone(),
            version: header.version,
            attempt: header.execution.attempt,
            retries: header.execution.retries,
            error: header.error.clone(),
            occurred_at: header.updated_at,
            traceparent,
            job,
        }
    }

    /// The event for a bulk job that moved from `from` (or was created) to its current state.
    pub fn bulk(job: &BulkJob, from: Option<BulkState>, traceparent: Option<TraceParent>) -> Self {
        let change = JobChange::Bulk {
            from,
            to: job.state,
            operation: job.operation,
            object: job.object.clone(),
            number_records_processed: job.number_records_processed,
            number_records_failed: job.number_records_failed,
        };
        Self::of(&job.header, traceparent, change)
    }

    /// The event for a query job that moved from `from` (or was created) to its current status.
    pub fn query(job: &QueryJob, from: Option<QueryStatus>, traceparent: Option<TraceParent>) -> Self {
        let change = JobChange::Query { from, to: job.status, row_count: job.row_count };
        Self::of(&job.header, traceparent, change)
    }
}
