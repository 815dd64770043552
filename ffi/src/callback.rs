//! C callbacks: the function pointer types, and the Rust closures that call
//! them on the dispatcher thread. This is the only module that calls into
//! C code.

use std::ffi::c_void;
use std::sync::Arc;

use mtproto_core::client::{Error as CoreError, RequestResult, StateEvent};

use crate::error::{mtp_result, record, Fail};

/// A borrowed byte string (one update).
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct mtp_bytes {
    /// The first byte; valid only during the callback that received it.
    pub data: *const u8,
    /// The number of bytes.
    pub len: usize,
}

/// Receives the end of one request, exactly once, on the runtime's
/// dispatcher thread.
///
/// `result` is `MTP_OK` with the TL-serialized answer in `data[0..len]`
/// (borrowed: valid until the callback returns; copy what you keep), or an
/// error code with `data == NULL, len == 0`; then `mtp_last_error_message()`
/// and `mtp_last_error_rpc_code()` called inside the callback describe it.
/// The callback must return normally (no longjmp, no C++ exception).
#[allow(non_camel_case_types)]
pub type mtp_invoke_callback = Option<
    unsafe extern "C" fn(userdata: *mut c_void, result: mtp_result, data: *const u8, len: usize),
>;

/// Receives a batch of updates of one session (`count >= 1`, in the order
/// the server sent them) on the runtime's dispatcher thread. `updates` and
/// the bytes they point to are borrowed until the callback returns. Each
/// item is one TL-serialized object pushed by the server.
#[allow(non_camel_case_types)]
pub type mtp_updates_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, updates: *const mtp_bytes, count: usize)>;

/// The life of a session's connection, as reported to an
/// `mtp_state_callback`. The numbers are stable.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum mtp_state {
    /// A TCP connection is being opened.
    MTP_STATE_CONNECTING = 1,
    /// Connected with a ready auth key: requests flow.
    MTP_STATE_CONNECTED = 2,
    /// The connection failed or dropped; the next attempt comes after
    /// `delay_ms`. Requests stay queued (their timeouts still run).
    MTP_STATE_WAITING_TO_RECONNECT = 3,
    /// A new auth key was created and saved to the store.
    MTP_STATE_KEY_CREATED = 4,
    /// The server created a new session: updates may have been lost.
    MTP_STATE_SERVER_SESSION_CREATED = 5,
    /// The key is not logged in (401 AUTH_KEY_UNREGISTERED).
    MTP_STATE_AUTH_KEY_UNREGISTERED = 6,
    /// The key was used twice and is dead; the session closes.
    MTP_STATE_AUTH_KEY_DUPLICATED = 7,
    /// The server does not know the key (-404); it was deleted from the store.
    MTP_STATE_AUTH_KEY_LOST = 8,
    /// The session ended; every request has ended. Last event.
    MTP_STATE_CLOSED = 9,
}

/// Receives each state change of one session, in order, on the runtime's
/// dispatcher thread. `delay_ms` is the reconnect delay for
/// `MTP_STATE_WAITING_TO_RECONNECT`, otherwise 0.
#[allow(non_camel_case_types)]
pub type mtp_state_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, state: mtp_state, delay_ms: u64)>;

/// Called once when the library will never again call the callback that
/// was registered with this `userdata` (it was replaced, cleared, or its
/// session was freed), so the caller can free `userdata`. Runs on the
/// thread that dropped the callback: the one calling
/// `mtp_session_set_*_callback` / `mtp_session_free` / `mtp_runtime_free`,
/// or the dispatcher thread if a delivery to that callback was in progress.
#[allow(non_camel_case_types)]
pub type mtp_release_callback = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

/// A caller's `void *`, moved to the dispatcher thread.
#[derive(Clone, Copy)]
struct UserData(*mut c_void);

impl UserData {
    /// A method (not field access) so closures capture the whole `Send`
    /// wrapper rather than the raw pointer field.
    fn get(self) -> *mut c_void {
        self.0
    }
}

