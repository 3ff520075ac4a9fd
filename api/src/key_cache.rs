//! API-key lookups, cached for a moment: every request authenticates, and a job read should not
//! cost a store round trip for its key each time. A cached record is trusted for at most
//! [`KEY_CACHE_TTL`], so a key revoked anywhere (`spectra keys revoke`, another API process)
//! stops working within that time; one revoked through this process stops at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use spectra_worker::ports::{ApiKeyRecord, KeyStore, StoreError};

/// How stale a cached key may be: the longest a revoked key keeps working.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(1);

/// Keys held at most; past it the cache starts over (a flood of distinct keys costs lookups,
/// never memory).
const MAX_ENTRIES: usize = 10_000;

/// A key store with a short-lived cache of the records it found. Only found keys are cached,
/// so a key created elsewhere works at once.
pub struct CachedKeys {
    inner: Arc<dyn KeyStore>,
    entries: Mutex<HashMap<String, (ApiKeyRecord, Instant)>>,
}

impl CachedKeys {
    /// Caches `inner`'s lookups.
    pub fn new(inner: Arc<dyn KeyStore>) -> Self {
        Self { inner, entries: Mutex::new(HashMap::new()) }
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<String, (ApiKeyRecord, Instant)>> {
        // The map holds no invariant a panicking holder could break half-way.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl KeyStore for CachedKeys {
    async fn put(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        self.inner.put(record).await
    }

    async fn find(&self, hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        if let Some((record, at)) = self.entries().get(hash)
            && at.elapsed() < KEY_CACHE_TTL
        {
            return Ok(Some(record.clone()));
        }
        let found = self.inner.find(hash).await?;
        if let Some(record) = &found {
            let mut entries = self.entries();
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(hash.to_owned(), (record.clone(), Instant::now()));
        }
        Ok(found)
    }

    async fn revoke(&self, key_id: &str) -> Result<bool, StoreError> {
        let revoked = self.inner.revoke(key_id).await?;
        self.entries().retain(|_, (record, _)| record.key_id != key_id);
        Ok(revoked)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use spectra_local::SqliteKeyStore;
    use spectra_state_machine::TenantId;
    use spectra_worker::ports::mint_key;

    use super::*;

    #[tokio::test]
    async fn lookups_are_served_for_at_most_the_ttl_and_revocations_here_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn KeyStore> = Arc::new(SqliteKeyStore::open(&dir.path().join("jobs.sqlite")).await.unwrap());
        let cached = CachedKeys::new(store.clone());
        let revoked = |r: Option<ApiKeyRecord>| r.unwrap().revoked_at.is_some();
        let [a, b] = ["acme", "beta"].map(|t| mint_key(&TenantId::parse(t).unwrap()).record);
        for record in [&a, &b] {
            cached.put(record).await.unwrap();
            assert!(!revoked(cached.find(&record.hash).await.unwrap()));
        }
        // Revoked behind the cache's back (another process): the cached record still answers...
        assert!(store.revoke(&a.key_id).await.unwrap());
        assert!(!revoked(cached.find(&a.hash).await.unwrap()), "the lookup was not cached");
        // ...until the TTL is up.
        tokio::time::sleep(KEY_CACHE_TTL + Duration::from_millis(100)).await;
        assert!(revoked(cached.find(&a.hash).await.unwrap()));
        // Revoked through the cache: at once.
        assert!(!revoked(cached.find(&b.hash).await.unwrap()));
        assert!(cached.revoke(&b.key_id).await.unwrap());
        assert!(revoked(cached.find(&b.hash).await.unwrap()));
        assert!(cached.find("no such hash").await.unwrap().is_none());
    }
}
