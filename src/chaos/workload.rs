//! The jobs a chaos run drives, each with an effect known in advance: exports of a known number
//! of rows (every format), inserts and upserts of disjoint id ranges. Nothing about a job's
//! expected outcome depends on timing, so any difference after the run is a defect.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::client::{Api, GaveUp};

/// Rows in the export source table.
pub const SOURCE_ROWS: u64 = 200_000;
/// Where insert jobs' ids start; job `i` owns `[INSERT_BASE + i·rows, +rows)`.
pub const INSERT_BASE: u64 = 1_000_000_000;
/// Where upsert jobs' ids start, likewise.
pub const UPSERT_BASE: u64 = 2_000_000_000;

/// What one job does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// `operation: query` of `rows` rows, in `format` (with `gzip` when set).
    Export {
        /// Rows the query returns.
        rows: u64,
        /// `csv`, `json` or `parquet`.
        format: &'static str,
        /// Gzip the files.
        gzip: bool,
        /// Make the statement run long (so stops land mid-statement).
        heavy: bool,
    },
    /// `operation: insert` of `rows` new rows into `chaos_insert`.
    Insert {
        /// Rows inserted.
        rows: u64,
    },
    /// `operation: upsert` of `rows` rows into `chaos_upsert`, half of them already there.
    Upsert {
        /// Rows upserted.
        rows: u64,
    },
}

/// The plan of job `i` of a run whose ingest jobs carry `rows` rows.
pub fn plan(i: u64, rows: u64) -> Plan {
    const FORMATS: [(&str, bool); 5] =
        [("csv", false), ("json", false), ("parquet", false), ("csv", true), ("json", true)];
    match i % 3 {
        0 => {
            let (format, gzip) = FORMATS[(i / 3 % 5) as usize];
            Plan::Export { rows: 1_000 + (i * 7_919) % (SOURCE_ROWS - 1_000), format, gzip, heavy: i.is_multiple_of(4) }
        }
        1 => Plan::Insert { rows },
        _ => Plan::Upsert { rows },
    }
}

impl Plan {
    /// The records the job must report processed.
    pub fn expected_records(&self) -> u64 {
        match self {
            Plan::Export { rows, .. } | Plan::Insert { rows } | Plan::Upsert { rows } => *rows,
        }
    }

    fn request(&self) -> Value {
        match self {
            Plan::Export { rows, format, gzip, heavy } => {
                // The heavy variant makes the engine work (a cross join it must finish) without
                // changing the rows.
                let filter = if *heavy { " AND (SELECT count(*) FROM range(30000000)) > 0" } else { "" };
                json!({
                    "operation": "query",
                    "object": "chaos_source",
                    "query": format!("SELECT id, v, label FROM chaos_source WHERE id < {rows}{filter}"),
                    "content_type": format.to_ascii_uppercase(),
                    "compression": if *gzip { "GZIP" } else { "NONE" },
                })
            }
            Plan::Insert { .. } => json!({"operation": "insert", "object": "chaos_insert", "content_type": "CSV"}),
            Plan::Upsert { .. } => {
                json!({"operation": "upsert", "object": "chaos_upsert", "content_type": "CSV", "primary_key": ["id"]})
            }
        }
    }

    /// The CSV parts of an ingest job (two, so multi-part loads are exercised).
    fn parts(&self, i: u64) -> Vec<String> {
        let (base, rows, v) = match self {
            Plan::Export { .. } => return Vec::new(),
            Plan::Insert { rows } => (INSERT_BASE + i * rows, *rows, 1),
            Plan::Upsert { rows } => (UPSERT_BASE + i * rows, *rows, i + 1),
        };
        let half = rows / 2;
        [(base, base + half), (base + half, base + rows)]
            .iter()
            .map(|(from, to)| {
                let mut csv = String::from("id,v,label\n");
                for id in *from..*to {
                    csv.push_str(&format!("{id},{v},row {id}\n"));
                }
                csv
            })
            .collect()
    }
}

