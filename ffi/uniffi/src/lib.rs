//! UniFFI exports of mtproto for Kotlin and Swift.
//!
//! A thin adapter over [`mtproto::client`]: every type here converts its
//! arguments and forwards to the core; no protocol logic lives in this
//! crate. The foreign surface is the same small model as every other
//! binding: `Runtime` → `Session` → `invoke` (suspend / async, callback,
//! blocking) → update and state listeners → typed errors → close.
//!
//! Threads, and why they matter to a JVM: update, state and completion
//! listeners are called on the runtime's one dispatcher thread, in
//! batches, never on the network thread. Attaching a native thread to the
//! JVM costs tens of microseconds, so one attached thread that hands over
//! many updates per call is what keeps the update rate high. An async
//! `invoke` is the core's runtime-agnostic `Invoke` future polled by
//! UniFFI's foreign executor (Kotlin coroutines, Swift tasks); nothing here
//! needs a tokio runtime on the foreign side, and dropping the future (a
//! cancelled coroutine or task) cancels the request, which sends
//! `rpc_drop_answer` to the server.
//!
//! Nothing panics across the boundary on bad input: every argument is
//! checked (by the core) and refused with [`MtprotoError::InvalidInput`].

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mtproto::client::{self as core, ClientSession, ReconnectPolicy, StateEvent};
use mtproto::storage::{MemoryStore, SqliteStore};

uniffi::setup_scaffolding!();

// ---------------------------------------------------------------- errors

/// Every way a call can fail; one to one with `mtproto::client::Error`.
///
/// The RPC error's text is `error_message` (the name of the TL field)
/// rather than `message`, because a Kotlin exception already has a
/// `message` property that a field may not shadow.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Error)]
pub enum MtprotoError {
    /// The server answered `rpc_error`; the request is not retried.
    Rpc { code: i32, error_message: String },
    /// The connection failed in a way the session did not recover from in
    /// time.
    Transport { detail: String },
    /// No answer within the timeout; the server was asked to drop it.
    Timeout,
    /// The caller cancelled the request; the server was asked to drop it.
    Cancelled,
    /// The session or its runtime was closed before an answer came.
    Closed,
    /// The caller passed something unusable (bytes, PEM, address, JSON …).
    InvalidInput { detail: String },
    /// The auth key could not be created or is no longer accepted.
    Auth { detail: String },
    /// The session store failed.
    Storage { detail: String },
}

impl fmt::Display for MtprotoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MtprotoError::Rpc {
                code,
                error_message,
            } => write!(f, "RPC error {code}: {error_message}"),
            MtprotoError::Transport { detail } => write!(f, "transport error: {detail}"),
            MtprotoError::Timeout => f.write_str("request timed out"),
            MtprotoError::Cancelled => f.write_str("request cancelled"),
            MtprotoError::Closed => f.write_str("session closed"),
            MtprotoError::InvalidInput { detail } => write!(f, "invalid input: {detail}"),
            MtprotoError::Auth { detail } => write!(f, "authorization key error: {detail}"),
            MtprotoError::Storage { detail } => write!(f, "storage error: {detail}"),
        }
    }
}

impl std::error::Error for MtprotoError {}

impl From<core::Error> for MtprotoError {
    fn from(e: core::Error) -> Self {
        match e {
            core::Error::Rpc { code, message } => MtprotoError::Rpc {
                code,
                error_message: message,
            },
            core::Error::Transport(detail) => MtprotoError::Transport { detail },
            core::Error::Timeout => MtprotoError::Timeout,
            core::Error::Cancelled => MtprotoError::Cancelled,
            core::Error::Closed => MtprotoError::Closed,
            core::Error::InvalidInput(detail) => MtprotoError::InvalidInput { detail },
            core::Error::Auth(detail) => MtprotoError::Auth { detail },
            core::Error::Storage(detail) => MtprotoError::Storage { detail },
            other => MtprotoError::Transport {
                detail: other.to_string(),
            },
        }
    }
}

