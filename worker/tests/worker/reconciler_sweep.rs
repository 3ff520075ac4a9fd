//! The reconciler's sweep takes every stale job in one pass (page after page), not a first
//! page per interval, and queues one reconcile command for each.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use spectra_local::EmbeddedPlatform;
use spectra_state_machine::{BulkJobRequest, Job, TenantId, bulk};
use spectra_worker::platform::Settings;
use spectra_worker::ports::Queue;
use spectra_worker::reconciler::{SWEEP_PAGE, sweep};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sweep_reconciles_every_stale_job() {
    let dir = tempfile::tempdir().unwrap();
    let stack = EmbeddedPlatform::open(dir.path(), "http://127.0.0.1:1", Settings::default()).await.unwrap();
    let stale = SWEEP_PAGE * 2 + 137;
    let long_ago = Utc::now() - chrono::Duration::hours(2);
    let mut ids = HashSet::new();
    for i in 0..stale {
        let tenant = TenantId::parse(if i % 3 == 0 { "acme" } else { "beta" }).unwrap();
        let request = BulkJobRequest {
            operation: "query".into(),
            object: "t".into(),
            query: Some("SELECT 1".into()),
            ..BulkJobRequest::default()
        };
        // Export jobs start UploadComplete: stale, since nobody touched them for two hours.
        let (job, _) = bulk::create(tenant, request.validate().unwrap(), long_ago);
        ids.insert(job.header.job_id.to_string());
        stack.platform.store.create(&Job::Bulk(job)).await.unwrap();
    }
    assert_eq!(sweep(&stack.platform).await.unwrap(), stale);
    let mut queued = HashSet::new();
    loop {
        let batch = stack.work.receive(10, Duration::ZERO, Duration::from_secs(60)).await.unwrap();
        if batch.is_empty() {
            break;
        }
        for message in batch {
            let body: serde_json::Value = serde_json::from_str(&message.body).unwrap();
            assert_eq!(body["command"], "reconcile", "{body}");
            queued.insert(body["job_id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(queued, ids, "one reconcile per stale job, none missed, none twice");
}
