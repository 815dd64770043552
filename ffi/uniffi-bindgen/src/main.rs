//! `cargo run -p uniffi-bindgen -- generate --library …`: the bindings
//! generator pinned to the same UniFFI version as `mtproto-uniffi`.
fn main() {
    uniffi::uniffi_bindgen_main()
}
