//! Helpers shared by the client socket tests: a local DC, a client
//! configuration for it, test API calls and small waiting utilities.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mtproto::client::{ClientSession, ReconnectPolicy, SessionConfig, StateEvent};
use mtproto_localdc::api::{self, Call};
use mtproto_localdc::LocalDc;

pub const SEC: Duration = Duration::from_secs(1);

pub fn start_dc() -> LocalDc {
    LocalDc::builder().start_on_thread().expect("start localdc")
}

/// Quick reconnects, so that tests of dropped connections stay short.
pub fn fast_reconnect() -> ReconnectPolicy {
    ReconnectPolicy {
        initial_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(500),
        jitter: 0.1,
        flood_delay: Duration::from_millis(200),
    }
}

/// A session configuration for `dc` with a fresh in-memory store.
pub fn config(dc: &LocalDc) -> SessionConfig {
    let mut c = SessionConfig::new(dc.addr().to_string(), dc.dc_id(), dc.public_key_pem());
    c.reconnect = fast_reconnect();
    c.request_timeout = Duration::from_secs(20);
    c
}

pub fn echo(data: &[u8]) -> Vec<u8> {
    Call::Echo(data.to_vec()).to_bytes()
}

pub fn echoed(result: &[u8]) -> Vec<u8> {
    api::parse_payload(result).expect("a test.payload")
}

pub fn counter(key: &str) -> Vec<u8> {
    Call::Counter { key: key.into() }.to_bytes()
}

pub fn sleep(ms: i32) -> Vec<u8> {
    Call::Sleep { ms }.to_bytes()
}

pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn record_states(session: &ClientSession) -> Arc<Mutex<Vec<StateEvent>>> {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    session.set_state_handler(move |e| sink.lock().unwrap().push(e.clone()));
    events
}

pub fn has_state(states: &Mutex<Vec<StateEvent>>, event: &StateEvent) -> bool {
    states.lock().unwrap().contains(event)
}

/// A current-thread tokio runtime for awaiting many requests at once.
pub fn caller() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A fresh path for a SQLite file, removed (with its WAL files) on drop.
pub struct TempDb(pub std::path::PathBuf);

impl TempDb {
    pub fn new(name: &str) -> TempDb {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        TempDb(std::env::temp_dir().join(format!(
            "mtproto-{name}-{}-{nanos}.sqlite",
            std::process::id()
        )))
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}