// SAFETY: the library never dereferences `userdata`; it only hands it back
// to the caller's callbacks. The header documents that those callbacks run
// on the dispatcher thread, so the caller chose to let the pointer cross
// threads when registering it.
unsafe impl Send for UserData {}
// SAFETY: as above; shared references only copy the pointer value.
unsafe impl Sync for UserData {}

/// A completion callback that fires exactly once: when called with the
/// result, or, if the request is dropped without a result (a runtime torn
/// down after its grace period), with `MTP_ERR_CLOSED` from its `Drop`.
pub(crate) struct InvokeCallback {
    f: unsafe extern "C" fn(*mut c_void, mtp_result, *const u8, usize),
    userdata: UserData,
    armed: bool,
}

impl InvokeCallback {
    pub fn new(
        f: unsafe extern "C" fn(*mut c_void, mtp_result, *const u8, usize),
        userdata: *mut c_void,
    ) -> Self {
        InvokeCallback {
            f,
            userdata: UserData(userdata),
            armed: true,
        }
    }

    /// Drops the callback without calling it (the request was refused at
    /// once and the caller gets the error as the return code instead).
    pub fn disarm(mut self) {
        self.armed = false;
    }

    pub fn call(mut self, result: RequestResult) {
        self.armed = false;
        self.fire(result);
    }

    fn fire(&self, result: RequestResult) {
        let outcome = result
            .as_ref()
            .map(|_| ())
            .map_err(|e| Fail::from(e.clone()));
        // The callback reads the details of an error from this thread's
        // last-error slot.
        let code = record(&outcome);
        let (data, len) = match &result {
            Ok(bytes) => (bytes.as_ptr(), bytes.len()),
            Err(_) => (std::ptr::null(), 0),
        };
        // SAFETY: `f` is the non-NULL function pointer the caller registered
        // for this request, with the signature the header declares; `data`
        // points to `len` bytes that live until it returns; `userdata` is
        // the caller's own value, passed back unchanged.
        unsafe { (self.f)(self.userdata.0, code, data, len) }
    }
}

impl Drop for InvokeCallback {
    fn drop(&mut self) {
        if self.armed {
            self.armed = false;
            self.fire(Err(CoreError::Closed));
        }
    }
}

/// Calls the release function of a callback registration when the
/// registration (the closure holding it) is dropped.
struct Release {
    f: unsafe extern "C" fn(*mut c_void),
    userdata: UserData,
}

impl Drop for Release {
    fn drop(&mut self) {
        // SAFETY: the caller's release function, non-NULL, with the
        // declared signature, called once with its own `userdata`.
        unsafe { (self.f)(self.userdata.0) }
    }
}

fn release(f: mtp_release_callback, userdata: *mut c_void) -> Option<Arc<Release>> {
    f.map(|f| {
        Arc::new(Release {
            f,
            userdata: UserData(userdata),
        })
    })
}

/// The update handler given to the core: converts a batch into an array
/// of `mtp_bytes` and calls `f` once.
pub(crate) fn updates_handler(
    f: unsafe extern "C" fn(*mut c_void, *const mtp_bytes, usize),
    userdata: *mut c_void,
    release_fn: mtp_release_callback,
) -> impl Fn(&[Vec<u8>]) + Send + Sync + 'static {
    let userdata = UserData(userdata);
    let release = release(release_fn, userdata.0);
    move |batch: &[Vec<u8>]| {
        let _keep = &release;
        if batch.is_empty() {
            return;
        }
        let items: Vec<mtp_bytes> = batch
            .iter()
            .map(|u| mtp_bytes {
                data: u.as_ptr(),
                len: u.len(),
            })
            .collect();
        // SAFETY: `f` is the caller's non-NULL callback with the declared
        // signature; `items` and the bytes it points to outlive the call.
        unsafe { f(userdata.get(), items.as_ptr(), items.len()) }
    }
}

/// The state handler given to the core.
pub(crate) fn state_handler(
    f: unsafe extern "C" fn(*mut c_void, mtp_state, u64),
    userdata: *mut c_void,
    release_fn: mtp_release_callback,
) -> impl Fn(&StateEvent) + Send + Sync + 'static {
    let userdata = UserData(userdata);
    let release = release(release_fn, userdata.0);
    move |event: &StateEvent| {
        let _keep = &release;
        let (state, delay) = state_of(event);
        // SAFETY: the caller's non-NULL callback with the declared signature.
        unsafe { f(userdata.get(), state, delay) }
    }
}

