//! The `KeyStore` port: API keys, kept only as hashes.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use spectra_state_machine::TenantId;

use super::StoreError;

/// A stored API key: never the key itself, only its SHA-256. Keys are 128+ random bits, so a
/// fast hash is enough (no password stretching needed) and the hash is what lookups use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// A short public id to name the key by (in lists, logs and `revoke`).
    pub key_id: String,
    /// The tenant the key acts for.
    pub tenant_id: TenantId,
    /// Hex SHA-256 of the key.
    pub hash: String,
    /// When it was minted.
    pub created_at: DateTime<Utc>,
    /// When it was revoked; a revoked key authenticates nothing.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A freshly minted key: the secret, shown once, and the record to store.
#[derive(Debug, Clone)]
pub struct MintedKey {
    /// The key, `sk_<key_id>_<secret>`; give it to the tenant, never store it.
    pub key: String,
    /// What to store.
    pub record: ApiKeyRecord,
}

/// The hex SHA-256 of a presented key.
pub fn hash_key(key: &str) -> String {
    Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Mints a key for `tenant` with 244 random bits (two v4 UUIDs' worth).
pub fn mint_key(tenant: &TenantId) -> MintedKey {
    let key_id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let key = format!("sk_{key_id}_{secret}");
    let record = ApiKeyRecord {
        key_id,
        tenant_id: tenant.clone(),
        hash: hash_key(&key),
        created_at: Utc::now(),
        revoked_at: None,
    };
    MintedKey { key, record }
}

/// Where API keys live. The SQLite store and (later) the DynamoDB table implement it.
///
/// # Contract
/// - `put` stores a record (ids and hashes are unique); `find` looks a key up by its hash and
///   returns revoked records too (the caller refuses them); `revoke` marks a key revoked and
///   returns `false` when no key has that id.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Stores a new key record.
    async fn put(&self, record: &ApiKeyRecord) -> Result<(), StoreError>;
    /// The record whose hash is `hash`.
    async fn find(&self, hash: &str) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// Revokes the key `key_id`.
    async fn revoke(&self, key_id: &str) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_keys_are_unique_and_hashed() {
        let tenant = TenantId::parse("acme").unwrap();
        let (a, b) = (mint_key(&tenant), mint_key(&tenant));
        assert_ne!(a.key, b.key);
        assert!(a.key.starts_with(&format!("sk_{}_", a.record.key_id)));
        assert_eq!(a.record.hash, hash_key(&a.key));
        assert_eq!(a.key.len(), 3 + 12 + 1 + 64);
    }
}
