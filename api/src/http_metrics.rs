//! `http.server.request.duration` (seconds) by route, method and status, as the OpenTelemetry
//! semantic conventions name it; on the global meter provider (a no-op until the binary
//! installs one). The route is the matched template (`/v1/bulk/jobs/{id}`), never the path, so
//! the labels stay bounded.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::KeyValue;
use opentelemetry::metrics::Histogram;

/// Bucket bounds (seconds): sub-millisecond reads up to long synchronous queries.
const BOUNDS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0];

fn duration() -> &'static Histogram<f64> {
    static DURATION: OnceLock<Histogram<f64>> = OnceLock::new();
    DURATION.get_or_init(|| {
        opentelemetry::global::meter(spectra_worker::metrics::METER)
            .f64_histogram("http.server.request.duration")
            .with_description("Duration of API requests")
            .with_unit("s")
            .with_boundaries(BOUNDS.to_vec())
            .build()
    })
}

/// Times a request to its response (headers ready; a streamed body is not included).
pub(crate) async fn record(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let labels = [
        KeyValue::new("http.route", route),
        KeyValue::new("http.request.method", method),
        KeyValue::new("http.response.status_code", i64::from(response.status().as_u16())),
    ];
    duration().record(started.elapsed().as_secs_f64(), &labels);
    response
}
