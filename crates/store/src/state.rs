//! Durable state beside the index, in SQLite: which files were read, when and with what result.
//! A file is recorded only after the events read from it are committed to the store.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use crate::{Error, Result};

/// What is remembered of a file that was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    /// Where the file came from: `local`, or later an S3 bucket.
    pub source: String,
    /// The path or key.
    pub path: String,
    pub size: u64,
    /// Modification time (local files) or another version marker, in milliseconds.
    pub modified: i64,
    pub events: u64,
    pub errors: u64,
    /// The first fatal error, when the file could not be read to its end.
    pub error: Option<String>,
    /// When it was recorded, in milliseconds since the epoch.
    pub done_at: i64,
}

/// A signal as stored: the columns it is looked up by, and its whole body (JSON). The store
/// does not know what a signal is; the detection crate does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalRow {
    pub id: String,
    pub rule_id: String,
    pub group: String,
    pub status: String,
    /// 0 (info) to 4 (critical).
    pub severity: i64,
    pub first_seen: i64,
    pub last_seen: i64,
    pub body: String,
}

/// A notification to send for a signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub signal_id: String,
    /// `trigger` or `resolve`.
    pub action: String,
    /// The signal as it was (JSON).
    pub body: String,
    pub created_at: i64,
}

/// A notification a channel could not take after every retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterRow {
    pub channel: String,
    pub signal_id: String,
    pub body: String,
    pub error: String,
    pub attempts: u32,
    pub at: i64,
}

/// What a checkpoint records.
#[derive(Debug, Clone, Copy, Default)]
pub struct Checkpoint<'a> {
    pub files: &'a [FileRecord],
    pub signals: &'a [SignalRow],
    /// (rule id, saved state)
    pub rule_states: &'a [(String, String)],
    pub outbox: &'a [OutboxRow],
    /// Hashes of the events whose detection results this checkpoint saves before the store has
    /// committed them (`id_hash`); replaces the pending batch.
    pub pending: Option<&'a [u64]>,
    /// The store committed: the pending batch is stored, forget it.
    pub clear_pending: bool,
}

/// Which signals to list.
#[derive(Debug, Clone, Default)]
pub struct SignalFilter {
    pub status: Option<String>,
    /// Last seen at or after (milliseconds).
    pub since: i64,
    pub min_severity: i64,
    pub rule_id: Option<String>,
    pub limit: usize,
}

pub struct State {
    pub(crate) conn: Connection,
}

