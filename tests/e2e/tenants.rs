//! Two tenants on one `spectra up`, one of them granted a private schema: the other reads none
//! of its exports, uploads, private tables or the statement ledger, by any route — SQL (Query
//! API, exports, async jobs), the Job and Bulk APIs, or the object links.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    async fn call(
        &self,
        key: &str,
        tenant: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request =
            self.http.request(method, format!("{}{path}", self.base)).bearer_auth(key).header("X-Tenant-ID", tenant);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn query(&self, key: &str, tenant: &str, sql: &str) -> (StatusCode, Value) {
        self.call(key, tenant, reqwest::Method::POST, "/v1/queries", Some(json!({"sql": sql}))).await
    }

    /// Polls the tenant's job until it is terminal; the record.
    async fn done(&self, key: &str, tenant: &str, job: &str) -> Value {
        for _ in 0..1200 {
            let (status, record) =
                self.call(key, tenant, reqwest::Method::GET, &format!("/v1/bulk/jobs/{job}"), None).await;
            assert_eq!(status, StatusCode::OK, "{record}");
            if ["JobComplete", "Failed", "Aborted"].contains(&record["state"].as_str().unwrap_or_default()) {
                return record;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("job {job} never ended");
    }

    async fn export(&self, key: &str, tenant: &str, sql: &str) -> (StatusCode, Value) {
        let body = json!({"operation": "query", "object": "x", "query": sql});
        self.call(key, tenant, reqwest::Method::POST, "/v1/bulk/jobs", Some(body)).await
    }
}

fn key(data: &std::path::Path, tenant: &str) -> String {
    let out = spectra(&["keys", "create", "--tenant", tenant, "--data-dir", data.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn one_tenant_reads_nothing_of_another() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = up(&data, &["--grant", "acme=main,acme_private"]);
    sql(&data, "CREATE TABLE shared AS SELECT i AS id FROM range(1, 11) t(i)");
    sql(&data, "CREATE SCHEMA acme_private");
    sql(&data, "CREATE TABLE acme_private.deals AS SELECT 'secret deal' AS name");
    let (acme, beta) = (key(&data, "acme"), key(&data, "beta"));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let c = Client { base: format!("http://{}", up.addr), http: reqwest::Client::new() };
        // Acme reads its private schema; beta does not, by query, export or async job.
        let (status, body) = c.query(&acme, "acme", "SELECT name FROM acme_private.deals").await;
        assert_eq!((status, &body["data"]), (StatusCode::OK, &json!([{"name": "secret deal"}])), "{body}");
        for sql in ["SELECT name FROM acme_private.deals", "SELECT * FROM deals"] {
            assert_eq!(c.query(&beta, "beta", sql).await.0, StatusCode::BAD_REQUEST, "{sql}");
            assert_eq!(c.export(&beta, "beta", sql).await.0, StatusCode::BAD_REQUEST, "{sql}");
            let body = json!({"sql": sql, "async": true});
            let (status, _) = c.call(&beta, "beta", reqwest::Method::POST, "/v1/queries", Some(body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "async {sql}");
        }
        // Acme's export and upload exist on disk; beta reaches neither by path nor by job id.
        let (status, job) = c.export(&acme, "acme", "SELECT name FROM acme_private.deals").await;
        assert_eq!(status, StatusCode::CREATED, "{job}");
        let job_id = job["job_id"].as_str().unwrap().to_owned();
        let done = c.done(&acme, "acme", &job_id).await;
        assert_eq!(done["state"], "JobComplete", "{done:#}");
        let ingest = json!({"operation": "insert", "object": "shared"});
        let (_, upload_job) = c.call(&acme, "acme", reqwest::Method::POST, "/v1/bulk/jobs", Some(ingest)).await;
        let upload_id = upload_job["job_id"].as_str().unwrap().to_owned();
        let objects = data.join("objects/spectra/acme");
        std::fs::create_dir_all(objects.join(&upload_id).join("upload")).unwrap();
        std::fs::write(objects.join(&upload_id).join("upload/part.csv"), "id\n424242\n").unwrap();
        let root = objects.display().to_string();
        for sql in [
            format!("SELECT * FROM '{root}/{job_id}/results/*'"),
            format!("SELECT * FROM \"{root}/*/results/*\""),
            format!("SELECT * FROM read_csv('{root}/{upload_id}/upload/part.csv')"),
            format!("SELECT * FROM '{root}/{upload_id}/upload/*.csv'"),
        ] {
            let (status, body) = c.query(&beta, "beta", &sql).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{sql}: {body}");
            assert!(!body.to_string().contains("secret deal") && !body.to_string().contains("424242"), "{body}");
        }
        for path in
            [format!("/v1/bulk/jobs/{job_id}"), format!("/v1/bulk/jobs/{job_id}/results"), format!("/v1/jobs/{job_id}")]
        {
            let (status, body) = c.call(&beta, "beta", reqwest::Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        }
        // The object link: unsigned, or signed for beta's own object, it opens nothing of acme's.
        let (_, results) =
            c.call(&acme, "acme", reqwest::Method::GET, &format!("/v1/bulk/jobs/{job_id}/results"), None).await;
        let url = results["files"][0]["download_url"].as_str().unwrap().to_owned();
        let unsigned = url.split('?').next().unwrap().to_owned();
        assert_eq!(c.http.get(&unsigned).send().await.unwrap().status(), StatusCode::FORBIDDEN);
        let (status, own) = c.export(&beta, "beta", "SELECT id FROM shared").await;
        assert_eq!(status, StatusCode::CREATED, "{own}");
        let own_id = own["job_id"].as_str().unwrap().to_owned();
        assert_eq!(c.done(&beta, "beta", &own_id).await["state"], "JobComplete");
        let (_, own_results) =
            c.call(&beta, "beta", reqwest::Method::GET, &format!("/v1/bulk/jobs/{own_id}/results"), None).await;
        let own_url = own_results["files"][0]["download_url"].as_str().unwrap();
        let signature = own_url.split_once('?').unwrap().1;
        let transplanted = format!("{unsigned}?{signature}");
        assert_eq!(c.http.get(&transplanted).send().await.unwrap().status(), StatusCode::FORBIDDEN);
        // The ledger, which holds every tenant's SQL.
        for sql in ["SELECT record FROM statements", "SELECT * FROM spectra_internal.statements"] {
            let (status, body) = c.query(&beta, "beta", sql).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{sql}: {body}");
        }
    });
    // The ledger says beta's statements ran as beta's own database user.
    let users = sql(
        &data,
        "SELECT DISTINCT json_extract_string(record, '$.db_user') FROM spectra_internal.statements \
                            WHERE json_extract_string(record, '$.db_user') IS NOT NULL ORDER BY 1",
    );
    assert_eq!(users, vec![json!(["tenant_acme"]), json!(["tenant_beta"])]);
    drop(up);
}
