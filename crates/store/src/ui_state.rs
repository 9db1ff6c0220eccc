//! What the web UI keeps in the state database: user dashboards (a JSON body each, whose
//! widgets the server validates), rules switched on or off by people (the engine honours them
//! at the next ingest), and a summary of the files read per source.

use rusqlite::{params, Connection, OptionalExtension};

use crate::state::{sql, State};
use crate::Result;

/// A saved dashboard. `body` is its JSON (name, widgets); the store does not look inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardRow {
    pub id: String,
    pub body: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_by: String,
    pub updated_at: i64,
}

/// A rule switched on or off by someone, overriding the rule file's `enabled`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSwitch {
    pub rule_id: String,
    pub enabled: bool,
    pub by: String,
    pub at: i64,
}

/// The files read from one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSummary {
    /// `local`, or a bucket.
    pub source: String,
    pub files: u64,
    pub events: u64,
    /// Records that could not be read.
    pub errors: u64,
    /// Files that stopped early with an error.
    pub failed_files: u64,
    /// When the last file was recorded, and the newest modification time among them.
    pub last_done_at: Option<i64>,
    pub last_modified: Option<i64>,
    /// The latest fatal error of a file, with its path.
    pub last_error: Option<(String, String)>,
}

pub(crate) fn create_tables(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS dashboards (
             id TEXT PRIMARY KEY, body TEXT NOT NULL,
             created_by TEXT NOT NULL, created_at INTEGER NOT NULL,
             updated_by TEXT NOT NULL, updated_at INTEGER NOT NULL
         );
         CREATE TABLE IF NOT EXISTS rule_switches (
             rule_id TEXT PRIMARY KEY, enabled INTEGER NOT NULL, by TEXT NOT NULL, at INTEGER NOT NULL
         );",
    )
    .map_err(sql)
}

