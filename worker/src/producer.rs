//! The producer library: how bulk ETL producers (and the REST API) create and drive jobs.
//!
//! A producer never talks to the warehouse. It writes the job record, uploads parts, and moves
//! the job with the same conditional, announced transitions as the worker
//! ([`crate::driver`]); the statements themselves are the worker's, reached through commands on
//! the work queue.

use chrono::Utc;
use spectra_state_machine::{
    BulkJob, BulkJobRequest, BulkState, Compression, ContentType, Effect, Job, JobEvent, JobId, QueryJob,
    QueryJobRequest, SpecError, TenantId, TransitionError, bulk, query,
};
use thiserror::Error;

use crate::driver::{DriveError, apply_event, create_job};
use crate::messages::TraceParent;
use crate::platform::{JobLayout, Platform};
use crate::ports::{ByteReader, JobPage, ListFilter, ObjectError, ObjectMeta, PresignedUrl, StoreError};
use crate::results::{JobResults, ResultsError, job_results};
use crate::sql::{GuardError, check};

/// Why a producer call failed.
#[derive(Debug, Error)]
pub enum ProducerError {
    /// The request is invalid (names the field).
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// An export's query is not allowed or does not parse.
    #[error("the query is refused")]
    Sql(#[from] GuardError),
    /// No such job for the tenant (another tenant's job is "not found" too).
    #[error("job {0} not found")]
    NotFound(JobId),
    /// The job's state does not allow this (seed 001's 409).
    #[error("job {job} is {state}: cannot {action}")]
    Conflict {
        /// The job.
        job: JobId,
        /// Its state.
        state: String,
        /// What was asked.
        action: &'static str,
    },
    /// The job moved under us too often; try again.
    #[error("job {0} is busy; try again")]
    Busy(JobId),
    /// The job table failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The object store failed.
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// The results could not be listed.
    #[error(transparent)]
    Results(#[from] ResultsError),
}

impl ProducerError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Busy(_) => true,
            Self::Store(e) => e.is_retryable(),
            Self::Object(e) => e.is_retryable(),
            Self::Results(ResultsError::Object(e)) => e.is_retryable(),
            _ => false,
        }
    }
}

/// Who submits a query job's statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    /// A worker, from the command queued at creation (async queries, exports).
    Worker,
    /// The caller, in its own request (a synchronous query): no command is queued, so the
    /// statement is submitted once, not once by the request and again by a worker. Should the
    /// caller die before submitting, the reconciler finds the job waiting past its grace and
    /// submits it.
    Caller,
}

/// The producer API over a platform. Cheap to clone.
#[derive(Clone)]
pub struct Producer {
    platform: Platform,
}

/// The file name extension of an upload part or result.
fn extension(format: ContentType, compression: Compression) -> &'static str {
    match (format, compression) {
        (ContentType::Csv, Compression::None) => "csv",
        (ContentType::Csv, Compression::Gzip) => "csv.gz",
        (ContentType::Json, Compression::None) => "json",
        (ContentType::Json, Compression::Gzip) => "json.gz",
        (ContentType::Parquet, _) => "parquet",
    }
}

/// A new upload part's name: time-ordered, so parts uploaded one after another load in that
/// order, with a random suffix against collisions.
fn part_name(job: &BulkJob) -> String {
    format!(
        "part-{:013}-{:04x}.{}",
        Utc::now().timestamp_millis(),
        fastrand::u16(..),
        extension(job.content_type, job.compression)
    )
}

impl Producer {
    /// A producer on `platform`.
    pub fn new(platform: Platform) -> Self {
        Self { platform }
    }

