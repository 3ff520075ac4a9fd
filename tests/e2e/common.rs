//! Running `spectra up` and the CLI as a user would, for the end-to-end tests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const TENANT: &str = "acme";

/// A long-running `spectra` child process (`up`, `worker`, `api`), on a port picked by the OS.
pub struct Up {
    pub child: Child,
    pub addr: String,
    pub data_dir: PathBuf,
    /// Its stderr (logs), line by line, as it runs.
    pub logs: mpsc::Receiver<String>,
}

/// Starts `spectra up` on `data_dir` with fast reconciliation (unless `extra` sets it), plus
/// `extra` flags, and waits for its "listening on" line.
pub fn up(data_dir: &Path, extra: &[&str]) -> Up {
    up_with_env(data_dir, extra, &[])
}

/// [`up`] with extra environment variables.
pub fn up_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Up {
    let mut args = vec!["up", "--listen", "127.0.0.1:0", "--data-dir", data_dir.to_str().unwrap()];
    for (flag, value) in [("--reconcile-interval", "500ms"), ("--reconcile-grace", "2s")] {
        if !extra.contains(&flag) {
            args.extend([flag, value]);
        }
    }
    args.extend_from_slice(extra);
    let mut server = spawn(&args, "listening on http://", |command| {
        command.envs(env.iter().copied());
    });
    server.data_dir = data_dir.to_owned();
    server
}

/// Starts `spectra <args>` and waits (at most two minutes) for a log line containing `ready`;
/// `addr` is what follows `listening on http://` when that is the marker.
pub fn serve(args: &[&str], ready: &str) -> Up {
    serve_without(args, ready, "SPECTRA_UNUSED")
}

/// [`serve`] with extra environment variables.
pub fn serve_with_env(args: &[&str], ready: &str, env: &[(String, String)]) -> Up {
    spawn(args, ready, |command| {
        command.envs(env.iter().map(|(k, v)| (k, v)));
    })
}

/// [`serve`] with the environment variable `without` removed.
pub fn serve_without(args: &[&str], ready: &str, without: &str) -> Up {
    spawn(args, ready, |command| {
        command.env_remove(without);
    })
}

/// Starts `spectra <args>`, its command adjusted by `adjust`, as [`serve`] says.
fn spawn(args: &[&str], ready: &str, adjust: impl FnOnce(&mut Command)) -> Up {
    let mut command = Command::new(env!("CARGO_BIN_EXE_spectra"));
    adjust(&mut command);
    let mut child = command
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start spectra");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = Vec::new();
    loop {
        let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("spectra {args:?} never logged {ready:?}:\n{}", seen.join("\n"));
        };
        seen.push(line.clone());
        if let Some((_, rest)) = line.split_once(ready) {
            // The address ends at the first character no address has (a JSON log line's `"`).
            let addr: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || ".:[]".contains(*c)).collect();
            return Up { child, addr, data_dir: PathBuf::new(), logs: rx };
        }
    }
}

impl Up {
    /// SIGTERM, then waits for the exit; returns whether it exited cleanly.
    pub fn terminate(mut self) -> bool {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        self.child.wait().unwrap().success()
    }

