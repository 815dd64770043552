#![no_main]
// See mtproto::fuzzing::server_session.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mtproto::fuzzing::server_session(data));
