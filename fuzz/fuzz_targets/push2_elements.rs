#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| xmpp_push2::fuzzing::elements(data));
