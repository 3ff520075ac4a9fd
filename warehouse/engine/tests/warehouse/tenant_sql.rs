//! The embedded warehouse's tenant boundary under random input: whatever SQL-ish text it
//! approves for a tenant is exactly one query to the engine's own parser, and running it
//! changes nothing; a tenant statement's search path never holds the ledger; the engine stays
//! hermetic (no file outside its directories, no extension).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use proptest::prelude::*;
use spectra_warehouse::{DuckWarehouse, WarehouseConfig};
use spectra_worker::contract::warehouse::{run, wait};
use spectra_worker::ports::{Sql, StatementRequest, StatementStatus, Warehouse, WarehouseError};
use spectra_worker::sql::{GuardConfig, check, export_query};

const TENANT: &str = "tenant_fuzz";

/// Pieces of SQL whose meaning depends on who lexes them.
const PIECES: [&str; 30] = [
    "SELECT",
    "1",
    "'",
    "\\",
    "\\'",
    "''",
    "\"",
    "/*",
    "*/",
    "--",
    "\n",
    ";",
    " ",
    "(",
    ")",
    ",",
    "$$",
    "E'",
    "x",
    "FROM t",
    "CREATE TABLE pwn (x INT)",
    "DROP TABLE t",
    "COPY t TO '/tmp/fuzz.csv'",
    "read_text('/etc/passwd')",
    "UNION ALL SELECT",
    "WITH c AS (SELECT 1)",
    "AS",
    "SELECT * FROM",
    "spectra_internal.statements",
    "$1",
];

async fn open(dir: &Path) -> DuckWarehouse {
    DuckWarehouse::open(&dir.join("warehouse.duckdb"), &dir.join("objects"), WarehouseConfig::default(), None)
        .await
        .unwrap()
}

/// Statements in `sql` to an independent engine parser, and whether each is a query.
fn engine_parse(sql: &str) -> Option<usize> {
    let conn = duckdb::Connection::open_in_memory().unwrap();
    let raw: String = conn.query_row("SELECT json_serialize_sql(?)", [sql], |r| r.get(0)).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&raw).unwrap();
    if parsed["error"].as_bool() != Some(false) {
        return None;
    }
    Some(parsed["statements"].as_array().map_or(0, Vec::len))
}

async fn user_tables(w: &DuckWarehouse) -> String {
    let d = run(w, "SELECT string_agg(schema_name || '.' || table_name, ',' ORDER BY ALL) FROM duckdb_tables()").await;
    assert_eq!(d.status, StatementStatus::Finished, "{:?}", d.error);
    format!("{:?}", w.results(&d.id, None).await.unwrap().records)
}

async fn approved(w: &DuckWarehouse, sql: &str) -> bool {
    let request = Sql::Single { sql: sql.to_owned(), parameters: Vec::new() };
    match w.check_query(&request, Some(TENANT)).await {
        Ok(()) => true,
        Err(WarehouseError::Refused(_) | WarehouseError::Validation(_)) => false,
        Err(e) => panic!("{sql:?}: {e}"),
    }
}

#[test]
fn approved_text_is_one_query_to_the_engine_and_changes_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let w = rt.block_on(open(dir.path()));
    rt.block_on(async {
        let d = run(&w, "CREATE TABLE t AS SELECT 1 AS x").await;
        assert_eq!(d.status, StatementStatus::Finished);
    });
    let tables = rt.block_on(user_tables(&w));
    let approvals = std::sync::atomic::AtomicUsize::new(0);
    let config = ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() };
    // A third of the strings start as a query the engine accepts, so that the tail of random
    // pieces has something to break out of (and every run approves some text to check).
    let starts = prop::sample::select(vec!["", "SELECT x FROM t", "SELECT 'a' AS s"]);
    proptest!(config, |(start in starts, pieces in prop::collection::vec(prop::sample::select(PIECES.to_vec()), 0..14))| {
        let sql = format!("{start}{}", pieces.concat());
        let mut candidates = vec![sql.clone()];
        // What an export would run, when the API's guard lets it through.
        if check(&sql, GuardConfig::default()).is_ok() && let Ok(text) = export_query(&sql) {
            candidates.push(text);
        }
        for text in candidates {
            if rt.block_on(approved(&w, &text)) {
                approvals.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                prop_assert_eq!(engine_parse(&text), Some(1), "approved {:?}", text);
                let request = StatementRequest { db_user: Some(TENANT.into()), ..StatementRequest::single(text.clone()) };
                let done = rt.block_on(async { wait(&w, &w.execute(request).await.unwrap()).await });
                prop_assert!(done.status.is_terminal());
                prop_assert_eq!(rt.block_on(user_tables(&w)), tables.clone(), "{:?} changed the tables", text);
            }
        }
    });
    assert!(approvals.into_inner() > 0, "no random text was approved: the property never ran");
    assert!(!Path::new("/tmp/fuzz.csv").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_statement_never_sees_the_ledger_and_the_engine_reaches_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let w = open(dir.path()).await;
    let as_tenant = |sql: &str| StatementRequest { db_user: Some(TENANT.into()), ..StatementRequest::single(sql) };
    // Executed directly (no API in front): refused by the warehouse itself.
    for sql in ["SELECT * FROM statements", "SELECT * FROM read_text('/etc/passwd')", "CREATE TABLE pwn (x INT)"] {
        let done = wait(&w, &w.execute(as_tenant(sql)).await.unwrap()).await;
        assert_eq!(done.status, StatementStatus::Failed, "{sql}");
        assert!(done.error.as_deref().unwrap_or_default().contains("SQL_BLOCKED"), "{sql}: {:?}", done.error);
    }
    // Even operator SQL cannot leave the engine's directories or change its configuration.
    for sql in [
        "SELECT * FROM read_text('/etc/passwd')",
        "COPY (SELECT 1) TO '/tmp/spectra-operator.csv'",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "INSTALL httpfs",
    ] {
        let done = run(&w, sql).await;
        assert_eq!(done.status, StatementStatus::Failed, "{sql} should fail");
    }
    assert!(!Path::new("/tmp/spectra-operator.csv").exists());
    // A date function that needs an extension the build lacks ends (with an error naming it)
    // instead of fetching it.
    assert!(run(&w, "SELECT current_date").await.status.is_terminal());
}
