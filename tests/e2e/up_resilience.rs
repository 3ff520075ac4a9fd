//! `spectra up` under the things that go wrong in production: aborts at every stage, a kill
//! mid-job, SIGTERM with jobs in flight, duplicated and malformed messages, lost events.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use crate::common::*;
use spectra_local::{QUEUE_FILE, QueueConfig, SqliteQueue, WORK_QUEUE};
use spectra_worker::ports::{OutgoingMessage, Queue};

/// A query that keeps DuckDB busy for minutes unless cancelled.
const SLOW: &str = "SELECT max(md5(i::VARCHAR)) AS m FROM range(5000000000) t(i)";

/// The statement's status in the warehouse's ledger; `None` while the warehouse is too busy to
/// answer (its only slot is taken).
fn statement_status(data: &std::path::Path, statement_id: &str) -> Option<String> {
    let query = format!("SELECT status FROM spectra_internal.statements WHERE id = '{statement_id}'");
    let out = spectra(&["sql", "--json", "--data-dir", data.to_str().unwrap(), &query]);
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last()?).ok()?;
    last["rows"][0][0].as_str().map(str::to_owned)
}

fn work_queue(data: &std::path::Path) -> SqliteQueue {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(SqliteQueue::open(&data.join(QUEUE_FILE), WORK_QUEUE, QueueConfig::default())).unwrap()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

#[test]
fn aborts_in_open_upload_complete_and_in_progress() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // One statement at a time: a running export holds the slot, so the next job waits.
    let _up = up(&data, &["--max-active-statements", "1"]);
    sql(&data, "CREATE TABLE t (id INTEGER)");

    let open = create(&data, &["--operation", "insert", "--object", "t"]);
    assert_eq!(bulk(&data, &["abort", &open]).trim(), format!("{open} Aborted"));

    let running = create(&data, &["--operation", "query", "--object", "slow", "--query", SLOW]);
    let record = wait_for_state(&data, &running, &["InProgress"]);
    let statement = record["statement_id"].as_str().unwrap().to_owned();

    let waiting = create(&data, &["--operation", "query", "--object", "t", "--query", "SELECT 1"]);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(get(&data, &waiting)["state"], "UploadComplete", "throttled submits wait, they do not fail");
    bulk(&data, &["abort", &waiting]);
    assert_eq!(get(&data, &waiting)["state"], "Aborted");

    bulk(&data, &["abort", &running]);
    assert_eq!(get(&data, &running)["state"], "Aborted");
    // The running statement is cancelled, not left to burn the warehouse.
    let deadline = Instant::now() + Duration::from_secs(60);
    while statement_status(&data, &statement).as_deref() != Some("ABORTED") {
        assert!(Instant::now() < deadline, "statement {statement} was not cancelled");
        std::thread::sleep(Duration::from_millis(200));
    }
    // An aborted job stays aborted; closing it is refused.
    let out = spectra(&["bulk", "--data-dir", data.to_str().unwrap(), "--tenant", TENANT, "close", &open]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Aborted"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_killed_instance_finishes_the_job_after_a_restart_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let rows = 400_000;
    let up1 = up(&data, &[]);
    sql(&data, "CREATE TABLE events (id BIGINT, kind VARCHAR, value DOUBLE)");
    let csv: String = std::iter::once("id,kind,value\n".to_owned())
        .chain((0..rows).map(|i| format!("{i},kind-{},{}.25\n", i % 13, i % 1000)))
        .collect();
    let f = file(dir.path(), "events.csv", &csv);
    let job = create(&data, &["--operation", "insert", "--object", "events"]);
    upload_and_close(&data, &job, &[&f]);
    let record = wait_for_state(&data, &job, &["InProgress", "JobComplete"]);
    assert_eq!(record["state"], "InProgress", "the load finished before the kill; make it bigger");
    up1.kill();

    let _up2 = up(&data, &[]);
    let record = wait_done(&data, &job);
    assert_eq!(record["state"], "JobComplete", "{record:#}");
    assert_eq!(record["attempt"], 2, "the interrupted attempt was retried: {record:#}");
    assert_eq!(scalar(&data, "SELECT count(*) FROM events"), rows, "every row exactly once");
    assert_eq!(scalar(&data, "SELECT count(DISTINCT id) FROM events"), rows);
}

#[test]
fn sigterm_with_jobs_in_flight_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up1 = up(&data, &["--shutdown-deadline", "2s"]);
    sql(&data, "CREATE TABLE t AS SELECT i AS id FROM range(20000) r(i)");
    let jobs: Vec<String> = (0..6)
        .map(|i| {
            create(
                &data,
                &["--operation", "query", "--object", "t", "--query", &format!("SELECT id FROM t WHERE id % 6 = {i}")],
            )
        })
        .collect();
    assert!(up1.terminate(), "spectra up exits cleanly on SIGTERM");
    assert!(!data.join("spectra.addr").exists(), "the address file is removed on a clean stop");
    let _up2 = up(&data, &[]);
    for job in &jobs {
        let record = wait_done(&data, job);
        assert_eq!(record["state"], "JobComplete", "{record:#}");
        assert!(record["number_records_processed"].as_u64().unwrap() >= 3333);
    }
}

