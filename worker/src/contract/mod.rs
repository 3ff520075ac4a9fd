//! One generic test suite per port (feature `contract`). Each check is a `pub async fn` taking a
//! fixture that makes fresh adapters; `*_contract_tests!(fixture)` expands to one
//! `#[tokio::test]` per check, so every adapter — embedded now, AWS later — runs the same
//! checks under the same names. The suites panic on failure, as tests do.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

pub mod api_stores;
pub mod event_bus;
pub mod job_store;
pub mod object_store;
pub mod queue;
pub mod warehouse;

/// Expands to one multi-threaded `#[tokio::test]` per named check of `suite`, each building
/// its own fixture from `fixture` (an expression, which may `.await`).
#[macro_export]
macro_rules! contract_tests {
    ($suite:ident, $fixture:expr; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let fixture = $fixture;
                $crate::contract::$suite::$check(&fixture).await;
            }
        )+
    };
}
