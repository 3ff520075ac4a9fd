//! The reconcile command: look at a job and make it right. Events are best effort, messages
//! can be lost with a crash, and deadlines need someone to notice them; this is that someone.

use chrono::{DateTime, Utc};
use spectra_state_machine::{Job, JobEvent, JobId, Phase, TenantId};

use super::outcome::{Ended, IfUnknown, Known};
use super::{Disposition, HandleError, Worker};
use crate::driver::apply_event;
use crate::messages::{StatementName, TraceParent};
use crate::platform::Settings;

/// When the job's time is up: the upload window for `Open` jobs, the bulk or query deadline
/// for the rest, all counted from creation.
pub(crate) fn deadline(job: &Job, settings: &Settings) -> Option<DateTime<Utc>> {
    let limit = match (job, job.phase()) {
        (_, phase) if phase.is_terminal() => return None,
        (Job::Bulk(_), Phase::Open) => settings.upload_window,
        (Job::Bulk(_), _) => settings.bulk_deadline,
        (Job::Query(_), _) => settings.query_deadline,
    };
    Some(job.created_at() + chrono::Duration::from_std(limit).unwrap_or(chrono::Duration::MAX))
}

impl Worker {
    /// Deadlines first; then a waiting job gets its submit again (the client token makes
    /// that safe), and a running job's statement is described and, if it ended, its outcome
    /// applied as if its event had arrived.
    pub(super) async fn reconcile(
        &self,
        tenant: &TenantId,
        job_id: &JobId,
        tp: Option<&TraceParent>,
    ) -> Result<Disposition, HandleError> {
        let Some(job) = self.platform.store.get(tenant, job_id).await? else { return Ok(Disposition::Ack) };
        if deadline(&job, &self.platform.settings).is_some_and(|d| d <= Utc::now()) {
            tracing::warn!(job = %job_id, state = job.state().as_str(), "deadline passed");
            apply_event(&self.platform, tenant, job_id, &JobEvent::DeadlinePassed, tp).await?;
            return Ok(Disposition::Ack);
        }
        let attempt = job.header().execution.attempt;
        match job.phase() {
            Phase::Open | Phase::Complete | Phase::Failed | Phase::Aborted => Ok(Disposition::Ack),
            // A throttled re-submit is dropped rather than deferred: the next sweep comes back
            // anyway, and deferring would add one more circulating copy per sweep.
            Phase::Ready => match self.submit(tenant, job_id, attempt, tp).await? {
                Disposition::Defer { .. } => Ok(Disposition::Ack),
                other => Ok(other),
            },
            Phase::Running => {
                let Some(statement_id) = job.header().execution.statement_id.clone() else {
                    return Ok(Disposition::Ack);
                };
                let name = StatementName { tenant_id: tenant.clone(), job_id: job_id.clone(), attempt };
                let ended = Ended {
                    statement_id: &statement_id,
                    finished_rows: None,
                    known: Known::Loaded(job),
                    if_unknown: IfUnknown::Lost,
                };
                match self.statement_ended(&name, ended).await? {
                    // Still running: nothing to do until the next sweep.
                    Disposition::Retry(_) => Ok(Disposition::Ack),
                    other => Ok(other),
                }
            }
        }
    }
}
