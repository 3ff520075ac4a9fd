//! `spectra up`: the embedded platform in one process — REST API, worker, reconciler, object
//! links and operator SQL — on one data directory, until SIGTERM or Ctrl-C.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use spectra_api::AppState;
use spectra_state_machine::TenantId;
use spectra_worker::aws::parse_db_users;
use spectra_worker::consumer;
use spectra_worker::embedded::{
    ADDR_FILE, EmbeddedPlatform, WarehouseConfig, admin_routes, load_or_create_token, object_routes,
};
use spectra_worker::handler::Worker;
use spectra_worker::platform::Settings;
use spectra_worker::ports::{KeyStore, mint_key};
use spectra_worker::reconciler;
use tokio_util::sync::CancellationToken;

use crate::cli::UpArgs;
use crate::serve;

/// The tenant `spectra up` mints a key for at start, and `spectra bulk` uses by default.
pub const DEMO_TENANT: &str = "demo";

/// Runs until a stop signal, then drains: stop receiving, let in-flight handlers finish within
/// the deadline (or release their messages), stop serving.
pub async fn run(args: UpArgs) -> anyhow::Result<bool> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {} (is another spectra up running?)", args.listen))?;
    let addr = listener.local_addr()?;
    let db_users = parse_db_users(&args.db_users.join(",")).context("--db-user")?;
    let base = Settings { statement_events: !args.no_statement_events, db_users, ..Settings::default() };
    let settings = serve::settings(&args.worker, base);
    let data_dir = &args.data_dir;
    let stack = EmbeddedPlatform::open(data_dir, &format!("http://{addr}"), settings).await?;
    let warehouse_config = WarehouseConfig { max_active_statements: args.max_active_statements, ..Default::default() };
    let warehouse = Arc::new(stack.open_warehouse(data_dir, warehouse_config).await.with_context(|| {
        format!("opening the warehouse in {} (is another spectra up using it?)", data_dir.display())
    })?);
    let token = load_or_create_token(data_dir).await.context("reading the admin token")?;

    let keys: Arc<dyn KeyStore> = Arc::new(stack.keys.clone());
    let mut api = AppState::embedded(&stack, warehouse.clone());
    api.jwt = serve::jwt_config(&args.api).await?;
    api.limits = args.api.rate_limits;
    let shutdown = CancellationToken::new();
    let router = spectra_api::router(api)
        .merge(object_routes(stack.objects.clone()))
        .merge(admin_routes(warehouse.clone(), token));
    let server = {
        let stop = shutdown.clone();
        tokio::spawn(async move { axum::serve(listener, router).with_graceful_shutdown(stop.cancelled_owned()).await })
    };
    let worker = Arc::new(Worker::new(stack.platform.clone(), warehouse));
    let config = serve::consumer_config(&args.worker);
    let consumer = tokio::spawn(consumer::run(stack.platform.queue.clone(), worker, config, shutdown.clone()));
    let interval = args.worker.reconcile_interval;
    let sweeper = tokio::spawn(reconciler::run(stack.platform.clone(), interval, shutdown.clone()));

    tokio::fs::write(data_dir.join(ADDR_FILE), addr.to_string()).await.context("writing the address file")?;
    // A fresh key for the demo tenant, so the first request can be pasted as is.
    let demo = TenantId::parse(DEMO_TENANT).context("the demo tenant id")?;
    let minted = mint_key(&demo);
    keys.put(&minted.record).await.context("storing the demo API key")?;
    tracing::info!(data_dir = %data_dir.display(), "listening on http://{addr}");
    tracing::info!(
        "try: curl -s -H 'Authorization: Bearer {}' -H 'X-Tenant-ID: {DEMO_TENANT}' http://{addr}/v1/bulk/jobs",
        minted.key
    );

    let signal = serve::stop_signal().await?;
    tracing::info!(signal, "stopping: no new messages; in-flight work gets {:?}", args.worker.shutdown_deadline);
    shutdown.cancel();
    let stats = consumer.await.context("the consumer stopped abnormally")?;
    let _ = sweeper.await;
    let _ = tokio::fs::remove_file(data_dir.join(ADDR_FILE)).await;
    server.await.context("the server stopped abnormally")?.context("serving")?;
    tracing::info!(
        acked = stats.acked.load(std::sync::atomic::Ordering::Relaxed),
        released = stats.released.load(std::sync::atomic::Ordering::Relaxed),
        "stopped"
    );
    Ok(true)
}

/// Parses `500ms`, `30s`, `5m`, `24h` or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration like 30s, 5m or 24h"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        other => Err(format!("unknown unit {other:?} in {text:?} (use ms, s, m or h)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert!(parse_duration("5 weeks").is_err());
        assert!(parse_duration("").is_err());
    }
}
