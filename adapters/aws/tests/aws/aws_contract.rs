//! The AWS adapters against the port contracts, on moto's server (started by `scripts/test`
//! through `infra/local-stack`, which also deploys `infra/spectra.yaml`). Each check makes its
//! own fresh queue, table, bucket or bus, so checks run in parallel without sharing state.

use async_trait::async_trait;
use serde_json::Value;
use spectra_aws::{
    DynamoIdempotencyStore, DynamoJobStore, DynamoKeyStore, DynamoRateCounter, EventBridgeBus, S3ObjectStore, SqsQueue,
    create_job_table,
};
use spectra_worker::contract::api_stores::ApiStoresFixture;
use spectra_worker::contract::event_bus::EventBusFixture;
use spectra_worker::contract::job_store::JobStoreFixture;
use spectra_worker::contract::object_store::ObjectStoreFixture;
use spectra_worker::contract::queue::QueueFixture;

use super::moto::{Moto, fresh, s3};

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
    async fn reopen(&self, queue: &SqsQueue) -> SqsQueue {
        SqsQueue::new(self.sqs(), queue.url()).await.unwrap()
    }
    /// SQS standard queues are at-least-once, and moto's threaded server marks a message
    /// received without a lock, so two concurrent receives can both take it (seen once in CI
    /// under load: one of 60 messages twice).
    fn exclusive_receives(&self) -> bool {
        false
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
