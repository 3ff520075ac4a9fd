//! Seed 001's Python `SpectraClient`, unchanged, against `spectra up`: it gets the seed's
//! documented shapes back. The interpreter is `$SPECTRA_PYTHON` (the test command's virtualenv
//! with `requests`), else `python3`; without `requests` the test fails and says so.

use serde_json::Value;

use crate::common::*;

#[test]
fn the_seed_python_client_gets_the_documented_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = up(&data, &[]);
    sql(&data, "CREATE TABLE sales AS SELECT i AS id, 2023 + i % 2 AS year FROM range(10) t(i)");
    let key = tenant_key(&data, TENANT);
    let python = std::env::var("SPECTRA_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/spectra_client.py");
    let out = std::process::Command::new(&python)
        .args([script, &format!("http://{}/v1", up.addr), key.trim(), TENANT])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} (set SPECTRA_PYTHON, scripts/test does): {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("No module named 'requests'"), "{python} lacks requests; scripts/test installs it");
    assert!(out.status.success(), "the client failed:\n{stderr}");
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["count"], serde_json::json!({"n": 10}));
    assert_eq!(got["job"]["state"], "JobComplete");
    assert_eq!(got["job"]["number_records_processed"], 5);
}
