//! Optional persistence of permanent auth keys (SQLite), so a client's
//! stored key stays valid when the data center restarts.

use std::path::Path;
use std::sync::Mutex;

use mtproto::crypto::AuthKey;
use rusqlite::{params, Connection};

pub(crate) struct KeyDb {
    conn: Mutex<Connection>,
}

impl KeyDb {
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS server_key (
                 auth_key_id INTEGER PRIMARY KEY,
                 auth_key    BLOB NOT NULL CHECK (length(auth_key) = 256),
                 first_salt  INTEGER NOT NULL
             )",
        )?;
        Ok(KeyDb {
            conn: Mutex::new(conn),
        })
    }

    pub fn save(&self, key: &AuthKey, first_salt: i64) -> rusqlite::Result<()> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        conn.execute(
            "INSERT OR REPLACE INTO server_key (auth_key_id, auth_key, first_salt) VALUES (?1, ?2, ?3)",
            params![key.id_i64(), &key.as_bytes()[..], first_salt],
        )?;
        Ok(())
    }

    /// Every stored key; rows that do not hold a valid key are skipped.
    pub fn load_all(&self) -> rusqlite::Result<Vec<(AuthKey, i64)>> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut stmt = conn.prepare("SELECT auth_key, first_salt FROM server_key")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (bytes, salt) = row?;
            if let Ok(key) = AuthKey::from_slice(&bytes) {
                out.push((key, salt));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::LocalDc;
    use mtproto::crypto::AuthKey;

    /// Permanent keys survive a restart when a key db is configured.
    #[test]
    fn permanent_keys_survive_restart() {
        let dir = std::env::temp_dir().join(format!("localdc-keydb-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys.db");
        let dc = LocalDc::builder().key_db(&path).start_on_thread().unwrap();
        assert!(dc.add_auth_key(AuthKey::from_bytes(&[7; 256]), 99));
        dc.shutdown();
        let dc = LocalDc::builder().key_db(&path).start_on_thread().unwrap();
        assert_eq!(dc.auth_key_count(), 1);
        dc.shutdown();
        let dc = LocalDc::builder().start_on_thread().unwrap();
        assert_eq!(dc.auth_key_count(), 0);
        dc.shutdown();
    }
}
