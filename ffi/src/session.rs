//! `mtp_session`: one auth key on one DC, and every call made on it.

use std::cell::RefCell;
use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::time::Duration;

use mtproto_core::client::{
    ClientInfo, ClientSession, Error as CoreError, SessionConfig, TransportKind, MAX_REQUEST_BYTES,
};
use mtproto_core::storage::SqliteStore;
use mtproto_core::transport::Framing;

use crate::buffer::{mtp_buffer, mtp_update_batch, new_batch, new_buffer};
use crate::callback::{
    self, mtp_invoke_callback, mtp_release_callback, mtp_state_callback, mtp_updates_callback,
    InvokeCallback,
};
use crate::error::{guard, mtp_result, Fail, FfiResult};
use crate::handle::{from_ptr, tag, to_ptr, Registry};
use crate::ptr;
use crate::runtime::{lookup_runtime, mtp_runtime};

/// A session. Opaque; open with `mtp_session_open`, free with
/// `mtp_session_free`.
#[allow(non_camel_case_types)]
pub struct mtp_session {
    _opaque: [u8; 0],
}

/// How bytes travel over TCP. The numbers are stable. Obfuscated padded
/// intermediate (0, the default) is what current official clients use.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum mtp_transport {
    MTP_TRANSPORT_OBFUSCATED_PADDED_INTERMEDIATE = 0,
    MTP_TRANSPORT_OBFUSCATED_INTERMEDIATE = 1,
    MTP_TRANSPORT_OBFUSCATED_ABRIDGED = 2,
    MTP_TRANSPORT_PADDED_INTERMEDIATE = 3,
    MTP_TRANSPORT_INTERMEDIATE = 4,
    MTP_TRANSPORT_ABRIDGED = 5,
    /// The full transport (length, counter, CRC32); cannot be obfuscated.
    MTP_TRANSPORT_FULL = 6,
}

/// What `mtp_session_open` needs. Zero-initialise it (`= {0}` or memset):
/// every zero or NULL field means "the default". The library reads it only
/// during `mtp_session_open` and keeps no pointer into it.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct mtp_session_config {
    /// `"1.2.3.4:443"`, `"[::1]:443"` or `"host.example:443"`. Required.
    pub address: *const c_char,
    /// The DC number, 1..=9999. Required.
    pub dc_id: i32,
    /// A test DC (its key is stored apart from the production DC's).
    pub test_dc: bool,
    /// A media-only DC (shares the auth key of the plain DC).
    pub media: bool,
    /// One or more PEM blocks of the server's RSA public keys, used to
    /// create an auth key. May be NULL when the store already holds a key.
    pub rsa_public_key_pem: *const c_char,
    /// An `mtp_transport` value; 0 = obfuscated padded intermediate.
    pub transport: i32,
    /// Connect timeout; 0 = 10 000 ms.
    pub connect_timeout_ms: u32,
    /// Default timeout of requests (used when an invoke passes 0);
    /// 0 = 30 000 ms.
    pub request_timeout_ms: u32,
    /// Keepalive ping interval (at least 1000); 0 = 60 000 ms.
    pub ping_interval_ms: u32,
    /// SQLite database file holding the auth key, salts and time offset
    /// (created if absent). NULL = kept in memory, lost on free.
    pub store_path: *const c_char,
    /// The application's api_id. When nonzero the first request after each
    /// connect is wrapped in invokeWithLayer(initConnection(...)).
    pub api_id: i32,
    /// initConnection fields; NULL = the library's default for each.
    pub device_model: *const c_char,
    pub system_version: *const c_char,
    pub app_version: *const c_char,
    pub system_lang_code: *const c_char,
    pub lang_pack: *const c_char,
    pub lang_code: *const c_char,
    /// Updates kept for pulling when no updates callback is set (oldest
    /// dropped beyond it); 0 = 10 000.
    pub max_buffered_updates: u32,
}

pub(crate) struct SessionEntry {
    session: ClientSession,
    request_timeout: Duration,
}

pub(crate) static SESSIONS: Registry<SessionEntry> = Registry::new(tag::SESSION);

fn lookup(handle: *const mtp_session) -> FfiResult<Arc<SessionEntry>> {
    if handle.is_null() {
        return Err(Fail::null("session"));
    }
    SESSIONS
        .get(from_ptr(handle))
        .ok_or_else(|| Fail::handle("session"))
}

