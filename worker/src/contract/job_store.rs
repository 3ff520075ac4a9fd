//! The `JobStore` contract.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use spectra_state_machine::{
    AnyState, BulkJobRequest, BulkState, Job, JobEvent, JobId, Operation, QueryJobRequest, QueryStatus, RetryPolicy,
    TenantId, bulk, query,
};

use crate::ports::{JobStore, ListFilter, StaleCursor, StoreError, UpdateOutcome};

/// What the suite needs from an adapter under test.
#[async_trait]
pub trait JobStoreFixture: Send + Sync {
    /// The adapter.
    type Store: JobStore + 'static;
    /// A new, empty job table.
    async fn store(&self) -> Self::Store;
}

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 29, 10, 0, 0).unwrap() + Duration::minutes(minute)
}

fn bulk_job(tenant_id: &TenantId, operation: &str, created: DateTime<Utc>) -> Job {
    let request = BulkJobRequest {
        operation: operation.into(),
        object: "public.sales".into(),
        query: (operation == "query").then(|| "SELECT 1".into()),
        primary_key: matches!(operation, "upsert" | "update" | "delete").then(|| vec!["id".into()]),
        ..Default::default()
    };
    Job::Bulk(bulk::create(tenant_id.clone(), request.validate().unwrap(), created).0)
}

fn query_job(tenant_id: &TenantId, created: DateTime<Utc>) -> Job {
    let request = QueryJobRequest { sql: "SELECT 1".into(), ..Default::default() };
    Job::Query(query::create(tenant_id.clone(), request.validate().unwrap(), created).0)
}

/// Applies an event to a bulk job, as the worker does.
fn next(job: &Job, event: JobEvent, now: DateTime<Utc>) -> Job {
    let Job::Bulk(b) = job else { panic!("bulk job expected") };
    Job::Bulk(bulk::apply(b, &event, now, RetryPolicy::default()).unwrap().job)
}

/// A created job can be read back by its tenant only.
pub async fn creates_and_gets_within_a_tenant<F: JobStoreFixture>(f: &F) {
    let s = f.store().await;
    let job = bulk_job(&tenant("acme"), "insert", at(0));
    s.create(&job).await.unwrap();
    assert_eq!(s.get(&tenant("acme"), job.job_id()).await.unwrap(), Some(job.clone()));
    assert_eq!(s.get(&tenant("other"), job.job_id()).await.unwrap(), None, "another tenant saw the job");
    assert_eq!(s.get(&tenant("acme"), &JobId::new_bulk()).await.unwrap(), None);
}

/// Creating an existing id fails and keeps the original.
pub async fn create_never_overwrites<F: JobStoreFixture>(f: &F) {
    let s = f.store().await;
    let job = bulk_job(&tenant("acme"), "insert", at(0));
    s.create(&job).await.unwrap();
    let changed = next(&job, JobEvent::AbortRequested, at(1));
    assert!(matches!(s.create(&changed).await, Err(StoreError::AlreadyExists(_))));
    assert_eq!(s.get(&tenant("acme"), job.job_id()).await.unwrap(), Some(job));
}

/// An update from the stored version wins once; a second update from the same version loses
/// and is told the current record.
pub async fn updates_conditionally<F: JobStoreFixture>(f: &F) {
    let s = f.store().await;
    let job = bulk_job(&tenant("acme"), "insert", at(0));
    s.create(&job).await.unwrap();
    let closed = next(&job, JobEvent::UploadCompleted, at(1));
    assert_eq!(s.update(&job, &closed).await.unwrap(), UpdateOutcome::Updated);
    let aborted = next(&job, JobEvent::AbortRequested, at(1));
    match s.update(&job, &aborted).await.unwrap() {
        UpdateOutcome::LostRace { current } => assert_eq!(current.map(|c| *c), Some(closed.clone())),
        UpdateOutcome::Updated => panic!("a stale update won"),
    }
    assert_eq!(s.get(&tenant("acme"), job.job_id()).await.unwrap(), Some(closed));
    let skipping = Job::Bulk(match next(&job, JobEvent::AbortRequested, at(2)) {
        Job::Bulk(mut b) => {
            b.header.version += 1;
            b
        }
        Job::Query(_) => unreachable!(),
    });
    assert!(matches!(s.update(&job, &skipping).await, Err(StoreError::Invalid(_))), "a version jump was accepted");
}

