//! OTLP export of traces and metrics, configured by the standard OpenTelemetry variables:
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or the `_TRACES_` / `_METRICS_` ones) turns it on;
//! `OTEL_EXPORTER_OTLP_HEADERS`, `_TIMEOUT`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_TRACES_SAMPLER(_ARG)`, `OTEL_METRIC_EXPORT_INTERVAL` are read by the SDK as specified;
//! `OTEL_TRACES_EXPORTER=none` / `OTEL_METRICS_EXPORTER=none` / `OTEL_SDK_DISABLED=true` turn a
//! signal off. Unset, nothing is built: no exporter, no OpenTelemetry layer, no cost.
//!
//! Export runs in Tokio tasks with the async HTTP client (HTTP/protobuf), never a blocking
//! client on the runtime's threads; spans are batched. [`Exporting::shutdown`] flushes both.

use std::time::Duration;

use opentelemetry::{Key, KeyValue};
use opentelemetry_otlp::{MetricExporter, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::periodic_reader_with_async_runtime::PeriodicReader;
use opentelemetry_sdk::runtime::Tokio;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use thiserror::Error;
use tracing::Subscriber;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

/// The only protocol this build speaks (no gRPC stack is linked).
const HTTP_PROTOBUF: &str = "http/protobuf";

/// How long a flush at exit may take before the process stops waiting for the collector.
const FLUSH_DEADLINE: Duration = Duration::from_secs(5);

/// A telemetry setting that cannot be honoured.
#[derive(Debug, Error)]
pub enum TelemetryError {
    /// A protocol other than HTTP/protobuf was asked for.
    #[error("{variable}={value:?} is not supported by this build; use {HTTP_PROTOBUF} (the OTLP/HTTP port, 4318)")]
    Protocol {
        /// The variable that asked.
        variable: &'static str,
        /// What it asked for.
        value: String,
    },
    /// The exporter refused its configuration (a bad endpoint, an unknown compression, ...).
    #[error("the OTLP exporter cannot be built: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// Which signals are exported, read from the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Signals {
    /// Spans go to `<endpoint>/v1/traces`.
    pub traces: bool,
    /// Metrics go to `<endpoint>/v1/metrics` (besides `/metrics`, which is always served).
    pub metrics: bool,
}

impl Signals {
    /// The signals `lookup` (the environment) turns on; an error for a protocol we lack.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, TelemetryError> {
        let set = |name: &str| lookup(name).is_some_and(|v| !v.trim().is_empty());
        if lookup("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return Ok(Self::default());
        }
        let off = |name: &str| lookup(name).is_some_and(|v| v.trim().eq_ignore_ascii_case("none"));
        let common = set("OTEL_EXPORTER_OTLP_ENDPOINT");
        let signals = Self {
            traces: (common || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) && !off("OTEL_TRACES_EXPORTER"),
            metrics: (common || set("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")) && !off("OTEL_METRICS_EXPORTER"),
        };
        for variable in
            ["OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"]
        {
            match lookup(variable) {
                Some(value) if value.trim() != HTTP_PROTOBUF && (signals.traces || signals.metrics) => {
                    return Err(TelemetryError::Protocol { variable, value });
                }
                _ => {}
            }
        }
        Ok(signals)
    }
}

/// What is being exported; flush it with [`Exporting::shutdown`] before the process exits.
#[derive(Debug, Default)]
pub struct Exporting {
    tracer: Option<SdkTracerProvider>,
}

impl Exporting {
    /// The span exporter's provider, when traces are exported.
    pub fn tracer_provider(&self) -> Option<&SdkTracerProvider> {
        self.tracer.as_ref()
    }

    /// Sends what is still batched and stops the exporters (bounded by [`FLUSH_DEADLINE`]).
    pub async fn shutdown(self) {
        let flush = tokio::task::spawn_blocking(move || {
            if let Some(tracer) = &self.tracer
                && let Err(e) = tracer.shutdown_with_timeout(FLUSH_DEADLINE)
            {
                tracing::warn!(error = %e, "could not flush the spans");
            }
            super::shutdown_metrics();
        });
        if tokio::time::timeout(FLUSH_DEADLINE * 2, flush).await.is_err() {
            tracing::warn!("telemetry was still flushing at its deadline; exiting without it");
        }
    }
}

/// Sends what is batched now without stopping the exporters: a Lambda function's environment
/// may be frozen (or never thawed) once an invocation has answered, so each invocation flushes
/// before it returns.
#[derive(Debug, Clone, Default)]
pub struct Flusher {
    tracer: Option<SdkTracerProvider>,
}

