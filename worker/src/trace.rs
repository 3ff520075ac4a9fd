//! Traces across a job's life: one job, one trace.
//!
//! A job is created in some span (an API request's, a CLI command's); its context is stored on
//! the record (`JobHeader::traceparent`) and sent with every command message. Work that arrives
//! with the job's context (a command) continues as its child. Work that arrives without one (a
//! statement's status-change event, which Redshift sends with no context; a sweep of the
//! reconciler; a later API request that closes or aborts the job) runs the job's transition in
//! a span under the stored context, linked to the span it came from: the trace of a job holds
//! everything from the POST to JobComplete, and each delivery can still be followed to it.
//!
//! Spans are `tracing` spans, bridged to OpenTelemetry by the binary when an exporter is
//! configured ([`enable`]); off, no context exists, nothing extra is built, and the
//! `traceparent` a job was created with (if any) is passed on unchanged.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use spectra_state_machine::{Job, TraceParent};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Marks traces as exported: the binary calls it once it has installed the OpenTelemetry layer.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether spans are exported (an OpenTelemetry layer is installed).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The current span's OpenTelemetry context, for spans made with the OpenTelemetry API
/// directly (an AWS SDK call's); empty when tracing is off.
pub fn current_context() -> Context {
    if !enabled() {
        return Context::new();
    }
    Span::current().context()
}

/// Names `span` for OpenTelemetry (its `otel.name`, declared `Empty`), only when traces are
/// exported: the names are formatted per request and per message, which logs do not need.
pub fn name(span: &Span, name: impl FnOnce() -> String) {
    if enabled() {
        span.record("otel.name", name());
    }
}

/// The OpenTelemetry context of `span` (invalid when tracing is off).
pub fn span_context_of(span: &Span) -> SpanContext {
    if !enabled() {
        return SpanContext::empty_context();
    }
    span.context().span().span_context().clone()
}

/// `span`'s context as a `traceparent`; `None` when tracing is off.
pub fn traceparent_of(span: &Span) -> Option<TraceParent> {
    let sc = span_context_of(span);
    if !sc.is_valid() {
        return None;
    }
    let value = format!("00-{}-{}-{:02x}", sc.trace_id(), sc.span_id(), sc.trace_flags().to_u8());
    TraceParent::parse(&value).ok()
}

/// The current span's context as a `traceparent`; `None` when tracing is off.
pub fn current() -> Option<TraceParent> {
    traceparent_of(&Span::current())
}

/// The remote span context a `traceparent` names.
pub fn remote(tp: &TraceParent) -> Option<SpanContext> {
    let mut parts = tp.as_str().split('-');
    let (_version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let flags = TraceFlags::new(u8::from_str_radix(flags, 16).ok()?);
    let sc = SpanContext::new(
        TraceId::from_hex(trace).ok()?,
        SpanId::from_hex(span).ok()?,
        flags,
        true,
        TraceState::default(),
    );
    sc.is_valid().then_some(sc)
}

/// Makes `tp` the parent of `span` (which must not have been entered yet).
pub fn set_parent(span: &Span, tp: Option<&TraceParent>) {
    if !enabled() {
        return;
    }
    if let Some(sc) = tp.and_then(remote) {
        // Fails only when the span was already started; the span then keeps its own parent.
        let _ = span.set_parent(Context::new().with_remote_span_context(sc));
    }
}

/// What a message about `job` carries: the current span's context, or without tracing the one
/// the caller was given or the job was created with.
pub fn outgoing(job: &Job, given: Option<&TraceParent>) -> Option<TraceParent> {
    current().or_else(|| given.cloned()).or_else(|| job.header().traceparent.clone())
}

/// A span to run work on `job` in when the current span is in another trace (or none): a
/// child of the job's stored context, linked to the current span. `None` when the current
/// span already belongs to the job's trace, the job has no trace, or tracing is off.
pub fn job_span(job: &Job, work: &'static str) -> Option<Span> {
    let stored = job.header().traceparent.as_ref().filter(|_| enabled()).and_then(remote)?;
    let here = span_context_of(&Span::current());
    if here.is_valid() && here.trace_id() == stored.trace_id() {
        return None;
    }
    let span = tracing::info_span!(
        "job work",
        otel.name = work,
        otel.kind = "internal",
        spectra.job.id = %job.job_id(),
        spectra.tenant.id = %job.tenant_id(),
    );
    let _ = span.set_parent(Context::new().with_remote_span_context(stored));
    if here.is_valid() {
        span.add_link(here);
    }
    Some(span)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_names_its_remote_context() {
        let tp = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        let sc = remote(&tp).unwrap();
        assert_eq!(sc.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
        assert!(sc.is_sampled() && sc.is_remote());
        let unsampled = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap();
        assert!(!remote(&unsampled).unwrap().is_sampled());
    }
}
