//! `spectra chaos`, a short run of each mode: the harness drives real jobs through a real
//! `spectra up` while injecting the fault, and must find nothing lost, doubled or stuck — and
//! must show that the fault really happened (a run that injected nothing proves nothing).

use std::time::Duration;

use serde_json::Value;

/// Runs `spectra chaos` with `args` in a fresh directory; the JSON report.
fn chaos(args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spectra"))
        .args(["chaos", "--json", "--jobs", "24", "--rows", "400", "--data-dir", data.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", String::from_utf8_lossy(&out.stdout), tail(&out.stderr)));
    assert!(out.status.success(), "the run found defects: {report:#}\n{}", tail(&out.stderr));
    for zero in ["wrong_counts", "unfinished", "extra_jobs", "duplicate_rows", "missing_rows", "stuck_keys"] {
        assert_eq!(report[zero], 0, "{zero}: {report:#}");
    }
    assert_eq!(report["complete"], 24, "{report:#}");
    report
}

fn tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

#[test]
fn kill_9_and_restart() {
    let report = chaos(&["--mode", "kill", "--interval", "2500ms"]);
    assert!(report["kills"].as_u64().unwrap() >= 2, "{report:#}");
}

#[test]
fn sigterm_mid_statement_exits_within_the_deadline() {
    let report = chaos(&["--mode", "sigterm", "--interval", "2500ms", "--shutdown-deadline", "5s"]);
    assert!(report["sigterms"].as_u64().unwrap() >= 2, "{report:#}");
    assert_eq!(report["bad_exits"], 0, "{report:#}");
    let slowest = Duration::from_millis(report["max_exit_ms"].as_u64().unwrap());
    assert!(slowest < Duration::from_secs(5), "{report:#}");
}

#[test]
fn every_message_delivered_twice() {
    let report = chaos(&["--mode", "duplicate"]);
    assert!(report["duplicated"].as_u64().unwrap() >= 24, "{report:#}");
}

#[test]
fn lost_statement_events() {
    let report = chaos(&["--mode", "drop-events", "--share", "0.5"]);
    assert!(report["events_dropped"].as_u64().unwrap() >= 1, "{report:#}");
}

#[test]
fn throttled_submits() {
    let report = chaos(&["--mode", "throttle", "--share", "0.5"]);
    assert!(report["submits_throttled"].as_u64().unwrap() >= 1, "{report:#}");
}
