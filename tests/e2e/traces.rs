//! Traces of `spectra up`, received by a real OTLP collector: one job, one trace from the POST
//! to JobComplete; spans named and attributed as the semantic conventions say; no SQL text;
//! JSON log lines carrying the trace and span ids.

use serde_json::{Value, json};

use crate::aws_chain::Chain;
use crate::common::*;
use crate::otlp::{Collector, Span, tree};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

/// Text in the export's query that must never reach a span.
const CANARY: &str = "otel-canary-7f3a";

#[test]
fn one_job_is_one_trace_from_the_post_to_job_complete() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let collector = runtime.block_on(Collector::start());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint.as_str()),
        ("OTEL_SERVICE_NAME", "spectra-under-test"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "500"),
    ];
    let up = up_with_env(&data, &["--log-format", "json"], &env);
    sql(&data, "CREATE TABLE t AS SELECT i AS id FROM range(10) r(i)");
    sql(&data, "CREATE TABLE people (id INTEGER, name VARCHAR)");
    let key = tenant_key(&data, TENANT);
    let api = Api::at(&up.addr);
    let (export, upsert) = runtime.block_on(async {
        let query = format!("SELECT id, '{CANARY}' AS marker FROM t");
        let body = json!({"operation": "query", "object": "t", "query": query});
        let (status, job) = api.call(reqwest::Method::POST, "/v1/bulk/jobs", &key, TENANT, Some(body)).await;
        assert_eq!(status, 201, "{job}");
        let export = job["job_id"].as_str().unwrap().to_owned();
        assert_eq!(api.done(&key, TENANT, &export).await["state"], "JobComplete");
        (export, run_upsert(&api, &key).await)
    });
    let logs = stop(up);

    let spans = collector.spans();
    for job in [&export, &upsert] {
        let trace = trace_of(&spans, job);
        let shown = tree(&spans, &trace);
        eprintln!("trace of {job}:\n{shown}");
        let posted = one(&spans, &trace, |s| s.kind == SpanKind::Server && s.name == "POST /v1/bulk/jobs", &shown);
        assert_eq!(posted.parent, "", "the POST is the trace's root:\n{shown}");
        assert_eq!(
            (posted.attr("http.request.method"), posted.attr("http.route"), posted.attr("http.response.status_code")),
            ("POST", "/v1/bulk/jobs", "201")
        );
        assert_eq!(posted.service, "spectra-under-test", "OTEL_SERVICE_NAME names the service");
        assert!(
            spans.iter().any(|s| s.trace_id == trace && moved_to(s, "JobComplete")),
            "JobComplete is not in the job's trace:\n{shown}"
        );
        assert_messaging(&spans, &trace, "spectra_sqlite", &shown);
        assert_statement_span(&spans, &trace, "duckdb", &shown);
    }
    assert_statement_event_linked(&spans, &export);
    assert_close_linked(&spans, &upsert);
    let everything = format!("{spans:?}");
    assert!(!everything.contains(CANARY), "SQL text reached a span");
    assert_log_ids(&logs, &spans, &export);
    assert!(collector.metric_names().contains(&"spectra.jobs.accepted".to_owned()), "{:?}", collector.metric_names());
}

/// An upsert through the API: created, uploaded, closed, completed; its id.
async fn run_upsert(api: &Api, key: &str) -> String {
    let body = json!({"operation": "upsert", "object": "people", "primary_key": ["id"]});
    let (status, job) = api.call(reqwest::Method::POST, "/v1/bulk/jobs", key, TENANT, Some(body)).await;
    assert_eq!(status, 201, "{job}");
    let id = job["job_id"].as_str().unwrap().to_owned();
    let (status, link) =
        api.call(reqwest::Method::GET, &format!("/v1/bulk/jobs/{id}/upload-url"), key, TENANT, None).await;
    assert_eq!(status, 200, "{link}");
    let put = api.http.put(link["upload_url"].as_str().unwrap()).body("id,name\n1,Ann\n2,Bob\n").send().await.unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    let close = Some(json!({"state": "UploadComplete"}));
    let (status, moved) = api.call(reqwest::Method::PATCH, &format!("/v1/bulk/jobs/{id}"), key, TENANT, close).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(api.done(key, TENANT, &id).await["state"], "JobComplete");
    id
}

