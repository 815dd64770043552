//! The C ABI of mtproto: `libmtproto` and `include/mtproto.h`.
//!
//! A thin adapter over `mtproto::client`: no protocol logic lives here.
//! The model is the one every binding exposes: a runtime (threads) →
//! sessions (one auth key and connection each) → invoke bytes, get bytes,
//! plus updates, state events and a dynamic TL codec.
//!
//! Rules the whole API follows (the header repeats them):
//!
//! - Names are `mtp_<type>_<verb>`; objects are opaque handles created by a
//!   `_new` / `_open` function and released by the matching `_free`.
//!   Outputs come last; every buffer is followed by its length.
//! - Handles are tokens looked up in a registry (see `handle.rs`), never
//!   dereferenced, so NULL, freed, foreign or garbage handles give
//!   `MTP_ERR_NULL_ARGUMENT` / `MTP_ERR_INVALID_HANDLE` instead of a crash.
//! - Every function returns an `mtp_result` and records the details
//!   (message, RPC code) in a per-thread last-error slot; no panic crosses
//!   the boundary.
//! - Callbacks take `void *userdata` first and run only on the runtime's
//!   dispatcher thread, never on a caller's thread or the network thread
//!   (the log callback alone runs on the library's log thread).
//!
//! The unsafe code sits in `ptr.rs` (reading caller pointers) and
//! `callback.rs` (calling C function pointers); each block carries a SAFETY
//! comment.

#![deny(unsafe_op_in_unsafe_fn)]
#![allow(clippy::missing_safety_doc)] // Each `# Safety` section is in the doc comment.

mod buffer;
mod callback;
mod codec;
mod error;
mod handle;
mod log;
mod ptr;
mod runtime;
mod session;

use std::ffi::c_char;

pub use buffer::{
    mtp_buffer, mtp_buffer_data, mtp_buffer_free, mtp_update_batch, mtp_update_batch_count,
    mtp_update_batch_free, mtp_update_batch_get,
};
pub use callback::{
    mtp_bytes, mtp_invoke_callback, mtp_log_callback, mtp_log_level, mtp_release_callback,
    mtp_state, mtp_state_callback, mtp_updates_callback,
};
pub use codec::{
    mtp_schema, mtp_schema_decode, mtp_schema_encode, mtp_schema_extend, mtp_schema_free,
    mtp_schema_layer, mtp_schema_new, mtp_schema_new_telegram,
};
pub use error::mtp_result;

/// The first four bytes (read little-endian) of the update that marks a gap
/// in a session's update stream: `updatesTooLong#e317af7e`, which Telegram
/// itself sends for "fetch the difference". It arrives, in order, through
/// the updates callback and `mtp_session_next_updates` when the server
/// re-created the session and updates pushed meanwhile may be lost; an API
/// client then calls `updates.getDifference`.
pub const MTP_GAP_MARKER_ID: u32 = 0xe317_af7e;

#[cfg(test)]
#[test]
fn gap_marker_id_is_the_core_marker() {
    assert_eq!(
        MTP_GAP_MARKER_ID.to_le_bytes(),
        mtproto_core::client::GAP_MARKER
    );
}
pub use log::{mtp_log_flush, mtp_set_log_callback, mtp_set_log_level};
pub use runtime::{mtp_runtime, mtp_runtime_free, mtp_runtime_new};
pub use session::{
    mtp_session, mtp_session_cancel, mtp_session_close, mtp_session_config, mtp_session_free,
    mtp_session_invoke, mtp_session_invoke_blocking, mtp_session_next_updates, mtp_session_open,
    mtp_session_set_state_callback, mtp_session_set_updates_callback, mtp_transport,
};

/// The library version, e.g. `"0.1.0"`: a static NUL-terminated string
/// (never freed). Thread-safe.
#[no_mangle]
pub extern "C" fn mtp_version() -> *const c_char {
    const VERSION: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
    ) {
        Ok(v) => v,
        Err(_) => c"unknown",
    };
    VERSION.as_ptr()
}

/// The name of a result code (`"MTP_ERR_TIMEOUT"`), or
/// `"MTP_UNKNOWN_RESULT"` for a number that is not one: a static string
/// (never freed). Thread-safe.
#[no_mangle]
pub extern "C" fn mtp_result_name(result: i32) -> *const c_char {
    error::guard_value(c"MTP_ERR_INTERNAL".as_ptr(), || {
        error::name(result).as_ptr()
    })
}

/// The code of the last library call made on this thread (`MTP_OK` after
/// a success). Inside a completion callback: the request's outcome.
/// Thread-safe: each thread has its own slot. Does not change the slot.
#[no_mangle]
pub extern "C" fn mtp_last_error_code() -> mtp_result {
    error::guard_value(mtp_result::MTP_ERR_INTERNAL, error::last_code)
}

/// The message of the last library call made on this thread (`""` after a
/// success); inside a completion callback, of the request's outcome.
///
/// Ownership: the string belongs to the library and stays valid until the
/// next library call on this thread (other than `mtp_last_error_*` and
/// `mtp_result_name`); copy it to keep it. Never NULL. Thread-safe.
#[no_mangle]
pub extern "C" fn mtp_last_error_message() -> *const c_char {
    error::guard_value(c"".as_ptr(), error::last_message_ptr)
}

/// The server's error code (e.g. 400, 420) when the last call on this
/// thread (or the request of the running completion callback) failed with
/// `MTP_ERR_RPC`; 0 otherwise. Thread-safe.
#[no_mangle]
pub extern "C" fn mtp_last_error_rpc_code() -> i32 {
    error::guard_value(0, error::last_rpc_code)
}