impl Exporting {
    /// A handle that flushes these exporters (cheap to clone).
    pub fn flusher(&self) -> Flusher {
        Flusher { tracer: self.tracer.clone() }
    }
}

impl Flusher {
    /// Exports the batched spans and the metrics (bounded by [`FLUSH_DEADLINE`]).
    pub async fn flush(&self) {
        let tracer = self.tracer.clone();
        let flush = tokio::task::spawn_blocking(move || {
            if let Some(tracer) = &tracer
                && let Err(e) = tracer.force_flush()
            {
                tracing::warn!(error = %e, "could not flush the spans");
            }
            super::flush_metrics();
        });
        if tokio::time::timeout(FLUSH_DEADLINE * 2, flush).await.is_err() {
            tracing::warn!("telemetry was still flushing at its deadline; answering without it");
        }
    }
}

/// The resource every signal describes: the variables' `service.name` and attributes, or
/// `service.name=<default_name>` (`spectra-worker`, `spectra-api`, ...: the command, so that the
/// API and its workers are told apart); `service.version` this build's.
pub fn resource(default_name: &str) -> Resource {
    let detected = Resource::builder().build();
    let named =
        detected.get(&Key::from_static_str("service.name")).is_some_and(|v| !v.as_str().starts_with("unknown_service"));
    let builder = Resource::builder().with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    if named { builder.build() } else { builder.with_service_name(default_name.to_owned()).build() }
}

/// Builds the span exporter and its batch processor on the current Tokio runtime; spans go to
/// `endpoint` when given (a full `/v1/traces` URL), else where the variables say.
pub fn traces(resource: Resource, endpoint: Option<&str>) -> Result<Exporting, TelemetryError> {
    let mut builder = SpanExporter::builder().with_http().with_protocol(opentelemetry_otlp::Protocol::HttpBinary);
    if let Some(endpoint) = endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    let exporter = builder.build()?;
    let processor = BatchSpanProcessor::builder(exporter, Tokio).build();
    let provider = SdkTracerProvider::builder().with_span_processor(processor).with_resource(resource).build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    Ok(Exporting { tracer: Some(provider) })
}

/// The crates whose spans and events are exported as traces.
const TRACED: [&str; 7] = [
    "spectra",
    "spectra_worker",
    "spectra_api",
    "spectra_aws",
    "spectra_local",
    "spectra_warehouse",
    "spectra_emulator",
];

/// The layer that turns Spectra's `tracing` spans (and events, as span events) at `info` and
/// above into OpenTelemetry spans, whatever `RUST_LOG` says about log lines.
pub fn trace_layer<S>(tracer: SdkTracer) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let targets = TRACED.iter().fold(Targets::new(), |t, name| t.with_target(*name, LevelFilter::INFO));
    tracing_opentelemetry::layer().with_tracer(tracer).with_filter(targets)
}

/// The periodic reader that pushes metrics over OTLP, on the current Tokio runtime.
pub fn metrics_reader() -> Result<PeriodicReader<MetricExporter>, TelemetryError> {
    let exporter =
        MetricExporter::builder().with_http().with_protocol(opentelemetry_otlp::Protocol::HttpBinary).build()?;
    Ok(PeriodicReader::builder(exporter, Tokio).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signals(vars: &[(&str, &str)]) -> Result<Signals, TelemetryError> {
        Signals::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn nothing_is_exported_without_an_endpoint() {
        assert_eq!(signals(&[]).unwrap(), Signals::default());
        // A protocol alone turns nothing on, so it is not checked either.
        assert_eq!(signals(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).unwrap(), Signals::default());
    }

    #[test]
    fn the_endpoints_and_exporters_choose_the_signals() {
        let both = Signals { traces: true, metrics: true };
        assert_eq!(signals(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")]).unwrap(), both);
        let traces = signals(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/v1/traces")]).unwrap();
        assert_eq!(traces, Signals { traces: true, metrics: false });
        let no_metrics =
            signals(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_METRICS_EXPORTER", "none")]).unwrap();
        assert_eq!(no_metrics, Signals { traces: true, metrics: false });
        let disabled =
            signals(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_SDK_DISABLED", "true")]).unwrap();
        assert_eq!(disabled, Signals::default());
    }

    #[test]
    fn a_protocol_this_build_lacks_is_refused_by_name() {
        let err = signals(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")])
            .unwrap_err();
        assert!(err.to_string().contains("OTEL_EXPORTER_OTLP_PROTOCOL=\"grpc\" is not supported"), "{err}");
        assert!(
            signals(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
            ])
            .is_ok()
        );
    }
}
