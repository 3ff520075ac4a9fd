//! The embedded `Queue`: SQS semantics on a SQLite table, durable, shareable by several
//! processes on one data directory.
//!
//! A message row carries `visible_at` (ms). Receiving takes the oldest visible rows inside one
//! `BEGIN IMMEDIATE` transaction — the write lock is what stops two consumers, in this process
//! or another, from taking the same row — gives each a fresh receipt, bumps its receive count and
//! pushes `visible_at` out by the visibility timeout. A receipt is only valid while it is the
//! row's current one, so a redelivery invalidates the previous holder's receipt.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::sqlite::{Db, DbError, ms, now_ms};
use spectra_worker::ports::{AckOutcome, OutgoingMessage, Queue, QueueError, ReceivedMessage, check_receive_batch};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queue_messages (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    queue         TEXT    NOT NULL,
    id            TEXT    NOT NULL UNIQUE,
    body          TEXT    NOT NULL,
    attributes    TEXT    NOT NULL,
    sent_at       INTEGER NOT NULL,
    visible_at    INTEGER NOT NULL,
    receipt       TEXT UNIQUE,
    receive_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS queue_messages_ready ON queue_messages (queue, visible_at, seq);
CREATE TABLE IF NOT EXISTS queue_dead_letters (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    queue         TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    attributes    TEXT    NOT NULL,
    sent_at       INTEGER NOT NULL,
    receive_count INTEGER NOT NULL,
    reason        TEXT    NOT NULL,
    dead_at       INTEGER NOT NULL
);
";

/// Longest a receive sleeps between looks at the table while long-polling. Sends from this
/// process wake it at once; sends from other processes are seen within this time.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Settings of one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// Deliveries after which an unacknowledged message is dead-lettered instead of delivered
    /// again (SQS's `maxReceiveCount`).
    pub max_receives: u32,
}

impl Default for QueueConfig {
    /// Five deliveries: enough for a handler to survive a few crashes and timeouts, few enough
    /// that a poison message reaches the dead-letter table within minutes.
    fn default() -> Self {
        Self { max_receives: 5 }
    }
}

/// A dead-lettered message, for operators and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The message id.
    pub id: String,
    /// The body.
    pub body: String,
    /// How many times it was delivered.
    pub receive_count: u32,
    /// Why it was dead-lettered.
    pub reason: String,
}

/// One named queue in a SQLite file (several queues can share the file).
#[derive(Clone)]
pub struct SqliteQueue {
    db: Db,
    name: Arc<str>,
    config: QueueConfig,
    sent: Arc<Notify>,
}

impl SqliteQueue {
    /// Opens queue `name` in the database file at `path`, creating both as needed.
    pub async fn open(path: &Path, name: &str, config: QueueConfig) -> Result<Self, QueueError> {
        if config.max_receives == 0 {
            return Err(QueueError::Invalid("max_receives must be at least 1".into()));
        }
        let db = Db::open(path, SCHEMA).await?;
        Ok(Self { db, name: name.into(), config, sent: Arc::new(Notify::new()) })
    }

