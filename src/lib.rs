//! The `spectra` package's library: how an application is assembled from the workspace's crates
//! ([`app`]). The binary (`src/main.rs`) parses the command line into an [`app`] configuration;
//! the API's test harness and benchmarks build the same application the same way.

pub mod app;
pub mod telemetry;