fn invalid(detail: impl Into<String>) -> MtprotoError {
    MtprotoError::InvalidInput {
        detail: detail.into(),
    }
}

/// What a listener may throw. Anything a foreign listener throws arrives
/// here (UniFFI turns an unexpected exception into `Failed` through the
/// `From` impl below); the dispatcher logs it, counts it and goes on with
/// the next batch, so one bad listener call never stops delivery.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Error)]
pub enum ListenerError {
    Failed { detail: String },
}

impl fmt::Display for ListenerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenerError::Failed { detail } => write!(f, "listener failed: {detail}"),
        }
    }
}

impl std::error::Error for ListenerError {}

impl From<uniffi::UnexpectedUniFFICallbackError> for ListenerError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        ListenerError::Failed { detail: e.reason }
    }
}

// ---------------------------------------------------------------- config

/// The TCP envelope (PROTOCOL.md T-3..T-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Transport {
    Abridged,
    Intermediate,
    PaddedIntermediate,
    Full,
}

impl From<Transport> for core::Framing {
    fn from(t: Transport) -> Self {
        match t {
            Transport::Abridged => core::Framing::Abridged,
            Transport::Intermediate => core::Framing::Intermediate,
            Transport::PaddedIntermediate => core::Framing::PaddedIntermediate,
            Transport::Full => core::Framing::Full,
        }
    }
}

/// How patiently a lost connection is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ReconnectProfile {
    /// 0.5 s doubling up to 16 s.
    Desktop,
    /// 1 s doubling up to 5 min: spares the radio and the battery.
    Mobile,
}

/// What `initConnection` tells the server about the application.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ClientInfo {
    pub device_model: String,
    pub system_version: String,
    pub app_version: String,
    pub system_lang_code: String,
    pub lang_pack: String,
    pub lang_code: String,
}

/// Everything needed to open one session. Only the first three fields are
/// required; the defaults match the core's.
#[derive(Debug, Clone, uniffi::Record)]
pub struct SessionConfig {
    /// `"1.2.3.4:443"`, `"[::1]:443"` or `"host.example:443"`.
    pub address: String,
    /// The DC number, 1..=9999.
    pub dc_id: i32,
    /// The server's RSA public key(s), PEM. May be empty when the store
    /// already holds an auth key for this DC.
    pub public_key_pem: String,
    /// Default: padded intermediate.
    #[uniffi(default = None)]
    pub transport: Option<Transport>,
    /// Default: obfuscated whenever the framing allows it (all but `Full`).
    #[uniffi(default = None)]
    pub obfuscated: Option<bool>,
    #[uniffi(default = 10000)]
    pub connect_timeout_ms: u64,
    /// The timeout of `invoke`.
    #[uniffi(default = 30000)]
    pub request_timeout_ms: u64,
    /// A SQLite file that keeps the auth key across restarts; none keeps
    /// it in memory for the life of the session.
    #[uniffi(default = None)]
    pub store_path: Option<String>,
    /// When set, the first request after each connect is wrapped in
    /// `invokeWithLayer(initConnection(api_id, client_info, …))`.
    #[uniffi(default = None)]
    pub api_id: Option<i32>,
    /// Default: the core's (device "mtproto-rs", the OS name, "en").
    #[uniffi(default = None)]
    pub client_info: Option<ClientInfo>,
    /// Default: desktop.
    #[uniffi(default = None)]
    pub reconnect: Option<ReconnectProfile>,
    #[uniffi(default = false)]
    pub test_dc: bool,
    #[uniffi(default = false)]
    pub media: bool,
    /// Updates kept for `next_updates` while no listener is set; beyond
    /// this the oldest are dropped (and a warning logged).
    #[uniffi(default = 10000)]
    pub max_buffered_updates: u32,
}

