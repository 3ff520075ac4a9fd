//! The embedded warehouse beyond the shared contract: Redshift UNLOAD and COPY against the local
//! object store, the options Redshift refuses, and a ledger that survives a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use spectra_local::{QueueConfig, SqliteQueue};
use spectra_warehouse::{DuckWarehouse, WarehouseConfig};
use spectra_worker::contract::warehouse::{run, wait};
use spectra_worker::ports::{Field, Queue, StatementRequest, StatementStatus, Warehouse};

async fn open(dir: &Path) -> DuckWarehouse {
    let events: Arc<dyn Queue> =
        Arc::new(SqliteQueue::open(&dir.join("queue.sqlite"), "work", QueueConfig::default()).await.unwrap());
    DuckWarehouse::open(&dir.join("warehouse.duckdb"), &dir.join("objects"), WarehouseConfig::default(), Some(events))
        .await
        .unwrap()
}

async fn ok(w: &DuckWarehouse, sql: &str) {
    let d = run(w, sql).await;
    assert_eq!(d.status, StatementStatus::Finished, "{sql}: {:?}", d.error);
}

async fn scalar(w: &DuckWarehouse, sql: &str) -> Field {
    let id = w.execute(StatementRequest::single(sql)).await.unwrap();
    let d = wait(w, &id).await;
    assert_eq!(d.status, StatementStatus::Finished, "{sql}: {:?}", d.error);
    w.results(&id, None).await.unwrap().records[0][0].clone()
}

fn manifest(dir: &Path, key: &str) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("objects/spectra").join(key)).unwrap()).unwrap()
}

const MILLION: i64 = 1_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unloads_a_million_rows_in_every_format_with_manifests_that_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let w = open(dir.path()).await;
    ok(&w, &format!("CREATE TABLE sales AS SELECT i AS id, 'region-' || (i % 7) AS region, i * 0.25 AS amount FROM range({MILLION}) t(i)")).await;
    for (format, options) in [
        ("csv", "FORMAT AS CSV HEADER GZIP MAXFILESIZE 5 MB"),
        ("parquet", "FORMAT PARQUET"),
        ("json", "FORMAT JSON PARALLEL OFF"),
    ] {
        let sql = format!(
            "UNLOAD ('SELECT * FROM sales WHERE region <> ''none''') TO 's3://spectra/acme/job-{format}/results/part_' \
             IAM_ROLE 'arn:aws:iam::000000000000:role/spectra' {options} MANIFEST VERBOSE"
        );
        let d = run(&w, &sql).await;
        assert_eq!(d.status, StatementStatus::Finished, "{format}: {:?}", d.error);
        assert_eq!(d.result_rows, MILLION, "{format}");
        let m = manifest(dir.path(), &format!("acme/job-{format}/results/part_manifest"));
        let entries = m["entries"].as_array().unwrap();
        let per_file: i64 = entries.iter().map(|e| e["meta"]["record_count"].as_i64().unwrap()).sum();
        assert_eq!(per_file, MILLION, "{format}: per-file counts do not add up");
        assert_eq!(m["meta"]["record_count"].as_i64(), Some(MILLION));
        assert_eq!(m["schema"]["elements"][0]["name"], "id");
        for e in entries {
            let url = e["url"].as_str().unwrap();
            let path = dir.path().join("objects").join(url.strip_prefix("s3://").unwrap());
            assert_eq!(std::fs::metadata(&path).unwrap().len(), e["meta"]["content_length"].as_u64().unwrap(), "{url}");
        }
        // The files are real: read them back with the engine.
        let first = entries[0]["url"].as_str().unwrap();
        match format {
            "csv" => {
                assert!(entries.len() >= 2, "MAXFILESIZE 5 MB should split 1M rows, got {}", entries.len());
                assert!(first.ends_with("part_0000_part_00.gz"), "{first}");
            }
            "parquet" => assert!(first.ends_with("part_0000_part_00.parquet"), "{first}"),
            _ => assert!(first.ends_with("part_000"), "{first}"),
        }
    }
    let sum = scalar(
        &w,
        &format!(
            "SELECT sum(amount) FROM read_parquet('{}/objects/spectra/acme/job-parquet/results/*.parquet')",
            dir.path().display()
        ),
    )
    .await;
    assert_eq!(sum, Field::String("124999875000.00".into()));
}

