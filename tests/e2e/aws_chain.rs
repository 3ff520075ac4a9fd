//! The whole AWS path on one machine: `spectra api` and `spectra worker` in AWS mode on the local
//! stack (moto with the template deployed, and the Data API emulator), with nothing but endpoint
//! settings changed. Jobs go API → DynamoDB → SQS → worker → Data API → (UNLOAD/COPY on S3) →
//! EventBridge rule → SQS → worker → DynamoDB, and results come back as presigned S3 links.

use std::time::Duration;

use aws_sdk_redshiftdata::types::StatusString;
use serde_json::{Value, json};

use crate::common::{Up, aws_stack_turn, download, serve_with_env};

pub(crate) fn stack(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the tests with scripts/test"))
}

/// The API, a worker (fast reconciliation) and a Data API client, on the local stack.
pub(crate) struct Chain {
    api: Option<Up>,
    worker: Option<Up>,
    _config: tempfile::NamedTempFile,
    base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) data: aws_sdk_redshiftdata::Client,
    key: String,
}

const TARGET: &str = "SPECTRA_CLUSTER_IDENTIFIER=local\nSPECTRA_DB_USER=spectra\n";

impl Chain {
    async fn start() -> Self {
        Self::start_with(Vec::new()).await
    }

    /// The chain with `env` added to both processes' environment.
    pub(crate) async fn start_with(env: Vec<(String, String)>) -> Self {
        Self::start_processes(env, true).await
    }

    /// The API alone, no worker: the jobs move only when something else handles the queue's
    /// messages (the Lambda function's tests invoke it for that).
    pub(crate) async fn start_api_only() -> Self {
        Self::start_processes(Vec::new(), false).await
    }

    /// The config file both processes read (the Data API target); keep it while they run.
    pub(crate) fn config_path(&self) -> &std::path::Path {
        self._config.path()
    }

