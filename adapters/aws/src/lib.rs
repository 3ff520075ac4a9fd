//! The AWS adapters: every port on the official aws-sdk-rust crates — [`SqsQueue`] (SQS),
//! [`DynamoJobStore`] and friends (one DynamoDB table, single-table design, see
//! `infra/README.md`), [`S3ObjectStore`] (S3), [`EventBridgeBus`] (EventBridge).
//!
//! Clients come from [`AwsOptions::load`]: aws-config's default chain (environment, profile,
//! SSO, container and instance credentials), so a worker on ECS needs nothing but its task
//! role. Endpoints can be overridden for local stand-ins (moto, our Data API emulator) with
//! `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` or [`AwsOptions::endpoint_url`].

mod calls;
mod config;
mod dynamodb;
mod dynamodb_api_stores;
mod dynamodb_codec;
mod dynamodb_table;
mod eventbridge;
mod platform;
mod redshift_data;
mod s3;
mod sqs;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub use calls::{CountCalls, TraceCalls, call_counts, call_summary};
pub use config::{AwsSettings, ConfigError};
pub use dynamodb::{DynamoJobStore, TABLE_GSIS};
pub use dynamodb_api_stores::{DynamoIdempotencyStore, DynamoKeyStore, DynamoRateCounter};
pub use dynamodb_table::create_job_table;
pub use eventbridge::EventBridgeBus;
pub use platform::{AwsPlatform, ConnectError, key_store};
pub use redshift_data::{DataApiTarget, DataApiWarehouse};
pub use s3::S3ObjectStore;
pub use sqs::SqsQueue;

/// Where and how to reach AWS.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    /// The region; the default chain's (`AWS_REGION`, profile) when `None`.
    pub region: Option<String>,
    /// One endpoint for every service (a local stand-in); the SDK's own resolution when `None`.
    pub endpoint_url: Option<String>,
}

impl AwsOptions {
    /// Loads the shared SDK configuration: credentials and region from the default chain.
    pub async fn load(&self) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        loader.load().await
    }
}

/// An S3 client; `force_path_style` (`bucket` in the path, not the host name) is needed by
/// local stand-ins such as moto, which serve every bucket on one host.
pub fn s3_client(sdk: &SdkConfig, force_path_style: bool) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk).force_path_style(force_path_style);
    aws_sdk_s3::Client::from_conf(config.interceptor(CountCalls).interceptor(TraceCalls).build())
}

/// A client of `$service` (a crate: `aws_sdk_sqs`, ...) from an `SdkConfig`, its calls counted.
macro_rules! counted_client {
    ($service:ident, $sdk:expr) => {
        $service::Client::from_conf(
            $service::config::Builder::from($sdk)
                .interceptor($crate::CountCalls)
                .interceptor($crate::TraceCalls)
                .build(),
        )
    };
}
pub(crate) use counted_client;

/// An SDK call's error, for every service.
pub(crate) type Sdk<E> = SdkError<E, HttpResponse>;

/// What a service's operation error must provide to be classified (every generated one does).
pub(crate) trait OperationError: ProvideErrorMetadata + std::error::Error + 'static {}
impl<E: ProvideErrorMetadata + std::error::Error + 'static> OperationError for E {}

/// What went wrong in an AWS call, reduced to what the ports need: the error code (e.g.
/// `ThrottlingException`), a message with the whole error chain, and whether a retry may help.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub code: String,
    pub message: String,
    pub retryable: bool,
}

impl Failure {
    /// The port's error: `retryable` when a retry may pass, `invalid` otherwise.
    pub(crate) fn into_error<T>(self, retryable: impl FnOnce(String) -> T, invalid: impl FnOnce(String) -> T) -> T {
        if self.retryable { retryable(self.message) } else { invalid(self.message) }
    }
}

/// Codes AWS services use for throttling; they are backpressure, never failures.
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "SlowDown",
    "RequestThrottled",
    "LimitExceededException",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
];

/// Classifies an SDK error: transport failures, timeouts, 5xx and throttling are retryable;
/// everything else (validation, missing resources, conditions) is not.
pub(crate) fn classify<E: OperationError>(err: &Sdk<E>) -> Failure {
    let code = err.code().unwrap_or_default().to_owned();
    let status = err.raw_response().map(|r| r.status().as_u16());
    let retryable = match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(_) => {
            status.is_some_and(|s| s >= 500 || s == 429) || THROTTLING.contains(&code.as_str())
        }
        _ => false,
    };
    let message = match (err.message(), status) {
        (Some(m), _) if !code.is_empty() => format!("{code}: {m}"),
        (None, Some(status)) if !code.is_empty() => format!("{code} (HTTP {status})"),
        // Transport failures and the like: the whole chain says what happened.
        _ => DisplayErrorContext(err).to_string(),
    };
    Failure { code, message, retryable }
}
