//! Every (state, event) pair of both machines, asserted against the transition tables in the
//! crate docs. `expected` is those tables written as an exhaustive match: a pair missing from it
//! does not compile.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::Duration;
use common::*;
use spectra_state_machine::{
    BulkState, Change, Effect, ErrorCode, IgnoreReason, QueryStatus, TransitionError, bulk, query,
};

/// The part a state plays in the tables; both machines share the last three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Bulk `Open`.
    Open,
    /// Bulk `UploadComplete`, query `QUEUED`.
    Waiting,
    /// Bulk `InProgress`, query `RUNNING`.
    Running,
    /// Any terminal state.
    Terminal,
}

/// Where a move goes, in the shared vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Waiting,
    Running,
    Complete,
    Failed,
    Aborted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    Moves(Target, Vec<Effect>, Option<ErrorCode>),
    Ignored(IgnoreReason, Vec<Effect>),
    Illegal,
    Early,
}

fn cancel(id: &str) -> Effect {
    Effect::CancelStatement { statement_id: id.to_owned() }
}

fn submit(attempt: u32) -> Effect {
    Effect::SubmitStatement { attempt }
}

const PUBLISH: Effect = Effect::PublishStateChange;

fn expected(role: Role, ev: Ev) -> Expect {
    use Expect::*;
    match (role, ev) {
        (Role::Open, Ev::UploadCompleted) => Moves(Target::Waiting, vec![submit(CUR), PUBLISH], None),
        (Role::Open, Ev::AbortRequested) => Moves(Target::Aborted, vec![PUBLISH], None),
        (Role::Open, Ev::DeadlinePassed) => Moves(Target::Failed, vec![PUBLISH], Some(ErrorCode::UploadWindowExpired)),
        (Role::Open, _) => Illegal,

        (Role::Waiting, Ev::UploadCompleted) => Illegal,
        (Role::Waiting, Ev::AbortRequested) => Moves(Target::Aborted, vec![PUBLISH], None),
        (Role::Waiting, Ev::SubmittedNew | Ev::SubmittedRecorded) => Moves(Target::Running, vec![PUBLISH], None),
        (Role::Waiting, Ev::SubmittedOld) => Ignored(IgnoreReason::Orphan, vec![cancel("stmt-1")]),
        (
            Role::Waiting,
            Ev::FinishedCur
            | Ev::FailedRetryable
            | Ev::FailedRetriesExhausted
            | Ev::FailedFatal
            | Ev::AbortedCur
            | Ev::InterruptedCur,
        ) => Early,
        (Role::Waiting, Ev::FinishedOld | Ev::FailedOld | Ev::AbortedOld | Ev::RejectedOld | Ev::InterruptedOld) => {
            Ignored(IgnoreReason::Stale, vec![])
        }
        (Role::Waiting, Ev::RejectedCur) => Moves(Target::Failed, vec![PUBLISH], Some(ErrorCode::StatementRejected)),
        (Role::Waiting, Ev::DeadlinePassed) => Moves(Target::Failed, vec![PUBLISH], Some(ErrorCode::DeadlineExceeded)),

        (Role::Running, Ev::UploadCompleted) => Illegal,
        (Role::Running, Ev::AbortRequested) => Moves(Target::Aborted, vec![cancel(REC), PUBLISH], None),
        (Role::Running, Ev::SubmittedNew) => Ignored(IgnoreReason::Orphan, vec![cancel("stmt-new")]),
        (Role::Running, Ev::SubmittedRecorded) => Ignored(IgnoreReason::Duplicate, vec![]),
        (Role::Running, Ev::SubmittedOld) => Ignored(IgnoreReason::Orphan, vec![cancel("stmt-1")]),
        (Role::Running, Ev::FinishedCur) => Moves(Target::Complete, vec![PUBLISH], None),
        (Role::Running, Ev::FailedRetryable | Ev::InterruptedCur) => {
            Moves(Target::Waiting, vec![submit(CUR + 1), PUBLISH], None)
        }
        (Role::Running, Ev::FailedRetriesExhausted | Ev::FailedFatal) => {
            Moves(Target::Failed, vec![PUBLISH], Some(ErrorCode::StatementFailed))
        }
        (Role::Running, Ev::AbortedCur) => Moves(Target::Failed, vec![PUBLISH], Some(ErrorCode::StatementAborted)),
        (
            Role::Running,
            Ev::FinishedOld | Ev::FailedOld | Ev::AbortedOld | Ev::RejectedCur | Ev::RejectedOld | Ev::InterruptedOld,
        ) => Ignored(IgnoreReason::Stale, vec![]),
        (Role::Running, Ev::DeadlinePassed) => {
            Moves(Target::Failed, vec![cancel(REC), PUBLISH], Some(ErrorCode::DeadlineExceeded))
        }

        (Role::Terminal, Ev::UploadCompleted | Ev::AbortRequested) => Illegal,
        (Role::Terminal, Ev::SubmittedNew) => Ignored(IgnoreReason::Orphan, vec![cancel("stmt-new")]),
        (Role::Terminal, Ev::SubmittedRecorded) => Ignored(IgnoreReason::Duplicate, vec![]),
        (Role::Terminal, Ev::SubmittedOld) => Ignored(IgnoreReason::Orphan, vec![cancel("stmt-1")]),
        (
            Role::Terminal,
            Ev::FinishedCur
            | Ev::FinishedOld
            | Ev::FailedRetryable
            | Ev::FailedRetriesExhausted
            | Ev::FailedFatal
            | Ev::FailedOld
            | Ev::AbortedCur
            | Ev::AbortedOld
            | Ev::InterruptedCur
            | Ev::InterruptedOld
            | Ev::RejectedCur
            | Ev::RejectedOld
            | Ev::DeadlinePassed,
        ) => Ignored(IgnoreReason::Terminal, vec![]),
    }
}

