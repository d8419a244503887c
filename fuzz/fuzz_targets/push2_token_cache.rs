#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| xmpp_push2_crypto::fuzzing::token_cache(data));
