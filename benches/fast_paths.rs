//! The request paths of `spectra up`, each against a reference measured in the same run: a bare
//! DuckDB connection for the queries and the upsert, `/health` for the HTTP floor, a plain file
//! write + fsync for uploads. Prints one table, with ratios.
//!
//! Run (release, as reported): `cargo bench --workspace --bench fast_paths`. Knobs:
//! `BENCH_QUERIES` (rounds per query path, default 300), `BENCH_SECONDS` (per load test,
//! default 3), `BENCH_CONNECTIONS` (default 16), `BENCH_UPSERT_ROWS` (default 2,000,000),
//! `BENCH_JOBS_IN_TABLE` (for the memory row, default 100,000), `BENCH_ONLY` (rows to run, of
//! `select1,rows,reads,upload,upsert,rss`; default all).
//! The load generator runs in this process, on the same two cores as the server, for both the
//! measured path and its reference.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, missing_docs)]

#[path = "fast_paths/rss.rs"]
mod rss;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use spectra::app::{App, EmbeddedApp, EmbeddedConfig};
use spectra_api::RateLimits;
use spectra_state_machine::TenantId;
use spectra_warehouse::duckdb;
use spectra_worker::contract::warehouse::run;
use spectra_worker::ports::{KeyStore, mint_key};
use tokio_util::sync::CancellationToken;

/// Ten columns of mixed types, as the "10,000 rows × 10 columns".
const WIDE: &str = "CREATE TABLE wide AS SELECT i AS c0, i * 2 AS c1, 'name-' || i AS c2, i / 3.0 AS c3, \
     i % 7 = 0 AS c4, DATE '2024-01-01' + (i % 365)::INTEGER AS c5, md5(i::VARCHAR) AS c6, i::DOUBLE / 7 AS c7, \
     'fixed text' AS c8, -i AS c9 FROM range(10000) r(i)";

fn var(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// p50 and p99 of samples in milliseconds.
fn p50_p99(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}

/// `spectra up`'s application in this process, and a tenant to call it as.
struct Served {
    base: String,
    http: reqwest::Client,
    key: String,
    stop: CancellationToken,
    app: App,
    dir: tempfile::TempDir,
}

impl Served {
    async fn start() -> (Self, Arc<spectra_warehouse::DuckWarehouse>) {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let config = EmbeddedConfig::new(dir.path(), &base);
        let EmbeddedApp { mut app, stack, duck } = App::embedded(config).await.unwrap();
        let minted = mint_key(&TenantId::parse("bench").unwrap());
        stack.keys.put(&minted.record).await.unwrap();
        // Measure the paths, not the limiter's refusals (it still counts every request).
        let max = u64::MAX;
        app.api.limits =
            RateLimits { queries: max, job_reads: max, bulk_creates: max, bulk_reads: max, window_seconds: 60 };
        let stop = CancellationToken::new();
        let (serving, router) = (stop.clone(), app.router());
        tokio::spawn(
            async move { axum::serve(listener, router).with_graceful_shutdown(serving.cancelled_owned()).await },
        );
        let _worker = app.start_worker(&stop);
        let served = Self { base, http: reqwest::Client::new(), key: minted.key, stop, app, dir };
        (served, duck)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.key).header("X-Tenant-ID", "bench")
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap()
    }

    /// A query through `POST /v1/queries`; its time until the whole body is received (what
    /// the service costs; the client's own JSON parsing is left out, as the reference leaves
    /// out any rendering).
    async fn query(&self, sql: &str) -> Duration {
        let started = Instant::now();
        let response = self.request(reqwest::Method::POST, "/v1/queries").json(&json!({"sql": sql})).send().await;
        let response = response.unwrap();
        assert!(response.status().is_success(), "{sql}: {}", response.status());
        let body = response.bytes().await.unwrap();
        let elapsed = started.elapsed();
        assert!(body.starts_with(b"{\"data\":["), "{}", String::from_utf8_lossy(&body[..body.len().min(200)]));
        elapsed
    }
}

/// A query on the bare connection, every value read; its time.
fn native_query(conn: &duckdb::Connection, sql: &str) -> Duration {
    let started = Instant::now();
    let mut statement = conn.prepare_cached(sql).unwrap();
    let mut rows = statement.query([]).unwrap();
    let mut values = 0usize;
    while let Some(row) = rows.next().unwrap() {
        let columns = row.as_ref().column_count();
        for i in 0..columns {
            let _: duckdb::types::Value = row.get(i).unwrap();
            values += 1;
        }
    }
    assert!(values > 0);
    started.elapsed()
}

struct Line {
    path: String,
    spectra: String,
    reference: String,
    ratio: String,
}

