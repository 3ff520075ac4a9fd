//! The AWS path on the local stack, measured: end-to-end latency of small bulk export jobs, and
//! the worker's CPU per job, through `spectra api` + `spectra worker` on moto and the Data API
//! emulator.
//!
//! ```sh
//! eval "$(SPECTRA_BIN=$PWD/target/debug/spectra infra/local-stack start)"   # after a cargo build
//! cargo bench --profile dev --bench aws_stack                                # debug build, as tested
//! infra/local-stack stop
//! ```
//! Figures: p50/p95 latency (create → JobComplete, sequential), then user+sys CPU seconds of the
//! worker and of the API process per 1,000 jobs with many jobs in flight; after each phase, the
//! worker's AWS calls per job by operation (what it logs when it stops; one worker per phase);
//! last, the same protocol run by a Python/boto3 worker (`benches/reference_worker.py`, with
//! `SPECTRA_PYTHON`, the venv's interpreter, as `scripts/test` installs it), whose CPU per
//! 1,000 jobs is the worker's reference.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::print_stderr, missing_docs)]

#[path = "support/api.rs"]
mod api;
#[path = "support/processes.rs"]
mod processes;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;

use api::Api;
use processes::{Process, cpu_seconds, need};

/// `spectra <args>`, ready once it logged `ready`.
fn spawn(args: &[&str], ready: &str) -> (Process, String, std::sync::mpsc::Receiver<String>) {
    processes::spawn(env!("CARGO_BIN_EXE_spectra"), args, &[], ready)
}

const LATENCY_JOBS: usize = 30;
const CPU_JOBS: usize = 200;

