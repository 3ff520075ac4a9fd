//! The embedded `IdempotencyStore`: a SQLite table beside the job table; the claim is an
//! `INSERT ... ON CONFLICT DO NOTHING`, which SQLite serialises across processes.

use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{OptionalExtension, params};
use spectra_state_machine::TenantId;

use super::sqlite::{Db, DbError};
use spectra_worker::ports::{
    CLAIM_LEASE_SECONDS, Claim, IDEMPOTENCY_TTL_HOURS, IdempotencyStore, StoreError, StoredResponse,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS idempotency_keys (
    tenant_id   TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    claimed_at  INTEGER NOT NULL,
    token       TEXT,
    status      INTEGER,
    body        TEXT,
    PRIMARY KEY (tenant_id, key)
);
";

/// Data directories made before claims carried a token lack the column; their rows (claims of at
/// most a day) simply have none, and a takeover of one mints it.
fn add_token_column(conn: &mut rusqlite::Connection) -> Result<(), DbError> {
    let has: bool = conn.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('idempotency_keys') WHERE name = 'token'",
        [],
        |r| r.get(0),
    )?;
    if !has {
        conn.execute("ALTER TABLE idempotency_keys ADD COLUMN token TEXT", [])?;
    }
    Ok(())
}

/// Idempotency records in SQLite. Cheap to clone.
#[derive(Clone)]
pub struct SqliteIdempotencyStore {
    db: Db,
}

impl SqliteIdempotencyStore {
    /// Opens (creating if needed) the table in the database file at `path`.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Db::open(path, SCHEMA).await?;
        db.call(add_token_column).await?;
        Ok(Self { db })
    }
}

#[async_trait]
impl IdempotencyStore for SqliteIdempotencyStore {
    async fn claim(
        &self,
        tenant: &TenantId,
        key: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let (tenant, key, fingerprint) = (tenant.to_string(), key.to_owned(), fingerprint.to_owned());
        let expired = (now - Duration::hours(IDEMPOTENCY_TTL_HOURS)).timestamp_millis();
        let lapsed = (now - Duration::seconds(CLAIM_LEASE_SECONDS)).timestamp_millis();
        let now = now.timestamp_millis();
        let candidate = uuid::Uuid::new_v4().to_string();
        self.db
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                tx.execute(
                    "DELETE FROM idempotency_keys WHERE tenant_id = ?1 AND key = ?2 AND claimed_at < ?3",
                    params![tenant, key, expired],
                )?;
                // A lease its owner never finished: the same request takes it over, token and all.
                let token: Option<Option<String>> = tx
                    .query_row(
                        "UPDATE idempotency_keys SET claimed_at = ?4, token = coalesce(token, ?5) \
                         WHERE tenant_id = ?1 AND key = ?2 AND fingerprint = ?3 AND status IS NULL \
                         AND claimed_at < ?6 RETURNING token",
                        params![tenant, key, fingerprint, now, candidate, lapsed],
                        |r| r.get(0),
                    )
                    .optional()?;
                let claim = match token {
                    Some(token) => Claim::Fresh { token: token.unwrap_or(candidate) },
                    None => insert_or_read(&tx, &tenant, &key, &fingerprint, now, candidate)?,
                };
                tx.commit()?;
                Ok(claim)
            })
            .await
            .map_err(StoreError::from)
    }

    async fn complete(&self, tenant: &TenantId, key: &str, response: &StoredResponse) -> Result<(), StoreError> {
        let (tenant, key, response) = (tenant.to_string(), key.to_owned(), response.clone());
        self.db
            .call(move |conn| {
                conn.execute(
                    "UPDATE idempotency_keys SET status = ?3, body = ?4 WHERE tenant_id = ?1 AND key = ?2",
                    params![tenant, key, response.status, response.body],
                )?;
                Ok(())
            })
            .await
            .map_err(StoreError::from)
    }

    async fn release(&self, tenant: &TenantId, key: &str) -> Result<(), StoreError> {
        let (tenant, key) = (tenant.to_string(), key.to_owned());
        self.db
            .call(move |conn| {
                conn.execute("DELETE FROM idempotency_keys WHERE tenant_id = ?1 AND key = ?2", params![tenant, key])?;
                Ok(())
            })
            .await
            .map_err(StoreError::from)
    }
}

/// Claims a key nobody holds, or reports what holds it.
fn insert_or_read(
    tx: &rusqlite::Transaction<'_>,
    tenant: &str,
    key: &str,
    fingerprint: &str,
    now: i64,
    candidate: String,
) -> rusqlite::Result<Claim> {
    let claimed = tx.execute(
        "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, claimed_at, token) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (tenant_id, key) DO NOTHING",
        params![tenant, key, fingerprint, now, candidate],
    )?;
    if claimed == 1 {
        return Ok(Claim::Fresh { token: candidate });
    }
    let row: Option<(String, Option<u16>, Option<String>)> = tx
        .query_row(
            "SELECT fingerprint, status, body FROM idempotency_keys WHERE tenant_id = ?1 AND key = ?2",
            params![tenant, key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    Ok(match row {
        Some((stored, _, _)) if stored != fingerprint => Claim::Mismatch,
        Some((_, Some(status), Some(body))) => Claim::Replay(StoredResponse { status, body }),
        _ => Claim::InProgress,
    })
}
