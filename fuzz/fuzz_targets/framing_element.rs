#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| xmpp_tether_core::fuzzing::element(data));
