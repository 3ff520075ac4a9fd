//! `spectra lambda`: the worker as an AWS Lambda function (custom runtime). The Lambda Runtime
//! API hands it one invocation at a time: an SQS batch from the work queue's event source
//! mapping — each message through the worker's own handlers ([`invocation::handle_batch`]),
//! answered with the failed ones (`ReportBatchItemFailures`) — or an EventBridge schedule's
//! tick, answered after one reconciler sweep. Before answering, it sends what it batched in
//! memory (lifecycle events, spans, metrics): the environment may be frozen right after.

mod event;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Value, json};
use spectra::app::{ApiConfig, App};
use spectra::telemetry::otlp::Flusher;
use spectra_worker::consumer::ConsumerConfig;
use spectra_worker::handler::Worker;
use spectra_worker::platform::Settings;
use spectra_worker::{invocation, reconciler, trace};
use tracing::Instrument;

use self::event::{Invocation, PayloadError};
use crate::cli::LambdaArgs;
use crate::layers::Layers;
use crate::serve;

/// The variables the Lambda service sets for a custom runtime, which the runtime client reads
/// (and would panic without): checked first, so that a wrong start says which is missing.
const RUNTIME_VARIABLES: [&str; 4] = [
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

/// What every invocation works with.
struct Function {
    app: App,
    handler: Arc<Worker>,
    consumer: ConsumerConfig,
    telemetry: Flusher,
}

/// Connects (the same settings and start-up checks as `spectra worker`), then serves
/// invocations until the Runtime API goes away.
pub async fn run(args: LambdaArgs, layers: &Layers, telemetry: Flusher) -> anyhow::Result<ExitCode> {
    check_environment(|name| std::env::var(name).ok())?;
    if args.worker.inject_faults.any() {
        anyhow::bail!("--inject-faults is for `spectra chaos` drills, not a Lambda function");
    }
    let settings = serve::settings(&args.worker, Settings::default());
    let config = serve::worker_config(&args.worker);
    let app = crate::aws_mode::connect(layers, settings, config.clone(), ApiConfig::default()).await?;
    let function = Arc::new(Function { handler: app.message_handler(), app, consumer: config.consumer, telemetry });
    tracing::info!("lambda function ready");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let function = function.clone();
        async move { function.invoke(event).await }
    }))
    .await
    .map_err(|e| anyhow::anyhow!(e))
    .context("the Lambda runtime stopped")?;
    Ok(ExitCode::SUCCESS)
}

/// Every Runtime API variable is set, and the memory size is a number.
fn check_environment(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
    for name in RUNTIME_VARIABLES {
        if get(name).is_none_or(|v| v.is_empty()) {
            anyhow::bail!(
                "{name} is not set: `spectra lambda` runs inside AWS Lambda (or under a Runtime API emulator), which sets it"
            );
        }
    }
    let memory = get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").unwrap_or_default();
    memory
        .parse::<i32>()
        .map(|_| ())
        .with_context(|| format!("AWS_LAMBDA_FUNCTION_MEMORY_SIZE={memory} is not a number"))
}

impl Function {
    /// One invocation; flushes what is batched (its own span included) before answering.
    async fn invoke(&self, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
        let deadline = deadline_of(event.context.deadline);
        let answer = self.traced(event, deadline).await;
        // Bounded by the deadline too: an invocation that answers late is failed as a whole by
        // Lambda, and its whole batch would come back.
        let flushed = async {
            self.app.flush_events().await;
            self.telemetry.flush().await;
        };
        if tokio::time::timeout_at(deadline, flushed).await.is_err() {
            tracing::warn!("events or telemetry still flushing at the deadline; answering without them");
        }
        answer.map_err(|e| Diagnostic { error_type: "Spectra.UnknownPayload".into(), error_message: e.to_string() })
    }

    /// The answer, in the invocation's span — closed when this returns, so that the flush
    /// exports it with the rest rather than at the next invocation.
    async fn traced(&self, event: LambdaEvent<Value>, deadline: tokio::time::Instant) -> Result<Value, PayloadError> {
        let context = event.context;
        let span = tracing::info_span!(
            "invocation",
            otel.name = tracing::field::Empty,
            otel.kind = "server",
            faas.invocation_id = %context.request_id,
            faas.trigger = tracing::field::Empty,
        );
        trace::name(&span, || context.env_config.function_name.clone());
        let answer = self.answer(event.payload, deadline, &span).instrument(span.clone()).await;
        if let Err(e) = &answer {
            tracing::error!(parent: &span, error = %e, "invocation refused");
        }
        answer
    }

    async fn answer(
        &self,
        payload: Value,
        deadline: tokio::time::Instant,
        span: &tracing::Span,
    ) -> Result<Value, PayloadError> {
        match event::parse(payload)? {
            Invocation::Batch(messages) => {
                span.record("faas.trigger", "pubsub");
                let (queue, n) = (self.app.platform.queue.clone(), messages.len());
                let handler = self.handler.clone();
                let linked = trace::span_context_of(span);
                let failed =
                    invocation::handle_batch(queue, handler, &self.consumer, messages, deadline, &linked).await;
                tracing::info!(messages = n, failed = failed.len(), "batch handled");
                // `SqsBatchResponse`'s shape, built directly: no fallible serialisation whose
                // fallback could report a failed message as done.
                let failures: Vec<Value> = failed.into_iter().map(|id| json!({"itemIdentifier": id})).collect();
                Ok(json!({ "batchItemFailures": failures }))
            }
            Invocation::Schedule => {
                span.record("faas.trigger", "timer");
                let swept = reconciler::sweep(&self.app.platform).await;
                spectra_worker::metrics::swept(swept.as_ref().ok().copied());
                match swept {
                    Ok(stale) => Ok(json!({"reconciling": stale})),
                    Err(e) => {
                        // The next tick sweeps again: a failed sweep is logged, not retried.
                        tracing::warn!(error = %e, "reconciler sweep failed");
                        Ok(json!({"reconciling": null, "error": e.to_string()}))
                    }
                }
            }
        }
    }
}

/// The invocation's deadline (milliseconds since the epoch, as the Runtime API gives it) on
/// Tokio's clock.
fn deadline_of(epoch_ms: u64) -> tokio::time::Instant {
    let now_ms = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_millis();
    let left = u64::try_from(u128::from(epoch_ms).saturating_sub(now_ms)).unwrap_or(u64::MAX);
    tokio::time::Instant::now() + Duration::from_millis(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_runtime_variable_is_named() {
        let all = |name: &str| Some(if name.ends_with("MEMORY_SIZE") { "512".into() } else { "x".into() });
        assert!(check_environment(all).is_ok());
        let without = |name: &str| (name != "AWS_LAMBDA_FUNCTION_VERSION").then(|| all(name)).flatten();
        let e = check_environment(without).unwrap_err().to_string();
        assert!(e.starts_with("AWS_LAMBDA_FUNCTION_VERSION is not set"), "{e}");
        let words = |name: &str| Some(if name.ends_with("MEMORY_SIZE") { "lots".into() } else { "x".into() });
        assert!(check_environment(words).unwrap_err().to_string().contains("is not a number"));
    }
}
