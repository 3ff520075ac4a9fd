//! The local warehouse beyond its unit tests: the warehouse contract, UNLOAD and COPY, restarts,
//! the tenant boundary, and the worker's handlers running on it. One test binary (it links
//! DuckDB, about 1 GB in a debug build); the suites are its modules.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod contract;
mod embedded_warehouse;
mod lost_statement;
mod outcome_race;
mod remembered;
mod tenant_sql;
mod watched_store;
