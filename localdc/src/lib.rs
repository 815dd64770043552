//! `mtproto-localdc`: a real MTProto data center on loopback.
//!
//! It is built from the same sans-IO layers as the client, in the server
//! role: [`ServerCodec`](mtproto::transport::ServerCodec) detects every
//! framing and obfuscation, the key exchange runs with its own RSA key,
//! and one [`ServerSession`](mtproto::mtp::server::ServerSession) per
//! (auth key, session_id) does the message layer. On top sits a small
//! test API ([`api`], `test.tl`) and fault knobs, so tests in every
//! language, the demo and the benchmarks have a real peer, not a mock.
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! use mtproto_localdc::LocalDc;
//! let dc = LocalDc::builder().dc_id(2).start_on_thread()?;
//! println!("DC 2 at {}, key:\n{}", dc.addr(), dc.public_key_pem());
//! dc.set_force_bad_salt(1);
//! dc.shutdown();
//! # Ok(()) }
//! ```
//!
//! Everything is in memory: keys (permanent and temporary), salts and
//! sessions live as long as the [`LocalDc`].

#![forbid(unsafe_code)]

pub mod api;
mod conn;
mod handshake;
mod keydb;
mod state;

use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use mtproto::crypto::{AuthKey, RsaPrivateKey, RsaPublicKey};
use mtproto::mtp::server::Faults;
use mtproto::transport::{MtProxySecret, ServerConfig as TransportServerConfig};
use tokio::net::TcpListener;
use tokio::sync::watch;

use state::{lock, Config, Shared};

pub use mtproto::mtp::server::SALT_PERIOD_SECS;

/// A process-wide 2048-bit RSA key, generated on first use.
///
/// Generating a key takes a noticeable time (seconds in debug builds);
/// tests that start many data centers share this one. A builder without
/// [`LocalDcBuilder::rsa_key`] uses it.
pub fn test_rsa_key() -> RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        RsaPrivateKey::generate(2048, &mut rand::thread_rng())
            .expect("2048 is a valid RSA key size")
    })
    .clone()
}

/// Settings of a [`LocalDc`] before it starts.
#[derive(Clone, Debug)]
pub struct LocalDcBuilder {
    listen: SocketAddr,
    rsa_key: Option<RsaPrivateKey>,
    dc_id: i32,
    salt_lifetime: Duration,
    clock_offset_secs: i64,
    faults: Faults,
    drop_after_bytes: Option<u64>,
    drop_after_read_bytes: Option<u64>,
    mtproxy_secret: Option<MtProxySecret>,
    key_db: Option<std::path::PathBuf>,
}

impl Default for LocalDcBuilder {
    fn default() -> Self {
        LocalDcBuilder {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            rsa_key: None,
            dc_id: 2,
            salt_lifetime: Duration::from_secs(SALT_PERIOD_SECS as u64),
            clock_offset_secs: 0,
            faults: Faults::default(),
            drop_after_bytes: None,
            drop_after_read_bytes: None,
            mtproxy_secret: None,
            key_db: None,
        }
    }
}

impl LocalDcBuilder {
    /// Where to listen; default `127.0.0.1:0` (a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// The server's RSA key; default [`test_rsa_key`].
    pub fn rsa_key(mut self, key: RsaPrivateKey) -> Self {
        self.rsa_key = Some(key);
        self
    }

    /// The DC id the key exchange expects in the inner data (A-7), encoded
    /// as clients encode it without the media sign: 2 for DC 2, 10002 for
    /// test DC 2. A mismatch gets −444. Default 2.
    pub fn dc_id(mut self, dc_id: i32) -> Self {
        self.dc_id = dc_id;
        self
    }

    /// How long each server salt is valid (M-14); default 30 minutes.
    /// Short lifetimes exercise the client's salt rotation.
    pub fn salt_lifetime(mut self, lifetime: Duration) -> Self {
        self.salt_lifetime = lifetime;
        self
    }

    /// Shifts the server's clock, so clients meet a skewed server (M-4,
    /// bad_msg 16/17).
    pub fn clock_offset_secs(mut self, secs: i64) -> Self {
        self.clock_offset_secs = secs;
        self
    }

    /// Faults injected into the next client messages, server-wide.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Cut every connection once it has written this many bytes; see
    /// [`LocalDc::set_drop_after_bytes`].
    pub fn drop_after_bytes(mut self, bytes: u64) -> Self {
        self.drop_after_bytes = Some(bytes);
        self
    }

