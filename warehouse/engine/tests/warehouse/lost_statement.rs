//! A running job whose statement the warehouse does not know: the reconciler retries it. The
//! embedded warehouse records a tenant's query only when it ends, so a restart during the read
//! forgets it (on Redshift, a statement is forgotten after 24 hours, past every deadline).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use spectra_local::{EmbeddedPlatform, OBJECTS_DIR};
use spectra_state_machine::{Job, QueryJobRequest, QueryStatus, TenantId};
use spectra_warehouse::{DuckWarehouse, WarehouseConfig};
use spectra_worker::contract::warehouse::run;
use spectra_worker::handler::{Disposition, MessageHandler, Worker};
use spectra_worker::platform::Settings;
use spectra_worker::ports::{StatementStatus, Warehouse};
use spectra_worker::producer::{Producer, Runner};
use spectra_worker::reconciler::sweep;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_whose_statement_was_forgotten_is_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings { reconcile_grace: Duration::ZERO, ..Settings::default() };
    let stack = EmbeddedPlatform::open(dir.path(), "http://127.0.0.1:1", settings).await.unwrap();
    let queue = &stack.platform.queue;
    // The warehouse before the restart: it takes the submit, and its event is lost with it.
    let before = dir.path().join("before.duckdb");
    let first = Arc::new(
        DuckWarehouse::open(&before, &dir.path().join(OBJECTS_DIR), WarehouseConfig::default(), None).await.unwrap(),
    );
    let tenant = TenantId::parse("acme").unwrap();
    let request = QueryJobRequest { sql: "SELECT 42 AS answer".into(), parameters: Vec::new(), output_format: None };
    let producer = Producer::new(stack.platform.clone());
    let job = producer.create_query(&tenant, request, Runner::Worker, None, None).await.unwrap().header.job_id;
    let submit = queue.receive(1, Duration::from_secs(5), Duration::from_secs(30)).await.unwrap().pop().unwrap();
    let worker = Worker::new(stack.platform.clone(), first.clone() as Arc<dyn Warehouse>);
    assert_eq!(worker.handle(&submit).await, Disposition::Ack);
    queue.ack(std::slice::from_ref(&submit.receipt)).await.unwrap();
    let Some(Job::Query(running)) = stack.platform.store.get(&tenant, &job).await.unwrap() else { panic!() };
    assert_eq!(running.status, QueryStatus::Running);
    let lost = running.header.execution.statement_id.clone().unwrap();

    // After the restart: a warehouse that has no record of that statement.
    let after = Arc::new(spectra_warehouse::open_in(&stack, dir.path(), WarehouseConfig::default()).await.unwrap());
    assert!(after.describe(&lost).await.is_err(), "the new warehouse must not know {lost}");
    assert_eq!(run(after.as_ref(), "SELECT 1").await.status, StatementStatus::Finished);
    let worker = Worker::new(stack.platform.clone(), after.clone() as Arc<dyn Warehouse>);
    assert_eq!(sweep(&stack.platform).await.unwrap(), 1, "the running job is stale");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let done = loop {
        if let Some(m) = queue.receive(1, Duration::from_millis(200), Duration::from_secs(30)).await.unwrap().pop() {
            assert_eq!(worker.handle(&m).await, Disposition::Ack, "{}", m.body);
            queue.ack(std::slice::from_ref(&m.receipt)).await.unwrap();
        }
        let Some(Job::Query(job)) = stack.platform.store.get(&tenant, &job).await.unwrap() else { panic!() };
        if job.status != QueryStatus::Running && job.status != QueryStatus::Queued {
            break job;
        }
        assert!(std::time::Instant::now() < deadline, "the job was left {:?} on {lost}", job.status);
    };
    assert_eq!(done.status, QueryStatus::Completed, "{done:?}");
    assert_eq!(done.header.execution.attempt, 2, "run again, as a new attempt");
    assert_ne!(done.header.execution.statement_id.as_deref(), Some(lost.as_str()));
}