impl SessionConfig {
    /// The core configuration; bad values are refused by the core's own
    /// checks in `open_session`, so the two never disagree.
    fn to_core(&self) -> Result<core::SessionConfig, MtprotoError> {
        let mut c = core::SessionConfig::new(
            self.address.clone(),
            self.dc_id,
            self.public_key_pem.clone(),
        );
        if let Some(t) = self.transport {
            c.transport.framing = t.into();
        }
        c.transport.obfuscated = self
            .obfuscated
            .unwrap_or(c.transport.framing != core::Framing::Full);
        c.connect_timeout = Duration::from_millis(self.connect_timeout_ms);
        c.request_timeout = Duration::from_millis(self.request_timeout_ms);
        if let Some(path) = &self.store_path {
            if path.is_empty() {
                return Err(invalid("store_path is empty"));
            }
            c.store = SqliteStore::shared(path).map_err(core::Error::from)?;
        } else {
            c.store = Arc::new(MemoryStore::new());
        }
        c.api_id = self.api_id;
        if let Some(info) = &self.client_info {
            c.client_info = core::ClientInfo {
                device_model: info.device_model.clone(),
                system_version: info.system_version.clone(),
                app_version: info.app_version.clone(),
                system_lang_code: info.system_lang_code.clone(),
                lang_pack: info.lang_pack.clone(),
                lang_code: info.lang_code.clone(),
            };
        }
        c.reconnect = match self.reconnect.unwrap_or(ReconnectProfile::Desktop) {
            ReconnectProfile::Desktop => ReconnectPolicy::desktop(),
            ReconnectProfile::Mobile => ReconnectPolicy::mobile(),
        };
        c.test_dc = self.test_dc;
        c.media = self.media;
        c.max_buffered_updates = self.max_buffered_updates as usize;
        Ok(c)
    }
}

// ---------------------------------------------------------------- listeners

/// The life of a session's connection, delivered in order.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SessionState {
    Connecting,
    /// The connection is up and the auth key is ready: requests flow.
    Connected,
    /// The connection failed or dropped; the next attempt starts after
    /// `delay_ms`. Requests stay queued.
    WaitingToReconnect {
        delay_ms: u64,
    },
    /// A new auth key was created and saved to the store.
    KeyCreated,
    /// The server created a new session: updates may have been lost.
    ServerSessionCreated,
    /// AUTH_KEY_UNREGISTERED: the key is not logged in; the session stays.
    AuthKeyUnregistered,
    /// AUTH_KEY_DUPLICATED: the key is dead; the session closes.
    AuthKeyDuplicated,
    /// The server does not know the key (−404).
    AuthKeyLost,
    /// The session ended. The last event.
    Closed,
}

impl From<&StateEvent> for SessionState {
    fn from(e: &StateEvent) -> Self {
        match e {
            StateEvent::Connecting => SessionState::Connecting,
            StateEvent::Connected => SessionState::Connected,
            StateEvent::WaitingToReconnect { delay } => SessionState::WaitingToReconnect {
                delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            },
            StateEvent::KeyCreated => SessionState::KeyCreated,
            StateEvent::ServerSessionCreated => SessionState::ServerSessionCreated,
            StateEvent::AuthKeyUnregistered => SessionState::AuthKeyUnregistered,
            StateEvent::AuthKeyDuplicated => SessionState::AuthKeyDuplicated,
            StateEvent::AuthKeyLost => SessionState::AuthKeyLost,
            StateEvent::Closed => SessionState::Closed,
        }
    }
}

/// Receives pushed updates (TL bytes), in batches, in the order the server
/// sent them, on the dispatcher thread. One call per batch keeps the cost
/// of entering the foreign runtime per update low.
#[uniffi::export(callback_interface)]
pub trait UpdateListener: Send + Sync {
    fn on_updates(&self, batch: Vec<Vec<u8>>) -> Result<(), ListenerError>;
}

/// Receives connection state changes, in order, on the dispatcher thread.
#[uniffi::export(callback_interface)]
pub trait StateListener: Send + Sync {
    fn on_state(&self, state: SessionState) -> Result<(), ListenerError>;
}

