#![no_main]
// See mtproto::fuzzing::mtp_envelope.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mtproto::fuzzing::mtp_envelope(data));
