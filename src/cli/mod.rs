//! The command line: every subcommand, with the help text users see.

#[cfg(feature = "aws")]
mod aws;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use spectra_state_machine::{BulkState, Operation, TenantId};
use spectra_worker::faults::Faults;

use spectra_worker::consumer::ConsumerConfig;
use spectra_worker::platform::Settings;
use spectra_worker::reconciler;

use crate::duration::{Span, parse_duration};
use crate::logging::LogFormat;

#[cfg(feature = "aws")]
pub use self::aws::{ApiArgs, LambdaArgs, WorkerArgs};

/// Spectra: run bulk data work against Amazon Redshift — an event-driven job worker, the REST API
/// in front of it, and an embedded platform that runs both on one machine with no AWS account.
#[derive(Debug, Parser)]
#[command(name = "spectra", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// A file of `SPECTRA_*=value` lines (the environment file format) under every command:
    /// its values are defaults that variables and flags override. Each setting flag names its
    /// variable below; AWS mode also reads SPECTRA_QUEUE_URL, SPECTRA_TABLE, SPECTRA_BUCKET,
    /// SPECTRA_EVENT_BUS, SPECTRA_IAM_ROLE, SPECTRA_CLUSTER_IDENTIFIER + SPECTRA_DB_USER or
    /// SPECTRA_SECRET_ARN, or SPECTRA_WORKGROUP_NAME [+ SPECTRA_SECRET_ARN], SPECTRA_DATABASE,
    /// SPECTRA_DB_USERS (tenant=user,...), SPECTRA_REGION, SPECTRA_AWS_ENDPOINT_URL,
    /// SPECTRA_S3_FORCE_PATH_STYLE (`infra/spectra.yaml` sets them for the ECS service or the
    /// Lambda function).
    #[arg(long, global = true, value_name = "FILE", env = "SPECTRA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log lines as text (coloured only on a terminal) or as JSON objects, one per line.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "SPECTRA_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// What to run.
    #[command(subcommand)]
    pub command: Cmd,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run everything in one process on the embedded platform: the REST API, the worker and
    /// reconciler, SQLite queue and job store, local object store (with presigned links) and
    /// DuckDB warehouse, all under one data directory. Stops cleanly on SIGTERM or Ctrl-C; a
    /// restart picks up every job.
    #[cfg(feature = "embedded")]
    Up(Box<UpArgs>),
    /// Run a worker on AWS: consume the SQS work queue, drive jobs through their state machine
    /// (DynamoDB, S3, the Redshift Data API, EventBridge), reconcile stuck jobs. Settings come
    /// from SPECTRA_* variables or a --config file (listed under --config); a missing or
    /// contradictory one stops it at start. Stops cleanly on SIGTERM.
    #[cfg(feature = "aws")]
    Worker(WorkerArgs),
    /// Serve the REST API (Query, Job and Bulk APIs) on AWS, with the same settings as `worker`.
    #[cfg(feature = "aws")]
    Api(ApiArgs),
    /// Run as an AWS Lambda function (custom runtime, `provided.al2023`): SQS batches from the
    /// work queue's event source mapping go through the same handlers as `worker`, answered
    /// with partial batch failures; an EventBridge schedule's invocation runs one reconciler
    /// sweep. Same settings as `worker`; the receive options (loops, in-flight, receive wait,
    /// visibility) are the mapping's there and are ignored. A binary named `bootstrap` runs
    /// this command when started without arguments.
    #[cfg(feature = "aws")]
    Lambda(LambdaArgs),
    /// Serve the Redshift Data API (all 11 operations, AWS JSON 1.1, any credentials) on
    /// loopback, running the SQL for real on the embedded engine; UNLOAD/COPY go to an S3
    /// endpoint and WithEvent status changes to an EventBridge endpoint when given. Point
    /// aws-sdk-rust, boto3 or the AWS CLI at it with its URL as the endpoint.
    #[cfg(feature = "emulator")]
    RedshiftEmulator(EmulatorArgs),
    /// Run operator SQL (create and fill tables) on the embedded warehouse, through the running
    /// `spectra up` if there is one, or directly on the data directory if not.
    #[cfg(feature = "embedded")]
    Sql(SqlArgs),
    /// Manage API keys for the REST API (stored hashed).
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Producer commands for bulk jobs: create, upload, close, abort, inspect. They work on the
    /// data directory directly, beside a running `spectra up`.
    #[cfg(feature = "embedded")]
    Bulk(BulkArgs),
    /// Fault drills: start `spectra up` on a fresh data directory (or, with --aws, a `spectra api`
    /// and several `spectra worker`s), drive mixed bulk jobs with known effects through the REST
    /// API while injecting faults (kill -9, SIGTERM, duplicate delivery, lost events,
    /// throttling), then check every job's outcome, every row, every idempotency key and every
    /// stop's time, and print the figures. Exits non-zero on any defect.
    #[cfg(all(feature = "aws", feature = "embedded"))]
    Chaos(crate::chaos::ChaosArgs),
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
    /// Mint an API key for a tenant. The key is printed alone on stdout, once; only its hash
    /// is stored. Its id (for `revoke`) goes to stderr.
    Create {
        /// The tenant the key acts for.
        #[arg(long, env = "SPECTRA_TENANT")]
        tenant: TenantId,
        /// Where keys are stored.
        #[command(flatten)]
        store: KeyStoreArgs,
    },
    /// Revoke a key by its id (the `sk_<id>_...` part); it stops working at once.
    Revoke {
        /// The key's id.
        key_id: String,
        /// Where keys are stored.
        #[command(flatten)]
        store: KeyStoreArgs,
    },
}