#[tokio::test]
async fn unload_refuses_occupied_prefixes_and_forbidden_options() {
    let dir = tempfile::tempdir().unwrap();
    let w = open(dir.path()).await;
    let unload = |opts: &str| format!("UNLOAD ('SELECT 1 AS x') TO 's3://spectra/acme/j/out_' IAM_ROLE default {opts}");
    ok(&w, &unload("FORMAT CSV")).await;
    let again = run(&w, &unload("FORMAT CSV")).await;
    assert_eq!(again.status, StatementStatus::Failed);
    assert!(again.error.unwrap().contains("not empty"));
    ok(&w, &unload("FORMAT CSV ALLOWOVERWRITE")).await;
    ok(&w, &unload("FORMAT CSV CLEANPATH")).await;
    for (opts, why) in
        [("FORMAT PARQUET HEADER", "HEADER"), ("FORMAT PARQUET GZIP", "GZIP"), ("FORMAT JSON HEADER", "HEADER")]
    {
        let d = run(&w, &unload(&format!("{opts} ALLOWOVERWRITE"))).await;
        assert_eq!(d.status, StatementStatus::Failed, "{opts}");
        assert!(d.error.unwrap().contains(why), "{opts}");
    }
}

fn put(dir: &Path, key: &str, body: &str) {
    let path = dir.join("objects/spectra").join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
}

#[tokio::test]
async fn copy_records_rows_maxerror_lets_through_and_fails_beyond_it() {
    let dir = tempfile::tempdir().unwrap();
    let w = open(dir.path()).await;
    ok(&w, "CREATE TABLE people (id INTEGER, name VARCHAR, joined DATE)").await;
    put(
        dir.path(),
        "acme/bulk-1/upload/part-1.csv",
        "id,name,joined\n1,ann,2024-01-02\nx,bob,2024-01-03\n3,cy,not a date\n4,\"d, e\",2024-02-01\n",
    );
    put(dir.path(), "acme/bulk-1/upload/part-2.csv", "id,name,joined\n5,eve,2024-03-01\n");
    let copy = |max: u32| {
        format!(
            "COPY people (id, name, joined) FROM 's3://spectra/acme/bulk-1/upload/' IAM_ROLE default FORMAT AS CSV IGNOREHEADER 1 MAXERROR {max}"
        )
    };
    let strict = run(&w, &copy(1)).await;
    assert_eq!(strict.status, StatementStatus::Failed);
    assert!(strict.error.as_deref().unwrap().contains("2 row(s) rejected"), "{:?}", strict.error);
    assert_eq!(scalar(&w, "SELECT count(*) FROM people").await, Field::Long(0), "a failed COPY loaded rows");

    let d = run(&w, &copy(5)).await;
    assert_eq!(d.status, StatementStatus::Finished, "{:?}", d.error);
    assert_eq!(d.result_rows, 3);
    let id = w.execute(StatementRequest::single(format!(
        "SELECT file_name, line_number, column_name, raw_line FROM sys_load_error_detail WHERE query_id = {} ORDER BY line_number",
        d.redshift_query_id
    ))).await.unwrap();
    wait(&w, &id).await;
    let rows = w.results(&id, None).await.unwrap().records;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][0], Field::String("s3://spectra/acme/bulk-1/upload/part-1.csv".into()));
    assert_eq!((&rows[0][1], &rows[1][1]), (&Field::Long(3), &Field::Long(4)));
    assert_eq!(rows[0][2], Field::String("id".into()));
    assert_eq!(rows[1][3], Field::String("3,cy,not a date".into()));
    assert_eq!(
        scalar(&w, "SELECT string_agg(name, '|' ORDER BY id) FROM people").await,
        Field::String("ann|d, e|eve".into())
    );
}

#[tokio::test]
async fn copy_reads_json_parquet_and_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let w = open(dir.path()).await;
    ok(&w, "CREATE TABLE src AS SELECT i AS id, 'n' || i AS name FROM range(100) t(i)").await;
    ok(&w, "CREATE TABLE dst (id BIGINT, name VARCHAR)").await;
    ok(&w, "UNLOAD ('SELECT * FROM src') TO 's3://spectra/acme/x/p_' IAM_ROLE default FORMAT PARQUET MANIFEST").await;
    ok(&w, "COPY dst FROM 's3://spectra/acme/x/p_manifest' IAM_ROLE default FORMAT AS PARQUET MANIFEST").await;
    assert_eq!(scalar(&w, "SELECT count(*) FROM dst").await, Field::Long(100));

    put(
        dir.path(),
        "acme/j/upload/rows.json",
        "{\"id\": 1, \"name\": \"a\"}\n{\"id\": \"oops\", \"name\": \"b\"}\n{\"name\": \"c\", \"id\": 3}\n",
    );
    let d =
        run(&w, "COPY dst FROM 's3://spectra/acme/j/upload/' IAM_ROLE default FORMAT AS JSON 'auto' MAXERROR 1").await;
    assert_eq!((d.status, d.result_rows), (StatementStatus::Finished, 2), "{:?}", d.error);
    assert_eq!(
        scalar(&w, &format!("SELECT line_number FROM sys_load_error_detail WHERE query_id = {}", d.redshift_query_id))
            .await,
        Field::Long(2)
    );
    let missing = run(&w, "COPY dst FROM 's3://spectra/acme/nothing/' IAM_ROLE default CSV").await;
    assert!(missing.error.unwrap().contains("does not exist"));
}

