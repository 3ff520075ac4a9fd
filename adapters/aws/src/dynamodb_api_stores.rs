//! The API's shared state on the job table: idempotency records, rate-limit counters and API
//! keys, each as items of the single-table design (see `infra/README.md`), with a `ttl`
//! attribute where DynamoDB should expire them.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem};
use chrono::{DateTime, Duration, TimeZone, Utc};
use spectra_state_machine::TenantId;

use super::dynamodb::store_error;
use super::dynamodb_codec::{Item, PK, SK, number, tenant_pk, text};
use spectra_worker::ports::{
    ApiKeyRecord, CLAIM_LEASE_SECONDS, Claim, IDEMPOTENCY_TTL_HOURS, IdempotencyStore, KeyStore, RateCounter,
    RateWindow, StoreError, StoredResponse,
};

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn conditional_failed<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ConditionalCheckFailedException") || e.code() == Some("TransactionCanceledException")
}

/// `X-Idempotency-Key` records: `pk = T#<tenant>`, `sk = I#<key>`, expiring after 24 h.
#[derive(Clone)]
pub struct DynamoIdempotencyStore {
    client: Client,
    table: String,
}

impl DynamoIdempotencyStore {
    /// Records in `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    fn key(&self, tenant: &TenantId, key: &str) -> [(String, AttributeValue); 2] {
        [(PK.to_owned(), s(tenant_pk(tenant))), (SK.to_owned(), s(format!("I#{key}")))]
    }

    /// Takes over an unfinished claim of the same request past its lease, keeping its token (a
    /// claim stored before tokens existed gets `candidate`); `None` when the claim is not one.
    async fn take_over(
        &self,
        tenant: &TenantId,
        key: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
        candidate: &str,
        expires: AttributeValue,
    ) -> Result<Option<String>, StoreError> {
        let lapsed = (now - Duration::seconds(CLAIM_LEASE_SECONDS)).timestamp_millis();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(tenant, key).into_iter().collect()))
            .update_expression("SET claimed_at = :now, #ttl = :ttl, #token = if_not_exists(#token, :candidate)")
            .condition_expression("attribute_not_exists(#status) AND fingerprint = :fp AND claimed_at < :lapsed")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#token", "token")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .expression_attribute_values(":ttl", expires)
            .expression_attribute_values(":candidate", s(candidate))
            .expression_attribute_values(":fp", s(fingerprint))
            .expression_attribute_values(":lapsed", n(lapsed))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => Ok(Some(out.attributes.as_ref().and_then(|a| text(a, "token")).unwrap_or(candidate).to_owned())),
            Err(e) if e.as_service_error().is_some_and(conditional_failed) => Ok(None),
            Err(e) => Err(store_error(&e)),
        }
    }

    /// What holds a key that could not be claimed.
    async fn holder(&self, tenant: &TenantId, key: &str, fingerprint: &str) -> Result<Claim, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key(tenant, key).into_iter().collect()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(&e))?;
        let Some(stored) = out.item else { return Ok(Claim::InProgress) };
        Ok(match (text(&stored, "fingerprint"), number(&stored, "status"), text(&stored, "body")) {
            (Some(f), _, _) if f != fingerprint => Claim::Mismatch,
            (_, Some(status), Some(body)) => {
                Claim::Replay(StoredResponse { status: u16::try_from(status).unwrap_or(500), body: body.to_owned() })
            }
            _ => Claim::InProgress,
        })
    }
}

#[async_trait]
impl IdempotencyStore for DynamoIdempotencyStore {
    async fn claim(
        &self,
        tenant: &TenantId,
        key: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let candidate = uuid::Uuid::new_v4().to_string();
        let expires = n((now + Duration::hours(IDEMPOTENCY_TTL_HOURS)).timestamp());
        let mut item: Item = self.key(tenant, key).into_iter().collect();
        item.insert("fingerprint".into(), s(fingerprint));
        item.insert("claimed_at".into(), n(now.timestamp_millis()));
        item.insert("token".into(), s(candidate.clone()));
        item.insert("ttl".into(), expires.clone());
        // DynamoDB deletes expired items late (up to days), so expiry is checked here too.
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR #ttl < :now")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":now", n(now.timestamp()))
            .send()
            .await;
        match result {
            Ok(_) => return Ok(Claim::Fresh { token: candidate }),
            Err(e) if e.as_service_error().is_some_and(conditional_failed) => {}
            Err(e) => return Err(store_error(&e)),
        }
        if let Some(token) = self.take_over(tenant, key, fingerprint, now, &candidate, expires).await? {
            return Ok(Claim::Fresh { token });
        }
        self.holder(tenant, key, fingerprint).await
    }