    /// The dead-lettered messages of this queue, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, QueueError> {
        let name = Arc::clone(&self.name);
        self.db
            .call(move |conn| {
                let mut stmt = conn.prepare(
                    "SELECT id, body, receive_count, reason FROM queue_dead_letters WHERE queue = ?1 ORDER BY seq",
                )?;
                let rows = stmt.query_map([&*name], |r| {
                    Ok(DeadLetter { id: r.get(0)?, body: r.get(1)?, receive_count: r.get(2)?, reason: r.get(3)? })
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
            .map_err(QueueError::from)
    }

    /// Messages waiting or in flight (not dead-lettered).
    pub async fn depth(&self) -> Result<u64, QueueError> {
        self.count("SELECT COUNT(*) FROM queue_messages WHERE queue = ?1").await
    }

    /// The count `sql` (with this queue's name as `?1`) answers.
    async fn count(&self, sql: &'static str) -> Result<u64, QueueError> {
        let name = Arc::clone(&self.name);
        self.db
            .call(move |conn| {
                let n: i64 = conn.query_row(sql, [&*name], |r| r.get(0))?;
                Ok(u64::try_from(n).unwrap_or(0))
            })
            .await
            .map_err(QueueError::from)
    }

    /// One look at the table: dead-letter over-delivered messages, then take up to `max`.
    async fn try_receive(&self, max: usize, visibility: Duration) -> Result<Vec<ReceivedMessage>, DbError> {
        let (name, max_receives) = (Arc::clone(&self.name), self.config.max_receives);
        self.db
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let now = now_ms();
                let reason = format!("received {max_receives} times without being acknowledged (maxReceiveCount)");
                tx.execute(
                    "INSERT INTO queue_dead_letters (queue, id, body, attributes, sent_at, receive_count, reason, dead_at)
                     SELECT queue, id, body, attributes, sent_at, receive_count, ?3, ?4 FROM queue_messages
                     WHERE queue = ?1 AND visible_at <= ?4 AND receive_count >= ?2",
                    params![&*name, max_receives, reason, now],
                )?;
                tx.execute(
                    "DELETE FROM queue_messages WHERE queue = ?1 AND visible_at <= ?3 AND receive_count >= ?2",
                    params![&*name, max_receives, now],
                )?;
                let mut taken = Vec::new();
                {
                    let mut select = tx.prepare(
                        "SELECT seq, id, body, attributes, receive_count FROM queue_messages
                         WHERE queue = ?1 AND visible_at <= ?2 ORDER BY visible_at, seq LIMIT ?3",
                    )?;
                    let rows = select.query_map(params![&*name, now, max as i64], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?, r.get::<_, String>(3)?, r.get::<_, u32>(4)?))
                    })?;
                    let mut update =
                        tx.prepare("UPDATE queue_messages SET receipt = ?2, receive_count = ?3, visible_at = ?4 WHERE seq = ?1")?;
                    for row in rows {
                        let (seq, id, body, attributes, count) = row?;
                        let receipt = uuid::Uuid::new_v4().to_string();
                        update.execute(params![seq, receipt, count + 1, now + ms(visibility)])?;
                        let attributes: BTreeMap<String, String> = serde_json::from_str(&attributes).unwrap_or_default();
                        taken.push(ReceivedMessage { id, receipt, body, attributes, receive_count: count + 1 });
                    }
                }
                tx.commit()?;
                Ok(taken)
            })
            .await
    }
}

#[async_trait]
impl Queue for SqliteQueue {
    fn destination(&self) -> &str {
        &self.name
    }