/// Of many concurrent updates from the same version, exactly one wins.
pub async fn concurrent_updates_have_one_winner<F: JobStoreFixture>(f: &F) {
    let s = Arc::new(f.store().await);
    let job = bulk_job(&tenant("acme"), "insert", at(0));
    s.create(&job).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (s, job) = (Arc::clone(&s), job.clone());
        let event = if i % 2 == 0 { JobEvent::UploadCompleted } else { JobEvent::AbortRequested };
        tasks.push(tokio::spawn(async move {
            let new = next(&job, event, at(1));
            (s.update(&job, &new).await.unwrap(), new)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (outcome, new) = t.await.unwrap();
        if outcome == UpdateOutcome::Updated {
            winners.push(new);
        }
    }
    assert_eq!(winners.len(), 1, "{} updates won the same version", winners.len());
    assert_eq!(s.get(&tenant("acme"), job.job_id()).await.unwrap(), winners.pop());
}

/// Lists page newest first without gaps or repeats, filter, and refuse foreign tokens.
pub async fn lists_pages_and_filters<F: JobStoreFixture>(f: &F) {
    let s = f.store().await;
    let (acme, other) = (tenant("acme"), tenant("other"));
    let mut created = Vec::new();
    for (i, op) in ["insert", "upsert", "query", "insert", "delete", "insert", "update"].iter().enumerate() {
        let job = bulk_job(&acme, op, at(i as i64));
        s.create(&job).await.unwrap();
        created.push(job);
    }
    let q = query_job(&acme, at(20));
    s.create(&q).await.unwrap();
    s.create(&bulk_job(&other, "insert", at(30))).await.unwrap();

    let bulk_only = ListFilter { kind: Some(spectra_state_machine::JobKind::Bulk), ..ListFilter::default() };
    let (mut seen, mut token, mut pages) = (Vec::new(), None, 0);
    loop {
        let page = s.list(&acme, &bulk_only, 3, token.as_deref()).await.unwrap();
        pages += 1;
        seen.extend(page.jobs.iter().map(|j| j.job_id().clone()));
        match page.next_page {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    let expected: Vec<_> = created.iter().rev().map(|j| j.job_id().clone()).collect();
    assert_eq!(seen, expected, "not newest first, or gaps/repeats across pages");
    assert_eq!(pages, 3);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());

    let inserts = ListFilter { operation: Some(Operation::Insert), ..ListFilter::default() };
    assert_eq!(s.list(&acme, &inserts, 100, None).await.unwrap().jobs.len(), 3);
    let open = ListFilter { state: Some(AnyState::Bulk(BulkState::Open)), ..ListFilter::default() };
    assert_eq!(s.list(&acme, &open, 100, None).await.unwrap().jobs.len(), 6, "query jobs start UploadComplete");
    let queued = ListFilter { state: Some(AnyState::Query(QueryStatus::Queued)), ..ListFilter::default() };
    assert_eq!(s.list(&acme, &queued, 100, None).await.unwrap().jobs, vec![q]);
    assert_eq!(s.list(&other, &ListFilter::default(), 100, None).await.unwrap().jobs.len(), 1);

    let page = s.list(&acme, &ListFilter::default(), 2, None).await.unwrap();
    let token = page.next_page.unwrap();
    assert!(matches!(s.list(&other, &ListFilter::default(), 2, Some(&token)).await, Err(StoreError::InvalidPageToken)));
    assert!(matches!(
        s.list(&acme, &ListFilter::default(), 2, Some("garbage")).await,
        Err(StoreError::InvalidPageToken)
    ));
    assert!(matches!(s.list(&acme, &ListFilter::default(), 0, None).await, Err(StoreError::Invalid(_))));
    assert!(matches!(s.list(&acme, &ListFilter::default(), 101, None).await, Err(StoreError::Invalid(_))));
}

/// Stores an insert job of `t` created at minute 0 and closed (UploadComplete) at `minute`.
async fn closed(s: &dyn JobStore, t: &str, minute: i64) -> Job {
    let job = bulk_job(&tenant(t), "insert", at(0));
    let moved = next(&job, JobEvent::UploadCompleted, at(minute));
    s.create(&job).await.unwrap();
    assert_eq!(s.update(&job, &moved).await.unwrap(), UpdateOutcome::Updated);
    moved
}

/// Stale scans find jobs stuck in the given states across tenants, oldest first.
pub async fn scans_stale_jobs<F: JobStoreFixture>(f: &F) {
    let s = f.store().await;
    let stuck_a = closed(&s, "acme", 5).await;
    let stuck_b = closed(&s, "other", 2).await;
    closed(&s, "acme", 50).await;
    s.create(&bulk_job(&tenant("acme"), "insert", at(1))).await.unwrap(); // Open, not asked for
    let states = [AnyState::Bulk(BulkState::UploadComplete), AnyState::Bulk(BulkState::InProgress)];
    let found = s.scan_stale(&states, at(30), 10, None).await.unwrap();
    assert_eq!(found, vec![stuck_b.clone(), stuck_a.clone()], "wrong jobs or not oldest first");
    assert_eq!(s.scan_stale(&states, at(30), 1, None).await.unwrap(), vec![stuck_b.clone()]);
    let rest = s.scan_stale(&states, at(30), 10, Some(&StaleCursor::after(&stuck_b))).await.unwrap();
    assert_eq!(rest, vec![stuck_a.clone()], "a page resumes just after the cursor");
    assert!(s.scan_stale(&states, at(30), 10, Some(&StaleCursor::after(&stuck_a))).await.unwrap().is_empty());
}

/// A sweep pages through every stale job, those updated in the same millisecond included, each
/// exactly once.
pub async fn stale_scans_page_through_ties<F: JobStoreFixture>(f: &F) {
    let s = f.store().await;
    let mut expected = Vec::new();
    for (t, n) in [("acme", 7), ("beta", 6), ("acme-2", 5)] {
        for _ in 0..n {
            let job = bulk_job(&tenant(t), "insert", at(0));
            let stuck = next(&job, JobEvent::UploadCompleted, at(3));
            s.create(&job).await.unwrap();
            assert_eq!(s.update(&job, &stuck).await.unwrap(), UpdateOutcome::Updated);
            expected.push(stuck);
        }
    }
    let states = [AnyState::Bulk(BulkState::UploadComplete)];
    let (mut seen, mut cursor) = (Vec::new(), None::<StaleCursor>);
    loop {
        let page = s.scan_stale(&states, at(30), 4, cursor.as_ref()).await.unwrap();
        let Some(last) = page.last() else { break };
        cursor = Some(StaleCursor::after(last));
        seen.extend(page);
    }
    let ids = |jobs: &[Job]| {
        let mut ids: Vec<String> = jobs.iter().map(|j| format!("{}/{}", j.tenant_id(), j.job_id())).collect();
        ids.sort();
        ids
    };
    assert_eq!(seen.len(), expected.len(), "every stale job once");
    assert_eq!(ids(&seen), ids(&expected));
}

/// The operator's view: jobs of every tenant in the asked states, changed within the range,
/// most recent change first.
pub async fn lists_recent_jobs_across_tenants<F: JobStoreFixture>(f: &F) {
    let s = f.store().await;
    let a = closed(&s, "acme", 5).await;
    let b = closed(&s, "other", 9).await;
    let late = closed(&s, "acme", 40).await;
    let open = bulk_job(&tenant("third"), "insert", at(7));
    s.create(&open).await.unwrap();
    let ready = [AnyState::Bulk(BulkState::UploadComplete)];
    assert_eq!(s.recent(&ready, at(0), at(30), 10).await.unwrap(), vec![b.clone(), a.clone()]);
    assert_eq!(s.recent(&ready, at(0), at(30), 1).await.unwrap(), vec![b.clone()], "the most recent first");
    assert_eq!(s.recent(&ready, at(6), at(60), 10).await.unwrap(), vec![late.clone(), b.clone()]);
    assert_eq!(s.recent(&ready, at(0), at(5), 10).await.unwrap(), vec![], "the range's end is excluded");
    let both = [AnyState::Bulk(BulkState::UploadComplete), AnyState::Bulk(BulkState::Open)];
    assert_eq!(s.recent(&both, at(0), at(30), 10).await.unwrap(), vec![b, open, a]);
}

/// Generates one `#[tokio::test]` per job store check for a fixture expression.
#[macro_export]
macro_rules! job_store_contract_tests {
    ($fixture:expr) => {
        $crate::contract_tests!(job_store, $fixture;
            creates_and_gets_within_a_tenant,
            create_never_overwrites,
            updates_conditionally,
            concurrent_updates_have_one_winner,
            lists_pages_and_filters,
            scans_stale_jobs,
            stale_scans_page_through_ties,
            lists_recent_jobs_across_tenants,
        );
    };
}
