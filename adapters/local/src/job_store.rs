//! The embedded `JobStore`: the job table in SQLite. The whole record is stored as JSON (the
//! `job-record` schema) beside the columns that reads select on, so the columns can never
//! disagree with the record: both are written from the same `Job` in one statement.

use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params, params_from_iter};
use serde::{Deserialize, Serialize};
use spectra_state_machine::{AnyState, Job, JobId, TenantId};

use super::sqlite::Db;
use spectra_worker::ports::{
    JobPage, JobStore, ListFilter, StaleCursor, StoreError, UpdateOutcome, check_page_size, decode_page_token,
    encode_page_token,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    tenant_id  TEXT    NOT NULL,
    job_id     TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    operation  TEXT,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    record     TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, job_id)
);
CREATE INDEX IF NOT EXISTS jobs_by_tenant ON jobs (tenant_id, created_at DESC, job_id DESC);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, updated_at);
";

/// The job table in a SQLite file.
#[derive(Clone)]
pub struct SqliteJobStore {
    db: Db,
}

/// Where a list page ends. Encoded as URL-safe base64 JSON; the tenant inside binds the token
/// to the tenant that listed.
#[derive(Serialize, Deserialize)]
struct PageToken {
    t: String,
    c: i64,
    j: String,
}

/// The columns of a job, derived from the record in one place.
struct Row {
    tenant_id: String,
    job_id: String,
    kind: &'static str,
    state: &'static str,
    operation: Option<&'static str>,
    version: i64,
    created_at: i64,
    updated_at: i64,
    record: String,
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Row {
    fn of(job: &Job) -> Result<Self, StoreError> {
        Ok(Self {
            tenant_id: job.tenant_id().to_string(),
            job_id: job.job_id().to_string(),
            kind: job.kind().as_str(),
            state: job.state().as_str(),
            operation: job.operation().map(|o| o.as_str()),
            version: to_i64(job.version()),
            created_at: job.created_at().timestamp_millis(),
            updated_at: job.updated_at().timestamp_millis(),
            record: serde_json::to_string(job).map_err(|e| StoreError::Invalid(e.to_string()))?,
        })
    }
}

fn decode(job_id: &str, record: &str) -> Result<Job, StoreError> {
    serde_json::from_str(record).map_err(|e| StoreError::Corrupt { job_id: job_id.to_owned(), reason: e.to_string() })
}

impl SqliteJobStore {
    /// Opens (creating if needed) the job table in the database file at `path`.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self { db: Db::open(path, SCHEMA).await? })
    }

    /// Runs a query returning `(job_id, record)` rows and decodes them.
    async fn query_jobs(&self, sql: String, args: Vec<rusqlite::types::Value>) -> Result<Vec<Job>, StoreError> {
        let rows = self
            .db
            .call(move |conn| {
                let mut stmt = conn.prepare(&sql)?;
                let rows =
                    stmt.query_map(params_from_iter(args), |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        rows.iter().map(|(id, record)| decode(id, record)).collect()
    }
}

#[async_trait]
impl JobStore for SqliteJobStore {
    async fn create(&self, job: &Job) -> Result<(), StoreError> {
        let row = Row::of(job)?;
        let inserted = self
            .db
            .call(move |conn| {
                Ok(conn.execute(
                    "INSERT INTO jobs (tenant_id, job_id, kind, state, operation, version, created_at, updated_at, record)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (tenant_id, job_id) DO NOTHING",
                    params![
                        row.tenant_id, row.job_id, row.kind, row.state, row.operation, row.version, row.created_at,
                        row.updated_at, row.record
                    ],
                )?)
            })
            .await
            ?;
        if inserted == 0 {
            return Err(StoreError::AlreadyExists(job.job_id().clone()));
        }
        Ok(())
    }

    async fn get(&self, tenant: &TenantId, job_id: &JobId) -> Result<Option<Job>, StoreError> {
        let (tenant, id) = (tenant.to_string(), job_id.to_string());
        // Every job read runs this: in place, prepared once per connection.
        let record: Option<String> = self.db.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT record FROM jobs WHERE tenant_id = ?1 AND job_id = ?2")?
                .query_row(params![tenant, id], |r| r.get(0))
                .optional()?)
        })?;
        record.map(|r| decode(job_id.as_str(), &r)).transpose()
    }

