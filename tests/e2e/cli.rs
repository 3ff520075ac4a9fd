//! The `spectra` binary as users meet it: help lists the subcommands, usage errors exit 2, keys
//! are printed once and stored hashed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use crate::common::{Up, up};

fn spectra(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_spectra")).args(args).output().expect("run spectra")
}

#[test]
fn help_lists_the_subcommands() {
    let out = spectra(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for sub in ["up", "worker", "api", "redshift-emulator", "sql", "keys", "bulk"] {
        assert!(help.lines().any(|l| l.trim_start().starts_with(sub)), "`{sub}` missing from:\n{help}");
    }
    let bulk = String::from_utf8(spectra(&["bulk", "--help"]).stdout).unwrap();
    for sub in ["create", "upload", "close", "abort", "get", "list", "results"] {
        assert!(bulk.lines().any(|l| l.trim_start().starts_with(sub)), "`bulk {sub}` missing from:\n{bulk}");
    }
}

#[test]
fn unknown_subcommands_are_usage_errors() {
    let out = spectra(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn keys_are_printed_once_alone_and_can_be_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = spectra(&["keys", "create", "--tenant", "acme", "--data-dir", data]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap();
    let parts: Vec<&str> = key.trim_end().split('_').collect();
    assert!(key.ends_with('\n') && key.lines().count() == 1, "{key:?}");
    assert_eq!((parts[0], parts[1].len(), parts[2].len()), ("sk", 12, 64), "{key}");
    let hash = spectra_worker::ports::hash_key(key.trim_end());
    let mut stored = Vec::new();
    for file in std::fs::read_dir(dir.path()).unwrap() {
        stored.extend(std::fs::read(file.unwrap().path()).unwrap());
    }
    let holds = |needle: &str| stored.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(holds(&hash), "the key's hash is stored (in the database or its WAL)");
    assert!(!holds(parts[2]), "the secret itself is not");
    let revoked = spectra(&["keys", "revoke", parts[1], "--data-dir", data]);
    assert!(revoked.status.success());
    let again = spectra(&["keys", "revoke", parts[1], "--data-dir", data]);
    assert!(!again.status.success(), "a key is revoked once");
    let bad = spectra(&["keys", "create", "--tenant", "not a tenant", "--data-dir", data]);
    assert!(!bad.status.success());
}

/// The `curl` hint's key, from a running `spectra up`'s log.
fn hinted_key(up: &Up) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let line = up.logs.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())).unwrap();
        if let Some((_, rest)) = line.split_once("Bearer ") {
            return rest.split('\'').next().unwrap().to_owned();
        }
    }
}

#[test]
fn restarts_reuse_one_demo_key_until_it_is_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = up(&data, &[]);
    let key = hinted_key(&first);
    assert!(first.terminate());
    let second = up(&data, &[]);
    assert_eq!(hinted_key(&second), key, "a restart minted another demo key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("demo.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(second.terminate());
    let key_id = key.split('_').nth(1).unwrap();
    let revoked = spectra(&["keys", "revoke", key_id, "--data-dir", data.to_str().unwrap()]);
    assert!(revoked.status.success(), "{}", String::from_utf8_lossy(&revoked.stderr));
    let third = up(&data, &[]);
    let replaced = hinted_key(&third);
    assert_ne!(replaced, key, "a revoked demo key is replaced");
    drop(third);
}

#[test]
fn a_config_file_sets_any_setting_and_variables_then_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let [from_file, from_env, from_flag] = ["file", "env", "flag"].map(|d| dir.path().join(d));
    let config = dir.path().join("spectra.env");
    let lines =
        format!("# where keys go\nexport SPECTRA_DATA_DIR={}\nSPECTRA_SHUTDOWN_DEADLINE=7s\n", from_file.display());
    std::fs::write(&config, lines).unwrap();
    let spectra_with = |env: Option<&std::path::Path>, args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_spectra"));
        command.args(args).arg("--config").arg(&config).env_remove("SPECTRA_DATA_DIR").env_remove("SPECTRA_CONFIG");
        if let Some(dir) = env {
            command.env("SPECTRA_DATA_DIR", dir);
        }
        command.output().unwrap()
    };
    let create = ["keys", "create", "--tenant", "acme"];
    let keys_in = |dir: &std::path::Path| dir.join("jobs.sqlite").exists();
    assert!(spectra_with(None, &create).status.success());
    assert!(keys_in(&from_file), "the file's SPECTRA_DATA_DIR");
    assert!(spectra_with(Some(&from_env), &create).status.success());
    assert!(keys_in(&from_env), "the variable over the file");
    let flagged = [&create[..], &["--data-dir", from_flag.to_str().unwrap()]].concat();
    assert!(spectra_with(Some(&from_env), &flagged).status.success());
    assert!(keys_in(&from_flag), "the flag over both");
    let help = String::from_utf8(spectra_with(None, &["up", "--help"]).stdout).unwrap();
    assert!(help.contains("[default: 7s]"), "--help shows the file's value:\n{help}");

    std::fs::write(&config, "SPECTRA_DATA_DIR\n").unwrap();
    let broken = spectra_with(None, &create);
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert_eq!(broken.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("line 1") && stderr.contains("spectra.env"), "{stderr}");
}

/// Lines logged by `up` until it stopped, after one unauthenticated request to it.
fn logs_of_a_request(mut up: Up) -> Vec<String> {
    let addr = up.addr.split('"').next().unwrap().to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let status = runtime.block_on(async {
        reqwest::Client::new().get(format!("http://{addr}/v1/bulk/jobs")).send().await.unwrap().status().as_u16()
    });
    assert_eq!(status, 401);
    let logs = std::mem::replace(&mut up.logs, std::sync::mpsc::channel().1);
    assert!(up.terminate(), "spectra up exits cleanly on SIGTERM");
    logs.iter().collect()
}

#[test]
fn logs_are_plain_text_off_a_terminal_and_json_lines_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let text = logs_of_a_request(up(&dir.path().join("text"), &[]));
    assert!(text.iter().any(|l| l.contains("served") && l.contains("status=401")), "{text:#?}");
    assert!(text.iter().all(|l| !l.contains('\u{1b}')), "colour codes written to a pipe: {text:#?}");

    let json = logs_of_a_request(up(&dir.path().join("json"), &["--log-format", "json"]));
    let lines: Vec<serde_json::Value> =
        json.iter().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let served = lines.iter().find(|l| l["fields"]["message"] == "served").expect("the request's line");
    assert_eq!(served["level"], "INFO", "{served}");
    assert_eq!(served["fields"]["status"], 401, "{served}");
    assert_eq!(
        (served["span"]["name"].as_str(), served["span"]["path"].as_str()),
        (Some("request"), Some("/v1/bulk/jobs"))
    );
    assert!(served["span"]["id"].as_str().is_some_and(|id| !id.is_empty()), "the request id: {served}");
}
