//! The statement ledger: a table in the warehouse itself (`spectra_internal.statements`).
//!
//! A statement's final record is written *inside the transaction that runs its SQL*, so after a
//! crash the ledger and the data agree: a statement is `FINISHED` exactly when its effect is
//! committed. A statement the ledger shows as still running after a restart never committed,
//! and is recorded `FAILED`. This is what lets the worker retry without applying a job twice.
//! A tenant's checked query has no effect to agree with: its record is written once, when it
//! has ended (`runs::Recorded::AtEnd`), and a restart during it leaves no record at all.

use std::collections::VecDeque;
use std::sync::Mutex;

use chrono::{Duration, Utc};
use duckdb::{Connection, params};

use super::statements::Record;
use spectra_worker::ports::StatementStatus;

/// Statements and their results are kept for 24 hours, as the Data API keeps them.
pub(crate) const RETENTION_HOURS: i64 = 24;

const SCHEMA: &str = "
CREATE SCHEMA IF NOT EXISTS spectra_internal;
CREATE TABLE IF NOT EXISTS spectra_internal.statements (
    id         VARCHAR NOT NULL,
    status     VARCHAR NOT NULL,
    created_us BIGINT  NOT NULL,
    record     VARCHAR NOT NULL
);
CREATE SEQUENCE IF NOT EXISTS spectra_internal.query_ids START 1000;
CREATE TABLE IF NOT EXISTS spectra_internal.sys_load_error_detail (
    query_id        BIGINT,
    file_name       VARCHAR,
    line_number     BIGINT,
    column_name     VARCHAR,
    column_type     VARCHAR,
    error_code      INTEGER,
    error_message   VARCHAR,
    raw_line        VARCHAR,
    start_time      TIMESTAMP
);
";

pub(crate) type LedgerResult<T> = Result<T, duckdb::Error>;

fn json(record: &Record) -> String {
    serde_json::to_string(record).unwrap_or_default()
}

/// Creates the ledger, drops records past retention, and marks statements that were running
/// when the process stopped as `FAILED`. Returns the retained records (the recovered ones
/// included, for their events).
pub(crate) fn open(conn: &Connection) -> LedgerResult<(Vec<Record>, Vec<Record>)> {
    conn.execute_batch(SCHEMA)?;
    let cutoff = (Utc::now() - Duration::hours(RETENTION_HOURS)).timestamp_micros();
    conn.execute("DELETE FROM spectra_internal.statements WHERE created_us < ?", params![cutoff])?;
    let mut stmt = conn.prepare("SELECT record FROM spectra_internal.statements ORDER BY created_us")?;
    let stored: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    let (mut kept, mut recovered) = (Vec::new(), Vec::new());
    for text in stored {
        let Ok(mut record) = serde_json::from_str::<Record>(&text) else { continue };
        if !record.status.is_terminal() {
            record.end_unfinished(StatementStatus::Failed, spectra_worker::ports::STOPPED_UNDER_STATEMENT, Utc::now());
            save(conn, &record)?;
            recovered.push(record.clone());
        }
        kept.push(record);
    }
    Ok((kept, recovered))
}

/// Deletes the ended statements created before `cutoff`.
pub(crate) fn delete_ended_before(conn: &Connection, cutoff: chrono::DateTime<Utc>) -> LedgerResult<usize> {
    conn.execute(
        "DELETE FROM spectra_internal.statements WHERE created_us < ? AND status IN ('FINISHED', 'FAILED', 'ABORTED')",
        params![cutoff.timestamp_micros()],
    )
}

/// Records a newly submitted statement.
pub(crate) fn insert(conn: &Connection, record: &Record) -> LedgerResult<()> {
    conn.execute(
        "INSERT INTO spectra_internal.statements (id, status, created_us, record) VALUES (?, ?, ?, ?)",
        params![record.id, record.status.as_str(), record.created_at.timestamp_micros(), json(record)],
    )?;
    Ok(())
}

/// Overwrites a statement's record (inside the caller's transaction, if it has one).
pub(crate) fn save(conn: &Connection, record: &Record) -> LedgerResult<()> {
    conn.execute(
        "UPDATE spectra_internal.statements SET status = ?, record = ? WHERE id = ?",
        params![record.status.as_str(), json(record), record.id],
    )?;
    Ok(())
}

/// Query ids reserved per trip to the sequence.
const QUERY_ID_BLOCK: i64 = 256;

/// Redshift-style query ids, reserved from the ledger's sequence a block at a time: a
/// `nextval` is a write transaction of its own (about half a millisecond), too much for every
/// statement. Ids reserved but not used before a stop are skipped, as Redshift's skip too;
/// none is ever handed out twice.
#[derive(Default)]
pub(crate) struct QueryIds {
    reserved: Mutex<VecDeque<i64>>,
}

impl QueryIds {
    /// `n` ids in ascending order, refilled on `conn` (outside any transaction of its) when
    /// too few are left.
    pub fn take(&self, conn: &Connection, n: usize) -> LedgerResult<Vec<i64>> {
        let mut reserved = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
        if reserved.len() < n {
            let wanted = QUERY_ID_BLOCK.max(n as i64);
            let mut stmt = conn.prepare("SELECT nextval('spectra_internal.query_ids') FROM range(?)")?;
            let mut ids = stmt.query_map(params![wanted], |r| r.get::<_, i64>(0))?.collect::<Result<Vec<_>, _>>()?;
            ids.sort_unstable();
            reserved.extend(ids);
        }
        Ok(reserved.drain(..n).collect())
    }
}

/// Runs a ledger write up to four times: a cancel's last interrupt may land on it (a new query
/// clears DuckDB's interrupt flag), and the ledger should end up saying how a statement ended.
pub(crate) fn with_retries(mut write: impl FnMut() -> LedgerResult<()>) -> LedgerResult<()> {
    let mut written = write();
    for _ in 0..3 {
        if written.is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        written = write();
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statements::Run;

    fn running(id: &str) -> Record {
        let now = Utc::now();
        Record {
            id: id.into(),
            client_token: None,
            statement_name: Some("spectra:acme:bulk-1:1".into()),
            db_user: None,
            database: None,
            parameters: Vec::new(),
            is_batch: false,
            with_event: true,
            status: StatementStatus::Started,
            error: None,
            created_at: now,
            updated_at: now,
            duration_ns: 0,
            runs: vec![Run {
                sql: "INSERT INTO t VALUES (1)".into(),
                status: StatementStatus::Started,
                error: None,
                has_result_set: false,
                result_rows: -1,
                redshift_query_id: -1,
                created_at: now,
                updated_at: now,
                duration_ns: 0,
            }],
        }
    }

    #[test]
    fn statements_running_when_the_process_died_are_failed_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.duckdb");
        {
            let conn = Connection::open(&path).unwrap();
            open(&conn).unwrap();
            insert(&conn, &running("a")).unwrap();
            // The process dies here: the statement's end is never recorded.
        }
        let conn = Connection::open(&path).unwrap();
        let (kept, recovered) = open(&conn).unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(recovered.len(), 1);
        assert_eq!(recovered[0].status, StatementStatus::Failed);
        assert_eq!(recovered[0].runs[0].status, StatementStatus::Failed);
        assert!(recovered[0].error.as_deref().unwrap_or_default().contains("nothing it did was committed"));
        // Recovery is recorded: a second reopen has nothing left to recover.
        assert!(open(&conn).unwrap().1.is_empty());
    }
}
