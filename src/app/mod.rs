//! One way to wire an application: [`App`] holds the ports, the warehouse, the REST API's state
//! and the worker's configuration, whichever platform they come from — the embedded one
//! ([`App::embedded`], feature `embedded`) or AWS ([`App::aws`], feature `aws`). `spectra up`,
//! `spectra worker`, `spectra api`, the API tests and the benchmarks all build through here, so
//! what runs in production is what the tests run.

#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "embedded")]
mod embedded;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use spectra_api::dashboard::OperatorToken;
use spectra_api::{AppState, JwtConfig, RateLimits};
use spectra_worker::coalesce::{CoalescedBus, EVENT_LINGER};
use spectra_worker::consumer::{self, ConsumerConfig, ConsumerStats};
use spectra_worker::faults::Faults;
use spectra_worker::handler::Worker;
use spectra_worker::platform::Platform;
use spectra_worker::ports::{IdempotencyStore, KeyStore, RateCounter, Warehouse};
use spectra_worker::producer::Producer;
use spectra_worker::reconciler;
use thiserror::Error;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[cfg(feature = "aws")]
pub use self::aws::AwsConfig;
#[cfg(feature = "embedded")]
pub use self::embedded::{EmbeddedApp, EmbeddedConfig};

/// How the worker consumes and sweeps (both platforms).
#[derive(Debug, Clone, Default)]
pub struct WorkerConfig {
    /// The receive loops, in-flight limit, timeouts and shutdown deadline.
    pub consumer: ConsumerConfig,
    /// How often the reconciler sweeps; `None` runs no reconciler (tests that drive jobs by
    /// events alone).
    pub reconcile_interval: Option<Duration>,
    /// Faults injected at the worker's edges (`spectra chaos` only; none by default).
    pub faults: Faults,
}

/// What the REST API adds to the platform's stores: how it authenticates and limits.
#[derive(Clone, Debug, Default)]
pub struct ApiConfig {
    /// JWT bearer tokens, when configured (API keys always work).
    pub jwt: Option<Arc<JwtConfig>>,
    /// Per-tenant rate limits.
    pub limits: RateLimits,
    /// The operator token (its hash): the dashboard is served only with one.
    pub operator: Option<Arc<OperatorToken>>,
    /// The warehouse's active-statement limit, when this process knows it (the dashboard).
    pub statement_limit: Option<usize>,
}

/// Why an application could not be assembled.
#[derive(Debug, Error)]
pub enum AppError {
    /// The embedded platform's data directory could not be opened.
    #[cfg(feature = "embedded")]
    #[error(transparent)]
    Open(#[from] spectra_local::OpenError),
    #[cfg(feature = "embedded")]
    /// The warehouse could not be opened.
    #[error("cannot open the warehouse in {dir} (is another spectra up using it?): {source}")]
    Warehouse {
        /// The data directory.
        dir: String,
        /// Why.
        source: spectra_worker::ports::WarehouseError,
    },
    /// AWS mode could not reach or use its resources.
    #[cfg(feature = "aws")]
    #[error("AWS mode cannot use its resources: {0}")]
    Aws(#[from] spectra_aws::ConnectError),
}

/// An assembled application: what the API serves and the worker runs, on one platform.
#[derive(Clone)]
pub struct App {
    /// The ports and the settings the job lifecycle agrees on.
    pub platform: Platform,
    /// Where statements run (no faults injected here; the worker's copy has them).
    pub warehouse: Arc<dyn Warehouse>,
    /// The REST API's state; adjust it (limits, JWT) before [`App::router`].
    pub api: AppState,
    /// How the worker runs.
    pub worker: WorkerConfig,
    /// Routes the platform serves beside the API (presigned object links, operator SQL).
    routes: Router,
    /// The platform's bus, batching lifecycle events: flushed at a stop.
    events: Arc<CoalescedBus>,
}

/// The worker's running tasks, from [`App::start_worker`].
pub struct WorkerTasks {
    consumer: JoinHandle<Arc<ConsumerStats>>,
    sweeper: Option<JoinHandle<()>>,
}

impl App {
    /// Assembles an application from its parts; the platform constructors call this.
    fn assemble(
        platform: Platform,
        warehouse: Arc<dyn Warehouse>,
        stores: (Arc<dyn KeyStore>, Arc<dyn IdempotencyStore>, Arc<dyn RateCounter>),
        api: ApiConfig,
        worker: WorkerConfig,
        routes: Router,
    ) -> Self {
        let (keys, idempotency, rates) = stores;
        // Every transition publishes one event; they share `PutEvents` calls in the background.
        let mut platform = platform;
        let events = Arc::new(CoalescedBus::new(platform.bus, EVENT_LINGER));
        platform.bus = events.clone();
        let mut state = AppState::new(Producer::new(platform.clone()), keys, warehouse.clone(), idempotency, rates);
        state.jwt = api.jwt;
        state.limits = api.limits;
        state.operator = api.operator;
        state.statement_limit = api.statement_limit;
        Self { platform, warehouse, api: state, worker, routes, events }
    }

    /// Sends what this process holds in memory: queued lifecycle events, and the rate counts
    /// (so that a restart counts on from where this process stopped). Call it last, once the
    /// server and the worker have stopped.
    pub async fn flush(&self) {
        self.flush_events().await;
        if let Err(e) = self.api.rates.flush(chrono::Utc::now()).await {
            tracing::warn!(error = %e, "rate counts not written at shutdown; a restart may admit up to one flush interval more");
        }
    }

    /// Sends the lifecycle events still batched in memory: a function invocation answers
    /// only once they are out (its environment may freeze right after).
    pub async fn flush_events(&self) {
        self.events.flush().await;
    }

    /// The worker's message handlers on this application's ports, with no faults injected:
    /// what a function invocation runs its batch through.
    pub fn message_handler(&self) -> Arc<Worker> {
        Arc::new(Worker::new(self.platform.clone(), self.warehouse.clone()))
    }

    /// The REST API, the platform's own routes and `/metrics`, ready to serve.
    pub fn router(&self) -> Router {
        spectra_api::router(self.api.clone()).merge(self.routes.clone()).merge(crate::telemetry::routes())
    }

    /// Starts the consumer (with the configured faults at its edges) and the reconciler; both
    /// stop when `shutdown` is cancelled, the consumer after draining within its deadline.
    pub fn start_worker(&self, shutdown: &CancellationToken) -> WorkerTasks {
        let faults = self.worker.faults;
        if faults.any() {
            tracing::warn!(?faults, "injecting faults (--inject-faults): for drills only, never in production");
        }
        let worker = Arc::new(Worker::new(self.platform.clone(), faults.warehouse(self.warehouse.clone())));
        let queue = faults.queue(self.platform.queue.clone());
        let consumer = tokio::spawn(consumer::run(queue, worker, self.worker.consumer.clone(), shutdown.clone()));
        let sweeper = self
            .worker
            .reconcile_interval
            .map(|interval| tokio::spawn(reconciler::run(self.platform.clone(), interval, shutdown.clone())));
        WorkerTasks { consumer, sweeper }
    }
}

impl WorkerTasks {
    /// Waits for both tasks to stop; the consumer's counts.
    pub async fn join(self) -> Result<Arc<ConsumerStats>, tokio::task::JoinError> {
        let stats = self.consumer.await?;
        if let Some(sweeper) = self.sweeper {
            sweeper.await?;
        }
        Ok(stats)
    }
}
