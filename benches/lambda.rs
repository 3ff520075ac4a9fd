//! `spectra lambda` measured on the local stack: its cold start (process start → first
//! invocation answered), and its CPU per 1,000 export jobs driven by Lambda invocations against
//! the long-running `spectra worker` doing the same jobs in the same run.
//!
//! ```sh
//! eval "$(SPECTRA_BIN=$PWD/target/debug/spectra infra/local-stack start)"
//! SPECTRA_LAMBDA_BIN=target/release/spectra cargo bench --bench lambda   # the AWS-only build
//! infra/local-stack stop
//! ```
//! The Runtime API and the event source mapping are the end-to-end tests' own
//! (`tests/e2e/lambda_runtime.rs`): real receives from moto's queue, one batch of up to 10 per
//! invocation, the mapping deleting what the function did not report failed. Lambda runs
//! invocations in separate environments; here `FUNCTIONS` processes each take invocations one
//! at a time, so the function and the worker (`--max-in-flight 64`) both have jobs in flight.
//! `SPECTRA_LAMBDA_BIN` (default: this build's `spectra`) is the binary whose cold start is
//! timed; the CPU comparison uses this build's binary for both.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::print_stderr, missing_docs)]

#[path = "support/api.rs"]
mod api;
#[path = "../tests/e2e/lambda_runtime.rs"]
mod lambda_runtime;
#[path = "support/processes.rs"]
mod processes;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;

use api::Api;
use lambda_runtime::{Mapping, RuntimeApi, batch, failures};
use processes::{Process, need, spawn};

/// user+sys CPU seconds of a process so far (the clock rate asked of `getconf` once).
fn cpu_seconds(pid: u32) -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    processes::cpu_seconds(pid, *TICKS.get_or_init(processes::clock_ticks))
}

const JOBS: usize = 200;
const FUNCTIONS: usize = 4;
const COLD_STARTS: usize = 5;
const TIMEOUT: Duration = Duration::from_secs(60);

/// A function process behind its own Runtime API.
struct Function {
    runtime: RuntimeApi,
    process: Process,
}

fn start_function(bin: &str, config: &str) -> impl std::future::Future<Output = (Function, Duration)> {
    let (bin, config) = (bin.to_owned(), config.to_owned());
    async move {
        let runtime = RuntimeApi::start().await;
        let env = runtime.environment();
        let started = Instant::now();
        let (process, _, _) = tokio::task::spawn_blocking(move || {
            spawn(&bin, &["lambda", "--config", &config], &env, "lambda function ready")
        })
        .await
        .unwrap();
        (Function { runtime, process }, started.elapsed())
    }
}

/// Plays the event source mapping for one function until `done`: poll, invoke, settle.
async fn pump(function: Arc<Function>, mapping: Arc<Mapping>, done: Arc<std::sync::atomic::AtomicBool>) {
    while !done.load(std::sync::atomic::Ordering::Relaxed) {
        let records = mapping.poll(Duration::from_secs(120)).await;
        if records.is_empty() {
            continue;
        }
        let answer = function.runtime.invoke(batch(&records), TIMEOUT).await.expect("an invocation failed");
        mapping.settle(&records, &failures(&answer)).await;
    }
}

#[tokio::main]
async fn main() {
    need("AWS_ENDPOINT_URL");
    let queue = need("SPECTRA_QUEUE_URL");
    let bin = env!("CARGO_BIN_EXE_spectra");
    let artefact = std::env::var("SPECTRA_LAMBDA_BIN").unwrap_or_else(|_| bin.to_owned());
    let config = std::env::temp_dir().join(format!("spectra-lambda-bench-{}.env", std::process::id()));
    std::fs::write(&config, "SPECTRA_CLUSTER_IDENTIFIER=bench\nSPECTRA_DB_USER=spectra\n").unwrap();
    let config = config.to_str().unwrap().to_owned();
    let limits = "bulk_creates=100000,bulk_reads=1000000";
    let api_args = ["api", "--listen", "127.0.0.1:0", "--config", &config, "--rate-limits", limits];
    let (_api_process, addr, _) = spawn(bin, &api_args, &[], "listening on http://");
    let out = Command::new(bin).args(["keys", "create", "--aws", "--tenant", "bench"]).output().unwrap();
    let api = Api {
        base: format!("http://{addr}"),
        key: String::from_utf8(out.stdout).unwrap().trim().to_owned(),
        http: reqwest::Client::new(),
    };
    let mapping = Arc::new(Mapping::new(queue).await);
    Api::bench_table().await;
    let query = "SELECT id, amount FROM bench_sales WHERE id < 100";

    cold_starts(&api, &mapping, &artefact, &config, query).await;
    let lambda = through_functions(&api, &mapping, bin, &config, query).await;
    let worker = through_worker(&api, bin, &config, query).await;
    println!(
        "CPU per 1,000 export jobs ({JOBS} jobs): Lambda invocations {lambda:.1} s, the long-running worker \
         {worker:.1} s (user+sys); Lambda uses {:.2}× the worker's",
        lambda / worker
    );
    let _ = std::fs::remove_file(&config);
}

