//! Logs go to stderr (stdout is for command output): as text, coloured only when stderr is a
//! terminal (a file or a collector gets no ANSI codes), or as one JSON object per line
//! (`--log-format json`) for log collectors, with the fields of the spans a line was logged in
//! (the request id and method of an API request, the message id of a worker's message) and,
//! when traces are exported, the `trace_id` and `span_id` the line belongs to.
//!
//! When traces are exported, the same subscriber feeds the OpenTelemetry layer: Spectra's own
//! spans and events at `info` and above, whatever `RUST_LOG` says about the log lines.

use std::fmt;
use std::io::IsTerminal;

use opentelemetry_sdk::trace::SdkTracer;
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::{FmtContext, format};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines; ANSI colours only on a terminal.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields` (with `message`),
    /// `span` and `spans` (the fields of the enclosing spans), and `trace_id` / `span_id` when
    /// traces are exported.
    Json,
}

/// Installs the process's subscriber: the log lines (`RUST_LOG` overrides `default_level`)
/// and, given a tracer, the OpenTelemetry layer.
pub fn init(format: LogFormat, default_level: &str, tracer: Option<SdkTracer>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let lines = match format {
        LogFormat::Text => lines.with_ansi(std::io::stderr().is_terminal()).boxed(),
        LogFormat::Json => {
            let json = format::format().json().with_current_span(true).with_span_list(true);
            lines.json().event_format(WithTraceIds(json)).boxed()
        }
    };
    let traces = tracer.map(spectra::telemetry::otlp::trace_layer);
    Registry::default().with(lines.with_filter(filter)).with(traces).init();
}

/// A JSON event format with the line's `trace_id` and `span_id` first (when traces are on).
struct WithTraceIds<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let here = spectra_worker::trace::span_context_of(&tracing::Span::current());
        if !here.is_valid() {
            return self.0.format_event(ctx, writer, event);
        }
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            Some(rest) => {
                write!(writer, "{{\"trace_id\":\"{}\",\"span_id\":\"{}\",{rest}", here.trace_id(), here.span_id())
            }
            None => writer.write_str(&line),
        }
    }
}
