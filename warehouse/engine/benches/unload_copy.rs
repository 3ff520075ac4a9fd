//! UNLOAD and COPY throughput through the embedded warehouse, against DuckDB's own `COPY ... TO`
//! and `read_csv` / `read_parquet` on the same data and the same engine build.
//!
//! Run: `cargo bench -p spectra-worker --bench unload_copy` (release; set `BENCH_ROWS`, default
//! 1,000,000). It prints one line per case: rows, seconds, rows/s, and our/native ratio.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, missing_docs)]

use std::time::Instant;

use spectra_warehouse::{DuckWarehouse, WarehouseConfig};
use spectra_worker::contract::warehouse::run;
use spectra_worker::ports::StatementStatus;

const TABLE: &str = "SELECT i AS id, 'customer-' || (i % 100000) AS name, i * 0.01 AS amount, \
                     DATE '2024-01-01' + CAST(i % 365 AS INTEGER) AS day FROM range({rows}) t(i)";

async fn timed(w: &DuckWarehouse, sql: &str) -> f64 {
    let start = Instant::now();
    let d = run(w, sql).await;
    assert_eq!(d.status, StatementStatus::Finished, "{sql}: {:?}", d.error);
    start.elapsed().as_secs_f64()
}

fn native(conn: &duckdb::Connection, sql: &str) -> f64 {
    let start = Instant::now();
    conn.execute_batch(sql).unwrap();
    start.elapsed().as_secs_f64()
}

fn line(case: &str, rows: u64, ours: f64, theirs: f64) {
    println!(
        "{case:<28} {rows:>10} rows  spectra {ours:>7.3} s {:>12.0} rows/s   duckdb {theirs:>7.3} s {:>12.0} rows/s   ratio {:.2}",
        rows as f64 / ours,
        rows as f64 / theirs,
        ours / theirs
    );
}

#[tokio::main]
async fn main() {
    let rows: u64 = std::env::var("BENCH_ROWS").ok().and_then(|r| r.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let objects = dir.path().join("objects");
    let w =
        DuckWarehouse::open(&dir.path().join("w.duckdb"), &objects, WarehouseConfig::default(), None).await.unwrap();
    let table = TABLE.replace("{rows}", &rows.to_string());
    timed(&w, &format!("CREATE TABLE sales AS {table}")).await;
    let conn = duckdb::Connection::open(dir.path().join("native.duckdb")).unwrap();
    conn.execute_batch(&format!("CREATE TABLE sales AS {table}")).unwrap();
    let native_dir = dir.path().join("native");
    std::fs::create_dir_all(&native_dir).unwrap();
    let n = native_dir.display();

    println!(
        "UNLOAD / COPY throughput, {rows} rows (4 columns), {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for (format, opts, native_opts) in [
        ("csv", "FORMAT CSV HEADER", "FORMAT csv, HEADER true"),
        ("parquet", "FORMAT PARQUET", "FORMAT parquet"),
        ("json", "FORMAT JSON", "FORMAT json"),
    ] {
        let ours = timed(
            &w,
            &format!(
                "UNLOAD ('SELECT * FROM sales') TO 's3://bench/{format}/part_' IAM_ROLE default {opts} MANIFEST VERBOSE"
            ),
        )
        .await;
        let theirs = native(&conn, &format!("COPY sales TO '{n}/out.{format}' ({native_opts})"));
        line(&format!("UNLOAD {format}"), rows, ours, theirs);
    }
    for (format, opts, reader) in [
        ("csv", "FORMAT AS CSV IGNOREHEADER 1", format!("read_csv('{n}/out.csv', header = true)")),
        ("parquet", "FORMAT AS PARQUET", format!("read_parquet('{n}/out.parquet')")),
    ] {
        timed(&w, &format!("CREATE TABLE loaded_{format} AS SELECT * FROM sales LIMIT 0")).await;
        let ours =
            timed(&w, &format!("COPY loaded_{format} FROM 's3://bench/{format}/part_0' IAM_ROLE default {opts}")).await;
        conn.execute_batch(&format!("CREATE TABLE loaded_{format} AS SELECT * FROM sales LIMIT 0")).unwrap();
        let theirs = native(&conn, &format!("INSERT INTO loaded_{format} SELECT * FROM {reader}"));
        line(&format!("COPY {format}"), rows, ours, theirs);
    }
}
