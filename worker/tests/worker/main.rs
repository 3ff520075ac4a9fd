//! The core beyond its unit tests: message schemas, the SQL guard, the consumer loop and the
//! reconciler's sweep, on the local adapters (SQLite). Links neither DuckDB nor an AWS SDK.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod consumer;
mod reconciler_sweep;
mod schemas;
mod sql_guard;
