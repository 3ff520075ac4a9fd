//! Telemetry for operators. Metrics: the OpenTelemetry meter provider every instrument of this process
//! records into (the worker's job counters, the API's request durations), and its contents as
//! Prometheus text at `GET /metrics`. Instruments are made on first use from the provider
//! installed by then, so the binary installs it before anything else runs.

pub mod otlp;
mod prometheus;

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use opentelemetry_otlp::MetricExporter;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::periodic_reader_with_async_runtime::PeriodicReader;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, ManualReader, Pipeline, SdkMeterProvider, Temporality};

/// The installed provider and the reader `/metrics` collects through.
pub struct Metrics {
    provider: SdkMeterProvider,
    reader: Arc<ManualReader>,
}

static INSTALLED: OnceLock<Metrics> = OnceLock::new();

/// Installs this process's meter provider as the global one (once; later calls keep the
/// first), read by `/metrics` and, when given, pushed by `push` (OTLP). Call it before anything
/// records: an instrument made earlier stays a no-op.
pub fn install(push: Option<PeriodicReader<MetricExporter>>, resource: Resource) -> &'static Metrics {
    INSTALLED.get_or_init(|| {
        let reader = Arc::new(ManualReader::builder().build());
        let mut builder = SdkMeterProvider::builder().with_resource(resource).with_reader(Shared(Arc::clone(&reader)));
        if let Some(push) = push {
            builder = builder.with_reader(push);
        }
        let provider = builder.build();
        opentelemetry::global::set_meter_provider(provider.clone());
        Metrics { provider, reader }
    })
}

/// Pushes the metrics now (when exported), the provider running on.
fn flush_metrics() {
    if let Some(metrics) = INSTALLED.get()
        && let Err(e) = metrics.provider.force_flush()
    {
        tracing::debug!(error = %e, "metrics flush");
    }
}

/// Pushes the last metrics (when exported) and stops the provider; called once, at exit.
fn shutdown_metrics() {
    if let Some(metrics) = INSTALLED.get()
        && let Err(e) = metrics.provider.shutdown()
    {
        tracing::debug!(error = %e, "metrics provider shutdown");
    }
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

/// `GET /metrics`. Its labels are bounded sets (the tenant label names the first 100 tenants,
/// then `other`; never a job or key), and it is served without credentials, as Prometheus
/// scrapes: tenant ids are in it, so keep the listener where only operators reach it.
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
