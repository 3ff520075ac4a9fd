//! Per-tenant rate limits by endpoint group: headers on every response, 429 with `retry_after`
//! when exhausted, other groups and tenants unaffected, and the next window open again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{Stack, code};
use reqwest::{Method, StatusCode};
use serde_json::json;
use spectra_api::RateLimits;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_are_limited_per_tenant_and_window() {
    let limits = RateLimits { bulk_creates: 3, window_seconds: 3, ..RateLimits::default() };
    let s = Stack::start_with(limits).await;
    let key = s.key("acme").await;
    // Start at the beginning of a window so that all four requests fall in it.
    let now = chrono::Utc::now();
    let into_window = now.timestamp().rem_euclid(3) as u64 * 1000 + u64::from(now.timestamp_subsec_millis());
    tokio::time::sleep(std::time::Duration::from_millis(3000 - into_window + 50)).await;
    let create = || {
        s.http
            .post(format!("{}/v1/bulk/jobs", s.base))
            .bearer_auth(&key)
            .header("X-Tenant-ID", "acme")
            .json(&json!({"operation": "insert", "object": "t"}))
            .send()
    };
    for remaining in ["2", "1", "0"] {
        let response = create().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()["x-ratelimit-limit"], "3");
        assert_eq!(response.headers()["x-ratelimit-remaining"], remaining);
        assert!(response.headers()["x-ratelimit-reset"].to_str().unwrap().parse::<i64>().is_ok());
    }
    let refused = create().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(code(&body), "RATE_LIMITED");
    let retry_after = body["error"]["details"]["retry_after"].as_i64().unwrap();
    assert!((1..=3).contains(&retry_after), "{body}");

    // Reads are another group; another tenant has its own budget.
    let (status, _) = s.call(&key, "acme", Method::GET, "/v1/bulk/jobs", None).await;
    assert_eq!(status, StatusCode::OK);
    let other = s.key("globex").await;
    let (status, _) = s
        .call(&other, "globex", Method::POST, "/v1/bulk/jobs", Some(json!({"operation": "insert", "object": "t"})))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // The next window opens again.
    tokio::time::sleep(std::time::Duration::from_secs(retry_after as u64)).await;
    assert_eq!(create().await.unwrap().status(), StatusCode::CREATED);
}
