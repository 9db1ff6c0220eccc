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

pub struct State {
    conn: Connection,
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
             );",
        )
        .map_err(sql)?;
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
        let tx = self.conn.transaction().map_err(sql)?;
        {
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
        }
        tx.commit().map_err(sql)
    }

    /// How many files are recorded.
    pub fn file_count(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM files", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(sql)
    }
}

fn sql(e: rusqlite::Error) -> Error {
    Error::State(e.to_string())
}
