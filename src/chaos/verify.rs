//! After the faults: what the run must show. Every job terminal and `JobComplete` with the
//! count its plan implies, exports' files adding up to it, every ingested id exactly once with
//! the value its job wrote, one job per idempotent create, no key left held.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::Method;
use serde::Serialize;
use serde_json::Value;

use super::client::Api;
use super::workload::{INSERT_BASE, Outcome, Plan, UPSERT_BASE};

/// How long a verification call may retry.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Problems listed by name in the report; the counts cover all of them.
const MAX_LISTED: usize = 20;

/// The figures of one run.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// The fault modes.
    pub mode: String,
    /// Jobs driven.
    pub jobs: u64,
    /// Jobs `JobComplete` with the right counts.
    pub complete: u64,
    /// Jobs terminal in another state or with another count.
    pub wrong_counts: u64,
    /// Jobs not terminal when the client's deadline passed.
    pub unfinished: u64,
    /// Jobs the tenant has beyond one per create (a retried create that made a second job).
    pub extra_jobs: u64,
    /// Ingested rows present more than once.
    pub duplicate_rows: u64,
    /// Rows of completed ingest jobs that are not there.
    pub missing_rows: u64,
    /// Upserted ids whose value is not the one the job wrote.
    pub wrong_values: u64,
    /// Creates whose idempotency key stayed held ("still running") to the deadline.
    pub stuck_keys: u64,
    /// kill -9s.
    pub kills: u64,
    /// SIGTERMs.
    pub sigterms: u64,
    /// Slowest SIGTERM, signal to exit.
    pub max_exit_ms: Option<u64>,
    /// SIGTERMs that ended in a non-zero exit or past the deadline.
    pub bad_exits: u64,
    /// Messages delivered twice (counted in `spectra up`'s log).
    pub duplicated: u64,
    /// Statement events lost.
    pub events_dropped: u64,
    /// Submits refused as throttled.
    pub submits_throttled: u64,
    /// Wall time of the run.
    pub seconds: f64,
    /// The first problems, by job.
    pub problems: Vec<String>,
}

impl Report {
    /// Whether the run found no defect.
    pub fn passed(&self) -> bool {
        self.complete == self.jobs
            && self.wrong_counts + self.unfinished + self.extra_jobs + self.duplicate_rows == 0
            && self.missing_rows + self.wrong_values + self.stuck_keys + self.bad_exits == 0
    }

    fn problem(&mut self, text: String) {
        if self.problems.len() < MAX_LISTED {
            self.problems.push(text);
        }
    }
}

fn number(v: &Value) -> u64 {
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).unwrap_or(0)
}

/// Checks every job's record (and an export's files) against its plan.
pub async fn check_jobs(api: &Api, outcomes: &[Outcome], report: &mut Report) {
    for o in outcomes {
        let state = o.record["state"].as_str().unwrap_or("none");
        if o.key_stuck {
            report.stuck_keys += 1;
        }
        if !matches!(state, "JobComplete" | "Failed" | "Aborted") {
            report.unfinished += 1;
            let id = o.job_id.as_deref().unwrap_or("never created");
            let why = o.gave_up.as_deref().unwrap_or(state);
            report.problem(format!("job {} ({id}) unfinished in state {state}: {why}", o.index));
            continue;
        }
        let processed = number(&o.record["number_records_processed"]);
        let failed = number(&o.record["number_records_failed"]);
        let mut right = state == "JobComplete" && processed == o.plan.expected_records() && failed == 0;
        if right && let (Plan::Export { .. }, Some(id)) = (&o.plan, &o.job_id) {
            let files = file_rows(api, id).await;
            if files != Some(processed) {
                report.problem(format!("job {} ({id}) files hold {files:?} rows, the job says {processed}", o.index));
                right = false;
            }
        }
        if right {
            report.complete += 1;
        } else {
            report.wrong_counts += 1;
            report.problem(format!(
                "job {} ({}) {state} with {processed} processed, {failed} failed; expected JobComplete with {}: {}",
                o.index,
                o.job_id.as_deref().unwrap_or("?"),
                o.plan.expected_records(),
                o.record["error"]
            ));
        }
    }
}

