//! The AWS adapters against the port contracts, on moto's server (started by `scripts/test`
//! through `infra/local-stack`, which also deploys `infra/spectra.yaml`). Each check makes its
//! own fresh queue, table, bucket or bus, so checks run in parallel without sharing state.

use async_trait::async_trait;
use aws_config::SdkConfig;
use serde_json::Value;
use spectra_worker::aws::{
    AwsOptions, DynamoIdempotencyStore, DynamoJobStore, DynamoKeyStore, DynamoRateCounter, EventBridgeBus,
    S3ObjectStore, SqsQueue, create_job_table, s3_client,
};
use spectra_worker::contract::api_stores::ApiStoresFixture;
use spectra_worker::contract::event_bus::EventBusFixture;
use spectra_worker::contract::job_store::JobStoreFixture;
use spectra_worker::contract::object_store::ObjectStoreFixture;
use spectra_worker::contract::queue::QueueFixture;

/// The local AWS endpoint. Refuses anything but loopback: these checks create and delete
/// resources and must never run against a real account.
pub fn endpoint() -> String {
    let url = std::env::var("AWS_ENDPOINT_URL").expect(
        "AWS_ENDPOINT_URL is not set: run the tests with scripts/test, which starts moto through infra/local-stack",
    );
    assert!(url.starts_with("http://127.0.0.1:"), "AWS_ENDPOINT_URL={url} is not a loopback stand-in");
    url
}

/// The environment the local stack exported, by name (see `infra/local-stack`).
pub fn stack_output(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the tests with scripts/test"))
}

pub async fn sdk() -> SdkConfig {
    sdk_in("us-east-1").await
}

/// The SDK configuration for moto in `region`.
pub async fn sdk_in(region: &str) -> SdkConfig {
    AwsOptions { region: Some(region.into()), endpoint_url: Some(endpoint()) }.load().await
}

/// A fresh name: unique per check, lower case (S3), short (SQS, S3 ≤ 63).
pub fn fresh(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..20])
}

pub struct Moto {
    pub sdk: SdkConfig,
}

impl Moto {
    pub async fn new() -> Self {
        Self { sdk: sdk().await }
    }

    /// moto in another region (the template is deployed in us-east-1 only).
    pub async fn in_region(region: &str) -> Self {
        Self { sdk: sdk_in(region).await }
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    /// Receives every message in a queue and deletes it.
    pub async fn drain(&self, url: &str) -> Vec<String> {
        let mut bodies = Vec::new();
        loop {
            let out = self
                .sqs()
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return bodies;
            }
            for m in messages {
                self.sqs()
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(m.receipt_handle.unwrap())
                    .send()
                    .await
                    .unwrap();
                bodies.push(m.body.unwrap_or_default());
            }
        }
    }

    /// A new queue and its DLQ, redriving after `max_receives`.
    pub async fn queue_pair(&self, max_receives: u32) -> (String, String) {
        let name = fresh("q");
        let sqs = self.sqs();
        let dlq = sqs.create_queue().queue_name(format!("{name}-dlq")).send().await.unwrap().queue_url.unwrap();
        let dlq_arn = sqs
            .get_queue_attributes()
            .queue_url(&dlq)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone();
        let policy = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives}).to_string();
        let url = sqs
            .create_queue()
            .queue_name(&name)
            .attributes(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy, policy)
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        (url, dlq)
    }
}

#[async_trait]
impl QueueFixture for Moto {
    type Queue = SqsQueue;
    async fn queue(&self, max_receives: u32) -> SqsQueue {
        let (url, _) = self.queue_pair(max_receives).await;
        SqsQueue::new(self.sqs(), url).await.unwrap()
    }
    async fn dead_letter_bodies(&self, queue: &SqsQueue) -> Vec<String> {
        self.drain(queue.dead_letter_url()).await
    }
}

#[async_trait]
impl JobStoreFixture for Moto {
    type Store = DynamoJobStore;
    async fn store(&self) -> DynamoJobStore {
        let client = aws_sdk_dynamodb::Client::new(&self.sdk);
        let table = fresh("jobs");
        create_job_table(&client, &table).await.unwrap();
        DynamoJobStore::new(client, table)
    }
}

#[async_trait]
impl ApiStoresFixture for Moto {
    type Idempotency = DynamoIdempotencyStore;
    type Rates = DynamoRateCounter;
    type Keys = DynamoKeyStore;
    async fn stores(&self) -> (DynamoIdempotencyStore, DynamoRateCounter, DynamoKeyStore) {
        let client = aws_sdk_dynamodb::Client::new(&self.sdk);
        let table = fresh("api");
        create_job_table(&client, &table).await.unwrap();
        (
            DynamoIdempotencyStore::new(client.clone(), &table),
            DynamoRateCounter::new(client.clone(), &table),
            DynamoKeyStore::new(client, table),
        )
    }
}

/// An S3 client for moto.
pub fn s3(moto: &Moto) -> aws_sdk_s3::Client {
    s3_client(&moto.sdk, true)
}

#[async_trait]
impl ObjectStoreFixture for Moto {
    type Store = S3ObjectStore;
    async fn store(&self) -> S3ObjectStore {
        let client = s3(self);
        let bucket = fresh("bucket");
        client.create_bucket().bucket(&bucket).send().await.unwrap();
        S3ObjectStore::new(client, bucket)
    }
}

/// A bus with a rule sending Spectra's events to a queue, as an ops consumer would set up.
pub struct MotoBus {
    moto: Moto,
    queue: tokio::sync::OnceCell<String>,
}

#[async_trait]
impl EventBusFixture for MotoBus {
    type Bus = EventBridgeBus;
    async fn bus(&self) -> EventBridgeBus {
        let events = aws_sdk_eventbridge::Client::new(&self.moto.sdk);
        let bus = fresh("bus");
        events.create_event_bus().name(&bus).send().await.unwrap();
        let (url, _) = self.moto.queue_pair(5).await;
        let arn = format!("arn:aws:sqs:us-east-1:123456789012:{}", url.rsplit('/').next().unwrap());
        events
            .put_rule()
            .name("lifecycle-to-queue")
            .event_bus_name(&bus)
            .event_pattern(r#"{"source":["spectra"],"detail-type":["Spectra Job State Change"]}"#)
            .send()
            .await
            .unwrap();
        let target = aws_sdk_eventbridge::types::Target::builder().id("queue").arn(arn).build().unwrap();
        events.put_targets().rule("lifecycle-to-queue").event_bus_name(&bus).targets(target).send().await.unwrap();
        self.queue.set(url).unwrap();
        EventBridgeBus::new(events, bus)
    }
    async fn delivered(&self, _bus: &EventBridgeBus) -> Vec<Value> {
        let url = self.queue.get().unwrap();
        self.moto.drain(url).await.iter().map(|b| serde_json::from_str(b).unwrap()).collect()
    }
}

mod api_stores {
    spectra_worker::api_stores_contract_tests!(super::Moto::new().await);
}

mod queue {
    spectra_worker::queue_contract_tests!(super::Moto::new().await);
}

mod job_store {
    spectra_worker::job_store_contract_tests!(super::Moto::new().await);
}

mod object_store {
    spectra_worker::object_store_contract_tests!(super::Moto::new().await);
}

mod event_bus {
    spectra_worker::event_bus_contract_tests!(super::MotoBus {
        moto: super::Moto::new().await,
        queue: Default::default()
    });
}
