//! The embedded `KeyStore`: API key hashes in a SQLite table beside the job table.

use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use spectra_state_machine::TenantId;

use super::sqlite::Db;
use spectra_worker::ports::{ApiKeyRecord, KeyStore, StoreError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS api_keys (
    key_id     TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
";

/// API keys in SQLite. Cheap to clone.
#[derive(Clone)]
pub struct SqliteKeyStore {
    db: Db,
}

impl SqliteKeyStore {
    /// Opens (creating if needed) the key table in the database file at `path`.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self { db: Db::open(path, SCHEMA).await? })
    }
}

fn time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt { job_id: "api key".into(), reason: e.to_string() })
}

#[async_trait]
impl KeyStore for SqliteKeyStore {
    async fn put(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        let r = record.clone();
        self.db
            .call(move |conn| {
                conn.execute(
                    "INSERT INTO api_keys (key_id, tenant_id, hash, created_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        r.key_id,
                        r.tenant_id.as_str(),
                        r.hash,
                        r.created_at.to_rfc3339(),
                        r.revoked_at.map(|t| t.to_rfc3339())
                    ],
                )?;
                Ok(())
            })
            .await
            .map_err(StoreError::from)
    }

    async fn find(&self, hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        // Every request's authentication runs this (past the API's key cache): in place.
        let row = self.db.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT key_id, tenant_id, hash, created_at, revoked_at FROM api_keys WHERE hash = ?1")?
                .query_row([hash], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                    ))
                })
                .optional()?)
        })?;
        let Some((key_id, tenant, hash, created, revoked)) = row else { return Ok(None) };
        let tenant_id = TenantId::parse(&tenant)
            .map_err(|e| StoreError::Corrupt { job_id: "api key".into(), reason: e.to_string() })?;
        Ok(Some(ApiKeyRecord {
            key_id,
            tenant_id,
            hash,
            created_at: time(&created)?,
            revoked_at: revoked.as_deref().map(time).transpose()?,
        }))
    }

    async fn revoke(&self, key_id: &str) -> Result<bool, StoreError> {
        let key_id = key_id.to_owned();
        let changed = self
            .db
            .call(move |conn| {
                Ok(conn.execute(
                    "UPDATE api_keys SET revoked_at = ?2 WHERE key_id = ?1 AND revoked_at IS NULL",
                    params![key_id, Utc::now().to_rfc3339()],
                )?)
            })
            .await?;
        Ok(changed > 0)
    }
}