    async fn complete(&self, tenant: &TenantId, key: &str, response: &StoredResponse) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(tenant, key).into_iter().collect()))
            .update_expression("SET #status = :status, body = :body")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", n(response.status))
            .expression_attribute_values(":body", s(response.body.clone()))
            .send()
            .await
            .map_err(|e| store_error(&e))?;
        Ok(())
    }

    async fn release(&self, tenant: &TenantId, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.key(tenant, key).into_iter().collect()))
            .send()
            .await
            .map_err(|e| store_error(&e))?;
        Ok(())
    }
}

/// Rate-limit counters: `pk = T#<tenant>`, `sk = R#<group>#<window start>`, one atomic `ADD`
/// per batch of requests (the API counts in memory between flushes), expiring (TTL) at
/// [`RateWindow::expires_at`].
#[derive(Clone)]
pub struct DynamoRateCounter {
    client: Client,
    table: String,
}

impl DynamoRateCounter {
    /// Counters in `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

#[async_trait]
impl RateCounter for DynamoRateCounter {
    async fn add(
        &self,
        tenant: &TenantId,
        group: &str,
        window: RateWindow,
        hits: u64,
        _now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(tenant_pk(tenant)))
            .key(SK, s(format!("R#{group}#{}", window.start)))
            .update_expression("ADD hits :n SET #ttl = :ttl")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":n", n(hits))
            .expression_attribute_values(":ttl", n(window.expires_at()))
            // The whole item: "updated" attributes may leave out a counter that adding 0 kept.
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| store_error(&e))?;
        let total = out.attributes.as_ref().and_then(|a| number(a, "hits")).unwrap_or(0);
        Ok(u64::try_from(total).unwrap_or(0))
    }
}

/// API keys, by hash (`pk = K#<hash>`) with an id item (`pk = KID#<key id>`) to revoke by id;
/// both written in one transaction. Only hashes are stored.
#[derive(Clone)]
pub struct DynamoKeyStore {
    client: Client,
    table: String,
}

impl DynamoKeyStore {
    /// Keys in `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    fn hash_key(hash: &str) -> Item {
        Item::from([(PK.to_owned(), s(format!("K#{hash}"))), (SK.to_owned(), s("K"))])
    }

    fn put_item(&self, item: Item) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

fn millis(at: Option<i64>) -> Option<DateTime<Utc>> {
    at.and_then(|m| Utc.timestamp_millis_opt(m).single())
}

#[async_trait]
impl KeyStore for DynamoKeyStore {
    async fn put(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        let mut by_hash = Self::hash_key(&record.hash);
        by_hash.insert("key_id".into(), s(record.key_id.clone()));
        by_hash.insert("tenant_id".into(), s(record.tenant_id.as_str()));
        by_hash.insert("created_at".into(), n(record.created_at.timestamp_millis()));
        if let Some(revoked) = record.revoked_at {
            by_hash.insert("revoked_at".into(), n(revoked.timestamp_millis()));
        }
        let by_id = Item::from([
            (PK.to_owned(), s(format!("KID#{}", record.key_id))),
            (SK.to_owned(), s("K")),
            ("hash".to_owned(), s(record.hash.clone())),
        ]);
        let result = self
            .client
            .transact_write_items()
            .transact_items(self.put_item(by_hash)?)
            .transact_items(self.put_item(by_id)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(conditional_failed) => {
                Err(StoreError::Invalid(format!("key {} already exists", record.key_id)))
            }
            Err(e) => Err(store_error(&e)),
        }
    }

    async fn find(&self, hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::hash_key(hash)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(&e))?;
        let Some(item) = out.item else { return Ok(None) };
        let corrupt = |reason: &str| StoreError::Corrupt { job_id: format!("api key {hash}"), reason: reason.into() };
        let tenant = text(&item, "tenant_id").ok_or_else(|| corrupt("no tenant"))?;
        Ok(Some(ApiKeyRecord {
            key_id: text(&item, "key_id").ok_or_else(|| corrupt("no key id"))?.to_owned(),
            tenant_id: TenantId::parse(tenant).map_err(|e| corrupt(&e.to_string()))?,
            hash: hash.to_owned(),
            created_at: millis(number(&item, "created_at")).ok_or_else(|| corrupt("no creation time"))?,
            revoked_at: millis(number(&item, "revoked_at")),
        }))
    }

    async fn revoke(&self, key_id: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(format!("KID#{key_id}")))
            .key(SK, s("K"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(&e))?;
        let Some(hash) = out.item.as_ref().and_then(|i| text(i, "hash")) else { return Ok(false) };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::hash_key(hash)))
            .update_expression("SET revoked_at = :now")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(revoked_at)")
            .expression_attribute_values(":now", n(Utc::now().timestamp_millis()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(conditional_failed) => Ok(false),
            Err(e) => Err(store_error(&e)),
        }
    }
}
