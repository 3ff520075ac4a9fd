//! The records this worker wrote last, by job.
//!
//! A statement's status-change event usually comes back to the worker that submitted the
//! statement. That worker then decides on the record it wrote itself instead of reading it
//! again: one job-table read less per job (a DynamoDB `GetItem` on AWS). A record here may be
//! stale — another worker or the API may have moved the job since — and that is safe: the
//! write it leads to is conditional on its version, and a lost race reloads the job.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use spectra_state_machine::{Job, JobId, TenantId};

/// Records held at most; past it the map starts over (a burst of jobs costs reads, never memory).
const MAX_ENTRIES: usize = 10_000;

/// Last-written records, each taken at most once.
#[derive(Default)]
pub(crate) struct RecentJobs {
    jobs: Mutex<HashMap<(TenantId, JobId), Job>>,
}

impl RecentJobs {
    fn jobs(&self) -> MutexGuard<'_, HashMap<(TenantId, JobId), Job>> {
        // Plain data: a panicking holder cannot leave it half-updated.
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `job` as this worker just wrote it.
    pub(crate) fn remember(&self, job: &Job) {
        let mut jobs = self.jobs();
        if jobs.len() >= MAX_ENTRIES {
            jobs.clear();
        }
        jobs.insert((job.tenant_id().clone(), job.job_id().clone()), job.clone());
    }

    /// The record last written here for the job, if any (forgotten as it is taken).
    pub(crate) fn take(&self, tenant: &TenantId, job_id: &JobId) -> Option<Job> {
        self.jobs().remove(&(tenant.clone(), job_id.clone()))
    }
}
