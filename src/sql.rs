//! `spectra sql`: operator SQL on the embedded warehouse, through a running `spectra up` when
//! one holds the data directory, or directly when none does.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use spectra_local::{ADDR_FILE, TOKEN_FILE};
use spectra_local::{OBJECTS_DIR, WAREHOUSE_FILE};
use spectra_warehouse::{DuckWarehouse, SqlOutcome, SqlRequest, WarehouseConfig, run_script};

use crate::cli::SqlArgs;
use crate::table;

/// Asks the instance serving the data directory, if its address file names one that answers.
async fn via_running_instance(data_dir: &Path, sql: &str) -> anyhow::Result<Option<Vec<SqlOutcome>>> {
    let Ok(addr) = tokio::fs::read_to_string(data_dir.join(ADDR_FILE)).await else { return Ok(None) };
    let token = tokio::fs::read_to_string(data_dir.join(TOKEN_FILE))
        .await
        .with_context(|| format!("{} names a running instance but {TOKEN_FILE} is unreadable", ADDR_FILE))?;
    let url = format!("http://{}/admin/sql", addr.trim());
    let response = match reqwest::Client::new()
        .post(&url)
        .bearer_auth(token.trim())
        .json(&SqlRequest { sql: sql.to_owned() })
        .send()
        .await
    {
        Ok(response) => response,
        // A stale address file: nobody answers, so nobody holds the warehouse.
        Err(e) if e.is_connect() => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("asking the running instance at {url}")),
    };
    let status = response.status();
    let body: serde_json::Value = response.json().await.context("reading the running instance's answer")?;
    if !status.is_success() {
        bail!("the running instance refused the SQL ({status}): {}", body["error"]["message"].as_str().unwrap_or("?"));
    }
    Ok(Some(serde_json::from_value(body).context("decoding the running instance's answer")?))
}

/// Opens the data directory's warehouse in this process.
async fn directly(data_dir: &Path, sql: &str) -> anyhow::Result<Vec<SqlOutcome>> {
    tokio::fs::create_dir_all(data_dir).await.with_context(|| format!("creating {}", data_dir.display()))?;
    let warehouse = DuckWarehouse::open(
        &data_dir.join(WAREHOUSE_FILE),
        &data_dir.join(OBJECTS_DIR),
        WarehouseConfig::default(),
        None,
    )
    .await
    .with_context(|| {
        format!("opening the warehouse in {} (is another process using it without {ADDR_FILE}?)", data_dir.display())
    })?;
    Ok(run_script(&warehouse, sql).await?)
}

fn rows(n: usize) -> String {
    if n == 1 { "1 row".to_owned() } else { format!("{n} rows") }
}

fn print(outcomes: &[SqlOutcome], json: bool) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let mut ok = true;
    for o in outcomes {
        if json {
            writeln!(out, "{}", serde_json::to_string(o)?)?;
        } else if let Some(error) = &o.error {
            writeln!(out, "{}\nerror: {error}", o.sql)?;
        } else if o.columns.is_empty() {
            let verb = o.sql.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
            writeln!(out, "{verb} ok ({})", rows(o.result_rows.max(0) as usize))?;
        } else {
            writeln!(out, "{}\n({})", table::render(&o.columns, &o.rows), rows(o.rows.len()))?;
        }
        ok &= o.status == "FINISHED";
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Runs `spectra sql`; exits with failure when a statement failed.
pub async fn run(args: SqlArgs) -> anyhow::Result<ExitCode> {
    let script = args.sql.join(";\n");
    let outcomes = match via_running_instance(&args.data_dir, &script).await? {
        Some(outcomes) => outcomes,
        None => directly(&args.data_dir, &script).await?,
    };
    print(&outcomes, args.json)
}
