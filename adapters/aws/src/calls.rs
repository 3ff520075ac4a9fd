//! Every AWS request this process sends, counted by service and operation.
//!
//! What a job costs in AWS calls is a design figure (the issue of fast paths sets a budget per
//! export job), and it is counted where it happens: an SDK interceptor on every client, which
//! sees each attempt, retries included. `spectra worker` and `spectra api` log the counts when
//! they stop; the AWS-stack benchmark divides them by the jobs it ran.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

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
