//! Writes the C header of `mtproto-ffi` (placeholder; filled in by the C ABI work).
fn main() {
    let _ = cbindgen::Builder::new();
}