    async fn update(&self, expected: &Job, new: &Job) -> Result<UpdateOutcome, StoreError> {
        if new.tenant_id() != expected.tenant_id() || new.job_id() != expected.job_id() {
            return Err(StoreError::Invalid("update must keep the tenant and job id".into()));
        }
        if new.version() != expected.version() + 1 {
            return Err(StoreError::Invalid(format!(
                "new version {} must be expected version {} + 1",
                new.version(),
                expected.version()
            )));
        }
        let row = Row::of(new)?;
        let (expected_version, expected_state) = (to_i64(expected.version()), expected.state().as_str());
        let changed = self
            .db
            .call(move |conn| {
                Ok(conn.execute(
                    "UPDATE jobs SET state = ?3, version = ?4, updated_at = ?5, record = ?6
                     WHERE tenant_id = ?1 AND job_id = ?2 AND version = ?7 AND state = ?8",
                    params![
                        row.tenant_id,
                        row.job_id,
                        row.state,
                        row.version,
                        row.updated_at,
                        row.record,
                        expected_version,
                        expected_state
                    ],
                )?)
            })
            .await?;
        if changed == 1 {
            return Ok(UpdateOutcome::Updated);
        }
        let current = self.get(expected.tenant_id(), expected.job_id()).await?;
        Ok(UpdateOutcome::LostRace { current: current.map(Box::new) })
    }

    async fn list(
        &self,
        tenant: &TenantId,
        filter: &ListFilter,
        limit: usize,
        page: Option<&str>,
    ) -> Result<JobPage, StoreError> {
        check_page_size(limit)?;
        use rusqlite::types::Value;
        let mut sql = String::from("SELECT job_id, record, created_at FROM jobs WHERE tenant_id = ?");
        let mut args = vec![Value::Text(tenant.to_string())];
        if let Some(kind) = filter.kind {
            sql.push_str(" AND kind = ?");
            args.push(Value::Text(kind.as_str().into()));
        }
        if let Some(state) = filter.state {
            sql.push_str(" AND state = ?");
            args.push(Value::Text(state.as_str().into()));
        }
        if let Some(operation) = filter.operation {
            sql.push_str(" AND operation = ?");
            args.push(Value::Text(operation.as_str().into()));
        }
        if let Some(token) = page {
            let token: PageToken = decode_page_token(token)?;
            if token.t != tenant.as_str() {
                return Err(StoreError::InvalidPageToken);
            }
            sql.push_str(" AND (created_at, job_id) < (?, ?)");
            args.extend([Value::Integer(token.c), Value::Text(token.j)]);
        }
        sql.push_str(" ORDER BY created_at DESC, job_id DESC LIMIT ?");
        args.push(Value::Integer(limit as i64 + 1));

        let mut jobs = self.query_jobs(sql, args).await?;
        let next_page = if jobs.len() > limit {
            jobs.truncate(limit);
            jobs.last().map(|last| {
                let token = PageToken {
                    t: tenant.to_string(),
                    c: last.created_at().timestamp_millis(),
                    j: last.job_id().to_string(),
                };
                encode_page_token(&token)
            })
        } else {
            None
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
        use rusqlite::types::Value;
        if states.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let placeholders = vec!["?"; states.len()].join(", ");
        let resume = if after.is_some() { "AND (updated_at, tenant_id, job_id) > (?, ?, ?)" } else { "" };
        let sql = format!(
            "SELECT job_id, record FROM jobs WHERE state IN ({placeholders}) AND updated_at < ? {resume} \
             ORDER BY updated_at, tenant_id, job_id LIMIT ?"
        );
        let mut args: Vec<Value> = states.iter().map(|s| Value::Text(s.as_str().into())).collect();
        args.push(Value::Integer(updated_before.timestamp_millis()));
        if let Some(c) = after {
            args.extend([
                Value::Integer(c.updated_at.timestamp_millis()),
                Value::Text(c.tenant.to_string()),
                Value::Text(c.job_id.to_string()),
            ]);
        }
        args.push(Value::Integer(limit as i64));
        self.query_jobs(sql, args).await
    }

    async fn recent(
        &self,
        states: &[AnyState],
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        use rusqlite::types::Value;
        if states.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let placeholders = vec!["?"; states.len()].join(", ");
        let sql = format!(
            "SELECT job_id, record FROM jobs WHERE state IN ({placeholders}) AND updated_at >= ? AND updated_at < ? \
             ORDER BY updated_at DESC, tenant_id, job_id LIMIT ?"
        );
        let mut args: Vec<Value> = states.iter().map(|s| Value::Text(s.as_str().into())).collect();
        args.extend([
            Value::Integer(since.timestamp_millis()),
            Value::Integer(until.timestamp_millis()),
            Value::Integer(limit as i64),
        ]);
        self.query_jobs(sql, args).await
    }
}
