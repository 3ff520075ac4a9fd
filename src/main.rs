//! `spectra`: the binary that wires the libraries together. All logic lives in the workspace
//! crates (`state-machine/`, `worker/`, `api/`); this file only parses the command line and
//! dispatches.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;

fn run(cli: Cli) -> anyhow::Result<()> {
    let (name, issue) = cli.command.pending();
    anyhow::bail!("spectra {name}: not implemented yet (tracked in issue #{issue})")
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
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
