//! `spectra bulk ...`: the producer CLI over the producer library, on the data directory of the
//! embedded platform (beside a running `spectra up`, which does the work).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;
use spectra_local::ADDR_FILE;
use spectra_local::EmbeddedPlatform;
use spectra_state_machine::{AnyState, BulkJobRequest, BulkState, Job, JobId, JobKind, TenantId};
use spectra_worker::platform::Settings;
use spectra_worker::ports::{ByteReader, ListFilter, MAX_PAGE_SIZE};
use spectra_worker::producer::Producer;
use spectra_worker::results::JobResults;

use crate::cli::{BulkArgs, BulkCmd, CreateArgs};
use crate::progress::Progress;
use crate::table;

/// Opens the producer on the data directory. Links point at the running `spectra up`.
async fn producer(data_dir: &Path) -> anyhow::Result<(Producer, bool)> {
    let addr = tokio::fs::read_to_string(data_dir.join(ADDR_FILE)).await.ok();
    let running = addr.is_some();
    let public_url = format!("http://{}", addr.as_deref().map_or("127.0.0.1:8080", str::trim));
    let stack = EmbeddedPlatform::open(data_dir, &public_url, Settings::default())
        .await
        .with_context(|| format!("opening the data directory {}", data_dir.display()))?;
    Ok((Producer::new(stack.platform), running))
}

fn job_id(text: &str) -> anyhow::Result<JobId> {
    JobId::parse(text).with_context(|| format!("{text:?} is not a job id"))
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string_pretty(value)?)?;
    Ok(())
}

/// Runs `spectra bulk ...`.
pub async fn run(args: BulkArgs) -> anyhow::Result<ExitCode> {
    let tenant = args.tenant;
    let (producer, running) = producer(&args.data_dir).await?;
    match args.command {
        BulkCmd::Create(create) => create_job(&producer, &tenant, create).await,
        BulkCmd::Upload { job, files } => upload(&producer, &tenant, &job_id(&job)?, &files).await,
        BulkCmd::Close { job } => {
            let job = producer.close(&tenant, &job_id(&job)?, None).await?;
            say(&job)
        }
        BulkCmd::Abort { job } => {
            let job = producer.abort(&tenant, &job_id(&job)?, None).await?;
            say(&job)
        }
        BulkCmd::Get { job, wait, timeout } => get(&producer, &tenant, &job_id(&job)?, wait, timeout).await,
        BulkCmd::List { state, operation, limit, page } => {
            let filter = ListFilter { kind: Some(JobKind::Bulk), state: state.map(AnyState::Bulk), operation };
            let page = producer.list(&tenant, &filter, limit.clamp(1, MAX_PAGE_SIZE), page.as_deref()).await?;
            list(&page.jobs, page.next_page.as_deref())
        }
        BulkCmd::Results { job, json } => {
            if !running {
                bail!("no spectra up is serving {}; start it so that the download links work", args.data_dir.display());
            }
            let results = producer.results(&tenant, &job_id(&job)?).await?;
            show_results(&results, json)
        }
    }
}

async fn create_job(producer: &Producer, tenant: &TenantId, args: CreateArgs) -> anyhow::Result<ExitCode> {
    let request = BulkJobRequest {
        operation: args.operation,
        object: args.object,
        query: args.query,
        content_type: args.content_type,
        compression: args.compression,
        primary_key: if args.primary_key.is_empty() { None } else { Some(args.primary_key) },
    };
    let job = producer.create_bulk(tenant, request, None, None).await?;
    if args.json {
        print_json(&job)?;
    } else {
        writeln!(std::io::stdout().lock(), "{}", job.header.job_id)?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn upload(
    producer: &Producer,
    tenant: &TenantId,
    job: &JobId,
    files: &[std::path::PathBuf],
) -> anyhow::Result<ExitCode> {
    for path in files {
        let file = tokio::fs::File::open(path).await.with_context(|| format!("opening {}", path.display()))?;
        let size = file.metadata().await?.len();
        let label = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let body: ByteReader = Box::pin(Progress::new(file, label, size));
        let meta =
            producer.upload(tenant, job, None, body).await.with_context(|| format!("uploading {}", path.display()))?;
        writeln!(std::io::stdout().lock(), "uploaded {} as {} ({} bytes)", path.display(), meta.key, meta.size)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One line about a job's state, on stdout.
fn say(job: &Job) -> anyhow::Result<ExitCode> {
    writeln!(std::io::stdout().lock(), "{} {}", job.job_id(), job.state().as_str())?;
    Ok(ExitCode::SUCCESS)
}

fn finished(job: &Job) -> bool {
    match job.state() {
        AnyState::Bulk(s) => s.is_terminal(),
        AnyState::Query(s) => s.is_terminal(),
    }
}

async fn get(
    producer: &Producer,
    tenant: &TenantId,
    id: &JobId,
    wait: bool,
    timeout: Duration,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mut last_state = None;
    loop {
        let job = producer.get(tenant, id).await?;
        if !wait || finished(&job) {
            print_json(&job)?;
            let completed = matches!(job.state(), AnyState::Bulk(BulkState::JobComplete));
            return Ok(if !wait || completed { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
        if last_state != Some(job.state()) {
            // Progress goes to stderr, so stdout stays the final record.
            writeln!(std::io::stderr().lock(), "{id}: {}", job.state().as_str())?;
            last_state = Some(job.state());
        }
        if started.elapsed() > timeout {
            print_json(&job)?;
            bail!("job {id} is still {} after {timeout:?}", job.state().as_str());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn list(jobs: &[Job], next: Option<&str>) -> anyhow::Result<ExitCode> {
    let columns = ["job_id", "operation", "object", "state", "processed", "failed", "created_at"].map(String::from);
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .filter_map(|job| match job {
            Job::Bulk(b) => Some(vec![
                b.header.job_id.to_string(),
                b.operation.to_string(),
                b.object.to_string(),
                b.state.to_string(),
                b.number_records_processed.to_string(),
                b.number_records_failed.to_string(),
                b.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            ]),
            Job::Query(_) => None,
        })
        .collect();
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", table::render_text(&columns, &rows))?;
    if let Some(next) = next {
        writeln!(out, "more: --page {next}")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn show_results(results: &JobResults, json: bool) -> anyhow::Result<ExitCode> {
    let file = |f: &spectra_worker::results::ResultFile| json!({"key": f.key, "download_url": f.download_url, "size_bytes": f.size_bytes, "row_count": f.row_count});
    if json {
        print_json(&json!({
            "format": results.format.as_str(),
            "compression": results.compression.as_str(),
            "size_bytes": results.size_bytes(),
            "expires_at": results.expires_at,
            "files": results.files.iter().map(file).collect::<Vec<_>>(),
            "failed_records": results.failed_records.as_ref().map(file),
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let columns = ["file", "rows", "bytes", "download_url"].map(String::from);
    let mut rows: Vec<Vec<String>> = results
        .files
        .iter()
        .map(|f| {
            let rows = f.row_count.map_or_else(|| "-".into(), |n| n.to_string());
            vec![f.key.clone(), rows, f.size_bytes.to_string(), f.download_url.clone()]
        })
        .collect();
    if let Some(f) = &results.failed_records {
        rows.push(vec![f.key.clone(), "-".into(), f.size_bytes.to_string(), f.download_url.clone()]);
    }
    let expires = results.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    writeln!(std::io::stdout().lock(), "{}\nlinks expire at {expires}", table::render_text(&columns, &rows))?;
    Ok(ExitCode::SUCCESS)
}
