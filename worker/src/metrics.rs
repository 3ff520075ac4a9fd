//! What the worker counts, through the OpenTelemetry metrics API on the global meter provider.
//! The binary installs the provider before anything runs (Prometheus text at `/metrics`, OTLP
//! when configured); without one (the libraries' own tests) every instrument is a no-op.
//!
//! Labels stay bounded: the operation and states (fixed sets), a reason class, and the tenant
//! — the first [`TENANT_LABELS`] tenants a process sees by name, every later one as `other`.
//! Never a job id. No name ends in `_created`: OpenMetrics reserves that suffix (a counter's
//! creation time), and Prometheus parsers read `…_created_total` as such.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock, PoisonError};

use chrono::Utc;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter, UpDownCounter};
use spectra_state_machine::{Job, Phase, TenantId};

/// The instrumentation scope of every Spectra instrument.
pub const METER: &str = "spectra";

/// How many tenants get a label of their own; the rest share `other`, so a fleet with many
/// tenants cannot grow the series without bound.
pub const TENANT_LABELS: usize = 100;

/// Bucket bounds (seconds) for job times: sub-second queries up to day-long loads.
const JOB_SECONDS: [f64; 14] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 86400.0];

struct Instruments {
    created: Counter<u64>,
    ended: Counter<u64>,
    in_state: Histogram<f64>,
    end_to_end: Histogram<f64>,
    retries: Counter<u64>,
    rows: Counter<u64>,
    settled: Counter<u64>,
    dead_lettered: Counter<u64>,
    received: Histogram<u64>,
    in_flight: UpDownCounter<i64>,
    sweeps: Counter<u64>,
    stale: Counter<u64>,
}

fn counter(meter: &Meter, name: &'static str, unit: &'static str, description: &'static str) -> Counter<u64> {
    meter.u64_counter(name).with_unit(unit).with_description(description).build()
}

fn seconds(meter: &Meter, name: &'static str, description: &'static str) -> Histogram<f64> {
    meter.f64_histogram(name).with_unit("s").with_description(description).with_boundaries(JOB_SECONDS.to_vec()).build()
}

