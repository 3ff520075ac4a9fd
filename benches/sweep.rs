//! The reconciler on a backlog: N stale export jobs (default 10,000; `BENCH_STALE`) whose submit
//! commands were lost, on the embedded platform. Prints the seconds of one sweep (every page,
//! commands queued in batches), then the seconds until the worker (with the reconciler sweeping
//! every second, as submits past the active-statement limit wait for the next sweep) has
//! submitted and finished every one of them — the faults issue's target is 10 s for 10,000.
//!
//! Run: `cargo bench --workspace --profile dev --bench sweep` (or `--release`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, missing_docs)]

use std::time::{Duration, Instant};

use chrono::Utc;
use spectra::app::{App, EmbeddedApp, EmbeddedConfig};
use spectra_state_machine::{AnyState, BulkJobRequest, BulkState, Job, TenantId, bulk};
use spectra_worker::contract::warehouse::run;
use spectra_worker::reconciler::sweep;
use tokio_util::sync::CancellationToken;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("BENCH_STALE").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let mut config = EmbeddedConfig::new(dir.path(), "http://127.0.0.1:1");
    config.warehouse.max_active_statements = 64;
    config.worker.consumer.wait = Duration::from_millis(100);
    // Submits beyond the warehouse's active-statement limit are dropped and left to the next
    // sweep, as in production: sweep every second once the worker runs.
    config.worker.reconcile_interval = Some(Duration::from_secs(1));
    let EmbeddedApp { app, duck: warehouse, .. } = App::embedded(config).await.unwrap();
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
        app.platform.store.create(&Job::Bulk(job)).await.unwrap();
    }
    let started = Instant::now();
    let swept = sweep(&app.platform).await.unwrap();
    let sweep_s = started.elapsed().as_secs_f64();
    println!("stale jobs: {n}; one sweep queued {swept} reconciles in {sweep_s:.2} s");
    let stop = CancellationToken::new();
    let worker = app.start_worker(&stop);
    let done_state = [AnyState::Bulk(BulkState::UploadComplete), AnyState::Bulk(BulkState::InProgress)];
    loop {
        let left = app.platform.store.scan_stale(&done_state, Utc::now(), 1, None).await.unwrap();
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let repaired_s = started.elapsed().as_secs_f64();
    stop.cancel();
    worker.join().await.unwrap();
    println!("all {n} jobs submitted, run and finished {repaired_s:.1} s after the sweep began");
}