/// The operator SQL that makes the tables a run's plans expect: the export source, the insert
/// target, and the upsert target seeded with the first half of every upsert job's range.
pub fn setup_sql(jobs: u64, rows: u64) -> String {
    let seeds: Vec<String> = (0..jobs)
        .filter(|i| matches!(plan(*i, rows), Plan::Upsert { .. }))
        .map(|i| {
            let base = UPSERT_BASE + i * rows;
            format!("SELECT i AS id, 0 AS v, 'seed' AS label FROM range({base}, {}) t(i)", base + rows / 2)
        })
        .collect();
    let seed = if seeds.is_empty() {
        String::new()
    } else {
        format!("INSERT INTO chaos_upsert {};", seeds.join(" UNION ALL "))
    };
    format!(
        "CREATE OR REPLACE TABLE chaos_source AS
             SELECT i AS id, i % 97 AS v, 'row ' || i AS label FROM range({SOURCE_ROWS}) t(i);
         CREATE OR REPLACE TABLE chaos_insert (id BIGINT, v BIGINT, label VARCHAR);
         CREATE OR REPLACE TABLE chaos_upsert (id BIGINT, v BIGINT, label VARCHAR);
         {seed}"
    )
}

/// What became of one job, from the client's side.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Its index.
    pub index: u64,
    /// Its plan.
    pub plan: Plan,
    /// Its id, once created.
    pub job_id: Option<String>,
    /// Its last record as the API showed it.
    pub record: Value,
    /// Why the client gave up, if it did.
    pub gave_up: Option<String>,
    /// Whether the create's idempotency key stayed held to the deadline.
    pub key_stuck: bool,
}

/// Drives job `i` through the API until it is terminal or `timeout` passes at some step.
pub async fn drive(api: &Api, run: &str, i: u64, rows: u64, timeout: Duration) -> Outcome {
    let plan = plan(i, rows);
    let mut outcome =
        Outcome { index: i, plan: plan.clone(), job_id: None, record: Value::Null, gave_up: None, key_stuck: false };
    match steps(api, run, i, &plan, timeout, &mut outcome).await {
        Ok(()) => {}
        Err(GaveUp::KeyHeld) => {
            outcome.key_stuck = true;
            outcome.gave_up = Some(GaveUp::KeyHeld.to_string());
        }
        Err(e) => outcome.gave_up = Some(e.to_string()),
    }
    outcome
}

async fn steps(api: &Api, run: &str, i: u64, plan: &Plan, timeout: Duration, out: &mut Outcome) -> Result<(), GaveUp> {
    let key = format!("chaos-{run}-{i}");
    let created = api.call(Method::POST, "/v1/bulk/jobs", Some(&plan.request()), Some(&key), timeout).await?;
    if created.status != StatusCode::CREATED {
        out.record = created.body;
        return Err(GaveUp::Transient(format!("create answered {}", created.status)));
    }
    let id = created.body["job_id"].as_str().unwrap_or_default().to_owned();
    out.job_id = Some(id.clone());
    let path = format!("/v1/bulk/jobs/{id}");
    for part in plan.parts(i) {
        let link = api.call(Method::GET, &format!("{path}/upload-url"), None, None, timeout).await?;
        let url = link.body["upload_url"].as_str().unwrap_or_default().to_owned();
        if url.is_empty() {
            out.record = link.body;
            return Err(GaveUp::Transient(format!("no upload link ({})", link.status)));
        }
        api.put(&url, part.as_bytes(), timeout).await?;
    }
    if !plan.parts(i).is_empty() {
        let closed = api.call(Method::PATCH, &path, Some(&json!({"state": "UploadComplete"})), None, timeout).await?;
        // 409 after a lost answer: the job already moved on. Anything else shows in the record.
        if !closed.status.is_success() && closed.status != StatusCode::CONFLICT {
            out.record = closed.body;
            return Err(GaveUp::Transient(format!("close answered {}", closed.status)));
        }
    }
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let read = api.call(Method::GET, &path, None, None, timeout).await?;
        out.record = read.body;
        if matches!(out.record["state"].as_str(), Some("JobComplete" | "Failed" | "Aborted")) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(GaveUp::Transient("the job was not terminal before the deadline".into()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
