//! Owned output buffers (`mtp_buffer`) and pulled update batches
//! (`mtp_update_batch`): handles with accessors and a free function.

use std::sync::Arc;

use crate::error::{guard, mtp_result, Fail, FfiResult};
use crate::handle::{from_ptr, tag, to_ptr, Registry};
use crate::ptr;

/// Bytes owned by the library on the caller's behalf: an invoke result,
/// encoded TL, or decoded JSON text. Opaque; read with `mtp_buffer_data`,
/// free with `mtp_buffer_free`.
#[allow(non_camel_case_types)]
pub struct mtp_buffer {
    _opaque: [u8; 0],
}

/// A batch of updates pulled with `mtp_session_next_updates`. Opaque; read
/// with `mtp_update_batch_count` / `mtp_update_batch_get`, free with
/// `mtp_update_batch_free`.
#[allow(non_camel_case_types)]
pub struct mtp_update_batch {
    _opaque: [u8; 0],
}

/// The bytes followed by one NUL that is not part of them, so JSON text
/// can be used as a C string.
pub(crate) struct Buffer(Vec<u8>);

pub(crate) struct Batch(Vec<Vec<u8>>);

static BUFFERS: Registry<Buffer> = Registry::new(tag::BUFFER);
static BATCHES: Registry<Batch> = Registry::new(tag::UPDATE_BATCH);

pub(crate) fn new_buffer(mut bytes: Vec<u8>) -> FfiResult<*mut mtp_buffer> {
    bytes.reserve_exact(1);
    bytes.push(0);
    Ok(to_ptr(BUFFERS.insert(Arc::new(Buffer(bytes)))?))
}

pub(crate) fn new_batch(items: Vec<Vec<u8>>) -> FfiResult<*mut mtp_update_batch> {
    Ok(to_ptr(BATCHES.insert(Arc::new(Batch(items)))?))
}

fn lookup_buffer(handle: *const mtp_buffer) -> FfiResult<Arc<Buffer>> {
    if handle.is_null() {
        return Err(Fail::null("buffer"));
    }
    BUFFERS
        .get(from_ptr(handle))
        .ok_or_else(|| Fail::handle("buffer"))
}

fn lookup_batch(handle: *const mtp_update_batch) -> FfiResult<Arc<Batch>> {
    if handle.is_null() {
        return Err(Fail::null("batch"));
    }
    BATCHES
        .get(from_ptr(handle))
        .ok_or_else(|| Fail::handle("batch"))
}

/// The contents of a buffer: `*out_data` points to `*out_len` bytes,
/// followed by a NUL byte that is not counted. The pointer stays valid
/// until `mtp_buffer_free(buffer)`; the bytes never change.
/// Thread-safe (as long as no thread frees the buffer meanwhile).
///
/// # Safety
/// `out_data` and `out_len` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mtp_buffer_data(
    buffer: *const mtp_buffer,
    out_data: *mut *const u8,
    out_len: *mut usize,
) -> mtp_result {
    guard(|| {
        ptr::check_out(out_data, "out_data")?;
        ptr::check_out(out_len, "out_len")?;
        let b = lookup_buffer(buffer)?;
        // The registry keeps the `Arc` (and so the Vec's heap block) alive
        // after `b` is dropped, until the buffer is freed.
        // SAFETY: both checked non-NULL; writable by contract.
        unsafe {
            ptr::write(out_data, b.0.as_ptr());
            ptr::write(out_len, b.0.len() - 1);
        }
        Ok(())
    })
}

/// Frees a buffer. Pointers obtained from `mtp_buffer_data` become
/// invalid. A second free, or an unknown handle, returns
/// `MTP_ERR_INVALID_HANDLE`. Thread-safe.
#[no_mangle]
pub extern "C" fn mtp_buffer_free(buffer: *mut mtp_buffer) -> mtp_result {
    guard(|| {
        if buffer.is_null() {
            return Err(Fail::null("buffer"));
        }
        BUFFERS
            .remove(from_ptr(buffer))
            .map(drop)
            .ok_or_else(|| Fail::handle("buffer"))
    })
}

/// The number of updates in a batch (at least 1). Thread-safe.
///
/// # Safety
/// `out_count` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mtp_update_batch_count(
    batch: *const mtp_update_batch,
    out_count: *mut usize,
) -> mtp_result {
    guard(|| {
        ptr::check_out(out_count, "out_count")?;
        let b = lookup_batch(batch)?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { ptr::write(out_count, b.0.len()) };
        Ok(())
    })
}

/// Update number `index` (0-based) of a batch: `*out_data` points to
/// `*out_len` bytes (one TL-serialized object), valid until
/// `mtp_update_batch_free(batch)`. An index past the end returns
/// `MTP_ERR_INVALID_INPUT`. Thread-safe.
///
/// # Safety
/// `out_data` and `out_len` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mtp_update_batch_get(
    batch: *const mtp_update_batch,
    index: usize,
    out_data: *mut *const u8,
    out_len: *mut usize,
) -> mtp_result {
    guard(|| {
        ptr::check_out(out_data, "out_data")?;
        ptr::check_out(out_len, "out_len")?;
        let b = lookup_batch(batch)?;
        let item = b.0.get(index).ok_or_else(|| {
            Fail::invalid(format!(
                "index {index} is out of range (the batch holds {})",
                b.0.len()
            ))
        })?;
        // SAFETY: checked non-NULL; writable by contract. The item's heap
        // block lives as long as the registry holds the batch.
        unsafe {
            ptr::write(out_data, item.as_ptr());
            ptr::write(out_len, item.len());
        }
        Ok(())
    })
}

/// Frees a batch; pointers obtained from it become invalid. A second free
/// returns `MTP_ERR_INVALID_HANDLE`. Thread-safe.
#[no_mangle]
pub extern "C" fn mtp_update_batch_free(batch: *mut mtp_update_batch) -> mtp_result {
    guard(|| {
        if batch.is_null() {
            return Err(Fail::null("batch"));
        }
        BATCHES
            .remove(from_ptr(batch))
            .map(drop)
            .ok_or_else(|| Fail::handle("batch"))
    })
}