fn transport(value: i32) -> FfiResult<TransportKind> {
    let (framing, obfuscated) = match value {
        0 => (Framing::PaddedIntermediate, true),
        1 => (Framing::Intermediate, true),
        2 => (Framing::Abridged, true),
        3 => (Framing::PaddedIntermediate, false),
        4 => (Framing::Intermediate, false),
        5 => (Framing::Abridged, false),
        6 => (Framing::Full, false),
        other => {
            return Err(Fail::invalid(format!(
                "transport {other} is not an mtp_transport value (0..=6)"
            )))
        }
    };
    Ok(TransportKind {
        framing,
        obfuscated,
    })
}

fn ms_or(value: u32, default: Duration) -> Duration {
    if value == 0 {
        default
    } else {
        Duration::from_millis(u64::from(value))
    }
}

/// Builds the core configuration from the C struct.
///
/// # Safety
/// Every non-NULL string field must be NUL-terminated.
unsafe fn to_config(c: &mtp_session_config) -> FfiResult<SessionConfig> {
    // SAFETY (all reads below): the caller's contract on the struct fields.
    let address = unsafe { ptr::c_str(c.address, "config.address")? }
        .ok_or_else(|| Fail::null("config.address"))?;
    let pem = unsafe { ptr::c_str(c.rsa_public_key_pem, "config.rsa_public_key_pem")? };
    let mut config = SessionConfig::new(address, c.dc_id, pem.unwrap_or(""));
    config.test_dc = c.test_dc;
    config.media = c.media;
    config.transport = transport(c.transport)?;
    config.connect_timeout = ms_or(c.connect_timeout_ms, config.connect_timeout);
    config.request_timeout = ms_or(c.request_timeout_ms, config.request_timeout);
    if c.ping_interval_ms != 0 {
        config.ping_interval = Some(Duration::from_millis(u64::from(c.ping_interval_ms)));
    }
    if c.api_id != 0 {
        config.api_id = Some(c.api_id);
    }
    let defaults = ClientInfo::default();
    let field = |p: *const c_char, name: &str, default: String| -> FfiResult<String> {
        // SAFETY: as above.
        Ok(unsafe { ptr::c_str(p, name)? }.map_or(default, str::to_owned))
    };
    config.client_info = ClientInfo {
        device_model: field(c.device_model, "config.device_model", defaults.device_model)?,
        system_version: field(
            c.system_version,
            "config.system_version",
            defaults.system_version,
        )?,
        app_version: field(c.app_version, "config.app_version", defaults.app_version)?,
        system_lang_code: field(
            c.system_lang_code,
            "config.system_lang_code",
            defaults.system_lang_code,
        )?,
        lang_pack: field(c.lang_pack, "config.lang_pack", defaults.lang_pack)?,
        lang_code: field(c.lang_code, "config.lang_code", defaults.lang_code)?,
    };
    if c.max_buffered_updates != 0 {
        config.max_buffered_updates = c.max_buffered_updates as usize;
    }
    // SAFETY: as above.
    if let Some(path) = unsafe { ptr::c_str(c.store_path, "config.store_path")? } {
        if path.is_empty() {
            return Err(Fail::invalid(
                "config.store_path is empty (use NULL for memory)",
            ));
        }
        config.store = SqliteStore::shared(path).map_err(CoreError::from)?;
    }
    Ok(config)
}

