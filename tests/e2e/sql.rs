//! `spectra sql` end to end: directly on a data directory, and through a running instance that
//! holds the warehouse (as `spectra up` will), including a stale address file and a bad token.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use spectra_local::{ADDR_FILE, load_or_create_token};
use spectra_warehouse::{DuckWarehouse, WarehouseConfig, admin_routes};
use spectra_worker::ports::Warehouse;

fn spectra_sql(data_dir: &Path, sql: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_spectra"))
        .arg("sql")
        .arg("--data-dir")
        .arg(data_dir)
        .args(sql)
        .output()
        .expect("run spectra")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn runs_scripts_directly_and_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let created = spectra_sql(
        dir.path(),
        &["CREATE TABLE sales (region VARCHAR, total INTEGER); INSERT INTO sales VALUES ('APAC', 1500), ('EMEA', 23)"],
    );
    assert!(created.status.success(), "{}{}", stdout(&created), String::from_utf8_lossy(&created.stderr));
    assert_eq!(stdout(&created), "CREATE ok (0 rows)\nINSERT ok (2 rows)\n");
    let read = spectra_sql(dir.path(), &["SELECT region, total FROM sales ORDER BY region"]);
    assert!(read.status.success());
    assert_eq!(stdout(&read), "region | total\n-------+------\nAPAC   |  1500\nEMEA   |    23\n(2 rows)\n");
}

#[test]
fn a_failing_statement_stops_the_script_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let out = spectra_sql(dir.path(), &["SELECT * FROM missing_table", "CREATE TABLE never (a INT)"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("error:"), "{}", stdout(&out));
    assert!(!stdout(&out).contains("CREATE ok"), "the script went on after a failure");
    let json = std::process::Command::new(env!("CARGO_BIN_EXE_spectra"))
        .args(["sql", "--json", "--data-dir"])
        .arg(dir.path())
        .arg("SELECT 1 AS one")
        .output()
        .unwrap();
    let outcome: serde_json::Value = serde_json::from_str(stdout(&json).trim()).unwrap();
    assert_eq!(outcome["rows"][0][0], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goes_through_the_instance_that_holds_the_warehouse() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_owned();
    // This process holds the DuckDB file, so the CLI cannot open it directly.
    let warehouse =
        DuckWarehouse::open(&data.join("warehouse.duckdb"), &data.join("objects"), WarehouseConfig::default(), None)
            .await
            .unwrap();
    let token = load_or_create_token(&data).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shared: Arc<dyn Warehouse> = Arc::new(warehouse);
    tokio::spawn(async move { axum::serve(listener, admin_routes(shared, token)).await });
    tokio::fs::write(data.join(ADDR_FILE), addr.to_string()).await.unwrap();

    let d = data.clone();
    let out = tokio::task::spawn_blocking(move || {
        spectra_sql(&d, &["CREATE TABLE t AS SELECT 42 AS answer", "SELECT answer FROM t"])
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert!(stdout(&out).ends_with("answer\n------\n    42\n(1 row)\n"), "{}", stdout(&out));

    let wrong = reqwest::Client::new()
        .post(format!("http://{addr}/admin/sql"))
        .bearer_auth("not-the-token")
        .json(&serde_json::json!({"sql": "DROP TABLE t"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
}

#[test]
fn a_stale_address_file_falls_back_to_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on this port: bind and drop to get a free one.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    std::fs::write(dir.path().join(ADDR_FILE), format!("127.0.0.1:{port}")).unwrap();
    std::fs::write(dir.path().join("admin.token"), "0".repeat(64)).unwrap();
    let out = spectra_sql(dir.path(), &["SELECT 7 AS seven"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout(&out).contains("    7"), "{}", stdout(&out));
}

#[test]
fn the_engine_writes_nothing_outside_its_data_directory_and_fetches_no_extension() {
    let dir = tempfile::tempdir().unwrap();
    let (home, data) = (dir.path().join("home"), dir.path().join("data"));
    std::fs::create_dir_all(&home).unwrap();
    // Date and time functions are where DuckDB would fetch ICU and cache it under ~/.duckdb.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spectra"))
        .args(["sql", "--data-dir", data.to_str().unwrap()])
        .args(["SELECT current_date", "SELECT now()", "SELECT 1 AS one"])
        // Redshift's date functions, through the dialect layer, in the same engine.
        .args([
            "SELECT sysdate > getdate() - INTERVAL 1 DAY AS recent",
            "SELECT to_char(dateadd(day, 1, '2008-01-01'::date), 'YYYY-MM-DD') AS next_day",
        ])
        .env("HOME", &home)
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    let printed = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && printed.contains("2008-01-02"), "{printed}");
    let home_files: Vec<_> = std::fs::read_dir(&home).unwrap().map_while(Result::ok).map(|e| e.path()).collect();
    assert!(home_files.is_empty(), "the engine wrote to HOME: {home_files:?}\n{printed}");
    let outside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map_while(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "home" && n != "data")
        .collect();
    assert!(outside.is_empty(), "files beside the data directory: {outside:?}");
}
