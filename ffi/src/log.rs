//! `mtp_set_log_callback`: the core's log records for C callers.

use std::ffi::c_void;
use std::sync::Arc;
use std::time::Duration;

use mtproto_core::logging::{self, LogLevel};

use crate::callback::{log_sink, mtp_log_callback};
use crate::error::{guard, mtp_result, Fail, FfiResult};

fn level_of(level: i32) -> FfiResult<Option<LogLevel>> {
    match level {
        0 => Ok(None),
        1..=5 => Ok(LogLevel::from_number(level as u8)),
        _ => Err(Fail::invalid(format!(
            "level {level} is not an mtp_log_level (0 = off … 5 = trace)"
        ))),
    }
}

/// Sends the library's log records at `level` and above (an `mtp_log_level`:
/// `MTP_LOG_WARN` is the usual choice, `MTP_LOG_TRACE` shows every request
/// id and state change) to `callback`; `MTP_LOG_OFF` or a NULL `callback`
/// turns logging off. Until the first call nothing is logged.
///
/// Records are delivered on the library's log thread, never on the network
/// thread, so a slow callback delays only later records. If the callback
/// falls 4096 records behind, newer records are dropped and the next
/// delivery starts with a warning that says how many.
///
/// Ownership: `userdata` stays the caller's. When this function returns,
/// the previously set callback is not running and will never be called
/// again (unless this call is made from inside it), so its `userdata` may
/// be freed at once. Thread-safe; process-wide (one callback for all
/// runtimes).
///
/// Errors: `MTP_ERR_INVALID_INPUT` for a level outside 0..=5,
/// `MTP_ERR_INTERNAL` when another Rust library in the process already owns
/// the `tracing` subscriber.
///
/// # Safety
/// `callback` must be NULL or a function with the declared signature, safe
/// to call from another thread with `userdata`.
#[no_mangle]
pub unsafe extern "C" fn mtp_set_log_callback(
    level: i32,
    callback: mtp_log_callback,
    userdata: *mut c_void,
) -> mtp_result {
    guard(|| {
        let level = level_of(level)?;
        match (callback, level) {
            (Some(f), Some(_)) => logging::set_sink(level, Arc::new(log_sink(f, userdata)))
                .map_err(|e| Fail::new(mtp_result::MTP_ERR_INTERNAL, e.to_string())),
            _ => {
                logging::clear_sink();
                Ok(())
            }
        }
    })
}

/// Changes the level of the callback set by `mtp_set_log_callback` without
/// replacing it (`MTP_LOG_OFF` pauses logging). Thread-safe.
#[no_mangle]
pub extern "C" fn mtp_set_log_level(level: i32) -> mtp_result {
    guard(|| {
        logging::set_max_level(level_of(level)?);
        Ok(())
    })
}

/// Waits up to `timeout_ms` until every record emitted so far has been
/// handed to the log callback and the callback has returned (e.g. before
/// exit). Returns `MTP_OK`, or `MTP_ERR_TIMEOUT` if records are still
/// queued (always when called from inside the log callback). Thread-safe.
#[no_mangle]
pub extern "C" fn mtp_log_flush(timeout_ms: u32) -> mtp_result {
    guard(|| {
        if logging::flush(Duration::from_millis(u64::from(timeout_ms))) {
            Ok(())
        } else {
            Err(Fail::new(
                mtp_result::MTP_ERR_TIMEOUT,
                "log records are still queued",
            ))
        }
    })
}