/// Stops the worker (SIGTERM) and prints its AWS calls per job, from the line it logs last.
fn calls_per_job(mut worker: Process, logs: &std::sync::mpsc::Receiver<String>, jobs: usize, how: &str) {
    let pid = worker.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let line = loop {
        let line = logs.recv_timeout(Duration::from_secs(60)).expect("the worker's call counts");
        if line.contains("AWS calls made") {
            break line;
        }
    };
    let _ = worker.0.wait();
    let counts = line.split_once("total ").map_or("", |(_, rest)| rest);
    let counts = counts.split_once(':').map_or(counts, |(_, each)| each);
    let (mut total, mut sweeps) = (0.0, 0.0);
    println!("worker AWS calls per job, {how} ({jobs} jobs; startup checks and idle polls included):");
    for pair in counts.split_whitespace() {
        let Some((name, n)) = pair.split_once('=') else { continue };
        let n: f64 = n.trim_matches('"').parse().unwrap_or(0.0);
        total += n;
        // The reconciler's index queries run per sweep (every few seconds), not per job.
        if name == "DynamoDB.Query" {
            sweeps += n;
        }
        println!("  {name:<40} {:>6.2}", n / jobs as f64);
    }
    println!("  {:<40} {:>6.2}", "total", total / jobs as f64);
    println!("  {:<40} {:>6.2}", "total without the reconciler's sweeps", (total - sweeps) / jobs as f64);
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    need("AWS_ENDPOINT_URL");
    need("AWS_ENDPOINT_URL_REDSHIFT_DATA");
    need("SPECTRA_QUEUE_URL");
    let ticks = processes::clock_ticks();
    let config = std::env::temp_dir().join(format!("spectra-bench-{}.env", std::process::id()));
    std::fs::write(&config, "SPECTRA_CLUSTER_IDENTIFIER=bench\nSPECTRA_DB_USER=spectra\n").unwrap();
    let config = config.to_str().unwrap().to_owned();
    let (worker, _, worker_logs) = spawn(&["worker", "--config", &config, "--max-in-flight", "64"], "worker running");
    let (api_process, addr, _) = spawn(
        &[
            "api",
            "--listen",
            "127.0.0.1:0",
            "--config",
            &config,
            "--rate-limits",
            "bulk_creates=100000,bulk_reads=1000000",
        ],
        "listening on http://",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_spectra"))
        .args(["keys", "create", "--aws", "--tenant", "bench"])
        .output()
        .unwrap();
    let api = Api {
        base: format!("http://{addr}"),
        key: String::from_utf8(out.stdout).unwrap().trim().to_owned(),
        http: reqwest::Client::new(),
    };

    Api::bench_table().await;
    let query = "SELECT id, amount FROM bench_sales WHERE id < 100";

    // Warm up (connections, first UNLOAD).
    let warm = api.create(query).await;
    api.wait(&warm).await;

    let mut latencies = Vec::new();
    for n in 0..LATENCY_JOBS {
        if n % 10 == 0 {
            eprintln!("latency: {n}/{LATENCY_JOBS} jobs");
        }
        let started = Instant::now();
        let id = api.create(query).await;
        api.wait(&id).await;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    println!(
        "small export job, create -> JobComplete ({LATENCY_JOBS} sequential): p50 {:.0} ms  p95 {:.0} ms",
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.95).as_secs_f64() * 1000.0
    );

    calls_per_job(worker, &worker_logs, LATENCY_JOBS + 1, "sequential jobs, one at a time");

    let rust = many_in_flight(&api, query, &config, ticks, api_process.0.id()).await;
    drop(api_process);
    let python = python_reference(CPU_JOBS);
    println!(
        "reference: the same protocol in Python/boto3 (benches/reference_worker.py), {CPU_JOBS} jobs: \
         {python:.1} s CPU per 1,000 jobs; the worker uses {:.2}× of it",
        rust / python
    );
    let _ = std::fs::remove_file(&config);
}

/// The worker's CPU seconds per 1,000 jobs done by `benches/reference_worker.py`: the same
/// calls per job in Python/boto3, the same batching and concurrency. It reports its own
/// user+sys CPU from when its clients were ready until its last job completed.
fn python_reference(jobs: usize) -> f64 {
    use std::io::{BufRead, BufReader};
    let python = std::env::var("SPECTRA_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/reference_worker.py");
    let n = jobs.to_string();
    let child = Command::new(&python).args([script, "work", &n]).stdout(Stdio::piped()).spawn().unwrap();
    let mut worker = Process(child);
    let mut lines = BufReader::new(worker.0.stdout.take().unwrap()).lines().map_while(Result::ok);
    assert!(lines.any(|l| l == "ready"), "the reference worker did not start");
    assert!(Command::new(&python).args([script, "produce", &n]).status().unwrap().success());
    let report = lines.find(|l| l.starts_with("cpu ")).expect("the reference worker's CPU report");
    let cpu: f64 = report.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap();
    cpu * 1000.0 / jobs as f64
}

/// Many jobs in flight: producers creating 16 at a time, a fresh worker counting its calls and
/// its CPU (and the API's). Returns the worker's CPU seconds per 1,000 jobs.
async fn many_in_flight(api: &Api, query: &str, config: &str, ticks: f64, api_pid: u32) -> f64 {
    let worker_args = ["worker", "--config", config, "--max-in-flight", "64"];
    let (worker, _, worker_logs) = spawn(&worker_args, "worker running");
    let worker_pid = worker.0.id();
    let (worker_before, api_before) = (cpu_seconds(worker_pid, ticks), cpu_seconds(api_pid, ticks));
    let started = Instant::now();
    let ids: Vec<String> =
        futures::stream::iter(0..CPU_JOBS).map(|_| api.create(query)).buffer_unordered(16).collect().await;
    for id in &ids {
        api.wait(id).await;
    }
    let elapsed = started.elapsed();
    let worker_cpu = cpu_seconds(worker_pid, ticks) - worker_before;
    let api_cpu = cpu_seconds(api_pid, ticks) - api_before;
    println!(
        "{CPU_JOBS} export jobs in {:.1} s ({:.1} jobs/s); CPU per 1,000 jobs: worker {:.1} s, api {:.1} s (user+sys)",
        elapsed.as_secs_f64(),
        CPU_JOBS as f64 / elapsed.as_secs_f64(),
        worker_cpu * 1000.0 / CPU_JOBS as f64,
        api_cpu * 1000.0 / CPU_JOBS as f64,
    );
    calls_per_job(worker, &worker_logs, CPU_JOBS, "many jobs in flight");
    worker_cpu * 1000.0 / CPU_JOBS as f64
}