/// Receives the end of one `invoke_with_callback` request, exactly once:
/// on the dispatcher thread, or on the calling thread before
/// `invoke_with_callback` returns when the request is refused at once.
/// (One callback object per request: it is what tells requests apart, as
/// the request id may not be known yet when a refusal arrives.)
#[uniffi::export(callback_interface)]
pub trait InvokeCallback: Send + Sync {
    fn on_success(&self, result: Vec<u8>) -> Result<(), ListenerError>;
    fn on_failure(&self, error: MtprotoError) -> Result<(), ListenerError>;
}

/// Logs and counts a listener failure; delivery goes on.
fn listener_done(what: &str, failures: &AtomicU64, r: Result<(), ListenerError>) {
    if let Err(e) = r {
        failures.fetch_add(1, Ordering::Relaxed);
        tracing::warn!("{what} listener threw; delivery goes on: {e}");
    }
}

// ---------------------------------------------------------------- logging

/// Severity of a log record, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl From<LogLevel> for mtproto::logging::LogLevel {
    fn from(l: LogLevel) -> Self {
        use mtproto::logging::LogLevel as L;
        match l {
            LogLevel::Error => L::Error,
            LogLevel::Warn => L::Warn,
            LogLevel::Info => L::Info,
            LogLevel::Debug => L::Debug,
            LogLevel::Trace => L::Trace,
        }
    }
}

impl From<mtproto::logging::LogLevel> for LogLevel {
    fn from(l: mtproto::logging::LogLevel) -> Self {
        use mtproto::logging::LogLevel as L;
        match l {
            L::Error => LogLevel::Error,
            L::Warn => LogLevel::Warn,
            L::Info => LogLevel::Info,
            L::Debug => LogLevel::Debug,
            L::Trace => LogLevel::Trace,
        }
    }
}

/// Receives the library's log records, one call per record, in order, on
/// the library's own log thread (`mtproto-log`), never on the network
/// thread. `target` names the emitting module (`mtproto::net`), `message`
/// is the text with its fields (`connection lost session=1 reason=eof`).
/// Records never hold auth keys, key-derived values or request bodies. The
/// Android sample forwards them to `android.util.Log`, the iOS sample to
/// `os_log`.
#[uniffi::export(callback_interface)]
pub trait LogListener: Send + Sync {
    fn on_log(&self, level: LogLevel, target: String, message: String)
        -> Result<(), ListenerError>;
}

/// Sends the library's log records at `level` and above to `listener`
/// (process-wide, for every runtime); `None` turns logging off. Warnings
/// are the usual level; `Trace` shows every request id and state change.
/// Until the first call nothing is logged. When this returns, an earlier
/// listener is no longer running and is never called again.
#[uniffi::export]
pub fn set_log_listener(
    level: Option<LogLevel>,
    listener: Option<Box<dyn LogListener>>,
) -> Result<(), MtprotoError> {
    let (Some(level), Some(listener)) = (level, listener) else {
        mtproto::logging::clear_sink();
        return Ok(());
    };
    let listener: Arc<dyn LogListener> = Arc::from(listener);
    mtproto::logging::set_sink(
        Some(level.into()),
        Arc::new(move |batch: &[mtproto::logging::LogRecord]| {
            for r in batch {
                // A throwing listener loses that record only; logging its
                // failure would only feed the listener again.
                let _ = listener.on_log(r.level.into(), r.target.to_string(), r.message.clone());
            }
        }),
    )
    .map_err(|e| invalid(e.to_string()))
}

/// Changes the level of the listener set by [`set_log_listener`]; `None`
/// pauses logging.
#[uniffi::export]
pub fn set_log_level(level: Option<LogLevel>) {
    mtproto::logging::set_max_level(level.map(Into::into));
}

/// Waits up to `timeout_ms` until every record emitted so far has reached
/// the listener; false if some are still queued.
#[uniffi::export]
pub fn flush_log(timeout_ms: u64) -> bool {
    mtproto::logging::flush(Duration::from_millis(timeout_ms))
}

