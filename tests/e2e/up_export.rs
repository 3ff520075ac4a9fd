//! Export jobs through `spectra up`: CSV, JSON and Parquet results with the right row counts,
//! readable files, and presigned links.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;

#[test]
fn exports_to_csv_json_and_parquet_with_correct_counts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _up = up(&data, &[]);
    sql(
        &data,
        "CREATE TABLE sales AS SELECT i AS id, 'region-' || (i % 7) AS region, i * 1.5 AS amount \
         FROM range(1, 2501) t(i)",
    );
    let query = "SELECT id, region, amount FROM sales WHERE id <= 2000 AND region <> 'it''s'";
    for format in ["CSV", "JSON", "PARQUET"] {
        let job =
            create(&data, &["--operation", "query", "--object", "sales", "--query", query, "--content-type", format]);
        let record = wait_done(&data, &job);
        assert_eq!(record["state"], "JobComplete", "{format}: {record:#}");
        assert_eq!(record["number_records_processed"], 2000, "{format}");
        let results = results(&data, &job);
        let files = results["files"].as_array().unwrap();
        assert!(!files.is_empty(), "{format}: {results:#}");
        let rows: u64 = files.iter().map(|f| f["row_count"].as_u64().unwrap()).sum();
        assert_eq!(rows, 2000, "{format}: the manifest's row counts");
        assert_eq!(
            results["size_bytes"].as_u64().unwrap(),
            files.iter().map(|f| f["size_bytes"].as_u64().unwrap()).sum::<u64>()
        );
        // Every part downloads through its link and holds what the manifest says.
        let mut read = 0;
        for (n, f) in files.iter().enumerate() {
            let body = download(f["download_url"].as_str().unwrap());
            assert_eq!(body.len() as u64, f["size_bytes"].as_u64().unwrap());
            read += match format {
                "CSV" => {
                    let text = String::from_utf8(body).unwrap();
                    assert!(text.starts_with("id,region,amount\n"), "{}", &text[..40.min(text.len())]);
                    text.lines().count() as u64 - 1
                }
                "JSON" => {
                    let text = String::from_utf8(body).unwrap();
                    for line in text.lines() {
                        let row: serde_json::Value = serde_json::from_str(line).unwrap();
                        assert!(row["id"].is_number() && row["region"].is_string(), "{line}");
                    }
                    text.lines().count() as u64
                }
                _ => {
                    // A Parquet file another engine can read: the warehouse reads it back.
                    // (Under the object store: the only directory the hermetic engine reads.)
                    let path = data.join("objects/readback").join(format!("part-{n}.parquet"));
                    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                    std::fs::write(&path, body).unwrap();
                    let count = scalar(&data, &format!("SELECT count(*) FROM read_parquet('{}')", path.display()));
                    count.as_u64().unwrap()
                }
            };
        }
        assert_eq!(read, 2000, "{format}: rows read from the downloaded files");
    }
    let listed = bulk(&data, &["list", "--operation", "query"]);
    assert_eq!(listed.lines().filter(|l| l.contains("JobComplete")).count(), 3, "{listed}");
}

#[test]
fn an_export_with_a_user_limit_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _up = up(&data, &[]);
    sql(&data, "CREATE TABLE t AS SELECT i AS id FROM range(100) r(i)");
    let job = create(
        &data,
        &[
            "--operation",
            "query",
            "--object",
            "t",
            "--query",
            "SELECT id FROM t ORDER BY id LIMIT 7",
            "--compression",
            "GZIP",
        ],
    );
    let record = wait_done(&data, &job);
    assert_eq!(record["state"], "JobComplete", "{record:#}");
    assert_eq!(record["number_records_processed"], 7);
    let results = results(&data, &job);
    assert_eq!(results["compression"], "GZIP");
    let body = download(results["files"][0]["download_url"].as_str().unwrap());
    assert_eq!(&body[..2], &[0x1f, 0x8b], "a gzip stream");
}

#[test]
fn an_export_that_cannot_run_fails_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _up = up(&data, &[]);
    let job = create(&data, &["--operation", "query", "--object", "nope", "--query", "SELECT * FROM missing_table"]);
    let record = wait_done(&data, &job);
    assert_eq!(record["state"], "Failed");
    assert_eq!(record["error"]["code"], "STATEMENT_FAILED");
    assert!(record["error"]["message"].as_str().unwrap().contains("missing_table"), "{record:#}");
    // The SQL guard refuses what is not a read-only query before a job exists.
    for query in ["DELETE FROM t", "SELECT * FROM stl_query", "SELECT pg_sleep(5)"] {
        let out = spectra(&[
            "bulk",
            "--data-dir",
            data.to_str().unwrap(),
            "--tenant",
            TENANT,
            "create",
            "--operation",
            "query",
            "--object",
            "x",
            "--query",
            query,
        ]);
        assert!(!out.status.success(), "{query} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("the query is refused: "), "{query}: {err}");
    }
    assert_eq!(bulk(&data, &["list"]).lines().count(), 3, "only the failed export exists");
}