/// Stops `up` gracefully (which flushes its spans); its log lines.
fn stop(up: Up) -> Vec<String> {
    let (clean, logs) = up.terminate_with_logs();
    assert!(clean, "spectra up did not stop cleanly");
    logs
}

/// The trace of the job: the one its command was sent in.
fn trace_of(spans: &[Span], job: &str) -> String {
    let sent = spans.iter().find(|s| s.kind == SpanKind::Producer && s.attr("spectra.job.id") == job);
    sent.unwrap_or_else(|| panic!("no send span for {job}: {spans:#?}")).trace_id.clone()
}

/// The one span of the trace that `pick` picks.
fn one<'a>(spans: &'a [Span], trace: &str, pick: impl Fn(&Span) -> bool, shown: &str) -> &'a Span {
    let found: Vec<&Span> = spans.iter().filter(|s| s.trace_id == trace && pick(s)).collect();
    assert!(!found.is_empty(), "not in the trace:\n{shown}");
    found[0]
}

fn moved_to(span: &Span, state: &str) -> bool {
    span.events.iter().any(|(name, attrs)| name == "job moved" && attrs.get("to").is_some_and(|to| to == state))
}

/// The statement's submit is a DB CLIENT span with its id, in the job's trace.
fn assert_statement_span<'a>(spans: &'a [Span], trace: &str, system: &str, shown: &str) -> &'a Span {
    let db = one(spans, trace, |s| s.attr("db.operation.name") == "ExecuteStatement", shown);
    assert_eq!((db.kind, db.attr("db.system.name")), (SpanKind::Client, system));
    assert!(!db.attr("spectra.statement.id").is_empty(), "{db:#?}");
    db
}

/// The command's send (PRODUCER) is the parent of its processing (CONSUMER), which links to
/// the receive (CLIENT) that brought it; all carry the messaging attributes. The send span.
fn assert_messaging<'a>(spans: &'a [Span], trace: &str, system: &str, shown: &str) -> &'a Span {
    let sent = one(spans, trace, |s| s.kind == SpanKind::Producer, shown);
    let queue = sent.attr("messaging.destination.name");
    assert_eq!(sent.name, format!("send {queue}"));
    assert_eq!((sent.attr("messaging.system"), sent.attr("messaging.operation.type")), (system, "send"));
    let id = sent.attr("messaging.message.id");
    assert!(!id.is_empty() && !queue.is_empty(), "{sent:#?}");
    let processed = one(spans, trace, |s| s.kind == SpanKind::Consumer && s.attr("messaging.message.id") == id, shown);
    assert_eq!(processed.parent, sent.span_id, "processing is the send's child:\n{shown}");
    assert_eq!(
        (processed.name.as_str(), processed.attr("messaging.operation.type")),
        (&*format!("process {queue}"), "process")
    );
    let (receive_trace, receive_span) = processed.links.first().unwrap_or_else(|| panic!("no link: {processed:#?}"));
    let receive = spans.iter().find(|s| &s.trace_id == receive_trace && &s.span_id == receive_span).unwrap();
    assert_eq!((receive.kind, receive.attr("messaging.operation.type")), (SpanKind::Client, "receive"));
    assert!(receive.attr("messaging.batch.message_count").parse::<u32>().unwrap() >= 1);
    sent
}

/// The statement's status-change event carries no context: it is processed in a trace of its
/// own, and the job's transition to JobComplete runs under the job's trace, linked to it.
fn assert_statement_event_linked(spans: &[Span], job: &str) {
    let trace = trace_of(spans, job);
    let done = spans.iter().find(|s| s.trace_id == trace && moved_to(s, "JobComplete")).unwrap();
    let (link_trace, link_span) = done.links.first().unwrap_or_else(|| panic!("JobComplete unlinked: {done:#?}"));
    assert_ne!(link_trace, &trace);
    let from = spans.iter().find(|s| &s.span_id == link_span).unwrap();
    assert_eq!(from.kind, SpanKind::Consumer, "linked to the event's processing: {from:#?}");
}

