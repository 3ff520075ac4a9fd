//! Spectra's orchestrator library: everything between the work queue and the warehouse.
//!
//! # Layout
//! - [`messages`]: the bodies on the work queue (Spectra's commands, the Data API's statement
//!   status-change events) and the lifecycle events Spectra publishes, each matching a JSON
//!   Schema in `schemas/`.
//!
//! Still to come (see the issue tracker): the ports (`Queue`, `JobStore`, `Warehouse`,
//! `ObjectStore`, `EventBus`) with their contract suites, the embedded and AWS adapters, the SQL
//! builders, the consumer loop, the handlers and the reconciler.

pub mod messages;