    /// SIGTERM, then every line it logged (to its exit); whether it exited cleanly.
    pub fn terminate_with_logs(mut self) -> (bool, Vec<String>) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let clean = self.child.wait().unwrap().success();
        (clean, self.logs.iter().collect())
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Up {
    /// Never leaves a server behind (a no-op once it has exited).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn spectra(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spectra")).args(args).output().expect("run spectra")
}

fn check(out: Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{what} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// `spectra sql --json` through the running instance; the rows of the last statement.
pub fn sql(data_dir: &Path, statement: &str) -> Vec<Value> {
    let dir = data_dir.to_str().unwrap();
    let out = check(spectra(&["sql", "--json", "--data-dir", dir, statement]), statement);
    let last: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    last["rows"].as_array().cloned().unwrap_or_default()
}

/// One value from a query.
pub fn scalar(data_dir: &Path, statement: &str) -> Value {
    sql(data_dir, statement)[0][0].clone()
}

/// `spectra bulk <args>` for the test tenant; stdout.
pub fn bulk(data_dir: &Path, args: &[&str]) -> String {
    let dir = data_dir.to_str().unwrap();
    let mut all = vec!["bulk", "--data-dir", dir, "--tenant", TENANT];
    all.extend_from_slice(args);
    check(spectra(&all), &format!("bulk {args:?}"))
}

/// Creates a bulk job; its id.
pub fn create(data_dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["create"];
    all.extend_from_slice(args);
    bulk(data_dir, &all).trim().to_owned()
}

/// The job record.
pub fn get(data_dir: &Path, job: &str) -> Value {
    serde_json::from_str(&bulk(data_dir, &["get", job])).unwrap()
}

/// Waits until the job is in a terminal state; the record.
pub fn wait_done(data_dir: &Path, job: &str) -> Value {
    wait_for_state(data_dir, job, &["JobComplete", "Failed", "Aborted"])
}

/// Waits until the job is in one of `states` (at most two minutes); the record.
pub fn wait_for_state(data_dir: &Path, job: &str, states: &[&str]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let record = get(data_dir, job);
        if states.contains(&record["state"].as_str().unwrap()) {
            return record;
        }
        assert!(Instant::now() < deadline, "job {job} never reached {states:?}: {record:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Writes a file into `dir`.
pub fn file(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// Uploads files and closes the job.
pub fn upload_and_close(data_dir: &Path, job: &str, files: &[&Path]) {
    let mut args = vec!["upload", job];
    args.extend(files.iter().map(|p| p.to_str().unwrap()));
    bulk(data_dir, &args);
    bulk(data_dir, &["close", job]);
}

/// `spectra bulk results --json`.
pub fn results(data_dir: &Path, job: &str) -> Value {
    serde_json::from_str(&bulk(data_dir, &["results", "--json", job])).unwrap()
}

/// Downloads a presigned link.
pub fn download(url: &str) -> Vec<u8> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let response = reqwest::get(url).await.unwrap();
        assert!(response.status().is_success(), "GET {url}: {}", response.status());
        response.bytes().await.unwrap().to_vec()
    })
}

/// The local AWS stack has one work queue and one rule: tests that run workers or read the
/// queue on it take turns.
pub async fn aws_stack_turn() -> tokio::sync::MutexGuard<'static, ()> {
    static STACK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    STACK.lock().await
}

/// `spectra keys create` on a data directory: a new API key for `tenant`.
pub fn tenant_key(data_dir: &Path, tenant: &str) -> String {
    let out = spectra(&["keys", "create", "--tenant", tenant, "--data-dir", data_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The REST API of a running `spectra up` or `spectra api`, called as a tenant.
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    /// The API listening on `addr` (`host:port`).
    pub fn at(addr: &str) -> Self {
        Self { base: format!("http://{addr}"), http: reqwest::Client::new() }
    }

    /// One call with the tenant's key; the status and the JSON body (`null` when there is none).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        tenant: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request =
            self.http.request(method, format!("{}{path}", self.base)).bearer_auth(key).header("X-Tenant-ID", tenant);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Polls the tenant's bulk job until it is terminal (at most two minutes); the record.
    pub async fn done(&self, key: &str, tenant: &str, job: &str) -> Value {
        for _ in 0..1200 {
            let (status, record) =
                self.call(reqwest::Method::GET, &format!("/v1/bulk/jobs/{job}"), key, tenant, None).await;
            assert_eq!(status, 200, "{record}");
            if ["JobComplete", "Failed", "Aborted"].contains(&record["state"].as_str().unwrap_or_default()) {
                return record;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("job {job} never ended");
    }
}
