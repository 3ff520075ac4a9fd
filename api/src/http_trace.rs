//! The HTTP server span of each request, as the OpenTelemetry HTTP conventions name it
//! (`{method} {route}`, kind SERVER, `http.request.method`, `http.route`, `url.path`,
//! `http.response.status_code`). A caller's `traceparent` header makes it a child of the
//! caller's span; a job created in the request stores the request's context, so the job's
//! whole trace starts here.

use axum::extract::{MatchedPath, Request};
use spectra_worker::messages::TraceParent;
use tracing::Span;

/// The span `request` is served in; `id` is its request id.
pub(crate) fn server_span(request: &Request, id: &str) -> Span {
    let method = request.method().as_str();
    let route = request.extensions().get::<MatchedPath>().map(MatchedPath::as_str);
    let span = tracing::info_span!(
        "request",
        otel.name = tracing::field::Empty,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        id = %id,
        method = %method,
        path = %request.uri().path(),
        http.request.method = %method,
        http.route = route,
        url.path = %request.uri().path(),
        url.scheme = "http",
        http.response.status_code = tracing::field::Empty,
    );
    spectra_worker::trace::name(&span, || match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    });
    let parent =
        request.headers().get("traceparent").and_then(|v| v.to_str().ok()).and_then(|v| TraceParent::parse(v).ok());
    spectra_worker::trace::set_parent(&span, parent.as_ref());
    span
}

/// Records the response's status on the span (a 5xx marks it failed, as the conventions say;
/// a 4xx is the client's error, not the server's).
pub(crate) fn finish(span: &Span, status: u16) {
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
}
