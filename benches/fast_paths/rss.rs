//! Memory of `spectra up` with many jobs in its table: the resident set of a real `spectra up`
//! process on a data directory holding `n` jobs, against the same on an empty one.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::StreamExt;
use spectra_local::EmbeddedPlatform;
use spectra_state_machine::{BulkJobRequest, TenantId};
use spectra_worker::platform::Settings;
use spectra_worker::producer::Producer;

use super::Line;

/// `n` insert jobs waiting for their upload: stored, listed and swept, never run.
async fn fill(dir: &Path, n: usize) {
    let stack = EmbeddedPlatform::open(dir, "http://127.0.0.1:9", Settings::default()).await.unwrap();
    let producer = Producer::new(stack.platform.clone());
    let tenant = TenantId::parse("bench").unwrap();
    let created = futures::stream::iter(0..n)
        .map(|_| {
            let request = BulkJobRequest { operation: "insert".into(), object: "t".into(), ..Default::default() };
            producer.create_bulk(&tenant, request, None, None)
        })
        .buffer_unordered(16)
        .filter(|r| std::future::ready(r.is_ok()))
        .count()
        .await;
    assert_eq!(created, n);
}

/// A process killed when dropped.
struct Up(Child);

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `spectra up` on `dir`, once it listens and its reconciler has swept a few times; its
/// resident set then, in MB.
fn rss_of_up(dir: &Path) -> f64 {
    let mut up = Up(Command::new(env!("CARGO_BIN_EXE_spectra"))
        .args(["up", "--listen", "127.0.0.1:0", "--data-dir", dir.to_str().unwrap(), "--reconcile-interval", "1s"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap());
    let mut lines = BufReader::new(up.0.stderr.take().unwrap()).lines();
    while !lines.next().expect("spectra up ended").unwrap().contains("listening on http://") {}
    std::thread::spawn(move || lines.for_each(drop));
    std::thread::sleep(Duration::from_secs(5));
    let status = std::fs::read_to_string(format!("/proc/{}/status", up.0.id())).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb / 1024.0
}

pub async fn row(n: usize) -> Line {
    let (empty, full) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    fill(full.path(), n).await;
    let (bare, loaded) = (rss_of_up(empty.path()), rss_of_up(full.path()));
    Line {
        path: format!("RSS of `spectra up` with {n} jobs in the table"),
        spectra: format!("{loaded:.0} MB"),
        reference: format!("empty table {bare:.0} MB"),
        ratio: format!("{:.2}×", loaded / bare),
    }
}
