//! The reconciler's sweep: find jobs that have sat unchanged past the grace period (or `Open`
//! past their upload window) and put a `reconcile` command for each on the work queue, where
//! any worker picks it up and applies what it finds through the same handlers as events.
//!
//! Sweeping from every worker is safe: a job reconciled twice is described twice, and the
//! conditional write lets only one outcome land.

use std::time::Duration;

use chrono::Utc;
use spectra_state_machine::{AnyState, BulkState, QueryStatus};
use tokio_util::sync::CancellationToken;

use crate::driver::send_command;
use crate::messages::Command;
use crate::platform::Platform;
use crate::ports::StoreError;

/// Most jobs one sweep looks at per kind of scan; the next sweep takes the rest.
const SWEEP_LIMIT: usize = 500;

/// States whose jobs wait on a statement (its submit or its end).
const WORKING: [AnyState; 4] = [
    AnyState::Bulk(BulkState::UploadComplete),
    AnyState::Bulk(BulkState::InProgress),
    AnyState::Query(QueryStatus::Queued),
    AnyState::Query(QueryStatus::Running),
];

/// One sweep; returns how many jobs were sent for reconciliation.
pub async fn sweep(platform: &Platform) -> Result<usize, StoreError> {
    let now = Utc::now();
    let since = |d: Duration| now - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    let settings = &platform.settings;
    let mut jobs = platform.store.scan_stale(&WORKING, since(settings.reconcile_grace), SWEEP_LIMIT).await?;
    // An Open job is only stale once its upload window has passed: it then fails.
    let open = AnyState::Bulk(BulkState::Open);
    jobs.extend(platform.store.scan_stale(&[open], since(settings.upload_window), SWEEP_LIMIT).await?);
    let mut sent = 0;
    for job in &jobs {
        match send_command(platform, job, Command::Reconcile, None).await {
            Ok(_) => sent += 1,
            Err(e) => tracing::warn!(job = %job.job_id(), error = %e, "could not queue a reconcile"),
        }
    }
    if sent > 0 {
        tracing::info!(jobs = sent, "reconciling stale jobs");
    }
    Ok(sent)
}

/// Sweeps every `interval` until `shutdown`.
pub async fn run(platform: Platform, interval: Duration, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        if let Err(e) = sweep(&platform).await {
            tracing::warn!(error = %e, "reconciler sweep failed");
        }
    }
}