    /// The platform it runs on.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// Creates a bulk job: validated (an export's query through the SQL guard), stored,
    /// announced; an export job is queued at once.
    ///
    /// `bound` is an idempotency claim's token ([`crate::ports::Claim::Fresh`]): the job's id is
    /// made from it, so an earlier attempt of the same request that died after creating the job
    /// is found, and that job is returned instead of a second one.
    pub async fn create_bulk(
        &self,
        tenant: &TenantId,
        request: BulkJobRequest,
        tp: Option<&TraceParent>,
        bound: Option<&str>,
    ) -> Result<BulkJob, ProducerError> {
        let spec = request.validate()?;
        if let Some(query) = &spec.query {
            check(query, self.platform.settings.guard)?;
        }
        let (job, effects) = bulk::create(tenant.clone(), spec, Utc::now());
        match self.create(Job::Bulk(job), &effects, tp, bound).await? {
            Job::Bulk(job) => Ok(job),
            Job::Query(q) => Err(ProducerError::NotFound(q.header.job_id)),
        }
    }

    /// Creates a query job (the Job API): validated, its SQL through the guard, stored,
    /// announced, and — when a worker runs it — queued for one. `bound` as for
    /// [`Producer::create_bulk`].
    pub async fn create_query(
        &self,
        tenant: &TenantId,
        request: QueryJobRequest,
        runner: Runner,
        tp: Option<&TraceParent>,
        bound: Option<&str>,
    ) -> Result<QueryJob, ProducerError> {
        let spec = request.validate()?;
        check(&spec.sql, self.platform.settings.guard)?;
        let (job, mut effects) = query::create(tenant.clone(), spec, Utc::now());
        if runner == Runner::Caller {
            effects.retain(|effect| !matches!(effect, Effect::SubmitStatement { .. }));
        }
        match self.create(Job::Query(job), &effects, tp, bound).await? {
            Job::Query(job) => Ok(job),
            Job::Bulk(b) => Err(ProducerError::NotFound(b.header.job_id)),
        }
    }

