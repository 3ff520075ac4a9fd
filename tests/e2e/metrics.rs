//! `GET /metrics` of `spectra up`, read by the Prometheus project's own text parser: the job
//! counters move by exactly the jobs run, and the API's request durations are labelled by route.

use serde_json::{Value, json};

use crate::common::*;
use spectra_local::{QUEUE_FILE, QueueConfig, SqliteQueue, WORK_QUEUE};
use spectra_worker::ports::{OutgoingMessage, Queue};

/// Every sample of `/metrics`, parsed by `prometheus_client` (the test command's venv).
fn scrape(up: &Up) -> Vec<Value> {
    let python = std::env::var("SPECTRA_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/metrics_scrape.py");
    let out = std::process::Command::new(&python)
        .args([script, &format!("http://{}/metrics", up.addr)])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} (set SPECTRA_PYTHON, scripts/test does): {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("No module named"), "{python} lacks prometheus_client; scripts/test installs it");
    assert!(out.status.success(), "the scrape failed:\n{stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The value of the sample `name` with exactly `labels`, 0 when absent.
fn value(samples: &[Value], name: &str, labels: Value) -> f64 {
    samples.iter().find(|s| s["name"] == name && s["labels"] == labels).map_or(0.0, |s| s["value"].as_f64().unwrap())
}

/// Scrapes until `ready` holds (at most ten seconds), then returns that scrape.
fn scrape_until(up: &Up, ready: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let samples = scrape(up);
        if ready(&samples) {
            return samples;
        }
        assert!(std::time::Instant::now() < deadline, "{samples:#?}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Creates an export of `query` through the REST API and waits for its end state.
async fn export(api: &Api, key: &str, query: &str) -> (String, String) {
    let body = json!({"operation": "query", "object": "t", "query": query});
    let (status, job) = api.call(reqwest::Method::POST, "/v1/bulk/jobs", key, TENANT, Some(body)).await;
    assert_eq!(status, 201, "{job}");
    let id = job["job_id"].as_str().unwrap().to_owned();
    let state = api.done(key, TENANT, &id).await["state"].as_str().unwrap_or_default().to_owned();
    (id, state)
}

#[test]
fn metrics_count_exactly_the_jobs_run_and_time_requests_by_route() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = up(&data, &[]);
    sql(&data, "CREATE TABLE t AS SELECT i AS id FROM range(10) r(i)");
    let key = tenant_key(&data, TENANT);
    let accepted =
        |s: &[Value]| value(s, "spectra_jobs_accepted_total", json!({"operation": "query", "tenant": TENANT}));
    let ended = |s: &[Value], state: &str| {
        value(s, "spectra_jobs_ended_total", json!({"operation": "query", "tenant": TENANT, "state": state}))
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let api = Api::at(&up.addr);
    let before = scrape(&up);
    let jobs: Vec<String> = runtime.block_on(async {
        let mut jobs = Vec::new();
        for _ in 0..3 {
            let (id, state) = export(&api, &key, "SELECT * FROM t").await;
            assert_eq!(state, "JobComplete");
            jobs.push(id);
        }
        assert_eq!(export(&api, &key, "SELECT nope FROM t").await.1, "Failed");
        jobs
    });
    // A job's end is counted just after its record is written, so a scrape may be a moment
    // early; the counts must then be exact.
    let after = scrape_until(&up, |s| {
        ended(s, "complete") - ended(&before, "complete") >= 3.0 && ended(s, "failed") - ended(&before, "failed") >= 1.0
    });
    assert_eq!(accepted(&after) - accepted(&before), 4.0, "{after:#?}");
    assert_eq!(ended(&after, "complete") - ended(&before, "complete"), 3.0, "{after:#?}");
    assert_eq!(ended(&after, "failed") - ended(&before, "failed"), 1.0, "{after:#?}");
    // Each job's submit command and status-change event were handled and acknowledged (an
    // acknowledgement waits up to 250 ms to share a delete, so the last ones may still be on
    // their way); none was dead-lettered, and the reconciler kept sweeping (every 500 ms here).
    let settled = |s: &[Value], how: &str| value(s, "spectra_messages_settled_total", json!({"disposition": how}));
    let later = scrape_until(&up, |s| settled(s, "acked") - settled(&before, "acked") >= 8.0);
    assert_eq!(settled(&later, "dead_lettered"), 0.0, "{later:#?}");
    assert!(value(&later, "spectra_reconciler_sweeps_total", json!({"result": "ok"})) >= 1.0, "{later:#?}");
    assert_job_times_and_rows(&before, &later);
    assert_consumer_and_warehouse(&later);

    // A message no one can read is dead-lettered, counted by its reason's class.
    let queue =
        runtime.block_on(SqliteQueue::open(&data.join(QUEUE_FILE), WORK_QUEUE, QueueConfig::default())).unwrap();
    runtime.block_on(queue.send(OutgoingMessage::new("not a message"))).unwrap();
    let malformed = |s: &[Value]| value(s, "spectra_messages_dead_lettered_total", json!({"reason": "malformed"}));
    let poisoned = scrape_until(&up, |s| settled(s, "dead_lettered") >= 1.0);
    assert_eq!((malformed(&poisoned), settled(&poisoned, "dead_lettered")), (1.0, 1.0), "{poisoned:#?}");

    // The API's requests, by route template (never the job id), method and status.
    runtime.block_on(async {
        for job in &jobs {
            assert_eq!(
                api.call(reqwest::Method::GET, &format!("/v1/bulk/jobs/{job}/results"), &key, TENANT, None).await.0,
                200
            );
        }
    });
    let samples = scrape(&up);
    let route = json!({"http_route": "/v1/bulk/jobs/{id}/results", "http_request_method": "GET", "http_response_status_code": "200"});
    assert_eq!(value(&samples, "http_server_request_duration_seconds_count", route.clone()), 3.0, "{samples:#?}");
    let mut inf = route;
    inf["le"] = json!("+Inf");
    assert_eq!(value(&samples, "http_server_request_duration_seconds_bucket", inf), 3.0);
    assert!(samples.iter().all(|s| !s.to_string().contains(&jobs[0])), "a job id in a label");
}

/// Each of the four jobs waited queued and ran once; three ended complete, one failed, each
/// with an end-to-end time; the complete ones moved the table's ten rows each.
fn assert_job_times_and_rows(before: &[Value], after: &[Value]) {
    let count = |s: &[Value], name: &str, labels: Value| value(s, name, labels);
    let moved = |name: &str, labels: Value| count(after, name, labels.clone()) - count(before, name, labels);
    for state in ["queued", "running"] {
        let labels = json!({"operation": "query", "state": state});
        assert_eq!(moved("spectra_jobs_state_duration_seconds_count", labels), 4.0, "{state}: {after:#?}");
    }
    let complete = json!({"operation": "query", "state": "complete"});
    assert_eq!(moved("spectra_jobs_duration_seconds_count", complete), 3.0, "{after:#?}");
    let failed = json!({"operation": "query", "state": "failed"});
    assert_eq!(moved("spectra_jobs_duration_seconds_count", failed), 1.0, "{after:#?}");
    let rows = json!({"operation": "query", "outcome": "processed"});
    assert_eq!(moved("spectra_jobs_rows_total", rows), 30.0, "{after:#?}");
    assert_eq!(moved("spectra_jobs_retries_total", json!({"operation": "query"})), 0.0);
}

/// Receives are counted by size, nothing is in flight once all is settled, and the warehouse
/// shows its active statements against its limit (`--max-active-statements`, 8 by default).
fn assert_consumer_and_warehouse(samples: &[Value]) {
    assert!(value(samples, "spectra_consumer_receive_batch_size_count", json!({})) >= 1.0, "{samples:#?}");
    assert_eq!(value(samples, "spectra_consumer_in_flight", json!({})), 0.0, "{samples:#?}");
    assert_eq!(value(samples, "spectra_warehouse_statements_active", json!({})), 0.0, "{samples:#?}");
    assert_eq!(value(samples, "spectra_warehouse_statements_limit", json!({})), 8.0, "{samples:#?}");
}
