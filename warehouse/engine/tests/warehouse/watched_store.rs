//! The embedded job table as the handler tests watch it: its reads counted, and, when asked,
//! the next read answered once with an older copy of a job (the snapshot a handler took just
//! before someone else moved the job).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use spectra_state_machine::{AnyState, Job, JobId, TenantId};
use spectra_worker::ports::{JobPage, JobStore, ListFilter, StaleCursor, StoreError, UpdateOutcome};

pub struct WatchedStore {
    pub inner: Arc<dyn JobStore>,
    reads: AtomicUsize,
    stale: Mutex<Option<Job>>,
}

impl WatchedStore {
    pub fn new(inner: Arc<dyn JobStore>) -> Self {
        Self { inner, reads: AtomicUsize::new(0), stale: Mutex::new(None) }
    }

    /// The next read returns `stale`, once.
    pub fn stale_once(self, stale: Job) -> Self {
        *self.stale.lock().unwrap() = Some(stale);
        self
    }

    /// Reads so far.
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl JobStore for WatchedStore {
    async fn create(&self, job: &Job) -> Result<(), StoreError> {
        self.inner.create(job).await
    }
    async fn get(&self, tenant: &TenantId, job_id: &JobId) -> Result<Option<Job>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if let Some(stale) = self.stale.lock().unwrap().take() {
            return Ok(Some(stale));
        }
        self.inner.get(tenant, job_id).await
    }
    async fn update(&self, expected: &Job, new: &Job) -> Result<UpdateOutcome, StoreError> {
        self.inner.update(expected, new).await
    }
    async fn list(&self, t: &TenantId, f: &ListFilter, n: usize, p: Option<&str>) -> Result<JobPage, StoreError> {
        self.inner.list(t, f, n, p).await
    }
    async fn scan_stale(
        &self,
        s: &[AnyState],
        b: DateTime<Utc>,
        n: usize,
        after: Option<&StaleCursor>,
    ) -> Result<Vec<Job>, StoreError> {
        self.inner.scan_stale(s, b, n, after).await
    }

    async fn recent(
        &self,
        s: &[AnyState],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        n: usize,
    ) -> Result<Vec<Job>, StoreError> {
        self.inner.recent(s, from, to, n).await
    }
}