    /// Not a registered `messaging.system` value: the embedded platform's own queue.
    fn system(&self) -> &'static str {
        "spectra_sqlite"
    }

    async fn send(&self, message: OutgoingMessage) -> Result<String, QueueError> {
        let id = uuid::Uuid::new_v4().to_string();
        let attributes = serde_json::to_string(&message.attributes).map_err(|e| QueueError::Invalid(e.to_string()))?;
        let (name, row_id) = (Arc::clone(&self.name), id.clone());
        self.db
            .call(move |conn| {
                let now = now_ms();
                conn.execute(
                    "INSERT INTO queue_messages (queue, id, body, attributes, sent_at, visible_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![&*name, row_id, message.body, attributes, now, now + ms(message.delay)],
                )?;
                Ok(())
            })
            .await
            ?;
        self.sent.notify_waiters();
        Ok(id)
    }

    /// One transaction (one commit) for the whole batch.
    async fn send_batch(&self, messages: Vec<OutgoingMessage>) -> Result<usize, QueueError> {
        let mut rows = Vec::with_capacity(messages.len());
        for message in messages {
            let attributes =
                serde_json::to_string(&message.attributes).map_err(|e| QueueError::Invalid(e.to_string()))?;
            rows.push((uuid::Uuid::new_v4().to_string(), message.body, attributes, ms(message.delay)));
        }
        let (name, n) = (Arc::clone(&self.name), rows.len());
        self.db
            .call(move |conn| {
                let tx = conn.transaction()?;
                {
                    let mut insert = tx.prepare_cached(
                        "INSERT INTO queue_messages (queue, id, body, attributes, sent_at, visible_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?;
                    let now = now_ms();
                    for (id, body, attributes, delay) in rows {
                        insert.execute(params![&*name, id, body, attributes, now, now + delay])?;
                    }
                }
                tx.commit()?;
                Ok(())
            })
            .await?;
        self.sent.notify_waiters();
        Ok(n)
    }

    async fn receive(
        &self,
        max: usize,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        check_receive_batch(max)?;
        let deadline = Instant::now() + wait;
        loop {
            // Register for wake-ups before looking, so a send between the look and the sleep
            // is not missed.
            let notified = self.sent.notified();
            match self.try_receive(max, visibility).await {
                Ok(messages) if !messages.is_empty() => return Ok(messages),
                Ok(_) => {}
                Err(e) if e.is_busy() => {} // another process holds the lock; look again
                Err(e) => return Err(e.into()),
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            let nap = POLL_INTERVAL.min(deadline - now);
            let _ = tokio::time::timeout(nap, notified).await;
        }
    }

    async fn ack(&self, receipts: &[String]) -> Result<AckOutcome, QueueError> {
        let receipts = receipts.to_vec();
        self.db
            .call(move |conn| {
                let tx = conn.transaction()?;
                {
                    let mut delete = tx.prepare("DELETE FROM queue_messages WHERE receipt = ?1")?;
                    for receipt in &receipts {
                        // A stale receipt deletes nothing, as in SQS: the message was
                        // redelivered and its new holder will ack it.
                        delete.execute([receipt])?;
                    }
                }
                tx.commit()?;
                Ok(AckOutcome::default())
            })
            .await
            .map_err(QueueError::from)
    }

    async fn extend(&self, receipt: &str, visibility: Duration) -> Result<(), QueueError> {
        let receipt = receipt.to_owned();
        let changed = self
            .db
            .call(move |conn| {
                let now = now_ms();
                // Only the current holder, and only while its visibility lasts, may extend.
                let sql = if visibility.is_zero() {
                    "UPDATE queue_messages SET visible_at = ?2, receipt = NULL WHERE receipt = ?1 AND visible_at > ?2"
                } else {
                    "UPDATE queue_messages SET visible_at = ?2 + ?3 WHERE receipt = ?1 AND visible_at > ?2"
                };
                let n = if visibility.is_zero() {
                    conn.execute(sql, params![receipt, now])?
                } else {
                    conn.execute(sql, params![receipt, now, ms(visibility)])?
                };
                Ok(n)
            })
            .await?;
        if changed == 0 {
            return Err(QueueError::LostOwnership);
        }
        if visibility.is_zero() {
            self.sent.notify_waiters();
        }
        Ok(())
    }

    async fn dead_letter_count(&self) -> Result<u64, QueueError> {
        self.count("SELECT COUNT(*) FROM queue_dead_letters WHERE queue = ?1").await
    }

    async fn dead_letter(&self, receipt: &str, reason: &str) -> Result<(), QueueError> {
        let (receipt, reason) = (receipt.to_owned(), reason.to_owned());
        let moved = self
            .db
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let now = now_ms();
                let seq: Option<i64> = tx
                    .query_row(
                        "SELECT seq FROM queue_messages WHERE receipt = ?1 AND visible_at > ?2",
                        params![receipt, now],
                        |r| r.get(0),
                    )
                    .optional()?;
                let Some(seq) = seq else { return Ok(false) };
                tx.execute(
                    "INSERT INTO queue_dead_letters (queue, id, body, attributes, sent_at, receive_count, reason, dead_at)
                     SELECT queue, id, body, attributes, sent_at, receive_count, ?2, ?3 FROM queue_messages WHERE seq = ?1",
                    params![seq, reason, now],
                )?;
                tx.execute("DELETE FROM queue_messages WHERE seq = ?1", [seq])?;
                tx.commit()?;
                Ok(true)
            })
            .await
            ?;
        if moved { Ok(()) } else { Err(QueueError::LostOwnership) }
    }
}
