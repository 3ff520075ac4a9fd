//! AWS mode assembled: every port on its AWS adapter, from [`AwsSettings`], with each resource
//! checked once at start (the queue and its DLQ, the table, the bucket) so a wrong name fails
//! `spectra worker` / `spectra api` at once, naming the setting, rather than at the first job.

use std::sync::Arc;

use thiserror::Error;

use super::{
    AwsOptions, AwsSettings, DataApiWarehouse, DynamoIdempotencyStore, DynamoJobStore, DynamoKeyStore,
    DynamoRateCounter, EventBridgeBus, S3ObjectStore, SqsQueue, classify, counted_client, s3_client,
};
use spectra_worker::platform::{Platform, Settings};

/// A resource AWS mode could not reach or use.
#[derive(Debug, Error)]
#[error("{setting}: {message}")]
pub struct ConnectError {
    /// The setting naming the resource.
    pub setting: &'static str,
    /// What went wrong.
    pub message: String,
}

/// Every port on AWS.
#[derive(Clone)]
pub struct AwsPlatform {
    /// Queue, job table, bucket, bus and settings: what producers and workers share.
    pub platform: Platform,
    /// The Redshift Data API.
    pub warehouse: Arc<DataApiWarehouse>,
    /// API keys (in the job table).
    pub keys: DynamoKeyStore,
    /// Idempotency records (in the job table).
    pub idempotency: DynamoIdempotencyStore,
    /// Rate-limit counters (in the job table).
    pub rates: DynamoRateCounter,
}

impl AwsPlatform {
    /// Connects to the resources `aws` names; `settings` carries the rest (deadlines, limits),
    /// with the bucket, IAM role and database users taken from `aws`.
    pub async fn connect(aws: &AwsSettings, settings: Settings) -> Result<Self, ConnectError> {
        let sdk = AwsOptions { region: aws.region.clone(), endpoint_url: aws.endpoint_url.clone() }.load().await;
        let settings = Settings {
            bucket: aws.bucket.clone(),
            iam_role: aws.iam_role.clone(),
            db_users: aws.db_users.clone(),
            ..settings
        };
        let queue = SqsQueue::new(counted_client!(aws_sdk_sqs, &sdk), &aws.queue_url)
            .await
            .map_err(|e| ConnectError { setting: "SPECTRA_QUEUE_URL", message: e.to_string() })?;
        let dynamodb = counted_client!(aws_sdk_dynamodb, &sdk);
        dynamodb
            .describe_table()
            .table_name(&aws.table)
            .send()
            .await
            .map_err(|e| ConnectError { setting: "SPECTRA_TABLE", message: classify(&e).message })?;
        let s3 = s3_client(&sdk, aws.s3_force_path_style);
        s3.head_bucket()
            .bucket(&aws.bucket)
            .send()
            .await
            .map_err(|e| ConnectError { setting: "SPECTRA_BUCKET", message: classify(&e).message })?;
        let platform = Platform {
            queue: Arc::new(queue),
            store: Arc::new(DynamoJobStore::new(dynamodb.clone(), &aws.table)),
            objects: Arc::new(S3ObjectStore::new(s3, &aws.bucket)),
            bus: Arc::new(EventBridgeBus::new(counted_client!(aws_sdk_eventbridge, &sdk), &aws.event_bus)),
            settings: Arc::new(settings),
        };
        let warehouse = Arc::new(DataApiWarehouse::new(
            counted_client!(aws_sdk_redshiftdata, &sdk),
            aws.target.clone(),
            &aws.database,
        ));
        Ok(Self {
            platform,
            warehouse,
            keys: DynamoKeyStore::new(dynamodb.clone(), &aws.table),
            idempotency: DynamoIdempotencyStore::new(dynamodb.clone(), &aws.table),
            rates: DynamoRateCounter::new(dynamodb, &aws.table),
        })
    }
}

/// The API key table alone, for `spectra keys --aws`, which needs nothing else.
pub async fn key_store(options: &AwsOptions, table: &str) -> DynamoKeyStore {
    DynamoKeyStore::new(counted_client!(aws_sdk_dynamodb, &options.load().await), table)
}
