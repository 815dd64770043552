#![no_main]
// See mtproto::fuzzing::handshake_server.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mtproto::fuzzing::handshake_server(data));