/// The layer sessions announce in `invokeWithLayer`: the layer of the
/// bundled schema ([`Schema::telegram`]).
#[uniffi::export]
pub fn default_layer() -> i32 {
    mtproto::client::DEFAULT_LAYER
}

/// The core's defaults for [`SessionConfig`] (the record's defaults
/// restate them; the Kotlin suite checks that they agree).
#[derive(Debug, Clone, uniffi::Record)]
pub struct SessionDefaults {
    pub connect_timeout_ms: u64,
    pub request_timeout_ms: u64,
    pub max_buffered_updates: u32,
}

/// See [`SessionDefaults`].
#[uniffi::export]
pub fn session_defaults() -> SessionDefaults {
    use mtproto::client::defaults as d;
    SessionDefaults {
        connect_timeout_ms: d::CONNECT_TIMEOUT.as_millis() as u64,
        request_timeout_ms: d::REQUEST_TIMEOUT.as_millis() as u64,
        max_buffered_updates: d::MAX_BUFFERED_UPDATES as u32,
    }
}

/// The update that marks a gap in a session's update stream: the bytes of
/// `updatesTooLong#e317af7e`, Telegram's own "fetch the difference". It
/// reaches the update listener and `nextUpdates`, in order, when the server
/// re-created the session and updates pushed meanwhile may be lost; an API
/// client then calls `updates.getDifference`.
#[uniffi::export]
pub fn gap_marker() -> Vec<u8> {
    mtproto::client::GAP_MARKER.to_vec()
}

// ---------------------------------------------------------------- runtime

/// Owns the network thread and the dispatcher thread of any number of
/// sessions. Create one per process and keep it; every method may be
/// called from any thread.
#[derive(Debug, uniffi::Object)]
pub struct Runtime {
    inner: mtproto::runtime::Runtime,
}

#[uniffi::export]
impl Runtime {
    /// Starts the threads `mtproto-net` and `mtproto-dispatch`.
    #[uniffi::constructor]
    pub fn new() -> Result<Arc<Self>, MtprotoError> {
        Ok(Arc::new(Runtime {
            inner: mtproto::runtime::Runtime::new()?,
        }))
    }

    /// Opens a session. The configuration is checked here (mistakes come
    /// back as `InvalidInput` / `Storage`); connecting and creating the
    /// key happen on the runtime thread. Requests may be sent at once.
    pub fn open_session(
        self: Arc<Self>,
        config: SessionConfig,
    ) -> Result<Arc<Session>, MtprotoError> {
        Session::open(self, config)
    }

    /// Closes every session (pending requests fail with `Closed`) and
    /// joins the threads. Idempotent. (Kotlin: `shutdown()`, because
    /// `close()` there is `AutoCloseable`'s release of the handle.)
    pub fn close(&self) {
        self.inner.close();
    }

    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

// ---------------------------------------------------------------- session

/// One auth key on one DC over one connection at a time.
#[derive(uniffi::Object)]
pub struct Session {
    inner: ClientSession,
    /// Keeps the runtime (its threads) alive while a session is in use,
    /// even if the foreign side dropped its `Runtime` handle.
    _runtime: Arc<Runtime>,
    listener_failures: Arc<AtomicU64>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.inner.id())
            .finish_non_exhaustive()
    }
}

fn duration_ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

#[uniffi::export]
impl Session {
    /// The same as `runtime.open_session(config)`.
    #[uniffi::constructor]
    pub fn open(runtime: Arc<Runtime>, config: SessionConfig) -> Result<Arc<Self>, MtprotoError> {
        let core_config = config.to_core()?;
        let inner = runtime.inner.open_session(core_config)?;
        Ok(Arc::new(Session {
            inner,
            _runtime: runtime,
            listener_failures: Arc::new(AtomicU64::new(0)),
        }))
    }

    /// A number that identifies this session within its runtime.
    pub fn id(&self) -> u64 {
        self.inner.id()
    }

