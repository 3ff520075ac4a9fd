//! How jobs become DynamoDB items, in one place (the layout is documented in `infra/README.md`).
//!
//! The whole record is stored as JSON (the `job-record` schema) in `record`, beside the key and
//! index attributes derived from it, so the two can never disagree.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use sha2::{Digest, Sha256};
use spectra_state_machine::{Job, JobId, TenantId};

use spectra_worker::ports::StoreError;

/// Partition key attribute.
pub const PK: &str = "pk";
/// Sort key attribute.
pub const SK: &str = "sk";
/// Sweep shards per state, so one busy state does not make one hot GSI partition.
pub const SWEEP_SHARDS: u32 = 8;

/// An item: attribute name → value.
pub type Item = HashMap<String, AttributeValue>;

/// The partition of everything a tenant owns.
pub fn tenant_pk(tenant: &TenantId) -> String {
    format!("T#{tenant}")
}

/// A job's sort key.
pub fn job_sk(job_id: &JobId) -> String {
    format!("J#{job_id}")
}

/// Milliseconds, zero-padded so text order is time order.
pub fn padded(millis: i64) -> String {
    format!("{:015}", millis.max(0))
}

/// The sweep shard of a job: stable, spread by a hash of the id.
pub fn shard(job_id: &JobId) -> u32 {
    let digest = Sha256::digest(job_id.as_str().as_bytes());
    u32::from(digest[0]) % SWEEP_SHARDS
}

/// The sweep index's partition for a state and shard.
pub fn sweep_pk(state: &str, shard: u32) -> String {
    format!("S#{state}#{shard}")
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The item that stores `job`.
pub fn job_item(job: &Job) -> Result<Item, StoreError> {
    let tenant = job.tenant_id();
    let id = job.job_id();
    let state = job.state().as_str();
    let created = job.created_at().timestamp_millis();
    let updated = job.updated_at().timestamp_millis();
    let record = serde_json::to_string(job).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let mut item = Item::from([
        (PK.to_owned(), s(tenant_pk(tenant))),
        (SK.to_owned(), s(job_sk(id))),
        ("type".to_owned(), s("job")),
        ("tenant_id".to_owned(), s(tenant.as_str())),
        ("job_id".to_owned(), s(id.as_str())),
        ("kind".to_owned(), s(job.kind().as_str())),
        ("state".to_owned(), s(state)),
        ("version".to_owned(), n(job.version())),
        ("created_at".to_owned(), n(created)),
        ("updated_at".to_owned(), n(updated)),
        ("record".to_owned(), s(record)),
        // by_tenant: a tenant's jobs, newest first.
        ("gsi1pk".to_owned(), s(tenant_pk(tenant))),
        ("gsi1sk".to_owned(), s(format!("{}#{id}", padded(created)))),
        // by_tenant_state: a tenant's jobs in a state, by last change (dashboards).
        ("gsi2pk".to_owned(), s(format!("{}#{state}", tenant_pk(tenant)))),
        ("gsi2sk".to_owned(), s(format!("{}#{id}", padded(updated)))),
        // by_state: every tenant's jobs in a state, sharded, by last change (the reconciler).
        ("gsi3pk".to_owned(), s(sweep_pk(state, shard(id)))),
        ("gsi3sk".to_owned(), s(format!("{}#{tenant}#{id}", padded(updated)))),
    ]);
    if let Some(operation) = job.operation() {
        item.insert("operation".to_owned(), s(operation.as_str()));
    }
    Ok(item)
}

/// Decodes a job item.
pub fn decode_job(item: &Item) -> Result<Job, StoreError> {
    let id = item.get("job_id").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    let record = item
        .get("record")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| StoreError::Corrupt { job_id: id.clone(), reason: "no record attribute".into() })?;
    serde_json::from_str(record).map_err(|e| StoreError::Corrupt { job_id: id, reason: e.to_string() })
}

/// A string attribute of an item.
pub fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

/// A number attribute of an item.
pub fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}