/// A registration without a callback that only wants its `release` called
/// (a NULL callback with a release function): called at once.
pub(crate) fn release_now(f: mtp_release_callback, userdata: *mut c_void) {
    drop(release(f, userdata));
}

pub(crate) fn state_of(event: &StateEvent) -> (mtp_state, u64) {
    use mtp_state::*;
    match event {
        StateEvent::Connecting => (MTP_STATE_CONNECTING, 0),
        StateEvent::Connected => (MTP_STATE_CONNECTED, 0),
        StateEvent::WaitingToReconnect { delay } => (
            MTP_STATE_WAITING_TO_RECONNECT,
            u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        ),
        StateEvent::KeyCreated => (MTP_STATE_KEY_CREATED, 0),
        StateEvent::ServerSessionCreated => (MTP_STATE_SERVER_SESSION_CREATED, 0),
        StateEvent::AuthKeyUnregistered => (MTP_STATE_AUTH_KEY_UNREGISTERED, 0),
        StateEvent::AuthKeyDuplicated => (MTP_STATE_AUTH_KEY_DUPLICATED, 0),
        StateEvent::AuthKeyLost => (MTP_STATE_AUTH_KEY_LOST, 0),
        StateEvent::Closed => (MTP_STATE_CLOSED, 0),
    }
}

/// Severity of a log record, most severe first; `MTP_LOG_OFF` turns
/// logging off. The numbers are stable.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum mtp_log_level {
    MTP_LOG_OFF = 0,
    MTP_LOG_ERROR = 1,
    MTP_LOG_WARN = 2,
    MTP_LOG_INFO = 3,
    MTP_LOG_DEBUG = 4,
    MTP_LOG_TRACE = 5,
}

/// Receives one log record of the library, on the library's own log thread
/// (`mtproto-log`), one record at a time, in the order they were emitted.
/// `target` names the emitting module (`"mtproto::net"`); `message` is the
/// text with its fields (`"connection lost session=1 reason=eof"`),
/// `message_len` bytes of UTF-8 plus a terminating NUL (interior NULs are
/// shown as `\0`). Both strings are borrowed until the callback returns.
/// Records never contain auth keys, key-derived values or request and
/// response bodies. The callback may call any library function.
#[allow(non_camel_case_types)]
pub type mtp_log_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        level: mtp_log_level,
        target: *const std::ffi::c_char,
        message: *const std::ffi::c_char,
        message_len: usize,
    ),
>;

/// The log sink given to the core: one call of `f` per record.
pub(crate) fn log_sink(
    f: unsafe extern "C" fn(
        *mut c_void,
        mtp_log_level,
        *const std::ffi::c_char,
        *const std::ffi::c_char,
        usize,
    ),
    userdata: *mut c_void,
) -> impl mtproto_core::logging::LogSink {
    use mtproto_core::logging::{LogLevel, LogRecord};
    let userdata = UserData(userdata);
    fn c_text(s: &str) -> std::ffi::CString {
        std::ffi::CString::new(s.replace('\0', "\\0")).unwrap_or_default()
    }
    move |batch: &[LogRecord]| {
        for record in batch {
            let level = match record.level {
                LogLevel::Error => mtp_log_level::MTP_LOG_ERROR,
                LogLevel::Warn => mtp_log_level::MTP_LOG_WARN,
                LogLevel::Info => mtp_log_level::MTP_LOG_INFO,
                LogLevel::Debug => mtp_log_level::MTP_LOG_DEBUG,
                LogLevel::Trace => mtp_log_level::MTP_LOG_TRACE,
            };
            let target = c_text(record.target);
            let message = c_text(&record.message);
            let len = message.as_bytes().len();
            // SAFETY: the caller's non-NULL callback with the declared
            // signature; both strings are NUL-terminated and outlive the call.
            unsafe {
                f(
                    userdata.get(),
                    level,
                    target.as_ptr(),
                    message.as_ptr(),
                    len,
                )
            }
        }
    }
}
