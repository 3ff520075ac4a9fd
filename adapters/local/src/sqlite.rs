//! A SQLite handle shared by the embedded queue and stores: WAL journaling (readers never block
//! the writer), a busy timeout so several processes can share the file, and every write run on
//! the blocking pool so the async runtime never waits on disk.
//!
//! # Reads
//! A point read by key (a job, an API key) takes microseconds from the page cache; handing it
//! to a blocking thread and back cost more than the read, and every read queued behind the one
//! connection. [`Db::read`] runs such reads in place on a small pool of read-only connections:
//! in WAL mode they never wait for the writer, and they see every commit made before they start.
//!
//! # Durability
//! `synchronous=NORMAL` in WAL mode: a commit is in the WAL (the OS's page cache) when the call
//! returns, so a crash of the process — kill -9, a panic, an OOM kill — loses nothing that was
//! acknowledged. What a commit no longer does is wait for an fsync (it was ~15 fsyncs per
//! synchronous query with `FULL`). A syncer makes the WAL durable every [`SYNC_INTERVAL`] while
//! there are writes (a passive checkpoint syncs the WAL first), so a power loss or kernel crash
//! can take back at most the commits of that last interval.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use rusqlite::Connection;
use spectra_worker::ports::{QueueError, StoreError};

/// How long a call waits for another process's write lock before giving up with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the WAL is synced while there are writes: the most a power loss can take back.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(200);

/// Read-only connections for [`Db::read`]: about one per core, so reads rarely wait.
const READERS: usize = 4;

/// The connection and whether it has written since the last sync; the readers.
struct Shared {
    conn: Mutex<Connection>,
    dirty: AtomicBool,
    /// Opened by the first [`Db::read`]: most stores (the queue, idempotency keys, rate
    /// counters) never read in place, and should not hold idle connections.
    readers: OnceLock<Vec<Mutex<Connection>>>,
    /// The database file, for the readers.
    path: PathBuf,
    /// Which reader a read waits for when all are busy.
    next_reader: AtomicUsize,
}

/// One connection, used by one call at a time. SQLite allows one writer per file anyway, and
/// other processes get their own connections.
#[derive(Clone)]
pub(crate) struct Db {
    shared: Arc<Shared>,
}

/// A failure of the database or of the blocking task running it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("database task failed: {0}")]
    Task(String),
}

/// Every SQLite failure reaches a port as "unavailable": busy and locked databases clear up, and
/// the rest (a broken disk, a bug) is not the caller's to fix either; the message says which.
impl From<DbError> for StoreError {
    fn from(e: DbError) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

impl From<DbError> for QueueError {
    fn from(e: DbError) -> Self {
        QueueError::Unavailable(e.to_string())
    }
}

impl DbError {
    /// Busy and locked databases clear up; everything else is a bug or a broken disk.
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            DbError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }
}

impl Db {
    /// Opens (creating if needed) the database at `path` and applies `schema` (idempotent DDL);
    /// starts its syncer, which ends when the last handle is dropped.
    pub async fn open(path: &Path, schema: &'static str) -> Result<Self, DbError> {
        let (path, opening) = (path.to_owned(), path.to_owned());
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection, DbError> {
            let conn = Connection::open(&opening)?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.execute_batch(schema)?;
            Ok(conn)
        })
        .await
        .map_err(|e| DbError::Task(e.to_string()))??;
        let shared = Arc::new(Shared {
            conn: Mutex::new(conn),
            dirty: AtomicBool::new(false),
            readers: OnceLock::new(),
            path,
            next_reader: AtomicUsize::new(0),
        });
        tokio::spawn(sync_while_written(Arc::downgrade(&shared)));
        Ok(Self { shared })
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn call<R, F>(&self, f: F) -> Result<R, DbError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R, DbError> + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || {
            let mut conn = lock(&shared.conn);
            let before = conn.total_changes();
            let result = f(&mut conn);
            // Reads leave nothing to sync: a read-heavy load costs the syncer nothing.
            if conn.total_changes() != before {
                shared.dirty.store(true, Ordering::Relaxed);
            }
            result
        })
        .await
        .map_err(|e| DbError::Task(e.to_string()))?
    }

    /// Runs a short read (a lookup by key) in place, on a free read-only connection (when all
    /// are busy, waiting for one in turn). Only for reads that take microseconds: anything
    /// longer goes through [`Db::call`]. A write here fails (the connections are read-only).
    pub fn read<R>(&self, f: impl FnOnce(&Connection) -> Result<R, DbError>) -> Result<R, DbError> {
        let readers = match self.shared.readers.get() {
            Some(readers) => readers,
            None => {
                // A race opens two sets; the one not kept is closed again.
                let opened = (0..READERS).map(|_| open_reader(&self.shared.path).map(Mutex::new));
                let opened = opened.collect::<Result<Vec<_>, _>>()?;
                self.shared.readers.get_or_init(|| opened)
            }
        };
        let free = readers.iter().find_map(|r| r.try_lock().ok());
        // All busy: wait for one, in turn, so that waits spread over the pool.
        let conn = free.unwrap_or_else(|| {
            let n = self.shared.next_reader.fetch_add(1, Ordering::Relaxed);
            lock(&readers[n % readers.len()])
        });
        f(&conn)
    }
}

