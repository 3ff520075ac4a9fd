//! `spectra`: the binary that wires the libraries together. All logic lives in the workspace
//! crates (`state-machine/`, `worker/`, `api/`); this crate parses the command line, dispatches,
//! and prints.

mod aws_mode;
mod bulk;
mod chaos;
mod cli;
mod emulator;
mod keys;
mod progress;
mod serve;
mod sql;
mod table;
mod up;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Cmd};

async fn run(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Cmd::Sql(args) => sql::run(args).await,
        Cmd::Up(args) => up::run(*args).await,
        Cmd::Bulk(args) => bulk::run(args).await,
        Cmd::Keys(command) => keys::run(command).await,
        Cmd::Worker(args) => aws_mode::run_worker(args).await,
        Cmd::Api(args) => aws_mode::run_api(args).await,
        Cmd::RedshiftEmulator(args) => emulator::run(args).await,
        Cmd::Chaos(args) => chaos::run(args).await,
    }
}

/// How long blocking threads still running after a command ends may take before the process
/// exits without them.
pub(crate) const EXIT_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// Logs go to stderr (stdout is for command output). `RUST_LOG` overrides the default level:
/// `info` for the long-running `up`, `worker` and `api`, `warn` for one-shot commands.
fn init_logging(cli: &Cli) {
    let default = if matches!(
        cli.command,
        Cmd::Up(_) | Cmd::Worker(_) | Cmd::Api(_) | Cmd::RedshiftEmulator(_) | Cmd::Chaos(_)
    ) {
        "info"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    let outcome = tokio::runtime::Runtime::new().map_err(anyhow::Error::from).and_then(|rt| {
        let outcome = rt.block_on(run(cli));
        // A blocking thread can outlive its command: `spectra up` gives a statement that ignores
        // interrupts up to its shutdown deadline, then exits without it (the ledger fails it at
        // the next start). Dropping the runtime would wait for that thread forever.
        rt.shutdown_timeout(EXIT_GRACE);
        outcome
    });
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            // The binary edge: one line with the whole cause chain, no backtrace, exit 1.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("error: {error:#}");
            }
            ExitCode::FAILURE
        }
    }
}
