//! Fuzz entry points (hidden feature `__fuzzing`), compiled in ordinary builds so CI checks
//! them; each `fuzz/fuzz_targets/push0_*.rs` calls one. None may panic on any input.
//!
//! - [`elements()`]: bytes as XML; whatever parses as a XEP-0357 element must survive
//!   parse -> serialise -> parse unchanged, through `Element` and through XML text.
//! - [`registry()`]: bytes as operations on a [`Registry`](crate::Registry) (commands from
//!   users and strangers, answers from services, triggers, hibernation, time passing, wall
//!   clock steps, persistence round trips), with its invariants checked after each: tables
//!   within their bounds and consistent, every publish answered at most once, everything it
//!   emits parses.
//! - [`app_server()`]: bytes as operations on an [`AppServer`](crate::AppServer) (publishes
//!   with right, wrong and missing secrets, raw stanzas, node churn); every iq-set publish and
//!   disco query is answered exactly once.

mod app_server;
mod elements;
mod registry;
mod rng;

pub use self::app_server::app_server;
pub use self::elements::elements;
pub use self::registry::registry;

#[cfg(test)]
mod tests {
    //! Smoke runs on seeded pseudo-random inputs, so `cargo test` exercises the entry points
    //! without cargo-fuzz.

    use rand_chacha::ChaCha20Rng;
    use rand_core::{Rng, SeedableRng};

    fn inputs(seed: u64, count: usize) -> impl Iterator<Item = Vec<u8>> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        (0..count).map(move |i| {
            let mut data = vec![0u8; 64 + (i % 8) * 256];
            rng.fill_bytes(&mut data);
            data
        })
    }

    #[test]
    fn elements_on_examples_and_noise() {
        for xml in super::elements::SEEDS {
            super::elements(xml.as_bytes());
        }
        for data in inputs(1, 200) {
            super::elements(&data);
        }
    }

    #[test]
    fn registry_on_noise() {
        for data in inputs(2, 300) {
            super::registry(&data);
        }
    }

    #[test]
    fn app_server_on_noise() {
        for data in inputs(3, 300) {
            super::app_server(&data);
        }
    }
}
