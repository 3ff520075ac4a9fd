//! The `spectra` binary end to end: the CLI, `spectra sql`, and jobs through `spectra up`. One
//! test binary (each links DuckDB, about 1 GB in a debug build); the suites are its modules.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod aws_chain;
mod aws_mode;
mod browser;
mod chaos;
mod cli;
mod common;
mod dashboard;
mod lambda;
mod lambda_runtime;
mod metrics;
mod otlp;
mod python_client;
mod sql;
mod tenants;
mod traces;
mod up_export;
mod up_ingest;
mod up_resilience;