    /// Sends a TL-serialized request and returns the TL-serialized result,
    /// within the configured request timeout. Cancelling the coroutine /
    /// task cancels the request (rpc_drop_answer).
    pub async fn invoke(&self, data: Vec<u8>) -> Result<Vec<u8>, MtprotoError> {
        Ok(self.inner.invoke(data).await?)
    }

    /// `invoke` with its own timeout.
    pub async fn invoke_with_timeout(
        &self,
        data: Vec<u8>,
        timeout_ms: u64,
    ) -> Result<Vec<u8>, MtprotoError> {
        Ok(self
            .inner
            .invoke_with_timeout(data, duration_ms(timeout_ms))
            .await?)
    }

    /// Blocks the calling thread until the request ends (at most about
    /// `timeout_ms`). For plain threads; never call it from a coroutine
    /// dispatcher or the main thread.
    pub fn invoke_blocking(&self, data: Vec<u8>, timeout_ms: u64) -> Result<Vec<u8>, MtprotoError> {
        Ok(self.inner.invoke_blocking(data, duration_ms(timeout_ms))?)
    }

    /// Sends a request; `callback` gets its end exactly once. Returns the
    /// request id for `cancel`.
    pub fn invoke_with_callback(
        &self,
        data: Vec<u8>,
        timeout_ms: u64,
        callback: Box<dyn InvokeCallback>,
    ) -> u64 {
        let failures = self.listener_failures.clone();
        let id = self
            .inner
            .invoke_with_callback(data, duration_ms(timeout_ms), move |result| {
                let r = match result {
                    Ok(bytes) => callback.on_success(bytes),
                    Err(e) => callback.on_failure(e.into()),
                };
                listener_done("invoke callback", &failures, r);
            });
        id.0
    }

    /// Ends a request with `Cancelled` and asks the server to drop the
    /// answer. Unknown or finished ids are ignored.
    pub fn cancel(&self, request_id: u64) {
        self.inner.cancel(core::RequestId(request_id));
    }

    /// Sets the update listener (replacing any previous one). Updates that
    /// arrived before are delivered to it first.
    pub fn set_update_listener(&self, listener: Box<dyn UpdateListener>) {
        let failures = self.listener_failures.clone();
        self.inner.set_update_handler(move |batch| {
            listener_done("update", &failures, listener.on_updates(batch.to_vec()));
        });
    }

    /// Stops update callbacks; later updates are kept for `next_updates`.
    pub fn clear_update_listener(&self) {
        self.inner.clear_update_handler();
    }

    /// Sets the state listener; events that happened before are delivered
    /// to it first.
    pub fn set_state_listener(&self, listener: Box<dyn StateListener>) {
        let failures = self.listener_failures.clone();
        self.inner.set_state_handler(move |event| {
            listener_done("state", &failures, listener.on_state(event.into()));
        });
    }

    pub fn clear_state_listener(&self) {
        self.inner.clear_state_handler();
    }

    /// Pulls up to `max` updates, waiting up to `timeout_ms` for the first
    /// (blocks the thread). Empty = nothing came in time; `Closed` = the
    /// session closed and everything was taken. Only while no update
    /// listener is set.
    pub fn next_updates(&self, max: u32, timeout_ms: u64) -> Result<Vec<Vec<u8>>, MtprotoError> {
        if max == 0 {
            return Err(invalid("max must be at least 1"));
        }
        Ok(self
            .inner
            .next_updates(max as usize, duration_ms(timeout_ms))?)
    }

    /// How many times a listener or callback of this session threw (each
    /// was logged and delivery went on).
    pub fn listener_failures(&self) -> u64 {
        self.listener_failures.load(Ordering::Relaxed)
    }