/// Opens a session on `runtime` and stores its handle in `*out_session`.
///
/// The configuration is checked here (a bad address, dc_id, PEM, transport
/// or timeout returns `MTP_ERR_INVALID_INPUT`; a store that cannot be
/// opened `MTP_ERR_STORAGE`); connecting and creating the auth key happen
/// in the background. Requests may be sent at once: they wait for the
/// connection (within their timeouts).
///
/// Ownership: the caller owns the session and frees it with
/// `mtp_session_free` (also after `mtp_session_close`, and also after the
/// runtime was freed). `config` is only read during the call.
/// Thread-safe.
///
/// # Safety
/// `config` must be NULL or point to an initialised `mtp_session_config`
/// whose non-NULL strings are NUL-terminated; `out_session` must be NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn mtp_session_open(
    runtime: *mut mtp_runtime,
    config: *const mtp_session_config,
    out_session: *mut *mut mtp_session,
) -> mtp_result {
    guard(|| {
        ptr::check_out(out_session, "out_session")?;
        // SAFETY: checked non-NULL, writable by contract.
        unsafe { ptr::clear_out(out_session) };
        let rt = lookup_runtime(runtime)?;
        // SAFETY: the caller's contract on `config`.
        let c = unsafe { ptr::borrow(config, "config")? };
        // SAFETY: as above.
        let config = unsafe { to_config(c)? };
        let request_timeout = config.request_timeout;
        let session = rt.open_session(config)?;
        let token = SESSIONS.insert(Arc::new(SessionEntry {
            session,
            request_timeout,
        }))?;
        // SAFETY: as above.
        unsafe { ptr::write(out_session, to_ptr(token)) };
        Ok(())
    })
}

/// Closes a session: every pending request ends, its completion callback
/// firing with `MTP_ERR_CLOSED` (on the dispatcher thread, shortly after);
/// the state callback gets `MTP_STATE_CLOSED`; later calls on the session
/// return `MTP_ERR_CLOSED`; updates already received can still be pulled.
/// Returns at once. Idempotent. The handle stays valid until
/// `mtp_session_free`. Thread-safe; may be called from a callback.
#[no_mangle]
pub extern "C" fn mtp_session_close(session: *mut mtp_session) -> mtp_result {
    guard(|| {
        lookup(session)?.session.close();
        Ok(())
    })
}

/// Closes (as `mtp_session_close`) and frees a session.
///
/// After it returns the handle is invalid (`MTP_ERR_INVALID_HANDLE`, also
/// for a second free), and the updates and state callbacks are not called
/// again, except a delivery already running on the dispatcher thread;
/// their `release` functions run once that is over. Completion callbacks
/// of pending requests still fire, each exactly once, with
/// `MTP_ERR_CLOSED`. Thread-safe; may be called from any callback,
/// including one of this session.
#[no_mangle]
pub extern "C" fn mtp_session_free(session: *mut mtp_session) -> mtp_result {
    guard(|| {
        if session.is_null() {
            return Err(Fail::null("session"));
        }
        let entry = SESSIONS
            .remove(from_ptr(session))
            .ok_or_else(|| Fail::handle("session"))?;
        entry.session.clear_update_handler();
        entry.session.clear_state_handler();
        entry.session.close();
        drop(entry);
        Ok(())
    })
}

fn timeout_or(entry: &SessionEntry, timeout_ms: u32) -> Duration {
    ms_or(timeout_ms, entry.request_timeout)
}

thread_local! {
    /// Set while this thread is inside `invoke_with_callback`: a completion
    /// called in that window on this thread is the core refusing the
    /// request at once, which `mtp_session_invoke` returns as its result
    /// instead of calling the C callback.
    static REFUSAL: RefCell<Option<Option<CoreError>>> = const { RefCell::new(None) };
}

