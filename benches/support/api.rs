//! The REST API as the benches on the local stack call it (included with `#[path]`): create a
//! small export job as tenant `bench`, read its state, wait for it.

#![allow(dead_code)]

use std::time::Duration;

use serde_json::{Value, json};

/// A `spectra api` and a key of tenant `bench`.
pub struct Api {
    pub base: String,
    pub key: String,
    pub http: reqwest::Client,
}

impl Api {
    /// Creates an export job of `query`; its id.
    pub async fn create(&self, query: &str) -> String {
        let body = json!({"operation": "query", "object": "bench", "query": query});
        let request = self.http.post(format!("{}/v1/bulk/jobs", self.base)).json(&body);
        let job: Value = self.auth(request).send().await.unwrap().json().await.unwrap();
        job["job_id"].as_str().expect("a job id").to_owned()
    }

    /// The job's state.
    pub async fn state(&self, id: &str) -> String {
        let request = self.http.get(format!("{}/v1/bulk/jobs/{id}", self.base));
        let job: Value = self.auth(request).send().await.unwrap().json().await.unwrap();
        job["state"].as_str().unwrap_or_default().to_owned()
    }

    /// Waits until the job has completed; a failed or aborted job ends the bench.
    pub async fn wait(&self, id: &str) {
        loop {
            match self.state(id).await.as_str() {
                "JobComplete" => return,
                "Failed" | "Aborted" => panic!("job {id} did not complete"),
                _ => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    /// Waits for every job of `ids`.
    pub async fn wait_all(&self, ids: &[String]) {
        for id in ids {
            self.wait(id).await;
        }
    }

    /// The table the benches export from (`bench_sales`, 1,000 rows), made through the Data
    /// API as an operator would, if it is not there yet.
    pub async fn bench_table() {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
        let data = aws_sdk_redshiftdata::Client::new(&sdk);
        data.execute_statement()
            .cluster_identifier("bench")
            .database("dev")
            .db_user("admin")
            .sql("CREATE TABLE IF NOT EXISTS bench_sales AS SELECT i AS id, i * 1.5 AS amount FROM range(1000) t(i)")
            .send()
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    fn auth(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.bearer_auth(&self.key).header("X-Tenant-ID", "bench")
    }
}
