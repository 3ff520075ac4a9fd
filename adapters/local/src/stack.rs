//! The embedded platform assembled on one data directory: what `spectra up` runs on, what the
//! producer CLI opens beside it, and what the tests and benchmarks use.
//!
//! Everything but the warehouse may be opened by several processes at once (SQLite in WAL
//! mode, files renamed into place), so `spectra bulk ...` works directly on the data directory
//! while `spectra up` serves it. The DuckDB warehouse belongs to one process; it is opened
//! beside this platform by `spectra_warehouse::open_in`.

use std::path::Path;
use std::sync::Arc;

use thiserror::Error;

use super::{
    LocalObjectStore, QueueConfig, QueueEventBus, SqliteIdempotencyStore, SqliteJobStore, SqliteKeyStore, SqliteQueue,
    SqliteRateCounter,
};
use spectra_worker::platform::{Platform, Settings};
use spectra_worker::ports::{ObjectError, Queue, QueueError, StoreError};

/// The queue database.
pub const QUEUE_FILE: &str = "queue.sqlite";
/// The job table.
pub const JOBS_FILE: &str = "jobs.sqlite";
/// The warehouse.
pub const WAREHOUSE_FILE: &str = "warehouse.duckdb";
/// The object store's root (`objects/<bucket>/<key>`).
pub const OBJECTS_DIR: &str = "objects";
/// The work queue: commands and statement events.
pub const WORK_QUEUE: &str = "work";
/// Where lifecycle events go (nobody consumes them locally; dashboards would).
pub const EVENTS_QUEUE: &str = "events";

/// Deliveries after which a work message is dead-lettered. Throttling does not count
/// (deferred messages are re-sent fresh), so only messages that keep failing get there.
const MAX_RECEIVES: u32 = 10;

/// Why the embedded platform could not be opened.
#[derive(Debug, Error)]
pub enum OpenError {
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A queue could not be opened.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The job table could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The object store could not be opened.
    #[error(transparent)]
    Object(#[from] ObjectError),
}

/// The embedded adapters behind a [`Platform`], with their concrete types for what only the
/// embedded platform offers (dead letters, presigned routes).
#[derive(Clone)]
pub struct EmbeddedPlatform {
    /// The ports and settings.
    pub platform: Platform,
    /// The work queue.
    pub work: SqliteQueue,
    /// The lifecycle events queue.
    pub events: SqliteQueue,
    /// The object store.
    pub objects: LocalObjectStore,
    /// API keys.
    pub keys: SqliteKeyStore,
    /// `X-Idempotency-Key` records.
    pub idempotency: SqliteIdempotencyStore,
    /// Per-tenant rate counters.
    pub rates: SqliteRateCounter,
}

impl EmbeddedPlatform {
    /// Opens (creating) everything but the warehouse under `data_dir`. Presigned links point at
    /// `public_url`, where `object_routes` serve them.
    pub async fn open(data_dir: &Path, public_url: &str, settings: Settings) -> Result<Self, OpenError> {
        tokio::fs::create_dir_all(data_dir)
            .await
            .map_err(|source| OpenError::DataDir { path: data_dir.display().to_string(), source })?;
        let queue_file = data_dir.join(QUEUE_FILE);
        let config = QueueConfig { max_receives: MAX_RECEIVES };
        let work = SqliteQueue::open(&queue_file, WORK_QUEUE, config).await?;
        let events = SqliteQueue::open(&queue_file, EVENTS_QUEUE, config).await?;
        let store = SqliteJobStore::open(&data_dir.join(JOBS_FILE)).await?;
        let keys = SqliteKeyStore::open(&data_dir.join(JOBS_FILE)).await?;
        let idempotency = SqliteIdempotencyStore::open(&data_dir.join(JOBS_FILE)).await?;
        let rates = SqliteRateCounter::open(&data_dir.join(JOBS_FILE)).await?;
        let objects = LocalObjectStore::open(&data_dir.join(OBJECTS_DIR), &settings.bucket, public_url).await?;
        // Every tenant has a database user here, so that its statements run confined to its
        // grants (`Access`); nothing on this platform runs a tenant's SQL with full access.
        let settings = Settings { derive_db_users: true, ..settings };
        let platform = Platform {
            queue: Arc::new(work.clone()),
            store: Arc::new(store),
            objects: Arc::new(objects.clone()),
            bus: Arc::new(QueueEventBus::new(events.clone(), "local")),
            settings: Arc::new(settings),
        };
        Ok(Self { platform, work, events, objects, keys, idempotency, rates })
    }

    /// Where the data directory's warehouse sends its status-change events: the work queue when
    /// the settings ask for them (as the EventBridge rule delivers them on AWS), else nowhere.
    pub fn statement_events(&self) -> Option<Arc<dyn Queue>> {
        if self.platform.settings.statement_events { Some(Arc::new(self.work.clone())) } else { None }
    }
}
