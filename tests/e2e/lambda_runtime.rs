//! What AWS Lambda is to a custom runtime, on loopback: the Runtime API (the documented
//! `/2018-06-01/runtime/invocation/next`, `/{id}/response`, `/{id}/error` and `/init/error`
//! protocol) serving invocations the test makes, and an SQS event source mapping's part — real
//! receives from the work queue on moto, turned into the SQS batch event Lambda sends.
//! (`benches/lambda.rs` includes this file too.)

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

/// An invocation waiting for the function to take it.
struct Pending {
    id: String,
    payload: Value,
    deadline_ms: u128,
}

/// How the function answered an invocation: its response, or the error it reported.
pub(crate) type Answer = Result<Value, Value>;

#[derive(Clone)]
struct Shared {
    next: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>>,
    answers: Arc<Mutex<HashMap<String, oneshot::Sender<Answer>>>>,
    init_error: Arc<Mutex<Option<Value>>>,
}

/// The Runtime API on a loopback port.
pub(crate) struct RuntimeApi {
    pub(crate) addr: String,
    queue: mpsc::UnboundedSender<Pending>,
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    pub(crate) async fn start() -> Self {
        let (queue, next) = mpsc::unbounded_channel();
        let shared = Shared {
            next: Arc::new(tokio::sync::Mutex::new(next)),
            answers: Arc::default(),
            init_error: Arc::default(),
        };
        let routes = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move { axum::serve(listener, routes).await.unwrap() });
        Self { addr, queue, shared, server }
    }

    /// The environment the Lambda service gives a custom runtime.
    pub(crate) fn environment(&self) -> Vec<(String, String)> {
        [
            ("AWS_LAMBDA_RUNTIME_API", self.addr.as_str()),
            ("AWS_LAMBDA_FUNCTION_NAME", "spectra-worker"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec()
    }

    /// Invokes the function with `payload` and `timeout` to run; its answer.
    pub(crate) async fn invoke(&self, payload: Value, timeout: Duration) -> Answer {
        let id = uuid_like();
        let (tx, rx) = oneshot::channel();
        self.shared.answers.lock().unwrap().insert(id.clone(), tx);
        let deadline_ms = (SystemTime::now() + timeout).duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis();
        self.queue.send(Pending { id, payload, deadline_ms }).unwrap();
        match tokio::time::timeout(timeout + Duration::from_secs(30), rx).await {
            Ok(answer) => answer.unwrap(),
            Err(_) => panic!("the function never answered (init error: {:?})", self.shared.init_error.lock().unwrap()),
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn uuid_like() -> String {
    format!("{:016x}-{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// Long-polls for the next invocation, as Lambda does.
async fn next_invocation(State(shared): State<Shared>) -> (StatusCode, HeaderMap, String) {
    let Some(pending) = shared.next.lock().await.recv().await else {
        return (StatusCode::GONE, HeaderMap::new(), String::new());
    };
    let mut headers = HeaderMap::new();
    let set = |headers: &mut HeaderMap, name: &'static str, value: String| {
        headers.insert(name, value.parse().unwrap());
    };
    set(&mut headers, "lambda-runtime-aws-request-id", pending.id);
    set(&mut headers, "lambda-runtime-deadline-ms", pending.deadline_ms.to_string());
    set(
        &mut headers,
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:spectra-worker".into(),
    );
    set(&mut headers, "lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000;Sampled=0".into());
    set(&mut headers, "content-type", "application/json".into());
    (StatusCode::OK, headers, pending.payload.to_string())
}

fn answer(shared: &Shared, id: &str, answer: Answer) -> StatusCode {
    match shared.answers.lock().unwrap().remove(id) {
        Some(tx) => {
            let _ = tx.send(answer);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(State(shared): State<Shared>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answer(&shared, &id, Ok(serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

async fn error(State(shared): State<Shared>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answer(&shared, &id, Err(serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

async fn init_error(State(shared): State<Shared>, body: Bytes) -> StatusCode {
    *shared.init_error.lock().unwrap() = Some(serde_json::from_slice(&body).unwrap_or(Value::Null));
    StatusCode::ACCEPTED
}

/// The event source mapping's side: receives from the work queue on moto and builds the SQS
/// event Lambda would send for them.
pub(crate) struct Mapping {
    sqs: aws_sdk_sqs::Client,
    url: String,
}

/// One received message as an SQS event record.
#[derive(Clone, Debug)]
pub(crate) struct Record {
    pub(crate) id: String,
    pub(crate) body: Value,
    pub(crate) json: Value,
}

impl Mapping {
    /// The mapping of the queue at `url`.
    pub(crate) async fn new(url: String) -> Self {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
        Self { sqs: aws_sdk_sqs::Client::new(&sdk), url }
    }

    /// Receives up to 10 messages (waiting up to a second), hidden for `visibility` — what the
    /// mapping's poller does (it sets the queue's own visibility timeout).
    pub(crate) async fn poll(&self, visibility: Duration) -> Vec<Record> {
        use aws_sdk_sqs::types::MessageSystemAttributeName as Name;
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(visibility.as_secs() as i32)
            .message_system_attribute_names(Name::All)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        out.messages.unwrap_or_default().into_iter().map(|m| self.record(m)).collect()
    }

    fn record(&self, m: aws_sdk_sqs::types::Message) -> Record {
        let attributes: serde_json::Map<String, Value> = m
            .attributes
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.as_str().to_owned(), Value::String(v)))
            .collect();
        let message_attributes: serde_json::Map<String, Value> = m
            .message_attributes
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, json!({"stringValue": v.string_value, "dataType": v.data_type})))
            .collect();
        let id = m.message_id.unwrap();
        let body = m.body.unwrap_or_default();
        let json = json!({
            "messageId": id, "receiptHandle": m.receipt_handle, "body": body,
            "attributes": attributes, "messageAttributes": message_attributes, "md5OfBody": m.md5_of_body,
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:spectra-local-work",
            "awsRegion": "us-east-1",
        });
        Record { id, body: serde_json::from_str(&body).unwrap_or(Value::String(body)), json }
    }

    /// What the mapping does with a batch's answer: deletes every message not reported failed.
    pub(crate) async fn settle(&self, records: &[Record], failed: &[String]) {
        for record in records.iter().filter(|r| !failed.contains(&r.id)) {
            let receipt = record.json["receiptHandle"].as_str().unwrap();
            self.sqs.delete_message().queue_url(&self.url).receipt_handle(receipt).send().await.unwrap();
        }
    }
}

/// The SQS event Lambda sends for `records`.
pub(crate) fn batch(records: &[Record]) -> Value {
    json!({"Records": records.iter().map(|r| r.json.clone()).collect::<Vec<_>>()})
}

/// The ids a batch answer reports failed.
pub(crate) fn failures(answer: &Value) -> Vec<String> {
    answer["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("not a batch answer: {answer}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}
