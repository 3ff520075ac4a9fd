//! 500 `INTERNAL_ERROR` from a real request: the job table holds a record the API cannot read
//! (a corrupted row, as after a bad manual edit). The client gets the seed's envelope and a
//! request id to quote; nothing about the store leaks.

use reqwest::{Method, StatusCode};
use serde_json::json;
use spectra_local::JOBS_FILE;

use super::common::{Stack, code};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_job_is_an_internal_error_without_internals() {
    let stack = Stack::start().await;
    let key = stack.key("acme").await;
    let create = json!({"operation": "insert", "object": "sales"});
    let (status, job) = stack.call(&key, "acme", Method::POST, "/v1/bulk/jobs", Some(create)).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = job["job_id"].as_str().unwrap().to_owned();

    let db = rusqlite::Connection::open(stack.data_dir().join(JOBS_FILE)).unwrap();
    let changed = db
        .execute("UPDATE jobs SET record = '{\"job_kind\":\"bulk\",\"secret_column\":1}' WHERE job_id = ?1", [&id])
        .unwrap();
    assert_eq!(changed, 1);

    let response = stack
        .http
        .get(format!("{}/v1/bulk/jobs/{id}", stack.base))
        .bearer_auth(&key)
        .header("X-Tenant-ID", "acme")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(response.headers().contains_key("x-request-id"), "a request id to quote to the operator");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(code(&body), "INTERNAL_ERROR");
    let text = body.to_string();
    for leak in ["secret_column", "corrupt", "sqlite", "missing field", &id] {
        assert!(!text.contains(leak), "{leak:?} leaked: {text}");
    }
}
