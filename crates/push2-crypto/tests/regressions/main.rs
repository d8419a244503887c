//! Regression tests, one section per finding, each failing (or crashing) before its fix:
//! `first_review` for the first review, `issue8` for the hardening before xmpp-push2 (strict
//! tokens, padding within the bound, less hand-rolling).

use std::time::{Duration, SystemTime};

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xmpp_parsers::forwarding::Forwarded;
use xmpp_parsers::message::{Lang, Message};
use xmpp_push2_crypto::{Envelope, Now, VapidKey};

mod first_review;
mod issue8;

/// Unix seconds the tests start at.
const NOW: u64 = 1_700_000_000;

/// A reading of both clocks with the wall clock at `unix_seconds`.
fn at(unix_seconds: u64) -> Now {
    Now::new(
        Default::default(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(unix_seconds),
    )
}

fn key(seed: u64) -> VapidKey {
    VapidKey::generate(&mut ChaCha20Rng::seed_from_u64(seed)).unwrap()
}

fn envelope_with_body(body: &str) -> Envelope {
    let message = Message::new(Some("juliet@capulet.lit".parse().unwrap()))
        .with_body(Lang::default(), body.into());
    Envelope::new(Forwarded {
        delay: None,
        message,
    })
}