/// The rows an export's result files hold, by their manifests.
async fn file_rows(api: &Api, id: &str) -> Option<u64> {
    let a = api.call(Method::GET, &format!("/v1/bulk/jobs/{id}/results"), None, None, CALL_TIMEOUT).await.ok()?;
    let files = a.body["files"].as_array()?;
    files.iter().map(|f| f["row_count"].as_u64()).sum()
}

/// Counts the tenant's jobs: exactly one per driven job.
pub async fn check_job_count(api: &Api, report: &mut Report) -> anyhow::Result<()> {
    let mut total = 0u64;
    let mut offset: Option<String> = None;
    loop {
        let path = match &offset {
            Some(o) => format!("/v1/bulk/jobs?limit=100&offset={o}"),
            None => "/v1/bulk/jobs?limit=100".to_owned(),
        };
        let page = api.call(Method::GET, &path, None, None, CALL_TIMEOUT).await?;
        total += page.body["jobs"].as_array().map_or(0, |j| j.len() as u64);
        match page.body["next_offset"].as_str() {
            Some(next) => offset = Some(next.to_owned()),
            None => break,
        }
    }
    report.extra_jobs = total.saturating_sub(report.jobs);
    if total != report.jobs {
        report.problem(format!("the tenant has {total} jobs for {} creates", report.jobs));
    }
    Ok(())
}

/// Checks the ingested tables: each job's ids once each, with its value.
pub async fn check_rows(api: &Api, outcomes: &[Outcome], rows: u64, report: &mut Report) -> anyhow::Result<()> {
    let groups = |table: &str, base: u64| {
        format!(
            "SELECT CAST(floor((id - {base}) / {rows}) AS BIGINT) AS j, count(*) AS n, count(DISTINCT id) AS d, \
             sum(v) AS s FROM {table} GROUP BY 1 ORDER BY 1"
        )
    };
    let inserted = by_job(api, &groups("chaos_insert", INSERT_BASE)).await?;
    let upserted = by_job(api, &groups("chaos_upsert", UPSERT_BASE)).await?;
    for o in outcomes {
        let (seen, is_upsert) = match o.plan {
            Plan::Insert { .. } => (inserted.get(&o.index), false),
            Plan::Upsert { .. } => (upserted.get(&o.index), true),
            Plan::Export { .. } => continue,
        };
        let (n, distinct, sum) = seen.copied().unwrap_or((0, 0, 0));
        report.duplicate_rows += n - distinct;
        if n != distinct {
            report.problem(format!("job {}: {} rows written twice", o.index, n - distinct));
        }
        if o.record["state"] != "JobComplete" {
            continue;
        }
        let missing = rows.saturating_sub(distinct);
        report.missing_rows += missing;
        if missing > 0 {
            report.problem(format!("job {}: {missing} of {rows} rows missing", o.index));
        }
        // Every upserted id ends with the job's value `index + 1`; the seed's 0 means not updated.
        if is_upsert && sum != rows * (o.index + 1) {
            report.wrong_values += 1;
            report.problem(format!("job {}: values sum to {sum}, expected {}", o.index, rows * (o.index + 1)));
        }
    }
    Ok(())
}

async fn by_job(api: &Api, sql: &str) -> anyhow::Result<HashMap<u64, (u64, u64, u64)>> {
    let outcomes = api.admin_sql(sql, CALL_TIMEOUT).await?;
    let rows = outcomes.last().map(|o| o.rows.clone()).unwrap_or_default();
    Ok(rows
        .iter()
        .filter_map(|r| match r.as_slice() {
            [j, n, d, s] => Some((number(j), (number(n), number(d), number(s)))),
            _ => None,
        })
        .collect())
}
