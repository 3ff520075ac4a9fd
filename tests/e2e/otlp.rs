//! A real OTLP/HTTP collector for the tests: `POST /v1/traces` and `POST /v1/metrics` with
//! protobuf bodies, decoded with the OpenTelemetry project's own message definitions
//! (`opentelemetry-proto`), kept for the test to read.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;

/// One received span, flattened for assertions.
#[derive(Debug, Clone)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    pub parent: String,
    pub name: String,
    pub kind: SpanKind,
    pub attributes: BTreeMap<String, String>,
    /// `(name, attributes)` of each event.
    pub events: Vec<(String, BTreeMap<String, String>)>,
    /// `(trace id, span id)` of each link.
    pub links: Vec<(String, String)>,
    /// The resource's `service.name`.
    pub service: String,
}

impl Span {
    /// An attribute, `""` when absent.
    pub fn attr(&self, key: &str) -> &str {
        self.attributes.get(key).map_or("", String::as_str)
    }
}

#[derive(Default)]
struct Received {
    spans: Vec<Span>,
    metric_names: Vec<String>,
}

/// The collector, serving on a port of its own while the test's runtime runs (a multi-thread
/// runtime: it answers while the test blocks).
pub struct Collector {
    pub endpoint: String,
    received: Arc<Mutex<Received>>,
}

impl Collector {
    /// Starts a collector on 127.0.0.1.
    pub async fn start() -> Self {
        let received = Arc::new(Mutex::new(Received::default()));
        let app = Router::new()
            .route("/v1/traces", post(traces))
            .route("/v1/metrics", post(metrics))
            .with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { endpoint, received }
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Span> {
        self.received.lock().unwrap().spans.clone()
    }

    /// The names of the metrics received so far (each export's, deduplicated, sorted).
    pub fn metric_names(&self) -> Vec<String> {
        let mut names = self.received.lock().unwrap().metric_names.clone();
        names.sort();
        names.dedup();
        names
    }
}

async fn traces(State(received): State<Arc<Mutex<Received>>>, body: Bytes) -> StatusCode {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else { return StatusCode::BAD_REQUEST };
    let mut spans = Vec::new();
    for resource_spans in request.resource_spans {
        let resource = resource_spans.resource.map(|r| attributes(&r.attributes)).unwrap_or_default();
        let service = resource.get("service.name").cloned().unwrap_or_default();
        for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
            spans.push(Span {
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent: hex(&span.parent_span_id),
                kind: SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified),
                attributes: attributes(&span.attributes),
                events: span.events.iter().map(|e| (e.name.clone(), attributes(&e.attributes))).collect(),
                links: span.links.iter().map(|l| (hex(&l.trace_id), hex(&l.span_id))).collect(),
                name: span.name,
                service: service.clone(),
            });
        }
    }
    received.lock().unwrap().spans.extend(spans);
    StatusCode::OK
}

async fn metrics(State(received): State<Arc<Mutex<Received>>>, body: Bytes) -> StatusCode {
    let Ok(request) = ExportMetricsServiceRequest::decode(body) else { return StatusCode::BAD_REQUEST };
    let names = request.resource_metrics.into_iter().flat_map(|r| r.scope_metrics).flat_map(|s| s.metrics);
    received.lock().unwrap().metric_names.extend(names.map(|m| m.name));
    StatusCode::OK
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter().map(|kv| (kv.key.clone(), kv.value.as_ref().map(text).unwrap_or_default())).collect()
}

fn text(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

/// The spans as an indented tree (`name [kind] key=value ...`), for failure messages and the
/// closing note.
pub fn tree(spans: &[Span], trace_id: &str) -> String {
    let in_trace: Vec<&Span> = spans.iter().filter(|s| s.trace_id == trace_id).collect();
    let mut out = String::new();
    let roots = in_trace.iter().filter(|s| !in_trace.iter().any(|p| p.span_id == s.parent));
    for root in roots {
        branch(&in_trace, root, 0, &mut out);
    }
    out
}

fn branch(spans: &[&Span], span: &Span, depth: usize, out: &mut String) {
    let shown = ["http.route", "messaging.destination.name", "db.system.name", "rpc.method", "spectra.job.id"];
    let attrs: Vec<String> =
        shown.iter().filter(|k| span.attributes.contains_key(**k)).map(|k| format!("{k}={}", span.attr(k))).collect();
    let links = if span.links.is_empty() { String::new() } else { format!(" links={}", span.links.len()) };
    let moved: Vec<&str> = span
        .events
        .iter()
        .filter(|(n, _)| n == "job moved")
        .map(|(_, a)| a.get("to").map_or("", String::as_str))
        .collect();
    let moved = if moved.is_empty() { String::new() } else { format!(" moved→{}", moved.join(",")) };
    out.push_str(&format!(
        "{}{} [{}] {}{links}{moved}\n",
        "  ".repeat(depth),
        span.name,
        span.kind.as_str_name(),
        attrs.join(" ")
    ));
    for child in spans.iter().filter(|c| c.parent == span.span_id) {
        branch(spans, child, depth + 1, out);
    }
}