fn bulk_role(state: BulkState) -> Role {
    match state {
        BulkState::Open => Role::Open,
        BulkState::UploadComplete => Role::Waiting,
        BulkState::InProgress => Role::Running,
        BulkState::JobComplete | BulkState::Failed | BulkState::Aborted => Role::Terminal,
    }
}

fn bulk_target(target: Target) -> BulkState {
    match target {
        Target::Waiting => BulkState::UploadComplete,
        Target::Running => BulkState::InProgress,
        Target::Complete => BulkState::JobComplete,
        Target::Failed => BulkState::Failed,
        Target::Aborted => BulkState::Aborted,
    }
}

fn query_role(status: QueryStatus) -> Role {
    match status {
        QueryStatus::Queued => Role::Waiting,
        QueryStatus::Running => Role::Running,
        QueryStatus::Completed | QueryStatus::Failed | QueryStatus::Cancelled => Role::Terminal,
    }
}

fn query_target(target: Target) -> QueryStatus {
    match target {
        Target::Waiting => QueryStatus::Queued,
        Target::Running => QueryStatus::Running,
        Target::Complete => QueryStatus::Completed,
        Target::Failed => QueryStatus::Failed,
        Target::Aborted => QueryStatus::Cancelled,
    }
}

fn later() -> chrono::DateTime<chrono::Utc> {
    t0() + Duration::seconds(90)
}

#[test]
fn every_bulk_pair_follows_the_table() {
    let mut pairs = 0;
    for state in BulkState::ALL {
        for ev in ALL_EVENTS {
            let job = ingest_job(state);
            let got = bulk::apply(&job, &ev.event(), later(), ev.policy());
            let ctx = format!("{state} + {ev:?}");
            match expected(bulk_role(state), ev) {
                Expect::Moves(target, effects, error) => {
                    let t = got.unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    assert_eq!((t.from, t.to, t.change), (state, bulk_target(target), Change::Applied), "{ctx}");
                    assert_eq!(t.effects, effects, "{ctx}");
                    assert_eq!(t.job.state, t.to, "{ctx}");
                    assert_eq!(t.job.header.error.as_ref().map(|e| e.code), error, "{ctx}");
                    assert_eq!(
                        (t.job.header.version, t.job.header.updated_at),
                        (job.header.version + 1, later()),
                        "{ctx}"
                    );
                    assert_eq!(t.job.completed_at.is_some(), t.to.is_terminal(), "{ctx}");
                }
                Expect::Ignored(reason, effects) => {
                    let t = got.unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    assert_eq!((t.to, t.change, t.effects), (state, Change::Ignored(reason), effects), "{ctx}");
                    assert_eq!(t.job, job, "{ctx}: an ignored event must not touch the record");
                }
                Expect::Illegal => assert_eq!(
                    got.unwrap_err(),
                    TransitionError::Illegal { state: state.as_str(), event: ev.event().name() },
                    "{ctx}"
                ),
                Expect::Early => {
                    let err = got.unwrap_err();
                    assert!(err.is_retryable(), "{ctx}");
                    assert_eq!(err, TransitionError::EarlyEvent { event: ev.event().name(), attempt: CUR }, "{ctx}");
                }
            }
            pairs += 1;
        }
    }
    assert_eq!(pairs, 6 * ALL_EVENTS.len());
}

#[test]
fn every_query_pair_follows_the_table() {
    for status in QueryStatus::ALL {
        for ev in ALL_EVENTS {
            let job = query_job(status);
            let got = query::apply(&job, &ev.event(), later(), ev.policy());
            let ctx = format!("{status} + {ev:?}");
            match expected(query_role(status), ev) {
                Expect::Moves(target, effects, error) => {
                    let t = got.unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    assert_eq!((t.from, t.to, t.change), (status, query_target(target), Change::Applied), "{ctx}");
                    assert_eq!(t.effects, effects, "{ctx}");
                    assert_eq!(t.job.status, t.to, "{ctx}");
                    assert_eq!(t.job.header.error.as_ref().map(|e| e.code), error, "{ctx}");
                    assert_eq!(t.job.header.version, job.header.version + 1, "{ctx}");
                }
                Expect::Ignored(reason, effects) => {
                    let t = got.unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    assert_eq!((t.to, t.change, t.effects), (status, Change::Ignored(reason), effects), "{ctx}");
                    assert_eq!(t.job, job, "{ctx}");
                }
                Expect::Illegal => assert_eq!(
                    got.unwrap_err(),
                    TransitionError::Illegal { state: status.as_str(), event: ev.event().name() },
                    "{ctx}"
                ),
                Expect::Early => assert!(got.unwrap_err().is_retryable(), "{ctx}"),
            }
        }
    }
}

