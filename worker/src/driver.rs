//! Applying an event to a job: load, run the state machine, write conditionally, then carry out
//! the effects. The producer library (close, abort) and the worker's handlers (submits,
//! statement outcomes, deadlines) both move jobs only through [`apply_event`], so every change
//! is a conditional write and every transition is announced.

use chrono::Utc;
use spectra_state_machine::{AnyState, Change, Effect, IgnoreReason, Job, JobEvent, JobId, TenantId, TransitionError};
use thiserror::Error;

use crate::messages::{Command, CommandMessage, JobStateChange, TraceParent};
use crate::platform::Platform;
use crate::ports::{OutgoingMessage, StoreError, UpdateOutcome};
use crate::trace;
use tracing::Instrument;

/// How often a lost race is retried before giving up. Each loss means someone else moved the
/// job, so a handful is plenty; the caller's message comes back if they are all lost.
pub const MAX_RACES: usize = 8;

/// What [`apply_event`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The job moved and was written; here it is as written.
    Moved(Job),
    /// The event changed nothing (a duplicate, a stale event, a terminal job).
    Unchanged(Job, IgnoreReason),
}

impl Applied {
    /// The job after the event.
    pub fn job(&self) -> &Job {
        match self {
            Self::Moved(job) | Self::Unchanged(job, _) => job,
        }
    }
}

/// Why an event could not be applied.
#[derive(Debug, Error)]
pub enum DriveError {
    /// No such job for the tenant.
    #[error("job {0} not found")]
    NotFound(JobId),
    /// The event is illegal in the job's state, or came early.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The job table failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Others kept moving the job; try again later.
    #[error("job {0} kept changing under us; try again")]
    Contended(JobId),
}

impl DriveError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transition(TransitionError::EarlyEvent { .. }) | Self::Contended(_) => true,
            Self::Store(e) => e.is_retryable(),
            Self::NotFound(_) | Self::Transition(_) => false,
        }
    }
}

/// Applies `event` to the tenant's job: the state machine decides, the write is conditional
/// on the version and state that were read, and on a lost race the job is reloaded and the
/// machine decides again. Effects run only after the write succeeded.
pub async fn apply_event(
    platform: &Platform,
    tenant: &TenantId,
    job_id: &JobId,
    event: &JobEvent,
    traceparent: Option<&TraceParent>,
) -> Result<Applied, DriveError> {
    for _ in 0..MAX_RACES {
        let job = platform.store.get(tenant, job_id).await?.ok_or_else(|| DriveError::NotFound(job_id.clone()))?;
        if let Some(applied) = apply_to(platform, &job, event, traceparent).await? {
            return Ok(applied);
        }
    }
    Err(DriveError::Contended(job_id.clone()))
}

/// Applies `event` to `job` exactly as it was read: `Ok(None)` when someone else moved the job
/// first. For an event built from the job itself (a statement's outcome, with the counts of
/// the job's running statement), the caller then reloads and builds the event again, so that
/// what is written was decided on the record it replaces.
pub async fn apply_to(
    platform: &Platform,
    job: &Job,
    event: &JobEvent,
    traceparent: Option<&TraceParent>,
) -> Result<Option<Applied>, DriveError> {
    let work = transition(platform, job, event, traceparent);
    match trace::job_span(job, event.name()) {
        Some(span) => work.instrument(span).await,
        None => work.await,
    }
}

async fn transition(
    platform: &Platform,
    job: &Job,
    event: &JobEvent,
    traceparent: Option<&TraceParent>,
) -> Result<Option<Applied>, DriveError> {
    let step = job.apply(event, Utc::now(), platform.settings.retry)?;
    match step.change {
        Change::Ignored(reason) => {
            perform(platform, &step.job, None, &step.effects, traceparent).await;
            Ok(Some(Applied::Unchanged(step.job, reason)))
        }
        Change::Applied => match platform.store.update(job, &step.job).await? {
            UpdateOutcome::Updated => {
                tracing::info!(
                    tenant = %job.tenant_id(), job = %job.job_id(), event = event.name(),
                    from = step.from.as_str(), to = step.job.state().as_str(), "job moved"
                );
                crate::metrics::job_moved(job, &step.job);
                perform(platform, &step.job, Some(step.from), &step.effects, traceparent).await;
                Ok(Some(Applied::Moved(step.job)))
            }
            UpdateOutcome::LostRace { .. } => Ok(None),
        },
    }
}