    /// Closes the session: pending requests fail with `Closed`, the state
    /// listener gets `Closed`. Returns at once. (Kotlin: `shutdown()`.)
    pub fn close(&self) {
        self.inner.close();
    }

    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

// ---------------------------------------------------------------- codec

/// The TL dynamic codec: a schema loaded from `.tl` text, JSON in and out.
/// Objects carry `"_": "constructor.name"`; `bytes` are base64 strings.
#[derive(uniffi::Object)]
pub struct Schema {
    /// Shared: every `Schema.telegram()` is the one parsed copy.
    inner: Arc<mtproto::tl::schema::Schema>,
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schema")
            .field("definitions", &self.inner.len())
            .finish()
    }
}

impl Schema {
    /// `base` extended by each text in turn (later declarations win).
    fn extended(
        mut base: mtproto::tl::schema::Schema,
        texts: &[String],
    ) -> Result<Arc<Self>, MtprotoError> {
        for (i, text) in texts.iter().enumerate() {
            base.extend(text)
                .map_err(|e| invalid(format!("schema text {i}: {e}")))?;
        }
        Ok(Arc::new(Schema {
            inner: Arc::new(base),
        }))
    }
}

#[uniffi::export]
impl Schema {
    /// Parses one schema text.
    #[uniffi::constructor]
    pub fn new(text: String) -> Result<Arc<Self>, MtprotoError> {
        Self::from_texts(vec![text])
    }

    /// Parses several texts into one schema (e.g. `api.tl` plus a test
    /// API); later texts extend the earlier ones.
    #[uniffi::constructor]
    pub fn from_texts(texts: Vec<String>) -> Result<Arc<Self>, MtprotoError> {
        Self::extended(mtproto::tl::schema::Schema::new(), &texts)
    }

    /// Telegram's API schema as bundled with the library (layer
    /// [`default_layer`]) plus the MTProto service schema (`ping`,
    /// `rpc_error`, ...). Parsed once per process on the first call (a few
    /// milliseconds: call it off the main thread in an app), then shared.
    #[uniffi::constructor]
    pub fn telegram() -> Arc<Self> {
        Arc::new(Schema {
            inner: mtproto::tl::schema::Schema::telegram(),
        })
    }

    /// Telegram's schema extended by more texts (e.g. a test API); later
    /// texts win. The bundled copy itself is never changed.
    #[uniffi::constructor]
    pub fn telegram_with(texts: Vec<String>) -> Result<Arc<Self>, MtprotoError> {
        Self::extended((*mtproto::tl::schema::Schema::telegram()).clone(), &texts)
    }

    /// The layer of a `// LAYER N` line in the schema text, if any (the
    /// bundled schema always has one).
    pub fn layer(&self) -> Option<i32> {
        self.inner.layer()
    }

    /// How many constructors and functions the schema holds.
    pub fn size(&self) -> u64 {
        self.inner.len() as u64
    }

    /// Serializes a JSON object (a constructor or a function call).
    pub fn encode(&self, json: String) -> Result<Vec<u8>, MtprotoError> {
        let value: serde_json::Value =
            serde_json::from_str(&json).map_err(|e| invalid(format!("JSON: {e}")))?;
        self.inner
            .encode(&value)
            .map_err(|e| invalid(e.to_string()))
    }

    /// Reads one boxed TL object into JSON.
    pub fn decode(&self, data: Vec<u8>) -> Result<String, MtprotoError> {
        let value = self
            .inner
            .decode(&data)
            .map_err(|e| invalid(e.to_string()))?;
        Ok(value.to_string())
    }

