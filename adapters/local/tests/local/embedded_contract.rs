//! The embedded adapters against the port contracts (`spectra_worker::contract`).

use async_trait::async_trait;
use serde_json::Value;
use spectra_local::{
    LocalObjectStore, QueueConfig, QueueEventBus, SqliteIdempotencyStore, SqliteJobStore, SqliteKeyStore, SqliteQueue,
    SqliteRateCounter, object_routes,
};
use spectra_worker::coalesce::{CoalescedAcks, CoalescedBus};
use spectra_worker::contract::api_stores::ApiStoresFixture;
use spectra_worker::contract::event_bus::EventBusFixture;
use spectra_worker::contract::job_store::JobStoreFixture;
use spectra_worker::contract::object_store::ObjectStoreFixture;
use spectra_worker::contract::queue::QueueFixture;
use spectra_worker::ports::Queue;
use tempfile::TempDir;

/// Owns a temporary data directory for one test.
struct Embedded {
    dir: TempDir,
}

impl Embedded {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }
}

#[async_trait]
impl QueueFixture for Embedded {
    type Queue = SqliteQueue;
    async fn queue(&self, max_receives: u32) -> SqliteQueue {
        SqliteQueue::open(&self.dir.path().join("queue.sqlite"), "work", QueueConfig { max_receives }).await.unwrap()
    }
    async fn dead_letter_bodies(&self, queue: &SqliteQueue) -> Vec<String> {
        queue.dead_letters().await.unwrap().into_iter().map(|d| d.body).collect()
    }
    async fn reopen(&self, _queue: &SqliteQueue) -> SqliteQueue {
        SqliteQueue::open(&self.dir.path().join("queue.sqlite"), "work", QueueConfig { max_receives: 5 }).await.unwrap()
    }
}

/// The batching decorators' linger here (shorter than in production: the suites ack and
/// publish one item at a time, and the waiting is the same code either way).
const LINGER: std::time::Duration = std::time::Duration::from_millis(20);

/// The SQLite queue behind the consumer's acknowledgement batching: the decorator keeps the
/// queue's contract.
struct CoalescedEmbedded {
    embedded: Embedded,
    inner: std::sync::Mutex<Option<SqliteQueue>>,
}

#[async_trait]
impl QueueFixture for CoalescedEmbedded {
    type Queue = CoalescedAcks;
    async fn queue(&self, max_receives: u32) -> CoalescedAcks {
        let inner = self.embedded.queue(max_receives).await;
        *self.inner.lock().unwrap() = Some(inner.clone());
        CoalescedAcks::new(std::sync::Arc::new(inner), LINGER)
    }
    async fn dead_letter_bodies(&self, _queue: &CoalescedAcks) -> Vec<String> {
        let inner = self.inner.lock().unwrap().clone().unwrap();
        self.embedded.dead_letter_bodies(&inner).await
    }
    async fn reopen(&self, _queue: &CoalescedAcks) -> CoalescedAcks {
        let inner = self.inner.lock().unwrap().clone().unwrap();
        CoalescedAcks::new(std::sync::Arc::new(self.embedded.reopen(&inner).await), LINGER)
    }
}

#[async_trait]
impl JobStoreFixture for Embedded {
    type Store = SqliteJobStore;
    async fn store(&self) -> SqliteJobStore {
        SqliteJobStore::open(&self.dir.path().join("jobs.sqlite")).await.unwrap()
    }
}

#[async_trait]
impl ObjectStoreFixture for Embedded {
    type Store = LocalObjectStore;
    /// Serves the bucket's routes on a loopback port, as `spectra up` does.
    async fn store(&self) -> LocalObjectStore {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let store = LocalObjectStore::open(&self.dir.path().join("objects"), "spectra", &url).await.unwrap();
        let routes = object_routes(store.clone());
        tokio::spawn(async move { axum::serve(listener, routes).await });
        store
    }
}

#[async_trait]
impl EventBusFixture for Embedded {
    type Bus = QueueEventBus<SqliteQueue>;
    async fn bus(&self) -> Self::Bus {
        QueueEventBus::new(self.events_queue().await, "local")
    }
    async fn delivered(&self, _bus: &Self::Bus) -> Vec<Value> {
        Self::drain(&self.events_queue().await).await
    }
}

/// The embedded bus behind the worker's publish batching: the decorator keeps the contract.
#[async_trait]
impl EventBusFixture for CoalescedEmbedded {
    type Bus = CoalescedBus;
    async fn bus(&self) -> Self::Bus {
        CoalescedBus::new(std::sync::Arc::new(self.embedded.bus().await), LINGER)
    }
    async fn delivered(&self, bus: &Self::Bus) -> Vec<Value> {
        bus.flush().await;
        Embedded::drain(&self.embedded.events_queue().await).await
    }
}

impl Embedded {
    async fn events_queue(&self) -> SqliteQueue {
        SqliteQueue::open(&self.dir.path().join("queue.sqlite"), "events", QueueConfig::default()).await.unwrap()
    }

    async fn drain(queue: &SqliteQueue) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let batch = queue.receive(10, std::time::Duration::ZERO, std::time::Duration::from_secs(30)).await.unwrap();
            if batch.is_empty() {
                return out;
            }
            queue.ack(&batch.iter().map(|m| m.receipt.clone()).collect::<Vec<_>>()).await.unwrap();
            out.extend(batch.iter().map(|m| serde_json::from_str::<Value>(&m.body).unwrap()));
        }
    }
}

#[async_trait]
impl ApiStoresFixture for Embedded {
    type Idempotency = SqliteIdempotencyStore;
    type Rates = SqliteRateCounter;
    type Keys = SqliteKeyStore;
    async fn stores(&self) -> (SqliteIdempotencyStore, SqliteRateCounter, SqliteKeyStore) {
        let path = self.dir.path().join("jobs.sqlite");
        (
            SqliteIdempotencyStore::open(&path).await.unwrap(),
            SqliteRateCounter::open(&path).await.unwrap(),
            SqliteKeyStore::open(&path).await.unwrap(),
        )
    }
}

mod api_stores {
    spectra_worker::api_stores_contract_tests!(super::Embedded::new());
}

mod queue {
    spectra_worker::queue_contract_tests!(super::Embedded::new());
}

mod coalesced_queue {
    spectra_worker::queue_contract_tests!(super::CoalescedEmbedded {
        embedded: super::Embedded::new(),
        inner: std::sync::Mutex::new(None)
    });
}

mod coalesced_event_bus {
    spectra_worker::event_bus_contract_tests!(super::CoalescedEmbedded {
        embedded: super::Embedded::new(),
        inner: std::sync::Mutex::new(None)
    });
}

mod job_store {
    spectra_worker::job_store_contract_tests!(super::Embedded::new());
}

mod object_store {
    spectra_worker::object_store_contract_tests!(super::Embedded::new());
}

mod event_bus {
    spectra_worker::event_bus_contract_tests!(super::Embedded::new());
}
