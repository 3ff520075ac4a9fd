//! The `JobStore` port on DynamoDB: one table, single-table design (see `infra/README.md`).
//!
//! - Jobs are items `pk = T#<tenant>`, `sk = J#<job id>`; every read names the tenant in the
//!   key, so another tenant's job is simply not found.
//! - Updates are `PutItem`s conditioned on the stored `version` and `state`; a failed
//!   condition is the typed "lost the race", never an error.
//! - Lists query the `by_tenant` index newest first; page tokens carry the index position, the
//!   tenant and the filter, so they are opaque to clients and useless to another tenant.
//! - Stale sweeps query the `by_state` index, sharded [`SWEEP_SHARDS`] ways per state.
//!
//! Indexes are eventually consistent on AWS: a job may appear in a list or sweep a moment
//! after it is written. Gets and conditional writes are strongly consistent.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use spectra_state_machine::{AnyState, Job, JobId, TenantId};

use super::dynamodb_codec::{
    Item, PK, SK, SWEEP_SHARDS, decode_job, job_item, job_sk, padded, sweep_pk, tenant_pk, text,
};
use super::{OperationError, Sdk, classify};
use spectra_worker::ports::{
    JobPage, JobStore, ListFilter, StaleCursor, StoreError, UpdateOutcome, check_page_size, decode_page_token,
    encode_page_token,
};

/// The table's global secondary indexes: (name, partition key, sort key).
pub const TABLE_GSIS: [(&str, &str, &str); 3] =
    [("by_tenant", "gsi1pk", "gsi1sk"), ("by_tenant_state", "gsi2pk", "gsi2sk"), ("by_state", "gsi3pk", "gsi3sk")];
/// Index queries one list page may make before returning a short page (selective filters).
const MAX_QUERIES_PER_PAGE: usize = 8;

/// The job table on DynamoDB.
#[derive(Clone)]
pub struct DynamoJobStore {
    pub(crate) client: Client,
    pub(crate) table: String,
}

/// Where a list page ends, bound to the tenant and filter that listed.
#[derive(Serialize, Deserialize)]
struct PageToken {
    t: String,
    f: String,
    k: String,
}

pub(crate) fn store_error<E: OperationError>(e: &Sdk<E>) -> StoreError {
    classify(e).into_error(StoreError::Unavailable, StoreError::Invalid)
}

fn filter_key(filter: &ListFilter) -> String {
    format!(
        "{}|{}|{}",
        filter.kind.map(|k| k.as_str()).unwrap_or_default(),
        filter.state.map(|s| s.as_str()).unwrap_or_default(),
        filter.operation.map(|o| o.as_str()).unwrap_or_default()
    )
}

