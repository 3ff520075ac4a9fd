//! What the REST API adds to a query: `POST /v1/queries` with `SELECT 1` over a real socket
//! (auth, guard, row cap, job record, submit, polling, paging, JSON) against the same statement
//! submitted straight to the warehouse and polled the same way.
//!
//! Run: `cargo bench --workspace --profile dev --bench query_overhead` (set `BENCH_QUERIES`,
//! default 200). Prints p50 / p95 of both and the p50 overhead.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use spectra::app::{App, EmbeddedApp, EmbeddedConfig};
use spectra_state_machine::TenantId;
use spectra_worker::ports::{KeyStore, StatementRequest, Warehouse, mint_key, wait_for};
use tokio_util::sync::CancellationToken;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn summary(label: &str, mut ms: Vec<f64>) -> f64 {
    ms.sort_by(f64::total_cmp);
    let p50 = percentile(&ms, 0.5);
    println!("{label:<34} n {:>4}  p50 {p50:>7.2} ms  p95 {:>7.2} ms", ms.len(), percentile(&ms, 0.95));
    p50
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("BENCH_QUERIES").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config = EmbeddedConfig::new(dir.path(), &base);
    config.worker.consumer.wait = Duration::from_millis(200);
    let EmbeddedApp { mut app, stack, duck: warehouse } = App::embedded(config).await.unwrap();
    let keys: Arc<dyn KeyStore> = Arc::new(stack.keys.clone());
    let minted = mint_key(&TenantId::parse("bench").unwrap());
    keys.put(&minted.record).await.unwrap();
    // Measure the API, not the rate limiter's refusals.
    app.api.limits.queries = u64::MAX;
    let stop = CancellationToken::new();
    let (serving, router) = (stop.clone(), app.router());
    tokio::spawn(async move { axum::serve(listener, router).with_graceful_shutdown(serving.cancelled_owned()).await });
    let worker = app.start_worker(&stop);

    let mut direct = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let id = warehouse.execute(StatementRequest::single("SELECT 1")).await.unwrap();
        wait_for(warehouse.as_ref(), &id).await.unwrap();
        warehouse.results(&id, None).await.unwrap();
        direct.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let http = reqwest::Client::new();
    let mut api = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let response = http
            .post(format!("{base}/v1/queries"))
            .bearer_auth(&minted.key)
            .header("X-Tenant-ID", "bench")
            .json(&serde_json::json!({"sql": "SELECT 1"}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        response.bytes().await.unwrap();
        api.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let warehouse_p50 = summary("warehouse: execute + poll + result", direct);
    let api_p50 = summary("POST /v1/queries SELECT 1", api);
    println!("p50 overhead of the API over the warehouse: {:.2} ms", api_p50 - warehouse_p50);
    stop.cancel();
    worker.join().await.unwrap();
}
