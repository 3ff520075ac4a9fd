//! The local adapters: every port but the warehouse on local, durable parts under one data
//! directory, so Spectra runs for real on a machine with no AWS account (`spectra up`, and the
//! tests). The warehouse beside them is `spectra-warehouse` (DuckDB), kept apart so that what
//! needs only these stores does not link DuckDB.
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
//! | (admin files) | [`load_or_create_token`], [`ADDR_FILE`] | `admin.token` (0600), `spectra.addr` |
//! | `Warehouse` | `spectra_warehouse::DuckWarehouse` | `warehouse.duckdb` (statement ledger inside) |

mod event_bus;
mod files;
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

pub use event_bus::QueueEventBus;
pub use files::{
    ADDR_FILE, OPERATOR_TOKEN_FILE, TOKEN_FILE, load_or_create_secret, load_or_create_token, write_private_file,
};
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
pub use walk::files_with_prefix;
