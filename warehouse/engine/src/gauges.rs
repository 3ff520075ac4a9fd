//! The warehouse's load as gauges for operators: statements active now and the limit past
//! which submits are throttled (`spectra.warehouse.statements.active` / `.limit`), read when
//! metrics are collected. A process opens one warehouse; the most recently opened one is the
//! one observed.

use std::sync::{Mutex, OnceLock, PoisonError, Weak};

use super::Inner;

static OBSERVED: Mutex<Option<Weak<Inner>>> = Mutex::new(None);

/// Makes `inner` the warehouse the gauges read (registering them on first use).
pub(crate) fn observe(inner: Weak<Inner>) {
    *OBSERVED.lock().unwrap_or_else(PoisonError::into_inner) = Some(inner);
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(register);
}

/// `(active, limit)` of the observed warehouse, while it is open.
fn load() -> Option<(u64, u64)> {
    let inner = OBSERVED.lock().unwrap_or_else(PoisonError::into_inner).as_ref()?.upgrade()?;
    let active = inner.registry().active.len();
    Some((active as u64, inner.config.max_active_statements as u64))
}

fn register() {
    let meter = opentelemetry::global::meter(spectra_worker::metrics::METER);
    meter
        .u64_observable_gauge("spectra.warehouse.statements.active")
        .with_description("Statements running or queued in the warehouse now")
        .with_unit("{statement}")
        .with_callback(|gauge| {
            if let Some((active, _)) = load() {
                gauge.observe(active, &[]);
            }
        })
        .build();
    meter
        .u64_observable_gauge("spectra.warehouse.statements.limit")
        .with_description("Active statements past which submits are throttled (deferred)")
        .with_unit("{statement}")
        .with_callback(|gauge| {
            if let Some((_, limit)) = load() {
                gauge.observe(limit, &[]);
            }
        })
        .build();
}
