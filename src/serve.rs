//! What the long-running commands (`up`, `worker`, `api`) share: stop signals, and the
//! application's configuration from their flags.

use std::sync::Arc;

use anyhow::Context;
use spectra::app::{ApiConfig, WorkerConfig};
use spectra_api::JwtConfig;
use spectra_api::dashboard::OperatorToken;
use spectra_worker::consumer::ConsumerConfig;
use spectra_worker::platform::Settings;
use spectra_worker::secret::Secret;

use crate::cli::{ApiOptions, WorkerOptions};

/// SIGTERM and SIGINT, caught from the moment this is built: build it before announcing that
/// the service is ready, so that a stop sent right after the announcement is not the default
/// action (an immediate, unclean exit).
pub struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Installs the handlers.
    pub fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
        })
    }

    /// Waits for either; returns its name.
    pub async fn wait(mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// The JWT configuration the flags ask for; `None` when no key is given (API keys only).
async fn jwt_config(args: &ApiOptions) -> anyhow::Result<Option<Arc<JwtConfig>>> {
    let mut config = match &args.jwt_public_key_file {
        Some(path) => {
            let pem = tokio::fs::read_to_string(path)
                .await
                .with_context(|| format!("reading --jwt-public-key-file {}", path.display()))?;
            JwtConfig::rs256_pem(&pem)
                .map_err(|e| anyhow::anyhow!(e))
                .with_context(|| format!("--jwt-public-key-file {}", path.display()))?
        }
        None => JwtConfig::hs256(Vec::new()),
    };
    config.secret = None;
    if let Some(path) = &args.jwt_secret_file {
        let secret =
            tokio::fs::read(path).await.with_context(|| format!("reading --jwt-secret-file {}", path.display()))?;
        if secret.len() < 32 {
            anyhow::bail!("--jwt-secret-file {}: an HS256 secret needs at least 32 bytes", path.display());
        }
        config.secret = Some(Secret::new(secret));
    }
    if config.secret.is_none() && config.rsa_public_key.is_none() {
        if args.jwt_issuer.is_some() || args.jwt_audience.is_some() {
            anyhow::bail!("--jwt-issuer and --jwt-audience need --jwt-secret-file or --jwt-public-key-file");
        }
        return Ok(None);
    }
    config.issuer = args.jwt_issuer.clone();
    config.audience = args.jwt_audience.clone();
    config.tenant_claim = args.jwt_tenant_claim.clone();
    Ok(Some(Arc::new(config)))
}

/// The shared settings the worker flags set, over `base`.
pub fn settings(options: &WorkerOptions, base: Settings) -> Settings {
    Settings {
        max_error: options.max_error,
        upload_window: options.upload_window.0,
        bulk_deadline: options.bulk_deadline.0,
        query_deadline: options.query_deadline.0,
        reconcile_grace: options.reconcile_grace.0,
        ..base
    }
}

/// The worker configuration the worker flags set.
pub fn worker_config(options: &WorkerOptions) -> WorkerConfig {
    let consumer = ConsumerConfig {
        loops: options.loops,
        max_in_flight: options.max_in_flight,
        visibility: options.visibility_timeout.0,
        wait: options.receive_wait.0.min(std::time::Duration::from_secs(20)),
        shutdown_deadline: options.shutdown_deadline.0,
        ..ConsumerConfig::default()
    };
    WorkerConfig { consumer, reconcile_interval: Some(options.reconcile_interval.0), faults: options.inject_faults }
}

/// The API configuration the API flags set (reading the JWT key files they name).
pub async fn api_config(args: &ApiOptions) -> anyhow::Result<ApiConfig> {
    let operator = args.operator_token.as_deref().map(|token| Arc::new(OperatorToken::new(token)));
    Ok(ApiConfig { jwt: jwt_config(args).await?, limits: args.rate_limits, operator, statement_limit: None })
}
