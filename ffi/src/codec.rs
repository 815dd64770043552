//! `mtp_schema`: the dynamic TL codec (JSON ⇄ TL bytes) for C callers.

use std::ffi::c_char;
use std::sync::{Arc, RwLock};

use mtproto_core::tl::schema::Schema;
use serde_json::Value;

use crate::buffer::{mtp_buffer, new_buffer};
use crate::error::{guard, mtp_result, Fail, FfiResult};
use crate::handle::{from_ptr, tag, to_ptr, Registry};
use crate::ptr;

/// A loaded TL schema. Opaque; create with `mtp_schema_new`, free with
/// `mtp_schema_free`.
#[allow(non_camel_case_types)]
pub struct mtp_schema {
    _opaque: [u8; 0],
}

/// Each handle holds the current version of its schema; `mtp_schema_extend`
/// swaps in an extended copy, so schemas made by `mtp_schema_new_telegram`
/// share one parsed copy until one of them is extended.
static SCHEMAS: Registry<RwLock<Arc<Schema>>> = Registry::new(tag::SCHEMA);

/// The schema a handle stands for now (a snapshot: codec calls run without
/// holding the handle's lock).
fn lookup_schema(handle: *const mtp_schema) -> FfiResult<Arc<Schema>> {
    Ok(lookup_slot(handle)?
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone())
}

fn lookup_slot(handle: *const mtp_schema) -> FfiResult<Arc<RwLock<Arc<Schema>>>> {
    if handle.is_null() {
        return Err(Fail::null("schema"));
    }
    SCHEMAS
        .get(from_ptr(handle))
        .ok_or_else(|| Fail::handle("schema"))
}

fn insert_schema(schema: Arc<Schema>, out_schema: *mut *mut mtp_schema) -> FfiResult {
    let token = SCHEMAS.insert(Arc::new(RwLock::new(schema)))?;
    // SAFETY: every caller checked `out_schema` with `check_out`.
    unsafe { ptr::write(out_schema, to_ptr(token)) };
    Ok(())
}

fn schema_error(e: impl std::fmt::Display) -> Fail {
    Fail::new(mtp_result::MTP_ERR_SCHEMA, e.to_string())
}

fn codec_error(e: impl std::fmt::Display) -> Fail {
    Fail::new(mtp_result::MTP_ERR_CODEC, e.to_string())
}

fn out_buffer(out: *mut *mut mtp_buffer, bytes: Vec<u8>) -> FfiResult {
    let b = new_buffer(bytes)?;
    // SAFETY: every caller checked `out` with `check_out`.
    unsafe { ptr::write(out, b) };
    Ok(())
}

/// Parses a TL schema text (e.g. `api.tl` or `localdc/test.tl`, UTF-8, not
/// NUL-terminated: `text_len` bytes) and stores the handle in
/// `*out_schema`. Errors: `MTP_ERR_SCHEMA` with the line in the message.
///
/// Ownership: the caller frees the schema with `mtp_schema_free`; `text` is
/// only read during the call. Thread-safe.
///
/// # Safety
/// `text` must point to `text_len` readable bytes; `out_schema` must be
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mtp_schema_new(
    text: *const c_char,
    text_len: usize,
    out_schema: *mut *mut mtp_schema,
) -> mtp_result {
    guard(|| {
        ptr::check_out(out_schema, "out_schema")?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { ptr::clear_out(out_schema) };
        // SAFETY: the caller's contract on `text`.
        let text = unsafe { ptr::text(text, text_len, "text")? };
        let parsed = Schema::parse(text).map_err(schema_error)?;
        insert_schema(Arc::new(parsed), out_schema)
    })
}

/// Telegram's API schema as bundled with the library (the layer that
/// `mtp_schema_layer` reports and sessions announce), plus the MTProto
/// service schema (`ping`, `rpc_error`, ...), in a new handle
/// `*out_schema`.
///
/// The bundled text is parsed once per process, on the first call (a few
/// milliseconds); later calls share that copy. `mtp_schema_extend` on one
/// handle changes only that handle. Ownership: the caller frees the schema
/// with `mtp_schema_free`. Thread-safe.
///
/// # Safety
/// `out_schema` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mtp_schema_new_telegram(out_schema: *mut *mut mtp_schema) -> mtp_result {
    guard(|| {
        ptr::check_out(out_schema, "out_schema")?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { ptr::clear_out(out_schema) };
        insert_schema(Schema::telegram(), out_schema)
    })
}

