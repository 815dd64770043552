#![no_main]
// See mtproto::fuzzing::transport_frames.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mtproto::fuzzing::transport_frames(data));
