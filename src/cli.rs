//! The command line: every subcommand Spectra will have, with the help text users see.
//!
//! Subcommands whose issue has not landed yet exit non-zero with "not implemented yet" and the
//! issue that owns them, so scripts fail loudly instead of silently doing nothing.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Spectra: run bulk data work against Amazon Redshift — an event-driven job worker, the REST API
/// in front of it, and an embedded platform that runs both on one machine with no AWS account.
#[derive(Debug, Parser)]
#[command(name = "spectra", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Cmd,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run everything in one process on the embedded platform: REST API, worker, SQLite queue and
    /// job store, local object store and DuckDB warehouse, all under one data directory.
    Up,
    /// Run a worker: consume the work queue, drive jobs through their state machine, reconcile.
    Worker,
    /// Serve the REST API (Query, Job and Bulk APIs).
    Api,
    /// Serve the Redshift Data API wire protocol on loopback, executing SQL on the embedded engine.
    RedshiftEmulator,
    /// Run operator SQL (create and fill tables) on the embedded warehouse, through the running
    /// `spectra up` if there is one, or directly on the data directory if not.
    Sql(SqlArgs),
    /// Manage API keys (stored hashed).
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Producer commands for bulk jobs: create, upload, close, abort, inspect.
    #[command(subcommand)]
    Bulk(BulkCmd),
    /// Inspect async query jobs.
    #[command(subcommand)]
    Jobs(JobsCmd),
}

/// `spectra sql ...`
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The embedded platform's data directory.
    #[arg(long, default_value = ".spectra", env = "SPECTRA_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Print each statement's outcome as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// SQL to run: one or more statements separated by `;`, or several arguments, run in order;
    /// the first failure stops the rest.
    #[arg(required = true, value_name = "SQL")]
    pub sql: Vec<String>,
}

/// `spectra keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// Mint an API key for a tenant; the key is shown once and stored only as a hash.
    Create,
}

/// `spectra bulk ...`
#[derive(Debug, Subcommand)]
pub enum BulkCmd {
    /// Create a bulk job (query, insert, update, upsert or delete).
    Create,
    /// Upload data to an open ingest job, with a progress bar.
    Upload,
    /// Mark the upload complete so the job runs.
    Close,
    /// Abort a job.
    Abort,
    /// Show one job.
    Get,
    /// List jobs as a table.
    List,
    /// Show a finished job's result files and download links.
    Results,
}

/// `spectra jobs ...`
#[derive(Debug, Subcommand)]
pub enum JobsCmd {
    /// Show one query job.
    Get,
    /// Show a finished query job's results.
    Results,
    /// Cancel a query job.
    Cancel,
}

impl Cmd {
    /// The command's name as typed, and the issue that builds (or built) it; used to refuse
    /// commands that are not built yet.
    pub fn pending(&self) -> (&'static str, u32) {
        match self {
            Cmd::Up => ("up", 4),
            Cmd::Worker => ("worker", 6),
            Cmd::Api => ("api", 5),
            Cmd::RedshiftEmulator => ("redshift-emulator", 7),
            Cmd::Sql(_) => ("sql", 3),
            Cmd::Keys(_) => ("keys", 5),
            Cmd::Bulk(_) => ("bulk", 4),
            Cmd::Jobs(_) => ("jobs", 5),
        }
    }
}
