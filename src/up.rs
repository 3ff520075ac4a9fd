//! `spectra up`: the embedded platform in one process — REST API, worker, reconciler, object
//! links and operator SQL — on one data directory, until SIGTERM or Ctrl-C.

use std::process::ExitCode;

use anyhow::Context;
use std::sync::Arc;

use spectra::app::{ApiConfig, App, EmbeddedApp, EmbeddedConfig};
use spectra_api::dashboard::OperatorToken;
use spectra_local::{ADDR_FILE, OPERATOR_TOKEN_FILE, load_or_create_secret, load_or_create_token};
use spectra_state_machine::{Identifier, TenantId};
use spectra_warehouse::{Access, WarehouseConfig};
use spectra_worker::platform::{Settings, parse_db_users};
use spectra_worker::secret::Secret;
use tokio_util::sync::CancellationToken;

use crate::cli::UpArgs;
use crate::serve;

/// The tenant `spectra up` mints a key for at start, and `spectra bulk` uses by default.
pub const DEMO_TENANT: &str = "demo";

/// Runs until a stop signal, then drains: stop receiving, let in-flight handlers finish within
/// the deadline (or release their messages), stop serving.
pub async fn run(args: UpArgs) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {} (is another spectra up running?)", args.listen))?;
    let addr = listener.local_addr()?;
    let data_dir = &args.data_dir;
    let config = config(&args, &format!("http://{addr}")).await?;
    let EmbeddedApp { app, stack, duck } = App::embedded(config).await?;
    let shutdown = CancellationToken::new();
    let server = {
        let (stop, router) = (shutdown.clone(), app.router());
        tokio::spawn(async move { axum::serve(listener, router).with_graceful_shutdown(stop.cancelled_owned()).await })
    };
    let worker = app.start_worker(&shutdown);

    tokio::fs::write(data_dir.join(ADDR_FILE), addr.to_string()).await.context("writing the address file")?;
    // The demo tenant's key (one per data directory), so the first request can be pasted as is.
    let demo = TenantId::parse(DEMO_TENANT).context("the demo tenant id")?;
    let demo_key = crate::keys::demo_key(data_dir, &demo, &stack.keys).await?;
    let signals = serve::StopSignals::install()?;
    tracing::info!(data_dir = %data_dir.display(), "listening on http://{addr}");
    tracing::info!(
        "try: curl -s -H 'Authorization: Bearer {demo_key}' -H 'X-Tenant-ID: {DEMO_TENANT}' http://{addr}/v1/bulk/jobs"
    );
    tracing::info!(
        "dashboard: http://{addr}/dashboard (sign in with the operator token in {})",
        data_dir.join(OPERATOR_TOKEN_FILE).display()
    );

    let signal = signals.wait().await;
    tracing::info!(signal, "stopping: no new messages; in-flight work gets {:?}", args.worker.shutdown_deadline.0);
    shutdown.cancel();
    // Running statements are interrupted at once (their jobs retry them after a restart), so
    // that requests waiting on them (a synchronous query, `spectra sql`) end too, the process
    // exits within the deadline, and the warehouse is free for the next start.
    // The warehouse's share leaves room for the runtime's exit grace, so that even a statement
    // that ignores interrupts cannot keep the process past the deadline.
    let budget = args.worker.shutdown_deadline.0.saturating_sub(crate::EXIT_GRACE * 2);
    let (worked, left, served) = tokio::join!(worker.join(), duck.stop(budget), server);
    let _ = tokio::fs::remove_file(data_dir.join(ADDR_FILE)).await;
    let stats = worked.context("the worker stopped abnormally")?;
    served.context("the server stopped abnormally")?.context("serving")?;
    app.flush().await;
    if left > 0 {
        tracing::warn!(statements = left, "exiting with statements that did not stop in time");
    }
    tracing::info!(
        acked = stats.acked.load(std::sync::atomic::Ordering::Relaxed),
        released = stats.released.load(std::sync::atomic::Ordering::Relaxed),
        "stopped"
    );
    Ok(ExitCode::SUCCESS)
}

/// The application `spectra up`'s flags describe, its links pointing at `public_url`.
async fn config(args: &UpArgs, public_url: &str) -> anyhow::Result<EmbeddedConfig> {
    let db_users = parse_db_users(&args.db_users.join(",")).context("--db-user")?;
    let base = Settings {
        statement_events: !args.no_statement_events,
        db_users,
        derive_db_users: true,
        ..Settings::default()
    };
    let settings = serve::settings(&args.worker, base);
    let access = access(&settings, &args.grants)?;
    let dir = &args.data_dir;
    tokio::fs::create_dir_all(dir).await.with_context(|| format!("creating the data directory {}", dir.display()))?;
    let token = load_or_create_token(dir).await.context("reading the admin token")?;
    let api = serve::api_config(&args.api).await?;
    let operator = match api.operator.clone() {
        Some(given) => given,
        None => {
            let minted = load_or_create_secret(dir, OPERATOR_TOKEN_FILE).await.context("reading the operator token")?;
            Arc::new(OperatorToken::new(&minted))
        }
    };
    Ok(EmbeddedConfig {
        data_dir: args.data_dir.clone(),
        public_url: public_url.to_owned(),
        settings,
        warehouse: WarehouseConfig { max_active_statements: args.max_active_statements, access, ..Default::default() },
        worker: serve::worker_config(&args.worker),
        api: ApiConfig { statement_limit: Some(args.max_active_statements), operator: Some(operator), ..api },
        admin_token: Some(Secret::new(token)),
    })
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
