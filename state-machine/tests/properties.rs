//! Property tests over random event sequences, for bulk ingest jobs, bulk query jobs and async
//! query jobs. Events are generated as abstract actions ("the current attempt finished", "an
//! older attempt's statement failed") and made concrete against the job as it stands, so that
//! sequences reach every state instead of bouncing off stale-event checks.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use chrono::Duration;
use common::*;
use proptest::prelude::*;
use spectra_state_machine::{
    BulkJobRequest, Change, Effect, Execution, JobEvent, QueryJobRequest, RetryPolicy, Transition, bulk, query,
};

#[derive(Debug, Clone)]
enum Which {
    Current,
    Older,
    Newer,
}

#[derive(Debug, Clone)]
enum Action {
    UploadCompleted,
    AbortRequested,
    DeadlinePassed,
    /// `fresh`: a statement id not seen before (else the recorded one, when there is one).
    Submitted {
        which: Which,
        fresh: bool,
    },
    Finished {
        which: Which,
        rows: u64,
        rows_failed: u64,
    },
    Failed {
        which: Which,
        retryable: bool,
    },
    Aborted {
        which: Which,
    },
    Rejected {
        which: Which,
    },
}

fn which() -> impl Strategy<Value = Which> {
    prop_oneof![6 => Just(Which::Current), 1 => Just(Which::Older), 1 => Just(Which::Newer)]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        2 => Just(Action::UploadCompleted),
        1 => Just(Action::AbortRequested),
        1 => Just(Action::DeadlinePassed),
        4 => (which(), any::<bool>()).prop_map(|(which, fresh)| Action::Submitted { which, fresh }),
        2 => (which(), 0u64..1_000_000, 0u64..100).prop_map(|(which, rows, rows_failed)| Action::Finished { which, rows, rows_failed }),
        4 => (which(), prop::bool::weighted(0.8)).prop_map(|(which, retryable)| Action::Failed { which, retryable }),
        1 => which().prop_map(|which| Action::Aborted { which }),
        1 => which().prop_map(|which| Action::Rejected { which }),
    ]
}

/// Makes an action concrete against the job's execution; `serial` mints fresh statement ids.
fn concretise(action: &Action, exec: &Execution, serial: &mut u32) -> JobEvent {
    let attempt = |w: &Which| match w {
        Which::Current => exec.attempt,
        Which::Older => exec.attempt.saturating_sub(1).max(1),
        Which::Newer => exec.attempt + 1,
    };
    let mut fresh_id = || {
        *serial += 1;
        format!("stmt-{serial}")
    };
    let id = |w: &Which, fresh_id: &mut dyn FnMut() -> String| match (w, &exec.statement_id) {
        (Which::Current, Some(id)) => id.clone(),
        _ => fresh_id(),
    };
    match action {
        Action::UploadCompleted => JobEvent::UploadCompleted,
        Action::AbortRequested => JobEvent::AbortRequested,
        Action::DeadlinePassed => JobEvent::DeadlinePassed,
        Action::Submitted { which, fresh } => {
            let statement_id = if *fresh { fresh_id() } else { id(which, &mut fresh_id) };
            JobEvent::StatementSubmitted { attempt: attempt(which), statement_id }
        }
        Action::Finished { which, rows, rows_failed } => JobEvent::StatementFinished {
            attempt: attempt(which),
            statement_id: id(which, &mut fresh_id),
            rows: *rows,
            rows_failed: *rows_failed,
        },
        Action::Failed { which, retryable } => JobEvent::StatementFailed {
            attempt: attempt(which),
            statement_id: id(which, &mut fresh_id),
            message: "boom".into(),
            retryable: *retryable,
        },
        Action::Aborted { which } => {
            JobEvent::StatementAborted { attempt: attempt(which), statement_id: id(which, &mut fresh_id) }
        }
        Action::Rejected { which } => JobEvent::SubmitRejected { attempt: attempt(which), message: "bad".into() },
    }
}

/// What the properties need to know of a record, whatever its kind.
trait Observed: Clone + PartialEq + std::fmt::Debug {
    fn execution(&self) -> &Execution;
    fn version(&self) -> u64;
    fn is_terminal(&self) -> bool;
    fn counts(&self) -> (u64, u64);
}

impl Observed for spectra_state_machine::BulkJob {
    fn execution(&self) -> &Execution {
        &self.header.execution
    }
    fn version(&self) -> u64 {
        self.header.version
    }
    fn is_terminal(&self) -> bool {
        self.state.is_terminal()
    }
    fn counts(&self) -> (u64, u64) {
        (self.number_records_processed, self.number_records_failed)
    }
}

