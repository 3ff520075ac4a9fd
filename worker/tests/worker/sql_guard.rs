//! The SQL guard on a broad table of statements tenants might send.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use spectra_worker::sql::{GuardConfig, GuardError, check};

const ALLOWED: &[&str] = &[
    "SELECT 1",
    "select id, 'DROP TABLE x; DELETE FROM y' as s from sales -- then delete everything\n",
    "/* report */ SELECT 1;",
    "WITH a AS (SELECT * FROM sales), b AS (SELECT id FROM a) SELECT count(*) FROM b",
    "SELECT * FROM sales s JOIN regions r ON s.rid = r.id WHERE s.amount > 10 ORDER BY 1 LIMIT 5",
    "VALUES (1, 'a'), (2, 'b')",
    "SELECT * FROM (SELECT * FROM sales LIMIT 10) t",
    "SELECT upper(name), date_trunc('day', created_at), coalesce(note, '') FROM public.sales",
    "SELECT * FROM sales UNION ALL SELECT * FROM archived_sales",
    "SELECT * FROM \"Sales\" WHERE \"Region\" = 'pg_sleep(1)'",
    "SELECT id FROM sales WHERE id IN (SELECT id FROM refunds) LIMIT ALL",
    "SELECT :region AS r, count(*) FROM sales WHERE region = :region GROUP BY 1",
];

/// (statement, the `details.pattern` it must be blocked with)
const BLOCKED: &[(&str, &str)] = &[
    ("DELETE FROM sales", "DELETE"),
    ("DROP TABLE sales", "DROP TABLE"),
    ("CREATE TABLE x AS SELECT 1", "CREATE TABLE"),
    ("ALTER TABLE sales ADD COLUMN x INT", "ALTER TABLE"),
    ("TRUNCATE sales", "TRUNCATE"),
    ("INSERT INTO sales VALUES (1)", "INSERT"),
    ("UPDATE sales SET amount = 0", "UPDATE"),
    ("MERGE INTO sales USING s ON sales.id = s.id WHEN MATCHED THEN DELETE", "MERGE"),
    ("GRANT SELECT ON sales TO bob", "GRANT"),
    ("CALL refresh_everything()", "CALL"),
    ("SET search_path TO other", "SET"),
    ("BEGIN", "BEGIN"),
    ("COMMIT", "COMMIT"),
    ("COPY sales FROM 's3://bucket/key' IAM_ROLE 'arn:aws:iam::1:role/r' CSV", "COPY"),
    ("VACUUM sales", "VACUUM"),
    ("UNLOAD ('SELECT * FROM sales') TO 's3://b/p' IAM_ROLE 'arn:aws:iam::1:role/r'", "UNLOAD"),
    ("SELECT * INTO sales_copy FROM sales", "SELECT ... INTO"),
    ("SELECT * FROM sales FOR UPDATE", "SELECT ... FOR UPDATE"),
    ("SELECT 1; SELECT 2", "multiple statements"),
    ("SELECT 1; DROP TABLE sales", "multiple statements"),
    ("WITH d AS (DELETE FROM sales RETURNING *) SELECT * FROM d", "DELETE"),
    ("SELECT pg_sleep(10)", "pg_sleep"),
    ("SELECT * FROM sales WHERE pg_terminate_backend(123)", "pg_terminate_backend"),
    ("SELECT PG_READ_FILE('/etc/passwd')", "pg_read_file"),
    ("SELECT set_config('search_path', 'x', false)", "set_config"),
    ("SELECT * FROM pg_user", "pg_user"),
    ("SELECT * FROM \"PG_USER\"", "pg_user"),
    ("SELECT * FROM stl_query", "stl_query"),
    ("SELECT * FROM svv_table_info", "svv_table_info"),
    ("SELECT * FROM sys_query_history", "sys_query_history"),
    ("SELECT * FROM information_schema.tables", "information_schema.tables"),
    ("SELECT * FROM \"information_schema\".\"columns\"", "information_schema.columns"),
    ("SELECT c.relname FROM pg_catalog.pg_class c", "pg_catalog.pg_class"),
    ("SELECT * FROM sales WHERE id IN (SELECT query FROM stl_load_errors)", "stl_load_errors"),
    ("WITH x AS (SELECT * FROM stv_sessions) SELECT 1", "stv_sessions"),
    ("SELECT * FROM spectra_internal.statements", "spectra_internal.statements"),
    ("SELECT * FROM read_csv('/etc/passwd')", "read_csv"),
    ("SELECT * FROM read_parquet('s3://other-tenant/*.parquet')", "read_parquet"),
];

#[test]
fn read_only_queries_pass() {
    for sql in ALLOWED {
        assert!(check(sql, GuardConfig::default()).is_ok(), "{sql}: {:?}", check(sql, GuardConfig::default()));
    }
}

#[test]
fn everything_else_is_blocked_with_the_pattern_found() {
    for (sql, pattern) in BLOCKED {
        match check(sql, GuardConfig::default()) {
            Err(GuardError::Blocked { pattern: found, reason }) => {
                assert_eq!(found, *pattern, "{sql}: {reason}");
                assert!(!reason.is_empty());
            }
            other => panic!("{sql}: expected SQL_BLOCKED {pattern}, got {other:?}"),
        }
    }
}

#[test]
fn catalogs_can_be_allowed_but_dangerous_functions_cannot() {
    let operator = GuardConfig { allow_system_catalogs: true };
    assert!(check("SELECT * FROM stl_query", operator).is_ok());
    assert!(check("SELECT * FROM information_schema.tables", operator).is_ok());
    assert!(check("SELECT pg_sleep(1)", operator).is_err());
    assert!(check("SELECT * FROM read_csv('/etc/passwd')", operator).is_err());
}

#[test]
fn syntax_errors_say_where_and_what_to_try() {
    match check("SELECT id,\nFROM sales WHERE", GuardConfig::default()) {
        Err(GuardError::Invalid { line, column, hint, .. }) => {
            assert_eq!(line, Some(2), "the error is on the second line");
            assert!(column.is_some());
            assert!(!hint.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(check("SELEC 1", GuardConfig::default()), Err(GuardError::Invalid { .. })));
    assert!(matches!(check("SELECT 'open", GuardConfig::default()), Err(GuardError::Invalid { .. })));
    assert!(matches!(check("", GuardConfig::default()), Err(GuardError::Blocked { .. })));
}

#[test]
fn the_checked_query_reports_its_limit() {
    assert!(check("SELECT * FROM sales ORDER BY id LIMIT 10", GuardConfig::default()).unwrap().has_limit);
    assert!(!check("SELECT * FROM (SELECT 1 LIMIT 1) t", GuardConfig::default()).unwrap().has_limit);
}
