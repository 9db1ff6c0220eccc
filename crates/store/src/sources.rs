//! State kept by live sources (S3 listing cursors, per-trail health): small JSON documents by
//! kind and key, owned and interpreted by the source that writes them (trailwatch-aws).

use rusqlite::{params, Connection, OptionalExtension};

use crate::state::{sql, State};
use crate::Result;

pub(crate) fn create_tables(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS source_state (
             kind TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL,
             PRIMARY KEY (kind, key)
         );",
    )
    .map_err(sql)
}

impl State {
    /// A source's document of `kind` under `key`, if any.
    pub fn source_get(&self, kind: &str, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT body FROM source_state WHERE kind = ?1 AND key = ?2",
                params![kind, key],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)
    }

    /// Replaces documents of `kind`, in one transaction.
    pub fn source_put(&mut self, kind: &str, docs: &[(String, String)]) -> Result<()> {
        let tx = self.conn.transaction().map_err(sql)?;
        {
            let mut stmt = tx
                .prepare("INSERT OR REPLACE INTO source_state (kind, key, body) VALUES (?1, ?2, ?3)")
                .map_err(sql)?;
            for (key, body) in docs {
                stmt.execute(params![kind, key, body]).map_err(sql)?;
            }
        }
        tx.commit().map_err(sql)
    }

    /// Every document of `kind`, by key.
    pub fn source_list(&self, kind: &str) -> Result<Vec<(String, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, body FROM source_state WHERE kind = ?1 ORDER BY key")
            .map_err(sql)?;
        let rows = stmt
            .query_map(params![kind], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(sql)?
            .collect::<rusqlite::Result<Vec<(String, String)>>>()
            .map_err(sql)?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_kept_by_kind_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = State::open(&dir.path().join("s.sqlite")).unwrap();
        assert_eq!(state.source_get("cursor", "a").unwrap(), None);
        state.source_put("cursor", &[("a".into(), "1".into()), ("b".into(), "2".into())]).unwrap();
        state.source_put("cursor", &[("a".into(), "3".into())]).unwrap();
        state.source_put("health", &[("a".into(), "h".into())]).unwrap();
        assert_eq!(state.source_get("cursor", "a").unwrap().as_deref(), Some("3"));
        assert_eq!(
            state.source_list("cursor").unwrap(),
            vec![("a".to_owned(), "3".to_owned()), ("b".to_owned(), "2".to_owned())]
        );
    }
}
