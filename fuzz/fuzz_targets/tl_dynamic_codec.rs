#![no_main]
// See mtproto::fuzzing::tl_dynamic_codec.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mtproto::fuzzing::tl_dynamic_codec(data));
