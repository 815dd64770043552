#![no_main]
// See mtproto::fuzzing::client_session.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mtproto::fuzzing::client_session(data));
