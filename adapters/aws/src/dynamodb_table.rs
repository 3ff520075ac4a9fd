//! The job table's definition in code, matching `infra/spectra.yaml` (a test compares the two on
//! the deployed stack): for tests, and for anyone running without CloudFormation.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};

use super::dynamodb::{TABLE_GSIS, store_error};
use super::dynamodb_codec::{PK, SK};
use spectra_worker::ports::StoreError;

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

fn text_attribute(name: &str) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

/// Creates the job table `name` (on-demand, three GSIs, TTL on `ttl`) and waits until it is
/// active.
pub async fn create_job_table(client: &Client, name: &str) -> Result<(), StoreError> {
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .attribute_definitions(text_attribute(PK)?)
        .attribute_definitions(text_attribute(SK)?);
    for (index, hash, range) in TABLE_GSIS {
        request = request
            .attribute_definitions(text_attribute(hash)?)
            .attribute_definitions(text_attribute(range)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index)
                    .key_schema(key(hash, KeyType::Hash)?)
                    .key_schema(key(range, KeyType::Range)?)
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()
                    .map_err(|e| StoreError::Invalid(e.to_string()))?,
            );
    }
    request.send().await.map_err(|e| store_error(&e))?;
    for _ in 0..600 {
        let table = client.describe_table().table_name(name).send().await.map_err(|e| store_error(&e))?;
        if table.table().and_then(|t| t.table_status()).is_some_and(|s| s.as_str() == "ACTIVE") {
            let ttl = TimeToLiveSpecification::builder()
                .attribute_name("ttl")
                .enabled(true)
                .build()
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
            client
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(ttl)
                .send()
                .await
                .map_err(|e| store_error(&e))?;
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(StoreError::Unavailable(format!("table {name} did not become active in a minute")))
}