#[test]
fn every_transition_is_published_as_a_lifecycle_event() {
    use spectra_local::{EVENTS_QUEUE, QUEUE_FILE, QueueConfig, SqliteQueue};
    use spectra_worker::ports::Queue;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _up = up(&data, &[]);
    sql(&data, "CREATE TABLE t AS SELECT i AS id FROM range(5) r(i)");
    let job = create(&data, &["--operation", "query", "--object", "t", "--query", "SELECT * FROM t"]);
    assert_eq!(wait_done(&data, &job)["state"], "JobComplete");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // Events go out in batches within a moment of their transition: gather until the job's
    // three have arrived (or long past that moment, to show what did).
    let events = runtime.block_on(async {
        let queue = SqliteQueue::open(&data.join(QUEUE_FILE), EVENTS_QUEUE, QueueConfig::default()).await.unwrap();
        let (mut all, deadline) = (Vec::new(), std::time::Instant::now() + std::time::Duration::from_secs(10));
        let wait = std::time::Duration::from_millis(200);
        loop {
            let batch = queue.receive(10, wait, std::time::Duration::from_secs(60)).await.unwrap();
            all.extend(batch.into_iter().map(|m| serde_json::from_str::<serde_json::Value>(&m.body).unwrap()));
            let mine = all.iter().filter(|e| e["detail"]["job_id"] == job.as_str()).count();
            if mine >= 3 || std::time::Instant::now() > deadline {
                return all;
            }
        }
    });
    let mut mine: Vec<&serde_json::Value> = events.iter().filter(|e| e["detail"]["job_id"] == job.as_str()).collect();
    mine.sort_by_key(|e| e["detail"]["version"].as_u64());
    let steps: Vec<(serde_json::Value, serde_json::Value, serde_json::Value)> = mine
        .iter()
        .map(|e| (e["detail"]["version"].clone(), e["detail"]["from"].clone(), e["detail"]["to"].clone()))
        .collect();
    assert_eq!(
        steps,
        [
            (1.into(), serde_json::Value::Null, "UploadComplete".into()),
            (2.into(), "UploadComplete".into(), "InProgress".into()),
            (3.into(), "InProgress".into(), "JobComplete".into()),
        ]
    );
    for e in &mine {
        assert_eq!(
            (e["source"].as_str(), e["detail-type"].as_str()),
            (Some("spectra"), Some("Spectra Job State Change"))
        );
    }
    assert_eq!(mine[2]["detail"]["number_records_processed"], 5);
}

/// `--db-user acme=tenant_acme`: the tenant's statements are submitted as its database user
/// (the warehouse's statement ledger records `DbUser`, as DescribeStatement reports it), and
/// other tenants' are not.
#[test]
fn tenants_statements_run_as_their_database_users() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _up = up(&data, &["--db-user", "acme=tenant_acme"]);
    sql(&data, "CREATE TABLE things AS SELECT 1 AS id");
    let job = create(&data, &["--operation", "query", "--object", "things", "--query", "SELECT id FROM things"]);
    assert_eq!(wait_done(&data, &job)["state"], "JobComplete");
    let records = sql(
        &data,
        "SELECT record FROM spectra_internal.statements \
         WHERE json_extract_string(record, '$.statement_name') LIKE 'spectra:acme:%'",
    );
    assert!(!records.is_empty(), "the job's statement is in the ledger");
    for row in records {
        let record: serde_json::Value = serde_json::from_str(row[0].as_str().unwrap()).unwrap();
        assert_eq!(record["db_user"], "tenant_acme", "{record}");
    }
    let admin = sql(
        &data,
        "SELECT count(*) FROM spectra_internal.statements WHERE json_extract_string(record, '$.statement_name') IS NULL \
         AND json_extract(record, '$.db_user') = 'null'::JSON",
    );
    assert!(admin[0][0].as_i64().unwrap() >= 1, "operator SQL runs as no tenant's user");
}

/// A tenant's export written in Redshift's SQL runs as Redshift answers it (the dialect layer
/// rewrites it before the tenant boundary checks it), and what the layer refuses fails the job
/// with the construct named.
#[test]
fn an_export_in_redshift_sql_runs_with_redshifts_answers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _up = up(&data, &[]);
    sql(&data, "CREATE TABLE visits AS SELECT i AS id FROM range(1, 11) t(i)");
    let query = "SELECT TOP 3 id, DECODE(id % 2, 0, 'even', 'odd') AS parity, DATEADD(day, id, '2008-01-01'::date) AS day, \
                 id / 2 AS half FROM visits ORDER BY id DESC";
    let job = create(&data, &["--operation", "query", "--object", "visits", "--query", query]);
    let record = wait_done(&data, &job);
    assert_eq!(record["state"], "JobComplete", "{record:#}");
    let files = results(&data, &job)["files"].as_array().unwrap().clone();
    let text: String =
        files.iter().map(|f| String::from_utf8(download(f["download_url"].as_str().unwrap())).unwrap()).collect();
    assert_eq!(
        text,
        "id,parity,day,half\n10,even,2008-01-11 00:00:00,5\n9,odd,2008-01-10 00:00:00,4\n8,even,2008-01-09 00:00:00,4\n"
    );
    let refused = create(
        &data,
        &[
            "--operation",
            "query",
            "--object",
            "visits",
            "--query",
            "SELECT DATEDIFF(week, '2008-01-01'::date, '2008-03-01'::date) FROM visits",
        ],
    );
    let record = wait_done(&data, &refused);
    assert_eq!(record["state"], "Failed", "{record:#}");
    assert!(record["error"]["message"].as_str().unwrap().contains("DATEDIFF by week"), "{record:#}");
}
