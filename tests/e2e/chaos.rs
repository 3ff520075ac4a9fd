//! `spectra chaos`, a short run of each mode: the harness drives real jobs through a real
//! `spectra up` while injecting the fault, and must find nothing lost, doubled or stuck — and
//! must show that the fault really happened (a run that injected nothing proves nothing).

use std::time::Duration;

use serde_json::Value;

/// Runs `spectra chaos` with `args` in a fresh directory; the JSON report.
fn chaos(args: &[&str]) -> Value {
    chaos_jobs(24, args)
}

/// Runs `spectra chaos` driving `jobs` jobs; the JSON report.
fn chaos_jobs(jobs: u32, args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spectra"))
        .args(["chaos", "--json", "--jobs", &jobs.to_string(), "--rows", "400", "--data-dir", data.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", String::from_utf8_lossy(&out.stdout), tail(&out.stderr)));
    assert!(out.status.success(), "the run found defects: {report:#}\n{}", tail(&out.stderr));
    for zero in ["wrong_counts", "unfinished", "extra_jobs", "duplicate_rows", "missing_rows", "stuck_keys"] {
        assert_eq!(report[zero], 0, "{zero}: {report:#}");
    }
    assert_eq!(report["complete"], jobs, "{report:#}");
    report
}

fn tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

// Strikes come every few seconds of uptime: a statement needs some uptime to finish, and after
// ten interruptions a job fails by design, so a drill faster than the machine fails for that.
#[test]
fn kill_9_and_restart() {
    let report = chaos_jobs(36, &["--mode", "kill", "--interval", "4s"]);
    assert!(report["kills"].as_u64().unwrap() >= 1, "{report:#}");
}

#[test]
fn sigterm_mid_statement_exits_within_the_deadline() {
    let report = chaos_jobs(36, &["--mode", "sigterm", "--interval", "4s", "--shutdown-deadline", "5s"]);
    assert!(report["sigterms"].as_u64().unwrap() >= 1, "{report:#}");
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

/// On the local AWS stack: an API and three workers, one of which is killed every second or so.
/// (With kills every few seconds, 12 jobs could all end before the first one: a drill with no
/// fault, which this test then failed.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_one_of_several_workers_on_the_local_aws_stack() {
    let _turn = crate::common::aws_stack_turn().await;
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), "SPECTRA_CLUSTER_IDENTIFIER=local\nSPECTRA_DB_USER=spectra\n").unwrap();
    let path = config.path().to_str().unwrap().to_owned();
    let args = ["--aws", "--config", &path, "--workers", "3", "--mode", "kill", "--interval", "1s"];
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let report = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        chaos_jobs(24, &args)
    })
    .await
    .unwrap();
    assert!(report["kills"].as_u64().unwrap() >= 1, "{report:#}");
}
