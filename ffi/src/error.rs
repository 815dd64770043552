//! The result codes, the per-thread last error, and the panic boundary.
//!
//! Every exported function returns an [`mtp_result`] and records the
//! outcome of the call in a thread-local slot: the code, a message and,
//! for RPC errors, the server's error code. The slot is read with
//! `mtp_last_error_*`. Completion callbacks see the outcome of their
//! request in the same slot (it is set on the dispatcher thread just before
//! the callback runs).

#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use mtproto_core::client::Error as CoreError;

/// What a call did. One enum for the whole library; the numbers are stable
/// and will never be reused for another meaning (new codes are only
/// appended).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum mtp_result {
    /// Success.
    MTP_OK = 0,
    /// The server answered `rpc_error`; `mtp_last_error_rpc_code()` gives
    /// its code (e.g. 400, 420) and `mtp_last_error_message()` its message.
    MTP_ERR_RPC = 1,
    /// The connection failed and was not recovered in time.
    MTP_ERR_TRANSPORT = 2,
    /// No answer within the timeout (the server was asked to drop it), or
    /// nothing arrived within a pull's timeout.
    MTP_ERR_TIMEOUT = 3,
    /// The request was cancelled with `mtp_session_cancel`.
    MTP_ERR_CANCELLED = 4,
    /// The session (or its runtime) is closed.
    MTP_ERR_CLOSED = 5,
    /// An argument has an unusable value (bad request bytes, address, PEM,
    /// enum value, text that is not UTF-8 or not JSON, ...).
    MTP_ERR_INVALID_INPUT = 6,
    /// The auth key could not be created, or the server rejected it.
    MTP_ERR_AUTH = 7,
    /// The session store (SQLite) failed.
    MTP_ERR_STORAGE = 8,
    /// A required pointer argument was NULL.
    MTP_ERR_NULL_ARGUMENT = 9,
    /// The handle is not a live handle of the expected type (never
    /// created, already freed, or of another type).
    MTP_ERR_INVALID_HANDLE = 10,
    /// A TL schema text could not be parsed.
    MTP_ERR_SCHEMA = 11,
    /// The dynamic codec rejected a value (JSON that does not fit the
    /// schema) or bytes (that are not a valid TL object of the schema).
    MTP_ERR_CODEC = 12,
    /// A bug in the library (a caught panic) or an exhausted internal
    /// limit. The library stays usable.
    MTP_ERR_INTERNAL = 13,
}

use mtp_result::*;

/// A failed call: the code and what to tell the caller.
#[derive(Debug)]
pub(crate) struct Fail {
    pub code: mtp_result,
    pub rpc_code: i32,
    pub message: String,
}

impl Fail {
    pub fn new(code: mtp_result, message: impl Into<String>) -> Fail {
        Fail {
            code,
            rpc_code: 0,
            message: message.into(),
        }
    }

    pub fn null(what: &str) -> Fail {
        Fail::new(MTP_ERR_NULL_ARGUMENT, format!("{what} is NULL"))
    }

    pub fn handle(what: &str) -> Fail {
        Fail::new(
            MTP_ERR_INVALID_HANDLE,
            format!("{what} is not a live handle (freed, never created, or of another type)"),
        )
    }

    pub fn invalid(message: impl Into<String>) -> Fail {
        Fail::new(MTP_ERR_INVALID_INPUT, message)
    }
}

impl From<CoreError> for Fail {
    fn from(e: CoreError) -> Fail {
        let message = e.to_string();
        let (code, rpc_code) = match e {
            CoreError::Rpc { code, message } => {
                return Fail {
                    code: MTP_ERR_RPC,
                    rpc_code: code,
                    message,
                }
            }
            CoreError::Transport(_) => (MTP_ERR_TRANSPORT, 0),
            CoreError::Timeout => (MTP_ERR_TIMEOUT, 0),
            CoreError::Cancelled => (MTP_ERR_CANCELLED, 0),
            CoreError::Closed => (MTP_ERR_CLOSED, 0),
            CoreError::InvalidInput(_) => (MTP_ERR_INVALID_INPUT, 0),
            CoreError::Auth(_) => (MTP_ERR_AUTH, 0),
            CoreError::Storage(_) => (MTP_ERR_STORAGE, 0),
            _ => (MTP_ERR_INTERNAL, 0),
        };
        Fail {
            code,
            rpc_code,
            message,
        }
    }
}