/// Made on first use, from the provider installed by then.
fn instruments() -> &'static Instruments {
    static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();
    INSTRUMENTS.get_or_init(|| {
        let m = opentelemetry::global::meter(METER);
        Instruments {
            created: counter(&m, "spectra.jobs.accepted", "{job}", "Jobs accepted (created), by operation and tenant"),
            ended: counter(
                &m,
                "spectra.jobs.ended",
                "{job}",
                "Jobs that reached an end state, by operation, tenant and state (complete, failed, aborted)",
            ),
            in_state: seconds(
                &m,
                "spectra.jobs.state.duration",
                "Time a job spent in a state before leaving it, by operation and state: open (waiting for \
                 the upload), queued (waiting for its statement to be submitted), running (its statement)",
            ),
            end_to_end: seconds(&m, "spectra.jobs.duration", "Creation to end state, by operation and end state"),
            retries: counter(&m, "spectra.jobs.retries", "{attempt}", "Statements run again after an attempt failed"),
            rows: counter(
                &m,
                "spectra.jobs.rows",
                "{row}",
                "Rows moved by ended bulk jobs, by operation and outcome (processed, failed)",
            ),
            settled: counter(
                &m,
                "spectra.messages.settled",
                "{message}",
                "Work-queue messages handled, by how they were settled (acked, retried, deferred for \
                 throttling, dead_lettered, released at a stop, lost to the visibility timeout)",
            ),
            dead_lettered: counter(
                &m,
                "spectra.messages.dead_lettered",
                "{message}",
                "Messages a handler gave up on, by reason class",
            ),
            received: m
                .u64_histogram("spectra.consumer.receive.batch_size")
                .with_unit("{message}")
                .with_description("Messages per receive that brought any")
                .with_boundaries(vec![1.0, 2.0, 3.0, 5.0, 7.0, 10.0])
                .build(),
            in_flight: m
                .i64_up_down_counter("spectra.consumer.in_flight")
                .with_unit("{message}")
                .with_description("Messages being handled now")
                .build(),
            sweeps: counter(&m, "spectra.reconciler.sweeps", "{sweep}", "Reconciler sweeps, by result (ok, failed)"),
            stale: counter(
                &m,
                "spectra.reconciler.stale_jobs",
                "{job}",
                "Stale jobs the reconciler queued a reconcile command for",
            ),
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

/// The tenant label: the tenant's id for the first [`TENANT_LABELS`] tenants seen, else `other`.
fn tenant(id: &TenantId) -> String {
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut seen = SEEN.lock().unwrap_or_else(PoisonError::into_inner);
    let seen = seen.get_or_insert_with(HashSet::new);
    if seen.contains(id.as_str()) || (seen.len() < TENANT_LABELS && seen.insert(id.as_str().to_owned())) {
        id.as_str().to_owned()
    } else {
        "other".to_owned()
    }
}

/// The state label of a phase a job can leave.
fn state(phase: Phase) -> Option<&'static str> {
    match phase {
        Phase::Open => Some("open"),
        Phase::Ready => Some("queued"),
        Phase::Running => Some("running"),
        Phase::Complete | Phase::Failed | Phase::Aborted => None,
    }
}

/// A job was created (its record written).
pub fn job_created(job: &Job) {
    let labels = [KeyValue::new("operation", operation(job)), KeyValue::new("tenant", tenant(job.tenant_id()))];
    instruments().created.add(1, &labels);
}

/// A job moved from `before` to `after` (the record written). Every transition is written
/// once, by whoever won its conditional write, so a fleet's counts summed count each once.
pub fn job_moved(before: &Job, after: &Job) {
    let i = instruments();
    let op = KeyValue::new("operation", operation(after));
    let now = Utc::now();
    let elapsed = |since: chrono::DateTime<Utc>| (now - since).num_milliseconds().max(0) as f64 / 1000.0;
    if before.phase() != after.phase()
        && let Some(left) = state(before.phase())
    {
        i.in_state.record(elapsed(before.updated_at()), &[op.clone(), KeyValue::new("state", left)]);
    }
    if after.header().execution.attempt > before.header().execution.attempt {
        i.retries.add(1, std::slice::from_ref(&op));
    }
    let ended = match after.phase() {
        _ if before.phase().is_terminal() => return,
        Phase::Complete => "complete",
        Phase::Failed => "failed",
        Phase::Aborted => "aborted",
        Phase::Open | Phase::Ready | Phase::Running => return,
    };
    let end = KeyValue::new("state", ended);
    i.ended.add(1, &[op.clone(), KeyValue::new("tenant", tenant(after.tenant_id())), end.clone()]);
    i.end_to_end.record(elapsed(after.created_at()), &[op.clone(), end]);
    if let Job::Bulk(bulk) = after {
        i.rows.add(bulk.number_records_processed, &[op.clone(), KeyValue::new("outcome", "processed")]);
        i.rows.add(bulk.number_records_failed, &[op, KeyValue::new("outcome", "failed")]);
    }
}

/// A work-queue message was settled as `how` (`acked`, `retried`, `deferred`, `dead_lettered`,
/// `released`, `lost`).
pub fn message_settled(how: &'static str) {
    instruments().settled.add(1, &[KeyValue::new("disposition", how)]);
}

/// A handler gave up on a message, for a reason of class `reason` (`malformed`: not a message
/// Spectra reads; `job`, `corrupt_record`, `job_store`, `warehouse`, `object_store`, `queue`,
/// `upload`: a failure of that part that trying again cannot mend).
pub fn dead_lettered(reason: &'static str) {
    instruments().dead_lettered.add(1, &[KeyValue::new("reason", reason)]);
}

/// A receive brought `n` messages.
pub fn received(n: usize) {
    if n > 0 {
        instruments().received.record(n as u64, &[]);
    }
}

/// A message's handling started (`+1`) or ended (`-1`).
pub fn in_flight(delta: i64) {
    instruments().in_flight.add(delta, &[]);
}

/// A reconciler sweep ended: `Some(n)` stale jobs queued, `None` when it failed.
pub fn swept(stale: Option<usize>) {
    let result = if stale.is_some() { "ok" } else { "failed" };
    instruments().sweeps.add(1, &[KeyValue::new("result", result)]);
    instruments().stale.add(stale.unwrap_or(0) as u64, &[]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_past_the_bound_share_one_label() {
        let ids: Vec<TenantId> =
            (0..2 * TENANT_LABELS).map(|i| TenantId::parse(&format!("bound{i}")).unwrap()).collect();
        let labels: Vec<String> = ids.iter().map(tenant).collect();
        assert_eq!(labels.last().map(String::as_str), Some("other"));
        assert!(labels.iter().filter(|l| *l != "other").count() <= TENANT_LABELS);
        // A tenant keeps the label it was first given.
        for (id, label) in ids.iter().zip(&labels) {
            assert_eq!(&tenant(id), label);
        }
    }
}
