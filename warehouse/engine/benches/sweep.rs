//! The reconciler on a backlog: N stale export jobs (default 10,000; `BENCH_STALE`) whose submit
//! commands were lost, on the embedded platform. Prints the seconds of one sweep (every page,
//! commands queued in batches), then the seconds until the worker (with the reconciler sweeping
//! every second, as submits past the active-statement limit wait for the next sweep) has
//! submitted and finished every one of them — the faults issue's target is 10 s for 10,000.
//!
//! Run: `cargo bench --workspace --profile dev --bench sweep` (or `--release`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use spectra_local::EmbeddedPlatform;
use spectra_state_machine::{AnyState, BulkJobRequest, BulkState, Job, TenantId, bulk};
use spectra_warehouse::WarehouseConfig;
use spectra_worker::consumer::{self, ConsumerConfig};
use spectra_worker::contract::warehouse::run;
use spectra_worker::handler::Worker;
use spectra_worker::platform::Settings;
use spectra_worker::reconciler::{self, sweep};
use tokio_util::sync::CancellationToken;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("BENCH_STALE").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings { statement_events: true, ..Settings::default() };
    let stack = EmbeddedPlatform::open(dir.path(), "http://127.0.0.1:1", settings).await.unwrap();
    let config = WarehouseConfig { max_active_statements: 64, ..WarehouseConfig::default() };
    let warehouse = Arc::new(spectra_warehouse::open_in(&stack, dir.path(), config).await.unwrap());
    run(warehouse.as_ref(), "CREATE TABLE t AS SELECT 1 AS x").await;
    let tenant = TenantId::parse("acme").unwrap();
    let long_ago = Utc::now() - chrono::Duration::hours(2);
    for _ in 0..n {
        let request = BulkJobRequest {
            operation: "query".into(),
            object: "t".into(),
            query: Some("SELECT x FROM t".into()),
            ..BulkJobRequest::default()
        };
        let (job, _) = bulk::create(tenant.clone(), request.validate().unwrap(), long_ago);
        stack.platform.store.create(&Job::Bulk(job)).await.unwrap();
    }
    let started = Instant::now();
    let swept = sweep(&stack.platform).await.unwrap();
    let sweep_s = started.elapsed().as_secs_f64();
    println!("stale jobs: {n}; one sweep queued {swept} reconciles in {sweep_s:.2} s");
    let stop = CancellationToken::new();
    let worker = Arc::new(Worker::new(stack.platform.clone(), warehouse));
    let consumer_config = ConsumerConfig { wait: Duration::from_millis(100), ..ConsumerConfig::default() };
    let consuming = tokio::spawn(consumer::run(stack.platform.queue.clone(), worker, consumer_config, stop.clone()));
    // Submits beyond the warehouse's active-statement limit are dropped and left to the next
    // sweep, as in production: keep sweeping every second.
    let sweeping = tokio::spawn(reconciler::run(stack.platform.clone(), Duration::from_secs(1), stop.clone()));
    let done_state = [AnyState::Bulk(BulkState::UploadComplete), AnyState::Bulk(BulkState::InProgress)];
    loop {
        let left = stack.platform.store.scan_stale(&done_state, Utc::now(), 1, None).await.unwrap();
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let repaired_s = started.elapsed().as_secs_f64();
    stop.cancel();
    let _ = consuming.await;
    let _ = sweeping.await;
    println!("all {n} jobs submitted, run and finished {repaired_s:.1} s after the sweep began");
}
