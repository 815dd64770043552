//! Persistent session state: per-DC auth keys, salts, time offsets and DC
//! options, in memory or in SQLite.
//!
//! The rule that matters: a new auth key is written, in a committed
//! transaction, *before* the session uses it (ARCHITECTURE.md invariants).
//! Auth keys never appear in logs or `Debug` output: [`AuthKey`]'s `Debug`
//! prints only its id.

mod sqlite;

pub use sqlite::SqliteStore;

use std::collections::HashMap;
use std::sync::Mutex;

use crate::crypto::AuthKey;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// A salt valid for a time range (S-15), as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredSalt {
    pub valid_since: i32,
    pub valid_until: i32,
    pub salt: i64,
}

/// What is kept per data center.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DcState {
    pub dc_id: i32,
    pub auth_key: AuthKey,
    /// The salt in use.
    pub salt: i64,
    /// Future salts (S-15), oldest first.
    pub future_salts: Vec<StoredSalt>,
    /// `server_time - local_time` in seconds (M-4).
    pub time_offset: i64,
}

/// An address of a data center (from help.getConfig or configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DcOption {
    pub dc_id: i32,
    pub address: String,
    pub port: u16,
    pub media: bool,
    pub test: bool,
}

/// Where sessions keep their state. Implementations are shared between
/// sessions and threads.
pub trait SessionStore: Send + Sync + std::fmt::Debug {
    /// The state of one DC, if a key exists.
    fn load(&self, dc_id: i32) -> Result<Option<DcState>, StorageError>;
    /// Writes a complete state (a new key included) in one transaction,
    /// durable when this returns.
    fn save(&self, state: &DcState) -> Result<(), StorageError>;
    /// Updates salts of an existing key.
    fn save_salts(&self, dc_id: i32, salt: i64, future: &[StoredSalt]) -> Result<(), StorageError>;
    /// Updates the time offset of an existing key.
    fn save_time_offset(&self, dc_id: i32, offset: i64) -> Result<(), StorageError>;
    /// Forgets a key (e.g. AUTH_KEY_UNREGISTERED, T-11 −404 on a permanent key).
    fn delete(&self, dc_id: i32) -> Result<(), StorageError>;
    fn dc_options(&self) -> Result<Vec<DcOption>, StorageError>;
    fn save_dc_options(&self, options: &[DcOption]) -> Result<(), StorageError>;
}

/// A store that keeps everything in memory (tests, ephemeral sessions).
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<(HashMap<i32, DcState>, Vec<DcOption>)>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (HashMap<i32, DcState>, Vec<DcOption>)> {
        // A poisoned lock only means another thread panicked mid-update of
        // plain data; the data itself is still consistent per field.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl SessionStore for MemoryStore {
    fn load(&self, dc_id: i32) -> Result<Option<DcState>, StorageError> {
        Ok(self.lock().0.get(&dc_id).cloned())
    }

    fn save(&self, state: &DcState) -> Result<(), StorageError> {
        self.lock().0.insert(state.dc_id, state.clone());
        Ok(())
    }

    fn save_salts(&self, dc_id: i32, salt: i64, future: &[StoredSalt]) -> Result<(), StorageError> {
        if let Some(s) = self.lock().0.get_mut(&dc_id) {
            s.salt = salt;
            s.future_salts = future.to_vec();
        }
        Ok(())
    }

    fn save_time_offset(&self, dc_id: i32, offset: i64) -> Result<(), StorageError> {
        if let Some(s) = self.lock().0.get_mut(&dc_id) {
            s.time_offset = offset;
        }
        Ok(())
    }

    fn delete(&self, dc_id: i32) -> Result<(), StorageError> {
        self.lock().0.remove(&dc_id);
        Ok(())
    }

    fn dc_options(&self) -> Result<Vec<DcOption>, StorageError> {
        Ok(self.lock().1.clone())
    }

    fn save_dc_options(&self, options: &[DcOption]) -> Result<(), StorageError> {
        self.lock().1 = options.to_vec();
        Ok(())
    }
}

#[cfg(test)]
pub(crate) fn sample_state(dc_id: i32, fill: u8) -> DcState {
    DcState {
        dc_id,
        auth_key: AuthKey::from_bytes(&[fill; 256]),
        salt: 0x1122,
        future_salts: vec![StoredSalt {
            valid_since: 1,
            valid_until: 2,
            salt: 3,
        }],
        time_offset: -7,
    }
}

/// Both stores behave the same through the trait.
#[cfg(test)]
pub(crate) fn tests_exercise(store: &dyn SessionStore) {
    assert_eq!(store.load(2).unwrap(), None);
    let s = sample_state(2, 9);
    store.save(&s).unwrap();
    assert_eq!(store.load(2).unwrap(), Some(s.clone()));
    let future = [StoredSalt {
        valid_since: 10,
        valid_until: 20,
        salt: 30,
    }];
    store.save_salts(2, 99, &future).unwrap();
    store.save_time_offset(2, 3600).unwrap();
    let got = store.load(2).unwrap().unwrap();
    assert_eq!((got.salt, got.time_offset), (99, 3600));
    assert_eq!(got.future_salts, future.to_vec());
    assert_eq!(got.auth_key, s.auth_key);
    let opts = vec![DcOption {
        dc_id: 2,
        address: "127.0.0.1".into(),
        port: 443,
        media: false,
        test: true,
    }];
    store.save_dc_options(&opts).unwrap();
    assert_eq!(store.dc_options().unwrap(), opts);
    store.delete(2).unwrap();
    assert_eq!(store.load(2).unwrap(), None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store() {
        tests_exercise(&MemoryStore::new());
    }

    /// Auth keys never appear in Debug output.
    #[test]
    fn debug_output_hides_keys() {
        let s = sample_state(1, 0xAB);
        let text = format!("{s:?}");
        assert!(!text.to_lowercase().contains("abab"), "{text}");
        assert!(!text.contains("171, 171"), "{text}");
    }
}
