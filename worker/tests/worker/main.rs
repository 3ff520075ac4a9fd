//! The worker crate beyond its unit tests: schemas, port contracts on the embedded adapters,
//! the embedded warehouse, the consumer loop and the SQL guard. One test binary (each links
//! DuckDB, about 1 GB in a debug build); the suites are its modules.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod aws_contract;
mod aws_redshift_data;
mod aws_template;
mod consumer;
mod embedded_adapters;
mod embedded_contract;
mod embedded_warehouse;
mod emulator_boto3;
mod emulator_contract;
mod emulator_operations;
mod outcome_race;
mod reconciler_sweep;
mod schemas;
mod sql_guard;
mod tenant_sql;