pub(crate) type FfiResult<T = ()> = Result<T, Fail>;

struct LastError {
    code: mtp_result,
    rpc_code: i32,
    message: CString,
}

thread_local! {
    static LAST: RefCell<LastError> = RefCell::new(LastError {
        code: MTP_OK,
        rpc_code: 0,
        message: CString::default(),
    });
}

/// A C string from a message; interior NUL bytes (possible in a server's
/// error text) become `?` so the message is never cut or lost.
fn c_message(message: &str) -> CString {
    CString::new(message.replace('\0', "?")).unwrap_or_default()
}

/// Stores the outcome of a call in this thread's slot and returns its code.
pub(crate) fn record(outcome: &FfiResult) -> mtp_result {
    let (code, rpc_code, message) = match outcome {
        Ok(()) => (MTP_OK, 0, CString::default()),
        Err(f) => (f.code, f.rpc_code, c_message(&f.message)),
    };
    // `try_with`: during thread teardown the slot may be gone; the code is
    // still returned.
    let _ = LAST.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = LastError {
                code,
                rpc_code,
                message,
            };
        }
    });
    code
}

/// Runs the body of an exported function: a panic is caught (it must never
/// unwind into C) and turned into `MTP_ERR_INTERNAL`; the outcome is
/// recorded as this thread's last error.
pub(crate) fn guard(body: impl FnOnce() -> FfiResult) -> mtp_result {
    let outcome = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(outcome) => outcome,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(Fail::new(
                MTP_ERR_INTERNAL,
                format!("internal error (a panic was caught): {what}"),
            ))
        }
    };
    record(&outcome)
}

/// Like [`guard`] for functions that return a value instead of a code:
/// a panic yields `fallback`.
pub(crate) fn guard_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

pub(crate) fn last_code() -> mtp_result {
    LAST.try_with(|l| l.try_borrow().map(|l| l.code).unwrap_or(MTP_OK))
        .unwrap_or(MTP_OK)
}

pub(crate) fn last_rpc_code() -> i32 {
    LAST.try_with(|l| l.try_borrow().map(|l| l.rpc_code).unwrap_or(0))
        .unwrap_or(0)
}

/// A pointer to this thread's last message. It stays valid until the slot
/// is next written, i.e. until the next library call on this thread (other
/// than the `mtp_last_error_*` readers), because the `CString`'s heap
/// buffer does not move while it is stored.
pub(crate) fn last_message_ptr() -> *const c_char {
    static EMPTY: &[u8] = b"\0";
    LAST.try_with(|l| {
        l.try_borrow()
            .map(|l| l.message.as_ptr())
            .unwrap_or(EMPTY.as_ptr().cast())
    })
    .unwrap_or(EMPTY.as_ptr().cast())
}

/// The stable name of a code (`"MTP_ERR_TIMEOUT"`), for logs.
pub(crate) fn name(code: i32) -> &'static std::ffi::CStr {
    match code {
        0 => c"MTP_OK",
        1 => c"MTP_ERR_RPC",
        2 => c"MTP_ERR_TRANSPORT",
        3 => c"MTP_ERR_TIMEOUT",
        4 => c"MTP_ERR_CANCELLED",
        5 => c"MTP_ERR_CLOSED",
        6 => c"MTP_ERR_INVALID_INPUT",
        7 => c"MTP_ERR_AUTH",
        8 => c"MTP_ERR_STORAGE",
        9 => c"MTP_ERR_NULL_ARGUMENT",
        10 => c"MTP_ERR_INVALID_HANDLE",
        11 => c"MTP_ERR_SCHEMA",
        12 => c"MTP_ERR_CODEC",
        13 => c"MTP_ERR_INTERNAL",
        _ => c"MTP_UNKNOWN_RESULT",
    }
}
