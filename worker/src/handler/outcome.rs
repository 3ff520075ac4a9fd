//! A statement ended: find out how, gather the job's counts and results, apply the outcome.

use std::time::Duration;

use spectra_state_machine::{ContentType, Job, JobEvent, Phase, QueryParameter};

use super::{Disposition, HandleError, Worker};
use crate::driver::{Applied, DriveError, MAX_RACES, apply_to};
use crate::messages::StatementName;
use crate::platform::JobLayout;
use crate::ports::{
    Field, STOPPED_UNDER_STATEMENT, Sql, StatementDescription, StatementRequest, StatementStatus, WarehouseError,
    read_rows, wait_for,
};
use crate::results::{FailedRecord, write_failed_records};
use crate::upload::upload_columns;

/// Longest the worker waits for the query that reads an ingest's rejected rows.
const REJECTS_TIMEOUT: Duration = Duration::from_secs(120);

/// Failure messages that mean "the same SQL may well succeed if run again": serialization and
/// write conflicts, lost connections, and a warehouse that stopped mid-statement.
const RETRYABLE_FAILURES: [&str; 6] =
    ["serializable isolation violation", "could not serialize", "conflict", "deadlock", "connection", "please retry"];

/// The event of a failed statement: interrupted by a stop of the warehouse, or failed (worth
/// another attempt or not).
fn failure_event(attempt: u32, statement_id: String, message: String) -> JobEvent {
    if message.contains(STOPPED_UNDER_STATEMENT) {
        return JobEvent::StatementInterrupted { attempt, statement_id };
    }
    let retryable = is_retryable_failure(&message);
    JobEvent::StatementFailed { attempt, statement_id, message, retryable }
}

/// Whether a statement failure is worth another attempt.
pub fn is_retryable_failure(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    RETRYABLE_FAILURES.iter().any(|m| message.contains(m))
}

/// A statement's end as the caller learned of it.
pub(super) struct Ended<'a> {
    /// The statement.
    pub statement_id: &'a str,
    /// The row count of a status-change event that reported the statement `FINISHED`.
    pub finished_rows: Option<i64>,
    /// The job, when the caller has it.
    pub known: Known,
    /// What a statement the warehouse does not know means.
    pub if_unknown: IfUnknown,
}

/// What a statement the warehouse does not know (`ResourceNotFound`) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IfUnknown {
    /// Nothing to do: an event about a statement that has since expired.
    Ignore,
    /// The job's running statement was lost: the reconciler found the job running on a
    /// statement the warehouse has no record of. Redshift forgets a statement after 24 hours,
    /// past every deadline (checked first); the embedded warehouse records a tenant's read
    /// only when it ends, so a restart during the read forgets it. Either way nothing of it
    /// was committed, and the job is retried as if the warehouse had stopped under it.
    Lost,
}

/// What the caller knows of the job a statement belongs to.
pub(super) enum Known {
    /// Nothing: it is read.
    Nothing,
    /// The record as just loaded (the reconciler).
    Loaded(Job),
    /// The record as this worker last wrote it, possibly stale — the conditional write catches
    /// that, and an event it says to ignore is looked at again on the stored record.
    Remembered(Job),
}

/// The statement's end as its status-change event reported it, when that is all the outcome
/// needs: a single statement (an export's UNLOAD, a query job) that finished with a known row
/// count. The event's `rows` is the statement's `ResultRows`, so DescribeStatement would add
/// nothing but a call. Ingests (their batch's COPY counts and rejects) and failures (their
/// error text) are described.
fn reported_finish(job: &Job, statement_id: &str, rows: Option<i64>) -> Option<StatementDescription> {
    let rows = rows.filter(|r| *r >= 0)?;
    if matches!(job, Job::Bulk(b) if b.operation.is_ingest()) {
        return None;
    }
    Some(StatementDescription::ended(statement_id, StatementStatus::Finished, None, rows))
}

