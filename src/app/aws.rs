//! The application on AWS: SQS, DynamoDB, S3, EventBridge and the Redshift Data API.

use std::sync::Arc;

use axum::Router;
use spectra_aws::{AwsPlatform, AwsSettings};
use spectra_worker::platform::Settings;

use super::{ApiConfig, App, AppError, WorkerConfig};

/// Everything an AWS application is built from.
#[derive(Clone)]
pub struct AwsConfig {
    /// Where the resources are (checked when read: see `AwsSettings::from_lookup`).
    pub aws: AwsSettings,
    /// The settings the job lifecycle agrees on; the bucket, IAM role and database users come
    /// from `aws`.
    pub settings: Settings,
    /// The worker.
    pub worker: WorkerConfig,
    /// The REST API.
    pub api: ApiConfig,
}

impl App {
    /// Connects to the resources and assembles the application on them (the same for the
    /// worker and the API process; each uses its half).
    pub async fn aws(config: AwsConfig) -> Result<App, AppError> {
        let aws = &config.aws;
        tracing::info!(queue = %aws.queue_url, table = %aws.table, bucket = %aws.bucket, "connecting");
        let platform = AwsPlatform::connect(aws, config.settings).await?;
        let stores = (Arc::new(platform.keys) as _, Arc::new(platform.idempotency) as _, Arc::new(platform.rates) as _);
        Ok(App::assemble(platform.platform, platform.warehouse, stores, config.api, config.worker, Router::new()))
    }
}
