//! The local warehouse against the warehouse contract (`spectra_worker::contract::warehouse`),
//! its status-change events on a SQLite work queue as in `spectra up`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use spectra_local::{QueueConfig, SqliteQueue};
use spectra_warehouse::{DuckWarehouse, WarehouseConfig};
use spectra_worker::contract::warehouse::WarehouseFixture;
use spectra_worker::ports::Queue;
use tempfile::TempDir;

/// Owns a temporary data directory for one test.
struct Local {
    dir: TempDir,
}

impl Local {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    /// Where the warehouse sends status-change events: the work queue, as in `spectra up`.
    async fn work_queue(&self) -> SqliteQueue {
        SqliteQueue::open(&self.dir.path().join("queue.sqlite"), "work", QueueConfig::default()).await.unwrap()
    }
}

#[async_trait]
impl WarehouseFixture for Local {
    type Warehouse = DuckWarehouse;
    async fn warehouse(&self, max_active: usize) -> DuckWarehouse {
        let config = WarehouseConfig { max_active_statements: max_active, ..WarehouseConfig::default() };
        let events: Arc<dyn Queue> = Arc::new(self.work_queue().await);
        DuckWarehouse::open(
            &self.dir.path().join("warehouse.duckdb"),
            &self.dir.path().join("objects"),
            config,
            Some(events),
        )
        .await
        .unwrap()
    }
    fn long_running_sql(&self) -> String {
        "SELECT count(*) FROM range(1000000000000)".into()
    }
    async fn events(&self) -> Vec<Value> {
        drain(&self.work_queue().await).await
    }
}

async fn drain(queue: &SqliteQueue) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let batch = queue.receive(10, Duration::ZERO, Duration::from_secs(30)).await.unwrap();
        if batch.is_empty() {
            return out;
        }
        queue.ack(&batch.iter().map(|m| m.receipt.clone()).collect::<Vec<_>>()).await.unwrap();
        out.extend(batch.iter().map(|m| serde_json::from_str::<Value>(&m.body).unwrap()));
    }
}

mod warehouse {
    spectra_worker::warehouse_contract_tests!(super::Local::new());
}