    /// Cut every connection once it has read this many bytes from its
    /// client; see [`LocalDc::set_drop_after_read_bytes`].
    pub fn drop_after_read_bytes(mut self, bytes: u64) -> Self {
        self.drop_after_read_bytes = Some(bytes);
        self
    }

    /// Serve as an MTProxy endpoint: obfuscation keys are mixed with this
    /// secret, the header's DC id must name this DC (else −444), and plain
    /// (unobfuscated) transports are refused (T-12, T-15, T-17).
    pub fn mtproxy_secret(mut self, secret: MtProxySecret) -> Self {
        self.mtproxy_secret = Some(secret);
        self
    }

    /// Persist permanent auth keys in this SQLite file and load the ones
    /// already there, so clients keep their keys across restarts, as with a
    /// production DC. Default: keys live in RAM only.
    pub fn key_db(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.key_db = Some(path.into());
        self
    }

    fn prepare(self) -> io::Result<(StdTcpListener, Arc<Shared>)> {
        let listener = StdTcpListener::bind(self.listen)?;
        listener.set_nonblocking(true)?;
        let rsa_key = self.rsa_key.unwrap_or_else(test_rsa_key);
        let public_key = rsa_key.public();
        let transport = TransportServerConfig {
            require_obfuscation: self.mtproxy_secret.is_some(),
            mtproxy_secret: self.mtproxy_secret,
            ..TransportServerConfig::default()
        };
        let config = Config {
            dc_id: self.dc_id,
            salt_lifetime_secs: self.salt_lifetime.as_secs().clamp(1, i32::MAX as u64) as i64,
            handshake: handshake::config(rsa_key, self.dc_id),
            transport,
            public_key,
        };
        let mut shared = Shared::new(
            config,
            self.clock_offset_secs,
            self.drop_after_bytes.unwrap_or(0),
            self.faults,
        );
        shared
            .drop_after_read_bytes
            .store(self.drop_after_read_bytes.unwrap_or(0), Ordering::Relaxed);
        if let Some(path) = &self.key_db {
            let db = keydb::KeyDb::open(path).map_err(io::Error::other)?;
            let stored = db.load_all().map_err(io::Error::other)?;
            for (key, salt) in stored {
                shared.add_key(key, salt, None);
            }
            shared.key_db = Some(db);
        }
        Ok((listener, Arc::new(shared)))
    }

    /// Starts the data center on the current tokio runtime (multi-threaded
    /// or not). It runs until [`LocalDc::shutdown`] or until dropped.
    pub async fn spawn(self) -> io::Result<LocalDc> {
        let (listener, shared) = self.prepare()?;
        let addr = listener.local_addr()?;
        let listener = TcpListener::from_std(listener)?;
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(accept_loop(listener, shared.clone(), stop_rx));
        Ok(LocalDc {
            shared,
            addr,
            stop: stop_tx,
            thread: None,
        })
    }

    /// Starts the data center on a thread of its own with its own tokio
    /// runtime, for callers without one (blocking tests, other languages'
    /// harnesses, the CLI).
    pub fn start_on_thread(self) -> io::Result<LocalDc> {
        let (listener, shared) = self.prepare()?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("localdc")
            .enable_all()
            .build()?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let task_shared = shared.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("localdc".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(l) => {
                            let _ = ready_tx.send(Ok(()));
                            accept_loop(l, task_shared, stop_rx).await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
                // Dropping the runtime ends the connection tasks that
                // have not noticed the stop yet.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(io::Error::other("localdc thread ended during start")),
        }
        Ok(LocalDc {
            shared,
            addr,
            stop: stop_tx,
            thread: Some(thread),
        })
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    tokio::spawn(conn::serve(stream, shared.clone(), stop.clone()));
                }
                Err(e) => {
                    // E.g. out of file descriptors: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            r = stop.changed() => {
                if r.is_err() || *stop.borrow() {
                    return;
                }
            }
        }
    }
}

/// A running data center. Dropping it stops it, like [`shutdown`](Self::shutdown).
pub struct LocalDc {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for LocalDc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalDc")
            .field("addr", &self.addr)
            .field("dc_id", &self.shared.config.dc_id)
            .finish_non_exhaustive()
    }
}

