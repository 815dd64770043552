//! `mtp_runtime`: the threads that every session of the runtime runs on.

use std::sync::Arc;

use mtproto_core::runtime::Runtime;

use crate::error::{guard, mtp_result, Fail};
use crate::handle::{from_ptr, tag, to_ptr, Registry};
use crate::ptr;

/// A runtime: one network thread (`mtproto-net`) that runs every session
/// opened on it, and one dispatcher thread (`mtproto-dispatch`) that runs
/// every callback. Opaque; create with `mtp_runtime_new`, free with
/// `mtp_runtime_free`.
#[allow(non_camel_case_types)]
pub struct mtp_runtime {
    _opaque: [u8; 0],
}

pub(crate) static RUNTIMES: Registry<Runtime> = Registry::new(tag::RUNTIME);

pub(crate) fn lookup_runtime(handle: *const mtp_runtime) -> Result<Arc<Runtime>, Fail> {
    if handle.is_null() {
        return Err(Fail::null("runtime"));
    }
    RUNTIMES
        .get(from_ptr(handle))
        .ok_or_else(|| Fail::handle("runtime"))
}

/// Starts a runtime (its two threads) and stores its handle in
/// `*out_runtime`.
///
/// Ownership: the caller owns the runtime and frees it with
/// `mtp_runtime_free`. Thread-safe; a process usually needs one.
///
/// Errors: `MTP_ERR_NULL_ARGUMENT` (out_runtime is NULL),
/// `MTP_ERR_TRANSPORT` (a thread could not be started).
///
/// # Safety
/// `out_runtime` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mtp_runtime_new(out_runtime: *mut *mut mtp_runtime) -> mtp_result {
    guard(|| {
        ptr::check_out(out_runtime, "out_runtime")?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { ptr::clear_out(out_runtime) };
        let runtime = Runtime::new()?;
        let token = RUNTIMES.insert(Arc::new(runtime))?;
        // SAFETY: as above.
        unsafe { ptr::write(out_runtime, to_ptr(token)) };
        Ok(())
    })
}

/// Closes and frees a runtime.
///
/// Every session opened on it is closed: each pending request ends and its
/// completion callback fires with `MTP_ERR_CLOSED` before this returns;
/// state callbacks get `MTP_STATE_CLOSED`. Then both threads are joined, so
/// when it returns no callback of this runtime is running or will run.
/// Session handles stay valid (every call on them returns
/// `MTP_ERR_CLOSED`) and must still be freed with `mtp_session_free`.
///
/// Called from a callback (i.e. on this runtime's dispatcher thread), it
/// does not wait for the dispatcher itself, which ends on its own once the
/// callback returns.
///
/// Thread-safe. Freeing a freed or unknown handle returns
/// `MTP_ERR_INVALID_HANDLE`; NULL returns `MTP_ERR_NULL_ARGUMENT`.
#[no_mangle]
pub extern "C" fn mtp_runtime_free(runtime: *mut mtp_runtime) -> mtp_result {
    guard(|| {
        if runtime.is_null() {
            return Err(Fail::null("runtime"));
        }
        let rt = RUNTIMES
            .remove(from_ptr(runtime))
            .ok_or_else(|| Fail::handle("runtime"))?;
        // Close even if another thread is still inside a call holding a
        // reference: freeing means "stop now".
        rt.close();
        drop(rt);
        Ok(())
    })
}