impl DynamoJobStore {
    /// The job table `table` (created by the CloudFormation template in `infra/`).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get_item(&self, tenant: &TenantId, job_id: &JobId) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(tenant_pk(tenant)))
            .key(SK, AttributeValue::S(job_sk(job_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(&e))?;
        Ok(out.item)
    }
}

#[async_trait]
impl JobStore for DynamoJobStore {
    async fn create(&self, job: &Job) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(job_item(job)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Err(StoreError::AlreadyExists(job.job_id().clone()))
            }
            Err(e) => Err(store_error(&e)),
        }
    }

    async fn get(&self, tenant: &TenantId, job_id: &JobId) -> Result<Option<Job>, StoreError> {
        self.get_item(tenant, job_id).await?.as_ref().map(decode_job).transpose()
    }

    async fn update(&self, expected: &Job, new: &Job) -> Result<UpdateOutcome, StoreError> {
        if new.version() != expected.version() + 1
            || new.job_id() != expected.job_id()
            || new.tenant_id() != expected.tenant_id()
        {
            return Err(StoreError::Invalid("an update must be the same job at the next version".into()));
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(job_item(new)?))
            .condition_expression("attribute_exists(pk) AND version = :v AND #state = :s")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":v", AttributeValue::N(expected.version().to_string()))
            .expression_attribute_values(":s", AttributeValue::S(expected.state().as_str().to_owned()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(UpdateOutcome::Updated),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                let current = self.get(expected.tenant_id(), expected.job_id()).await?;
                Ok(UpdateOutcome::LostRace { current: current.map(Box::new) })
            }
            Err(e) => Err(store_error(&e)),
        }
    }

    async fn list(
        &self,
        tenant: &TenantId,
        filter: &ListFilter,
        limit: usize,
        page: Option<&str>,
    ) -> Result<JobPage, StoreError> {
        check_page_size(limit)?;
        let mut cursor = match page {
            None => None,
            Some(token) => {
                let token: PageToken = decode_page_token(token)?;
                if token.t != tenant.as_str() || token.f != filter_key(filter) {
                    return Err(StoreError::InvalidPageToken);
                }
                Some(token.k)
            }
        };
        let filters = filters(filter);
        let mut jobs = Vec::new();
        let mut exhausted = false;
        for _ in 0..MAX_QUERIES_PER_PAGE {
            let query = self.page_query(tenant, cursor.as_deref(), &filters, limit + 1);
            let out = query.send().await.map_err(|e| store_error(&e))?;
            for item in out.items() {
                if jobs.len() == limit {
                    break;
                }
                jobs.push(decode_job(item)?);
                cursor = text(item, "gsi1sk").map(str::to_owned);
            }
            if jobs.len() == limit {
                break;
            }
            match out.last_evaluated_key().and_then(|k| text(k, "gsi1sk")) {
                Some(k) => cursor = Some(k.to_owned()),
                None => {
                    exhausted = true;
                    break;
                }
            }
        }
        // A full page may have been the last one: look one item further before promising more.
        if !exhausted && jobs.len() == limit {
            exhausted = !self.has_more(tenant, cursor.as_deref(), &filters).await?;
        }
        let next_page = match (exhausted, cursor) {
            (false, Some(k)) => {
                let token = PageToken { t: tenant.to_string(), f: filter_key(filter), k };
                Some(encode_page_token(&token))
            }
            _ => None,
        };
        Ok(JobPage { jobs, next_page })
    }

    async fn scan_stale(
        &self,
        states: &[AnyState],
        updated_before: DateTime<Utc>,
        limit: usize,
        after: Option<&StaleCursor>,
    ) -> Result<Vec<Job>, StoreError> {
        let mut jobs = Vec::new();
        if limit == 0 {
            return Ok(jobs);
        }
        let before = padded(updated_before.timestamp_millis());
        // The index's sort key is `<updated>#<tenant>#<id>`: the cursor is one such key, and the
        // inclusive BETWEEN's first item, the cursor's own job, is skipped.
        let from = after.map(|c| format!("{}#{}#{}", padded(c.updated_at.timestamp_millis()), c.tenant, c.job_id));
        for state in states {
            for shard in 0..SWEEP_SHARDS {
                let condition = if from.is_some() {
                    "gsi3pk = :pk AND gsi3sk BETWEEN :from AND :before"
                } else {
                    "gsi3pk = :pk AND gsi3sk < :before"
                };
                let mut query = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(TABLE_GSIS[2].0)
                    .key_condition_expression(condition)
                    .expression_attribute_values(":pk", AttributeValue::S(sweep_pk(state.as_str(), shard)))
                    .expression_attribute_values(":before", AttributeValue::S(before.clone()))
                    .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX));
                if let Some(from) = &from {
                    query = query.expression_attribute_values(":from", AttributeValue::S(from.clone()));
                }
                let out = query.send().await.map_err(|e| store_error(&e))?;
                for item in out.items() {
                    let job = decode_job(item)?;
                    if after.is_none_or(|c| StaleCursor::after(&job) != *c) {
                        jobs.push(job);
                    }
                }
            }
        }
        // The stores' order: milliseconds, then tenant, then id.
        jobs.sort_by_key(|j| (j.updated_at().timestamp_millis(), j.tenant_id().to_string(), j.job_id().to_string()));
        jobs.truncate(limit);
        Ok(jobs)
    }

    async fn recent(
        &self,
        states: &[AnyState],
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        let mut jobs = Vec::new();
        if limit == 0 {
            return Ok(jobs);
        }
        // Sort keys are `<updated>#<tenant>#<id>`: from `<since>` (inclusive) up to `<until>`,
        // which sorts before every key of that millisecond (exclusive).
        let (from, to) = (padded(since.timestamp_millis()), padded(until.timestamp_millis()));
        for state in states {
            for shard in 0..SWEEP_SHARDS {
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(TABLE_GSIS[2].0)
                    .key_condition_expression("gsi3pk = :pk AND gsi3sk BETWEEN :from AND :to")
                    .expression_attribute_values(":pk", AttributeValue::S(sweep_pk(state.as_str(), shard)))
                    .expression_attribute_values(":from", AttributeValue::S(from.clone()))
                    .expression_attribute_values(":to", AttributeValue::S(to.clone()))
                    .scan_index_forward(false)
                    .limit(i32::try_from(limit).unwrap_or(i32::MAX))
                    .send()
                    .await
                    .map_err(|e| store_error(&e))?;
                for item in out.items() {
                    jobs.push(decode_job(item)?);
                }
            }
        }
        jobs.sort_by_key(|j| {
            (std::cmp::Reverse(j.updated_at().timestamp_millis()), j.tenant_id().to_string(), j.job_id().to_string())
        });
        jobs.truncate(limit);
        Ok(jobs)
    }
}

