//! moto's server as the tests reach it: the endpoint (loopback only), SDK configuration, fresh
//! names and a few SQS and S3 helpers. Shared by the AWS adapters' tests and the emulator's
//! (which includes this file by path).

use aws_config::SdkConfig;
use spectra_aws::{AwsOptions, s3_client};

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
    #[allow(dead_code)] // the emulator tests' (they include this file)
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

/// An S3 client for moto.
pub fn s3(moto: &Moto) -> aws_sdk_s3::Client {
    s3_client(&moto.sdk, true)
}
