//! `spectra worker` and `spectra api`: AWS mode. Every port on its AWS adapter, configured by
//! `SPECTRA_*` variables and an optional config file of the same lines; a missing or
//! contradictory setting stops the command at start, naming the setting.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use spectra_api::AppState;
use spectra_aws::{AwsOptions, AwsPlatform, AwsSettings, DynamoKeyStore, parse_config_file};
use spectra_worker::handler::Worker;
use spectra_worker::platform::Settings;
use spectra_worker::producer::Producer;
use spectra_worker::{consumer, reconciler};
use tokio_util::sync::CancellationToken;

use crate::cli::{ApiArgs, AwsArgs, WorkerArgs};
use crate::serve;

/// A setting's value: the environment first, then the config file; blank counts as unset.
pub fn lookup(args: &AwsArgs) -> anyhow::Result<impl Fn(&str) -> Option<String>> {
    let file = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading --config {}", path.display()))?;
            parse_config_file(&text).with_context(|| format!("--config {}", path.display()))?
        }
        None => HashMap::new(),
    };
    Ok(move |key: &str| std::env::var(key).ok().filter(|v| !v.trim().is_empty()).or_else(|| file.get(key).cloned()))
}

async fn connect(args: &AwsArgs, base: Settings) -> anyhow::Result<AwsPlatform> {
    let settings = AwsSettings::from_lookup(lookup(args)?).context("AWS mode is not configured")?;
    tracing::info!(queue = %settings.queue_url, table = %settings.table, bucket = %settings.bucket, "connecting");
    AwsPlatform::connect(&settings, base).await.context("AWS mode cannot use its resources")
}

/// Runs a worker until SIGTERM or Ctrl-C, then drains like `spectra up`.
pub async fn run_worker(args: WorkerArgs) -> anyhow::Result<bool> {
    let aws = connect(&args.aws, serve::settings(&args.worker, Settings::default())).await?;
    let shutdown = CancellationToken::new();
    let faults = serve::faults(&args.worker);
    let worker = Arc::new(Worker::new(aws.platform.clone(), faults.warehouse(aws.warehouse.clone())));
    let config = serve::consumer_config(&args.worker);
    let consumer =
        tokio::spawn(consumer::run(faults.queue(aws.platform.queue.clone()), worker, config, shutdown.clone()));
    let interval = args.worker.reconcile_interval;
    let sweeper = tokio::spawn(reconciler::run(aws.platform.clone(), interval, shutdown.clone()));
    let signals = serve::StopSignals::install()?;
    tracing::info!("worker running");
    let signal = signals.wait().await;
    tracing::info!(signal, "stopping: no new messages; in-flight work gets {:?}", args.worker.shutdown_deadline);
    shutdown.cancel();
    let stats = consumer.await.context("the consumer stopped abnormally")?;
    let _ = sweeper.await;
    tracing::info!(
        acked = stats.acked.load(std::sync::atomic::Ordering::Relaxed),
        released = stats.released.load(std::sync::atomic::Ordering::Relaxed),
        "stopped"
    );
    Ok(true)
}

/// Serves the REST API until SIGTERM or Ctrl-C.
pub async fn run_api(args: ApiArgs) -> anyhow::Result<bool> {
    let base = Settings { query_deadline: args.query_deadline, ..Settings::default() };
    let aws = connect(&args.aws, base).await?;
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    let mut state = AppState::new(
        Producer::new(aws.platform.clone()),
        Arc::new(aws.keys.clone()),
        aws.warehouse.clone(),
        Arc::new(aws.idempotency.clone()),
        Arc::new(aws.rates.clone()),
    );
    state.jwt = serve::jwt_config(&args.api).await?;
    state.limits = args.api.rate_limits;
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, spectra_api::router(state)).with_graceful_shutdown(stop.cancelled_owned()).await
    });
    let signals = serve::StopSignals::install()?;
    tracing::info!("listening on http://{addr}");
    let signal = signals.wait().await;
    tracing::info!(signal, "stopping");
    shutdown.cancel();
    server.await.context("the server stopped abnormally")?.context("serving")?;
    Ok(true)
}

/// The API key table of AWS mode: only `SPECTRA_TABLE` (and the region/endpoint) is needed.
pub async fn key_store(args: &AwsArgs) -> anyhow::Result<DynamoKeyStore> {
    let get = lookup(args)?;
    let table = get("SPECTRA_TABLE").context("SPECTRA_TABLE: is not set (environment or --config file)")?;
    let options = AwsOptions { region: get("SPECTRA_REGION"), endpoint_url: get("SPECTRA_AWS_ENDPOINT_URL") };
    Ok(spectra_aws::key_store(&options, &table).await)
}
