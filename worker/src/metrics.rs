//! What the worker counts, through the OpenTelemetry metrics API on the global meter provider.
//! The binary installs the provider before anything runs (Prometheus text at `/metrics`);
//! without one (the libraries' own tests) every instrument is a no-op, at no cost.
//!
//! Labels stay bounded: the operation (a fixed set) and the end state, never a tenant or job id.
//! No name ends in `_created`: OpenMetrics reserves that suffix (a counter's creation time),
//! and Prometheus parsers read `…_created_total` as such.

use std::sync::OnceLock;

use opentelemetry::KeyValue;
use opentelemetry::metrics::Counter;
use spectra_state_machine::{Job, Phase};

/// The instrumentation scope of every Spectra instrument.
pub const METER: &str = "spectra";

struct Instruments {
    created: Counter<u64>,
    ended: Counter<u64>,
    settled: Counter<u64>,
    sweeps: Counter<u64>,
    stale: Counter<u64>,
}

/// Made on first use, from the provider installed by then.
fn instruments() -> &'static Instruments {
    static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();
    INSTRUMENTS.get_or_init(|| {
        let meter = opentelemetry::global::meter(METER);
        Instruments {
            created: meter
                .u64_counter("spectra.jobs.accepted")
                .with_description("Jobs accepted (created), by operation")
                .with_unit("{job}")
                .build(),
            ended: meter
                .u64_counter("spectra.jobs.ended")
                .with_description("Jobs that reached an end state, by operation and state (complete, failed, aborted)")
                .with_unit("{job}")
                .build(),
            settled: meter
                .u64_counter("spectra.messages.settled")
                .with_description(
                    "Work-queue messages handled, by how they were settled (acked, retried, deferred for \
                     throttling, dead_lettered, released at a stop, lost to the visibility timeout)",
                )
                .with_unit("{message}")
                .build(),
            sweeps: meter
                .u64_counter("spectra.reconciler.sweeps")
                .with_description("Reconciler sweeps, by result (ok, failed)")
                .with_unit("{sweep}")
                .build(),
            stale: meter
                .u64_counter("spectra.reconciler.stale_jobs")
                .with_description("Stale jobs the reconciler queued a reconcile command for")
                .with_unit("{job}")
                .build(),
        }
    })
}

/// The operation label: a bulk job's operation, or `sql` for a query job.
fn operation(job: &Job) -> &'static str {
    match job {
        Job::Bulk(bulk) => bulk.operation.as_str(),
        Job::Query(_) => "sql",
    }
}

/// A job was created (its record written).
pub fn job_created(job: &Job) {
    instruments().created.add(1, &[KeyValue::new("operation", operation(job))]);
}

/// A job moved from `before` to its state in `after` (the record written): counted when it
/// entered an end state. Every transition is written once, by whoever won its conditional
/// write, so each job's end is counted once across a fleet's scrapes summed.
pub fn job_moved(before: Phase, after: &Job) {
    let state = match after.phase() {
        _ if before.is_terminal() => return,
        Phase::Complete => "complete",
        Phase::Failed => "failed",
        Phase::Aborted => "aborted",
        Phase::Open | Phase::Ready | Phase::Running => return,
    };
    let labels = [KeyValue::new("operation", operation(after)), KeyValue::new("state", state)];
    instruments().ended.add(1, &labels);
}

/// A work-queue message was settled as `how` (`acked`, `retried`, `deferred`, `dead_lettered`,
/// `released`, `lost`).
pub fn message_settled(how: &'static str) {
    instruments().settled.add(1, &[KeyValue::new("disposition", how)]);
}

/// A reconciler sweep ended: `Some(n)` stale jobs queued, `None` when it failed.
pub fn swept(stale: Option<usize>) {
    let result = if stale.is_some() { "ok" } else { "failed" };
    instruments().sweeps.add(1, &[KeyValue::new("result", result)]);
    instruments().stale.add(stale.unwrap_or(0) as u64, &[]);
}