/// Sends a TL-serialized request; `callback` receives its end exactly once,
/// on the runtime's dispatcher thread, never on the calling thread.
///
/// `timeout_ms` = 0 uses the session's `request_timeout_ms`. On timeout or
/// cancellation the server is asked to drop the answer. `*out_request_id`
/// (if `out_request_id` is not NULL) receives the id for
/// `mtp_session_cancel`.
///
/// Returns `MTP_OK` when the request was sent: the callback will fire.
/// Any other code means the request was refused at once (closed session:
/// `MTP_ERR_CLOSED`; a body that is not 4..=1 MiB bytes and a multiple of
/// 4: `MTP_ERR_INVALID_INPUT`; ...) and the callback will NOT be called.
///
/// Ownership: `request` is copied before returning. `userdata` is the
/// caller's; the library passes it back once and never touches it.
/// Thread-safe; may be called from inside any callback.
///
/// # Safety
/// `request` must point to `request_len` readable bytes (or be NULL with
/// 0); `callback` must be a function with the declared signature;
/// `out_request_id` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mtp_session_invoke(
    session: *mut mtp_session,
    request: *const u8,
    request_len: usize,
    timeout_ms: u32,
    callback: mtp_invoke_callback,
    userdata: *mut c_void,
    out_request_id: *mut u64,
) -> mtp_result {
    guard(|| {
        let entry = lookup(session)?;
        let callback = callback.ok_or_else(|| Fail::null("callback"))?;
        // SAFETY: the caller's contract on `request`.
        let body =
            unsafe { ptr::bytes(request, request_len, MAX_REQUEST_BYTES, "request")? }.to_vec();
        let cb = InvokeCallback::new(callback, userdata);
        let timeout = timeout_or(&entry, timeout_ms);
        /// Clears this thread's refusal window however the call below
        /// ends (even by unwinding), so a later completion delivered on
        /// this thread is never mistaken for a refusal.
        struct Window;
        impl Drop for Window {
            fn drop(&mut self) {
                let _ = REFUSAL.try_with(|r| r.borrow_mut().take());
            }
        }
        REFUSAL.with(|r| *r.borrow_mut() = Some(None));
        let window = Window;
        let id = entry
            .session
            .invoke_with_callback(body, timeout, move |result| {
                let refused_here = REFUSAL.with(|r| match r.borrow_mut().as_mut() {
                    Some(slot) => {
                        *slot = Some(result.clone().err().unwrap_or(CoreError::Closed));
                        true
                    }
                    None => false,
                });
                if refused_here {
                    cb.disarm();
                } else {
                    cb.call(result);
                }
            });
        let refusal = REFUSAL.with(|r| r.borrow_mut().take());
        drop(window);
        if let Some(Some(refusal)) = refusal {
            return Err(refusal.into());
        }
        if !out_request_id.is_null() {
            // SAFETY: non-NULL, writable by contract.
            unsafe { ptr::write(out_request_id, id.0) };
        }
        Ok(())
    })
}

/// Sends a request and waits for its end on the calling thread, at most
/// about `timeout_ms` (0 = the session's request timeout). On success
/// `*out_result` receives a buffer with the TL-serialized answer.
///
/// Errors: the request's outcome (`MTP_ERR_RPC`, `MTP_ERR_TIMEOUT`,
/// `MTP_ERR_CLOSED`, ...) with `*out_result` set to NULL.
///
/// Ownership: the caller owns `*out_result` and frees it with
/// `mtp_buffer_free`. `request` is copied. Thread-safe; do not call it from
/// a callback if other callbacks must keep flowing meanwhile (it blocks the
/// dispatcher thread; it does not deadlock).
///
/// # Safety
/// `request` must point to `request_len` readable bytes (or be NULL with
/// 0); `out_result` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mtp_session_invoke_blocking(
    session: *mut mtp_session,
    request: *const u8,
    request_len: usize,
    timeout_ms: u32,
    out_result: *mut *mut mtp_buffer,
) -> mtp_result {
    guard(|| {
        ptr::check_out(out_result, "out_result")?;
        // SAFETY: checked non-NULL, writable by contract.
        unsafe { ptr::clear_out(out_result) };
        let entry = lookup(session)?;
        // SAFETY: the caller's contract on `request`.
        let body =
            unsafe { ptr::bytes(request, request_len, MAX_REQUEST_BYTES, "request")? }.to_vec();
        let timeout = timeout_or(&entry, timeout_ms);
        let answer = entry.session.invoke_blocking(body, timeout)?;
        let buffer = new_buffer(answer)?;
        // SAFETY: as above.
        unsafe { ptr::write(out_result, buffer) };
        Ok(())
    })
}

/// Cancels a request sent with `mtp_session_invoke`: its callback fires
/// with `MTP_ERR_CANCELLED` (unless it already ended), and if it was sent
/// the server is asked to drop the answer (rpc_drop_answer). Unknown or
/// finished ids are ignored (`MTP_OK`). Returns `MTP_ERR_CLOSED` on a
/// closed session. Thread-safe; may be called from a callback.
#[no_mangle]
pub extern "C" fn mtp_session_cancel(session: *mut mtp_session, request_id: u64) -> mtp_result {
    guard(|| {
        let entry = lookup(session)?;
        if entry.session.is_closed() {
            return Err(CoreError::Closed.into());
        }
        entry
            .session
            .cancel(mtproto_core::client::RequestId(request_id));
        Ok(())
    })
}

