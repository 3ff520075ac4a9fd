//! `X-Idempotency-Key` on POSTs: replays, conflicting reuse, failures not kept, tenants apart,
//! no replay without credentials, concurrent repeats.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{Stack, code};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn post(s: &Stack, key: &str, tenant: &str, idem: &str, path: &str, body: Value) -> (StatusCode, bool, Value) {
    let response = s
        .http
        .post(format!("{}{path}", s.base))
        .bearer_auth(key)
        .header("X-Tenant-ID", tenant)
        .header("X-Idempotency-Key", idem)
        .json(&body)
        .send()
        .await
        .unwrap();
    let replayed = response.headers().get("idempotent-replayed").is_some();
    (response.status(), replayed, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_gets_the_first_response_and_runs_nothing() {
    let s = Stack::start().await;
    let key = s.key("acme").await;
    let body = json!({"operation": "insert", "object": "t"});
    let (status, replayed, first) = post(&s, &key, "acme", "create-1", "/v1/bulk/jobs", body.clone()).await;
    assert_eq!((status, replayed), (StatusCode::CREATED, false), "{first}");
    let (status, replayed, again) = post(&s, &key, "acme", "create-1", "/v1/bulk/jobs", body.clone()).await;
    assert_eq!((status, replayed), (StatusCode::CREATED, true));
    assert_eq!(again["job_id"], first["job_id"]);
    let (_, listed) = s.call(&key, "acme", reqwest::Method::GET, "/v1/bulk/jobs", None).await;
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 1, "one job, not two");

    let (status, _, other) =
        post(&s, &key, "acme", "create-1", "/v1/bulk/jobs", json!({"operation": "insert", "object": "u"})).await;
    assert_eq!((status, code(&other)), (StatusCode::CONFLICT, "CONFLICT"), "same key, different request");

    let globex = s.key("globex").await;
    let (status, replayed, theirs) = post(&s, &globex, "globex", "create-1", "/v1/bulk/jobs", body.clone()).await;
    assert_eq!((status, replayed), (StatusCode::CREATED, false), "keys are per tenant");
    assert_ne!(theirs["job_id"], first["job_id"]);

    let (status, _, denied) = post(&s, "sk_0_wrong", "acme", "create-1", "/v1/bulk/jobs", body).await;
    assert_eq!((status, code(&denied)), (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"), "no replay without credentials");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_not_kept_so_a_corrected_retry_runs() {
    let s = Stack::start().await;
    let key = s.key("acme").await;
    let (status, _, bad) =
        post(&s, &key, "acme", "k2", "/v1/bulk/jobs", json!({"operation": "merge", "object": "t"})).await;
    assert_eq!((status, code(&bad)), (StatusCode::BAD_REQUEST, "INVALID_REQUEST"));
    let (status, replayed, _) =
        post(&s, &key, "acme", "k2", "/v1/bulk/jobs", json!({"operation": "insert", "object": "t"})).await;
    assert_eq!((status, replayed), (StatusCode::CREATED, false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_repeats_run_once() {
    let s = Stack::start().await;
    let key = s.key("acme").await;
    s.sql("CREATE TABLE big AS SELECT i FROM range(1000000) t(i)").await;
    let body = json!({"sql": "SELECT count(DISTINCT i % 1000003) AS n FROM big"});
    let (a, b) = tokio::join!(
        post(&s, &key, "acme", "q-1", "/v1/queries", body.clone()),
        post(&s, &key, "acme", "q-1", "/v1/queries", body.clone())
    );
    let outcomes = [a, b];
    let ran: Vec<_> = outcomes.iter().filter(|(status, replayed, _)| *status == StatusCode::OK && !replayed).collect();
    assert_eq!(ran.len(), 1, "exactly one ran: {outcomes:?}");
    for (status, replayed, body) in &outcomes {
        match *status {
            StatusCode::OK if *replayed => assert_eq!(body["metadata"]["job_id"], ran[0].2["metadata"]["job_id"]),
            StatusCode::OK => {}
            StatusCode::CONFLICT => assert_eq!(code(body), "CONFLICT"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_left_by_a_crash_holds_its_lease_then_the_retry_runs_once() {
    use chrono::{Duration, Utc};
    use spectra_local::{JOBS_FILE, SqliteIdempotencyStore};
    use spectra_state_machine::TenantId;
    use spectra_worker::ports::{CLAIM_LEASE_SECONDS, Claim, IdempotencyStore, hash_key};

    let s = Stack::start().await;
    let key = s.key("acme").await;
    let body = json!({"operation": "insert", "object": "t"});
    // What the middleware fingerprints: method, path and body.
    let fingerprint = hash_key(&format!("POST /v1/bulk/jobs\n{}", serde_json::to_string(&body).unwrap()));
    let store = SqliteIdempotencyStore::open(&s.data_dir().join(JOBS_FILE)).await.unwrap();
    let acme = TenantId::parse("acme").unwrap();
    // Claims left by processes that died before finishing: one just now, one past its lease.
    assert!(matches!(store.claim(&acme, "fresh-crash", &fingerprint, Utc::now()).await.unwrap(), Claim::Fresh { .. }));
    let lapsed = Utc::now() - Duration::seconds(CLAIM_LEASE_SECONDS + 1);
    assert!(matches!(store.claim(&acme, "old-crash", &fingerprint, lapsed).await.unwrap(), Claim::Fresh { .. }));

    let (status, _, held) = post(&s, &key, "acme", "fresh-crash", "/v1/bulk/jobs", body.clone()).await;
    assert_eq!((status, code(&held)), (StatusCode::CONFLICT, "CONFLICT"), "the lease still holds");
    let (status, replayed, first) = post(&s, &key, "acme", "old-crash", "/v1/bulk/jobs", body.clone()).await;
    assert_eq!((status, replayed), (StatusCode::CREATED, false), "a lapsed claim is taken over: {first}");
    let (status, replayed, again) = post(&s, &key, "acme", "old-crash", "/v1/bulk/jobs", body.clone()).await;
    assert_eq!((status, replayed, &again["job_id"]), (StatusCode::CREATED, true, &first["job_id"]));
    let (_, listed) = s.call(&key, "acme", reqwest::Method::GET, "/v1/bulk/jobs", None).await;
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 1, "one job for the retried request");
}

/// The first attempt claimed the key, created its job, and died before storing the response.
/// The retry after the lease must answer with that job — one job for the request, not two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_crash_between_create_and_response_returns_the_created_job() {
    use chrono::{Duration, Utc};
    use spectra_local::{JOBS_FILE, SqliteIdempotencyStore};
    use spectra_state_machine::{BulkJobRequest, QueryJobRequest, TenantId};
    use spectra_worker::ports::{CLAIM_LEASE_SECONDS, Claim, IdempotencyStore, hash_key};
    use spectra_worker::producer::Runner;

    let s = Stack::start().await;
    let key = s.key("acme").await;
    let store = SqliteIdempotencyStore::open(&s.data_dir().join(JOBS_FILE)).await.unwrap();
    let acme = TenantId::parse("acme").unwrap();
    let lapsed = Utc::now() - Duration::seconds(CLAIM_LEASE_SECONDS + 1);
    let dead_claim = |path: &'static str, body: Value, idem: &'static str| {
        let store = store.clone();
        let acme = acme.clone();
        async move {
            let fingerprint = hash_key(&format!("POST {path}\n{}", serde_json::to_string(&body).unwrap()));
            match store.claim(&acme, idem, &fingerprint, lapsed).await.unwrap() {
                Claim::Fresh { token } => token,
                other => panic!("{other:?}"),
            }
        }
    };

    // A bulk create.
    let body = json!({"operation": "insert", "object": "t"});
    let token = dead_claim("/v1/bulk/jobs", body.clone(), "bulk-crash").await;
    let request: BulkJobRequest = serde_json::from_value(body.clone()).unwrap();
    let orphan = s.producer.create_bulk(&acme, request, None, Some(&token)).await.unwrap();
    let (status, replayed, retried) = post(&s, &key, "acme", "bulk-crash", "/v1/bulk/jobs", body).await;
    assert_eq!((status, replayed), (StatusCode::CREATED, false), "{retried}");
    assert_eq!(retried["job_id"], json!(orphan.header.job_id), "the retry returns the job the first attempt made");
    let (_, listed) = s.call(&key, "acme", reqwest::Method::GET, "/v1/bulk/jobs", None).await;
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 1, "one job for the retried request: {listed}");

    // An async query, which a worker may already have finished.
    let body = json!({"sql": "SELECT 42 AS answer", "async": true});
    let token = dead_claim("/v1/queries", body.clone(), "query-crash").await;
    let request = QueryJobRequest { sql: "SELECT 42 AS answer".into(), parameters: Vec::new(), output_format: None };
    let orphan = s.producer.create_query(&acme, request, Runner::Worker, None, Some(&token)).await.unwrap();
    let (status, _, retried) = post(&s, &key, "acme", "query-crash", "/v1/queries", body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{retried}");
    assert_eq!(retried["job_id"], json!(orphan.header.job_id));
}
