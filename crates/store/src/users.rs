//! Who may use the HTTP API: local users with their password hashes, login sessions and API
//! tokens, in the state database. The store keeps what it is given: hashing passwords, session
//! ids and tokens is the server's business, so that a copy of the database lets no one log in.

use rusqlite::{params, Connection, OptionalExtension};

use crate::state::{sql, State};
use crate::Result;

/// A user as listed (the password hash is read only by [`State::password_hash`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub username: String,
    pub created_at: i64,
    /// How many API tokens the user has.
    pub tokens: u64,
}

/// A login session. Only a hash of the session id (the cookie's value) is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id_hash: String,
    pub username: String,
    /// The token that state-changing requests of this session must send in a header.
    pub csrf: String,
    pub created_at: i64,
    /// The session is refused from this time on (milliseconds).
    pub expires_at: i64,
}

/// An API token. Only a hash of the token is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub id_hash: String,
    pub username: String,
    /// What the token is for, as its creator said.
    pub name: String,
    pub created_at: i64,
}

pub(crate) fn create_tables(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS users (
             username TEXT PRIMARY KEY, password_hash TEXT NOT NULL, created_at INTEGER NOT NULL
         );
         CREATE TABLE IF NOT EXISTS sessions (
             id_hash TEXT PRIMARY KEY, username TEXT NOT NULL, csrf TEXT NOT NULL,
             created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL
         );
         CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (username);
         CREATE TABLE IF NOT EXISTS api_tokens (
             id_hash TEXT PRIMARY KEY, username TEXT NOT NULL, name TEXT NOT NULL,
             created_at INTEGER NOT NULL
         );
         CREATE INDEX IF NOT EXISTS api_tokens_by_user ON api_tokens (username);",
    )
    .map_err(sql)
}

impl State {
    /// Adds a user; false when the name is taken (nothing changes then).
    pub fn add_user(&self, username: &str, password_hash: &str, now: i64) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO users (username, password_hash, created_at) VALUES (?1, ?2, ?3)",
                params![username, password_hash, now],
            )
            .map_err(sql)?;
        Ok(n == 1)
    }

    /// Replaces a user's password hash and ends the user's sessions; false when there is no
    /// such user.
    pub fn set_password(&mut self, username: &str, password_hash: &str) -> Result<bool> {
        let tx = self.conn.transaction().map_err(sql)?;
        let n = tx
            .execute(
                "UPDATE users SET password_hash = ?2 WHERE username = ?1",
                params![username, password_hash],
            )
            .map_err(sql)?;
        tx.execute("DELETE FROM sessions WHERE username = ?1", params![username]).map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(n == 1)
    }

    pub fn password_hash(&self, username: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT password_hash FROM users WHERE username = ?1", params![username], |r| r.get(0))
            .optional()
            .map_err(sql)
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<UserRow>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT u.username, u.created_at,
                        (SELECT COUNT(*) FROM api_tokens t WHERE t.username = u.username)
                 FROM users u ORDER BY u.username",
            )
            .map_err(sql)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(UserRow { username: r.get(0)?, created_at: r.get(1)?, tokens: r.get::<_, i64>(2)? as u64 })
            })
            .map_err(sql)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql)
    }

    pub fn user_count(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM users", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(sql)
    }

    /// Deletes a user with their sessions and API tokens; false when there is no such user.
    pub fn delete_user(&mut self, username: &str) -> Result<bool> {
        let tx = self.conn.transaction().map_err(sql)?;
        tx.execute("DELETE FROM sessions WHERE username = ?1", params![username]).map_err(sql)?;
        tx.execute("DELETE FROM api_tokens WHERE username = ?1", params![username]).map_err(sql)?;
        let n = tx.execute("DELETE FROM users WHERE username = ?1", params![username]).map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(n == 1)
    }

    /// Records a new session, and forgets the sessions that expired before `row.created_at`.
    pub fn add_session(&self, row: &SessionRow) -> Result<()> {
        self.conn
            .execute("DELETE FROM sessions WHERE expires_at <= ?1", params![row.created_at])
            .map_err(sql)?;
        self.conn
            .execute(
                "INSERT INTO sessions (id_hash, username, csrf, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![row.id_hash, row.username, row.csrf, row.created_at, row.expires_at],
            )
            .map_err(sql)?;
        Ok(())
    }

    /// The session with this id hash, unless it expired by `now` or its user was deleted.
    pub fn session(&self, id_hash: &str, now: i64) -> Result<Option<SessionRow>> {
        self.conn
            .query_row(
                "SELECT s.username, s.csrf, s.created_at, s.expires_at FROM sessions s
                 JOIN users u ON u.username = s.username
                 WHERE s.id_hash = ?1 AND s.expires_at > ?2",
                params![id_hash, now],
                |r| {
                    Ok(SessionRow {
                        id_hash: id_hash.to_owned(),
                        username: r.get(0)?,
                        csrf: r.get(1)?,
                        created_at: r.get(2)?,
                        expires_at: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(sql)
    }

    pub fn delete_session(&self, id_hash: &str) -> Result<()> {
        self.conn.execute("DELETE FROM sessions WHERE id_hash = ?1", params![id_hash]).map_err(sql)?;
        Ok(())
    }

    pub fn add_token(&self, row: &TokenRow) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO api_tokens (id_hash, username, name, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![row.id_hash, row.username, row.name, row.created_at],
            )
            .map_err(sql)?;
        Ok(())
    }

    /// The token with this hash, unless its user was deleted.
    pub fn token(&self, id_hash: &str) -> Result<Option<TokenRow>> {
        self.conn
            .query_row(
                "SELECT t.username, t.name, t.created_at FROM api_tokens t
                 JOIN users u ON u.username = t.username WHERE t.id_hash = ?1",
                params![id_hash],
                |r| {
                    Ok(TokenRow {
                        id_hash: id_hash.to_owned(),
                        username: r.get(0)?,
                        name: r.get(1)?,
                        created_at: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_sessions_and_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = State::open(&dir.path().join("state.sqlite")).unwrap();
        assert_eq!(state.user_count().unwrap(), 0);
        assert!(state.add_user("alice", "hash1", 1).unwrap());
        assert!(!state.add_user("alice", "other", 2).unwrap(), "a name is taken once");
        assert_eq!(state.password_hash("alice").unwrap().as_deref(), Some("hash1"));
        let session = SessionRow {
            id_hash: "s1".into(),
            username: "alice".into(),
            csrf: "c".into(),
            created_at: 10,
            expires_at: 100,
        };
        state.add_session(&session).unwrap();
        assert_eq!(state.session("s1", 50).unwrap(), Some(session.clone()));
        assert_eq!(state.session("s1", 100).unwrap(), None, "expired");
        let token =
            TokenRow { id_hash: "t1".into(), username: "alice".into(), name: "ci".into(), created_at: 5 };
        state.add_token(&token).unwrap();
        assert_eq!(state.token("t1").unwrap(), Some(token));
        assert_eq!(
            state.users().unwrap(),
            vec![UserRow { username: "alice".into(), created_at: 1, tokens: 1 }]
        );
        assert!(state.set_password("alice", "hash2").unwrap());
        assert_eq!(state.session("s1", 50).unwrap(), None, "a new password ends the sessions");
        state.add_session(&session).unwrap();
        assert!(state.delete_user("alice").unwrap());
        assert!(!state.delete_user("alice").unwrap());
        assert_eq!(state.session("s1", 50).unwrap(), None);
        assert_eq!(state.token("t1").unwrap(), None);
    }
}
