//! A statement's outcome racing the record of its submit: the handler read the job before the
//! submit was recorded, the write happens after. The outcome must be decided on the record it
//! replaces, so the job ends with the statement's real counts, never 0.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use spectra_local::EmbeddedPlatform;
use spectra_state_machine::{BulkJobRequest, Job, TenantId};
use spectra_warehouse::WarehouseConfig;
use spectra_worker::contract::warehouse::run;
use spectra_worker::handler::Worker;
use spectra_worker::handler::{Disposition, MessageHandler};
use spectra_worker::platform::{Platform, Settings};
use spectra_worker::ports::{Queue, ReceivedMessage, StatementStatus};
use spectra_worker::producer::Producer;

use crate::watched_store::WatchedStore;

async fn next_message(queue: &dyn Queue, what: &str) -> ReceivedMessage {
    for _ in 0..200 {
        if let Some(m) = queue.receive(1, Duration::from_millis(50), Duration::from_secs(30)).await.unwrap().pop() {
            return m;
        }
    }
    panic!("no {what} message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_racing_the_submit_record_keeps_the_statements_counts() {
    let dir = tempfile::tempdir().unwrap();
    let stack = EmbeddedPlatform::open(dir.path(), "http://127.0.0.1:1", Settings::default()).await.unwrap();
    let warehouse = Arc::new(spectra_warehouse::open_in(&stack, dir.path(), WarehouseConfig::default()).await.unwrap());
    assert_eq!(
        run(warehouse.as_ref(), "CREATE TABLE t AS SELECT * FROM range(30017) r(i)").await.status,
        StatementStatus::Finished
    );
    let tenant = TenantId::parse("acme").unwrap();
    let request = BulkJobRequest {
        operation: "query".into(),
        object: "t".into(),
        query: Some("SELECT i FROM t".into()),
        ..BulkJobRequest::default()
    };
    let job = Producer::new(stack.platform.clone()).create_bulk(&tenant, request, None, None).await.unwrap();
    let queue = stack.platform.queue.clone();
    let worker = Worker::new(stack.platform.clone(), warehouse.clone());

    // The submit: the job's record before it, then the worker submits and records it.
    let submit = next_message(queue.as_ref(), "submit").await;
    let before = stack.platform.store.get(&tenant, &job.header.job_id).await.unwrap().unwrap();
    assert_eq!(worker.handle(&submit).await, Disposition::Ack);
    // The statement's status-change event, handled with the record from before the submit.
    let event = next_message(queue.as_ref(), "statement event").await;
    let racing = Platform {
        store: Arc::new(WatchedStore::new(stack.platform.store.clone()).stale_once(before)),
        ..stack.platform.clone()
    };
    let raced = Worker::new(racing, warehouse.clone());
    let first = raced.handle(&event).await;
    let done = match stack.platform.store.get(&tenant, &job.header.job_id).await.unwrap().unwrap() {
        Job::Bulk(j) => j,
        Job::Query(_) => unreachable!(),
    };
    if first != Disposition::Ack {
        // Told to come back later is fine; completing with wrong counts is not.
        assert_ne!(done.state.as_str(), "JobComplete", "{first:?} but the job completed: {done:?}");
        assert_eq!(raced.handle(&event).await, Disposition::Ack);
    }
    let done = match stack.platform.store.get(&tenant, &job.header.job_id).await.unwrap().unwrap() {
        Job::Bulk(j) => j,
        Job::Query(_) => unreachable!(),
    };
    assert_eq!(done.state.as_str(), "JobComplete", "{done:?}");
    assert_eq!(done.number_records_processed, 30017, "the job's count is the statement's");
}
