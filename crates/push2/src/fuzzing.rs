//! Fuzz entry points (hidden feature `__fuzzing`), compiled in ordinary builds so CI checks
//! them; each `fuzz/fuzz_targets/push2_*.rs` of this crate calls one. None may panic on any
//! input.
//!
//! - [`elements()`]: bytes as XML; whatever parses as a Push 2.0 element must survive parse
//!   -> serialise -> parse unchanged; the classifier and the Bind2 reader run on every
//!   element.
//! - [`minimiser()`]: a message with arbitrary body, payloads and attributes, an arbitrary
//!   budget: the output meets the budget, keeps the MAM id, and parses back as an envelope.
//! - [`registry()`]: bytes as operations on a [`Registry`](crate::Registry): enables (valid,
//!   malformed, inline, from strangers), disables, routed stanzas with arbitrary contexts,
//!   error bounces of every type, reported outcomes, time passing, wall-clock steps,
//!   persistence round trips; the invariants are checked after each, and every
//!   notification is settled exactly once.
//! - [`service()`]: bytes as stanzas and HTTP answers for a [`PushService`](crate::PushService):
//!   every notification is answered by one request or one error reply.

mod elements;
mod minimiser;
mod registry;
mod rng;
mod service;

pub use self::elements::elements;
pub use self::minimiser::minimiser;
pub use self::registry::registry;
pub use self::service::service;

#[cfg(test)]
mod tests {
    //! Smoke runs on seeded pseudo-random inputs, so `cargo test` exercises the entry points
    //! without cargo-fuzz.

    use rand_chacha::ChaCha20Rng;
    use rand_core::{Rng, SeedableRng};

    fn inputs(seed: u64, count: usize) -> impl Iterator<Item = Vec<u8>> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        (0..count).map(move |i| {
            let mut data = vec![0u8; 64 + (i % 8) * 128];
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
    fn minimiser_on_noise() {
        for data in inputs(2, 200) {
            super::minimiser(&data);
        }
    }

    #[test]
    fn registry_on_noise() {
        for data in inputs(3, 120) {
            super::registry(&data);
        }
    }

    #[test]
    fn service_on_noise() {
        for data in inputs(4, 200) {
            super::service(&data);
        }
    }
}
