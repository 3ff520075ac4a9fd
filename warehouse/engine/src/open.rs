//! Opening the warehouse: the engine, the ledger and what it recovers; and the warehouse of
//! an embedded platform's data directory.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};

use spectra_local::{EmbeddedPlatform, OBJECTS_DIR, WAREHOUSE_FILE};
use spectra_worker::ports::{Queue, WarehouseError};

use crate::{
    DuckWarehouse, Entry, Inner, Registry, RemoteObjects, StatementEventSink, WarehouseConfig, confine, engine, events,
    gauges, ledger, unavailable,
};

/// Opens `data_dir`'s warehouse beside `platform`: statements read and write the platform's
/// object store, and their status-change events go where the platform's settings say (the work
/// queue, as the EventBridge rule delivers them on AWS). DuckDB lets one process hold the file,
/// so a second `spectra up` on the same directory fails here.
pub async fn open_in(
    platform: &EmbeddedPlatform,
    data_dir: &Path,
    config: WarehouseConfig,
) -> Result<DuckWarehouse, WarehouseError> {
    let events = platform.statement_events();
    DuckWarehouse::open(&data_dir.join(WAREHOUSE_FILE), &data_dir.join(OBJECTS_DIR), config, events).await
}

impl DuckWarehouse {
    /// Opens (creating) the database file `db_path`; `s3://bucket/key` maps to
    /// `object_root/bucket/key`; status-change events of `WithEvent` statements go to `events`.
    pub async fn open(
        db_path: &Path,
        object_root: &Path,
        config: WarehouseConfig,
        events: Option<Arc<dyn Queue>>,
    ) -> Result<Self, WarehouseError> {
        let sink = events.map(|q| Arc::new(events::QueueSink(q)) as Arc<dyn StatementEventSink>);
        Self::open_with(db_path, object_root, config, sink, None).await
    }

    /// [`DuckWarehouse::open`] with events to any sink, and UNLOAD/COPY mirrored to a remote
    /// object store through `object_root` (the emulator's S3).
    pub async fn open_with(
        db_path: &Path,
        object_root: &Path,
        config: WarehouseConfig,
        events: Option<Arc<dyn StatementEventSink>>,
        remote: Option<Arc<dyn RemoteObjects>>,
    ) -> Result<Self, WarehouseError> {
        if config.max_active_statements == 0 || config.page_size == 0 {
            return Err(WarehouseError::Validation("max_active_statements and page_size must be at least 1".into()));
        }
        let (path, objects) = (db_path.to_owned(), object_root.to_owned());
        let (root, policy, kept, recovered) = tokio::task::spawn_blocking(move || {
            let (conn, policy) = engine::open(&path, &objects).map_err(unavailable)?;
            let (kept, recovered) = ledger::open(&conn).map_err(unavailable)?;
            Ok::<_, WarehouseError>((conn, policy, kept, recovered))
        })
        .await
        .map_err(unavailable)??;
        let mut registry = Registry::default();
        for record in kept {
            if let Some(token) = &record.client_token {
                registry.tokens.insert(token.clone(), record.id.clone());
            }
            let entry = Entry { record, cancelled: Arc::new(AtomicBool::new(false)), interrupt: None };
            registry.entries.insert(entry.record.id.clone(), entry);
        }
        let warehouse = Self {
            inner: Arc::new(Inner {
                root: Mutex::new(root),
                policy: Arc::new(policy),
                stopping: Arc::new(AtomicBool::new(false)),
                threads: AtomicUsize::new(0),
                object_root: object_root.to_owned(),
                config,
                registry: Mutex::new(registry),
                events,
                remote,
                ended: tokio::sync::Notify::new(),
                checks: Arc::new(confine::CheckCache::default()),
                query_ids: ledger::QueryIds::default(),
                last_prune: Mutex::new(std::time::Instant::now()),
            }),
        };
        gauges::observe(Arc::downgrade(&warehouse.inner));
        for record in recovered.iter().filter(|r| r.with_event) {
            warehouse.announce(record).await;
        }
        Ok(warehouse)
    }
}