impl Observed for spectra_state_machine::QueryJob {
    fn execution(&self) -> &Execution {
        &self.header.execution
    }
    fn version(&self) -> u64 {
        self.header.version
    }
    fn is_terminal(&self) -> bool {
        self.status.is_terminal()
    }
    fn counts(&self) -> (u64, u64) {
        (self.row_count.unwrap_or(0), 0)
    }
}

/// Runs `actions` through `apply` from `job`, checking every property after every step.
fn check_run<J: Observed, S: Copy + PartialEq + std::fmt::Debug, E: std::fmt::Debug>(
    mut job: J,
    actions: &[Action],
    policy: RetryPolicy,
    apply: impl Fn(&J, &JobEvent, chrono::DateTime<chrono::Utc>) -> Result<Transition<J, S>, E>,
) -> Result<(), TestCaseError> {
    let mut serial = 0;
    // attempt -> statement ids accepted for it (a submit that moved the job to running).
    let mut accepted: HashMap<u32, Vec<String>> = HashMap::new();
    for (i, action) in actions.iter().enumerate() {
        let event = concretise(action, job.execution(), &mut serial);
        let now = t0() + Duration::seconds(i as i64 + 1);
        let before = job.clone();
        let Ok(t) = apply(&job, &event, now) else {
            continue; // an error changes nothing: `job` stays as it was
        };
        match t.change {
            Change::Ignored(_) => {
                prop_assert_eq!(&t.job, &before, "an ignored event changed the record");
            }
            Change::Applied => {
                prop_assert!(!before.is_terminal(), "terminal state left: {:?} -> {:?}", t.from, t.to);
                prop_assert_eq!(t.job.version(), before.version() + 1, "each write bumps the version once");
                prop_assert!(t.effects.contains(&Effect::PublishStateChange), "transitions are announced");
            }
        }
        let (exec, old) = (t.job.execution(), before.execution());
        prop_assert!(exec.retries <= policy.max_retries, "retries {} over limit {}", exec.retries, policy.max_retries);
        prop_assert_eq!(exec.attempt, exec.retries + 1, "attempt and retries drift apart");
        prop_assert!(exec.retries >= old.retries, "retries went down");
        let (rows, failed) = t.job.counts();
        prop_assert!(rows >= before.counts().0 && failed >= before.counts().1, "counts went down");
        // A statement is only ever recorded from a submit of exactly the job's attempt.
        if let Some(id) = exec.statement_id.as_ref().filter(|_| exec.statement_id != old.statement_id) {
            let from_submit = matches!(&event, JobEvent::StatementSubmitted { attempt, statement_id }
                if *attempt == exec.attempt && statement_id == id);
            prop_assert!(from_submit, "statement {} recorded for attempt {} from {:?}", id, exec.attempt, event);
            accepted.entry(exec.attempt).or_default().push(id.clone());
        }
        for effect in &t.effects {
            if let Effect::SubmitStatement { attempt } = effect {
                prop_assert_eq!(*attempt, exec.attempt, "a submit for an attempt the job is not on");
            }
        }
        job = t.job;
    }
    for (attempt, ids) in accepted {
        prop_assert!(ids.len() <= 1, "attempt {} ran {} statements: {:?}", attempt, ids.len(), ids);
    }
    Ok(())
}

fn policy() -> impl Strategy<Value = RetryPolicy> {
    (0u32..5).prop_map(|max_retries| RetryPolicy { max_retries, ..Default::default() })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn bulk_ingest_sequences(actions in prop::collection::vec(action(), 0..40), policy in policy()) {
        let spec = BulkJobRequest { operation: "insert".into(), object: "sales".into(), ..Default::default() };
        let (job, _) = bulk::create(tenant(), spec.validate().unwrap(), t0());
        check_run(job, &actions, policy, |j, e, now| bulk::apply(j, e, now, policy))?;
    }

    #[test]
    fn bulk_query_sequences(actions in prop::collection::vec(action(), 0..40), policy in policy()) {
        let spec = BulkJobRequest {
            operation: "query".into(), object: "sales".into(), query: Some("SELECT 1".into()), ..Default::default()
        };
        let (job, _) = bulk::create(tenant(), spec.validate().unwrap(), t0());
        check_run(job, &actions, policy, |j, e, now| bulk::apply(j, e, now, policy))?;
    }

    #[test]
    fn query_job_sequences(actions in prop::collection::vec(action(), 0..40), policy in policy()) {
        let spec = QueryJobRequest { sql: "SELECT 1".into(), ..Default::default() };
        let (job, _) = query::create(tenant(), spec.validate().unwrap(), t0());
        check_run(job, &actions, policy, |j, e, now| query::apply(j, e, now, policy))?;
    }
}
