//! `spectra`: the binary that wires the libraries together. All logic lives in the workspace
//! crates (`state-machine/`, `worker/`, `api/`); this crate parses the command line, dispatches,
//! and prints.

mod cli;
mod sql;
mod table;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Cmd};

async fn run(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Cmd::Sql(args) => sql::run(args).await,
        pending => {
            let (name, issue) = pending.pending();
            anyhow::bail!("spectra {name}: not implemented yet (tracked in issue #{issue})")
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = tokio::runtime::Runtime::new().map_err(anyhow::Error::from).and_then(|rt| rt.block_on(run(cli)));
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
