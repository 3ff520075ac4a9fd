//! The operator dashboard of `spectra up`, used in a real headless Chromium: sign in with the
//! operator token, list and filter every tenant's jobs, read a failed job's error, abort an
//! Open job and see it Aborted. A tenant's API key opens nothing. The page is saved as a
//! screenshot (`<target>/artifacts/dashboard.png`).

use serde_json::json;

use crate::browser::Browser;
use crate::common::*;
use spectra_local::{QUEUE_FILE, QueueConfig, SqliteQueue, WORK_QUEUE};
use spectra_worker::ports::{OutgoingMessage, Queue};

/// Creates a bulk job through the API as `tenant`; its id.
async fn create(api: &Api, key: &str, tenant: &str, body: serde_json::Value) -> String {
    let (status, job) = api.call(reqwest::Method::POST, "/v1/bulk/jobs", key, tenant, Some(body)).await;
    assert_eq!(status, 201, "{job}");
    job["job_id"].as_str().unwrap().to_owned()
}

#[test]
fn operators_list_filter_open_and_abort_jobs_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = up(&data, &[]);
    sql(&data, "CREATE TABLE t AS SELECT i AS id FROM range(10) r(i)");
    let (acme, globex) = (tenant_key(&data, TENANT), tenant_key(&data, "globex"));
    let operator = std::fs::read_to_string(data.join("operator.key")).unwrap().trim().to_owned();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let api = Api::at(&up.addr);
        let Seeded { failed, open, theirs } = seed(&api, &data, &acme, &globex).await;
        // A tenant's key is not an operator's.
        let as_tenant = api.http.get(format!("{}/dashboard", api.base)).bearer_auth(&acme).send().await.unwrap();
        assert_eq!(as_tenant.status(), 401);

        let browser = Browser::start().await;
        let base = &api.base;
        browser.open(&format!("{base}/dashboard")).await;
        assert!(browser.url().await.ends_with("/dashboard/login"), "{}", browser.url().await);
        browser.fill("#token", "not-the-token").await;
        browser.click_through("#sign-in").await;
        assert!(browser.text("body").await.contains("not the operator token"));
        browser.fill("#token", &operator).await;
        browser.click_through("#sign-in").await;

        // Every tenant's jobs, newest change first, with the tiles above.
        assert_eq!(browser.all("tr[data-job]").await.len(), 4, "{}", browser.text("body").await);
        assert!(browser.text("#tile-failed").await.starts_with('1'), "{}", browser.text("#tile-failed").await);
        assert!(
            browser.text("#tile-dead-letters").await.starts_with('1'),
            "{}",
            browser.text("#tile-dead-letters").await
        );
        browser.fill("#f-tenant", "globex").await;
        browser.click_through("#apply").await;
        let rows = browser.all("tr[data-job]").await;
        assert_eq!(rows.len(), 1, "{}", browser.url().await);
        assert!(browser.text("#jobs").await.contains(&theirs));
        browser.open(&format!("{base}/dashboard?state=Failed")).await;
        assert_eq!(browser.all("tr[data-job]").await.len(), 1);
        assert!(browser.text("#jobs").await.contains(&failed));

        // A failed job's page shows its error and its timeline.
        browser.click_through(&format!("a[href$='{failed}']")).await;
        assert_eq!(browser.text("#state").await, "Failed");
        assert!(browser.text("#error").await.contains("nope"), "{}", browser.text("#error").await);
        assert!(browser.text("#timeline").await.contains("InProgress"), "{}", browser.text("#timeline").await);

        // Abort the Open job.
        browser.open(&format!("{base}/dashboard/jobs/{TENANT}/{open}")).await;
        assert_eq!(browser.text("#state").await, "Open");
        browser.click_through("#abort").await;
        assert_eq!(browser.text("#state").await, "Aborted");
        let (_, record) = api.call(reqwest::Method::GET, &format!("/v1/bulk/jobs/{open}"), &acme, TENANT, None).await;
        assert_eq!(record["state"], "Aborted", "the API sees the operator's abort");

        browser.open(&format!("{base}/dashboard")).await;
        save(&browser.screenshot().await);
        browser.close().await;
    });
}

/// The jobs the test looks at.
struct Seeded {
    failed: String,
    open: String,
    theirs: String,
}

/// Two complete exports (one per tenant), a failed one, an Open insert, and a dead letter.
async fn seed(api: &Api, data: &std::path::Path, acme: &str, globex: &str) -> Seeded {
    let export = json!({"operation": "query", "object": "t", "query": "SELECT * FROM t"});
    let done = create(api, acme, TENANT, export.clone()).await;
    let failed =
        create(api, acme, TENANT, json!({"operation": "query", "object": "t", "query": "SELECT nope FROM t"})).await;
    let open = create(api, acme, TENANT, json!({"operation": "insert", "object": "t"})).await;
    let theirs = create(api, globex, "globex", export).await;
    for (key, tenant, job) in [(acme, TENANT, &done), (acme, TENANT, &failed), (globex, "globex", &theirs)] {
        api.done(key, tenant, job).await;
    }
    // A message no one can read, which the worker dead-letters: the tile counts the queue's.
    let queue = SqliteQueue::open(&data.join(QUEUE_FILE), WORK_QUEUE, QueueConfig::default()).await.unwrap();
    queue.send(OutgoingMessage::new("not a message")).await.unwrap();
    while queue.dead_letter_count().await.unwrap() == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Seeded { failed, open, theirs }
}

/// Keeps the screenshot as a test artifact.
fn save(png: &[u8]) {
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let target =
        std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target").into());
    let dir = std::path::Path::new(&target).join("artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("dashboard.png"), png).unwrap();
}
