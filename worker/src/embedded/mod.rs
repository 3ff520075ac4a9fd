//! The embedded adapters: every port on local, durable parts under one data directory, so
//! Spectra runs for real on a machine with no AWS account (`spectra up`, and the tests).
//!
//! | port | adapter | stored in |
//! | --- | --- | --- |
//! | `Queue` | [`SqliteQueue`] | `queue.sqlite` (WAL), one table for all queues plus dead letters |
//! | `JobStore` | [`SqliteJobStore`] | `jobs.sqlite` (WAL) |
//! | `KeyStore` | [`SqliteKeyStore`] | `jobs.sqlite`, table `api_keys` |
//! | `IdempotencyStore` | [`SqliteIdempotencyStore`] | `jobs.sqlite`, table `idempotency_keys` |
//! | `RateCounter` | [`SqliteRateCounter`] | `jobs.sqlite`, table `rate_counters` |
//! | `ObjectStore` | [`LocalObjectStore`] (+ [`object_routes`] for presigned links) | `objects/<bucket>/<key>` |
//! | `EventBus` | [`QueueEventBus`] | the `events` queue |
//! | `Warehouse` | [`DuckWarehouse`] | `warehouse.duckdb` (statement ledger inside) |

mod admin;
mod event_bus;
mod idempotency;
mod job_store;
mod key_store;
mod object_routes;
mod object_store;
mod presign;
mod queue;
mod rate_counter;
mod sqlite;
mod stack;
mod walk;
mod warehouse;

pub use admin::{
    ADDR_FILE, SqlOutcome, SqlRequest, TOKEN_FILE, admin_routes, load_or_create_token, run_script, write_private_file,
};
pub use event_bus::QueueEventBus;
pub use idempotency::SqliteIdempotencyStore;
pub use job_store::SqliteJobStore;
pub use key_store::SqliteKeyStore;
pub use object_routes::object_routes;
pub use object_store::LocalObjectStore;
pub use queue::{DeadLetter, QueueConfig, SqliteQueue};
pub use rate_counter::SqliteRateCounter;
pub use stack::{
    EVENTS_QUEUE, EmbeddedPlatform, JOBS_FILE, OBJECTS_DIR, OpenError, QUEUE_FILE, WAREHOUSE_FILE, WORK_QUEUE,
};
pub(crate) use warehouse::files_under;
pub use warehouse::{
    Access, DuckWarehouse, MAX_BATCH_STATEMENTS, MAX_KEPT_RESULTS, RemoteObjects, StatementEventSink, WarehouseConfig,
};
