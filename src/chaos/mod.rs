//! `spectra chaos`: the project's own fault harness. It starts `spectra up` on a fresh data
//! directory, drives mixed bulk jobs with known effects through the REST API as a careful
//! producer would (idempotency keys, retries), injects faults by mode, then checks that nothing
//! was lost, doubled or left stuck, and prints the figures.
//!
//! # Layout
//! - [`setup`]: starting the system (`spectra up`, or `spectra api` + workers on AWS).
//! - [`target`]: the children — start, kill -9, SIGTERM with its exit timed.
//! - [`client`]: the retrying REST client.
//! - [`workload`]: the jobs and their expected effects.
//! - [`verify`]: the checks and the report.

mod client;
mod setup;
mod target;
mod verify;
mod workload;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use futures::StreamExt;
use spectra_worker::faults;

use crate::duration::parse_duration;
use crate::layers::Layers;
use client::Api;
use target::System;
use verify::Report;

/// A fault to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// kill -9 `spectra up` every ~interval and restart it.
    Kill,
    /// SIGTERM `spectra up` every ~interval (mid-statement, as statements are always running),
    /// time its exit against the deadline, restart it.
    Sigterm,
    /// Deliver every message twice.
    Duplicate,
    /// Lose a share (--share) of the statement status events; the reconciler must finish those jobs.
    DropEvents,
    /// Refuse a share (--share) of statement submits as throttled.
    Throttle,
}

/// `spectra chaos ...`
#[derive(Debug, Args)]
pub struct ChaosArgs {
    /// Faults to inject, comma-separated (several combine).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "kill")]
    pub mode: Vec<Mode>,
    /// Jobs to drive: a third each exports (every format), inserts and upserts.
    #[arg(long, default_value_t = 60)]
    pub jobs: u64,
    /// Rows per insert or upsert job (in two upload parts).
    #[arg(long, default_value_t = 2_000)]
    pub rows: u64,
    /// Jobs driven at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Mean time between kills or SIGTERMs; each wait is drawn from half to one and a half of it.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub interval: Duration,
    /// The share of events dropped (drop-events) or submits throttled (throttle).
    #[arg(long, default_value_t = 0.3)]
    pub share: f64,
    /// The `--shutdown-deadline` given to `spectra up`; a SIGTERM exit slower than it, or not
    /// clean, fails the run.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub shutdown_deadline: Duration,
    /// How long one step of a job (create, upload, wait for its end) may take before the job
    /// counts as unfinished.
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    pub step_timeout: Duration,
    /// The data directory for `spectra up`; must be new or empty. Default: a new directory under
    /// the system's temp dir, removed after a passing run.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Run on AWS instead (the local stack, or an account): a `spectra api` and --workers
    /// `spectra worker`s with the SPECTRA_* settings (environment, or --config, which is passed
    /// on to them), of which a kill or SIGTERM hits one worker. The run's directory then holds only their log.
    #[arg(long)]
    pub aws: bool,
    /// Workers to run with --aws.
    #[arg(long, default_value_t = 3)]
    pub workers: usize,
}

/// Runs `spectra chaos`; false when a check failed.
/// Runs the drill; `config` (the global `--config`) is passed on to the processes it starts.
pub async fn run(args: ChaosArgs, layers: &Layers, config: Option<&Path>) -> anyhow::Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.share) {
        bail!("--share must be between 0 and 1");
    }
    if args.jobs == 0 || args.rows < 2 || args.concurrency == 0 || args.workers == 0 {
        bail!("--jobs, --concurrency and --workers must be at least 1, --rows at least 2");
    }
    let (data_dir, ours) = data_dir(&args)?;
    let started = Instant::now();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    tracing::info!(data_dir = %data_dir.display(), "chaos: starting");
    let (mut target, api) = setup::start(&args, layers, config, &data_dir, &http).await?;
    api.admin_sql(&workload::setup_sql(args.jobs, args.rows), Duration::from_secs(60)).await?;

    let mut report = Report { mode: names(&args.mode), jobs: args.jobs, ..Report::default() };
    let outcomes = drive_under_faults(&args, &api, &mut target, &mut report).await?;
    tracing::info!("chaos: all jobs ended; checking");
    verify::check_jobs(&api, &outcomes, &mut report).await;
    verify::check_job_count(&api, &mut report).await?;
    verify::check_rows(&api, &outcomes, args.rows, &mut report).await?;
    target.stop().await?;
    count_injected(&data_dir, &mut report);
    report.seconds = started.elapsed().as_secs_f64();
    print(&report, args.json)?;
    let passed = report.passed();
    if passed && ours {
        let _ = std::fs::remove_dir_all(&data_dir);
    } else {
        tracing::warn!(data_dir = %data_dir.display(), "chaos: kept the run's directory (the children's log: chaos-up.log)");
    }
    Ok(if passed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Drives every job while the process modes strike, until every driver has finished.
async fn drive_under_faults(
    args: &ChaosArgs,
    api: &Api,
    target: &mut System,
    report: &mut Report,
) -> anyhow::Result<Vec<workload::Outcome>> {
    let run = format!("{:x}", fastrand::u64(..));
    let done = Arc::new(AtomicU64::new(0));
    let drivers = {
        let (api, done, jobs, rows, timeout) = (api.clone(), done.clone(), args.jobs, args.rows, args.step_timeout);
        let concurrency = args.concurrency;
        tokio::spawn(async move {
            futures::stream::iter(0..jobs)
                .map(|i| {
                    let (api, run, done) = (api.clone(), run.clone(), done.clone());
                    async move {
                        let outcome = workload::drive(&api, &run, i, rows, timeout).await;
                        done.fetch_add(1, Ordering::Relaxed);
                        outcome
                    }
                })
                .buffer_unordered(concurrency)
                .collect::<Vec<_>>()
                .await
        })
    };
    let strikes: Vec<Mode> = args.mode.iter().copied().filter(|m| matches!(m, Mode::Kill | Mode::Sigterm)).collect();
    let mut last_progress = Instant::now();
    while !drivers.is_finished() {
        if strikes.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        } else {
            tokio::time::sleep(args.interval.mul_f64(0.5 + fastrand::f64())).await;
            if drivers.is_finished() {
                break;
            }
            strike(strikes[fastrand::usize(..strikes.len())], args, target, report).await?;
        }
        if last_progress.elapsed() > Duration::from_secs(5) {
            last_progress = Instant::now();
            let ended = done.load(Ordering::Relaxed);
            tracing::info!(ended, of = args.jobs, kills = report.kills, sigterms = report.sigterms, "chaos: progress");
        }
    }
    let mut outcomes = drivers.await.context("a job driver panicked")?;
    outcomes.sort_by_key(|o| o.index);
    Ok(outcomes)
}

