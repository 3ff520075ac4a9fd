//! Jobs per second and CPU per job through the embedded stack: the producer library, the SQLite
//! queue and job store, the worker's consumer loop and handlers, and the DuckDB warehouse, all
//! in this process, built as `spectra up` builds them (`App::embedded`).
//!
//! Run: `cargo bench --workspace --profile dev --bench jobs` (set `BENCH_JOBS`, default
//! 200 per kind). It prints, per kind of job (a 1,000-row export to CSV, a 100-row CSV insert):
//! jobs, wall seconds, jobs/s, CPU ms per job (user + system, from /proc/self/stat), and the
//! p50 / p95 of each job's creation-to-completion time. Last, the export twice more, untraced
//! then with spans exported over OTLP (to a sink in this process, as
//! `OTEL_EXPORTER_OTLP_ENDPOINT` would send them to a collector), and the CPU ratio of the
//! two: what tracing costs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use opentelemetry::trace::TracerProvider as _;

use spectra::app::{App, EmbeddedApp, EmbeddedConfig};
use spectra_state_machine::{BulkJobRequest, Job, TenantId};
use spectra_worker::contract::warehouse::run;
use spectra_worker::ports::ByteReader;
use spectra_worker::producer::Producer;
use tokio_util::sync::CancellationToken;

/// CPU time of this process so far (Linux: utime + stime in clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat; after the name, `state` is index 0, so utime is 11, stime 12.
    (ticks(11) + ticks(12)) / 100.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn wait_all(producer: &Producer, tenant: &TenantId, ids: &[spectra_state_machine::JobId]) -> Vec<f64> {
    let mut latencies = Vec::new();
    for id in ids {
        loop {
            match producer.get(tenant, id).await.unwrap() {
                Job::Bulk(b) if b.state.is_terminal() => {
                    assert_eq!(b.state.as_str(), "JobComplete", "{b:?}");
                    let done = b.completed_at.unwrap();
                    latencies.push((done - b.created_at).num_microseconds().unwrap() as f64 / 1e6);
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    latencies
}

fn report(kind: &str, jobs: usize, wall: f64, cpu: f64, latencies: &[f64]) {
    println!(
        "{kind:<22} jobs {jobs:>5}  wall {wall:>7.2} s  {:>7.1} jobs/s  cpu {:>6.1} ms/job  p50 {:>6.0} ms  p95 {:>6.0} ms",
        jobs as f64 / wall,
        cpu * 1000.0 / jobs as f64,
        percentile(latencies, 0.5) * 1000.0,
        percentile(latencies, 0.95) * 1000.0,
    );
}

/// Creates `jobs` 1,000-row exports and waits for them; the CPU seconds they took.
async fn exports(producer: &Producer, tenant: &TenantId, jobs: usize, kind: &str) -> f64 {
    let (cpu0, start) = (cpu_seconds(), Instant::now());
    let mut ids = Vec::new();
    for i in 0..jobs {
        let request = BulkJobRequest {
            operation: "query".into(),
            object: "source".into(),
            query: Some(format!("SELECT * FROM source WHERE id % 7 <> {}", i % 7)),
            ..Default::default()
        };
        ids.push(producer.create_bulk(tenant, request, None, None).await.unwrap().header.job_id);
    }
    let latencies = wait_all(producer, tenant, &ids).await;
    let cpu = cpu_seconds() - cpu0;
    report(kind, jobs, start.elapsed().as_secs_f64(), cpu, &latencies);
    cpu
}

/// Creates `jobs` 100-row CSV inserts (upload, close) and waits for them.
async fn inserts(producer: &Producer, tenant: &TenantId, jobs: usize) {
    let csv: String = std::iter::once("id,name\n".to_owned()).chain((0..100).map(|i| format!("{i},n{i}\n"))).collect();
    let (cpu0, start) = (cpu_seconds(), Instant::now());
    let mut ids = Vec::new();
    for _ in 0..jobs {
        let request = BulkJobRequest { operation: "insert".into(), object: "sink".into(), ..Default::default() };
        let job = producer.create_bulk(tenant, request, None, None).await.unwrap();
        let body: ByteReader = Box::pin(std::io::Cursor::new(csv.clone().into_bytes()));
        producer.upload(tenant, &job.header.job_id, None, body).await.unwrap();
        producer.close(tenant, &job.header.job_id, None).await.unwrap();
        ids.push(job.header.job_id);
    }
    let latencies = wait_all(producer, tenant, &ids).await;
    report("insert 100-row CSV", jobs, start.elapsed().as_secs_f64(), cpu_seconds() - cpu0, &latencies);
}

/// Exports this process's spans from now on, as `spectra` does with an OTLP endpoint set, to a
/// sink that accepts them (and counts the bytes).
async fn export_spans() -> (spectra::telemetry::otlp::Exporting, Arc<AtomicUsize>) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let received = Arc::new(AtomicUsize::new(0));
    let counted = received.clone();
    let sink = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| async move {
            counted.fetch_add(body.len(), Ordering::Relaxed);
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, sink).await });
    let resource = spectra::telemetry::otlp::resource("spectra-bench");
    let exporting = spectra::telemetry::otlp::traces(resource, Some(&endpoint)).unwrap();
    let tracer = exporting.tracer_provider().unwrap().tracer("spectra");
    tracing_subscriber::registry().with(spectra::telemetry::otlp::trace_layer(tracer)).init();
    spectra_worker::trace::enable();
    (exporting, received)
}

#[tokio::main]
async fn main() {
    let jobs: usize = std::env::var("BENCH_JOBS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    let mut config = EmbeddedConfig::new(dir.path(), "http://127.0.0.1:9");
    config.worker.consumer.wait = Duration::from_millis(200);
    let EmbeddedApp { app, duck: warehouse, .. } = App::embedded(config).await.unwrap();
    run(warehouse.as_ref(), "CREATE TABLE source AS SELECT i AS id, 'name-' || i AS name FROM range(1000) r(i)").await;
    run(warehouse.as_ref(), "CREATE TABLE sink (id INTEGER, name VARCHAR)").await;
    let shutdown = CancellationToken::new();
    let worker = app.start_worker(&shutdown);
    let producer = app.api.producer.clone();
    let tenant = TenantId::parse("bench").unwrap();

    exports(&producer, &tenant, jobs, "export 1k rows -> CSV").await;
    inserts(&producer, &tenant, jobs).await;
    // The reference for tracing's cost: the same exports again, warm as the traced ones will be.
    let untraced = exports(&producer, &tenant, jobs, "export, untraced").await;
    let (exporting, received) = export_spans().await;
    let traced = exports(&producer, &tenant, jobs, "export, spans exported").await;
    exporting.shutdown().await;
    println!(
        "tracing on vs off (export): {:.2}x the CPU ({:+.2} ms/job), {:.1} KB of OTLP per job",
        traced / untraced,
        (traced - untraced) * 1000.0 / jobs as f64,
        received.load(Ordering::Relaxed) as f64 / 1024.0 / jobs as f64
    );

    shutdown.cancel();
    worker.join().await.unwrap();
}
