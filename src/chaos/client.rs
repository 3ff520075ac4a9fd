//! The harness's REST client: what a careful producer does against a service that may be down
//! at any moment — retry transient failures (no connection, 5xx, 429, an idempotency key still
//! held by a dead attempt) with the same idempotency key and the same upload link, until a
//! deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use spectra_warehouse::{SqlOutcome, SqlRequest, run_script};
use spectra_worker::ports::Warehouse;

/// Pause between retries.
const RETRY_PAUSE: Duration = Duration::from_millis(250);

/// A non-transient answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Its status.
    pub status: StatusCode,
    /// Its JSON body (`null` when not JSON).
    pub body: Value,
}

/// Why a call gave up.
#[derive(Debug, thiserror::Error)]
pub enum GaveUp {
    /// The deadline passed while the idempotency key was still held ("still running").
    #[error("the idempotency key stayed held until the deadline")]
    KeyHeld,
    /// The deadline passed while the service failed transiently.
    #[error("no answer before the deadline: {0}")]
    Transient(String),
}

/// How the harness runs operator SQL (tables to set up, rows to count).
#[derive(Clone)]
pub enum Operator {
    /// `spectra up`'s `/admin/sql`, with its admin token.
    Admin(String),
    /// The Data API, as the operator's database user.
    DataApi(Arc<dyn Warehouse>),
}

/// The REST API of the target, as one tenant, plus operator SQL.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
    tenant: String,
    operator: Operator,
}

impl Api {
    /// A client for `base`, as `tenant` with `key`; operator SQL through `operator`.
    pub fn new(http: reqwest::Client, base: String, key: String, tenant: String, operator: Operator) -> Self {
        Self { http, base, key, tenant, operator }
    }

    /// Calls the API until a non-transient answer or `timeout`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
        timeout: Duration,
    ) -> Result<Answer, GaveUp> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .bearer_auth(&self.key)
                .header("X-Tenant-ID", &self.tenant);
            if let Some(key) = idempotency_key {
                request = request.header("X-Idempotency-Key", key);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let last = match answer(request).await {
                Ok(a) if held(&a) => GaveUp::KeyHeld,
                Ok(a) if transient(a.status) => GaveUp::Transient(format!("{} {}", a.status, a.body)),
                Ok(a) => return Ok(a),
                Err(e) => GaveUp::Transient(e.to_string()),
            };
            if Instant::now() >= deadline {
                return Err(last);
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// PUTs `bytes` to a presigned upload link until it is stored (a PUT to the same link
    /// replaces the part, so a retry never uploads it twice).
    pub async fn put(&self, url: &str, bytes: &[u8], timeout: Duration) -> Result<(), GaveUp> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.http.put(url).body(bytes.to_vec()).send().await {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => format!("{}", r.status()),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(GaveUp::Transient(last));
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// Runs operator SQL (retried while the target restarts); fails on a failed statement.
    pub async fn admin_sql(&self, sql: &str, timeout: Duration) -> anyhow::Result<Vec<SqlOutcome>> {
        let token = match &self.operator {
            Operator::Admin(token) => token,
            Operator::DataApi(warehouse) => return finished(run_script(warehouse.as_ref(), sql).await?),
        };
        let deadline = Instant::now() + timeout;
        loop {
            let sent = self
                .http
                .post(format!("{}/admin/sql", self.base))
                .bearer_auth(token)
                .json(&SqlRequest { sql: sql.to_owned() })
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => {
                    return finished(r.json().await.context("reading an admin SQL answer")?);
                }
                Ok(r) if !transient(r.status()) => bail!("operator SQL refused: {}", r.status()),
                _ if Instant::now() >= deadline => bail!("operator SQL got no answer within {timeout:?}"),
                _ => tokio::time::sleep(RETRY_PAUSE).await,
            }
        }
    }
}

/// The outcomes of a script, or the first statement that did not finish.
fn finished(outcomes: Vec<SqlOutcome>) -> anyhow::Result<Vec<SqlOutcome>> {
    if let Some(failed) = outcomes.iter().find(|o| o.status != "FINISHED") {
        bail!("operator SQL failed: {}: {}", failed.sql, failed.error.as_deref().unwrap_or("?"));
    }
    Ok(outcomes)
}

async fn answer(request: reqwest::RequestBuilder) -> Result<Answer, reqwest::Error> {
    let response = request.send().await?;
    let status = response.status();
    let text = response.text().await?;
    Ok(Answer { status, body: serde_json::from_str(&text).unwrap_or(json!(null)) })
}

fn transient(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
}

/// 409 because the same request's claim is still held (its attempt died or still runs).
fn held(a: &Answer) -> bool {
    a.status == StatusCode::CONFLICT
        && a.body["error"]["message"].as_str().is_some_and(|m| m.contains("X-Idempotency-Key is still running"))
}
