//! Spectra's orchestrator library: everything between the work queue and the warehouse.
//!
//! # Layout
//! - [`messages`]: the bodies on the work queue (Spectra's commands, the Data API's statement
//!   status-change events) and the lifecycle events Spectra publishes, each matching a JSON
//!   Schema in `schemas/`.
//!
//! - [`ports`]: the traits the worker and the API talk to the world through (`Queue`,
//!   `JobStore`, `Warehouse`, `ObjectStore`, `EventBus`), each documenting its contract.
//! - [`embedded`]: durable local adapters for every port (SQLite, a directory, DuckDB).
//! - `contract` (feature `contract`): one generic test suite per port, run against every adapter.
//!
//! Still to come (see the issue tracker): the AWS adapters, the SQL builders, the consumer loop,
//! the handlers and the reconciler.

#[cfg(feature = "contract")]
pub mod contract;
pub mod embedded;
pub mod messages;
pub mod ports;