#[tokio::test]
async fn statements_are_still_described_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (done, running) = {
        let w = open(dir.path()).await;
        ok(&w, "CREATE TABLE t (a INTEGER)").await;
        let done = w.execute(StatementRequest::single("INSERT INTO t VALUES (1), (2)")).await.unwrap();
        wait(&w, &done).await;
        let running = w
            .execute(StatementRequest {
                with_event: true,
                statement_name: Some("spectra:acme:bulk-9:1".into()),
                ..StatementRequest::single("INSERT INTO t SELECT count(*) FROM range(1000000000000)")
            })
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        w.cancel(&running).await.unwrap();
        wait(&w, &running).await;
        (done, running)
    };
    let w = open(dir.path()).await;
    let d = w.describe(&done).await.unwrap();
    assert_eq!((d.status, d.result_rows), (StatementStatus::Finished, 2));
    assert_eq!(w.describe(&running).await.unwrap().status, StatementStatus::Aborted);
    assert_eq!(scalar(&w, "SELECT count(*) FROM t").await, Field::Long(2));
}

#[tokio::test]
async fn a_batch_stages_many_row_groups_in_a_like_table_and_loses_none() {
    let dir = tempfile::tempdir().unwrap();
    let w = open(dir.path()).await;
    ok(&w, "CREATE TABLE target (id BIGINT, label VARCHAR)").await;
    // More than one DuckDB row group (122,880 rows): a CTAS stage lost these (see `like.rs`).
    let rows = 200_000;
    let csv: String =
        std::iter::once("id,label\n".to_owned()).chain((0..rows).map(|i| format!("{i},l{i}\n"))).collect();
    put(dir.path(), "acme/job/upload/part-1.csv", &csv);
    let mut batch = StatementRequest::single("");
    batch.sql = spectra_worker::ports::Sql::Batch(vec![
        "CREATE TEMP TABLE stage (LIKE target)".into(),
        "COPY stage FROM 's3://spectra/acme/job/upload/' IAM_ROLE DEFAULT CSV IGNOREHEADER 1".into(),
        "INSERT INTO target SELECT * FROM stage".into(),
    ]);
    let d = wait(&w, &w.execute(batch).await.unwrap()).await;
    assert_eq!(d.status, StatementStatus::Finished, "{:?}", d.error);
    assert_eq!(d.sub_statements.iter().map(|s| s.result_rows).collect::<Vec<_>>(), [0, rows, rows]);
    assert_eq!(scalar(&w, "SELECT count(*) FROM target").await, Field::Long(rows));
    assert_eq!(
        run(&w, "SELECT count(*) FROM stage").await.status,
        StatementStatus::Failed,
        "the stage is session-local"
    );
}

/// A caller that goes away mid-submit (a Data API client that disconnects, a worker killed
/// during the request) must not leave a statement registered under its client token that never
/// runs: the retry with the token gets the same id, and that statement has to end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_abandoned_by_its_caller_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let w = open(dir.path()).await;
    let mut request = StatementRequest::single("SELECT 42 AS answer");
    request.client_token = Some("abandoned-1".into());
    // Dropped at its first wait: after the statement is registered, before the call returns.
    let abandoned = tokio::time::timeout(std::time::Duration::from_nanos(1), w.execute(request.clone())).await;
    assert!(abandoned.is_err(), "the call was meant to be dropped mid-way");
    let id = w.execute(request).await.unwrap();
    let ended = tokio::time::timeout(std::time::Duration::from_secs(30), wait(&w, &id)).await;
    let d = ended.expect("the statement of the abandoned submit never ran");
    assert_eq!(d.status, StatementStatus::Finished, "{:?}", d.error);
    assert_eq!(w.results(&id, None).await.unwrap().records[0][0], Field::Long(42));
}
