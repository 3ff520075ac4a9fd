//! Two tenants on one `spectra up`, one of them granted a private schema: the other reads none
//! of its exports, uploads, private tables or the statement ledger, by any route — SQL (Query
//! API, exports, async jobs), the Job and Bulk APIs, or the object links.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

async fn query(api: &Api, key: &str, tenant: &str, sql: &str) -> (u16, Value) {
    api.call(Method::POST, "/v1/queries", key, tenant, Some(json!({"sql": sql}))).await
}

async fn export(api: &Api, key: &str, tenant: &str, sql: &str) -> (u16, Value) {
    let body = json!({"operation": "query", "object": "x", "query": sql});
    api.call(Method::POST, "/v1/bulk/jobs", key, tenant, Some(body)).await
}

#[test]
fn one_tenant_reads_nothing_of_another() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = up(&data, &["--grant", "acme=main,acme_private"]);
    sql(&data, "CREATE TABLE shared AS SELECT i AS id FROM range(1, 11) t(i)");
    sql(&data, "CREATE SCHEMA acme_private");
    sql(&data, "CREATE TABLE acme_private.deals AS SELECT 'secret deal' AS name");
    let (acme, beta) = (tenant_key(&data, "acme"), tenant_key(&data, "beta"));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let c = Api::at(&up.addr);
        // Acme reads its private schema; beta does not, by query, export or async job.
        let (status, body) = query(&c, &acme, "acme", "SELECT name FROM acme_private.deals").await;
        assert_eq!((status, &body["data"]), (200, &json!([{"name": "secret deal"}])), "{body}");
        for sql in ["SELECT name FROM acme_private.deals", "SELECT * FROM deals"] {
            assert_eq!(query(&c, &beta, "beta", sql).await.0, 400, "{sql}");
            assert_eq!(export(&c, &beta, "beta", sql).await.0, 400, "{sql}");
            let body = json!({"sql": sql, "async": true});
            let (status, _) = c.call(Method::POST, "/v1/queries", &beta, "beta", Some(body)).await;
            assert_eq!(status, 400, "async {sql}");
        }
        // Acme's export and upload exist on disk; beta reaches neither by path nor by job id.
        let (status, job) = export(&c, &acme, "acme", "SELECT name FROM acme_private.deals").await;
        assert_eq!(status, 201, "{job}");
        let job_id = job["job_id"].as_str().unwrap().to_owned();
        let finished = c.done(&acme, "acme", &job_id).await;
        assert_eq!(finished["state"], "JobComplete", "{finished:#}");
        let ingest = json!({"operation": "insert", "object": "shared"});
        let (_, upload_job) = c.call(Method::POST, "/v1/bulk/jobs", &acme, "acme", Some(ingest)).await;
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
            let (status, body) = query(&c, &beta, "beta", &sql).await;
            assert_eq!(status, 400, "{sql}: {body}");
            assert!(!body.to_string().contains("secret deal") && !body.to_string().contains("424242"), "{body}");
        }
        for path in
            [format!("/v1/bulk/jobs/{job_id}"), format!("/v1/bulk/jobs/{job_id}/results"), format!("/v1/jobs/{job_id}")]
        {
            let (status, body) = c.call(Method::GET, &path, &beta, "beta", None).await;
            assert_eq!(status, 404, "{path}: {body}");
        }
        // The object link: unsigned, or signed for beta's own object, it opens nothing of acme's.
        let (_, results) = c.call(Method::GET, &format!("/v1/bulk/jobs/{job_id}/results"), &acme, "acme", None).await;
        let url = results["files"][0]["download_url"].as_str().unwrap().to_owned();
        let unsigned = url.split('?').next().unwrap().to_owned();
        assert_eq!(c.http.get(&unsigned).send().await.unwrap().status(), StatusCode::FORBIDDEN);
        let (status, own) = export(&c, &beta, "beta", "SELECT id FROM shared").await;
        assert_eq!(status, 201, "{own}");
        let own_id = own["job_id"].as_str().unwrap().to_owned();
        assert_eq!(c.done(&beta, "beta", &own_id).await["state"], "JobComplete");
        let (_, own_results) =
            c.call(Method::GET, &format!("/v1/bulk/jobs/{own_id}/results"), &beta, "beta", None).await;
        let own_url = own_results["files"][0]["download_url"].as_str().unwrap();
        let signature = own_url.split_once('?').unwrap().1;
        let transplanted = format!("{unsigned}?{signature}");
        assert_eq!(c.http.get(&transplanted).send().await.unwrap().status(), StatusCode::FORBIDDEN);
        // The ledger, which holds every tenant's SQL.
        for sql in ["SELECT record FROM statements", "SELECT * FROM spectra_internal.statements"] {
            let (status, body) = query(&c, &beta, "beta", sql).await;
            assert_eq!(status, 400, "{sql}: {body}");
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
