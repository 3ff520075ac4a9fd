//! The worker decides a statement's outcome on the record it wrote when it submitted the
//! statement, without reading the job again — and does not trust that record once someone
//! else has moved the job.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use spectra_local::EmbeddedPlatform;
use spectra_state_machine::{BulkJobRequest, Job, JobId, TenantId};
use spectra_warehouse::{DuckWarehouse, WarehouseConfig};
use spectra_worker::contract::warehouse::run;
use spectra_worker::handler::{Disposition, MessageHandler, Worker};
use spectra_worker::platform::{Platform, Settings};
use spectra_worker::ports::{
    ResultPage, StatementDescription, StatementRequest, StatementStatus, Warehouse, WarehouseError,
};
use spectra_worker::producer::Producer;

use crate::watched_store::WatchedStore;

/// The warehouse, its DescribeStatement calls counted.
struct CountedDescribes {
    inner: Arc<DuckWarehouse>,
    describes: AtomicUsize,
}

#[async_trait]
impl Warehouse for CountedDescribes {
    async fn execute(&self, request: StatementRequest) -> Result<String, WarehouseError> {
        self.inner.execute(request).await
    }
    async fn describe(&self, id: &str) -> Result<StatementDescription, WarehouseError> {
        self.describes.fetch_add(1, Ordering::SeqCst);
        self.inner.describe(id).await
    }
    async fn cancel(&self, id: &str) -> Result<bool, WarehouseError> {
        self.inner.cancel(id).await
    }
    async fn results(&self, id: &str, next_token: Option<&str>) -> Result<ResultPage, WarehouseError> {
        self.inner.results(id, next_token).await
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    platform: Platform,
    store: Arc<WatchedStore>,
    warehouse: Arc<CountedDescribes>,
    job: JobId,
    tenant: TenantId,
}

async fn export_job(sql: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let stack = EmbeddedPlatform::open(dir.path(), "http://127.0.0.1:1", Settings::default()).await.unwrap();
    let warehouse = Arc::new(spectra_warehouse::open_in(&stack, dir.path(), WarehouseConfig::default()).await.unwrap());
    let created = run(warehouse.as_ref(), "CREATE TABLE t AS SELECT * FROM range(1234) r(i)").await;
    assert_eq!(created.status, StatementStatus::Finished);
    let store = Arc::new(WatchedStore::new(stack.platform.store.clone()));
    let platform = Platform { store: store.clone(), ..stack.platform.clone() };
    let tenant = TenantId::parse("acme").unwrap();
    let request =
        BulkJobRequest { operation: "query".into(), object: "t".into(), query: Some(sql.into()), ..Default::default() };
    let job = Producer::new(platform.clone()).create_bulk(&tenant, request, None, None).await.unwrap().header.job_id;
    let warehouse = Arc::new(CountedDescribes { inner: warehouse, describes: AtomicUsize::new(0) });
    Setup { _dir: dir, platform, store, warehouse, job, tenant }
}

/// Handles every message until the job has ended and the queue is empty; how many.
async fn drain(worker: &Worker, s: &Setup) -> usize {
    let (queue, mut handled) = (&s.platform.queue, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        match queue.receive(1, Duration::from_millis(500), Duration::from_secs(30)).await.unwrap().pop() {
            Some(m) => {
                assert_eq!(worker.handle(&m).await, Disposition::Ack, "{}", m.body);
                queue.ack(std::slice::from_ref(&m.receipt)).await.unwrap();
                handled += 1;
            }
            None if ["JobComplete", "Failed", "Aborted"].contains(&state(s).await.0.as_str()) => return handled,
            None => assert!(std::time::Instant::now() < deadline, "the job did not end: {:?}", state(s).await),
        }
    }
}

/// The job's state and count, read past the counter.
async fn state(s: &Setup) -> (String, u64) {
    match s.store.inner.get(&s.tenant, &s.job).await.unwrap().unwrap() {
        Job::Bulk(j) => (j.state.as_str().to_owned(), j.number_records_processed),
        Job::Query(_) => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_submitting_worker_completes_the_job_on_what_it_wrote_and_the_event_says() {
    let s = export_job("SELECT i FROM t").await;
    let worker = Worker::new(s.platform.clone(), s.warehouse.clone() as Arc<dyn Warehouse>);
    assert_eq!(drain(&worker, &s).await, 2, "the submit and the statement's event");
    assert_eq!(s.store.reads(), 1, "one read, for the submit");
    assert_eq!(s.warehouse.describes.load(Ordering::SeqCst), 0, "the event's row count is the statement's");
    assert_eq!(state(&s).await, ("JobComplete".to_owned(), 1234));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_record_is_not_trusted_once_the_job_moved() {
    let s = export_job("SELECT i FROM t").await;
    let worker = Worker::new(s.platform.clone(), s.warehouse.clone() as Arc<dyn Warehouse>);
    let submit = s.platform.queue.receive(1, Duration::from_secs(5), Duration::from_secs(30)).await.unwrap().pop();
    let submit = submit.expect("the submit command");
    assert_eq!(worker.handle(&submit).await, Disposition::Ack);
    s.platform.queue.ack(&[submit.receipt]).await.unwrap();
    // Aborted behind the worker's back, after it remembered the job as running.
    Producer::new(s.platform.clone()).abort(&s.tenant, &s.job, None).await.unwrap();
    drain(&worker, &s).await;
    assert_eq!(state(&s).await.0, "Aborted");
}
