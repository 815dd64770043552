#![no_main]
// See mtproto::fuzzing::transport_server_codec.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mtproto::fuzzing::transport_server_codec(data));
