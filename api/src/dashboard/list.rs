//! Which jobs the list shows, and the tiles above it, read from the job table's indexes: a
//! tenant's jobs (the tenant index, newest first), or every tenant's in the chosen states
//! changed within the time range (the by-state index). Operation and object narrow the page.

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use spectra_state_machine::{AnyState, Job, Phase, TenantId};
use spectra_worker::ports::ListFilter;

use super::PageError;
use crate::state::AppState;

/// Most jobs one page lists.
pub(crate) const PAGE: usize = 100;

/// The list's filters, from the query string; empty fields mean "any".
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Filters {
    #[serde(default)]
    pub tenant: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub operation: String,
    #[serde(default)]
    pub object: String,
    /// Jobs changed in the last this many hours (default 24).
    #[serde(default)]
    pub hours: Option<u32>,
}

impl Filters {
    /// The time range's length.
    pub fn hours(&self) -> u32 {
        self.hours.unwrap_or(24).clamp(1, 24 * 90)
    }
}

/// Every state of either kind.
fn all_states() -> Vec<AnyState> {
    AnyState::all().collect()
}

fn bad(e: impl std::fmt::Display) -> PageError {
    PageError(StatusCode::BAD_REQUEST, e.to_string())
}

fn unavailable(e: impl std::fmt::Display) -> PageError {
    PageError(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

/// The state a filter names.
fn state(name: &str) -> Result<AnyState, PageError> {
    AnyState::named(name).ok_or_else(|| bad(format!("no state is called {name:?}")))
}

/// The jobs the filters select, most recent first, at most [`PAGE`].
pub(crate) async fn find(app: &AppState, f: &Filters) -> Result<Vec<Job>, PageError> {
    let until = Utc::now() + Duration::seconds(1);
    let since = until - Duration::hours(i64::from(f.hours()));
    let chosen = if f.state.is_empty() { None } else { Some(state(&f.state)?) };
    let store = &app.producer.platform().store;
    let jobs = if f.tenant.is_empty() {
        let states = chosen.map_or_else(all_states, |s| vec![s]);
        store.recent(&states, since, until, PAGE).await.map_err(unavailable)?
    } else {
        let tenant = TenantId::parse(&f.tenant).map_err(bad)?;
        let filter = ListFilter { state: chosen, ..ListFilter::default() };
        let page = store.list(&tenant, &filter, PAGE, None).await.map_err(unavailable)?;
        page.jobs.into_iter().filter(|j| j.updated_at() >= since).collect()
    };
    Ok(jobs
        .into_iter()
        .filter(|j| f.operation.is_empty() || j.operation().is_some_and(|o| o.as_str() == f.operation))
        .filter(|j| f.object.is_empty() || object(j).is_some_and(|o| o == f.object))
        .collect())
}

/// A bulk job's table.
pub(crate) fn object(job: &Job) -> Option<String> {
    match job {
        Job::Bulk(b) => Some(b.object.to_string()),
        Job::Query(_) => None,
    }
}

/// The figures above the list.
pub(crate) struct Tiles {
    /// Jobs created per minute over the last 15 minutes.
    pub per_minute: f64,
    /// Jobs whose statement runs now.
    pub running: usize,
    /// The warehouse's active-statement limit, when this process knows it.
    pub limit: Option<usize>,
    /// Jobs ready to run whose statement is not submitted yet (throttling shows here first).
    pub waiting: usize,
    /// Messages in the work queue's dead-letter queue (`None` when it could not be read).
    pub dead_letters: Option<u64>,
    /// Jobs that failed in the last hour.
    pub failed: usize,
    /// End-to-end seconds (creation to completion) of the last hour's completed jobs: p50, p95.
    pub p50: Option<f64>,
    pub p95: Option<f64>,
}

/// Reads the tiles' figures (a few index queries, bounded pages).
pub(crate) async fn tiles(app: &AppState) -> Result<Tiles, PageError> {
    let store = &app.producer.platform().store;
    let now = Utc::now() + Duration::seconds(1);
    let of = |phase: Phase| AnyState::all().filter(|s| s.phase() == phase).collect::<Vec<_>>();
    let recent = store.recent(&all_states(), now - Duration::minutes(15), now, 1000).await.map_err(unavailable)?;
    let created = recent.iter().filter(|j| j.created_at() >= now - Duration::minutes(15)).count();
    let running = store.recent(&of(Phase::Running), now - Duration::days(7), now, 1000).await.map_err(unavailable)?;
    let waiting = store.recent(&of(Phase::Ready), now - Duration::days(7), now, 1000).await.map_err(unavailable)?;
    let dead_letters = app.producer.platform().queue.dead_letter_count().await.ok();
    let hour = now - Duration::hours(1);
    let failed = store.recent(&of(Phase::Failed), hour, now, 1000).await.map_err(unavailable)?;
    let complete = store.recent(&of(Phase::Complete), hour, now, 1000).await.map_err(unavailable)?;
    let mut times: Vec<f64> = complete.iter().map(|j| seconds(j.created_at(), j.updated_at())).collect();
    times.sort_by(f64::total_cmp);
    Ok(Tiles {
        per_minute: created as f64 / 15.0,
        running: running.len(),
        limit: app.statement_limit,
        waiting: waiting.len(),
        dead_letters,
        failed: failed.len(),
        p50: quantile(&times, 0.50),
        p95: quantile(&times, 0.95),
    })
}

/// Seconds from `a` to `b`.
pub(crate) fn seconds(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_milliseconds().max(0) as f64 / 1000.0
}

/// The nearest-rank quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = ((q * sorted.len() as f64).ceil() as usize).saturating_sub(1).min(last);
    sorted.get(rank).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!((quantile(&values, 0.5), quantile(&values, 0.95)), (Some(10.0), Some(19.0)));
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[3.0], 0.95), Some(3.0));
    }
}
