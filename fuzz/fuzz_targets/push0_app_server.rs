#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| xmpp_push0::fuzzing::app_server(data));
