//! The system under test: a `spectra up` child process on a fixed loopback port (so upload
//! links and clients survive restarts), killed and restarted at will.

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// `spectra up`'s log, in its data directory.
pub const LOG_FILE: &str = "chaos-up.log";

/// How long a (re)start may take before the run gives up: DuckDB replays its log on open.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// How `spectra up` is started each time.
#[derive(Debug, Clone)]
pub struct UpCommand {
    /// The `spectra` binary.
    pub exe: PathBuf,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Where it serves.
    pub addr: SocketAddr,
    /// Extra flags (faults, reconciler timing, deadline).
    pub flags: Vec<String>,
}

/// One running `spectra up`.
pub struct Target {
    command: UpCommand,
    child: Option<Child>,
    http: reqwest::Client,
}

/// How a stop went.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    /// From the signal to the process's end.
    pub took: Duration,
    /// Whether it exited cleanly (status 0).
    pub clean: bool,
}

impl Target {
    /// Starts `spectra up` and waits until it answers `/health`.
    pub async fn start(command: UpCommand, http: reqwest::Client) -> anyhow::Result<Self> {
        let mut target = Self { command, child: None, http };
        target.spawn().await?;
        Ok(target)
    }

    /// Its base URL.
    pub fn base(&self) -> String {
        format!("http://{}", self.command.addr)
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        let c = &self.command;
        let log_path = c.data_dir.join(LOG_FILE);
        let log = OpenOptions::new().create(true).append(true).open(&log_path).context("opening the up log")?;
        let child = Command::new(&c.exe)
            .arg("up")
            .arg("--data-dir")
            .arg(&c.data_dir)
            .arg("--listen")
            .arg(c.addr.to_string())
            .args(&c.flags)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {} up", c.exe.display()))?;
        self.child = Some(child);
        self.wait_ready(&log_path).await
    }

    async fn wait_ready(&mut self, log: &Path) -> anyhow::Result<()> {
        let started = Instant::now();
        let health = format!("{}/health", self.base());
        loop {
            if let Ok(r) = self.http.get(&health).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!("spectra up exited at start ({status}); see {}", log.display());
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!("spectra up did not answer /health within {READY_TIMEOUT:?}; see {}", log.display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// kill -9, then a restart.
    pub async fn crash_and_restart(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().context("kill -9 of spectra up")?;
            wait(&mut child).await?;
        }
        self.spawn().await
    }

    /// SIGTERM, timed to the process's exit, then a restart.
    pub async fn terminate_and_restart(&mut self) -> anyhow::Result<Exit> {
        let exit = self.terminate().await?;
        self.spawn().await?;
        Ok(exit)
    }

    /// SIGTERM, timed to the process's exit.
    pub async fn terminate(&mut self) -> anyhow::Result<Exit> {
        let Some(mut child) = self.child.take() else { bail!("spectra up is not running") };
        let started = Instant::now();
        // `kill` keeps the harness free of unsafe signal calls; it is on every Unix.
        let sent = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().context("running kill")?;
        if !sent.success() {
            bail!("kill -TERM failed: {sent}");
        }
        let status = wait(&mut child).await?;
        Ok(Exit { took: started.elapsed(), clean: status.success() })
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits for a child without blocking the runtime (polling is precise enough for exit times).
async fn wait(child: &mut Child) -> anyhow::Result<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().context("waiting for spectra up")? {
            return Ok(status);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
