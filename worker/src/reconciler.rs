//! The reconciler's sweep: find jobs that have sat unchanged past the grace period (or `Open`
//! past their upload window) and put a `reconcile` command for each on the work queue, where
//! any worker picks it up and applies what it finds through the same handlers as events.
//!
//! Sweeping from every worker is safe: a job reconciled twice is described twice, and the
//! conditional write lets only one outcome land.

use std::time::Duration;

use chrono::Utc;
use spectra_state_machine::{AnyState, BulkState, Job, QueryStatus};
use tokio_util::sync::CancellationToken;

use crate::driver::{command_message, send_command};
use crate::messages::Command;
use crate::platform::Platform;
use crate::ports::{StaleCursor, StoreError};

/// Jobs read per page of a sweep; a sweep reads every page.
pub const SWEEP_PAGE: usize = 500;

/// How often a worker sweeps by default: often enough that a job whose event was lost finishes
/// within about a minute (with the default grace), rarely enough to cost one query per sweep.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// States whose jobs wait on a statement (its submit or its end).
const WORKING: [AnyState; 4] = [
    AnyState::Bulk(BulkState::UploadComplete),
    AnyState::Bulk(BulkState::InProgress),
    AnyState::Query(QueryStatus::Queued),
    AnyState::Query(QueryStatus::Running),
];

/// One sweep over every stale job; returns how many were sent for reconciliation. Each page's
/// commands go to the queue in one batch.
pub async fn sweep(platform: &Platform) -> Result<usize, StoreError> {
    let now = Utc::now();
    let since = |d: Duration| now - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    let settings = &platform.settings;
    // An Open job is only stale once its upload window has passed: it then fails.
    let scans = [
        (&WORKING[..], since(settings.reconcile_grace)),
        (&[AnyState::Bulk(BulkState::Open)][..], since(settings.upload_window)),
    ];
    let mut sent = 0;
    for (states, before) in scans {
        let mut cursor = None;
        loop {
            let page = platform.store.scan_stale(states, before, SWEEP_PAGE, cursor.as_ref()).await?;
            let Some(last) = page.last() else { break };
            cursor = Some(StaleCursor::after(last));
            sent += send_reconciles(platform, &page).await;
            if page.len() < SWEEP_PAGE {
                break;
            }
        }
    }
    if sent > 0 {
        tracing::info!(jobs = sent, "reconciling stale jobs");
    }
    Ok(sent)
}

/// Queues a `reconcile` command per job, in one batch; on a failed batch, one by one.
async fn send_reconciles(platform: &Platform, jobs: &[Job]) -> usize {
    let messages: Vec<_> = jobs.iter().filter_map(|job| command_message(job, Command::Reconcile, None).ok()).collect();
    let n = messages.len();
    match platform.queue.send_batch(messages).await {
        Ok(sent) => sent,
        Err(e) => {
            tracing::warn!(error = %e, jobs = n, "could not queue a batch of reconciles; sending them one by one");
            let mut sent = 0;
            for job in jobs {
                match send_command(platform, job, Command::Reconcile, None).await {
                    Ok(_) => sent += 1,
                    Err(e) => tracing::warn!(job = %job.job_id(), error = %e, "could not queue a reconcile"),
                }
            }
            sent
        }
    }
}

/// Sweeps at once (jobs left by a previous run are not made to wait a whole interval), then
/// every `interval` until `shutdown`.
pub async fn run(platform: Platform, interval: Duration, shutdown: CancellationToken) {
    loop {
        match sweep(&platform).await {
            Ok(stale) => crate::metrics::swept(Some(stale)),
            Err(e) => {
                crate::metrics::swept(None);
                tracing::warn!(error = %e, "reconciler sweep failed");
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