impl LocalDc {
    pub fn builder() -> LocalDcBuilder {
        LocalDcBuilder::default()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The DC id it expects in the key exchange.
    pub fn dc_id(&self) -> i32 {
        self.shared.config.dc_id
    }

    /// The public half of its RSA key, which clients must trust (A-3).
    pub fn public_key(&self) -> RsaPublicKey {
        self.shared.config.public_key.clone()
    }

    /// The public key as PKCS#1 PEM (`BEGIN RSA PUBLIC KEY`).
    pub fn public_key_pem(&self) -> String {
        self.shared.config.public_key.to_pkcs1_pem()
    }

    /// The current value of the `test.counter` counter named `key` (0 if
    /// it was never incremented).
    pub fn counter(&self, key: &str) -> i64 {
        lock(&self.shared.counters).get(key).copied().unwrap_or(0)
    }

    /// Answer the next `n` client messages (server-wide) with
    /// bad_server_salt (S-13), whatever salt they carry.
    pub fn set_force_bad_salt(&self, n: u32) {
        lock(&self.shared.faults).force_bad_salt = n;
    }

    /// Answer the next `n` client messages with bad_msg_notification of
    /// `code` (S-3); `n = 0` clears it.
    pub fn set_force_bad_msg(&self, code: i32, n: u32) {
        lock(&self.shared.faults).force_bad_msg = (n > 0).then_some((code, n));
    }

    /// Cut each connection, abruptly and possibly inside a frame, once it
    /// has written `bytes` bytes to its client; `None` turns this off. It
    /// applies to every connection, including ones opened later, so tests
    /// of reconnect and resend (M-10) can lose answers on the way.
    pub fn set_drop_after_bytes(&self, bytes: Option<u64>) {
        let v = bytes.map_or(0, |b| b.max(1));
        self.shared.drop_after_bytes.store(v, Ordering::Relaxed);
    }

    /// The other direction of [`set_drop_after_bytes`](Self::set_drop_after_bytes):
    /// cut each connection once it has read `bytes` bytes from its client
    /// (what the client sent past that is lost unread); `None` turns it off.
    pub fn set_drop_after_read_bytes(&self, bytes: Option<u64>) {
        let v = bytes.map_or(0, |b| b.max(1));
        self.shared
            .drop_after_read_bytes
            .store(v, Ordering::Relaxed);
    }

    /// Close the connection instead of reading each of the next `n`
    /// encrypted packets (server-wide): requests in them are lost before
    /// the server reads them, and the client must send them again.
    pub fn set_cut_before_read(&self, n: u32) {
        self.shared
            .cut_before_read
            .store(u64::from(n), Ordering::Relaxed);
    }

    /// Shifts the server's clock by `secs` from now on.
    pub fn set_clock_offset(&self, secs: i64) {
        self.shared.clock_offset.store(secs, Ordering::Relaxed);
    }

    /// How many running queries were stopped by rpc_drop_answer (S-20).
    pub fn cancelled_count(&self) -> u64 {
        self.shared.cancelled.load(Ordering::Relaxed)
    }

    /// Connections currently open.
    pub fn connection_count(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// Auth keys currently known (permanent and unexpired temporary).
    pub fn auth_key_count(&self) -> usize {
        lock(&self.shared.keys).len()
    }

    /// Registers a key created elsewhere, with `first_salt` valid from now.
    /// Lets tests that are not about the key exchange skip it. Returns
    /// false if a key with the same id exists.
    pub fn add_auth_key(&self, key: AuthKey, first_salt: i64) -> bool {
        self.shared.add_key(key, first_salt, None)
    }

    /// Forgets a key, as a server may forget a temporary key early (P-8):
    /// its next packet gets −404. Returns whether it was known.
    pub fn forget_auth_key(&self, auth_key_id: i64) -> bool {
        lock(&self.shared.keys).remove(&auth_key_id).is_some()
    }

    /// Forgets every session of every key, as a server may (M-12): the
    /// next message of each gets new_session_created (S-17).
    pub fn forget_sessions(&self) {
        let keys: Vec<_> = lock(&self.shared.keys)
            .values()
            .map(|k| k.state.clone())
            .collect();
        for k in keys {
            lock(&k).sessions.clear();
        }
    }

    /// Stops accepting, closes every connection and, for
    /// [`start_on_thread`](LocalDcBuilder::start_on_thread), joins the
    /// thread.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LocalDc {
    fn drop(&mut self) {
        self.stop_now();
    }
}
