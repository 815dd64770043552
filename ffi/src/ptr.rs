//! Reading arguments from C and writing results back: the only place that
//! turns caller pointers into Rust references. Each function checks for
//! NULL and states what it relies on from the caller (the contract written
//! in the header: a non-NULL pointer points to what its parameter says).

use std::ffi::{c_char, CStr};

use crate::error::{Fail, FfiResult};

/// Largest schema text, JSON value or TL value the codec functions read:
/// far above any real one (api.tl is 280 KB), and a bound on how far a
/// wrong length can make the library read.
pub(crate) const MAX_CODEC_INPUT: usize = 16 << 20;

/// The bytes `ptr[0..len]`, borrowed for the call. NULL is allowed only
/// with `len == 0`. A `len` above `max` is refused before the memory is
/// touched, so a wrong length (a negative `int` cast to `size_t`, a length
/// of the wrong buffer) is an error instead of an over-read or an abort.
///
/// # Safety
/// A non-NULL `ptr` must point to `len` readable bytes that stay unchanged
/// for `'a` (the duration of the exported call).
pub(crate) unsafe fn bytes<'a>(
    ptr: *const u8,
    len: usize,
    max: usize,
    what: &str,
) -> FfiResult<&'a [u8]> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(Fail::null(what))
        };
    }
    if len > max || len > isize::MAX as usize {
        return Err(Fail::invalid(format!(
            "{what}: length {len} is over the limit of {max} bytes"
        )));
    }
    // SAFETY: non-NULL, `len` fits `isize`, and the caller guarantees `len`
    // readable bytes that do not change during the call.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// UTF-8 text given as a buffer and its length.
///
/// # Safety
/// As for [`bytes`].
pub(crate) unsafe fn text<'a>(ptr: *const c_char, len: usize, what: &str) -> FfiResult<&'a str> {
    // SAFETY: forwarded contract.
    let raw = unsafe { bytes(ptr.cast(), len, MAX_CODEC_INPUT, what)? };
    std::str::from_utf8(raw).map_err(|e| Fail::invalid(format!("{what} is not UTF-8: {e}")))
}

/// A NUL-terminated UTF-8 string, `None` for NULL.
///
/// # Safety
/// A non-NULL `ptr` must point to a NUL-terminated string that stays
/// unchanged during the call.
pub(crate) unsafe fn c_str<'a>(ptr: *const c_char, what: &str) -> FfiResult<Option<&'a str>> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let s = unsafe { CStr::from_ptr(ptr) };
    s.to_str()
        .map(Some)
        .map_err(|e| Fail::invalid(format!("{what} is not UTF-8: {e}")))
}

/// A reference to a struct the caller passed by pointer.
///
/// # Safety
/// A non-NULL `ptr` must point to a valid, initialised `T`.
pub(crate) unsafe fn borrow<'a, T>(ptr: *const T, what: &str) -> FfiResult<&'a T> {
    if ptr.is_null() {
        return Err(Fail::null(what));
    }
    // SAFETY: non-NULL; validity is the caller's contract.
    Ok(unsafe { &*ptr })
}

/// Fails when an output pointer is NULL. Called before any work, so an
/// object is never created and then lost for want of a place to put it.
pub(crate) fn check_out<T>(out: *mut T, what: &str) -> FfiResult {
    if out.is_null() {
        Err(Fail::null(what))
    } else {
        Ok(())
    }
}

/// Writes a result through an output pointer already checked with
/// [`check_out`].
///
/// # Safety
/// `out` must be non-NULL, aligned and writable for one `T`.
pub(crate) unsafe fn write<T>(out: *mut T, value: T) {
    debug_assert!(!out.is_null());
    // SAFETY: the caller's contract; `write` does not read or drop the old
    // (possibly uninitialised) contents.
    unsafe { out.write(value) }
}

/// Clears an output pointer if it is non-NULL (so a caller never sees a
/// stale handle after an error).
///
/// # Safety
/// A non-NULL `out` must be aligned and writable for one pointer.
pub(crate) unsafe fn clear_out<P>(out: *mut *mut P) {
    if !out.is_null() {
        // SAFETY: non-NULL, writable by contract.
        unsafe { out.write(std::ptr::null_mut()) }
    }
}