/// Writes the schema's layer to `*out_layer`: the number of a `// LAYER N`
/// line in its text (the bundled schema always has one), or 0 when the
/// text named none. Thread-safe.
///
/// # Safety
/// `out_layer` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mtp_schema_layer(
    schema: *const mtp_schema,
    out_layer: *mut i32,
) -> mtp_result {
    guard(|| {
        ptr::check_out(out_layer, "out_layer")?;
        let layer = lookup_schema(schema)?.layer().unwrap_or(0);
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { ptr::write(out_layer, layer) };
        Ok(())
    })
}

/// Adds the definitions of another schema text to a schema (e.g. a test
/// API on top of the service schema). On `MTP_ERR_SCHEMA` the schema is
/// unchanged. Thread-safe (concurrent encodes wait for it).
///
/// # Safety
/// `text` must point to `text_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn mtp_schema_extend(
    schema: *mut mtp_schema,
    text: *const c_char,
    text_len: usize,
) -> mtp_result {
    guard(|| {
        let slot = lookup_slot(schema)?;
        // SAFETY: the caller's contract on `text`.
        let text = unsafe { ptr::text(text, text_len, "text")? };
        // Extend a copy under the write lock, so a failure leaves the schema
        // as it was and two concurrent extends both take effect.
        let mut current = slot.write().unwrap_or_else(|e| e.into_inner());
        let mut extended = Schema::clone(&current);
        extended.extend(text).map_err(schema_error)?;
        *current = Arc::new(extended);
        Ok(())
    })
}

/// Encodes a JSON object (`{"_": "test.echo", "payload": "aGk="}`; bytes
/// are base64, longs beyond 2^53 strings) as TL bytes in a new buffer
/// `*out_bytes`.
///
/// Errors: `MTP_ERR_INVALID_INPUT` (not UTF-8 or not JSON),
/// `MTP_ERR_CODEC` (the value does not fit the schema; the message names
/// the field). Ownership: the caller frees `*out_bytes` with
/// `mtp_buffer_free`. Thread-safe.
///
/// # Safety
/// `json` must point to `json_len` readable bytes; `out_bytes` must be NULL
/// or writable.
#[no_mangle]
pub unsafe extern "C" fn mtp_schema_encode(
    schema: *const mtp_schema,
    json: *const c_char,
    json_len: usize,
    out_bytes: *mut *mut mtp_buffer,
) -> mtp_result {
    guard(|| {
        ptr::check_out(out_bytes, "out_bytes")?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { ptr::clear_out(out_bytes) };
        let s = lookup_schema(schema)?;
        // SAFETY: the caller's contract on `json`.
        let text = unsafe { ptr::text(json, json_len, "json")? };
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Fail::invalid(format!("json is not valid JSON: {e}")))?;
        let bytes = s.encode(&value).map_err(codec_error)?;
        out_buffer(out_bytes, bytes)
    })
}

/// Decodes one boxed TL object that fills `bytes` exactly into JSON text in
/// a new buffer `*out_json` (NUL-terminated, so its data is a C string).
///
/// `function_name` NULL decodes any object by its constructor id; a
/// function name (e.g. `"test.echo"`) decodes a result of that function as
/// its declared result type (needed for bare results such as vectors).
///
/// Errors: `MTP_ERR_CODEC` (unknown constructor, truncated or trailing
/// bytes, ...), `MTP_ERR_INVALID_INPUT` (function_name not UTF-8).
/// Ownership: the caller frees `*out_json` with `mtp_buffer_free`.
/// Thread-safe.
///
/// # Safety
/// `bytes` must point to `bytes_len` readable bytes; `function_name` must
/// be NULL or NUL-terminated; `out_json` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mtp_schema_decode(
    schema: *const mtp_schema,
    function_name: *const c_char,
    bytes: *const u8,
    bytes_len: usize,
    out_json: *mut *mut mtp_buffer,
) -> mtp_result {
    guard(|| {
        ptr::check_out(out_json, "out_json")?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { ptr::clear_out(out_json) };
        let s = lookup_schema(schema)?;
        // SAFETY: the caller's contract on the arguments.
        let (function, bytes) = unsafe {
            (
                ptr::c_str(function_name, "function_name")?,
                ptr::bytes(bytes, bytes_len, ptr::MAX_CODEC_INPUT, "bytes")?,
            )
        };
        let value = match function {
            Some(name) => s.decode_function_result(name, bytes),
            None => s.decode(bytes),
        }
        .map_err(codec_error)?;
        let json = serde_json::to_vec(&value).map_err(codec_error)?;
        out_buffer(out_json, json)
    })
}

/// Frees a schema. A second free returns `MTP_ERR_INVALID_HANDLE`.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn mtp_schema_free(schema: *mut mtp_schema) -> mtp_result {
    guard(|| {
        if schema.is_null() {
            return Err(Fail::null("schema"));
        }
        SCHEMAS
            .remove(from_ptr(schema))
            .map(drop)
            .ok_or_else(|| Fail::handle("schema"))
    })
}