impl State {
    pub fn open(path: &Path) -> Result<State> {
        let conn = Connection::open(path).map_err(|e| Error::State(format!("{}: {e}", path.display())))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=NORMAL;
             PRAGMA busy_timeout=10000;
             CREATE TABLE IF NOT EXISTS files (
                 source TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL,
                 modified INTEGER NOT NULL, events INTEGER NOT NULL, errors INTEGER NOT NULL,
                 error TEXT, done_at INTEGER NOT NULL,
                 PRIMARY KEY (source, path)
             );
             CREATE TABLE IF NOT EXISTS signals (
                 id TEXT PRIMARY KEY, rule_id TEXT NOT NULL, group_key TEXT NOT NULL,
                 status TEXT NOT NULL, severity INTEGER NOT NULL,
                 first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, body TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS signals_by_group ON signals (rule_id, group_key, status);
             CREATE INDEX IF NOT EXISTS signals_by_time ON signals (last_seen);
             CREATE TABLE IF NOT EXISTS rule_state (rule_id TEXT PRIMARY KEY, body TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS detect_pending (id INTEGER PRIMARY KEY CHECK (id = 1), ids BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS outbox (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT, signal_id TEXT NOT NULL,
                 action TEXT NOT NULL, body TEXT NOT NULL, created_at INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS dead_letters (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, signal_id TEXT NOT NULL,
                 body TEXT NOT NULL, error TEXT NOT NULL, attempts INTEGER NOT NULL, at INTEGER NOT NULL
             );",
        )
        .map_err(sql)?;
        crate::users::create_tables(&conn)?;
        crate::sources::create_tables(&conn)?;
        crate::ui_state::create_tables(&conn)?;
        Ok(State { conn })
    }

    /// The record of a file, if it was read before.
    pub fn file(&self, source: &str, path: &str) -> Result<Option<FileRecord>> {
        self.conn
            .query_row(
                "SELECT size, modified, events, errors, error, done_at FROM files WHERE source = ?1 AND path = ?2",
                params![source, path],
                |r| {
                    Ok(FileRecord {
                        source: source.to_owned(),
                        path: path.to_owned(),
                        size: r.get::<_, i64>(0)? as u64,
                        modified: r.get(1)?,
                        events: r.get::<_, i64>(2)? as u64,
                        errors: r.get::<_, i64>(3)? as u64,
                        error: r.get(4)?,
                        done_at: r.get(5)?,
                    })
                },
            )
            .optional()
            .map_err(sql)
    }

    /// Records files as read, in one transaction.
    pub fn record_files(&mut self, files: &[FileRecord]) -> Result<()> {
        self.checkpoint(&Checkpoint { files, ..Checkpoint::default() })
    }

    /// Records, in one transaction, files as read together with what detection made of their
    /// events: signals, rule state and notifications to send. Either all of it is kept or none.
    pub fn checkpoint(&mut self, cp: &Checkpoint<'_>) -> Result<()> {
        let tx = self.conn.transaction().map_err(sql)?;
        {
            let files = cp.files;
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO files (source, path, size, modified, events, errors, error, done_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(sql)?;
            for f in files {
                stmt.execute(params![
                    f.source,
                    f.path,
                    f.size as i64,
                    f.modified,
                    f.events as i64,
                    f.errors as i64,
                    f.error,
                    f.done_at
                ])
                .map_err(sql)?;
            }
            for row in cp.signals {
                put_signal(&tx, row)?;
            }
            let mut stmt = tx
                .prepare_cached("INSERT OR REPLACE INTO rule_state (rule_id, body) VALUES (?1, ?2)")
                .map_err(sql)?;
            for (rule, body) in cp.rule_states {
                stmt.execute(params![rule, body]).map_err(sql)?;
            }
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO outbox (signal_id, action, body, created_at) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(sql)?;
            for o in cp.outbox {
                stmt.execute(params![o.signal_id, o.action, o.body, o.created_at]).map_err(sql)?;
            }
            if let Some(ids) = cp.pending {
                let blob: Vec<u8> = ids.iter().flat_map(|h| h.to_le_bytes()).collect();
                tx.execute("INSERT OR REPLACE INTO detect_pending (id, ids) VALUES (1, ?1)", params![blob])
                    .map_err(sql)?;
            }
            if cp.clear_pending {
                tx.execute("DELETE FROM detect_pending", []).map_err(sql)?;
            }
        }
        tx.commit().map_err(sql)
    }

    /// Events whose detection results were saved before the store committed them: if the
    /// process died in between, a re-run adds them again and must not detect them twice.
    pub fn detected_pending(&self) -> Result<Vec<u64>> {
        let blob: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT ids FROM detect_pending WHERE id = 1", [], |r| r.get(0))
            .optional()
            .map_err(sql)?;
        Ok(blob
            .unwrap_or_default()
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect())
    }

    /// The signal of a rule and group that is not resolved, if any (the latest).
    pub fn open_signal(&self, rule_id: &str, group: &str) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT body FROM signals WHERE rule_id = ?1 AND group_key = ?2 AND status != 'resolved'
                 ORDER BY last_seen DESC LIMIT 1",
                params![rule_id, group],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)
    }

    pub fn signal(&self, id: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT body FROM signals WHERE id = ?1", params![id], |r| r.get(0))
            .optional()
            .map_err(sql)
    }

    /// Signals, latest first.
    pub fn signals(&self, filter: &SignalFilter) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT body FROM signals
                 WHERE (?1 IS NULL OR status = ?1) AND last_seen >= ?2 AND severity >= ?3
                   AND (?4 IS NULL OR rule_id = ?4)
                 ORDER BY last_seen DESC, id LIMIT ?5",
            )
            .map_err(sql)?;
        let rows = stmt
            .query_map(
                params![
                    filter.status,
                    filter.since,
                    filter.min_severity,
                    filter.rule_id,
                    filter.limit as i64
                ],
                |r| r.get(0),
            )
            .map_err(sql)?;
        rows.collect::<rusqlite::Result<Vec<String>>>().map_err(sql)
    }

