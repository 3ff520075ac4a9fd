//! The embedded `RateCounter`: an upsert that increments, in a SQLite table beside the job table.

use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;
use spectra_state_machine::TenantId;

use super::sqlite::Db;
use spectra_worker::ports::{RateCounter, StoreError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS rate_counters (
    tenant_id    TEXT    NOT NULL,
    grp          TEXT    NOT NULL,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, grp, window_start)
);
";

/// Windows older than this are deleted as new ones start.
const KEEP_SECONDS: i64 = 3600;

/// Rate counters in SQLite. Cheap to clone.
#[derive(Clone)]
pub struct SqliteRateCounter {
    db: Db,
}

impl SqliteRateCounter {
    /// Opens (creating if needed) the table in the database file at `path`.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self { db: Db::open(path, SCHEMA).await? })
    }
}

#[async_trait]
impl RateCounter for SqliteRateCounter {
    async fn hit(
        &self,
        tenant: &TenantId,
        group: &str,
        window_start: i64,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let (tenant, group) = (tenant.to_string(), group.to_owned());
        let stale = now.timestamp() - KEEP_SECONDS;
        self.db
            .call(move |conn| {
                // Every rate-limited request runs this: prepared once per connection.
                let count: i64 = conn
                    .prepare_cached(
                        "INSERT INTO rate_counters (tenant_id, grp, window_start, count) VALUES (?1, ?2, ?3, 1) \
                         ON CONFLICT (tenant_id, grp, window_start) DO UPDATE SET count = count + 1 RETURNING count",
                    )?
                    .query_row(params![tenant, group, window_start], |r| r.get(0))?;
                if count == 1 {
                    conn.execute("DELETE FROM rate_counters WHERE window_start < ?1", params![stale])?;
                }
                Ok(u64::try_from(count).unwrap_or(0))
            })
            .await
            .map_err(StoreError::from)
    }
}
