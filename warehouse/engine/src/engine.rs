//! Opening the DuckDB instance hermetic: it never installs or loads an extension, never reads
//! or writes a file outside its own database and the object store's directory (so never the
//! network either, and never `~/.duckdb`), and its configuration is locked so that no
//! statement can undo any of that. DuckDB's switches are global to the instance, so they hold
//! for operator SQL too; session settings (`search_path`) stay per connection.

use std::path::Path;

use duckdb::Connection;

use super::confine::Policy;
use super::unload::sql_path;

/// Why the engine could not be opened confined.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The object directory could not be made or resolved.
    #[error("cannot {action} the object directory {path}: {source}")]
    ObjectDir {
        /// `create` or `resolve`.
        action: &'static str,
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// DuckDB refused the configuration or the database file (held by another process?).
    #[error(transparent)]
    Open(duckdb::Error),
    /// The confining settings could not be applied.
    #[error("cannot confine the engine: {0}")]
    Confine(duckdb::Error),
    /// Redshift's catalog macros could not be created.
    #[error("cannot create the Redshift catalog: {0}")]
    Catalog(duckdb::Error),
    /// The function catalog the tenant policy is built from could not be read.
    #[error("cannot read the engine's functions: {0}")]
    Functions(duckdb::Error),
}

/// Opens `db_path` and closes the instance around `object_root`, the only directory its file
/// functions may touch (UNLOAD writes there, COPY reads there). Returns the root connection
/// and what tenants may call.
pub(crate) fn open(db_path: &Path, object_root: &Path) -> Result<(Connection, Policy), EngineError> {
    let dir = |action| move |source| EngineError::ObjectDir { action, path: object_root.display().to_string(), source };
    std::fs::create_dir_all(object_root).map_err(dir("create"))?;
    let root = std::fs::canonicalize(object_root).map_err(dir("resolve"))?;
    // Before the first statement: with a fresh HOME the engine would otherwise try to fetch ICU
    // on the first date function. The NULL type leaving the binder (`SELECT NULL`) is new in
    // DuckDB 2.0 and the Rust driver cannot read it; the legacy behaviour types such a column
    // INTEGER, as before. (Set at open: a `SET` reaches only the connection that runs it.)
    // Async write threads stay on, although DuckDB 2.0 can deadlock when a `COPY ... TO` writing
    // through them is aborted (its abort holds the submission lock while draining a write task
    // that needs it): without them, FILE_SIZE_BYTES stopped splitting files reliably. A stop
    // that meets the deadlock costs its deadline, not the process: `spectra up` exits without
    // the stuck thread, and the ledger fails the statement at the next start.
    // Late materialization is off: DuckDB 2.0 applies it to a plain `LIMIT n` far above its
    // `late_materialization_max_rows`, turning `SELECT * FROM t LIMIT 10001` (every capped
    // query of the API) into a rowid semi-join plus a sort — 4× the plain scan (0.5 → 2.2 ms
    // on 10,000 rows × 10 columns), and twice as slow on `ORDER BY x LIMIT 10` too.
    let config = duckdb::Config::default()
        .with("disabled_optimizers", "late_materialization")
        .and_then(|c| c.with("autoinstall_known_extensions", "false"))
        .and_then(|c| c.with("autoload_known_extensions", "false"))
        .and_then(|c| c.with("allow_community_extensions", "false"))
        .and_then(|c| c.with("legacy_disable_null_type", "true"))
        // Redshift divides integers as integers (`7 / 2` is 3); DuckDB's `/` would answer 3.5.
        .and_then(|c| c.with("integer_division", "true"))
        .map_err(EngineError::Open)?;
    let conn = Connection::open_with_flags(db_path, config).map_err(EngineError::Open)?;
    let settings = format!(
        "SET allowed_directories = [{dir}]; \
         SET enable_external_access = false; \
         SET lock_configuration = true;",
        // The trailing separator: the directory itself, not every path that starts with its name.
        dir = sql_path(&root.join(""))
    );
    conn.execute_batch(&settings).map_err(EngineError::Confine)?;
    super::dialect::install(&conn).map_err(EngineError::Catalog)?;
    let policy = Policy::load(&conn).map_err(EngineError::Functions)?;
    Ok((conn, policy))
}