    /// How many signals there are of each status: (status, count), by status.
    pub fn signal_counts(&self) -> Result<Vec<(String, u64)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT status, COUNT(*) FROM signals GROUP BY status ORDER BY status")
            .map_err(sql)?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))).map_err(sql)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql)
    }

    /// Stores one signal (a status change), with a notification to send when given.
    pub fn update_signal(&mut self, row: &SignalRow, outbox: Option<&OutboxRow>) -> Result<()> {
        let tx = self.conn.transaction().map_err(sql)?;
        put_signal(&tx, row)?;
        if let Some(o) = outbox {
            tx.execute(
                "INSERT INTO outbox (signal_id, action, body, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![o.signal_id, o.action, o.body, o.created_at],
            )
            .map_err(sql)?;
        }
        tx.commit().map_err(sql)
    }

    /// The saved state of every rule: (rule id, body).
    pub fn rule_states(&self) -> Result<Vec<(String, String)>> {
        let mut stmt =
            self.conn.prepare("SELECT rule_id, body FROM rule_state ORDER BY rule_id").map_err(sql)?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(sql)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql)
    }

    /// Notifications waiting to be sent, oldest first: (sequence number, row).
    pub fn outbox(&self, limit: usize) -> Result<Vec<(i64, OutboxRow)>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, signal_id, action, body, created_at FROM outbox ORDER BY seq LIMIT ?1",
            )
            .map_err(sql)?;
        let rows = stmt
            .query_map(params![limit as i64], |r| {
                Ok((
                    r.get(0)?,
                    OutboxRow {
                        signal_id: r.get(1)?,
                        action: r.get(2)?,
                        body: r.get(3)?,
                        created_at: r.get(4)?,
                    },
                ))
            })
            .map_err(sql)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql)
    }

    /// A notification is done with: delivered, or given up on with dead letters recorded.
    pub fn outbox_done(&mut self, seq: i64, dead: &[DeadLetterRow]) -> Result<()> {
        let tx = self.conn.transaction().map_err(sql)?;
        for d in dead {
            tx.execute(
                "INSERT INTO dead_letters (channel, signal_id, body, error, attempts, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![d.channel, d.signal_id, d.body, d.error, d.attempts as i64, d.at],
            )
            .map_err(sql)?;
        }
        tx.execute("DELETE FROM outbox WHERE seq = ?1", params![seq]).map_err(sql)?;
        tx.commit().map_err(sql)
    }

    pub fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetterRow>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT channel, signal_id, body, error, attempts, at FROM dead_letters ORDER BY seq DESC LIMIT ?1",
            )
            .map_err(sql)?;
        let rows = stmt
            .query_map(params![limit as i64], |r| {
                Ok(DeadLetterRow {
                    channel: r.get(0)?,
                    signal_id: r.get(1)?,
                    body: r.get(2)?,
                    error: r.get(3)?,
                    attempts: r.get::<_, i64>(4)? as u32,
                    at: r.get(5)?,
                })
            })
            .map_err(sql)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql)
    }

    /// How many files are recorded.
    pub fn file_count(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM files", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(sql)
    }
}

fn put_signal(tx: &rusqlite::Transaction<'_>, row: &SignalRow) -> Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO signals (id, rule_id, group_key, status, severity, first_seen, last_seen, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .map_err(sql)?
    .execute(params![row.id, row.rule_id, row.group, row.status, row.severity, row.first_seen, row.last_seen, row.body])
    .map_err(sql)?;
    Ok(())
}

pub(crate) fn sql(e: rusqlite::Error) -> Error {
    Error::State(e.to_string())
}
