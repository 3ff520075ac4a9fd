//! Metrics for operators: the OpenTelemetry meter provider every instrument of this process
//! records into (the worker's job counters, the API's request durations), and its contents as
//! Prometheus text at `GET /metrics`. Instruments are made on first use from the provider
//! installed by then, so the binary installs it before anything else runs.

mod prometheus;

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, ManualReader, Pipeline, SdkMeterProvider, Temporality};

/// The installed provider and the reader `/metrics` collects through.
pub struct Metrics {
    _provider: SdkMeterProvider,
    reader: Arc<ManualReader>,
}

static INSTALLED: OnceLock<Metrics> = OnceLock::new();

/// Installs this process's meter provider as the global one (once; later calls keep the
/// first). Call it before anything records: an instrument made earlier stays a no-op.
pub fn install() -> &'static Metrics {
    INSTALLED.get_or_init(|| {
        let reader = Arc::new(ManualReader::builder().build());
        let provider = SdkMeterProvider::builder().with_reader(Shared(Arc::clone(&reader))).build();
        opentelemetry::global::set_meter_provider(provider.clone());
        Metrics { _provider: provider, reader }
    })
}

/// Everything recorded so far, as Prometheus text (cumulative; empty when nothing is installed).
pub fn prometheus_text() -> String {
    let Some(metrics) = INSTALLED.get() else { return String::new() };
    let mut collected = ResourceMetrics::default();
    if let Err(e) = metrics.reader.collect(&mut collected) {
        tracing::warn!(error = %e, "could not collect the metrics");
        return String::new();
    }
    prometheus::render(&collected)
}

/// `GET /metrics`. It names no tenant, job or key (the labels are bounded sets), so it is served
/// without credentials, as Prometheus scrapes; keep the listener where only operators reach it.
pub fn routes() -> Router {
    Router::new().route("/metrics", get(serve))
}

async fn serve() -> Response {
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], prometheus_text()).into_response()
}

/// The reader, shared between the provider (which owns its readers) and `/metrics`.
#[derive(Debug)]
struct Shared(Arc<ManualReader>);

impl MetricReader for Shared {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline);
    }
    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}