impl Worker {
    /// Handles the end of the statement named `name`, as `ended` tells of it.
    pub(super) async fn statement_ended(
        &self,
        name: &StatementName,
        ended: Ended<'_>,
    ) -> Result<Disposition, HandleError> {
        let statement_id = ended.statement_id;
        let (mut job, mut remembered) = match ended.known {
            Known::Loaded(job) => (job, false),
            Known::Remembered(job) => (job, true),
            Known::Nothing => match self.platform.store.get(&name.tenant_id, &name.job_id).await? {
                Some(job) => (job, false),
                None => {
                    tracing::info!(job = %name.job_id, "statement event for a job that does not exist");
                    return Ok(Disposition::Ack);
                }
            },
        };
        let description = match reported_finish(&job, statement_id, ended.finished_rows) {
            Some(reported) => reported,
            None => match self.warehouse.describe(statement_id).await {
                Ok(d) => d,
                Err(WarehouseError::NotFound(_)) if ended.if_unknown == IfUnknown::Lost => {
                    tracing::warn!(
                        statement = statement_id,
                        "the job's statement is unknown to the warehouse: retried"
                    );
                    let error = Some(STOPPED_UNDER_STATEMENT.to_owned());
                    StatementDescription::ended(statement_id, StatementStatus::Failed, error, -1)
                }
                Err(WarehouseError::NotFound(_)) => {
                    tracing::info!(statement = statement_id, "statement is unknown to the warehouse (expired?)");
                    return Ok(Disposition::Ack);
                }
                Err(e) => return Err(e.into()),
            },
        };
        if !description.status.is_terminal() {
            return Ok(Disposition::Retry(format!("statement {statement_id} has not ended yet")));
        }
        // The outcome (with the counts and files of the job's running statement) is decided on
        // the record the write replaces; when the job moved meanwhile (its submit was recorded
        // just now, say), it is decided again on the new record.
        // A record from this worker's memory is trusted only to be written over: an event it
        // says to ignore (or cannot take) is looked at again on the stored record.
        for _ in 0..MAX_RACES {
            let event = self.outcome(&job, name.attempt, &description).await?;
            let early = match apply_to(&self.platform, &job, &event, None).await {
                Ok(Some(Applied::Unchanged(..))) | Err(DriveError::Transition(_))
                    if std::mem::take(&mut remembered) =>
                {
                    None
                }
                Ok(Some(_)) => return Ok(Disposition::Ack),
                Ok(None) => None,
                Err(DriveError::Transition(e)) if e.is_retryable() => Some(e),
                Err(e) => return Err(e.into()),
            };
            let Some(fresh) = self.platform.store.get(&name.tenant_id, &name.job_id).await? else {
                return Ok(Disposition::Ack);
            };
            // Early on the record as it still is: the submit is not recorded yet; later.
            if let Some(e) = early
                && fresh.version() == job.version()
            {
                return Err(DriveError::Transition(e).into());
            }
            job = fresh;
        }
        Ok(Disposition::Retry(format!("job {} kept changing while its statement's outcome was applied", name.job_id)))
    }

    /// The machine event for an ended statement. Counts and result files are gathered only
    /// when the statement is the job's running one; for anything else the machine only needs
    /// to see that it is stale.
    async fn outcome(&self, job: &Job, attempt: u32, d: &StatementDescription) -> Result<JobEvent, HandleError> {
        let statement_id = d.id.clone();
        Ok(match d.status {
            StatementStatus::Aborted => JobEvent::StatementAborted { attempt, statement_id },
            StatementStatus::Finished => {
                let exec = &job.header().execution;
                let current = job.phase() == Phase::Running
                    && exec.attempt == attempt
                    && exec.statement_id.as_deref() == Some(d.id.as_str());
                let (rows, rows_failed) = if current { self.counts(job, d).await? } else { (0, 0) };
                JobEvent::StatementFinished { attempt, statement_id, rows, rows_failed }
            }
            _ => {
                let message = d
                    .error
                    .clone()
                    .or_else(|| d.sub_statements.iter().find_map(|s| s.error.clone()))
                    .unwrap_or_else(|| "the statement failed without an error message".into());
                failure_event(attempt, statement_id, message)
            }
        })
    }