/// The attribute filters of a list: (attribute, value).
fn filters(filter: &ListFilter) -> Vec<(&'static str, &'static str)> {
    [
        ("kind", filter.kind.map(|k| k.as_str())),
        ("state", filter.state.map(|s| s.as_str())),
        ("operation", filter.operation.map(|o| o.as_str())),
    ]
    .into_iter()
    .filter_map(|(attribute, value)| value.map(|v| (attribute, v)))
    .collect()
}

impl DynamoJobStore {
    /// A query of a tenant's jobs on `by_tenant`, newest first, after `cursor`, filtered.
    fn page_query(
        &self,
        tenant: &TenantId,
        cursor: Option<&str>,
        filters: &[(&'static str, &'static str)],
        limit: usize,
    ) -> QueryFluentBuilder {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(TABLE_GSIS[0].0)
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .expression_attribute_values(":pk", AttributeValue::S(tenant_pk(tenant)));
        query = match cursor {
            Some(k) => query
                .key_condition_expression("gsi1pk = :pk AND gsi1sk < :cursor")
                .expression_attribute_values(":cursor", AttributeValue::S(k.to_owned())),
            None => query.key_condition_expression("gsi1pk = :pk"),
        };
        if filters.is_empty() {
            return query;
        }
        let conditions: Vec<String> = filters.iter().map(|(a, _)| format!("#{a} = :{a}")).collect();
        query = query.filter_expression(conditions.join(" AND "));
        for (attribute, value) in filters {
            query = query
                .expression_attribute_names(format!("#{attribute}"), *attribute)
                .expression_attribute_values(format!(":{attribute}"), AttributeValue::S((*value).to_owned()));
        }
        query
    }

    /// Whether any job past `cursor` matches the filters.
    async fn has_more(
        &self,
        tenant: &TenantId,
        cursor: Option<&str>,
        filters: &[(&'static str, &'static str)],
    ) -> Result<bool, StoreError> {
        let mut start: Option<Item> = None;
        for _ in 0..MAX_QUERIES_PER_PAGE {
            let query = self.page_query(tenant, cursor, filters, 25).set_exclusive_start_key(start.take());
            let out = query.send().await.map_err(|e| store_error(&e))?;
            if !out.items().is_empty() {
                return Ok(true);
            }
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(false),
            }
        }
        // Gave up looking: there may be more; the next page may come back empty.
        Ok(true)
    }
}
