//! Fixtures shared by the machine tests: jobs in a given state and the catalogue of events.

#![allow(dead_code, clippy::unwrap_used)]

use chrono::{DateTime, TimeZone, Utc};
use spectra_state_machine::{
    BulkJob, BulkJobRequest, BulkState, Execution, JobEvent, QueryJob, QueryJobRequest, QueryStatus, TenantId, bulk,
    query,
};

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 29, 10, 0, 0).unwrap()
}

pub fn tenant() -> TenantId {
    TenantId::parse("tenant-123").unwrap()
}

/// The attempt every fixture job is on (so "an older attempt" exists).
pub const CUR: u32 = 2;
/// The statement recorded for the current attempt in running and terminal states.
pub const REC: &str = "stmt-2";

/// The execution of a fixture job: attempt 2 after one retry; a statement is recorded only in
/// states that have one.
pub fn execution(has_statement: bool) -> Execution {
    Execution { attempt: CUR, retries: CUR - 1, statement_id: has_statement.then(|| REC.to_owned()) }
}

pub fn ingest_job(state: BulkState) -> BulkJob {
    let spec = BulkJobRequest {
        operation: "upsert".into(),
        object: "public.sales".into(),
        primary_key: Some(vec!["id".into()]),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let (mut job, _) = bulk::create(tenant(), spec, t0());
    job.state = state;
    job.header.execution = execution(!matches!(state, BulkState::Open | BulkState::UploadComplete));
    job
}

pub fn query_job(status: QueryStatus) -> QueryJob {
    let spec = QueryJobRequest { sql: "SELECT 1".into(), ..Default::default() }.validate().unwrap();
    let (mut job, _) = query::create(tenant(), spec, t0());
    job.status = status;
    job.header.execution = execution(status != QueryStatus::Queued);
    job
}

/// The events of the table, each in the variants that the table tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ev {
    UploadCompleted,
    AbortRequested,
    /// Current attempt, a statement id not recorded.
    SubmittedNew,
    /// Current attempt, the recorded statement id.
    SubmittedRecorded,
    /// An older attempt's submit.
    SubmittedOld,
    FinishedCur,
    FinishedOld,
    /// Retryable, and the policy has retries left.
    FailedRetryable,
    /// Retryable, but the policy has no retries left.
    FailedRetriesExhausted,
    FailedFatal,
    FailedOld,
    AbortedCur,
    AbortedOld,
    /// The warehouse stopped under the current attempt's statement.
    InterruptedCur,
    /// ... under an older attempt's.
    InterruptedOld,
    /// The current attempt's submit was refused.
    RejectedCur,
    /// An older attempt's submit was refused.
    RejectedOld,
    DeadlinePassed,
}

pub const ALL_EVENTS: [Ev; 18] = [
    Ev::InterruptedCur,
    Ev::InterruptedOld,
    Ev::UploadCompleted,
    Ev::AbortRequested,
    Ev::SubmittedNew,
    Ev::SubmittedRecorded,
    Ev::SubmittedOld,
    Ev::FinishedCur,
    Ev::FinishedOld,
    Ev::FailedRetryable,
    Ev::FailedRetriesExhausted,
    Ev::FailedFatal,
    Ev::FailedOld,
    Ev::AbortedCur,
    Ev::AbortedOld,
    Ev::RejectedCur,
    Ev::RejectedOld,
    Ev::DeadlinePassed,
];

pub const ROWS: u64 = 150_000;
pub const ROWS_FAILED: u64 = 7;

impl Ev {
    pub fn event(self) -> JobEvent {
        let old = CUR - 1;
        let cur_id = REC.to_owned();
        let old_id = "stmt-1".to_owned();
        match self {
            Ev::UploadCompleted => JobEvent::UploadCompleted,
            Ev::AbortRequested => JobEvent::AbortRequested,
            Ev::SubmittedNew => JobEvent::StatementSubmitted { attempt: CUR, statement_id: "stmt-new".into() },
            Ev::SubmittedRecorded => JobEvent::StatementSubmitted { attempt: CUR, statement_id: cur_id },
            Ev::SubmittedOld => JobEvent::StatementSubmitted { attempt: old, statement_id: old_id },
            Ev::FinishedCur => {
                JobEvent::StatementFinished { attempt: CUR, statement_id: cur_id, rows: ROWS, rows_failed: ROWS_FAILED }
            }
            Ev::FinishedOld => {
                JobEvent::StatementFinished { attempt: old, statement_id: old_id, rows: 1, rows_failed: 0 }
            }
            Ev::FailedRetryable | Ev::FailedRetriesExhausted => JobEvent::StatementFailed {
                attempt: CUR,
                statement_id: cur_id,
                message: "serializable isolation violation".into(),
                retryable: true,
            },
            Ev::FailedFatal => JobEvent::StatementFailed {
                attempt: CUR,
                statement_id: cur_id,
                message: "column \"x\" does not exist".into(),
                retryable: false,
            },
            Ev::FailedOld => JobEvent::StatementFailed {
                attempt: old,
                statement_id: old_id,
                message: "old".into(),
                retryable: false,
            },
            Ev::AbortedCur => JobEvent::StatementAborted { attempt: CUR, statement_id: cur_id },
            Ev::AbortedOld => JobEvent::StatementAborted { attempt: old, statement_id: old_id },
            Ev::InterruptedCur => JobEvent::StatementInterrupted { attempt: CUR, statement_id: cur_id },
            Ev::InterruptedOld => JobEvent::StatementInterrupted { attempt: old, statement_id: old_id },
            Ev::RejectedCur => {
                JobEvent::SubmitRejected { attempt: CUR, message: "column \"x\" is not in the table".into() }
            }
            Ev::RejectedOld => JobEvent::SubmitRejected { attempt: old, message: "old".into() },
            Ev::DeadlinePassed => JobEvent::DeadlinePassed,
        }
    }

    /// The retry policy the event is applied under: only `FailedRetriesExhausted` runs out.
    pub fn policy(self) -> spectra_state_machine::RetryPolicy {
        let max_retries = if self == Ev::FailedRetriesExhausted { CUR - 1 } else { 3 };
        spectra_state_machine::RetryPolicy { max_retries, ..Default::default() }
    }
}
