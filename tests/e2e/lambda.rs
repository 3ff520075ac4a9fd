//! `spectra lambda` on the local AWS stack: the real binary as a custom runtime behind a
//! Runtime API the test serves, fed SQS batches built from messages really received from
//! moto's work queue (what the event source mapping does), with `spectra api` in front and no
//! worker: jobs move only through Lambda invocations.

use std::time::Duration;

use aws_sdk_redshiftdata::types::StatusString;
use serde_json::{Value, json};

use crate::aws_chain::{Chain, stack};
use crate::common::{Up, aws_stack_turn, serve_with_env};
use crate::lambda_runtime::{Mapping, Record, RuntimeApi, batch, failures};
use crate::otlp::Collector;

/// How long the function gets per invocation (Lambda's timeout), and what the mapping hides
/// received messages for (the queue's visibility timeout, at least the function's).
const TIMEOUT: Duration = Duration::from_secs(30);
const VISIBILITY: Duration = Duration::from_secs(60);

/// The API, the function behind its Runtime API, and the mapping's poller.
struct Harness {
    chain: Chain,
    runtime: RuntimeApi,
    function: Option<Up>,
    mapping: Mapping,
}

impl Harness {
    async fn start() -> Self {
        Self::start_with(Vec::new()).await
    }

    /// With `env` added to the function's environment.
    async fn start_with(extra: Vec<(String, String)>) -> Self {
        let chain = Chain::start_api_only().await;
        let runtime = RuntimeApi::start().await;
        let path = chain.config_path().to_str().unwrap().to_owned();
        let mut env = runtime.environment();
        env.extend(extra);
        let function = tokio::task::spawn_blocking(move || {
            serve_with_env(&["lambda", "--config", &path, "--reconcile-grace", "2s"], "lambda function ready", &env)
        })
        .await
        .unwrap();
        Self { chain, runtime, function: Some(function), mapping: Mapping::new(stack("SPECTRA_QUEUE_URL")).await }
    }

    /// One SQS batch through the function; the mapping then deletes what was not reported
    /// failed. The ids reported failed.
    async fn run_batch(&self, records: &[Record]) -> Vec<String> {
        self.run_batch_within(records, TIMEOUT).await
    }

    async fn run_batch_within(&self, records: &[Record], timeout: Duration) -> Vec<String> {
        let answer = self.runtime.invoke(batch(records), timeout).await.expect("the batch invocation failed");
        let failed = failures(&answer);
        self.mapping.settle(records, &failed).await;
        failed
    }

    /// Polls the queue and invokes the function with what comes, until every job has ended.
    async fn drive(&self, jobs: &[&str]) -> Vec<Value> {
        for _ in 0..120 {
            let records = self.mapping.poll(VISIBILITY).await;
            if !records.is_empty() {
                let failed = self.run_batch(&records).await;
                assert!(failed.is_empty(), "failed: {failed:?} of {records:?}");
            }
            let states = self.jobs(jobs).await;
            if states.iter().all(|j| ["JobComplete", "Failed", "Aborted"].contains(&j["state"].as_str().unwrap())) {
                return states;
            }
        }
        panic!("jobs never ended: {:?}", self.jobs(jobs).await);
    }

    async fn jobs(&self, jobs: &[&str]) -> Vec<Value> {
        let mut out = Vec::new();
        for id in jobs {
            out.push(self.chain.call(reqwest::Method::GET, &format!("/v1/bulk/jobs/{id}"), None).await.1);
        }
        out
    }

    /// Polls until the messages `wanted` picks have all been received; the others are handed
    /// to the function on the way (leftovers of other tests, events of jobs in flight).
    async fn poll_for(&self, n: usize, wanted: impl Fn(&Record) -> bool) -> Vec<Record> {
        let mut picked = Vec::new();
        for _ in 0..60 {
            let (mine, others): (Vec<_>, Vec<_>) = self.mapping.poll(VISIBILITY).await.into_iter().partition(&wanted);
            if !others.is_empty() {
                self.run_batch(&others).await;
            }
            picked.extend(mine);
            if picked.len() >= n {
                return picked;
            }
        }
        panic!("only {} of {n} messages came", picked.len());
    }

    /// Statements the Data API has run for a job (by their statement names).
    async fn statements_of(&self, job: &str) -> usize {
        let all = self.chain.data.list_statements().status(StatusString::All).max_results(100).send().await.unwrap();
        all.statements().iter().filter(|s| s.statement_name().is_some_and(|n| n.contains(job))).count()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(function) = self.function.take() {
            function.kill();
        }
    }
}

fn job_id_of(record: &Record) -> Option<&str> {
    record.body["job_id"].as_str()
}