/// The same query through the API and on the bare engine, in interleaved rounds.
async fn query_path(s: &Served, native: &duckdb::Connection, label: &str, sql: &str, overhead: bool) -> Line {
    let rounds = var("BENCH_QUERIES", 300);
    let (mut api, mut bare) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for _ in 0..rounds {
        api.push(ms(s.query(sql).await));
        bare.push(ms(native_query(native, sql)));
    }
    let ((a50, a99), (n50, n99)) = (p50_p99(api), p50_p99(bare));
    let ratio = if overhead { format!("overhead {:.2} ms p50", a50 - n50) } else { format!("{:.2}×", a50 / n50) };
    Line {
        path: label.into(),
        spectra: format!("p50 {a50:.2} ms, p99 {a99:.2} ms"),
        reference: format!("DuckDB p50 {n50:.3} ms, p99 {n99:.3} ms"),
        ratio,
    }
}

/// Requests per second and p99 of `path` from `connections` clients for `seconds`.
async fn load(s: &Served, path: &str, connections: usize, seconds: usize) -> (f64, f64) {
    let until = Instant::now() + Duration::from_secs(seconds as u64);
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            // One connection per client.
            let http = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
            let (url, key) = (format!("{}{path}", s.base), s.key.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < until {
                    let t = Instant::now();
                    let response =
                        http.get(&url).bearer_auth(&key).header("X-Tenant-ID", "bench").send().await.unwrap();
                    assert!(response.status().is_success(), "{url}: {}", response.status());
                    response.bytes().await.unwrap();
                    latencies.push(ms(t.elapsed()));
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    (rate, p50_p99(all).1)
}

async fn job_reads(s: &Served) -> Line {
    let (connections, seconds) = (var("BENCH_CONNECTIONS", 16), var("BENCH_SECONDS", 3));
    let body = json!({"operation": "query", "object": "wide", "query": "SELECT c0 FROM wide LIMIT 10"});
    let job = s.call(reqwest::Method::POST, "/v1/bulk/jobs", Some(body)).await;
    let path = format!("/v1/bulk/jobs/{}", job["job_id"].as_str().unwrap());
    let (health, health_p99) = load(s, "/health", connections, seconds).await;
    let (reads, reads_p99) = load(s, &path, connections, seconds).await;
    Line {
        path: format!("GET /v1/bulk/jobs/{{id}}, {connections} connections"),
        spectra: format!("{reads:.0} req/s, p99 {reads_p99:.2} ms"),
        reference: format!("/health {health:.0} req/s, p99 {health_p99:.2} ms"),
        ratio: format!("{:.2}×", reads / health),
    }
}

/// A CSV of `rows` rows (id, amount, note, tag); ids from 0.
fn write_csv(path: &Path, rows: usize) -> u64 {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "id,amount,note,tag").unwrap();
    for i in 0..rows {
        writeln!(out, "{i},{}.{:02},note number {i} with some text to carry along,tag-{}", i * 3, i % 100, i % 17)
            .unwrap();
    }
    out.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

/// The upload alone: the CSV through a presigned link vs the same bytes to a file + fsync.
async fn upload(s: &Served, body: &[u8]) -> Line {
    let job =
        s.call(reqwest::Method::POST, "/v1/bulk/jobs", Some(json!({"operation": "insert", "object": "target"}))).await;
    let id = job["job_id"].as_str().unwrap();
    let link = s.call(reqwest::Method::GET, &format!("/v1/bulk/jobs/{id}/upload-url"), None).await;
    let started = Instant::now();
    let put = s.http.put(link["upload_url"].as_str().unwrap()).body(body.to_vec()).send().await.unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    let spectra = started.elapsed();
    s.call(reqwest::Method::PATCH, &format!("/v1/bulk/jobs/{id}"), Some(json!({"state": "Aborted"}))).await;
    let started = Instant::now();
    let mut file = std::fs::File::create(s.dir.path().join("reference.csv")).unwrap();
    file.write_all(body).unwrap();
    file.sync_all().unwrap();
    let reference = started.elapsed();
    let mb = body.len() as f64 / 1e6;
    Line {
        path: format!("upload of {mb:.0} MB (presigned PUT)"),
        spectra: format!("{:.2} s, {:.0} MB/s", spectra.as_secs_f64(), mb / spectra.as_secs_f64()),
        reference: format!(
            "file write + fsync {:.2} s, {:.0} MB/s",
            reference.as_secs_f64(),
            mb / reference.as_secs_f64()
        ),
        ratio: format!("{:.2}× the disk's speed", reference.as_secs_f64() / spectra.as_secs_f64()),
    }
}

/// Half the ids of the CSV already in `target`, so the upsert both updates and inserts.
fn target_sql(rows: usize) -> String {
    format!(
        "CREATE TABLE target AS SELECT i AS id, 0.0::DECIMAL(18,2) AS amount, 'old' AS note, 'old' AS tag \
         FROM range(0, {rows}, 2) r(i)"
    )
}

/// The upsert job end to end (create, upload, close, JobComplete) vs read_csv + MERGE.
async fn upsert(s: &Served, native: &duckdb::Connection, csv: &Path, rows: usize) -> Line {
    let started = Instant::now();
    let spec = json!({"operation": "upsert", "object": "target", "primary_key": ["id"]});
    let job = s.call(reqwest::Method::POST, "/v1/bulk/jobs", Some(spec)).await;
    let id = job["job_id"].as_str().unwrap().to_owned();
    let link = s.call(reqwest::Method::GET, &format!("/v1/bulk/jobs/{id}/upload-url"), None).await;
    let body = tokio::fs::read(csv).await.unwrap();
    let put = s.http.put(link["upload_url"].as_str().unwrap()).body(body).send().await.unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    let close = Some(json!({"state": "UploadComplete"}));
    s.call(reqwest::Method::PATCH, &format!("/v1/bulk/jobs/{id}"), close).await;
    let done = loop {
        let record = s.call(reqwest::Method::GET, &format!("/v1/bulk/jobs/{id}"), None).await;
        if ["JobComplete", "Failed", "Aborted"].contains(&record["state"].as_str().unwrap_or_default()) {
            break record;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let spectra = started.elapsed();
    assert_eq!(done["state"], "JobComplete", "{done:#}");
    assert_eq!(done["number_records_processed"], json!(rows), "{done:#}");

    native.execute_batch(&target_sql(rows)).unwrap();
    let started = Instant::now();
    native
        .execute_batch(&format!(
            "BEGIN; CREATE TEMP TABLE stage AS SELECT * FROM read_csv('{}', header = true); \
             MERGE INTO target USING stage ON target.id = stage.id \
             WHEN MATCHED THEN UPDATE SET amount = stage.amount, note = stage.note, tag = stage.tag \
             WHEN NOT MATCHED THEN INSERT (id, amount, note, tag) VALUES (stage.id, stage.amount, stage.note, stage.tag); \
             DROP TABLE stage; COMMIT;",
            csv.display()
        ))
        .unwrap();
    let reference = started.elapsed();
    Line {
        path: format!("upsert of {rows} CSV rows incl. upload"),
        spectra: format!("{:.2} s", spectra.as_secs_f64()),
        reference: format!("read_csv + MERGE {:.2} s", reference.as_secs_f64()),
        ratio: format!("{:.2}× native speed", reference.as_secs_f64() / spectra.as_secs_f64()),
    }
}

#[tokio::main]
async fn main() {
    let (s, warehouse) = Served::start().await;
    let native = duckdb::Connection::open(s.dir.path().join("native.duckdb")).unwrap();
    let rows = var("BENCH_UPSERT_ROWS", 2_000_000);
    run(warehouse.as_ref(), WIDE).await;
    run(warehouse.as_ref(), &target_sql(rows)).await;
    native.execute_batch(WIDE).unwrap();
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let wanted = |key: &str| only.is_empty() || only.split(',').any(|k| k.trim() == key);
    // The CSV (hundreds of MB at the default size) only for the rows that send it.
    let csv = s.dir.path().join("upsert.csv");
    let body = if wanted("upload") || wanted("upsert") {
        write_csv(&csv, rows);
        std::fs::read(&csv).unwrap()
    } else {
        Vec::new()
    };
    let mut lines = Vec::new();
    if wanted("select1") {
        lines.push(query_path(&s, &native, "POST /v1/queries SELECT 1", "SELECT 1", true).await);
    }
    if wanted("rows") {
        let path = "POST /v1/queries 10,000 rows × 10 columns";
        lines.push(query_path(&s, &native, path, "SELECT * FROM wide", false).await);
    }
    if wanted("reads") {
        lines.push(job_reads(&s).await);
    }
    if wanted("upload") {
        lines.push(upload(&s, &body).await);
    }
    if wanted("upsert") {
        lines.push(upsert(&s, &native, &csv, rows).await);
    }
    if wanted("rss") {
        lines.push(rss::row(var("BENCH_JOBS_IN_TABLE", 100_000)).await);
    }
    println!("| path | spectra | reference (same run) | ratio |\n| --- | --- | --- | --- |");
    for line in lines {
        println!("| {} | {} | {} | {} |", line.path, line.spectra, line.reference, line.ratio);
    }
    s.stop.cancel();
    drop(s.app);
}