/// Stores a new job and carries out what creation implies (its announcement, and for jobs that
/// start ready to run, the submit of attempt 1).
pub async fn create_job(
    platform: &Platform,
    job: &Job,
    effects: &[Effect],
    traceparent: Option<&TraceParent>,
) -> Result<(), StoreError> {
    platform.store.create(job).await?;
    crate::metrics::job_created(job);
    tracing::info!(tenant = %job.tenant_id(), job = %job.job_id(), state = job.state().as_str(), "job created");
    perform(platform, job, None, effects, traceparent).await;
    Ok(())
}

/// Carries out effects after the record is durable. None of them decides anything: a lost
/// announcement leaves the job table right, and a lost submit or cancel command is re-issued
/// by the reconciler, which finds the job waiting past its grace period. So failures here
/// are logged, not returned.
async fn perform(
    platform: &Platform,
    job: &Job,
    from: Option<AnyState>,
    effects: &[Effect],
    traceparent: Option<&TraceParent>,
) {
    for effect in effects {
        match effect {
            Effect::PublishStateChange => publish(platform, job, from, traceparent).await,
            Effect::SubmitStatement { .. } | Effect::CancelStatement { .. } => {
                let Some(command) = Command::for_effect(effect) else { continue };
                if let Err(e) = send_command(platform, job, command, traceparent).await {
                    tracing::warn!(job = %job.job_id(), error = %e, "could not queue a command; the reconciler will");
                }
            }
        }
    }
}

/// Puts a command for `job` on the work queue, in a producer span whose context the message
/// carries (so the worker's processing of it is that span's child).
pub async fn send_command(
    platform: &Platform,
    job: &Job,
    command: Command,
    traceparent: Option<&TraceParent>,
) -> Result<String, crate::ports::QueueError> {
    let queue = platform.queue.destination();
    let span = tracing::info_span!(
        "send",
        otel.name = tracing::field::Empty,
        otel.kind = "producer",
        messaging.system = platform.queue.system(),
        messaging.operation.type = "send",
        messaging.operation.name = "send",
        messaging.destination.name = queue,
        messaging.message.id = tracing::field::Empty,
        spectra.job.id = %job.job_id(),
    );
    trace::name(&span, || format!("send {queue}"));
    let message = span.in_scope(|| command_message(job, command, traceparent))?;
    let id = platform.queue.send(message).instrument(span.clone()).await?;
    span.record("messaging.message.id", id.as_str());
    Ok(id)
}

/// The queue message carrying `command` for `job`.
pub fn command_message(
    job: &Job,
    command: Command,
    traceparent: Option<&TraceParent>,
) -> Result<OutgoingMessage, crate::ports::QueueError> {
    let traceparent = trace::outgoing(job, traceparent);
    let message = CommandMessage::new(job.kind(), job.tenant_id().clone(), job.job_id().clone(), command)
        .with_traceparent(traceparent.clone());
    let body = serde_json::to_string(&message).map_err(|e| crate::ports::QueueError::Invalid(e.to_string()))?;
    let mut outgoing = OutgoingMessage::new(body);
    if let Some(tp) = traceparent {
        outgoing.attributes.insert("traceparent".into(), tp.into());
    }
    Ok(outgoing)
}

async fn publish(platform: &Platform, job: &Job, from: Option<AnyState>, traceparent: Option<&TraceParent>) {
    let traceparent = trace::outgoing(job, traceparent);
    let traceparent = traceparent.as_ref();
    let event = match (job, from) {
        (Job::Bulk(j), Some(AnyState::Bulk(s))) => JobStateChange::bulk(j, Some(s), traceparent.cloned()),
        (Job::Bulk(j), _) => JobStateChange::bulk(j, None, traceparent.cloned()),
        (Job::Query(j), Some(AnyState::Query(s))) => JobStateChange::query(j, Some(s), traceparent.cloned()),
        (Job::Query(j), _) => JobStateChange::query(j, None, traceparent.cloned()),
    };
    for attempt in 1..=3u64 {
        match platform.bus.publish(std::slice::from_ref(&event)).await {
            Ok(()) => return,
            Err(e) if e.is_retryable() && attempt < 3 => {
                tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => {
                tracing::warn!(job = %job.job_id(), error = %e, "could not publish a lifecycle event");
                return;
            }
        }
    }
}
