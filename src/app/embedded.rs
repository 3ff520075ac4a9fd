//! The application on the embedded platform: one data directory, the DuckDB warehouse in this
//! process, presigned links (and, when asked, operator SQL) served beside the API.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use spectra_local::{EmbeddedPlatform, object_routes};
use spectra_warehouse::{DuckWarehouse, WarehouseConfig, admin_routes};
use spectra_worker::platform::Settings;
use spectra_worker::secret::Secret;

use super::{ApiConfig, App, AppError, WorkerConfig};

/// Everything an embedded application is built from.
#[derive(Clone, Debug, Default)]
pub struct EmbeddedConfig {
    /// The data directory (queue, job table, objects, warehouse); created if missing.
    pub data_dir: PathBuf,
    /// Where presigned links point: the URL this application's router is served at.
    pub public_url: String,
    /// The settings the job lifecycle agrees on.
    pub settings: Settings,
    /// The warehouse's limits and grants.
    pub warehouse: WarehouseConfig,
    /// The worker.
    pub worker: WorkerConfig,
    /// The REST API.
    pub api: ApiConfig,
    /// Serve `POST /admin/sql` guarded by this bearer token (`spectra up`); none when `None`.
    pub admin_token: Option<Secret<String>>,
}

/// An application on the embedded platform, with what only that platform has: its concrete
/// stores (dead letters, the key table for the demo key) and the warehouse to stop.
#[derive(Clone)]
pub struct EmbeddedApp {
    /// The application.
    pub app: App,
    /// The local adapters.
    pub stack: EmbeddedPlatform,
    /// The warehouse, concretely: `stop` interrupts its statements at shutdown.
    pub duck: Arc<DuckWarehouse>,
}

impl EmbeddedConfig {
    /// The defaults on `data_dir`, its links pointing at `public_url`.
    pub fn new(data_dir: &Path, public_url: &str) -> Self {
        Self { data_dir: data_dir.to_owned(), public_url: public_url.to_owned(), ..Self::default() }
    }
}

impl App {
    /// Opens the data directory and its warehouse (which this process then holds) and
    /// assembles the application on them.
    pub async fn embedded(config: EmbeddedConfig) -> Result<EmbeddedApp, AppError> {
        let data_dir = &config.data_dir;
        let stack = EmbeddedPlatform::open(data_dir, &config.public_url, config.settings).await?;
        let duck = spectra_warehouse::open_in(&stack, data_dir, config.warehouse)
            .await
            .map_err(|source| AppError::Warehouse { dir: data_dir.display().to_string(), source })?;
        let duck = Arc::new(duck);
        let mut routes = object_routes(stack.objects.clone());
        if let Some(token) = config.admin_token {
            routes = routes.merge(admin_routes(duck.clone(), token.expose().clone()));
        }
        let stores = (
            Arc::new(stack.keys.clone()) as _,
            Arc::new(stack.idempotency.clone()) as _,
            Arc::new(stack.rates.clone()) as _,
        );
        let app = App::assemble(stack.platform.clone(), duck.clone(), stores, config.api, config.worker, routes);
        Ok(EmbeddedApp { app, stack, duck })
    }
}