/// The next non-empty batch from the queue.
async fn next_batch(mapping: &Mapping) -> Vec<lambda_runtime::Record> {
    loop {
        let records = mapping.poll(Duration::from_secs(120)).await;
        if !records.is_empty() {
            return records;
        }
    }
}

/// Fresh processes, each given a job's submit as its first invocation: the time to ready
/// (connections, start-up checks) and to the first answer; then a second job's submit, the
/// same work warm, as the reference.
async fn cold_starts(api: &Api, mapping: &Arc<Mapping>, artefact: &str, config: &str, query: &str) {
    let (mut init, mut first, mut warm) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..COLD_STARTS {
        let jobs = [api.create(query).await];
        let records = next_batch(mapping).await;
        let started = Instant::now();
        let (function, ready) = start_function(artefact, config).await;
        let answer = function.runtime.invoke(batch(&records), TIMEOUT).await.expect("the first invocation");
        first.push(started.elapsed());
        init.push(ready);
        mapping.settle(&records, &failures(&answer)).await;
        let jobs = [jobs[0].clone(), api.create(query).await];
        let records = next_batch(mapping).await;
        let started = Instant::now();
        let answer = function.runtime.invoke(batch(&records), TIMEOUT).await.expect("the second invocation");
        warm.push(started.elapsed());
        mapping.settle(&records, &failures(&answer)).await;
        // The rest of the jobs (their statements' events) through the same function.
        let function = Arc::new(function);
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let pumping = tokio::spawn(pump(function.clone(), mapping.clone(), done.clone()));
        api.wait_all(&jobs).await;
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        pumping.await.unwrap();
    }
    let median = |mut d: Vec<Duration>| {
        d.sort();
        d[d.len() / 2].as_secs_f64() * 1000.0
    };
    println!(
        "cold start of {artefact} ({COLD_STARTS} fresh processes, medians): start -> ready {:.0} ms, \
         start -> first invocation answered {:.0} ms; the next invocation (the same work, warm) {:.0} ms",
        median(init),
        median(first),
        median(warm),
    );
}

/// `JOBS` export jobs, created 16 at a time, handled by `FUNCTIONS` function processes; their
/// CPU seconds per 1,000 jobs.
async fn through_functions(api: &Api, mapping: &Arc<Mapping>, bin: &str, config: &str, query: &str) -> f64 {
    let mut functions = Vec::new();
    for _ in 0..FUNCTIONS {
        functions.push(Arc::new(start_function(bin, config).await.0));
    }
    let before: f64 = functions.iter().map(|f| cpu_seconds(f.process.0.id())).sum();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pumps: Vec<_> =
        functions.iter().map(|f| tokio::spawn(pump(f.clone(), mapping.clone(), done.clone()))).collect();
    let started = Instant::now();
    let ids: Vec<String> =
        futures::stream::iter(0..JOBS).map(|_| api.create(query)).buffer_unordered(16).collect().await;
    api.wait_all(&ids).await;
    let elapsed = started.elapsed();
    let cpu: f64 = functions.iter().map(|f| cpu_seconds(f.process.0.id())).sum::<f64>() - before;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    for p in pumps {
        p.await.unwrap();
    }
    println!(
        "{JOBS} export jobs through {FUNCTIONS} function processes in {:.1} s ({:.1} jobs/s)",
        elapsed.as_secs_f64(),
        JOBS as f64 / elapsed.as_secs_f64()
    );
    cpu * 1000.0 / JOBS as f64
}

/// The same jobs through one `spectra worker`; its CPU seconds per 1,000 jobs.
async fn through_worker(api: &Api, bin: &str, config: &str, query: &str) -> f64 {
    let args = ["worker", "--config", config, "--max-in-flight", "64"];
    let (worker, _, _) = spawn(bin, &args, &[], "worker running");
    let before = cpu_seconds(worker.0.id());
    let started = Instant::now();
    let ids: Vec<String> =
        futures::stream::iter(0..JOBS).map(|_| api.create(query)).buffer_unordered(16).collect().await;
    api.wait_all(&ids).await;
    let elapsed = started.elapsed();
    let cpu = cpu_seconds(worker.0.id()) - before;
    println!(
        "{JOBS} export jobs through one worker in {:.1} s ({:.1} jobs/s)",
        elapsed.as_secs_f64(),
        JOBS as f64 / elapsed.as_secs_f64()
    );
    cpu * 1000.0 / JOBS as f64
}