    /// (rows processed, rows rejected). An ingest processed what its COPY loaded plus what it
    /// rejected (as Salesforce counts); the rejected rows are written to the failed-records
    /// file first, so a job never shows a failure count without the file.
    async fn counts(&self, job: &Job, d: &StatementDescription) -> Result<(u64, u64), HandleError> {
        let Job::Bulk(bulk) = job else { return Ok((d.result_rows.max(0) as u64, 0)) };
        if !bulk.operation.is_ingest() {
            return Ok((d.result_rows.max(0) as u64, 0));
        }
        let Some(copy) = d.sub_statements.iter().find(|s| s.query_string.trim_start().starts_with("COPY ")) else {
            return Ok((0, 0));
        };
        let loaded = copy.result_rows.max(0) as u64;
        let rejected = self.rejected_rows(copy.redshift_query_id).await?;
        if !rejected.is_empty() {
            let layout = JobLayout::new(&bulk.header.tenant_id, &bulk.header.job_id);
            // A CSV upload's rejected lines are CSV rows under its header; other formats' rows
            // go into the file whole.
            let columns = if bulk.content_type == ContentType::Csv {
                upload_columns(&*self.platform.objects, &layout.upload_prefix(), bulk.content_type, bulk.compression)
                    .await
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            write_failed_records(&*self.platform.objects, &layout.failed_records(), &columns, &rejected).await?;
        }
        Ok((loaded + rejected.len() as u64, rejected.len() as u64))
    }

    /// The rows a COPY rejected, from Redshift's `sys_load_error_detail`.
    async fn rejected_rows(&self, query_id: i64) -> Result<Vec<FailedRecord>, HandleError> {
        if query_id < 0 {
            return Ok(Vec::new());
        }
        let parameter = QueryParameter {
            name: spectra_state_machine::Identifier::parse("query_id")
                .map_err(|e| HandleError::Retry(e.to_string()))?,
            value: query_id.to_string(),
        };
        let request = StatementRequest {
            sql: Sql::Single {
                sql: "SELECT line_number, error_message, raw_line FROM sys_load_error_detail \
                      WHERE query_id = :query_id ORDER BY file_name, line_number"
                    .into(),
                parameters: vec![parameter],
            },
            ..StatementRequest::single("")
        };
        let id = self.warehouse.execute(request).await?;
        let done = tokio::time::timeout(REJECTS_TIMEOUT, wait_for(&*self.warehouse, &id))
            .await
            .map_err(|_| HandleError::Retry("reading the rejected rows timed out".into()))??;
        if done.status != StatementStatus::Finished {
            return Err(HandleError::Retry(format!(
                "reading the rejected rows failed: {}",
                done.error.unwrap_or_default()
            )));
        }
        let (_, records) = read_rows(&*self.warehouse, &id, None).await?;
        let text = |f: Option<&Field>| match f {
            Some(Field::String(s)) => s.clone(),
            Some(Field::Long(n)) => n.to_string(),
            _ => String::new(),
        };
        Ok(records
            .iter()
            .map(|record| {
                let line = match record.first() {
                    Some(Field::Long(n)) => *n,
                    _ => -1,
                };
                FailedRecord { line, error: text(record.get(1)), raw: text(record.get(2)) }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_of_the_warehouse_is_an_interruption_not_a_failure() {
        let stopped = "the warehouse stopped while the statement ran; nothing it did was committed";
        let event = failure_event(3, "s".into(), stopped.into());
        assert_eq!(event, JobEvent::StatementInterrupted { attempt: 3, statement_id: "s".into() });
        let event = failure_event(3, "s".into(), "Binder Error: no column x".into());
        assert!(matches!(event, JobEvent::StatementFailed { retryable: false, .. }), "{event:?}");
    }

    #[test]
    fn transient_failures_are_retryable_and_sql_errors_are_not() {
        assert!(is_retryable_failure("ERROR: 1023 DETAIL: Serializable isolation violation on table"));
        assert!(is_retryable_failure("TransactionContext Error: Catalog write-write conflict on create"));
        assert!(!is_retryable_failure("Binder Error: column \"x\" does not exist"));
        assert!(!is_retryable_failure("Load into table 'sales' failed: 3 row(s) rejected, MAXERROR is 0"));
    }
}
