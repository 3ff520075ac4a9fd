//! Starting the system under test and the client that drives it: `spectra up` on the run's
//! directory, or on AWS (the local stack or a real account) a `spectra api` and several
//! `spectra worker`s, with a tenant and API key of the run's own.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use spectra_aws::AwsPlatform;
use spectra_local::TOKEN_FILE;
use spectra_state_machine::TenantId;
use spectra_worker::platform::Settings;
use spectra_worker::ports::{KeyStore, Warehouse, mint_key};

use super::client::{Api, Operator};
use super::target::{Proc, System};
use super::{ChaosArgs, Mode};
use crate::keys::DEMO_KEY_FILE;
use crate::layers::Layers;
use crate::up::DEMO_TENANT;

/// Starts the system and returns it with a client for it.
pub async fn start(
    args: &ChaosArgs,
    layers: &Layers,
    config_file: Option<&Path>,
    dir: &Path,
    http: &reqwest::Client,
) -> anyhow::Result<(System, Api)> {
    let exe = std::env::current_exe().context("locating the spectra binary")?;
    let addr = free_port()?;
    let base = format!("http://{addr}");
    let health = Some(format!("{base}/health"));
    if !args.aws {
        let mut flags = vec!["up".to_owned(), "--data-dir".into(), dir.display().to_string()];
        flags.extend(["--listen".to_owned(), addr.to_string()]);
        flags.extend(worker_flags(args));
        flags.extend(api_flags());
        tracing::info!(?flags, "chaos: starting spectra up");
        let up = Proc::start(&exe, flags, dir, health, http.clone()).await?;
        let key = read_when_written(dir, DEMO_KEY_FILE).await?;
        let operator = Operator::Admin(read_when_written(dir, TOKEN_FILE).await?);
        return Ok((System::Embedded(up), Api::new(http.clone(), base, key, DEMO_TENANT.into(), operator)));
    }
    let config: Vec<String> = match config_file {
        Some(path) => vec!["--config".into(), path.display().to_string()],
        None => Vec::new(),
    };
    let settings = crate::aws_mode::settings_of(layers)?;
    let aws = AwsPlatform::connect(&settings, Settings::default()).await.context("connecting to AWS")?;
    // A tenant of the run's own, so the job count and keys see only this run.
    let tenant = TenantId::parse(&format!("chaos{:08x}", fastrand::u32(..)))?;
    let minted = mint_key(&tenant);
    aws.keys.put(&minted.record).await.context("storing the run's API key")?;

    let api_args = [vec!["api".to_owned(), "--listen".into(), addr.to_string()], config.clone(), api_flags()].concat();
    let api = Proc::start(&exe, api_args, dir, health, http.clone()).await?;
    let mut workers = Vec::new();
    for _ in 0..args.workers {
        let flags =
            [vec!["worker".to_owned(), "--receive-wait".into(), "1s".into()], config.clone(), worker_flags(args)];
        workers.push(Proc::start(&exe, flags.concat(), dir, None, http.clone()).await?);
    }
    let warehouse: Arc<dyn Warehouse> = aws.warehouse.clone();
    let client = Api::new(http.clone(), base, minted.key, tenant.to_string(), Operator::DataApi(warehouse));
    Ok((System::Aws { api, workers }, client))
}

/// The worker's flags: the faults asked for, a reconciler quick enough for a short run, a short
/// visibility (a killed worker's messages come back soon).
fn worker_flags(args: &ChaosArgs) -> Vec<String> {
    let share = |m: Mode| if args.mode.contains(&m) { args.share } else { 0.0 };
    let duplicate = if args.mode.contains(&Mode::Duplicate) { 1.0 } else { 0.0 };
    let faults =
        format!("duplicate={duplicate},drop-events={},throttle={}", share(Mode::DropEvents), share(Mode::Throttle));
    pairs(&[
        ("--inject-faults", faults),
        ("--shutdown-deadline", format!("{}ms", args.shutdown_deadline.as_millis())),
        ("--reconcile-interval", "2s".into()),
        ("--reconcile-grace", "5s".into()),
        ("--visibility-timeout", "5s".into()),
    ])
}

/// Rate limits that do not throttle the harness itself.
fn api_flags() -> Vec<String> {
    pairs(&[("--rate-limits", "queries=1000000,job_reads=1000000,bulk_creates=1000000,bulk_reads=1000000".into())])
}

fn pairs(flags: &[(&str, String)]) -> Vec<String> {
    flags.iter().flat_map(|(flag, value)| [(*flag).to_owned(), value.clone()]).collect()
}

/// A file `spectra up` writes just after it starts serving.
async fn read_when_written(dir: &Path, name: &str) -> anyhow::Result<String> {
    let path = dir.join(name);
    for _ in 0..200 {
        if let Ok(text) = tokio::fs::read_to_string(&path).await
            && !text.trim().is_empty()
        {
            return Ok(text.trim().to_owned());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("spectra up did not write {} within 10 s", path.display())
}

/// A loopback port free now, kept for every restart so links and clients survive them.
fn free_port() -> anyhow::Result<std::net::SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?)
}