/// Where `spectra keys` keeps keys: the data directory of `spectra up`, or the AWS job table.
#[derive(Debug, Args)]
pub struct KeyStoreArgs {
    /// The embedded platform's data directory.
    #[arg(long, default_value = ".spectra", env = "SPECTRA_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Use the AWS job table (SPECTRA_TABLE) instead, as `spectra api` does.
    #[arg(long)]
    pub aws: bool,
}

/// `spectra up`
#[derive(Debug, Args)]
pub struct UpArgs {
    /// The data directory (queue, job table, objects, warehouse); created if missing.
    #[arg(long, default_value = ".spectra", env = "SPECTRA_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Where to serve the REST API, download/upload links, admin SQL and /health; port 0 picks a
    /// free port.
    #[arg(long, default_value = "127.0.0.1:8080", env = "SPECTRA_LISTEN")]
    pub listen: SocketAddr,
    /// Statements the warehouse runs at once; submits beyond wait (backpressure, not failure).
    #[arg(long, default_value_t = 8, env = "SPECTRA_MAX_ACTIVE_STATEMENTS")]
    pub max_active_statements: usize,
    /// Do not send statement status-change events; jobs then finish through the reconciler
    /// (as on AWS when the EventBridge rule is missing).
    #[arg(long)]
    pub no_statement_events: bool,
    /// Run a tenant's SQL as this database user: `TENANT=USER`, repeatable (the Data API's
    /// DbUser). Every other tenant runs as `tenant_<id>`. Either way a tenant's statements are
    /// confined to the schemas granted to its user (see --grant).
    #[arg(long = "db-user", value_name = "TENANT=USER", env = "SPECTRA_DB_USERS", value_delimiter = ',')]
    pub db_users: Vec<String>,
    /// Schemas a tenant may read (and ingest into), in search-path order:
    /// `TENANT=SCHEMA[,SCHEMA...]`, repeatable (`;` between tenants in the variable). A tenant
    /// without a grant reads the default schema `main`. `spectra_internal` and the catalogs are
    /// never grantable.
    #[arg(long = "grant", value_name = "TENANT=SCHEMAS", env = "SPECTRA_GRANTS", value_delimiter = ';')]
    pub grants: Vec<String>,
    /// Worker settings.
    #[command(flatten)]
    pub worker: WorkerOptions,
    /// REST API settings: JWTs, rate limits.
    #[command(flatten)]
    pub api: ApiOptions,
}

