//! The consumer's spans, as the OpenTelemetry messaging conventions name them: a `receive`
//! span (CLIENT) for each receive call that brought messages, and a `process` span (CONSUMER)
//! for each message, a child of the context the message was sent with (the producer's send
//! span) and linked to the receive that brought it.

use std::time::SystemTime;

use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, SpanContext, SpanKind, Tracer as _};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::ports::{Queue, ReceivedMessage};
use crate::trace;

/// Records a receive call that started at `started` and brought `count` messages; returns its
/// context for the process spans to link to. Built after the fact with its real start, so that
/// the empty long polls of an idle worker make no spans at all.
pub fn received(queue: &dyn Queue, count: usize, started: SystemTime) -> SpanContext {
    if !trace::enabled() || count == 0 {
        return SpanContext::empty_context();
    }
    let tracer = opentelemetry::global::tracer(crate::metrics::METER);
    let name = queue.destination().to_owned();
    let mut span = tracer
        .span_builder(format!("receive {name}"))
        .with_kind(SpanKind::Client)
        .with_start_time(started)
        .with_attributes([
            KeyValue::new("messaging.system", queue.system()),
            KeyValue::new("messaging.operation.type", "receive"),
            KeyValue::new("messaging.operation.name", "receive"),
            KeyValue::new("messaging.destination.name", name),
            KeyValue::new("messaging.batch.message_count", i64::try_from(count).unwrap_or(i64::MAX)),
        ])
        .start_with_context(&tracer, &opentelemetry::Context::new());
    let context = span.span_context().clone();
    span.end();
    context
}

/// The span `message` is handled and settled in.
pub fn process(queue: &dyn Queue, message: &ReceivedMessage, received: &SpanContext) -> Span {
    let name = queue.destination();
    let span = tracing::info_span!(
        "message",
        otel.name = tracing::field::Empty,
        otel.kind = "consumer",
        messaging.system = queue.system(),
        messaging.operation.type = "process",
        messaging.operation.name = "process",
        messaging.destination.name = name,
        messaging.message.id = %message.id,
        id = %message.id,
        receive_count = message.receive_count,
    );
    trace::name(&span, || format!("process {name}"));
    if trace::enabled() {
        let sent_in =
            message.attributes.get("traceparent").and_then(|v| spectra_state_machine::TraceParent::parse(v).ok());
        trace::set_parent(&span, sent_in.as_ref());
        if received.is_valid() {
            span.add_link(received.clone());
        }
    }
    span
}
