//! Every AWS request this process sends, counted by service and operation.
//!
//! What a job costs in AWS calls is a design figure (the issue of fast paths sets a budget per
//! export job), and it is counted where it happens: an SDK interceptor on every client, which
//! sees each attempt, retries included. `spectra worker` and `spectra api` log the counts when
//! they stop; the AWS-stack benchmark divides them by the jobs it ran.
//!
//! A second interceptor makes each call a CLIENT span (when traces are exported), named and
//! attributed as the OpenTelemetry AWS SDK conventions say: `SQS/SendMessage`,
//! `rpc.system=aws-api`, `rpc.service`, `rpc.method`; retries are inside the one span.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use opentelemetry::KeyValue;
use opentelemetry::global::BoxedSpan;
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// Requests sent so far, by `Service.Operation`.
static CALLS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

/// The interceptor every client of the adapters is built with.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountCalls;

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "CountCalls"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name =
            cfg.load::<Metadata>().map_or_else(|| "unknown".to_owned(), |m| format!("{}.{}", m.service(), m.name()));
        // A counter map holds no invariant a panicking holder could break.
        *CALLS.lock().unwrap_or_else(PoisonError::into_inner).entry(name).or_default() += 1;
        Ok(())
    }
}

/// The interceptor that makes each call a client span, a child of the current `tracing` span.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceCalls;

/// The open span of one call, kept in the call's config bag between the two hooks.
struct CallSpan(Mutex<Option<BoxedSpan>>);

impl fmt::Debug for CallSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallSpan")
    }
}

impl Storable for CallSpan {
    type Storer = StoreReplace<Self>;
}

impl Intercept for TraceCalls {
    fn name(&self) -> &'static str {
        "TraceCalls"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !spectra_worker::trace::enabled() {
            return Ok(());
        }
        // Named when the operation is known (the first attempt); the span covers all of them.
        let tracer = opentelemetry::global::tracer(spectra_worker::metrics::METER);
        let span = tracer
            .span_builder("aws")
            .with_kind(SpanKind::Client)
            .with_attributes([KeyValue::new("rpc.system", "aws-api")])
            .start_with_context(&tracer, &spectra_worker::trace::current_context());
        cfg.interceptor_state().store_put(CallSpan(Mutex::new(Some(span))));
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (Some(held), Some(metadata)) = (cfg.load::<CallSpan>(), cfg.load::<Metadata>()) else { return Ok(()) };
        if let Some(span) = held.0.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
            span.update_name(format!("{}/{}", metadata.service(), metadata.name()));
            span.set_attribute(KeyValue::new("rpc.service", metadata.service().to_owned()));
            span.set_attribute(KeyValue::new("rpc.method", metadata.name().to_owned()));
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(held) = cfg.load::<CallSpan>() else { return Ok(()) };
        let Some(mut span) = held.0.lock().unwrap_or_else(PoisonError::into_inner).take() else { return Ok(()) };
        if let Some(Err(e)) = context.output_or_error() {
            span.set_status(Status::error(e.to_string()));
        }
        span.end();
        Ok(())
    }
}

/// The requests sent so far, by `Service.Operation`, sorted by name.
pub fn call_counts() -> Vec<(String, u64)> {
    CALLS.lock().unwrap_or_else(PoisonError::into_inner).iter().map(|(k, v)| (k.clone(), *v)).collect()
}

/// The counts as one line: `total N: DynamoDB.GetItem=3 SQS.ReceiveMessage=2 ...`.
pub fn call_summary() -> String {
    let counts = call_counts();
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    let each: Vec<String> = counts.iter().map(|(name, n)| format!("{name}={n}")).collect();
    format!("total {total}: {}", each.join(" "))
}
