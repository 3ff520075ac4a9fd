//! The Bulk API over a real socket, on the whole embedded stack in this process (producer,
//! worker, SQLite queue and job store, local objects, DuckDB): every endpoint's success path with
//! the seed's fields, auth, tenancy and the error envelope.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{Stack, code};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use spectra_worker::contract::warehouse::run;
use spectra_worker::ports::Warehouse;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_is_created_run_and_downloaded() {
    let s = Stack::start().await;
    let key = s.key("acme").await;
    s.sql("CREATE TABLE sales AS SELECT i AS id, i * 2 AS amount FROM range(1, 101) t(i)").await;
    let (status, job) = s
        .call(&key, "acme", Method::POST, "/v1/bulk/jobs", Some(json!({
            "operation": "query", "object": "sales", "query": "SELECT * FROM sales WHERE id <= 40", "compression": "GZIP"
        })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    for field in ["job_id", "state", "operation", "object", "created_at"] {
        assert!(!job[field].is_null(), "{field} missing from {job}");
    }
    assert_eq!((job["operation"].as_str(), job["object"].as_str()), (Some("query"), Some("sales")));
    let id = job["job_id"].as_str().unwrap();
    let done = s.wait_done(&key, "acme", id).await;
    assert_eq!((done["state"].as_str(), done["number_records_processed"].as_u64()), (Some("JobComplete"), Some(40)));
    assert!(!done["updated_at"].is_null());

    let (status, results) = s.call(&key, "acme", Method::GET, &format!("/v1/bulk/jobs/{id}/results"), None).await;
    assert_eq!(status, StatusCode::OK, "{results}");
    assert_eq!((results["format"].as_str(), results["compression"].as_str()), (Some("csv"), Some("gzip")));
    let files = results["files"].as_array().unwrap();
    assert_eq!(files.iter().map(|f| f["row_count"].as_u64().unwrap()).sum::<u64>(), 40);
    assert_eq!(results["download_url"], files[0]["download_url"]);
    assert_eq!(
        results["size_bytes"].as_u64().unwrap(),
        files.iter().map(|f| f["size_bytes"].as_u64().unwrap()).sum::<u64>()
    );
    assert!(results["expires_at"].is_string());
    let part = s.http.get(results["download_url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(part.status(), StatusCode::OK);
    assert_eq!(&part.bytes().await.unwrap()[..2], &[0x1f, 0x8b]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_uploads_through_its_presigned_link_and_runs_on_upload_complete() {
    let s = Stack::start().await;
    let key = s.key("acme").await;
    s.sql("CREATE TABLE people (id INTEGER, name VARCHAR)").await;
    let (status, job) = s
        .call(
            &key,
            "acme",
            Method::POST,
            "/v1/bulk/jobs",
            Some(json!({
                "operation": "upsert", "object": "people", "primary_key": ["id"]
            })),
        )
        .await;
    assert_eq!((status, job["state"].as_str()), (StatusCode::CREATED, Some("Open")), "{job}");
    let id = job["job_id"].as_str().unwrap();
    let (status, link) = s.call(&key, "acme", Method::GET, &format!("/v1/bulk/jobs/{id}/upload-url"), None).await;
    assert_eq!(status, StatusCode::OK, "{link}");
    assert!(link["expires_at"].is_string());
    let put = s.http.put(link["upload_url"].as_str().unwrap()).body("id,name\n1,Ann\n2,Bob\n").send().await.unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    let (status, moved) = s
        .call(&key, "acme", Method::PATCH, &format!("/v1/bulk/jobs/{id}"), Some(json!({"state": "UploadComplete"})))
        .await;
    assert_eq!((status, moved["state"].as_str()), (StatusCode::OK, Some("UploadComplete")), "{moved}");
    let done = s.wait_done(&key, "acme", id).await;
    assert_eq!(
        (done["state"].as_str(), done["number_records_processed"].as_u64()),
        (Some("JobComplete"), Some(2)),
        "{done}"
    );
    let count = run(s.warehouse.as_ref(), "SELECT count(*) FROM people").await;
    let rows = s.warehouse.results(&count.id, None).await.unwrap();
    assert_eq!(rows.records[0][0], spectra_worker::ports::Field::Long(2));
    // A finished job cannot be closed again or aborted.
    let (status, body) =
        s.call(&key, "acme", Method::PATCH, &format!("/v1/bulk/jobs/{id}"), Some(json!({"state": "Aborted"}))).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "CONFLICT"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_and_tenant_are_checked_on_every_call() {
    let s = Stack::start().await;
    let key = s.key("acme").await;
    let url = format!("{}/v1/bulk/jobs", s.base);
    let no_token = s.http.get(&url).header("X-Tenant-ID", "acme").send().await.unwrap();
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(code(&no_token.json::<Value>().await.unwrap()), "UNAUTHORIZED");
    let (status, body) = s.call("sk_0000_not-a-key", "acme", Method::GET, "/v1/bulk/jobs", None).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"));
    let (status, body) = s.call(&key, "other", Method::GET, "/v1/bulk/jobs", None).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "FORBIDDEN"));
    let no_tenant = s.http.get(&url).bearer_auth(&key).send().await.unwrap();
    assert_eq!(no_tenant.status(), StatusCode::FORBIDDEN);
    let (status, _) = s.call(&key, "acme", Method::GET, "/v1/bulk/jobs", None).await;
    assert_eq!(status, StatusCode::OK);
    let key_id = key.split('_').nth(1).unwrap();
    // Revoked in the store, as `spectra keys revoke` or another API process does: the API's key
    // cache may trust the record for KEY_CACHE_TTL, never longer.
    assert!(s.keys.revoke(key_id).await.unwrap());
    tokio::time::sleep(spectra_api::KEY_CACHE_TTL + std::time::Duration::from_millis(100)).await;
    let (status, body) = s.call(&key, "acme", Method::GET, "/v1/bulk/jobs", None).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"), "a revoked key stops working");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_job_does_not_exist() {
    let s = Stack::start().await;
    let (a, b) = (s.key("acme").await, s.key("globex").await);
    let (_, job) =
        s.call(&a, "acme", Method::POST, "/v1/bulk/jobs", Some(json!({"operation": "insert", "object": "t"}))).await;
    let id = job["job_id"].as_str().unwrap();
    for (method, path, body) in [
        (Method::GET, format!("/v1/bulk/jobs/{id}"), None),
        (Method::PATCH, format!("/v1/bulk/jobs/{id}"), Some(json!({"state": "Aborted"}))),
        (Method::GET, format!("/v1/bulk/jobs/{id}/upload-url"), None),
        (Method::GET, format!("/v1/bulk/jobs/{id}/results"), None),
    ] {
        let (status, reply) = s.call(&b, "globex", method.clone(), &path, body).await;
        assert_eq!((status, code(&reply)), (StatusCode::NOT_FOUND, "NOT_FOUND"), "{method} {path}");
    }
    let (_, listed) = s.call(&b, "globex", Method::GET, "/v1/bulk/jobs", None).await;
    assert_eq!(listed["jobs"], json!([]));
    let (_, still) = s.call(&a, "acme", Method::GET, &format!("/v1/bulk/jobs/{id}"), None).await;
    assert_eq!(still["state"], "Open", "the other tenant's abort did nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_the_seed_error_envelope() {
    let s = Stack::start().await;
    let key = s.key("acme").await;
    let post = |body: &str| {
        s.http
            .post(format!("{}/v1/bulk/jobs", s.base))
            .bearer_auth(&key)
            .header("X-Tenant-ID", "acme")
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
    };
    for bad in [
        "{not json",
        "{\"operation\": 5, \"object\": \"t\"}",
        "{\"operation\": \"insert\", \"object\": \"t\", \"x\": 1}",
    ] {
        let response = post(bad).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(code(&response.json().await.unwrap()), "INVALID_REQUEST", "{bad}");
    }
    let (status, body) = s
        .call(
            &key,
            "acme",
            Method::POST,
            "/v1/bulk/jobs",
            Some(json!({"operation": "query", "object": "t", "query": "DROP TABLE t"})),
        )
        .await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "SQL_BLOCKED"));
    assert_eq!(body["error"]["details"]["pattern"], "DROP TABLE");
    let (status, body) = s
        .call(
            &key,
            "acme",
            Method::POST,
            "/v1/bulk/jobs",
            Some(json!({"operation": "query", "object": "t", "query": "SELECT id,\nFROM t WHERE"})),
        )
        .await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "INVALID_SQL"), "{body}");
    assert!(body["error"]["details"]["position"].is_u64() && body["error"]["details"]["hint"].is_string(), "{body}");
    let big = format!("{{\"operation\": \"insert\", \"object\": \"{}\"}}", "x".repeat(11 * 1024 * 1024));
    // Its own client: the server closes a connection whose body it refused, which a pooled
    // connection would only find out on the next request.
    let response = reqwest::Client::new()
        .post(format!("{}/v1/bulk/jobs", s.base))
        .bearer_auth(&key)
        .header("X-Tenant-ID", "acme")
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code(&response.json().await.unwrap()), "PAYLOAD_TOO_LARGE");
    let (status, body) = s.call(&key, "acme", Method::GET, "/v1/bulk/jobs?limit=500", None).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "INVALID_REQUEST"));
    let (status, body) = s.call(&key, "acme", Method::GET, "/v1/nothing/here", None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "NOT_FOUND"));
    let (_, job) =
        s.call(&key, "acme", Method::POST, "/v1/bulk/jobs", Some(json!({"operation": "insert", "object": "t"}))).await;
    let id = job["job_id"].as_str().unwrap();
    let (status, body) = s
        .call(&key, "acme", Method::PATCH, &format!("/v1/bulk/jobs/{id}"), Some(json!({"state": "JobComplete"})))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "CONFLICT"));
    let (status, body) = s.call(&key, "acme", Method::GET, &format!("/v1/bulk/jobs/{id}/results"), None).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "CONFLICT"), "no results before the job completes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_filter_and_page_and_requests_carry_an_id() {
    let s = Stack::start().await;
    let key = s.key("acme").await;
    for op in ["insert", "insert", "delete", "insert"] {
        let mut body = json!({"operation": op, "object": "t"});
        if op == "delete" {
            body["primary_key"] = json!(["id"]);
        }
        let (status, _) = s.call(&key, "acme", Method::POST, "/v1/bulk/jobs", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (_, deletes) = s.call(&key, "acme", Method::GET, "/v1/bulk/jobs?operation=delete", None).await;
    assert_eq!(deletes["jobs"].as_array().unwrap().len(), 1);
    let (_, page) = s.call(&key, "acme", Method::GET, "/v1/bulk/jobs?limit=3&state=Open", None).await;
    assert_eq!(page["jobs"].as_array().unwrap().len(), 3);
    let next = page["next_offset"].as_str().unwrap();
    let (_, rest) =
        s.call(&key, "acme", Method::GET, &format!("/v1/bulk/jobs?limit=3&state=Open&offset={next}"), None).await;
    assert_eq!(rest["jobs"].as_array().unwrap().len(), 1);
    assert!(rest["next_offset"].is_null());

    let response = s.http.get(format!("{}/health", s.base)).header("X-Request-ID", "req-123").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-123");
    let generated = s.http.get(format!("{}/health", s.base)).send().await.unwrap();
    assert_eq!(generated.headers()["x-request-id"].len(), 36);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_bearer_tokens_are_checked_like_keys() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use hmac::{Hmac, KeyInit, Mac};

    let config =
        spectra_api::JwtConfig { audience: Some("spectra".into()), ..spectra_api::JwtConfig::hs256(b"k".to_vec()) };
    let s = Stack::start_configured(|state| state.jwt = Some(std::sync::Arc::new(config))).await;
    let now = chrono::Utc::now().timestamp();
    let token = |alg: &str, claims: Value| {
        let h = URL_SAFE_NO_PAD.encode(json!({"alg": alg}).to_string());
        let p = URL_SAFE_NO_PAD.encode(claims.to_string());
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(b"k").unwrap();
        mac.update(format!("{h}.{p}").as_bytes());
        format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    };
    let good = token("HS256", json!({"sub": "u", "tenant_id": "acme", "aud": "spectra", "exp": now + 60}));
    let (status, _) = s.call(&good, "acme", Method::GET, "/v1/bulk/jobs", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = s.call(&good, "globex", Method::GET, "/v1/bulk/jobs", None).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "FORBIDDEN"), "tenant mismatch");
    for bad in [
        token("HS256", json!({"tenant_id": "acme", "aud": "spectra", "exp": now - 120})),
        token("HS256", json!({"tenant_id": "acme", "aud": "other", "exp": now + 60})),
        token("none", json!({"tenant_id": "acme", "aud": "spectra", "exp": now + 60})),
    ] {
        let (status, body) = s.call(&bad, "acme", Method::GET, "/v1/bulk/jobs", None).await;
        assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"), "{body}");
    }
}

