//! The whole embedded stack in one process, built as `spectra up` builds it, serving the API on
//! a real socket.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use serde_json::Value;
use spectra::app::{App, EmbeddedApp, EmbeddedConfig};
use spectra_api::{AppState, RateLimits};
use spectra_state_machine::TenantId;
use spectra_warehouse::DuckWarehouse;
use spectra_worker::contract::warehouse::run;
use spectra_worker::ports::{KeyStore, Queue, StatementStatus, mint_key};
use spectra_worker::producer::Producer;
use tokio_util::sync::CancellationToken;

pub struct Stack {
    pub base: String,
    pub http: Client,
    pub warehouse: Arc<DuckWarehouse>,
    pub keys: Arc<dyn KeyStore>,
    /// The API's producer, to make jobs as an earlier, crashed request would have.
    pub producer: Producer,
    /// The work queue (what the worker consumes).
    pub queue: Arc<dyn Queue>,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Stack {
    pub async fn start() -> Self {
        Self::start_configured(|_| {}).await
    }

    /// The API alone, no worker: what the requests queue for a worker stays in the queue.
    pub async fn start_without_worker() -> Self {
        Self::start_serving(|_| {}, false).await
    }

    pub async fn start_with(limits: RateLimits) -> Self {
        Self::start_configured(|state| state.limits = limits).await
    }

    /// The application `spectra up` runs (through the same `App::embedded`), without the
    /// reconciler, its API state adjusted by `configure` before serving.
    pub async fn start_configured(configure: impl FnOnce(&mut AppState)) -> Self {
        Self::start_serving(configure, true).await
    }

    async fn start_serving(configure: impl FnOnce(&mut AppState), worker: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = EmbeddedConfig::new(dir.path(), &base);
        config.worker.consumer.wait = Duration::from_millis(200);
        let EmbeddedApp { mut app, stack, duck } = App::embedded(config).await.unwrap();
        let producer = app.api.producer.clone();
        configure(&mut app.api);
        let (stop, router) = (CancellationToken::new(), app.router());
        let serving = stop.clone();
        tokio::spawn(
            async move { axum::serve(listener, router).with_graceful_shutdown(serving.cancelled_owned()).await },
        );
        if worker {
            app.start_worker(&stop);
        }
        let keys: Arc<dyn KeyStore> = Arc::new(stack.keys.clone());
        let queue = app.platform.queue.clone();
        Self { base, http: Client::new(), warehouse: duck, keys, producer, queue, stop, _dir: dir }
    }

    /// The embedded platform's data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub async fn key(&self, tenant: &str) -> String {
        let minted = mint_key(&TenantId::parse(tenant).unwrap());
        self.keys.put(&minted.record).await.unwrap();
        minted.key
    }

    pub async fn call(
        &self,
        key: &str,
        tenant: &str,
        method: Method,
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

    pub async fn sql(&self, sql: &str) {
        assert_eq!(run(self.warehouse.as_ref(), sql).await.status, StatementStatus::Finished, "{sql}");
    }

    pub async fn wait_done(&self, key: &str, tenant: &str, job: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, body) = self.call(key, tenant, Method::GET, &format!("/v1/bulk/jobs/{job}"), None).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if ["JobComplete", "Failed", "Aborted"].contains(&body["state"].as_str().unwrap()) {
                return body;
            }
            assert!(Instant::now() < deadline, "{body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("not an error envelope: {body}"))
}
