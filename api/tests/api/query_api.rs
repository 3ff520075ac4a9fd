//! The Query and Job APIs over a real socket on the whole embedded stack: synchronous queries
//! with the row cap and named parameters, async jobs, CSV output, timeouts, failures, cancel.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use crate::common::{Stack, code};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use spectra_worker::ports::{StatementStatus, Warehouse};

async fn sales() -> (Stack, String) {
    let s = Stack::start().await;
    let key = s.key("acme").await;
    s.sql(
        "CREATE TABLE sales AS SELECT i AS id, CASE WHEN i % 2 = 0 THEN 'EMEA' ELSE 'APAC' END AS region, \
           CAST(i * 10 AS DECIMAL(10,2)) AS amount FROM range(1, 51) t(i)",
    )
    .await;
    (s, key)
}

async fn query(s: &Stack, key: &str, body: Value) -> (StatusCode, Value) {
    s.call(key, "acme", Method::POST, "/v1/queries", Some(body)).await
}

async fn wait_status(s: &Stack, key: &str, job: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = s.call(key, "acme", Method::GET, &format!("/v1/jobs/{job}"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["status"] == want {
            return body;
        }
        assert!(Instant::now() < deadline, "never {want}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_answers_with_rows_types_and_metadata_and_is_a_job() {
    let (s, key) = sales().await;
    let (status, body) = query(
        &s,
        &key,
        json!({"sql": "SELECT region, SUM(amount) AS total FROM sales GROUP BY region ORDER BY region"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!([{"region": "APAC", "total": "6250.00"}, {"region": "EMEA", "total": "6500.00"}]));
    let meta = &body["metadata"];
    assert_eq!(meta["columns"], json!(["region", "total"]));
    assert_eq!(meta["column_types"][0], "varchar");
    assert_eq!(
        (meta["row_count"].as_u64(), meta["total_rows"].as_u64(), meta["truncated"].as_bool()),
        (Some(2), Some(2), Some(false))
    );
    assert!(meta["execution_time_ms"].is_u64() && meta["query_id"].is_string());
    let job = wait_status(&s, &key, meta["job_id"].as_str().unwrap(), "COMPLETED").await;
    assert_eq!((job["row_count"].as_u64(), job["tenant_id"].as_str()), (Some(2), Some("acme")));
    assert!(job["submitted_at"].is_string() && job["completed_at"].is_string() && job["error"].is_null());
    let raw = s
        .http
        .post(format!("{}/v1/queries", s.base))
        .bearer_auth(&key)
        .header("X-Tenant-ID", "acme")
        .json(&json!({"sql": "SELECT 2 AS z, 1 AS a"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(raw.contains(r#""data":[{"z":2,"a":1}]"#), "columns keep their order: {raw}");
    let (_, other) = s
        .call(
            &s.key("globex").await,
            "globex",
            Method::GET,
            &format!("/v1/jobs/{}", meta["job_id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(code(&other), "NOT_FOUND");
}

/// A tenant's query in Redshift's SQL is checked as it will run — translated first, as the
/// engine runs it — and answers as Redshift would; Redshift's repeated labels (`count`, `count`)
/// stay distinct JSON keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_in_redshift_sql_is_checked_as_it_runs_and_keeps_every_column() {
    let (s, key) = sales().await;
    let sql = "SELECT TOP 2 id, DECODE(region, 'EMEA', 'e', 'a') AS r, INITCAP(lower(region)) AS name, \
               count(*), count(id), id / 2 AS half FROM public.sales GROUP BY id, region ORDER BY id";
    let (status, body) = query(&s, &key, json!({"sql": sql})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!([
            {"id": 1, "r": "a", "name": "Apac", "count": 1, "count_1": 1, "half": 0},
            {"id": 2, "r": "e", "name": "Emea", "count": 1, "count_1": 1, "half": 1}
        ])
    );
    assert_eq!(body["metadata"]["columns"], json!(["id", "r", "name", "count", "count_1", "half"]));
    // Not wrapped (its own LIMIT is within the cap), the repeated label is made distinct too.
    let (status, body) = query(&s, &key, json!({"sql": "SELECT count(*), count(id) FROM sales LIMIT 1"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!([{"count": 50, "count_1": 50}]));
    // Every translation is made of built-ins a tenant may call.
    let sql = "SELECT STRTOL('ff', 16) AS hex, MONTHS_BETWEEN('2008-03-13'::date, '2008-01-13'::date) AS months, \
               TO_CHAR('2008-02-14'::date, 'MON Day') AS day, TRUNC(GETDATE()) = CURRENT_DATE AS today, \
               AVG(id) AS mean, max(r) AS share FROM (SELECT id, RATIO_TO_REPORT(id) OVER () AS r FROM sales) t";
    let (status, body) = query(&s, &key, json!({"sql": sql})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!([{"hex": 255, "months": 2.0, "day": "FEB Thursday ", "today": true, "mean": 25, "share": 50.0 / 1275.0}])
    );
    // Redshift's session functions name the tenant's database user and the database, not the
    // engine (`duckdb`, the data file's name).
    let (status, body) = query(&s, &key, json!({"sql": "SELECT current_user, current_database()"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!([{"current_user": "tenant_acme", "current_database": "dev"}]));
    // A construct the layer refuses is a 400 before any job, naming it.
    let (status, body) = query(&s, &key, json!({"sql": "SELECT DATEDIFF(week, now(), now()) FROM sales"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("DATEDIFF by week"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_row_cap_is_injected_lowered_or_kept_and_truncation_reported() {
    let (s, key) = sales().await;
    for (sql, rows, truncated) in [
        ("SELECT id FROM sales ORDER BY id", 10, true),
        ("SELECT id FROM sales ORDER BY id LIMIT 5", 5, false),
        ("SELECT id FROM sales ORDER BY id LIMIT 30", 10, true),
        ("SELECT id FROM sales ORDER BY id LIMIT ALL", 10, true),
        ("SELECT id FROM (SELECT id FROM sales ORDER BY id LIMIT 8) t ORDER BY id", 8, false),
        ("SELECT id FROM sales WHERE id <= 10 ORDER BY id", 10, false),
    ] {
        let (status, body) = query(&s, &key, json!({"sql": sql, "parameters": {"limit": 10}})).await;
        assert_eq!(status, StatusCode::OK, "{sql}: {body}");
        let meta = &body["metadata"];
        assert_eq!((meta["row_count"].as_u64(), meta["truncated"].as_bool()), (Some(rows), Some(truncated)), "{sql}");
        assert_eq!(body["data"][0]["id"], 1, "{sql}: ORDER BY kept");
        if truncated {
            assert!(meta["total_rows"].is_null(), "{sql}: the total is not guessed");
        } else {
            assert_eq!(meta["total_rows"].as_u64(), Some(rows));
        }
    }
    let (status, body) = query(&s, &key, json!({"sql": "SELECT 1", "parameters": {"limit": 10001}})).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "INVALID_REQUEST"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_parameters_are_bound_not_spliced() {
    let (s, key) = sales().await;
    let sql = "SELECT count(*) AS n FROM sales WHERE region = :region";
    let (_, body) = query(&s, &key, json!({"sql": sql, "parameters": {"region": "EMEA"}})).await;
    assert_eq!(body["data"][0]["n"], 25, "{body}");
    let (_, body) = query(&s, &key, json!({"sql": sql, "parameters": {"region": "x' OR '1'='1"}})).await;
    assert_eq!(body["data"][0]["n"], 0, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_queries_run_as_jobs_with_inline_or_download_results() {
    let (s, key) = sales().await;
    let (status, accepted) = query(&s, &key, json!({"sql": "SELECT id FROM sales ORDER BY id", "async": true})).await;
    assert_eq!((status, accepted["status"].as_str()), (StatusCode::ACCEPTED, Some("QUEUED")), "{accepted}");
    let job = accepted["job_id"].as_str().unwrap();
    wait_status(&s, &key, job, "COMPLETED").await;
    let (status, page) =
        s.call(&key, "acme", Method::GET, &format!("/v1/jobs/{job}/results?offset=10&limit=5"), None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["data"], json!([{"id": 11}, {"id": 12}, {"id": 13}, {"id": 14}, {"id": 15}]));

    let (status, csv) =
        query(&s, &key, json!({"sql": "SELECT id, region FROM sales WHERE id <= 3", "output_format": "csv"})).await;
    assert_eq!(status, StatusCode::OK, "{csv}");
    assert_eq!(csv["format"], "csv");
    let text = s.http.get(csv["download_url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap();
    assert_eq!(text, "id,region\n1,APAC\n2,EMEA\n3,APAC\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_failures_and_cancels() {
    let (s, key) = sales().await;
    let slow = "SELECT max(md5(i::VARCHAR)) AS m FROM range(5000000000) t(i)";
    let (status, body) = query(&s, &key, json!({"sql": slow, "parameters": {"timeout_seconds": 1}})).await;
    assert_eq!((status, code(&body)), (StatusCode::GATEWAY_TIMEOUT, "QUERY_TIMEOUT"), "{body}");

    let (status, body) = query(&s, &key, json!({"sql": "SELECT * FROM missing_table"})).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "INVALID_SQL"), "{body}");
    // Refused by the engine's check before it runs: to a tenant, a missing table and one it may
    // not read are alike.
    assert!(body["error"]["details"].to_string().contains("missing_table"), "{body}");

    let (status, body) = query(&s, &key, json!({"sql": "SELECT * FROM pg_user"})).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "SQL_BLOCKED"));

    let (_, accepted) = query(&s, &key, json!({"sql": slow, "async": true})).await;
    let job = accepted["job_id"].as_str().unwrap();
    wait_status(&s, &key, job, "RUNNING").await;
    let (status, cancelled) = s.call(&key, "acme", Method::DELETE, &format!("/v1/jobs/{job}"), None).await;
    assert_eq!((status, cancelled["status"].as_str()), (StatusCode::OK, Some("CANCELLED")), "{cancelled}");
    let (status, body) = s.call(&key, "acme", Method::DELETE, &format!("/v1/jobs/{job}"), None).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "CONFLICT"));
    // The worker cancels the running statement.
    let statement = cancelled["query_id"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.warehouse.describe(statement).await.unwrap().status != StatementStatus::Aborted {
        assert!(Instant::now() < deadline, "the statement of the cancelled job still runs");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The commands a worker would find on the queue now (taken, as a worker would take them).
async fn queued_commands(s: &Stack) -> Vec<Value> {
    let messages = s.queue.receive(10, Duration::ZERO, Duration::from_secs(60)).await.unwrap();
    let bodies = messages.iter().map(|m| serde_json::from_str::<Value>(&m.body).unwrap());
    bodies.filter(|m| m.get("command").is_some()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synchronous_query_is_submitted_by_its_request_alone() {
    let s = Stack::start_without_worker().await;
    let key = s.key("acme").await;
    let (status, body) = query(&s, &key, json!({"sql": "SELECT 1 AS one"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!([{"one": 1}]));
    let job = body["metadata"]["job_id"].as_str().unwrap().to_owned();
    let commands = queued_commands(&s).await;
    assert!(commands.is_empty(), "a worker would submit the statement again: {commands:?}");

    // An async query is the worker's to run: its submit is queued.
    let (status, body) = query(&s, &key, json!({"sql": "SELECT 2 AS two", "async": true})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let commands = queued_commands(&s).await;
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert_eq!(commands[0]["command"], "submit_statement");
    assert_ne!(commands[0]["job_id"], json!(job));
}