/// Closing the upload is a request of its own (its own trace); the job's move runs in the job's
/// trace, linked to that request.
fn assert_close_linked(spans: &[Span], job: &str) {
    let trace = trace_of(spans, job);
    let closed = spans.iter().find(|s| s.trace_id == trace && moved_to(s, "UploadComplete")).unwrap();
    let linked: Vec<&Span> =
        closed.links.iter().filter_map(|(_, id)| spans.iter().find(|s| &s.span_id == id)).collect();
    assert!(
        linked.iter().any(|s| s.kind == SpanKind::Server && s.name == "PATCH /v1/bulk/jobs/{id}"),
        "{closed:#?} {linked:#?}"
    );
}

/// JSON log lines name the trace and span they were logged in.
fn assert_log_ids(logs: &[String], spans: &[Span], job: &str) {
    let trace = trace_of(spans, job);
    let lines: Vec<Value> = logs.iter().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let created = lines
        .iter()
        .find(|l| l["fields"]["message"] == "job created" && l["fields"]["job"] == job)
        .unwrap_or_else(|| panic!("no 'job created' line for {job}"));
    assert_eq!(created["trace_id"], trace.as_str(), "{created}");
    let span_id = created["span_id"].as_str().unwrap();
    assert!(spans.iter().any(|s| s.span_id == span_id && s.trace_id == trace), "{created}");
}

/// The same on AWS: `spectra api` and `spectra worker` (two processes, told apart by their
/// default service names) on the local stack. The trace crosses SQS, the Data API, DynamoDB
/// and EventBridge, whose SDK calls are CLIENT spans inside it.
#[test]
fn one_job_is_one_trace_through_the_api_and_the_worker_on_the_aws_stack() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let _turn = aws_stack_turn().await;
        let collector = Collector::start().await;
        let env = vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), collector.endpoint.clone()),
            ("OTEL_BSP_SCHEDULE_DELAY".to_owned(), "100".to_owned()),
        ];
        let chain = Chain::start_with(env).await;
        let table = format!("traced_{}", std::process::id());
        chain.sql(&format!("CREATE TABLE {table} AS SELECT i AS id FROM range(1, 11) t(i)")).await;
        let query = format!("SELECT id, '{CANARY}' AS marker FROM {table}");
        let job = chain.create(json!({"operation": "query", "object": table, "query": query})).await;
        assert_eq!(chain.wait_job(&job).await["state"], "JobComplete");
        assert!(tokio::task::spawn_blocking(move || chain.stop()).await.unwrap(), "a process did not stop cleanly");

        let spans = collector.spans();
        let trace = trace_of(&spans, &job);
        let shown = tree(&spans, &trace);
        eprintln!("trace of {job} on the AWS stack:\n{shown}");
        let posted = one(&spans, &trace, |s| s.kind == SpanKind::Server && s.name == "POST /v1/bulk/jobs", &shown);
        assert_eq!((posted.parent.as_str(), posted.service.as_str()), ("", "spectra-api"));
        let sent = assert_messaging(&spans, &trace, "aws_sqs", &shown);
        let sdk_send = one(&spans, &trace, |s| s.name == "SQS/SendMessage", &shown);
        assert_eq!((sdk_send.parent.as_str(), sdk_send.attr("rpc.system")), (sent.span_id.as_str(), "aws-api"));
        let db = assert_statement_span(&spans, &trace, "aws.redshift", &shown);
        assert_eq!(db.service, "spectra-worker");
        let call = one(&spans, &trace, |s| s.attr("rpc.method") == "ExecuteStatement", &shown);
        assert_eq!(call.attr("rpc.service"), "Redshift Data");
        assert_eq!((call.kind, call.parent.as_str()), (SpanKind::Client, db.span_id.as_str()));
        // The job table's writes and the lifecycle events' PutEvents (a batch call, under the
        // first publisher's span) are in the trace too.
        for service in ["DynamoDB", "EventBridge"] {
            one(&spans, &trace, |s| s.attr("rpc.service") == service && s.kind == SpanKind::Client, &shown);
        }
        assert!(spans.iter().any(|s| s.trace_id == trace && moved_to(s, "JobComplete")), "{shown}");
        assert_statement_event_linked(&spans, &job);
        assert!(!format!("{spans:?}").contains(CANARY), "SQL text reached a span");
    });
}
