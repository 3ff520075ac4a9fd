//! The AWS-mode commands' arguments: `worker`, `lambda`, `api`.

use std::net::SocketAddr;

use clap::Args;
use spectra_worker::platform::Settings;

use super::{ApiOptions, WorkerOptions};
use crate::duration::Span;

/// `spectra worker`
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Worker settings.
    #[command(flatten)]
    pub worker: WorkerOptions,
    /// Serve the worker's metrics as Prometheus text at `http://<address>/metrics` (port 0
    /// picks a free port); off by default (a worker listens on nothing else).
    #[arg(long, value_name = "ADDRESS", env = "SPECTRA_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}

/// `spectra lambda`
#[derive(Debug, Args)]
pub struct LambdaArgs {
    /// Worker settings (the job deadlines, limits and retries apply; the receive options do not).
    #[command(flatten)]
    pub worker: WorkerOptions,
}

/// `spectra api`
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Where to serve the REST API; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080", env = "SPECTRA_LISTEN")]
    pub listen: SocketAddr,
    /// Longest a synchronous query may wait for a free warehouse slot and run.
    #[arg(long, default_value_t = Span(Settings::default().query_deadline), env = "SPECTRA_QUERY_DEADLINE")]
    pub query_deadline: Span,
    /// REST API settings: JWTs, rate limits.
    #[command(flatten)]
    pub api: ApiOptions,
}
