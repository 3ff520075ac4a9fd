//! The embedded `RateCounter`: an upsert that adds, in a SQLite table beside the job table.

use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;
use spectra_state_machine::TenantId;

use super::sqlite::Db;
use spectra_worker::ports::{RateCounter, RateWindow, StoreError};

/// `rate_counters` (before windows had an expiry) is dropped: counts live for a window only, so
/// an upgrade costs at most one window's counts.
const SCHEMA: &str = "
DROP TABLE IF EXISTS rate_counters;
CREATE TABLE IF NOT EXISTS rate_windows (
    tenant_id    TEXT    NOT NULL,
    grp          TEXT    NOT NULL,
    window_start INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, grp, window_start)
);
";

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
    async fn add(
        &self,
        tenant: &TenantId,
        group: &str,
        window: RateWindow,
        n: u64,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let n = i64::try_from(n).map_err(|_| StoreError::Invalid(format!("{n} hits do not fit a counter")))?;
        let (tenant, group) = (tenant.to_string(), group.to_owned());
        let now = now.timestamp();
        self.db
            .call(move |conn| {
                // Every counter's flush runs this: prepared once per connection.
                let count: i64 = conn
                    .prepare_cached(
                        "INSERT INTO rate_windows (tenant_id, grp, window_start, expires_at, count) \
                         VALUES (?1, ?2, ?3, ?4, ?5) \
                         ON CONFLICT (tenant_id, grp, window_start) DO UPDATE SET count = count + ?5 RETURNING count",
                    )?
                    .query_row(params![tenant, group, window.start, window.expires_at(), n], |r| r.get(0))?;
                // A new counter: forget the expired ones.
                if count == n {
                    conn.execute("DELETE FROM rate_windows WHERE expires_at < ?1", params![now])?;
                }
                Ok(u64::try_from(count).unwrap_or(0))
            })
            .await
            .map_err(StoreError::from)
    }
}
