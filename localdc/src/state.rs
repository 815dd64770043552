//! What every connection of the data center shares: auth keys with their
//! salts and sessions, server-wide counters and the fault knobs.
//!
//! Locks are std mutexes held only for short synchronous sections, never
//! across an `.await`. The `keys` map and a [`KeyState`] are never held at
//! the same time: a lookup clones the key's `Arc` out of the map first.
//! `faults` and `counters` are leaves, taken inside a key's lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mtproto::crypto::{AuthKey, RsaPublicKey};
use mtproto::mtp::server::{Faults, SaltSchedule, ServerSession};
use mtproto::transport::ServerConfig as TransportServerConfig;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

/// Locks a mutex, ignoring poisoning: a panic elsewhere must not turn
/// into a panic on every later packet, and the guarded state stays
/// structurally valid between statements.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A live connection as sessions see it: how to wake its task so it sends
/// what a session queued from elsewhere (a timer, another session).
#[derive(Debug)]
pub(crate) struct ConnLink {
    pub wake: Notify,
    /// Set (then `wake`) to close the connection from elsewhere, without
    /// sending what is queued after that point.
    pub cut: std::sync::atomic::AtomicBool,
}

impl ConnLink {
    pub fn new() -> Self {
        ConnLink {
            wake: Notify::new(),
            cut: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Closes the connection at once: queued packets are not sent.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }
}

/// One (auth key, session_id) pair.
pub(crate) struct SessionSlot {
    pub session: ServerSession,
    /// The connection the session was last seen on: its packets go there.
    pub link: Option<Arc<ConnLink>>,
    /// Running `test.sleep` timers by req_msg_id, so rpc_drop_answer can
    /// stop them.
    pub sleeps: HashMap<i64, AbortHandle>,
}

impl SessionSlot {
    pub fn new(session_id: i64) -> Self {
        SessionSlot {
            session: ServerSession::new(session_id, &mut rand::thread_rng()),
            link: None,
            sleeps: HashMap::new(),
        }
    }

    /// Whether the session's packets currently go to `link`.
    pub fn is_on(&self, link: &Arc<ConnLink>) -> bool {
        self.link.as_ref().is_some_and(|l| Arc::ptr_eq(l, link))
    }

    /// Wakes the connection the session lives on, if any.
    pub fn wake(&self) {
        if let Some(l) = &self.link {
            l.wake.notify_one();
        }
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        for (_, t) in self.sleeps.drain() {
            t.abort();
        }
    }
}

/// One auth key and everything that belongs to it.
pub(crate) struct KeyState {
    pub key: AuthKey,
    /// Salts belong to the key, not the session (M-14, S-15).
    pub salts: SaltSchedule,
    pub sessions: HashMap<i64, SessionSlot>,
}

/// An entry of the key map.
pub(crate) struct KeyRef {
    /// Server Unix time at which a temporary key is forgotten.
    pub expires_at: Option<i64>,
    pub state: Arc<Mutex<KeyState>>,
}

/// Fixed settings of one data center.
pub(crate) struct Config {
    pub dc_id: i32,
    pub salt_lifetime_secs: i64,
    pub handshake: crate::handshake::HandshakeConfig,
    pub transport: TransportServerConfig,
    pub public_key: RsaPublicKey,
}

/// The state shared by all tasks of one data center.
pub(crate) struct Shared {
    pub config: Config,
    /// Seconds added to the real clock (may be negative).
    pub clock_offset: AtomicI64,
    /// Cut each connection after it has written this many bytes; 0 = off.
    pub drop_after_bytes: AtomicU64,
    /// Cut each connection after it has read this many bytes from its
    /// client (the other direction); 0 = off.
    pub drop_after_read_bytes: AtomicU64,
    /// Close the connection instead of reading the next this-many
    /// encrypted packets (they are lost unread); 0 = off.
    pub cut_before_read: AtomicU64,
    /// Pending injected faults, consumed by whichever session receives the
    /// next client messages.
    pub faults: Mutex<Faults>,
    pub keys: Mutex<HashMap<i64, KeyRef>>,
    pub counters: Mutex<HashMap<String, i64>>,
    /// Queries stopped by rpc_drop_answer while running (S-20).
    pub cancelled: AtomicU64,
    pub connections: AtomicUsize,
    /// Where permanent keys are persisted, if anywhere.
    pub key_db: Option<crate::keydb::KeyDb>,
}

impl Shared {
    pub fn new(config: Config, clock_offset: i64, drop_after: u64, faults: Faults) -> Self {
        Shared {
            config,
            clock_offset: AtomicI64::new(clock_offset),
            drop_after_bytes: AtomicU64::new(drop_after),
            drop_after_read_bytes: AtomicU64::new(0),
            cut_before_read: AtomicU64::new(0),
            faults: Mutex::new(faults),
            keys: Mutex::new(HashMap::new()),
            counters: Mutex::new(HashMap::new()),
            cancelled: AtomicU64::new(0),
            connections: AtomicUsize::new(0),
            key_db: None,
        }
    }

