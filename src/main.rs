//! `spectra`: the binary that wires the libraries together. All logic lives in the workspace
//! crates (`state-machine/`, `worker/`, `adapters/`, `warehouse/`, `api/`); this crate parses
//! the command line, dispatches, and prints.
//!
//! Cargo features choose what it links (default: all three): `aws` (the AWS adapters: `worker`,
//! `api`, `keys --aws`), `embedded` (the local adapters and DuckDB warehouse: `up`, `sql`,
//! `bulk`, `keys`) and `emulator` (`redshift-emulator`). `chaos` needs `aws` and `embedded`.
//! An AWS-only build (`--no-default-features --features aws`) links neither DuckDB nor SQLite.

#[cfg(not(any(feature = "aws", feature = "embedded")))]
compile_error!("build spectra with the `aws` or the `embedded` feature (or both, the default)");

#[cfg(feature = "aws")]
mod aws_mode;
#[cfg(feature = "embedded")]
mod bulk;
#[cfg(all(feature = "aws", feature = "embedded"))]
mod chaos;
mod cli;
mod duration;
#[cfg(feature = "emulator")]
mod emulator;
mod keys;
#[cfg(feature = "aws")]
mod lambda;
mod layers;
mod logging;
#[cfg(feature = "embedded")]
mod progress;
mod serve;
#[cfg(feature = "embedded")]
mod sql;
#[cfg(feature = "embedded")]
mod table;
#[cfg(feature = "embedded")]
mod up;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use opentelemetry::trace::TracerProvider as _;
use spectra::telemetry::otlp;

use crate::cli::{Cli, Cmd};
use crate::layers::Layers;

async fn run(cli: Cli, layers: &Layers, telemetry: otlp::Flusher) -> anyhow::Result<ExitCode> {
    #[cfg(not(feature = "aws"))]
    let _ = telemetry;
    match cli.command {
        #[cfg(feature = "embedded")]
        Cmd::Sql(args) => sql::run(args).await,
        #[cfg(feature = "embedded")]
        Cmd::Up(args) => up::run(*args).await,
        #[cfg(feature = "embedded")]
        Cmd::Bulk(args) => bulk::run(args).await,
        Cmd::Keys(command) => keys::run(command, layers).await,
        #[cfg(feature = "aws")]
        Cmd::Worker(args) => aws_mode::run_worker(args, layers).await,
        #[cfg(feature = "aws")]
        Cmd::Api(args) => aws_mode::run_api(args, layers).await,
        #[cfg(feature = "aws")]
        Cmd::Lambda(args) => lambda::run(args, layers, telemetry).await,
        #[cfg(feature = "emulator")]
        Cmd::RedshiftEmulator(args) => emulator::run(args).await,
        #[cfg(all(feature = "aws", feature = "embedded"))]
        Cmd::Chaos(args) => chaos::run(args, layers, cli.config.as_deref()).await,
    }
}

/// How long blocking threads still running after a command ends may take before the process
/// exits without them.
pub(crate) const EXIT_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// Whether a command serves until stopped (it logs at `info` by default, not `warn`).
fn is_long_running(command: &Cmd) -> bool {
    match command {
        #[cfg(feature = "embedded")]
        Cmd::Up(_) => true,
        #[cfg(feature = "aws")]
        Cmd::Worker(_) | Cmd::Api(_) | Cmd::Lambda(_) => true,
        #[cfg(feature = "emulator")]
        Cmd::RedshiftEmulator(_) => true,
        #[cfg(all(feature = "aws", feature = "embedded"))]
        Cmd::Chaos(_) => true,
        _ => false,
    }
}

/// Logs (`RUST_LOG` overrides the default level: `info` for the long-running `up`, `worker`
/// and `api`, `warn` for one-shot commands), the metrics provider and, when the `OTEL_*`
/// variables ask for it, OTLP export — before anything records. Runs inside the runtime: the
/// exporters are Tokio tasks.
fn init_telemetry(cli: &Cli, command: &str) -> anyhow::Result<otlp::Exporting> {
    let signals = otlp::Signals::from_lookup(|name| std::env::var(name).ok())?;
    let resource = otlp::resource(&format!("spectra-{command}"));
    let exporting = if signals.traces { otlp::traces(resource.clone(), None)? } else { otlp::Exporting::default() };
    let push = if signals.metrics { Some(otlp::metrics_reader()?) } else { None };
    spectra::telemetry::install(push, resource);
    let default = if is_long_running(&cli.command) { "info" } else { "warn" };
    let tracer = exporting.tracer_provider().map(|provider| provider.tracer("spectra"));
    if tracer.is_some() {
        spectra_worker::trace::enable();
    }
    logging::init(cli.log_format, default, tracer);
    Ok(exporting)
}

fn main() -> ExitCode {
    let args = as_bootstrap(std::env::args_os().collect());
    let layers = match Layers::load(&args) {
        Ok(layers) => layers,
        Err(error) => return fail(&error),
    };
    // The config file's values become the flags' defaults; clap then lets variables and flags
    // override them (and exits with its own message on bad flags or --help).
    let matches = layers.apply(Cli::command()).get_matches_from(&args);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let command = matches.subcommand_name().unwrap_or("cli").to_owned();
    let outcome = tokio::runtime::Runtime::new().map_err(anyhow::Error::from).and_then(|rt| {
        let exporting = {
            let _entered = rt.enter();
            init_telemetry(&cli, &command)?
        };
        let outcome = rt.block_on(run(cli, &layers, exporting.flusher()));
        rt.block_on(exporting.shutdown());
        // A blocking thread can outlive its command: `spectra up` gives a statement that ignores
        // interrupts up to its shutdown deadline, then exits without it (the ledger fails it at
        // the next start). Dropping the runtime would wait for that thread forever.
        rt.shutdown_timeout(EXIT_GRACE);
        outcome
    });
    outcome.unwrap_or_else(|error| fail(&error))
}

/// A Lambda custom runtime starts the file named `bootstrap` with no arguments: the binary
/// installed under that name (`infra/README.md`) runs `spectra lambda` then.
fn as_bootstrap(mut args: Vec<OsString>) -> Vec<OsString> {
    let named_bootstrap = args
        .first()
        .and_then(|program| std::path::Path::new(program).file_name())
        .is_some_and(|name| name == "bootstrap");
    if cfg!(feature = "aws") && named_bootstrap && args.len() == 1 {
        args.push("lambda".into());
    }
    args
}

/// The binary edge: one line with the whole cause chain, no backtrace, exit 1.
fn fail(error: &anyhow::Error) -> ExitCode {
    #[allow(clippy::print_stderr)]
    {
        eprintln!("error: {error:#}");
    }
    ExitCode::FAILURE
}
