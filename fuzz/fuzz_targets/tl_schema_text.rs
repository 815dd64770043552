#![no_main]
// See mtproto::fuzzing::tl_schema_text.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mtproto::fuzzing::tl_schema_text(data));
