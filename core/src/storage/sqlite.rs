//! [`SessionStore`] on SQLite (bundled), one connection behind a mutex: a
//! single writer, so concurrent sessions never see "database is locked".
//! WAL journal with `synchronous=FULL`: a committed key survives a crash or
//! a kill at any instant.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use rusqlite::{params, Connection, OptionalExtension};

use super::{DcOption, DcState, SessionStore, StorageError, StoredSalt};
use crate::crypto::AuthKey;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS dc (
    dc_id        INTEGER PRIMARY KEY,
    auth_key     BLOB    NOT NULL CHECK (length(auth_key) = 256),
    salt         INTEGER NOT NULL,
    time_offset  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS future_salt (
    dc_id        INTEGER NOT NULL REFERENCES dc(dc_id) ON DELETE CASCADE,
    valid_since  INTEGER NOT NULL,
    valid_until  INTEGER NOT NULL,
    salt         INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dc_option (
    dc_id        INTEGER NOT NULL,
    address      TEXT    NOT NULL,
    port         INTEGER NOT NULL,
    media        INTEGER NOT NULL,
    test         INTEGER NOT NULL
);
";

/// SQLite-backed store.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: String,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        let path_str = path.as_ref().display().to_string();
        let conn = Connection::open(path)?;
        Self::init(conn, path_str)
    }

    /// The store of the database at `path`, shared: every caller naming the
    /// same file (by any spelling of its path) while one is alive gets the
    /// same store, hence one SQLite connection, one page cache and one
    /// writer for all its sessions, and sessions opened at once on it create
    /// one key per DC between them (see `net`). Bindings open stores this
    /// way.
    pub fn shared(path: impl AsRef<Path>) -> Result<Arc<SqliteStore>, StorageError> {
        static OPEN: OnceLock<Mutex<HashMap<PathBuf, Weak<SqliteStore>>>> = OnceLock::new();
        let key = canonical(path.as_ref());
        let mut open = OPEN
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(store) = open.get(&key).and_then(Weak::upgrade) {
            return Ok(store);
        }
        // Opening under the registry's lock: two first openers of one path
        // cannot both create a connection.
        let store = Arc::new(SqliteStore::open(path)?);
        open.retain(|_, w| w.strong_count() > 0);
        open.insert(key, Arc::downgrade(&store));
        Ok(store)
    }

    /// An in-memory database (tests).
    pub fn open_in_memory() -> Result<Self, StorageError> {
        Self::init(Connection::open_in_memory()?, ":memory:".into())
    }

    fn init(conn: Connection, path: String) -> Result<Self, StorageError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            path,
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `path` made absolute with symlinks resolved; the file itself may not
/// exist yet (its directory must, for SQLite to create it).
fn canonical(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match (std::fs::canonicalize(parent), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
}

fn write_salts(
    tx: &rusqlite::Transaction<'_>,
    dc_id: i32,
    future: &[StoredSalt],
) -> Result<(), StorageError> {
    tx.execute("DELETE FROM future_salt WHERE dc_id = ?1", params![dc_id])?;
    let mut stmt = tx.prepare_cached(
        "INSERT INTO future_salt (dc_id, valid_since, valid_until, salt) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for s in future {
        stmt.execute(params![dc_id, s.valid_since, s.valid_until, s.salt])?;
    }
    Ok(())
}

impl SessionStore for SqliteStore {
    fn load(&self, dc_id: i32) -> Result<Option<DcState>, StorageError> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "SELECT auth_key, salt, time_offset FROM dc WHERE dc_id = ?1",
                params![dc_id],
                |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                },
            )
            .optional()?;
        let Some((key, salt, time_offset)) = row else {
            return Ok(None);
        };
        let auth_key = AuthKey::from_slice(&key)
            .map_err(|e| StorageError::Corrupt(format!("auth key of dc {dc_id}: {e}")))?;
        let mut stmt = conn.prepare_cached(
            "SELECT valid_since, valid_until, salt FROM future_salt WHERE dc_id = ?1 ORDER BY valid_since",
        )?;
        let future_salts = stmt
            .query_map(params![dc_id], |r| {
                Ok(StoredSalt {
                    valid_since: r.get(0)?,
                    valid_until: r.get(1)?,
                    salt: r.get(2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(DcState {
            dc_id,
            auth_key,
            salt,
            future_salts,
            time_offset,
        }))
    }

    fn save(&self, state: &DcState) -> Result<(), StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO dc (dc_id, auth_key, salt, time_offset) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(dc_id) DO UPDATE SET auth_key = excluded.auth_key,
                 salt = excluded.salt, time_offset = excluded.time_offset",
            params![
                state.dc_id,
                &state.auth_key.as_bytes()[..],
                state.salt,
                state.time_offset
            ],
        )?;
        write_salts(&tx, state.dc_id, &state.future_salts)?;
        tx.commit()?;
        Ok(())
    }

    fn save_salts(&self, dc_id: i32, salt: i64, future: &[StoredSalt]) -> Result<(), StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "UPDATE dc SET salt = ?2 WHERE dc_id = ?1",
            params![dc_id, salt],
        )?;
        if n > 0 {
            write_salts(&tx, dc_id, future)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn save_time_offset(&self, dc_id: i32, offset: i64) -> Result<(), StorageError> {
        self.conn().execute(
            "UPDATE dc SET time_offset = ?2 WHERE dc_id = ?1",
            params![dc_id, offset],
        )?;
        Ok(())
    }

    fn delete(&self, dc_id: i32) -> Result<(), StorageError> {
        self.conn()
            .execute("DELETE FROM dc WHERE dc_id = ?1", params![dc_id])?;
        Ok(())
    }

    fn dc_options(&self) -> Result<Vec<DcOption>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT dc_id, address, port, media, test FROM dc_option ORDER BY rowid",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(DcOption {
                    dc_id: r.get(0)?,
                    address: r.get(1)?,
                    port: r.get(2)?,
                    media: r.get(3)?,
                    test: r.get(4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn save_dc_options(&self, options: &[DcOption]) -> Result<(), StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM dc_option", [])?;
        for o in options {
            tx.execute(
                "INSERT INTO dc_option (dc_id, address, port, media, test) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![o.dc_id, o.address, o.port, o.media, o.test],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sample_state;
    use std::sync::Arc;

    fn tmp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("mtproto-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("store.db")
    }

    #[test]
    fn sqlite_store_behaves_like_memory_store() {
        crate::storage::tests_exercise(&SqliteStore::open_in_memory().unwrap());
        let path = tmp("basic");
        let store = SqliteStore::open(&path).unwrap();
        crate::storage::tests_exercise(&store);
        // Reopening sees committed data.
        store.save(&sample_state(4, 1)).unwrap();
        drop(store);
        let again = SqliteStore::open(&path).unwrap();
        assert_eq!(again.load(4).unwrap(), Some(sample_state(4, 1)));
    }

    /// One writer shared by many threads: never "database is locked".
    #[test]
    fn concurrent_writers_do_not_lock() {
        let store = Arc::new(SqliteStore::open(tmp("concurrent")).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        store.save(&sample_state(t, i as u8)).unwrap();
                        store.save_salts(t, i, &[]).unwrap();
                        store.load(t).unwrap().unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        for t in 0..8 {
            assert_eq!(store.load(t).unwrap().unwrap().salt, 49);
        }
    }

    /// A corrupt key row is a typed error, not a panic.
    #[test]
    fn shared_stores_are_one_per_file() {
        let path = tmp("shared");
        let a = SqliteStore::shared(&path).unwrap();
        let dir = path.parent().unwrap();
        let other_spelling = dir.join(".").join(path.file_name().unwrap());
        let b = SqliteStore::shared(&other_spelling).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "one store per file");
        let c = SqliteStore::shared(tmp("shared-other")).unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        drop((a, b));
        // Once every holder is gone, the next opener gets a fresh one.
        let d = SqliteStore::shared(&path).unwrap();
        assert_eq!(Arc::strong_count(&d), 1);
    }

    #[test]
    fn corrupt_key_is_an_error() {
        let store = SqliteStore::open_in_memory().unwrap();
        store.save(&sample_state(1, 1)).unwrap();
        store
            .conn()
            .execute_batch("PRAGMA ignore_check_constraints = ON; UPDATE dc SET auth_key = x'00'")
            .unwrap();
        assert!(matches!(store.load(1), Err(StorageError::Corrupt(_))));
    }

    /// The child side of the kill test: writes keys in a loop until killed.
    #[test]
    #[ignore = "run by sqlite_survives_kill_mid_write as a child process"]
    fn child_writer_loop() {
        let Ok(path) = std::env::var("MTPROTO_KILL_TEST_DB") else {
            return;
        };
        let store = SqliteStore::open(&path).unwrap();
        for i in 0u32.. {
            store.save(&sample_state(1, (i % 251) as u8)).unwrap();
            store
                .save_salts(
                    1,
                    i as i64,
                    &[StoredSalt {
                        valid_since: i as i32,
                        valid_until: i as i32 + 1,
                        salt: i as i64,
                    }],
                )
                .unwrap();
            if i == 20 {
                // Tell the parent that writes are under way.
                std::fs::write(format!("{path}.ready"), b"1").unwrap();
            }
        }
    }

    /// The store survives the process being killed mid-write: after a
    /// SIGKILL the database opens, passes integrity_check, and holds a
    /// complete key.
    #[test]
    fn sqlite_survives_kill_mid_write() {
        let path = tmp("kill");
        let exe = std::env::current_exe().unwrap();
        for round in 0..3 {
            let _ = std::fs::remove_file(format!("{}.ready", path.display()));
            let mut child = std::process::Command::new(&exe)
                .args([
                    "storage::sqlite::tests::child_writer_loop",
                    "--exact",
                    "--ignored",
                    "--test-threads=1",
                ])
                .env("MTPROTO_KILL_TEST_DB", &path)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while !std::path::Path::new(&format!("{}.ready", path.display())).exists() {
                assert!(std::time::Instant::now() < deadline, "child never wrote");
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            std::thread::sleep(std::time::Duration::from_millis(30 + round * 17));
            child.kill().unwrap(); // SIGKILL on Unix
            child.wait().unwrap();
            let store = SqliteStore::open(&path).unwrap();
            let ok: String = store
                .conn()
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .unwrap();
            assert_eq!(ok, "ok");
            let state = store.load(1).unwrap().expect("a committed key");
            let fill = state.auth_key.as_bytes()[0];
            assert!(
                state.auth_key.as_bytes().iter().all(|&b| b == fill),
                "torn key"
            );
        }
    }
}