/// Sets (or, with `callback` NULL, clears) the updates callback of a
/// session. Updates arrive in batches on the runtime's dispatcher thread,
/// in order; updates buffered before a callback was set are delivered to
/// it first. Without a callback, updates are kept for
/// `mtp_session_next_updates`.
///
/// Ownership: `userdata` stays the caller's. `release` (may be NULL) is
/// called once with `userdata` when the library has dropped this
/// registration for good (replaced, cleared, session or runtime freed) and
/// will not call `callback` again: free `userdata` there. With `callback`
/// NULL, `release` (if any) is called at once.
///
/// Returns `MTP_ERR_CLOSED` on a closed session (nothing is registered and
/// `release` is not called). Thread-safe; may be called from a callback.
///
/// # Safety
/// `callback` and `release` must be NULL or functions with the declared
/// signatures.
#[no_mangle]
pub unsafe extern "C" fn mtp_session_set_updates_callback(
    session: *mut mtp_session,
    callback: mtp_updates_callback,
    userdata: *mut c_void,
    release: mtp_release_callback,
) -> mtp_result {
    guard(|| {
        let entry = lookup(session)?;
        if entry.session.is_closed() {
            return Err(CoreError::Closed.into());
        }
        match callback {
            Some(f) => entry
                .session
                .set_update_handler(callback::updates_handler(f, userdata, release)),
            None => {
                entry.session.clear_update_handler();
                callback::release_now(release, userdata);
            }
        }
        Ok(())
    })
}

/// Sets (or, with `callback` NULL, clears) the connection-state callback.
/// Events run on the runtime's dispatcher thread, in order; events that
/// happened before a callback was set (e.g. `MTP_STATE_CONNECTING` right
/// after open) are delivered to it first. `userdata` and `release` as for
/// `mtp_session_set_updates_callback`. Thread-safe.
///
/// # Safety
/// `callback` and `release` must be NULL or functions with the declared
/// signatures.
#[no_mangle]
pub unsafe extern "C" fn mtp_session_set_state_callback(
    session: *mut mtp_session,
    callback: mtp_state_callback,
    userdata: *mut c_void,
    release: mtp_release_callback,
) -> mtp_result {
    guard(|| {
        let entry = lookup(session)?;
        if entry.session.is_closed() {
            return Err(CoreError::Closed.into());
        }
        match callback {
            Some(f) => entry
                .session
                .set_state_handler(callback::state_handler(f, userdata, release)),
            None => {
                entry.session.clear_state_handler();
                callback::release_now(release, userdata);
            }
        }
        Ok(())
    })
}

/// Pulls the next batch of updates, for callers that take no callbacks:
/// waits up to `timeout_ms` (0 = do not wait) for at least one update, then
/// returns up to `max_updates` of them (0 = all that are queued) in
/// `*out_batch`.
///
/// Returns `MTP_ERR_TIMEOUT` when none came in time, and `MTP_ERR_CLOSED`
/// once the session is closed and every update was taken; `*out_batch` is
/// then NULL. While an updates callback is set, updates go to it instead.
///
/// Ownership: the caller owns `*out_batch` and frees it with
/// `mtp_update_batch_free`. Thread-safe (use one puller per session); it
/// blocks the calling thread.
///
/// # Safety
/// `out_batch` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mtp_session_next_updates(
    session: *mut mtp_session,
    max_updates: usize,
    timeout_ms: u32,
    out_batch: *mut *mut mtp_update_batch,
) -> mtp_result {
    guard(|| {
        ptr::check_out(out_batch, "out_batch")?;
        // SAFETY: checked non-NULL, writable by contract.
        unsafe { ptr::clear_out(out_batch) };
        let entry = lookup(session)?;
        let max = if max_updates == 0 {
            usize::MAX
        } else {
            max_updates
        };
        let items = entry
            .session
            .next_updates(max, Duration::from_millis(u64::from(timeout_ms)))?;
        if items.is_empty() {
            return Err(Fail::new(
                mtp_result::MTP_ERR_TIMEOUT,
                "no update arrived within the timeout",
            ));
        }
        let batch = new_batch(items)?;
        // SAFETY: as above.
        unsafe { ptr::write(out_batch, batch) };
        Ok(())
    })
}