#[test]
fn finishing_records_counts_and_times() {
    let job = ingest_job(BulkState::InProgress);
    let t = bulk::apply(&job, &Ev::FinishedCur.event(), later(), Ev::FinishedCur.policy()).unwrap();
    assert_eq!((t.job.number_records_processed, t.job.number_records_failed), (ROWS, ROWS_FAILED));
    assert_eq!(t.job.completed_at, Some(later()));

    let mut q = query_job(QueryStatus::Running);
    q.started_at = Some(t0());
    let t = query::apply(&q, &Ev::FinishedCur.event(), later(), Ev::FinishedCur.policy()).unwrap();
    assert_eq!(t.job.row_count, Some(ROWS));
    assert_eq!(t.job.execution_time_ms, Some(90_000));
    assert_eq!(t.job.result_location, Some(spectra_state_machine::ResultLocation::Inline));
}

#[test]
fn a_retry_opens_the_next_attempt() {
    let job = ingest_job(BulkState::InProgress);
    let t = bulk::apply(&job, &Ev::FailedRetryable.event(), later(), Ev::FailedRetryable.policy()).unwrap();
    assert_eq!(
        (t.job.header.execution.attempt, t.job.header.execution.retries, t.job.header.execution.statement_id),
        (CUR + 1, CUR, None)
    );
    assert_eq!(t.job.header.error, None);

    let t =
        bulk::apply(&job, &Ev::FailedRetriesExhausted.event(), later(), Ev::FailedRetriesExhausted.policy()).unwrap();
    let error = t.job.header.error.unwrap();
    assert!(error.message.contains("gave up after 2 attempts"), "{}", error.message);
}

/// A stop of the warehouse is not the statement's fault: the next attempt is opened without
/// using a retry, up to the policy's bound on interruptions.
#[test]
fn an_interruption_resubmits_without_using_a_retry() {
    let mut job = ingest_job(BulkState::InProgress);
    let policy = spectra_state_machine::RetryPolicy { max_retries: 0, max_interruptions: 2 };
    let t = bulk::apply(&job, &Ev::InterruptedCur.event(), later(), policy).unwrap();
    assert_eq!(t.job.state, BulkState::UploadComplete);
    assert_eq!(
        (t.job.header.execution.attempt, t.job.header.execution.retries),
        (CUR + 1, job.header.execution.retries)
    );

    // Two interruptions already (attempts = first + retries + interruptions): the third fails.
    job.header.execution.attempt = 1 + job.header.execution.retries + 2;
    job.header.execution.statement_id = Some(REC.to_owned());
    let event = spectra_state_machine::JobEvent::StatementInterrupted {
        attempt: job.header.execution.attempt,
        statement_id: REC.to_owned(),
    };
    let t = bulk::apply(&job, &event, later(), policy).unwrap();
    assert_eq!(t.job.state, BulkState::Failed);
    let error = t.job.header.error.unwrap();
    assert!(error.message.contains("stopped under the statement 3 times"), "{}", error.message);
}

#[test]
fn a_submit_records_its_statement_and_start_time() {
    let job = ingest_job(BulkState::UploadComplete);
    let t = bulk::apply(&job, &Ev::SubmittedNew.event(), later(), Ev::SubmittedNew.policy()).unwrap();
    assert_eq!(t.job.header.execution.statement_id.as_deref(), Some("stmt-new"));
    assert_eq!(t.job.started_at, Some(later()));
}

#[test]
fn creation_effects() {
    use spectra_state_machine::{BulkJobRequest, QueryJobRequest};
    let q = BulkJobRequest {
        operation: "query".into(),
        object: "sales".into(),
        query: Some("SELECT 1".into()),
        ..Default::default()
    };
    let (job, effects) = bulk::create(tenant(), q.validate().unwrap(), t0());
    assert_eq!((job.state, effects), (BulkState::UploadComplete, vec![PUBLISH, submit(1)]));
    let i = BulkJobRequest { operation: "insert".into(), object: "sales".into(), ..Default::default() };
    let (job, effects) = bulk::create(tenant(), i.validate().unwrap(), t0());
    assert_eq!((job.state, effects), (BulkState::Open, vec![PUBLISH]));
    let (job, effects) = query::create(
        tenant(),
        QueryJobRequest { sql: "SELECT 1".into(), ..Default::default() }.validate().unwrap(),
        t0(),
    );
    assert_eq!((job.status, effects), (QueryStatus::Queued, vec![PUBLISH, submit(1)]));
}