/// An export and an upsert through the REST API complete through Lambda invocations alone;
/// a submit delivered twice (the second after the first had run) runs one statement. Each
/// invocation's spans and metrics have been exported by the time it answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_and_an_upsert_complete_through_lambda_invocations() {
    let _turn = aws_stack_turn().await;
    let collector = Collector::start().await;
    let h = Harness::start_with(vec![("OTEL_EXPORTER_OTLP_ENDPOINT".into(), collector.endpoint.clone())]).await;
    let table = format!("lambda_sales_{}", std::process::id());
    h.chain.sql(&format!("CREATE TABLE {table} AS SELECT i AS id, i * 10 AS amount FROM range(1, 101) t(i)")).await;

    let export = h
        .chain
        .create(
            json!({"operation": "query", "object": table, "query": format!("SELECT id FROM {table} WHERE id <= 40")}),
        )
        .await;
    let submit = h.poll_for(1, |r| job_id_of(r) == Some(&export)).await;
    assert!(h.run_batch(&submit).await.is_empty());
    exported_before_answering(&collector, &submit[0]);
    // The same message again, as a duplicate delivery would bring it.
    assert!(h.run_batch(&submit).await.is_empty());
    let done = h.drive(&[&export]).await;
    assert_eq!(done[0]["state"], "JobComplete", "{done:?}");
    assert_eq!(done[0]["number_records_processed"], 40);
    assert_eq!(h.statements_of(&export).await, 1, "the duplicate submit ran nothing");

    let upsert = h
        .chain
        .create(json!({"operation": "upsert", "object": table, "primary_key": ["id"], "content_type": "CSV"}))
        .await;
    let (_, link) = h.chain.call(reqwest::Method::GET, &format!("/v1/bulk/jobs/{upsert}/upload-url"), None).await;
    let put = h.chain.http.put(link["upload_url"].as_str().unwrap()).body("id,amount\n1,7\n500,9\n").send().await;
    assert!(put.unwrap().status().is_success());
    let patch = json!({"state": "UploadComplete"});
    let (status, _) = h.chain.call(reqwest::Method::PATCH, &format!("/v1/bulk/jobs/{upsert}"), Some(patch)).await;
    assert_eq!(status, 200);
    let done = h.drive(&[&upsert]).await;
    assert_eq!(done[0]["state"], "JobComplete", "{done:?}");
    assert_eq!(done[0]["number_records_processed"], 2);
    assert_eq!(h.chain.sql(&format!("SELECT count(*) FROM {table}")).await, Some(101));
    assert_eq!(h.chain.sql(&format!("SELECT sum(amount) FROM {table} WHERE id IN (1, 500)")).await, Some(16));
}

/// What the collector holds the moment the invocation that handled `record` answered: its
/// invocation span, the message's process span linked to it, and the metrics.
fn exported_before_answering(collector: &Collector, record: &Record) {
    let spans = collector.spans();
    let process = spans
        .iter()
        .find(|s| s.attr("messaging.message.id") == record.id)
        .unwrap_or_else(|| panic!("no process span for {} among {spans:#?}", record.id));
    let invocation = spans
        .iter()
        .find(|s| {
            s.attr("faas.trigger") == "pubsub" && process.links.contains(&(s.trace_id.clone(), s.span_id.clone()))
        })
        .unwrap_or_else(|| panic!("no invocation span linked from {process:#?}"));
    assert_eq!((invocation.name.as_str(), invocation.service.as_str()), ("spectra-worker", "spectra-lambda"));
    assert!(
        collector.metric_names().contains(&"spectra.messages.settled".to_owned()),
        "{:?}",
        collector.metric_names()
    );
}

