//! The fuzz entry points (`fuzz/fuzz_targets/push2_*.rs`) over seeded random mutations of
//! valid inputs: a short, deterministic stand-in for a fuzzing run that every `cargo test`
//! does. None may panic.

use std::time::{Duration, SystemTime};

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use xmpp_parsers::forwarding::Forwarded;
use xmpp_parsers::message::{Lang, Message};
use xmpp_push2_crypto::{
    Claims, Envelope, Now, Padding, UaKeys, VapidKey, VapidSigner, ece, fuzzing, webpush,
};

/// Flips bits, truncates, extends or splices `seed` at random.
fn mutate(rng: &mut ChaCha20Rng, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..=(rng.next_u32() % 4) {
        let at = |rng: &mut ChaCha20Rng, len: usize| (rng.next_u32() as usize) % len.max(1);
        match rng.next_u32() % 5 {
            0 if !data.is_empty() => {
                let i = at(rng, data.len());
                data[i] ^= 1 << (rng.next_u32() % 8);
            }
            1 => {
                let len = at(rng, data.len() + 1);
                data.truncate(len);
            }
            2 => {
                let mut extra = vec![0; at(rng, 64)];
                rng.fill_bytes(&mut extra);
                data.extend_from_slice(&extra);
            }
            3 if !data.is_empty() => {
                let i = at(rng, data.len());
                data[i] = [0, 1, 2, 0xff, b'<', b'.', b'='][at(rng, 7)];
            }
            _ => {
                let i = at(rng, data.len());
                data.insert(i, rng.next_u32() as u8);
            }
        }
    }
    data
}

fn run(seeds: &[Vec<u8>], rounds: usize, target: fn(&[u8])) {
    let mut rng = ChaCha20Rng::seed_from_u64(99);
    for seed in seeds {
        target(seed);
        for _ in 0..rounds {
            target(&mutate(&mut rng, seed));
        }
    }
    let mut noise = vec![0; 300];
    for len in 0..300 {
        rng.fill_bytes(&mut noise[..len]);
        target(&noise[..len]);
    }
}

#[test]
fn header_and_decrypt_targets_survive_mutations() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let keys = UaKeys::generate(&mut rng).unwrap();
    let webpush = webpush::encrypt(&mut rng, keys.public_key(), &keys.auth_secret, b"hi").unwrap();
    // The decrypt target takes its RFC 8188 key from the first 16 octets.
    let ikm = [7u8; 16];
    let mut keyed = ikm.to_vec();
    keyed.extend(ece::encrypt(&ikm, &[1; 16], b"id", 20, b"several records here", 3).unwrap());
    let seeds = [webpush, keyed];
    run(&seeds, 2000, fuzzing::ece_header);
    // Each webpush decryption attempt costs a scalar multiplication: fewer rounds.
    run(&seeds, 150, fuzzing::decrypt);
}

#[test]
fn jwt_target_survives_mutations() {
    let key = VapidKey::generate(&mut ChaCha20Rng::seed_from_u64(2)).unwrap();
    let now = Now::new(
        Default::default(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1),
    );
    let signed = VapidSigner::new(&key)
        .unwrap()
        .sign(
            now,
            &Claims::new("https://a.example").with_sub("mailto:b@c.d"),
            Duration::from_secs(99),
        )
        .unwrap();
    let token = signed.authorization().to_owned();
    let (_, bare) = token.split_once("t=").unwrap();
    run(
        &[token.clone().into_bytes(), bare.as_bytes().to_vec()],
        1000,
        fuzzing::jwt,
    );
}

#[test]
fn envelope_target_survives_mutations() {
    let message = Message::new(Some("juliet@capulet.lit".parse().unwrap()))
        .with_body(Lang::default(), "hello".into());
    let now = Now::new(
        Default::default(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    );
    let envelope = Envelope::new(Forwarded {
        delay: None,
        message,
    })
    .with_time(now)
    .with_to("juliet@capulet.lit".parse().unwrap())
    .with_from("capulet.lit".parse().unwrap());
    let padded = envelope
        .to_padded_bytes(&mut ChaCha20Rng::seed_from_u64(3), Padding::random(20))
        .unwrap();
    run(&[padded], 2000, fuzzing::envelope);
}

#[test]
fn jwt_claims_target_survives_mutations() {
    let mut seed = 1_000u64.to_be_bytes().to_vec();
    seed.extend_from_slice(br#"{"aud":"https://a.example","exp":2000,"sub":"mailto:b@c.d"}"#);
    run(&[seed], 2000, fuzzing::jwt_claims);
}

#[test]
fn token_cache_target_survives_mutations() {
    // Bounds 2 and 1, then calls over three keys and several audiences, with clock steps.
    let seed = [
        0x49, 0x00, 0x00, 0x10, 0x04, 0x00, 0x10, 0x05, 0x10, 0x00, 0x42, 0x80, 0x00, 0xc1, 0x00,
        0x01, 0x08, 0xff, 0x00,
    ];
    // Every call signs with RustCrypto in an unoptimised build (milliseconds): few inputs,
    // each cut to at most 10 operations.
    let mut rng = ChaCha20Rng::seed_from_u64(98);
    fuzzing::token_cache(&seed);
    for _ in 0..40 {
        let mut data = mutate(&mut rng, &seed);
        data.truncate(31);
        fuzzing::token_cache(&data);
    }
    for len in 0..31 {
        let mut noise = vec![0; len];
        rng.fill_bytes(&mut noise);
        fuzzing::token_cache(&noise);
    }
}