#[test]
fn a_duplicated_submit_runs_the_sql_once_and_a_malformed_message_is_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _up = up(&data, &[]);
    sql(&data, "CREATE TABLE t (id INTEGER)");
    let job = create(&data, &["--operation", "insert", "--object", "t"]);
    let f = file(dir.path(), "t.csv", "id\n1\n2\n3\n");
    bulk(&data, &["upload", &job, f.to_str().unwrap()]);
    // The command `close` sends, sent three more times by hand: duplicates are normal.
    let queue = work_queue(&data);
    let command = serde_json::json!({
        "schema_version": 1, "message_id": "6f9619ff-8b86-d011-b42d-00cf4fc964ff", "job_kind": "bulk",
        "tenant_id": TENANT, "job_id": job, "command": "submit_statement", "attempt": 1,
        "sent_at": "2026-11-22T00:00:00Z"
    });
    bulk(&data, &["close", &job]);
    for _ in 0..3 {
        block_on(queue.send(OutgoingMessage::new(command.to_string()))).unwrap();
    }
    assert_eq!(wait_done(&data, &job)["state"], "JobComplete");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(scalar(&data, "SELECT count(*) FROM t"), 3, "the load ran once");
    let named = format!("spectra:{TENANT}:{job}:1");
    let statements = scalar(
        &data,
        &format!(
            "SELECT count(*) FROM spectra_internal.statements WHERE json_extract_string(record, '$.statement_name') = '{named}'"
        ),
    );
    assert_eq!(statements, 1, "one statement for the attempt");

    block_on(queue.send(OutgoingMessage::new("this is not json"))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let dead = block_on(queue.dead_letters()).unwrap();
        if let Some(letter) = dead.iter().find(|d| d.body == "this is not json") {
            assert!(letter.reason.contains("not a JSON object"), "{}", letter.reason);
            break;
        }
        assert!(Instant::now() < deadline, "the malformed message was not dead-lettered");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn without_events_the_reconciler_finishes_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = up(&data, &["--no-statement-events", "--reconcile-grace", "1s"]);
    sql(&data, "CREATE TABLE t AS SELECT i AS id FROM range(10) r(i)");
    let job = create(&data, &["--operation", "query", "--object", "t", "--query", "SELECT * FROM t"]);
    let record = wait_done(&data, &job);
    assert_eq!(record["state"], "JobComplete", "{record:#}");
    assert_eq!(record["number_records_processed"], 10);
    drop(up);
}

#[test]
fn deadlines_fail_jobs_and_cancel_their_statements() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _up = up(&data, &["--upload-window", "2s", "--bulk-deadline", "4s", "--reconcile-grace", "1s"]);
    sql(&data, "CREATE TABLE t (id INTEGER)");
    let forgotten = create(&data, &["--operation", "insert", "--object", "t"]);
    let slow = create(&data, &["--operation", "query", "--object", "slow", "--query", SLOW]);
    let statement = wait_for_state(&data, &slow, &["InProgress"])["statement_id"].as_str().unwrap().to_owned();

    let record = wait_done(&data, &forgotten);
    assert_eq!(
        (record["state"].as_str(), record["error"]["code"].as_str()),
        (Some("Failed"), Some("UPLOAD_WINDOW_EXPIRED"))
    );
    let record = wait_done(&data, &slow);
    assert_eq!(
        (record["state"].as_str(), record["error"]["code"].as_str()),
        (Some("Failed"), Some("DEADLINE_EXCEEDED"))
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while statement_status(&data, &statement).as_deref() != Some("ABORTED") {
        assert!(Instant::now() < deadline, "the statement past its deadline was not cancelled");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn sigterm_interrupts_a_running_statement_and_the_job_completes_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up1 = up(&data, &["--shutdown-deadline", "2s"]);
    // About ten seconds of work for the (unoptimised) engine of a debug build.
    let slow = "SELECT i % 1000 AS k, count(*) AS n FROM range(8000000) t(i) WHERE md5(i::VARCHAR) <> '' GROUP BY 1";
    let job = create(&data, &["--operation", "query", "--object", "t", "--query", slow]);
    wait_for_state(&data, &job, &["InProgress"]);
    // A synchronous query waiting on its own slow statement holds a request open.
    let key = tenant_key(&data, "acme");
    let url = format!("http://{}/v1/queries", up1.addr);
    let waiting = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let body = serde_json::json!({"sql": slow, "parameters": {"timeout_seconds": 300}});
            let sent =
                reqwest::Client::new().post(url).bearer_auth(key).header("X-Tenant-ID", "acme").json(&body).send();
            sent.await.map(|r| r.status().as_u16()).unwrap_or(0)
        })
    });
    std::thread::sleep(Duration::from_millis(800));
    let asked = Instant::now();
    assert!(up1.terminate(), "spectra up exits cleanly on SIGTERM");
    let took = asked.elapsed();
    // The deadline, plus the few seconds a debug build takes to tear down.
    assert!(took < Duration::from_secs(6), "SIGTERM took {took:?} with statements running");
    let status = waiting.join().unwrap();
    assert!(status != 200, "the interrupted synchronous query cannot have answered rows ({status})");
    // The next start gets the warehouse (no lock left behind) and retries the statement.
    let _up2 = up(&data, &[]);
    let record = wait_done(&data, &job);
    assert_eq!(record["state"], "JobComplete", "{record:#}");
    assert_eq!(record["number_records_processed"], 1000);
}