/// How a worker consumes and times out work (`spectra up` and `spectra worker`).
#[derive(Debug, Args)]
pub struct WorkerOptions {
    /// Receive loops on the work queue.
    #[arg(long, default_value_t = ConsumerConfig::default().loops, env = "SPECTRA_LOOPS")]
    pub loops: usize,
    /// Messages handled at once.
    #[arg(long, default_value_t = ConsumerConfig::default().max_in_flight, env = "SPECTRA_MAX_IN_FLIGHT")]
    pub max_in_flight: usize,
    /// Rows a COPY may reject (reported as failed records) before an ingest job fails.
    #[arg(long, default_value_t = Settings::default().max_error, env = "SPECTRA_MAX_ERROR")]
    pub max_error: u64,
    /// How often the reconciler sweeps for stuck jobs (e.g. 30s, 5m).
    #[arg(long, default_value_t = Span(reconciler::DEFAULT_INTERVAL), env = "SPECTRA_RECONCILE_INTERVAL")]
    pub reconcile_interval: Span,
    /// How long a job may sit unchanged before the reconciler looks at it.
    #[arg(long, default_value_t = Span(Settings::default().reconcile_grace), env = "SPECTRA_RECONCILE_GRACE")]
    pub reconcile_grace: Span,
    /// Longest a bulk job may run, counted from its creation; then it is cancelled and fails.
    #[arg(long, default_value_t = Span(Settings::default().bulk_deadline), env = "SPECTRA_BULK_DEADLINE")]
    pub bulk_deadline: Span,
    /// Longest an async query job may run.
    #[arg(long, default_value_t = Span(Settings::default().query_deadline), env = "SPECTRA_QUERY_DEADLINE")]
    pub query_deadline: Span,
    /// How long an ingest job may stay Open waiting for its upload.
    #[arg(long, default_value_t = Span(Settings::default().upload_window), env = "SPECTRA_UPLOAD_WINDOW")]
    pub upload_window: Span,
    /// Visibility timeout of received messages (a heartbeat extends it for long handlers).
    #[arg(long, default_value_t = Span(ConsumerConfig::default().visibility), env = "SPECTRA_VISIBILITY_TIMEOUT")]
    pub visibility_timeout: Span,
    /// Long-poll wait of each receive (SQS allows up to 20s). A worker that stops mid-poll can
    /// still be handed messages it never sees, which then wait out their visibility timeout;
    /// a shorter wait narrows that window at the cost of more receive calls.
    #[arg(long, default_value_t = Span(ConsumerConfig::default().wait), env = "SPECTRA_RECEIVE_WAIT")]
    pub receive_wait: Span,
    /// At shutdown, how long in-flight messages may take before they are released, and (in
    /// `spectra up`) how long running statements are interrupted for before the process exits;
    /// interrupted statements are retried after the next start.
    #[arg(long, alias = "shutdown-timeout", default_value_t = Span(ConsumerConfig::default().shutdown_deadline), env = "SPECTRA_SHUTDOWN_DEADLINE")]
    pub shutdown_deadline: Span,
    /// For fault drills (`spectra chaos`) only: inject faults where the worker meets the queue
    /// and the warehouse, each with a probability — `duplicate=P` (a received message is
    /// delivered again), `drop-events=P` (a statement status event is lost), `throttle=P` (a
    /// submit is refused as throttled). E.g. `duplicate=1,drop-events=0.2`.
    #[arg(long, value_name = "FAULTS", value_parser = parse_faults, default_value = "", hide_default_value = true)]
    pub inject_faults: Faults,
}

fn parse_faults(text: &str) -> Result<Faults, String> {
    Faults::parse(text).map_err(|e| e.to_string())
}

/// JWT bearer tokens (API keys always work) and rate limits, for the REST API.
#[derive(Debug, Args)]
pub struct ApiOptions {
    /// Accept HS256 tokens signed with the secret in this file (at least 32 bytes).
    #[arg(long, env = "SPECTRA_JWT_SECRET_FILE")]
    pub jwt_secret_file: Option<PathBuf>,
    /// Accept RS256 tokens signed by the key whose public half is in this PEM file
    /// (`-----BEGIN PUBLIC KEY-----`).
    #[arg(long, env = "SPECTRA_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,
    /// The `iss` a JWT must carry.
    #[arg(long, env = "SPECTRA_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// The `aud` a JWT must carry.
    #[arg(long, env = "SPECTRA_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// The JWT claim that names the tenant.
    #[arg(long, default_value = "tenant_id", env = "SPECTRA_JWT_TENANT_CLAIM")]
    pub jwt_tenant_claim: String,
    /// Per-tenant rate limits per window, over seed 001's defaults: e.g.
    /// `queries=100,job_reads=300,bulk_creates=10,bulk_reads=100,window_seconds=60`.
    #[arg(long, env = "SPECTRA_RATE_LIMITS", value_parser = parse_rate_limits, default_value = "")]
    pub rate_limits: spectra_api::RateLimits,
    /// The token operators sign in to `/dashboard` with (kept only as its hash). `spectra up`
    /// makes one in `<data-dir>/operator.key` when none is given; `spectra api` has no
    /// dashboard without one.
    #[arg(long, env = "SPECTRA_OPERATOR_TOKEN", hide_env_values = true)]
    pub operator_token: Option<String>,
}

