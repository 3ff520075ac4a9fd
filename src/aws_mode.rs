//! `spectra worker` and `spectra api`: AWS mode. Every port on its AWS adapter, configured by
//! `SPECTRA_*` variables and an optional config file of the same lines ([`Layers`]); a missing
//! or contradictory setting stops the command at start, naming the setting.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use spectra::app::{ApiConfig, App, AwsConfig, WorkerConfig};
use spectra_aws::{AwsOptions, AwsSettings, DynamoKeyStore};
use spectra_worker::platform::Settings;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cli::{ApiArgs, WorkerArgs};
use crate::layers::Layers;
use crate::serve;

/// The application AWS mode's settings describe, with the worker's and the API's flags.
pub(crate) async fn connect(
    layers: &Layers,
    settings: Settings,
    worker: WorkerConfig,
    api: ApiConfig,
) -> anyhow::Result<App> {
    let aws = settings_of(layers)?;
    Ok(App::aws(AwsConfig { aws, settings, worker, api }).await?)
}

/// Runs a worker until SIGTERM or Ctrl-C, then drains like `spectra up`.
pub async fn run_worker(args: WorkerArgs, layers: &Layers) -> anyhow::Result<ExitCode> {
    let settings = serve::settings(&args.worker, Settings::default());
    let app = connect(layers, settings, serve::worker_config(&args.worker), ApiConfig::default()).await?;
    let shutdown = CancellationToken::new();
    let metrics = match args.metrics_listen {
        Some(addr) => Some(serve_metrics(addr, &shutdown).await?),
        None => None,
    };
    let worker = app.start_worker(&shutdown);
    let signals = serve::StopSignals::install()?;
    tracing::info!("worker running");
    let signal = signals.wait().await;
    tracing::info!(signal, "stopping: no new messages; in-flight work gets {:?}", args.worker.shutdown_deadline.0);
    shutdown.cancel();
    let stats = worker.join().await.context("the worker stopped abnormally")?;
    if let Some(metrics) = metrics {
        metrics.await.context("the metrics listener stopped abnormally")?.context("serving metrics")?;
    }
    app.flush().await;
    tracing::info!(
        acked = stats.acked.load(std::sync::atomic::Ordering::Relaxed),
        released = stats.released.load(std::sync::atomic::Ordering::Relaxed),
        "stopped"
    );
    tracing::info!(calls = %spectra_aws::call_summary(), "AWS calls made");
    Ok(ExitCode::SUCCESS)
}

/// Serves `/metrics` alone on `addr` (a worker has no other listener) until `shutdown`.
async fn serve_metrics(
    addr: SocketAddr,
    shutdown: &CancellationToken,
) -> anyhow::Result<JoinHandle<std::io::Result<()>>> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr} for metrics"))?;
    tracing::info!("metrics on http://{}", listener.local_addr()?);
    let stop = shutdown.clone();
    let routes = spectra::telemetry::routes();
    Ok(tokio::spawn(async move { axum::serve(listener, routes).with_graceful_shutdown(stop.cancelled_owned()).await }))
}

/// Serves the REST API until SIGTERM or Ctrl-C.
pub async fn run_api(args: ApiArgs, layers: &Layers) -> anyhow::Result<ExitCode> {
    let settings = Settings { query_deadline: args.query_deadline.0, ..Settings::default() };
    let app = connect(layers, settings, WorkerConfig::default(), serve::api_config(&args.api).await?).await?;
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let (stop, router) = (shutdown.clone(), app.router());
    let server =
        tokio::spawn(async move { axum::serve(listener, router).with_graceful_shutdown(stop.cancelled_owned()).await });
    let signals = serve::StopSignals::install()?;
    tracing::info!("listening on http://{addr}");
    let signal = signals.wait().await;
    tracing::info!(signal, "stopping");
    shutdown.cancel();
    server.await.context("the server stopped abnormally")?.context("serving")?;
    app.flush().await;
    tracing::info!(calls = %spectra_aws::call_summary(), "AWS calls made");
    Ok(ExitCode::SUCCESS)
}

/// AWS mode's resource settings, checked together, from the environment and the config file.
pub fn settings_of(layers: &Layers) -> anyhow::Result<AwsSettings> {
    AwsSettings::from_lookup(|key| layers.get(key)).context("AWS mode is not configured")
}

/// The API key table of AWS mode: only `SPECTRA_TABLE` (and the region/endpoint) is needed.
pub async fn key_store(layers: &Layers) -> anyhow::Result<DynamoKeyStore> {
    let get = |key: &str| layers.get(key);
    let table = get("SPECTRA_TABLE").context("SPECTRA_TABLE: is not set (environment or --config file)")?;
    let options = AwsOptions { region: get("SPECTRA_REGION"), endpoint_url: get("SPECTRA_AWS_ENDPOINT_URL") };
    Ok(spectra_aws::key_store(&options, &table).await)
}