/// One batch of a good message (a job's statement event), a poison body and a throttled submit
/// answers with no failures: the good one done, the poison in the dead-letter queue with its
/// reason, the throttled submit re-sent with a delay (its job waits, then completes). A batch
/// given too little time to run is reported failed as a whole, and its message comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_batch_answers_with_exactly_its_failures() {
    let _turn = aws_stack_turn().await;
    let h = Harness::start().await;
    let good = h.chain.create(json!({"operation": "query", "object": "x", "query": "SELECT 1 AS one"})).await;
    let submit = h.poll_for(1, |r| job_id_of(r) == Some(&good)).await;
    assert!(h.run_batch(&submit).await.is_empty());
    let event = h.poll_for(1, |r| r.body["detail"]["statementName"].as_str().is_some_and(|n| n.contains(&good))).await;

    let throttled = h.chain.create(json!({"operation": "query", "object": "x", "query": "SELECT 2 AS two"})).await;
    let poison = format!("{{not json {}", fastrand::u64(..));
    let sqs = aws_sdk_sqs::Client::new(&aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await);
    sqs.send_message().queue_url(stack("SPECTRA_QUEUE_URL")).message_body(&poison).send().await.unwrap();
    let rest = h.poll_for(2, |r| job_id_of(r) == Some(&throttled) || r.body == Value::String(poison.clone())).await;

    let limit: usize = stack("SPECTRA_EMULATOR_MAX_ACTIVE").parse().unwrap();
    let mut hogs = Vec::new();
    for _ in 0..limit {
        hogs.push(h.chain.submit("SELECT count(*) FROM range(1000000000000)").await);
    }
    let mixed: Vec<Record> = event.into_iter().chain(rest).collect();
    let failed = h.run_batch(&mixed).await;
    let waiting = h.jobs(&[&good, &throttled]).await;
    for hog in &hogs {
        let _ = h.chain.data.cancel_statement().id(hog).send().await;
    }
    assert_eq!(failed, Vec::<String>::new(), "no message of the batch is reported failed");
    assert_eq!(waiting[0]["state"], "JobComplete", "the good message finished its job: {waiting:?}");
    assert_eq!(waiting[1]["state"], "UploadComplete", "the throttled job waits: {waiting:?}");

    let dead = receive_all(&sqs, &stack("SPECTRA_DEAD_LETTER_QUEUE_URL")).await;
    let reason = dead.iter().find(|(body, _)| body == &poison).map(|(_, reason)| reason.clone());
    assert!(reason.as_deref().is_some_and(|r| !r.is_empty()), "the poison is dead-lettered with a reason: {dead:?}");

    // The throttled submit comes back (a delayed copy, a first delivery) and completes.
    let copy = h.poll_for(1, |r| job_id_of(r) == Some(&throttled)).await;
    assert_eq!(copy[0].json["attributes"]["ApproximateReceiveCount"], "1", "a deferral is not a failed delivery");
    assert_ne!(copy[0].id, mixed.iter().find(|r| job_id_of(r) == Some(&throttled)).unwrap().id);
    // Given less time than it needs to settle, the batch is reported failed, not half-done.
    assert_eq!(h.run_batch_within(&copy, Duration::from_secs(1)).await, [copy[0].id.clone()]);
    assert_eq!(h.jobs(&[&throttled]).await[0]["state"], "UploadComplete");
    let done = h.drive(&[&throttled]).await;
    assert_eq!(done[0]["state"], "JobComplete", "{done:?}");
}

/// Every message in a queue (bodies and their dead-letter reasons), deleted as read.
async fn receive_all(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<(String, String)> {
    let mut all = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return all;
        }
        for m in messages {
            let reason = m
                .message_attributes
                .as_ref()
                .and_then(|a| a.get("spectra-dead-letter-reason"))
                .and_then(|v| v.string_value.clone())
                .unwrap_or_default();
            all.push((m.body.unwrap_or_default(), reason));
            sqs.delete_message().queue_url(url).receipt_handle(m.receipt_handle.unwrap()).send().await.unwrap();
        }
    }
}

/// With the statement's event dropped (the rule disabled), the schedule's invocation sweeps,
/// and the reconcile command it queues — handled by the function too — finishes the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_invocation_finishes_a_job_whose_event_was_dropped() {
    let _turn = aws_stack_turn().await;
    let h = Harness::start().await;
    let events =
        aws_sdk_eventbridge::Client::new(&aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await);
    let rule = stack("SPECTRA_STATEMENT_EVENTS_RULE");
    events.disable_rule().name(&rule).send().await.unwrap();
    let outcome = async {
        let job = h.chain.create(json!({"operation": "query", "object": "x", "query": "SELECT 42 AS answer"})).await;
        let submit = h.poll_for(1, |r| job_id_of(r) == Some(&job)).await;
        assert!(h.run_batch(&submit).await.is_empty());
        tokio::time::sleep(Duration::from_secs(3)).await;
        let tick = json!({"version": "0", "id": "tick-1", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-11-25T00:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/spectra-reconcile"], "detail": {}});
        let swept = h.runtime.invoke(tick, TIMEOUT).await.expect("the scheduled invocation failed");
        assert!(swept["reconciling"].as_u64().is_some_and(|n| n >= 1), "{swept}");
        let reconcile = h.poll_for(1, |r| job_id_of(r) == Some(&job) && r.body["command"] == "reconcile").await;
        assert!(h.run_batch(&reconcile).await.is_empty());
        h.jobs(&[&job]).await.remove(0)
    }
    .await;
    events.enable_rule().name(&rule).send().await.unwrap();
    assert_eq!(outcome["state"], "JobComplete", "{outcome}");
    assert_eq!(outcome["number_records_processed"], 1);

    // A payload that is neither is refused as a whole, by name.
    let refused = h.runtime.invoke(json!({"hello": "world"}), TIMEOUT).await.expect_err("an unknown payload");
    assert!(refused["errorMessage"].as_str().unwrap().contains("not an SQS batch"), "{refused}");
}