fn parse_rate_limits(text: &str) -> Result<spectra_api::RateLimits, String> {
    spectra_api::RateLimits::parse(text)
}

/// `spectra redshift-emulator`
#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Where to serve; port 0 picks a free port. Logs "listening on http://ADDR" when ready.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// Where the engine keeps its database (and its local copy of S3 objects).
    #[arg(long, default_value = ".spectra-emulator")]
    pub data_dir: PathBuf,
    /// The S3 endpoint UNLOAD writes to and COPY reads from (e.g. moto's); without it they use
    /// <data-dir>/objects/<bucket>/<key>.
    #[arg(long)]
    pub s3_endpoint: Option<String>,
    /// The EventBridge endpoint that receives "Redshift Data Statement Status Change" events
    /// of WithEvent statements (PutEvents on the default bus); without it no events are sent.
    #[arg(long)]
    pub events_endpoint: Option<String>,
    /// Statements running at once; one more gets ActiveStatementsExceededException.
    #[arg(long, default_value_t = 200)]
    pub max_active_statements: usize,
    /// The region named in events.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
}

/// `spectra bulk ...`
#[derive(Debug, Args)]
pub struct BulkArgs {
    /// The embedded platform's data directory.
    #[arg(long, global = true, default_value = ".spectra", env = "SPECTRA_DATA_DIR")]
    pub data_dir: PathBuf,
    /// The tenant the jobs belong to.
    #[arg(long, global = true, env = "SPECTRA_TENANT", default_value = "demo")]
    pub tenant: TenantId,
    /// What to do.
    #[command(subcommand)]
    pub command: BulkCmd,
}

/// The bulk subcommands.
#[derive(Debug, Subcommand)]
pub enum BulkCmd {
    /// Create a bulk job; prints its id (or the record with --json).
    Create(CreateArgs),
    /// Upload files to an open ingest job (one part each), with a progress bar.
    Upload {
        /// The job.
        job: String,
        /// The files to upload.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Mark the upload complete so the job runs.
    Close {
        /// The job.
        job: String,
    },
    /// Abort a job (a running statement is cancelled).
    Abort {
        /// The job.
        job: String,
    },
    /// Show one job as JSON.
    Get {
        /// The job.
        job: String,
        /// Wait until the job is finished (JobComplete, Failed or Aborted); exits 1 unless it
        /// completed.
        #[arg(long)]
        wait: bool,
        /// Give up waiting after this long.
        #[arg(long, default_value = "10m", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// List jobs as a table, newest first.
    List {
        /// Only jobs in this state (Open, UploadComplete, InProgress, JobComplete, Failed, Aborted).
        #[arg(long)]
        state: Option<BulkState>,
        /// Only jobs with this operation.
        #[arg(long)]
        operation: Option<Operation>,
        /// Jobs per page (at most 100).
        #[arg(long, default_value_t = 25)]
        limit: usize,
        /// The page token a previous list printed.
        #[arg(long)]
        page: Option<String>,
    },
    /// Show a finished job's result files with download links (needs `spectra up` running).
    Results {
        /// The job.
        job: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `spectra bulk create`
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// query (export), insert, upsert, update or delete.
    #[arg(long)]
    pub operation: String,
    /// The table (`table` or `schema.table`); for exports, a label.
    #[arg(long)]
    pub object: String,
    /// The SELECT to export (query jobs).
    #[arg(long)]
    pub query: Option<String>,
    /// CSV (default), JSON or PARQUET.
    #[arg(long)]
    pub content_type: Option<String>,
    /// NONE (default) or GZIP.
    #[arg(long)]
    pub compression: Option<String>,
    /// Key columns for upsert, update and delete, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub primary_key: Vec<String>,
    /// Print the job record as JSON instead of its id.
    #[arg(long)]
    pub json: bool,
}
