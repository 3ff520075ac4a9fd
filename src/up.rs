//! `spectra up`: the embedded platform in one process — REST API, worker, reconciler, object
//! links and operator SQL — on one data directory, until SIGTERM or Ctrl-C.

use std::sync::Arc;

use anyhow::Context;
use spectra_api::AppState;
use spectra_local::{ADDR_FILE, load_or_create_token};
use spectra_local::{EmbeddedPlatform, object_routes};
use spectra_state_machine::{Identifier, TenantId};
use spectra_warehouse::{Access, WarehouseConfig, admin_routes};
use spectra_worker::consumer;
use spectra_worker::handler::Worker;
use spectra_worker::platform::Settings;
use spectra_worker::platform::parse_db_users;
use spectra_worker::ports::KeyStore;
use spectra_worker::producer::Producer;
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
    let base = Settings {
        statement_events: !args.no_statement_events,
        db_users,
        derive_db_users: true,
        ..Settings::default()
    };
    let settings = serve::settings(&args.worker, base);
    let access = access(&settings, &args.grants)?;
    let data_dir = &args.data_dir;
    let stack = EmbeddedPlatform::open(data_dir, &format!("http://{addr}"), settings).await?;
    let warehouse_config =
        WarehouseConfig { max_active_statements: args.max_active_statements, access, ..Default::default() };
    let warehouse =
        Arc::new(spectra_warehouse::open_in(&stack, data_dir, warehouse_config).await.with_context(|| {
            format!("opening the warehouse in {} (is another spectra up using it?)", data_dir.display())
        })?);
    let token = load_or_create_token(data_dir).await.context("reading the admin token")?;

    let keys: Arc<dyn KeyStore> = Arc::new(stack.keys.clone());
    let mut api = AppState::new(
        Producer::new(stack.platform.clone()),
        Arc::new(stack.keys.clone()),
        warehouse.clone(),
        Arc::new(stack.idempotency.clone()),
        Arc::new(stack.rates.clone()),
    );
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
    let stop_warehouse = warehouse.clone();
    let faults = serve::faults(&args.worker);
    let worker = Arc::new(Worker::new(stack.platform.clone(), faults.warehouse(warehouse)));
    let config = serve::consumer_config(&args.worker);
    let queue = faults.queue(stack.platform.queue.clone());
    let consumer = tokio::spawn(consumer::run(queue, worker, config, shutdown.clone()));
    let interval = args.worker.reconcile_interval;
    let sweeper = tokio::spawn(reconciler::run(stack.platform.clone(), interval, shutdown.clone()));

    tokio::fs::write(data_dir.join(ADDR_FILE), addr.to_string()).await.context("writing the address file")?;
    // The demo tenant's key (one per data directory), so the first request can be pasted as is.
    let demo = TenantId::parse(DEMO_TENANT).context("the demo tenant id")?;
    let demo_key = crate::keys::demo_key(data_dir, &demo, keys.as_ref()).await?;
    let signals = serve::StopSignals::install()?;
    tracing::info!(data_dir = %data_dir.display(), "listening on http://{addr}");
    tracing::info!(
        "try: curl -s -H 'Authorization: Bearer {demo_key}' -H 'X-Tenant-ID: {DEMO_TENANT}' http://{addr}/v1/bulk/jobs"
    );

    let signal = signals.wait().await;
    tracing::info!(signal, "stopping: no new messages; in-flight work gets {:?}", args.worker.shutdown_deadline);
    shutdown.cancel();
    // Running statements are interrupted at once (their jobs retry them after a restart), so
    // that requests waiting on them (a synchronous query, `spectra sql`) end too, the process
    // exits within the deadline, and the warehouse is free for the next start.
    // The warehouse's share leaves room for the runtime's exit grace, so that even a statement
    // that ignores interrupts cannot keep the process past the deadline.
    let budget = args.worker.shutdown_deadline.saturating_sub(crate::EXIT_GRACE * 2);
    let (consumed, left, _, served) = tokio::join!(consumer, stop_warehouse.stop(budget), sweeper, server);
    let _ = tokio::fs::remove_file(data_dir.join(ADDR_FILE)).await;
    let stats = consumed.context("the consumer stopped abnormally")?;
    served.context("the server stopped abnormally")?.context("serving")?;
    if left > 0 {
        tracing::warn!(statements = left, "exiting with statements that did not stop in time");
    }
    tracing::info!(
        acked = stats.acked.load(std::sync::atomic::Ordering::Relaxed),
        released = stats.released.load(std::sync::atomic::Ordering::Relaxed),
        "stopped"
    );
    Ok(true)
}

/// The warehouse's grants from `--grant TENANT=SCHEMA[,SCHEMA...]` entries, keyed by each
/// tenant's database user. A schema must be a plain identifier and no catalog's or Spectra's own.
fn access(settings: &Settings, grants: &[String]) -> anyhow::Result<Access> {
    let mut access = Access::default();
    for entry in grants.iter().filter(|e| !e.trim().is_empty()) {
        let (tenant, schemas) =
            entry.split_once('=').with_context(|| format!("--grant {entry:?}: expected TENANT=SCHEMA[,SCHEMA...]"))?;
        let tenant = TenantId::parse(tenant.trim()).with_context(|| format!("--grant {entry:?}"))?;
        let schemas = schemas
            .split(',')
            .map(|s| {
                Identifier::user_schema(s.trim())
                    .map(|schema| schema.as_str().to_ascii_lowercase())
                    .with_context(|| format!("--grant {entry:?}: schema {:?}", s.trim()))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let user = settings.db_user(&tenant).context("every tenant has a database user on the embedded platform")?;
        if access.grants.get(&user).is_some_and(|other| *other != schemas) {
            anyhow::bail!("--grant: tenants sharing the database user {user} are granted different schemas");
        }
        access.grants.insert(user, schemas);
    }
    Ok(access)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_are_keyed_by_database_user_and_never_name_a_catalog() {
        let acme = TenantId::parse("acme").unwrap();
        let settings = Settings {
            derive_db_users: true,
            db_users: [(acme, "acme_user".to_owned())].into_iter().collect(),
            ..Settings::default()
        };
        let granted = access(&settings, &["acme=main,Acme_Private".into(), "beta-co=reports".into()]).unwrap();
        assert_eq!(granted.grants["acme_user"], vec!["main", "acme_private"]);
        assert_eq!(granted.grants["tenant_beta_co"], vec!["reports"]);
        for bad in ["acme=spectra_internal", "acme=pg_catalog", "acme", "acme=main;x", "-=main", "acme=a.b"] {
            assert!(access(&settings, &[bad.into()]).is_err(), "{bad}");
        }
        let clash = ["a-b=x".to_owned(), "a_b=y".to_owned()];
        assert!(access(&settings, &clash).is_err(), "two tenants of one derived user with different grants");
    }
}