    /// Stores `job` (under the id `bound` makes, when given), or, when its id is taken (only a
    /// bound id can be), returns the job stored under it: the earlier attempt's, whatever state
    /// it has reached since.
    async fn create(
        &self,
        mut job: Job,
        effects: &[Effect],
        tp: Option<&TraceParent>,
        bound: Option<&str>,
    ) -> Result<Job, ProducerError> {
        if let Some(token) = bound {
            let id = JobId::bound(job.kind(), token)
                .map_err(|e| StoreError::Invalid(format!("an idempotency token makes no job id: {e}")))?;
            match &mut job {
                Job::Bulk(b) => b.header.job_id = id,
                Job::Query(q) => q.header.job_id = id,
            }
        }
        // The job's trace: the caller's span, or the context the caller was handed.
        let traceparent = crate::trace::current().or_else(|| tp.cloned());
        match &mut job {
            Job::Bulk(b) => b.header.traceparent = traceparent,
            Job::Query(q) => q.header.traceparent = traceparent,
        }
        match create_job(&self.platform, &job, effects, tp).await {
            Ok(()) => Ok(job),
            Err(StoreError::AlreadyExists(id)) => {
                tracing::info!(tenant = %job.tenant_id(), job = %id, "an earlier attempt of this request created the job");
                self.get(job.tenant_id(), &id).await
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Records that the API submitted the query job's statement itself (a synchronous query), so
    /// the job shows it running at once; a worker recording the same submit is a no-op.
    pub async fn submitted(&self, tenant: &TenantId, job_id: &JobId, attempt: u32, statement_id: &str) {
        let event = JobEvent::StatementSubmitted { attempt, statement_id: statement_id.to_owned() };
        if let Err(e) = apply_event(&self.platform, tenant, job_id, &event, None).await {
            tracing::debug!(job = %job_id, error = %e, "recording the submit (a worker will)");
        }
    }

    /// A tenant's job.
    pub async fn get(&self, tenant: &TenantId, job_id: &JobId) -> Result<Job, ProducerError> {
        self.platform.store.get(tenant, job_id).await?.ok_or_else(|| ProducerError::NotFound(job_id.clone()))
    }

    /// A tenant's jobs, newest first.
    pub async fn list(
        &self,
        tenant: &TenantId,
        filter: &ListFilter,
        limit: usize,
        page: Option<&str>,
    ) -> Result<JobPage, ProducerError> {
        Ok(self.platform.store.list(tenant, filter, limit, page).await?)
    }

    /// An `Open` ingest job, or the reason it cannot take uploads.
    async fn open_job(&self, tenant: &TenantId, job_id: &JobId) -> Result<BulkJob, ProducerError> {
        match self.get(tenant, job_id).await? {
            Job::Bulk(job) if job.state == BulkState::Open => Ok(job),
            other => Err(ProducerError::Conflict {
                job: job_id.clone(),
                state: other.state().as_str().to_owned(),
                action: "upload (only Open ingest jobs take uploads)",
            }),
        }
    }

    /// Uploads one part of an `Open` ingest job. `part` names it (one path segment); by
    /// default a time-ordered unique name is used, so parts uploaded one after another load in
    /// that order.
    pub async fn upload(
        &self,
        tenant: &TenantId,
        job_id: &JobId,
        part: Option<&str>,
        body: ByteReader,
    ) -> Result<ObjectMeta, ProducerError> {
        let job = self.open_job(tenant, job_id).await?;
        let layout = JobLayout::new(tenant, job_id);
        let name = part.map_or_else(|| part_name(&job), str::to_owned);
        let key = layout.upload_part(&name)?;
        Ok(self.platform.objects.put(&key, body).await?)
    }

    /// A presigned PUT link for one new part of an `Open` ingest job.
    pub async fn upload_url(&self, tenant: &TenantId, job_id: &JobId) -> Result<PresignedUrl, ProducerError> {
        let job = self.open_job(tenant, job_id).await?;
        let layout = JobLayout::new(tenant, job_id);
        Ok(self
            .platform
            .objects
            .presign_put(&layout.upload_part(&part_name(&job))?, self.platform.settings.link_expiry)
            .await?)
    }

    /// Marks the upload complete (`UploadComplete`): the worker loads it.
    pub async fn close(
        &self,
        tenant: &TenantId,
        job_id: &JobId,
        tp: Option<&TraceParent>,
    ) -> Result<Job, ProducerError> {
        self.drive(tenant, job_id, &JobEvent::UploadCompleted, "mark the upload complete", tp).await
    }

    /// Aborts a bulk job or cancels a query job; a running statement is cancelled.
    pub async fn abort(
        &self,
        tenant: &TenantId,
        job_id: &JobId,
        tp: Option<&TraceParent>,
    ) -> Result<Job, ProducerError> {
        self.drive(tenant, job_id, &JobEvent::AbortRequested, "abort", tp).await
    }

    async fn drive(
        &self,
        tenant: &TenantId,
        job_id: &JobId,
        event: &JobEvent,
        action: &'static str,
        tp: Option<&TraceParent>,
    ) -> Result<Job, ProducerError> {
        match apply_event(&self.platform, tenant, job_id, event, tp).await {
            Ok(applied) => Ok(applied.job().clone()),
            Err(DriveError::NotFound(id)) => Err(ProducerError::NotFound(id)),
            Err(DriveError::Transition(TransitionError::Illegal { state, .. })) => {
                Err(ProducerError::Conflict { job: job_id.clone(), state: state.to_owned(), action })
            }
            Err(DriveError::Transition(e)) => {
                Err(ProducerError::Conflict { job: job_id.clone(), state: e.to_string(), action })
            }
            Err(DriveError::Store(e)) => Err(e.into()),
            Err(DriveError::Contended(id)) => Err(ProducerError::Busy(id)),
        }
    }

    /// The results of a completed job, with presigned links.
    pub async fn results(&self, tenant: &TenantId, job_id: &JobId) -> Result<JobResults, ProducerError> {
        let job = self.get(tenant, job_id).await?;
        let done = matches!(
            job.state(),
            spectra_state_machine::AnyState::Bulk(BulkState::JobComplete)
                | spectra_state_machine::AnyState::Query(spectra_state_machine::QueryStatus::Completed)
        );
        if !done {
            return Err(ProducerError::Conflict {
                job: job_id.clone(),
                state: job.state().as_str().to_owned(),
                action: "list results (the job has not completed)",
            });
        }
        let settings = &self.platform.settings;
        Ok(job_results(&*self.platform.objects, &settings.bucket, &job, settings.link_expiry).await?)
    }
}
