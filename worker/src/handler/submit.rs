//! Submitting a job's statement for an attempt.

use std::time::Duration;

use sha2::{Digest, Sha256};
use spectra_state_machine::{Job, JobEvent, JobId, OutputFormat, Phase, TenantId};

use super::{Disposition, HandleError, Worker};
use crate::driver::{Applied, apply_event, apply_to};
use crate::messages::{StatementName, TraceParent};
use crate::platform::{JobLayout, Settings};
use crate::ports::{Sql, StatementRequest, WarehouseError};
use crate::sql::{IngestSpec, UnloadSpec, ingest_batch, unload};
use crate::upload::upload_columns;

/// How long a throttled submit waits before it is tried again, at least; jitter is added so
/// that a burst of throttled jobs does not come back at once.
const THROTTLE_PAUSE: Duration = Duration::from_secs(5);

/// The Data API's `ClientToken` for (tenant, job, attempt): a retried submit of the same
/// attempt returns the first statement instead of running the SQL twice. 64 hex characters,
/// the Data API's maximum length.
pub fn client_token(name: &StatementName) -> String {
    Sha256::digest(name.to_string().as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The Data API request for `job`'s `attempt` running `sql`: Spectra's statement name, the
/// attempt's client token, events as configured, the tenant's database user. Whoever submits an
/// attempt (a worker, or the API running a query synchronously) builds it here, so both submits
/// carry the same token and the SQL runs once.
pub fn named_request(job: &Job, attempt: u32, sql: Sql, settings: &Settings) -> StatementRequest {
    let name = StatementName { tenant_id: job.tenant_id().clone(), job_id: job.job_id().clone(), attempt };
    StatementRequest {
        sql,
        client_token: Some(client_token(&name)),
        statement_name: Some(name.to_string()),
        with_event: settings.statement_events,
        db_user: settings.db_user(job.tenant_id()),
        // The Data API adapter names its configured database; the embedded one has one.
        database: None,
    }
}

/// Why no statement could be built.
enum Unbuildable {
    /// The job can never become a statement; it fails with this message.
    Rejected(String),
    /// Reading what the statement needs failed for now.
    Later(HandleError),
}

impl Worker {
    /// Submits the statement of `attempt` if the job still waits for exactly that.
    pub(super) async fn submit(
        &self,
        tenant: &TenantId,
        job_id: &JobId,
        attempt: u32,
        tp: Option<&TraceParent>,
    ) -> Result<Disposition, HandleError> {
        let Some(job) = self.platform.store.get(tenant, job_id).await? else {
            tracing::info!(job = %job_id, "submit for a job that does not exist");
            return Ok(Disposition::Ack);
        };
        if job.phase() != Phase::Ready || job.header().execution.attempt != attempt {
            tracing::debug!(job = %job_id, attempt, "submit no longer wanted (duplicate or stale)");
            return Ok(Disposition::Ack);
        }
        let request = match self.statement_for(&job, attempt).await {
            Ok(request) => request,
            Err(Unbuildable::Later(e)) => return Err(e),
            Err(Unbuildable::Rejected(message)) => return self.reject(tenant, job_id, attempt, message, tp).await,
        };
        match self.warehouse.execute(request).await {
            Ok(statement_id) => {
                tracing::info!(job = %job_id, attempt, statement = %statement_id, "statement submitted");
                let event = JobEvent::StatementSubmitted { attempt, statement_id };
                // Written over the record just read (no second read); reloaded only if another
                // writer moved the job meanwhile.
                let applied = match apply_to(&self.platform, &job, &event, tp).await? {
                    Some(applied) => applied,
                    None => apply_event(&self.platform, tenant, job_id, &event, tp).await?,
                };
                if let Applied::Moved(written) = applied {
                    self.recent.remember(&written);
                }
                Ok(Disposition::Ack)
            }
            Err(e @ (WarehouseError::ActiveStatementsExceeded(_) | WarehouseError::Throttled(_))) => {
                let jitter = Duration::from_millis(fastrand::u64(0..THROTTLE_PAUSE.as_millis() as u64));
                tracing::info!(job = %job_id, reason = %e, "warehouse busy; the submit waits");
                Ok(Disposition::Defer { delay: THROTTLE_PAUSE + jitter, reason: e.to_string() })
            }
            Err(WarehouseError::Validation(message)) => self.reject(tenant, job_id, attempt, message, tp).await,
            Err(e) => Err(e.into()),
        }
    }

    async fn reject(
        &self,
        tenant: &TenantId,
        job_id: &JobId,
        attempt: u32,
        message: String,
        tp: Option<&TraceParent>,
    ) -> Result<Disposition, HandleError> {
        tracing::warn!(job = %job_id, attempt, reason = %message, "the job cannot be submitted");
        apply_event(&self.platform, tenant, job_id, &JobEvent::SubmitRejected { attempt, message }, tp).await?;
        Ok(Disposition::Ack)
    }

    /// The Data API request for the job's attempt.
    async fn statement_for(&self, job: &Job, attempt: u32) -> Result<StatementRequest, Unbuildable> {
        let settings = &self.platform.settings;
        let layout = JobLayout::new(job.tenant_id(), job.job_id());
        let role = settings.iam_role.as_deref();
        let rejected = |e: &dyn std::fmt::Display| Unbuildable::Rejected(e.to_string());
        let sql = match job {
            Job::Bulk(j) if !j.operation.is_ingest() => {
                let destination = JobLayout::s3_url(&settings.bucket, &layout.results_prefix());
                let spec = UnloadSpec {
                    query: j.query.as_deref().unwrap_or_default(),
                    destination: &destination,
                    iam_role: role,
                    format: j.content_type,
                    compression: j.compression,
                    max_file_size_mb: None,
                };
                Sql::Single { sql: unload(&spec).map_err(|e| rejected(&e))?, parameters: Vec::new() }
            }
            Job::Bulk(j) => {
                let prefix = layout.upload_prefix();
                let columns =
                    match upload_columns(&*self.platform.objects, &prefix, j.content_type, j.compression).await {
                        Ok(columns) => columns,
                        Err(e) if e.is_retryable() => return Err(Unbuildable::Later(e.into())),
                        Err(e) => return Err(rejected(&e)),
                    };
                let source = JobLayout::s3_url(&settings.bucket, &prefix);
                let spec = IngestSpec {
                    target: &j.object,
                    operation: j.operation,
                    primary_key: &j.primary_key,
                    columns: &columns,
                    source: &source,
                    iam_role: role,
                    format: j.content_type,
                    compression: j.compression,
                    max_error: settings.max_error,
                };
                Sql::Batch(ingest_batch(&spec).map_err(|e| rejected(&e))?.statements)
            }
            Job::Query(q) if q.output_format == OutputFormat::Json => {
                Sql::Single { sql: q.sql.clone(), parameters: q.parameters.clone() }
            }
            Job::Query(q) if !q.parameters.is_empty() => {
                return Err(Unbuildable::Rejected(
                    "named parameters cannot be used with csv or parquet output (UNLOAD takes no parameters)".into(),
                ));
            }
            Job::Query(q) => {
                let destination = JobLayout::s3_url(&settings.bucket, &layout.results_prefix());
                let format = match q.output_format {
                    OutputFormat::Parquet => spectra_state_machine::ContentType::Parquet,
                    _ => spectra_state_machine::ContentType::Csv,
                };
                let spec = UnloadSpec {
                    query: &q.sql,
                    destination: &destination,
                    iam_role: role,
                    format,
                    compression: spectra_state_machine::Compression::None,
                    max_file_size_mb: None,
                };
                Sql::Single { sql: unload(&spec).map_err(|e| rejected(&e))?, parameters: Vec::new() }
            }
        };
        Ok(named_request(job, attempt, sql, settings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_tokens_are_per_attempt_and_fit_the_data_api() {
        let name = |attempt| StatementName {
            tenant_id: TenantId::parse("t1").unwrap(),
            job_id: JobId::parse("bulk-1").unwrap(),
            attempt,
        };
        assert_eq!(client_token(&name(1)), client_token(&name(1)));
        assert_ne!(client_token(&name(1)), client_token(&name(2)));
        assert_eq!(client_token(&name(1)).len(), 64);
    }
}