    /// Reads the result of a call to `function` as its declared result
    /// type (needed for bare results such as `Vector<long>`).
    pub fn decode_function_result(
        &self,
        function: String,
        data: Vec<u8>,
    ) -> Result<String, MtprotoError> {
        let value = self
            .inner
            .decode_function_result(&function, &data)
            .map_err(|e| invalid(e.to_string()))?;
        Ok(value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_error_maps_to_the_variant_of_the_same_name() {
        let cases = [
            (
                core::Error::Rpc {
                    code: 420,
                    message: "FLOOD_WAIT_3".into(),
                },
                MtprotoError::Rpc {
                    code: 420,
                    error_message: "FLOOD_WAIT_3".into(),
                },
            ),
            (
                core::Error::Transport("t".into()),
                MtprotoError::Transport { detail: "t".into() },
            ),
            (core::Error::Timeout, MtprotoError::Timeout),
            (core::Error::Cancelled, MtprotoError::Cancelled),
            (core::Error::Closed, MtprotoError::Closed),
            (
                core::Error::InvalidInput("i".into()),
                MtprotoError::InvalidInput { detail: "i".into() },
            ),
            (
                core::Error::Auth("a".into()),
                MtprotoError::Auth { detail: "a".into() },
            ),
            (
                core::Error::Storage("s".into()),
                MtprotoError::Storage { detail: "s".into() },
            ),
        ];
        for (from, to) in cases {
            assert_eq!(from.to_string(), to.to_string());
            assert_eq!(MtprotoError::from(from), to);
        }
    }

    #[test]
    fn a_foreign_exception_becomes_a_listener_failure_not_a_panic() {
        let e = uniffi::UnexpectedUniFFICallbackError::new("java.lang.IllegalStateException: boom");
        let failures = AtomicU64::new(0);
        listener_done("update", &failures, Err(ListenerError::from(e)));
        listener_done("update", &failures, Ok(()));
        assert_eq!(failures.load(Ordering::Relaxed), 1);
    }

    fn config(address: &str) -> SessionConfig {
        SessionConfig {
            address: address.into(),
            dc_id: 2,
            public_key_pem: String::new(),
            transport: None,
            obfuscated: None,
            connect_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            store_path: None,
            api_id: None,
            client_info: None,
            reconnect: None,
            test_dc: false,
            media: false,
            max_buffered_updates: 10_000,
        }
    }

    #[test]
    fn full_framing_defaults_to_unobfuscated_and_others_to_obfuscated() {
        let mut c = config("127.0.0.1:1");
        let core = c.to_core().unwrap();
        assert!(core.transport.obfuscated);
        assert_eq!(core.transport.framing, core::Framing::PaddedIntermediate);
        c.transport = Some(Transport::Full);
        assert!(!c.to_core().unwrap().transport.obfuscated);
        c.obfuscated = Some(true);
        assert!(c.to_core().unwrap().transport.obfuscated);
    }

    #[test]
    fn bad_configurations_are_refused_with_invalid_input() {
        let runtime = Runtime::new().unwrap();
        let refuse = |c: SessionConfig| match runtime.clone().open_session(c) {
            Err(MtprotoError::InvalidInput { detail }) => detail,
            other => panic!("expected InvalidInput, got {other:?}"),
        };
        refuse(config("no port"));
        // No key stored and no PEM to create one.
        refuse(config("127.0.0.1:443"));
        let mut c = config("127.0.0.1:443");
        c.store_path = Some(String::new());
        refuse(c);
        let mut c = config("127.0.0.1:443");
        c.public_key_pem =
            "-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----".into();
        refuse(c);
        runtime.close();
        assert!(runtime.is_closed());
    }

    #[test]
    fn schema_round_trips_json_and_refuses_bad_json() {
        let schema =
            Schema::new("test.payload#b750c89e data:bytes = test.Payload;".into()).unwrap();
        assert_eq!(schema.size(), 1);
        let bytes = schema
            .encode(r#"{"_":"test.payload","data":"AQID"}"#.into())
            .unwrap();
        assert_eq!(&bytes[..4], &0xb750c89eu32.to_le_bytes());
        let json: serde_json::Value = serde_json::from_str(&schema.decode(bytes).unwrap()).unwrap();
        assert_eq!(json["_"], "test.payload");
        assert!(matches!(
            schema.encode("{not json".into()),
            Err(MtprotoError::InvalidInput { .. })
        ));
        assert!(matches!(
            schema.decode(vec![1, 2, 3]),
            Err(MtprotoError::InvalidInput { .. })
        ));
        assert!(matches!(
            Schema::new("garbage ### = ;".into()),
            Err(MtprotoError::InvalidInput { .. })
        ));
    }
}
