//! `spectra redshift-emulator`: the Redshift Data API on loopback, until SIGTERM or Ctrl-C.

use std::process::ExitCode;

use anyhow::Context;
use spectra_emulator::{Emulator, EmulatorOptions, router};
use tokio_util::sync::CancellationToken;

use crate::cli::EmulatorArgs;
use crate::serve;

/// Serves the emulator.
pub async fn run(args: EmulatorArgs) -> anyhow::Result<ExitCode> {
    if !args.listen.ip().is_loopback() {
        anyhow::bail!("--listen {}: the emulator accepts any credentials, so it serves loopback only", args.listen);
    }
    let options = EmulatorOptions {
        data_dir: args.data_dir.clone(),
        s3_endpoint: args.s3_endpoint.clone(),
        events_endpoint: args.events_endpoint.clone(),
        max_active_statements: args.max_active_statements,
        region: args.region.clone(),
    };
    let emulator = Emulator::open(&options).await.with_context(|| {
        format!("opening the engine in {} (is another emulator using it?)", args.data_dir.display())
    })?;
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, router(emulator)).with_graceful_shutdown(stop.cancelled_owned()).await
    });
    let signals = serve::StopSignals::install()?;
    tracing::info!(data_dir = %args.data_dir.display(), s3 = ?args.s3_endpoint, events = ?args.events_endpoint, "listening on http://{addr}");
    let signal = signals.wait().await;
    tracing::info!(signal, "stopping");
    shutdown.cancel();
    server.await.context("the server stopped abnormally")?.context("serving")?;
    Ok(ExitCode::SUCCESS)
}