async fn strike(mode: Mode, args: &ChaosArgs, target: &mut System, report: &mut Report) -> anyhow::Result<()> {
    if mode == Mode::Kill {
        target.crash_one().await?;
        report.kills += 1;
        return Ok(());
    }
    let exit = target.terminate_one().await?;
    report.sigterms += 1;
    let ms = exit.took.as_millis() as u64;
    report.max_exit_ms = Some(report.max_exit_ms.map_or(ms, |m| m.max(ms)));
    if !exit.clean || exit.took > args.shutdown_deadline {
        report.bad_exits += 1;
        tracing::warn!(took = ?exit.took, clean = exit.clean, "chaos: a SIGTERM exit was unclean or past the deadline");
    }
    Ok(())
}

fn names(modes: &[Mode]) -> String {
    let names: Vec<String> =
        modes.iter().filter_map(|m| m.to_possible_value().map(|v| v.get_name().to_owned())).collect();
    names.join(",")
}

/// Counts the faults `spectra up` logged injecting.
fn count_injected(data_dir: &std::path::Path, report: &mut Report) {
    let log = std::fs::read_to_string(data_dir.join(target::LOG_FILE)).unwrap_or_default();
    let count = |marker: &str| log.lines().filter(|l| l.contains(marker)).count() as u64;
    report.duplicated = count(faults::DUPLICATING);
    report.events_dropped = count(faults::DROPPING);
    report.submits_throttled = count(faults::THROTTLING);
}

/// The data directory: the one given (new or empty), or a fresh one of our own.
fn data_dir(args: &ChaosArgs) -> anyhow::Result<(PathBuf, bool)> {
    let (dir, ours) = match &args.data_dir {
        Some(dir) => (dir.clone(), false),
        None => {
            let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
            (std::env::temp_dir().join(format!("spectra-chaos-{stamp}-{}", std::process::id())), true)
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    if std::fs::read_dir(&dir)?.next().is_some() {
        bail!("{} is not empty: a chaos run needs a fresh data directory", dir.display());
    }
    Ok((dir, ours))
}

fn print(report: &Report, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(report)?)?;
        return Ok(());
    }
    let exit = report.max_exit_ms.map_or("-".to_owned(), |ms| format!("{:.2} s", ms as f64 / 1000.0));
    writeln!(out, "chaos run: {} ({:.0} s)", report.mode, report.seconds)?;
    writeln!(
        out,
        "  jobs {:>6}   complete {:>6}   wrong counts {}   unfinished {}",
        report.jobs, report.complete, report.wrong_counts, report.unfinished
    )?;
    writeln!(
        out,
        "  extra jobs {}   duplicate rows {}   missing rows {}   wrong values {}",
        report.extra_jobs, report.duplicate_rows, report.missing_rows, report.wrong_values
    )?;
    writeln!(
        out,
        "  stuck keys {}   kills {}   sigterms {}   max SIGTERM exit {exit}   bad exits {}",
        report.stuck_keys, report.kills, report.sigterms, report.bad_exits
    )?;
    for problem in &report.problems {
        writeln!(out, "  problem: {problem}")?;
    }
    writeln!(
        out,
        "  injected: {} duplicates, {} events dropped, {} submits throttled",
        report.duplicated, report.events_dropped, report.submits_throttled
    )?;
    writeln!(out, "{}", if report.passed() { "PASSED" } else { "FAILED" })?;
    Ok(())
}
