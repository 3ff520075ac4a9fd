//! Spectra's REST front end: the Query, Job and Bulk APIs of seed 001 (with seed 000's `async`
//! and `output_format`), multi-tenant.
//!
//! # Layout
//! Nothing is built here yet; issue #5 brings the axum routes (one file per resource), auth
//! (hashed API keys, JWT), tenancy, idempotency keys, rate limits, the SQL guard and the OpenAPI
//! document. Until then the crate re-exports the job model the API will serve, so the workspace
//! already has the shape the design describes.

pub use spectra_state_machine as model;