    /// The server's clock: Unix time shifted by the clock-offset knob.
    pub fn now(&self) -> Duration {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let offset = self.clock_offset.load(Ordering::Relaxed);
        let shift = Duration::from_secs(offset.unsigned_abs());
        if offset >= 0 {
            real.saturating_add(shift)
        } else {
            real.saturating_sub(shift)
        }
    }

    /// The key with this auth_key_id, unless unknown or (temporary and)
    /// expired; an expired key is forgotten here (A-22, P-8).
    pub fn key(&self, id: i64, now_secs: i64) -> Option<Arc<Mutex<KeyState>>> {
        let mut keys = lock(&self.keys);
        let entry = keys.get(&id)?;
        if entry.expires_at.is_some_and(|t| t <= now_secs) {
            keys.remove(&id);
            return None;
        }
        Some(entry.state.clone())
    }

    pub fn has_key(&self, id: i64) -> bool {
        lock(&self.keys).contains_key(&id)
    }

    /// Registers a key with its first salt. Returns false (and changes
    /// nothing) if the id is taken.
    pub fn add_key(&self, key: AuthKey, first_salt: i64, expires_at: Option<i64>) -> bool {
        let now = self.now().as_secs() as i64;
        let id = key.id_i64();
        let mut keys = lock(&self.keys);
        if keys.contains_key(&id) {
            return false;
        }
        let state = KeyState {
            salts: SaltSchedule::new(first_salt, now, self.config.salt_lifetime_secs),
            key,
            sessions: HashMap::new(),
        };
        let state = Arc::new(Mutex::new(state));
        // A permanent key is persisted before the client can use it; a
        // temporary one lives in RAM only.
        if let (None, Some(db)) = (expires_at, &self.key_db) {
            let guard = state.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = db.save(&guard.key, first_salt) {
                tracing::warn!("could not persist an auth key: {e}");
            }
        }
        keys.insert(id, KeyRef { expires_at, state });
        true
    }

    /// Takes the pending faults for one message.
    pub fn take_faults(&self) -> Faults {
        std::mem::take(&mut *lock(&self.faults))
    }

    /// Gives back what one message did not consume.
    pub fn return_faults(&self, left: Faults) {
        let mut f = lock(&self.faults);
        f.force_bad_salt = f.force_bad_salt.saturating_add(left.force_bad_salt);
        if f.force_bad_msg.is_none() {
            f.force_bad_msg = left.force_bad_msg;
        }
    }

    /// Increments a named counter and returns its new value.
    pub fn bump_counter(&self, name: &str) -> i64 {
        let mut counters = lock(&self.counters);
        let v = counters.entry(name.to_owned()).or_insert(0);
        *v = v.wrapping_add(1);
        *v
    }
}