    async fn start_processes(env: Vec<(String, String)>, with_worker: bool) -> Self {
        let config = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(config.path(), TARGET).unwrap();
        let path = config.path().to_str().unwrap().to_owned();
        let (api, worker) = tokio::task::spawn_blocking(move || {
            let api =
                serve_with_env(&["api", "--listen", "127.0.0.1:0", "--config", &path], "listening on http://", &env);
            if !with_worker {
                return (api, None);
            }
            let worker = serve_with_env(
                &[
                    "worker",
                    "--config",
                    &path,
                    "--reconcile-interval",
                    "1s",
                    "--reconcile-grace",
                    "3s",
                    "--receive-wait",
                    "1s",
                ],
                "worker running",
                &env,
            );
            (api, Some(worker))
        })
        .await
        .unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_spectra"))
            .args(["keys", "create", "--aws", "--tenant", "acme"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
        Self {
            base: format!("http://{}", api.addr),
            api: Some(api),
            worker,
            _config: config,
            http: reqwest::Client::new(),
            data: aws_sdk_redshiftdata::Client::new(&sdk),
            key: String::from_utf8(out.stdout).unwrap().trim().to_owned(),
        }
    }

    pub(crate) async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("X-Tenant-ID", "acme");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    }

    /// Runs SQL on the emulator directly (as an operator would on Redshift); the first column
    /// of the first row, when there is one.
    pub(crate) async fn sql(&self, sql: &str) -> Option<i64> {
        let id = self.submit(sql).await;
        let d = self.wait_statement(&id).await;
        assert_eq!(d.status(), Some(&StatusString::Finished), "{sql}: {:?}", d.error());
        if !d.has_result_set().unwrap_or(false) {
            return None;
        }
        let page = self.data.get_statement_result().id(&id).send().await.unwrap();
        page.records().first().and_then(|row| row.first()).and_then(|f| f.as_long_value().ok()).copied()
    }

    pub(crate) async fn submit(&self, sql: &str) -> String {
        let out = self.data.execute_statement().cluster_identifier("local").database("dev").db_user("admin").sql(sql);
        out.send().await.unwrap().id.unwrap()
    }

    async fn wait_statement(
        &self,
        id: &str,
    ) -> aws_sdk_redshiftdata::operation::describe_statement::DescribeStatementOutput {
        loop {
            let d = self.data.describe_statement().id(id).send().await.unwrap();
            if matches!(d.status(), Some(StatusString::Finished | StatusString::Failed | StatusString::Aborted)) {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) async fn create(&self, body: Value) -> String {
        let (status, job) = self.call(reqwest::Method::POST, "/v1/bulk/jobs", Some(body)).await;
        assert_eq!(status, 201, "{job}");
        job["job_id"].as_str().unwrap().to_owned()
    }

    /// Polls the job until it has ended; gives up (a hung job, not a slow one) after a couple of
    /// minutes of polls.
    pub(crate) async fn wait_job(&self, id: &str) -> Value {
        let mut job = Value::Null;
        for _ in 0..1200 {
            job = self.call(reqwest::Method::GET, &format!("/v1/bulk/jobs/{id}"), None).await.1;
            if ["JobComplete", "Failed", "Aborted"].contains(&job["state"].as_str().unwrap_or_default()) {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("job {id} never ended: {job}");
    }
}

impl Chain {
    /// Stops the API and the worker gracefully (they flush their telemetry); whether both
    /// exited cleanly.
    pub(crate) fn stop(mut self) -> bool {
        let api = self.api.take().is_none_or(Up::terminate);
        let worker = self.worker.take().is_none_or(Up::terminate);
        api && worker
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            worker.terminate();
        }
    }
}

/// An export and an upsert through the REST API complete on the real chain; the export's parts
/// download from S3 and the upsert changed exactly the uploaded rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_upsert_jobs_complete_through_the_whole_chain() {
    let _turn = aws_stack_turn().await;
    let chain = Chain::start().await;
    let table = format!("sales_{}", std::process::id());
    chain
        .sql(&format!(
            "CREATE TABLE {table} AS SELECT i AS id, 'r' || (i % 3) AS region, i * 10 AS amount FROM range(1, 501) t(i)"
        ))
        .await;

    let export = chain
        .create(json!({"operation": "query", "object": table, "query": format!("SELECT id, amount FROM {table} WHERE id <= 200")}))
        .await;
    let job = chain.wait_job(&export).await;
    assert_eq!(job["state"], "JobComplete", "{job}");
    assert_eq!(job["number_records_processed"], 200);
    let (status, results) = chain.call(reqwest::Method::GET, &format!("/v1/bulk/jobs/{export}/results"), None).await;
    assert_eq!(status, 200, "{results}");
    let mut lines = 0;
    for file in results["files"].as_array().unwrap() {
        let url = file["download_url"].as_str().unwrap().to_owned();
        assert!(url.contains(&format!("/acme/{export}/results/")), "{url}");
        let body = tokio::task::spawn_blocking(move || download(&url)).await.unwrap();
        let text = String::from_utf8(body).unwrap();
        assert!(text.starts_with("id,amount\n"), "{text}");
        lines += text.lines().count() - 1;
    }
    assert_eq!(lines, 200);

    // A synchronous query through the Query API runs on the Data API too.
    let query =
        json!({"sql": format!("SELECT id, amount FROM {table} WHERE id <= :n ORDER BY id"), "parameters": {"n": "3"}});
    let (status, page) = chain.call(reqwest::Method::POST, "/v1/queries", Some(query)).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        page["data"],
        json!([{"id": 1, "amount": 10}, {"id": 2, "amount": 20}, {"id": 3, "amount": 30}]),
        "{page}"
    );
    assert_eq!(page["metadata"]["column_types"], json!(["int8", "int8"]), "{page}");

    let upsert = chain
        .create(json!({"operation": "upsert", "object": table, "primary_key": ["id"], "content_type": "CSV"}))
        .await;
    let (_, link) = chain.call(reqwest::Method::GET, &format!("/v1/bulk/jobs/{upsert}/upload-url"), None).await;
    let csv = "id,amount\n1,7\n2,8\n1000,9\n";
    let put = chain.http.put(link["upload_url"].as_str().unwrap()).body(csv).send().await.unwrap();
    assert!(put.status().is_success());
    let (status, _) = chain
        .call(reqwest::Method::PATCH, &format!("/v1/bulk/jobs/{upsert}"), Some(json!({"state": "UploadComplete"})))
        .await;
    assert_eq!(status, 200);
    let job = chain.wait_job(&upsert).await;
    assert_eq!(job["state"], "JobComplete", "{job}");
    assert_eq!(job["number_records_processed"], 3);
    assert_eq!(chain.sql(&format!("SELECT count(*) FROM {table}")).await, Some(501), "one row inserted");
    assert_eq!(chain.sql(&format!("SELECT sum(amount) FROM {table} WHERE id IN (1, 2, 1000)")).await, Some(24));
    assert_eq!(chain.sql(&format!("SELECT amount FROM {table} WHERE id = 3")).await, Some(30), "others untouched");
}

/// With the EventBridge rule disabled the statement's end never reaches the queue; the
/// reconciler finds the job and finishes it from DescribeStatement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_event_is_finished_by_the_reconciler() {
    let _turn = aws_stack_turn().await;
    let chain = Chain::start().await;
    let events =
        aws_sdk_eventbridge::Client::new(&aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await);
    let rule = stack("SPECTRA_STATEMENT_EVENTS_RULE");
    events.disable_rule().name(&rule).send().await.unwrap();
    let outcome = async {
        let job = chain.create(json!({"operation": "query", "object": "x", "query": "SELECT 42 AS answer"})).await;
        chain.wait_job(&job).await
    }
    .await;
    events.enable_rule().name(&rule).send().await.unwrap();
    assert_eq!(outcome["state"], "JobComplete", "{outcome}");
    assert_eq!(outcome["number_records_processed"], 1);
}

/// With every statement slot of the Data API taken, a job's submit is refused as backpressure:
/// the job waits in UploadComplete, and completes once slots free up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_submit_waits_and_completes() {
    let _turn = aws_stack_turn().await;
    let chain = Chain::start().await;
    let limit: usize = stack("SPECTRA_EMULATOR_MAX_ACTIVE").parse().unwrap();
    let mut hogs = Vec::new();
    for _ in 0..limit {
        hogs.push(chain.submit("SELECT count(*) FROM range(1000000000000)").await);
    }
    let waited = async {
        let job = chain.create(json!({"operation": "query", "object": "x", "query": "SELECT 1 AS one"})).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (_, record) = chain.call(reqwest::Method::GET, &format!("/v1/bulk/jobs/{job}"), None).await;
        (job, record)
    }
    .await;
    for hog in &hogs {
        let _ = chain.data.cancel_statement().id(hog).send().await;
    }
    let (job, record) = waited;
    assert_eq!(record["state"], "UploadComplete", "the job waits while the warehouse is full: {record}");
    let done = chain.wait_job(&job).await;
    assert_eq!(done["state"], "JobComplete", "{done}");
}
