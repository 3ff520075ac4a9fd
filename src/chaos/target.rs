//! The system under test, as child processes killed and restarted at will: `spectra up` alone on
//! a fixed loopback port (so upload links and clients survive restarts), or on AWS a
//! `spectra api` and several `spectra worker`s, of which a strike hits one worker.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The children's log (all of them, interleaved), in the run's directory.
pub const LOG_FILE: &str = "chaos-up.log";

/// How long a (re)start may take before the run gives up: DuckDB replays its log on open.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// One child process, restartable.
pub struct Proc {
    exe: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    /// `/health` to poll before a start counts as done; `None` to not wait.
    health: Option<String>,
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

impl Proc {
    /// Starts `exe args` (logging to `dir`'s log) and waits for `health` when given.
    pub async fn start(
        exe: &Path,
        args: Vec<String>,
        dir: &Path,
        health: Option<String>,
        http: reqwest::Client,
    ) -> anyhow::Result<Self> {
        let log = dir.join(LOG_FILE);
        let mut proc = Self { exe: exe.to_owned(), args, log, health, child: None, http };
        proc.spawn().await?;
        Ok(proc)
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        let log = OpenOptions::new().create(true).append(true).open(&self.log).context("opening the chaos log")?;
        let child = Command::new(&self.exe)
            .args(&self.args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {} {}", self.exe.display(), self.args[0]))?;
        self.child = Some(child);
        self.wait_ready().await
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let Some(health) = self.health.clone() else { return Ok(()) };
        let started = Instant::now();
        loop {
            if let Ok(r) = self.http.get(&health).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!("spectra {} exited at start ({status}); see {}", self.args[0], self.log.display());
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!("spectra {} did not answer within {READY_TIMEOUT:?}; see {}", self.args[0], self.log.display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// kill -9, then a restart.
    pub async fn crash_and_restart(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().context("kill -9")?;
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
        let Some(mut child) = self.child.take() else { bail!("spectra {} is not running", self.args[0]) };
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

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What a strike hits.
pub enum System {
    /// `spectra up`: a strike hits the whole platform.
    Embedded(Proc),
    /// `spectra api` (never struck: the API is stateless, its crash is a client's retry) and
    /// workers, of which a strike hits one at random.
    Aws {
        /// The API.
        api: Proc,
        /// The workers.
        workers: Vec<Proc>,
    },
}

impl System {
    fn struck(&mut self) -> &mut Proc {
        match self {
            System::Embedded(up) => up,
            System::Aws { workers, .. } => {
                let i = fastrand::usize(..workers.len());
                &mut workers[i]
            }
        }
    }

    /// kill -9 of the platform or of one worker, and its restart.
    pub async fn crash_one(&mut self) -> anyhow::Result<()> {
        self.struck().crash_and_restart().await
    }

    /// SIGTERM of the platform or of one worker, and its restart.
    pub async fn terminate_one(&mut self) -> anyhow::Result<Exit> {
        self.struck().terminate_and_restart().await
    }

    /// Stops everything with SIGTERM.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        match self {
            System::Embedded(up) => {
                up.terminate().await?;
            }
            System::Aws { api, workers } => {
                for w in workers {
                    w.terminate().await?;
                }
                api.terminate().await?;
            }
        }
        Ok(())
    }
}

/// Waits for a child without blocking the runtime (polling is precise enough for exit times).
async fn wait(child: &mut Child) -> anyhow::Result<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().context("waiting for a child")? {
            return Ok(status);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
