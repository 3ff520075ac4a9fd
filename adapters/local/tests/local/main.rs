//! The local adapters beyond their unit tests: the port contracts and what only they offer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod embedded_adapters;
mod embedded_contract;