fn dashboard(r: &rusqlite::Row<'_>) -> rusqlite::Result<DashboardRow> {
    Ok(DashboardRow {
        id: r.get(0)?,
        body: r.get(1)?,
        created_by: r.get(2)?,
        created_at: r.get(3)?,
        updated_by: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

const DASHBOARD_COLUMNS: &str = "id, body, created_by, created_at, updated_by, updated_at";

impl State {
    /// Every saved dashboard, oldest first.
    pub fn dashboards(&self) -> Result<Vec<DashboardRow>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {DASHBOARD_COLUMNS} FROM dashboards ORDER BY created_at, id"))
            .map_err(sql)?;
        let rows = stmt.query_map([], dashboard).map_err(sql)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql)
    }

    pub fn dashboard(&self, id: &str) -> Result<Option<DashboardRow>> {
        self.conn
            .query_row(&format!("SELECT {DASHBOARD_COLUMNS} FROM dashboards WHERE id = ?1"), [id], dashboard)
            .optional()
            .map_err(sql)
    }

    /// Adds a dashboard, or replaces one's body (keeping who created it and when).
    pub fn put_dashboard(&self, row: &DashboardRow) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO dashboards (id, body, created_by, created_at, updated_by, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body,
                     updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                params![row.id, row.body, row.created_by, row.created_at, row.updated_by, row.updated_at],
            )
            .map_err(sql)?;
        Ok(())
    }

    /// Deletes a dashboard; false if there was none.
    pub fn delete_dashboard(&self, id: &str) -> Result<bool> {
        Ok(self.conn.execute("DELETE FROM dashboards WHERE id = ?1", [id]).map_err(sql)? > 0)
    }

    /// Every rule switched on or off by someone.
    pub fn rule_switches(&self) -> Result<Vec<RuleSwitch>> {
        let mut stmt =
            self.conn.prepare_cached("SELECT rule_id, enabled, by, at FROM rule_switches").map_err(sql)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(RuleSwitch { rule_id: r.get(0)?, enabled: r.get(1)?, by: r.get(2)?, at: r.get(3)? })
            })
            .map_err(sql)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql)
    }

    pub fn set_rule_switch(&self, s: &RuleSwitch) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO rule_switches (rule_id, enabled, by, at) VALUES (?1, ?2, ?3, ?4)",
                params![s.rule_id, s.enabled, s.by, s.at],
            )
            .map_err(sql)?;
        Ok(())
    }

    /// The files read, summed per source.
    pub fn source_summaries(&self) -> Result<Vec<SourceSummary>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT source, COUNT(*), COALESCE(SUM(events), 0), COALESCE(SUM(errors), 0),
                        SUM(error IS NOT NULL), MAX(done_at), MAX(modified)
                 FROM files GROUP BY source ORDER BY source",
            )
            .map_err(sql)?;
        let mut out = stmt
            .query_map([], |r| {
                Ok(SourceSummary {
                    source: r.get(0)?,
                    files: r.get::<_, i64>(1)? as u64,
                    events: r.get::<_, i64>(2)? as u64,
                    errors: r.get::<_, i64>(3)? as u64,
                    failed_files: r.get::<_, i64>(4)? as u64,
                    last_done_at: r.get(5)?,
                    last_modified: r.get(6)?,
                    last_error: None,
                })
            })
            .map_err(sql)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql)?;
        for s in &mut out {
            s.last_error = self
                .conn
                .query_row(
                    "SELECT path, error FROM files WHERE source = ?1 AND error IS NOT NULL
                     ORDER BY done_at DESC LIMIT 1",
                    [&s.source],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(sql)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FileRecord;

    fn state() -> (tempfile::TempDir, State) {
        let dir = tempfile::tempdir().unwrap();
        let s = State::open(&dir.path().join("state.sqlite")).unwrap();
        (dir, s)
    }

    #[test]
    fn dashboards_are_added_replaced_and_deleted() {
        let (_d, s) = state();
        let row = |body: &str, by: &str, at| DashboardRow {
            id: "d1".into(),
            body: body.into(),
            created_by: by.into(),
            created_at: at,
            updated_by: by.into(),
            updated_at: at,
        };
        s.put_dashboard(&row("{\"a\":1}", "alice", 10)).unwrap();
        s.put_dashboard(&row("{\"a\":2}", "bob", 20)).unwrap();
        let got = s.dashboard("d1").unwrap().unwrap();
        assert_eq!((got.body.as_str(), got.created_by.as_str(), got.created_at), ("{\"a\":2}", "alice", 10));
        assert_eq!((got.updated_by.as_str(), got.updated_at), ("bob", 20));
        assert_eq!(s.dashboards().unwrap().len(), 1);
        assert!(s.delete_dashboard("d1").unwrap());
        assert!(!s.delete_dashboard("d1").unwrap());
        assert!(s.dashboard("d1").unwrap().is_none());
    }

    #[test]
    fn rule_switches_replace_each_other() {
        let (_d, s) = state();
        s.set_rule_switch(&RuleSwitch { rule_id: "r".into(), enabled: false, by: "a".into(), at: 1 })
            .unwrap();
        s.set_rule_switch(&RuleSwitch { rule_id: "r".into(), enabled: true, by: "b".into(), at: 2 }).unwrap();
        assert_eq!(
            s.rule_switches().unwrap(),
            vec![RuleSwitch { rule_id: "r".into(), enabled: true, by: "b".into(), at: 2 }]
        );
    }

    #[test]
    fn sources_sum_their_files() {
        let (_d, mut s) = state();
        let f = |path: &str, events, errors, error: Option<&str>, done_at| FileRecord {
            source: "local".into(),
            path: path.into(),
            size: 1,
            modified: done_at - 5,
            events,
            errors,
            error: error.map(str::to_owned),
            done_at,
        };
        s.record_files(&[f("a", 10, 0, None, 100), f("b", 5, 2, Some("truncated gzip"), 200)]).unwrap();
        let got = s.source_summaries().unwrap();
        assert_eq!(got.len(), 1);
        let g = &got[0];
        assert_eq!((g.files, g.events, g.errors, g.failed_files), (2, 15, 2, 1));
        assert_eq!((g.last_done_at, g.last_modified), (Some(200), Some(195)));
        assert_eq!(g.last_error, Some(("b".into(), "truncated gzip".into())));
    }
}