/// A read-only connection to the (already created) database at `path`.
fn open_reader(path: &Path) -> Result<Connection, DbError> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// A panic in another call poisons the mutex; the connection itself is still sound (SQLite
/// rolled back the unfinished transaction), so carry on with it.
fn lock(conn: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Every [`SYNC_INTERVAL`], if the connection wrote, a passive checkpoint: it syncs the WAL
/// (then copies what no reader needs into the database file) without waiting for anyone.
async fn sync_while_written(shared: Weak<Shared>) {
    loop {
        tokio::time::sleep(SYNC_INTERVAL).await;
        let Some(shared) = shared.upgrade() else { return };
        if !shared.dirty.swap(false, Ordering::Relaxed) {
            continue;
        }
        let held = Arc::clone(&shared);
        let synced = tokio::task::spawn_blocking(move || {
            lock(&held.conn).query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        })
        .await;
        if !matches!(synced, Ok(Ok(()))) {
            tracing::warn!(outcome = ?synced, "could not sync the SQLite log; trying again");
            shared.dirty.store(true, Ordering::Relaxed);
        }
    }
}

/// Milliseconds since the Unix epoch: how the embedded stores keep time, so that several
/// processes agree on it.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Commits do not wait for an fsync, so the syncer must get them to disk: shortly after a
    /// write, the log has been checkpointed into the database file (which, without it, stays
    /// empty until a thousand pages of log have piled up).
    #[tokio::test]
    async fn the_syncer_makes_writes_durable_within_its_interval() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite");
        let db = Db::open(&path, "CREATE TABLE IF NOT EXISTS t (x INTEGER);").await.unwrap();
        let mode: String = db
            .call(|c| Ok(c.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0))?))
            .await
            .map(|n| if n == 1 { "NORMAL".to_owned() } else { n.to_string() })
            .unwrap();
        assert_eq!(mode, "NORMAL");
        db.call(|c| Ok(c.execute("INSERT INTO t VALUES (1)", [])?)).await.unwrap();
        tokio::time::sleep(SYNC_INTERVAL * 4).await;
        let on_disk = std::fs::metadata(&path).unwrap().len();
        assert!(on_disk > 0, "the log was never checkpointed into {}", path.display());
        let other = Connection::open(&path).unwrap();
        let n: i64 = other.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
    }

    #[tokio::test]
    async fn reads_in_place_see_every_commit_and_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.sqlite"), "CREATE TABLE IF NOT EXISTS t (x INTEGER);").await.unwrap();
        let count = |db: &Db| db.read(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))?));
        for n in 1..=(READERS as i64 * 2) {
            db.call(|c| Ok(c.execute("INSERT INTO t VALUES (1)", [])?)).await.unwrap();
            assert_eq!(count(&db).unwrap(), n, "a read after a commit sees it");
        }
        assert!(db.read(|c| Ok(c.execute("DELETE FROM t", [])?)).is_err(), "readers are read-only");
        assert_eq!(count(&db).unwrap(), READERS as i64 * 2);
    }
}
