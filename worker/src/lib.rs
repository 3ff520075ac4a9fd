//! Spectra's core: everything between the work queue and the warehouse that does not depend on
//! where it runs. Adapters live in their own crates — `spectra-aws` (SQS, DynamoDB, S3,
//! EventBridge, the Data API), `spectra-local` (SQLite and a directory) and `spectra-warehouse`
//! (DuckDB) with `spectra-emulator` — so this crate builds and tests with neither DuckDB nor an
//! AWS SDK.
//!
//! # Layout
//! - [`messages`]: the bodies on the work queue (Spectra's commands, the Data API's statement
//!   status-change events) and the lifecycle events Spectra publishes, each matching a JSON
//!   Schema in `schemas/`.
//! - [`ports`]: the traits the worker and the API talk to the world through (`Queue`,
//!   `JobStore`, `Warehouse`, `ObjectStore`, `EventBus`), each documenting its contract.
//! - `contract` (feature `contract`): one generic test suite per port, run against every adapter.
//! - [`sql`]: the SQL Spectra generates (UNLOAD, and the ingest batch), pure.
//! - [`platform`]: the ports bundled with the shared settings and the object layout of a job.
//! - [`driver`]: the one way a job moves: state machine, conditional write, effects;
//!   [`metrics`]: what it counts (jobs created and ended), on the OpenTelemetry API.
//! - [`producer`]: create, upload, close, abort, get, list, results — for producers and the API.
//! - [`handler`]: the worker's level-triggered message handlers; [`consumer`]: the loop that
//!   feeds them; [`invocation`]: the same handlers for a batch handed to a function (AWS
//!   Lambda); [`coalesce`]: their acknowledgements and lifecycle events sent in shared batch
//!   calls; [`reconciler`]: the sweep that catches lost events and deadlines.
//! - [`upload`], [`results`]: what the worker reads from uploads and writes as results.
//! - [`faults`]: fault injection at the worker's edges, for `spectra chaos`.
//! - [`secret`]: `Secret<T>`, configuration values that never print.

pub mod coalesce;
pub mod consumer;
#[cfg(feature = "contract")]
pub mod contract;
pub mod driver;
pub mod faults;
pub mod handler;
pub mod invocation;
pub mod messages;
pub mod messaging_spans;
pub mod metrics;
pub mod platform;
pub mod ports;
pub mod producer;
pub mod reconciler;
pub mod results;
pub mod secret;
pub mod sql;
pub mod trace;
pub mod traced_warehouse;
pub mod upload;