#[test]
fn rate_counts_carry_over_a_graceful_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let limits = ["--rate-limits", "bulk_reads=3,window_seconds=86400"];
    // All four requests must fall in one (daily, UTC-aligned) window: not across midnight.
    let into_day = chrono::Utc::now().timestamp().rem_euclid(86_400);
    if into_day > 86_400 - 120 {
        std::thread::sleep(Duration::from_secs(u64::try_from(86_400 - into_day + 1).unwrap()));
    }
    let list = |up: &Up, key: &str| {
        block_on(Api::at(&up.addr).call(reqwest::Method::GET, "/v1/bulk/jobs", key, TENANT, None)).0
    };
    let up1 = up(&data, &limits);
    let key = tenant_key(&data, TENANT);
    assert_eq!([list(&up1, &key), list(&up1, &key)], [200, 200]);
    assert!(up1.terminate(), "spectra up exits cleanly on SIGTERM");
    // The restarted process counts on from the two requests before the stop.
    let up2 = up(&data, &limits);
    assert_eq!([list(&up2, &key), list(&up2, &key)], [200, 429]);
}

#[test]
fn a_tenant_query_killed_mid_run_is_retried_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up1 = up(&data, &[]);
    let key = tenant_key(&data, TENANT);
    // About ten seconds of work for the (unoptimised) engine of a debug build.
    let slow = "SELECT count(*) AS n FROM range(8000000) t(i) WHERE md5(i::VARCHAR) <> ''";
    let body = serde_json::json!({"sql": slow, "async": true});
    let (status, created) =
        block_on(Api::at(&up1.addr).call(reqwest::Method::POST, "/v1/queries", &key, TENANT, Some(body)));
    assert_eq!(status, 202, "{created}");
    let job = created["job_id"].as_str().unwrap().to_owned();
    let state = |up: &Up| {
        block_on(Api::at(&up.addr).call(reqwest::Method::GET, &format!("/v1/jobs/{job}"), &key, TENANT, None)).1
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while state(&up1)["status"] != "RUNNING" {
        assert!(Instant::now() < deadline, "the query never ran: {}", state(&up1));
        std::thread::sleep(Duration::from_millis(20));
    }
    // Killed during the read: a tenant's query is recorded only when it ends, so the restarted
    // warehouse does not know it, and the reconciler runs the job again.
    up1.kill();
    let up2 = up(&data, &["--reconcile-grace", "1s", "--reconcile-interval", "1s"]);
    let deadline = Instant::now() + Duration::from_secs(120);
    let done = loop {
        let job = state(&up2);
        if job["status"] != "RUNNING" && job["status"] != "QUEUED" {
            break job;
        }
        assert!(Instant::now() < deadline, "the job was left {job}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!((done["status"].as_str(), done["row_count"].as_i64()), (Some("COMPLETED"), Some(1)), "{done}");
    let (_, rows) =
        block_on(Api::at(&up2.addr).call(reqwest::Method::GET, &format!("/v1/jobs/{job}/results"), &key, TENANT, None));
    assert_eq!(rows["data"], serde_json::json!([{"n": 8000000}]), "{rows}");
    let recorded = format!("SELECT count(*) FROM spectra_internal.statements WHERE record LIKE '%{job}:2\"%'");
    assert_eq!(scalar(&data, &recorded), 1, "the second attempt ran, recorded once");
}