/// RS256 through HTTP, as an identity provider issues them: the public key in a PEM file is all
/// the API holds. A token signed by another key, or HS256-signed with the public key as the
/// secret, is 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_tokens_from_an_identity_provider_are_accepted() {
    use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
    use aws_lc_rs::rsa::KeySize;
    use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    let idp = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let der = AsDer::<PublicKeyX509Der>::as_der(idp.public_key()).unwrap();
    let pem = format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", STANDARD.encode(der.as_ref()));
    let config = spectra_api::JwtConfig {
        issuer: Some("https://idp.example".into()),
        ..spectra_api::JwtConfig::rs256_pem(&pem).unwrap()
    };
    let s = Stack::start_configured(|state| state.jwt = Some(std::sync::Arc::new(config))).await;
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": "svc", "tenant_id": "acme", "iss": "https://idp.example", "exp": now + 60});
    let sign = |pair: &RsaKeyPair| {
        let h = URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "kid": "k1"}).to_string());
        let p = URL_SAFE_NO_PAD.encode(claims.to_string());
        let mut sig = vec![0; pair.public_modulus_len()];
        pair.sign(&RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), format!("{h}.{p}").as_bytes(), &mut sig)
            .unwrap();
        format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(sig))
    };
    let (status, body) = s.call(&sign(&idp), "acme", Method::GET, "/v1/bulk/jobs", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stranger = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let (status, body) = s.call(&sign(&stranger), "acme", Method::GET, "/v1/bulk/jobs", None).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"));
    use hmac::{Hmac, KeyInit, Mac};
    let h = URL_SAFE_NO_PAD.encode(json!({"alg": "HS256"}).to_string());
    let p = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(der.as_ref()).unwrap();
    mac.update(format!("{h}.{p}").as_bytes());
    let confused = format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
    let (status, body) = s.call(&confused, "acme", Method::GET, "/v1/bulk/jobs", None).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"), "algorithm confusion");
}
