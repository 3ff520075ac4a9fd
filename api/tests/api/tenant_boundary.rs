//! The SQL path as a tenant boundary: escape attempts of every class, each through the Query
//! API and a bulk export, must answer 400 and leave no trace (no table, no file, no setting, no
//! sequence step, no statement, no job); the engine's own function list is enumerated here, so
//! a new engine version cannot add an unseen reader.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use spectra_api::RateLimits;
use spectra_worker::contract::warehouse::run;
use spectra_worker::ports::{Field, StatementStatus, read_rows};

use crate::common::{Stack, code};

/// Table functions a tenant may call (the rest are refused, whatever the engine adds).
const ALLOWED_TABLE_FUNCTIONS: [&str; 5] = ["range", "generate_series", "unnest", "json_each", "json_tree"];
/// Volatile built-ins a tenant may call.
const HARMLESS_VOLATILE: [&str; 6] = ["random", "gen_random_uuid", "uuid", "uuidv4", "uuidv7", "error"];

fn generous() -> RateLimits {
    RateLimits {
        queries: 1_000_000,
        job_reads: 1_000_000,
        bulk_creates: 1_000_000,
        bulk_reads: 1_000_000,
        window_seconds: 60,
    }
}

/// Rows of an operator query, each row's fields joined by `|`.
async fn operator_rows(s: &Stack, sql: &str) -> Vec<String> {
    let done = run(s.warehouse.as_ref(), sql).await;
    assert_eq!(done.status, StatementStatus::Finished, "{sql}: {:?}", done.error);
    let (_, rows) = read_rows(s.warehouse.as_ref(), &done.id, None).await.unwrap();
    rows.iter()
        .map(|row| {
            row.iter()
                .map(|f| match f {
                    Field::String(v) => v.clone(),
                    Field::Long(v) => v.to_string(),
                    Field::Double(v) => v.to_string(),
                    Field::Boolean(v) => v.to_string(),
                    Field::Blob(_) => "<blob>".into(),
                    Field::IsNull => "NULL".into(),
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

/// Everything an escape could change.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    tables: Vec<String>,
    settings: Vec<String>,
    sequences: Vec<String>,
    tenant_statements: Vec<String>,
    files: BTreeSet<String>,
}

fn files(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().map_while(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out
}

async fn snapshot(s: &Stack) -> Snapshot {
    Snapshot {
        tables: operator_rows(
            s,
            "SELECT database_name, schema_name, table_name FROM duckdb_tables() UNION ALL \
             SELECT database_name, schema_name, view_name FROM duckdb_views() WHERE NOT internal ORDER BY ALL",
        )
        .await,
        settings: operator_rows(s, "SELECT name, value FROM duckdb_settings() ORDER BY name").await,
        // The ledger's own query-id sequence moves with every statement, these snapshots' too.
        sequences: operator_rows(
            s,
            "SELECT sequence_name, last_value FROM duckdb_sequences() WHERE schema_name <> 'spectra_internal' ORDER BY ALL",
        )
        .await,
        tenant_statements: operator_rows(
            s,
            "SELECT record FROM spectra_internal.statements \
             WHERE json_extract_string(record, '$.db_user') = 'tenant_beta' ORDER BY id",
        )
        .await,
        files: files(s.data_dir()),
    }
}

/// The attempts written by hand: parser mismatches, catalogs, paths, search-path tricks,
/// statements that are not queries.
fn handwritten(data: &str, acme_export: &str) -> Vec<String> {
    let mut v: Vec<String> = [
        // What the guard's dialect and the engine's parser disagree about.
        r"SELECT 'a\'; CREATE TABLE pwn1 (x INT); SELECT '1'",
        r"SELECT 'a\' AS x; CREATE TABLE pwn2 AS SELECT 1; SELECT ' b'",
        r"SELECT E'a\'; DROP TABLE sales; --'",
        "SELECT 1 /* /* */ ; CREATE TABLE pwn3 (x INT); /* */ */",
        "SELECT 1 /* /* nested */ */ ; CREATE TABLE pwn4 (x INT)",
        "SELECT 1; CREATE TABLE pwn5 (x INT)",
        "SELECT 1; SELECT 2",
        "SELECT 1;;SELECT 2",
        "SELECT 1 --x\n; CREATE TABLE pwn6 (x INT)",
        "SELECT $$a$$; CREATE TABLE pwn7 (x INT); SELECT $$b$$",
        r"SELECT 'a\\'; COPY (SELECT 1) TO '/tmp/spectra-pwn.csv'; SELECT '1'",
        r"SELECT 'a\'; INSERT INTO sales VALUES (999, 'X', 1); SELECT '1'",
        r"SELECT * FROM sales WHERE region = 'a\' OR 1=1; DELETE FROM sales; --'",
        // Statements that are not queries.
        "CREATE TABLE pwn9 (x INT)",
        "INSERT INTO sales VALUES (1000, 'X', 1)",
        "DELETE FROM sales",
        "UPDATE sales SET amount = 0",
        "DROP TABLE sales",
        "ALTER TABLE sales ADD COLUMN pwn INT",
        "COPY sales TO '/tmp/spectra-pwn.csv'",
        "COPY (SELECT 1) TO '/tmp/spectra-pwn.csv'",
        "EXPORT DATABASE '/tmp/spectra-pwn'",
        "ATTACH ':memory:' AS pwn",
        "ATTACH '/tmp/spectra-pwn.duckdb' AS pwn",
        "DETACH warehouse",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET threads = 1",
        "SET search_path = 'main,spectra_internal'",
        "RESET search_path",
        "SET VARIABLE pwn = 1",
        "PRAGMA enable_profiling",
        "CALL enable_logging()",
        "CALL pragma_version()",
        "CHECKPOINT",
        "VACUUM",
        "USE spectra_internal",
        "CREATE MACRO pwn(x) AS x",
        "CREATE SEQUENCE pwn_seq",
        "CREATE VIEW pwn_view AS SELECT 1",
        "PREPARE p AS SELECT 1",
        "EXPLAIN SELECT 1",
        "DESCRIBE sales",
        "SHOW TABLES",
        "SHOW ALL TABLES",
        "SUMMARIZE sales",
        "SELECT * FROM (SHOW ALL TABLES)",
        "SELECT * FROM (DESCRIBE sales)",
        "WITH x AS (DELETE FROM sales RETURNING *) SELECT * FROM x",
        // The statement ledger and other schemas, however named.
        "SELECT record FROM statements",
        "SELECT * FROM spectra_internal.statements",
        "SELECT * FROM \"spectra_internal\".\"statements\"",
        "SELECT * FROM SPECTRA_INTERNAL.STATEMENTS",
        "SELECT * FROM warehouse.spectra_internal.statements",
        "SELECT * FROM warehouse.main.sales",
        "SELECT * FROM sys_load_error_detail",
        "SELECT * FROM spectra_internal.sys_load_error_detail",
        "SELECT * FROM secret.salaries",
        "SELECT * FROM sales, secret.salaries",
        "SELECT (SELECT max(x) FROM secret.salaries)",
        "WITH s AS (SELECT * FROM secret.salaries) SELECT * FROM s",
        "SELECT * FROM sales WHERE id IN (SELECT x FROM secret.salaries)",
        "SELECT * FROM temp.main.pwn",
        "SELECT * FROM sales AT (VERSION => 1)",
        // Catalogs.
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM information_schema.columns",
        "SELECT * FROM pg_catalog.pg_class",
        "SELECT * FROM pg_class",
        "SELECT * FROM pg_namespace",
        "SELECT * FROM sqlite_master",
        "SELECT * FROM duckdb_tables",
        "SELECT * FROM system.main.duckdb_tables",
        "SELECT * FROM stl_query",
        "SELECT * FROM svv_table_info",
        // Engine-describing and state-changing calls.
        "SELECT current_setting('threads')",
        "SELECT getvariable('x')",
        "SELECT current_schema",
        "SELECT current_catalog",
        "SELECT current_schemas(true)",
        "SELECT version()",
        "SELECT nextval('seq')",
        "SELECT currval('seq')",
        "SELECT setval('seq', 100)",
        "SELECT setseed(0.5)",
        "SELECT sleep_ms(100000)",
        "SELECT pg_sleep(100)",
        "SELECT write_log('pwn')",
        "SELECT main.abs(-1)",
        "SELECT system.main.abs(-1)",
        "SELECT has_table_privilege('sales', 'select')",
        "SELECT pg_typeof(1)",
        "SELECT txid_current()",
        "SELECT in_search_path('warehouse', 'spectra_internal')",
        // Reader tricks: LATERAL, nesting, CTEs, set operations.
        "SELECT * FROM sales, LATERAL read_csv('/etc/passwd')",
        "SELECT * FROM sales CROSS JOIN LATERAL (SELECT * FROM read_text('/etc/passwd'))",
        "WITH f AS (SELECT * FROM read_text('/etc/passwd')) SELECT * FROM f",
        "SELECT * FROM sales UNION ALL SELECT 1, content, 1 FROM read_text('/etc/passwd')",
        "SELECT (SELECT content FROM read_text('/etc/passwd'))",
        "SELECT * FROM query('SELECT * FROM spectra_internal.statements')",
        "SELECT * FROM query_table('spectra_internal.statements')",
        "SELECT * FROM query_table(['sales', 'secret.salaries'])",
        "SELECT * FROM json_execute_serialized_sql('x')",
        "SELECT * FROM read_json_objects('/etc/passwd')",
        "SELECT * FROM read_ndjson_objects('/etc/passwd')",
        "SELECT * FROM parquet_metadata('/etc/passwd')",
        "SELECT * FROM read_duckdb('/etc/passwd')",
        "SELECT * FROM sniff_csv('/etc/passwd')",
        "SELECT * FROM glob('/*')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM \"/etc/passwd\"",
        "FROM '/etc/passwd'",
        "SELECT * FROM 'https://example.invalid/x.csv'",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    // Files of the data directory and of another tenant, as tables and through readers.
    for path in [
        format!("{data}/admin.token"),
        format!("{data}/objects/spectra/acme/*/results/*"),
        format!("{data}/objects/spectra/acme/*/upload/*.csv"),
        acme_export.to_owned(),
        format!("{data}/warehouse.duckdb"),
        format!("{data}/jobs.sqlite"),
    ] {
        v.push(format!("SELECT * FROM \"{path}\""));
        v.push(format!("SELECT * FROM '{path}'"));
        v.push(format!("SELECT * FROM read_csv('{path}')"));
        v.push(format!("SELECT * FROM read_parquet('{path}')"));
        v.push(format!("SELECT * FROM read_text('{path}')"));
    }
    v
}

/// Attempts derived from the engine's own function list.
async fn enumerated(s: &Stack) -> Vec<String> {
    let allowed = ALLOWED_TABLE_FUNCTIONS.map(|f| format!("'{f}'")).join(",");
    let harmless = HARMLESS_VOLATILE.map(|f| format!("'{f}'")).join(",");
    let mut v = Vec::new();
    for f in operator_rows(
        s,
        &format!(
            "SELECT DISTINCT function_name FROM duckdb_functions() \
             WHERE function_type IN ('table', 'table_macro') AND function_name NOT IN ({allowed}) ORDER BY 1"
        ),
    )
    .await
    {
        v.push(format!("SELECT * FROM {f}()"));
        v.push(format!("SELECT * FROM sales, LATERAL {f}('x')"));
    }
    for f in operator_rows(
        s,
        &format!(
            "SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_type = 'scalar' \
             AND (has_side_effects OR schema_name = 'pg_catalog') AND function_name NOT IN ({harmless}) ORDER BY 1"
        ),
    )
    .await
    {
        v.push(format!("SELECT \"{f}\"()"));
    }
    for f in
        operator_rows(s, "SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_type = 'pragma'").await
    {
        v.push(format!("PRAGMA {f}"));
    }
    v
}

async fn refused(s: &Stack, key: &str, sql: &str) {
    let (status, body) = s.call(key, "beta", Method::POST, "/v1/queries", Some(json!({"sql": sql}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "query {sql:?}: {body}");
    // Refused before any job: not a statement that ran and failed.
    assert!(body["error"]["details"].get("job_id").is_none(), "query {sql:?} ran: {body}");
    assert!(["SQL_BLOCKED", "INVALID_SQL"].contains(&code(&body)), "query {sql:?}: {body}");
    assert!(body["error"]["details"].as_object().is_some_and(|d| !d.is_empty()), "query {sql:?}: {body}");
    let export = json!({"operation": "query", "object": "sales", "query": sql});
    let (status, body) = s.call(key, "beta", Method::POST, "/v1/bulk/jobs", Some(export)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "export {sql:?}: {body}");
    assert!(["SQL_BLOCKED", "INVALID_SQL"].contains(&code(&body)), "export {sql:?}: {body}");
    assert!(body["error"]["details"].as_object().is_some_and(|d| !d.is_empty()), "export {sql:?}: {body}");
}

async fn two_tenants() -> (Stack, String, String) {
    let s = Stack::start_with(generous()).await;
    let (acme, beta) = (s.key("acme").await, s.key("beta").await);
    s.sql(
        "CREATE TABLE sales AS SELECT i AS id, CASE WHEN i % 2 = 0 THEN 'EMEA' ELSE 'APAC' END AS region, \
           i * 10 AS amount FROM range(1, 51) t(i)",
    )
    .await;
    s.sql("CREATE SCHEMA secret").await;
    s.sql("CREATE TABLE secret.salaries AS SELECT 100 AS x").await;
    s.sql("CREATE SEQUENCE seq").await;
    (s, acme, beta)
}

/// Acme's export, finished: the path of one of its result files.
async fn acme_export(s: &Stack, acme: &str) -> String {
    let body = json!({"operation": "query", "object": "sales", "query": "SELECT * FROM sales"});
    let (status, job) = s.call(acme, "acme", Method::POST, "/v1/bulk/jobs", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let done = s.wait_done(acme, "acme", job["job_id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "JobComplete", "{done}");
    let dir = s.data_dir().join("objects/spectra/acme").join(job["job_id"].as_str().unwrap()).join("results");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map_while(Result::ok)
        .find(|e| !e.file_name().to_string_lossy().contains("manifest"));
    file.unwrap().path().display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_escape_attempt_is_refused_and_leaves_no_trace() {
    let (s, acme, beta) = two_tenants().await;
    let export = acme_export(&s, &acme).await;
    let data = s.data_dir().display().to_string();
    let mut attempts = handwritten(&data, &export);
    attempts.extend(enumerated(&s).await);
    assert!(attempts.len() >= 150, "only {} attempts", attempts.len());
    let before = snapshot(&s).await;
    for sql in &attempts {
        refused(&s, &beta, sql).await;
    }
    assert_eq!(snapshot(&s).await, before, "an attempt changed something");
    let (status, jobs) = s.call(&beta, "beta", Method::GET, "/v1/bulk/jobs", None).await;
    assert_eq!(status, StatusCode::OK, "{jobs}");
    assert_eq!(jobs["jobs"].as_array().map(Vec::len), Some(0), "a refused request created a job: {jobs}");
    assert!(!Path::new("/tmp/spectra-pwn.csv").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_tenant_may_run_still_runs_with_the_engines_answer() {
    let (s, _, beta) = two_tenants().await;
    for (sql, want) in [
        ("SELECT count(*) AS n FROM sales", json!([{"n": 50}])),
        ("SELECT 'it''s' AS a, 'a\\b' AS b", json!([{"a": "it's", "b": "a\\b"}])),
        ("SELECT 1 AS one /* a comment */ -- trailing", json!([{"one": 1}])),
        ("WITH r AS (SELECT * FROM sales WHERE id <= 2) SELECT id FROM r ORDER BY id", json!([{"id": 1}, {"id": 2}])),
        ("SELECT sum(i) AS s FROM range(4) t(i)", json!([{"s": 6}])),
        ("SELECT x FROM unnest([3, 4]) t(x) ORDER BY x", json!([{"x": 3}, {"x": 4}])),
        ("SELECT upper(region) AS r FROM sales WHERE id = 1", json!([{"r": "APAC"}])),
        ("SELECT id FROM main.sales WHERE id = 1 UNION ALL SELECT 2", json!([{"id": 1}, {"id": 2}])),
    ] {
        let (status, body) = s.call(&beta, "beta", Method::POST, "/v1/queries", Some(json!({"sql": sql}))).await;
        assert_eq!(status, StatusCode::OK, "{sql}: {body}");
        assert_eq!(body["data"], want, "{sql}");
    }
    let body =
        json!({"operation": "query", "object": "sales", "query": "SELECT id FROM sales WHERE amount > 480 -- big"});
    let (status, job) = s.call(&beta, "beta", Method::POST, "/v1/bulk/jobs", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let done = s.wait_done(&beta, "beta", job["job_id"].as_str().unwrap()).await;
    assert_eq!((done["state"].as_str(), done["number_records_processed"].as_u64()), (Some("JobComplete"), Some(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_tables_are_never_bulk_targets() {
    let (s, _, beta) = two_tenants().await;
    for object in [
        "spectra_internal.statements",
        "pg_catalog.pg_class",
        "information_schema.tables",
        "pg_class",
        "stl_load_errors",
    ] {
        for operation in ["insert", "query"] {
            let mut body = json!({"operation": operation, "object": object});
            if operation == "query" {
                body["query"] = json!("SELECT 1");
            }
            let (status, reply) = s.call(&beta, "beta", Method::POST, "/v1/bulk/jobs", Some(body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{object}: {reply}");
            assert_eq!(code(&reply), "INVALID_REQUEST");
            assert_eq!(reply["error"]["details"]["field"], "object", "{reply}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_strings_that_do_not_parse_answer_in_the_envelope() {
    let (s, _, beta) = two_tenants().await;
    for path in ["/v1/bulk/jobs?offset=abc&limit=x", "/v1/bulk/jobs?state=Open&state=Failed", "/v1/bulk/jobs?limit=-1"]
    {
        let (status, body) = s.call(&beta, "beta", Method::GET, path, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(code(&body), "INVALID_REQUEST", "{path}");
        assert!(body["error"]["details"]["reason"].is_string(), "{path}: {body}");
    }
    let (status, body) = s.call(&beta, "beta", Method::GET, "/v1/jobs/job-1/results?offset=zz", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["details"].is_object(), "{body}");
    let _: Value = body;
}
