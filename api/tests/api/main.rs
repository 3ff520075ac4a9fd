//! The REST API over a real socket, on the whole embedded stack in one process. One test
//! binary for all of it: every test binary links DuckDB (about 1 GB each in a debug build), so
//! the suites are modules of this one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bulk_api;
mod common;
mod idempotency;
mod internal_errors;
mod openapi;
mod query_api;
mod rate_limits;
mod result_types;
mod tenant_boundary;
