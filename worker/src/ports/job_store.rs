//! The `JobStore` port: the job table, the single source of truth about jobs.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use spectra_state_machine::{AnyState, Job, JobId, JobKind, Operation, TenantId};
use thiserror::Error;

/// Most jobs one list page returns (seed 001: `limit` ≤ 100).
pub const MAX_PAGE_SIZE: usize = 100;

/// Refuses a list page size outside `1..=`[`MAX_PAGE_SIZE`].
pub fn check_page_size(limit: usize) -> Result<(), StoreError> {
    if (1..=MAX_PAGE_SIZE).contains(&limit) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!("limit must be 1..={MAX_PAGE_SIZE}, not {limit}")))
    }
}

/// Encodes a store's page position as an opaque token (URL-safe base64 of JSON). Stores put
/// the listing tenant inside and check it on the way back, which binds tokens to tenants.
pub fn encode_page_token<T: serde::Serialize>(position: &T) -> String {
    use base64::Engine;
    // Serialising a plain struct of strings and numbers cannot fail.
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(position).unwrap_or_default())
}

/// Decodes a token of [`encode_page_token`]; anything else is [`StoreError::InvalidPageToken`].
pub fn decode_page_token<T: serde::de::DeserializeOwned>(token: &str) -> Result<T, StoreError> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(StoreError::InvalidPageToken)
}

/// Which jobs a list returns. Every list is within one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only jobs of this kind.
    pub kind: Option<JobKind>,
    /// Only jobs in this state.
    pub state: Option<AnyState>,
    /// Only bulk jobs with this operation.
    pub operation: Option<Operation>,
}

/// One page of a list, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobPage {
    /// The jobs on this page.
    pub jobs: Vec<Job>,
    /// An opaque token for the next page; `None` on the last page. Tokens are bound to the
    /// tenant that listed: another tenant's token is refused.
    pub next_page: Option<String>,
}

/// The result of a conditional update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// The write happened.
    Updated,
    /// Someone else changed the job first (or it is gone). The caller reloads and decides
    /// again; the current record is returned when it exists.
    LostRace {
        /// The record as it is now.
        current: Option<Box<Job>>,
    },
}

/// Where a stale scan resumes: just after this job, in the scan's order (last update, then
/// tenant, then job id). Built from the last job of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleCursor {
    /// The job's last update.
    pub updated_at: DateTime<Utc>,
    /// Its tenant.
    pub tenant: TenantId,
    /// Its id.
    pub job_id: JobId,
}

impl StaleCursor {
    /// The position just after `job`.
    pub fn after(job: &Job) -> Self {
        Self { updated_at: job.updated_at(), tenant: job.tenant_id().clone(), job_id: job.job_id().clone() }
    }
}

/// Why a job store call failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// `create` of a job id that already exists for the tenant.
    #[error("job {0} already exists")]
    AlreadyExists(JobId),
    /// The page token was not issued by this store for this tenant and filter.
    #[error("invalid page token")]
    InvalidPageToken,
    /// The request was invalid (e.g. a page size of 0).
    #[error("invalid job store request: {0}")]
    Invalid(String),
    /// A stored record could not be decoded: a bug or a corrupted table, never retryable.
    #[error("corrupt job record {job_id}: {reason}")]
    Corrupt {
        /// The record's job id.
        job_id: String,
        /// What was wrong.
        reason: String,
    },
    /// The store could not be reached or is throttling; retrying later may succeed.
    #[error("job store unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// The job table. The SQLite store and the DynamoDB adapter both pass `contract::job_store`.
///
/// # Contract
/// - **Tenant scoping.** Every read names the tenant; a job of another tenant is "not found".
/// - **Create if absent.** `create` fails with [`StoreError::AlreadyExists`] when the id is
///   taken, and never overwrites.
/// - **Conditional update.** `update(expected, new)` writes `new` only if the stored record
///   still has `expected`'s version *and* state; otherwise it returns
///   [`UpdateOutcome::LostRace`] and changes nothing. Of many concurrent updates from the same
///   version, exactly one wins. `new.version` must be `expected.version + 1`.
/// - **Lists** are newest first (by creation time, then id), filtered, paged by opaque tokens.
///   A page may hold fewer than `limit` jobs and still have a next page.
/// - **Stale scans** return jobs of any tenant in one of `states` whose `updated_at` is older
///   than `updated_before`, ordered by (`updated_at`, tenant, job id), from just after `after`
///   when given — the reconciler's sweep pages through all of them this way. Timestamps compare
///   at millisecond precision.
/// - **Recent lists** (`recent`) return jobs of any tenant in one of `states` changed within
///   `[since, until)`, most recent change first — the operator dashboard's list.
/// - **Errors.** Only [`StoreError::Unavailable`] is retryable.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Stores a new job.
    async fn create(&self, job: &Job) -> Result<(), StoreError>;

    /// Loads a job of a tenant.
    async fn get(&self, tenant: &TenantId, job_id: &JobId) -> Result<Option<Job>, StoreError>;

    /// Replaces `expected` with `new` if nobody changed it in between.
    async fn update(&self, expected: &Job, new: &Job) -> Result<UpdateOutcome, StoreError>;

    /// Lists a tenant's jobs, newest first; `limit` is 1..=[`MAX_PAGE_SIZE`].
    async fn list(
        &self,
        tenant: &TenantId,
        filter: &ListFilter,
        limit: usize,
        page: Option<&str>,
    ) -> Result<JobPage, StoreError>;

    /// Jobs of any tenant in one of `states`, unchanged since before `updated_before`, oldest
    /// first, at most `limit`, after `after`.
    async fn scan_stale(
        &self,
        states: &[AnyState],
        updated_before: DateTime<Utc>,
        limit: usize,
        after: Option<&StaleCursor>,
    ) -> Result<Vec<Job>, StoreError>;

    /// Jobs of any tenant in one of `states` last changed in `[since, until)` (milliseconds),
    /// most recently changed first, at most `limit`: the operator's view across tenants. On
    /// the by-state index (the one stale scans use), never a table scan.
    async fn recent(
        &self,
        states: &[AnyState],
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError>;
}
