//! xmpp-push2-crypto: per-notification cost, each backend next to its baselines measured in
//! the same run.
//!
//! - `encrypt_3KiB/*`: one RFC 8291 message with a 3 KiB plaintext. `*-crate` is
//!   `webpush::encrypt_with`; `*-primitives` is the same work done directly with the backend's
//!   libraries (key generation from the caller's RNG, ECDH, HKDF, AES-128-GCM, and the body
//!   assembled); `aws-lc-rs-primitives-own-rng` generates the key with AWS-LC's own RNG
//!   instead, which the crate may not do; `ece-crate` is Mozilla's `ece` crate (OpenSSL)
//!   doing the same.
//! - `vapid_jwt/*`: signing one VAPID token (`*-crate`) next to one raw ES256 signature
//!   (`*-primitive`), and a token served from the `TokenCache` (`cached`: the key and claims
//!   looked up, the shared token handed out and dropped).
//!
//! At the end the bench prints each row as a ratio to its baseline, read back from the
//! estimates criterion saved in this run, and then the same ratios measured interleaved
//! (alternating batches of the two, median of 41 rounds), which a busy shared machine skews
//! far less than criterion's one-bench-after-the-other estimates.
//!
//! The aws-lc-rs crate rows (and the interleaved aws-lc-rs ratios) appear only when the crate's
//! default backend is aws-lc-rs, i.e. with this package's `aws-lc-rs` feature:
//! `cargo bench -p tether-benches --bench push2_crypto --features aws-lc-rs`. Without it only
//! the RustCrypto crate rows are measured, next to every baseline. Targets are in
//! crates/push2-crypto/README.md.

mod common;

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use aes_gcm::aead::{AeadInOut, KeyInit};
use criterion::Criterion;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use sha2::Sha256;
use xmpp_tether::push2_crypto::backend::{self, Backend, RustCrypto};
use xmpp_tether::push2_crypto::{Claims, Now, TokenCache, UaKeys, VapidKey, VapidSigner, webpush};

const PLAINTEXT_LEN: usize = 3 * 1024;
const LIFETIME: Duration = Duration::from_secs(3600);

fn now() -> Now {
    Now::new(
        Default::default(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    )
}

/// RFC 8291 with RustCrypto's crates called directly: the floor for `RustCrypto`.
fn rustcrypto_primitives(
    rng: &mut ChaCha20Rng,
    ua_public: &[u8],
    auth: &[u8],
    text: &[u8],
) -> Vec<u8> {
    use p256::elliptic_curve::sec1::ToSec1Point;
    let ephemeral = <p256::SecretKey as p256::elliptic_curve::Generate>::generate_from_rng(rng);
    let as_public = ephemeral.public_key().to_sec1_point(false);
    let peer = p256::PublicKey::from_sec1_bytes(ua_public).unwrap();
    let shared = p256::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), peer.as_affine());
    let mut salt = [0; 16];
    rng.fill_bytes(&mut salt);
    let mut ikm = [0; 32];
    hkdf::Hkdf::<Sha256>::new(Some(auth), shared.raw_secret_bytes())
        .expand_multi_info(
            &[b"WebPush: info\0", ua_public, as_public.as_bytes()],
            &mut ikm,
        )
        .unwrap();
    let prk = hkdf::Hkdf::<Sha256>::new(Some(&salt), &ikm);
    let (mut cek, mut nonce) = ([0; 16], [0; 12]);
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .unwrap();
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
        .unwrap();
    let mut body = Vec::with_capacity(86 + text.len() + 17);
    body.extend_from_slice(&salt);
    body.extend_from_slice(&4096u32.to_be_bytes());
    body.push(65);
    body.extend_from_slice(as_public.as_bytes());
    body.extend_from_slice(text);
    body.push(2);
    let tag = aes_gcm::Aes128Gcm::new(&cek.into())
        .encrypt_inout_detached(&nonce.into(), &[], (&mut body[86..]).into())
        .unwrap();
    body.extend_from_slice(&tag);
    body
}

/// RFC 8291 with aws-lc-rs called directly: the floor for `AwsLc`. The ephemeral key comes from
/// the caller's RNG as the crate requires (`PrivateKey::from_private_key`, which AWS-LC
/// validates with a second base-point multiplication), or with `own_rng` from AWS-LC's own
/// generator (`PrivateKey::generate`, no such check): the row that shows what taking
/// randomness from the caller costs.
fn aws_lc_primitives(
    own_rng: bool,
    rng: &mut ChaCha20Rng,
    ua_public: &[u8],
    auth: &[u8],
    text: &[u8],
) -> Vec<u8> {
    use aws_lc_rs::{aead, agreement, hkdf};
    struct Len(usize);
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    let ephemeral = if own_rng {
        agreement::PrivateKey::generate(&agreement::ECDH_P256).unwrap()
    } else {
        let mut scalar = [0; 32];
        rng.fill_bytes(&mut scalar);
        agreement::PrivateKey::from_private_key(&agreement::ECDH_P256, &scalar).unwrap()
    };
    let as_public = ephemeral.compute_public_key().unwrap();
    let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, ua_public);
    let mut salt = [0; 16];
    rng.fill_bytes(&mut salt);
    let mut ikm = [0; 32];
    agreement::agree(&ephemeral, peer, (), |shared| {
        let info: &[&[u8]] = &[b"WebPush: info\0", ua_public, as_public.as_ref()];
        hkdf::Salt::new(hkdf::HKDF_SHA256, auth)
            .extract(shared)
            .expand(info, Len(32))
            .and_then(|okm| okm.fill(&mut ikm))
            .map_err(|_| ())
    })
    .unwrap();
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &salt).extract(&ikm);
    let (mut cek, mut nonce) = ([0; 16], [0; 12]);
    prk.expand(&[b"Content-Encoding: aes128gcm\0"], Len(16))
        .unwrap()
        .fill(&mut cek)
        .unwrap();
    prk.expand(&[b"Content-Encoding: nonce\0"], Len(12))
        .unwrap()
        .fill(&mut nonce)
        .unwrap();
    let mut body = Vec::with_capacity(86 + text.len() + 17);
    body.extend_from_slice(&salt);
    body.extend_from_slice(&4096u32.to_be_bytes());
    body.push(65);
    body.extend_from_slice(as_public.as_ref());
    body.extend_from_slice(text);
    body.push(2);
    let key = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, &cek).unwrap());
    let tag = key
        .seal_in_place_separate_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::empty(),
            &mut body[86..],
        )
        .unwrap();
    body.extend_from_slice(tag.as_ref());
    body
}

fn encrypt_rows<B: Backend>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    keys: &UaKeys,
    text: &[u8],
) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    group.bench_function(format!("{}-crate", B::NAME), |b| {
        b.iter(|| {
            webpush::encrypt_with::<B>(
                &mut rng,
                keys.public_key(),
                &keys.auth_secret,
                black_box(text),
            )
            .unwrap()
        });
    });
}

fn encrypt(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(0);
    let keys = UaKeys::generate(&mut rng).unwrap();
    let text = vec![0x61; PLAINTEXT_LEN];
    let (ua_public, auth) = (keys.public_key().as_bytes(), keys.auth_secret.as_bytes());
    // Check the baselines produce messages the crate decrypts: they measure the same work.
    for body in [
        rustcrypto_primitives(&mut rng, ua_public, auth, &text),
        aws_lc_primitives(false, &mut rng, ua_public, auth, &text),
        aws_lc_primitives(true, &mut rng, ua_public, auth, &text),
        ece::encrypt(ua_public, auth, &text).unwrap(),
    ] {
        assert_eq!(webpush::decrypt(&keys, &body).unwrap(), text);
    }

    let mut group = c.benchmark_group("encrypt_3KiB");
    encrypt_rows::<RustCrypto>(&mut group, &keys, &text);
    group.bench_function("RustCrypto-primitives", |b| {
        b.iter(|| rustcrypto_primitives(&mut rng, ua_public, auth, black_box(&text)));
    });
    if backend::Default::NAME != RustCrypto::NAME {
        encrypt_rows::<backend::Default>(&mut group, &keys, &text);
    }
    group.bench_function("aws-lc-rs-primitives", |b| {
        b.iter(|| aws_lc_primitives(false, &mut rng, ua_public, auth, black_box(&text)));
    });
    group.bench_function("aws-lc-rs-primitives-own-rng", |b| {
        b.iter(|| aws_lc_primitives(true, &mut rng, ua_public, auth, black_box(&text)));
    });
    group.bench_function("ece-crate", |b| {
        b.iter(|| ece::encrypt(ua_public, auth, black_box(&text)).unwrap());
    });
    group.finish();
}

fn jwt_rows<B: Backend>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    key: &VapidKey,
    claims: &Claims,
) {
    let signer = VapidSigner::<B>::with_backend(key).unwrap();
    group.bench_function(format!("{}-crate", B::NAME), |b| {
        b.iter(|| signer.sign(now(), black_box(claims), LIFETIME).unwrap());
    });
}

fn jwt(c: &mut Criterion) {
    let key = VapidKey::generate(&mut ChaCha20Rng::seed_from_u64(2)).unwrap();
    let claims = Claims::new("https://push.example.com").with_sub("mailto:ops@example.com");
    // The message a VAPID token signs is about 150 octets.
    let message = [0x2e; 150];
    let mut group = c.benchmark_group("vapid_jwt");
    jwt_rows::<RustCrypto>(&mut group, &key, &claims);
    let p256_key = p256::ecdsa::SigningKey::from_slice(key.key_pair().private_bytes()).unwrap();
    group.bench_function("RustCrypto-primitive", |b| {
        b.iter(|| {
            let signature: p256::ecdsa::Signature =
                p256::ecdsa::signature::Signer::sign(&p256_key, black_box(&message));
            signature
        });
    });
    if backend::Default::NAME != RustCrypto::NAME {
        jwt_rows::<backend::Default>(&mut group, &key, &claims);
    }
    let aws_key = aws_lc_rs::signature::EcdsaKeyPair::from_private_key_and_public_key(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        key.key_pair().private_bytes(),
        key.public_key().as_bytes(),
    )
    .unwrap();
    let system = aws_lc_rs::rand::SystemRandom::new();
    group.bench_function("aws-lc-rs-primitive", |b| {
        b.iter(|| aws_key.sign(&system, black_box(&message)).unwrap());
    });
    let mut cache = TokenCache::new();
    group.bench_function("cached", |b| {
        b.iter(|| {
            cache
                .token(black_box(now()), &key, black_box(&claims))
                .unwrap()
                .authorization()
                .len()
        });
    });
    group.finish();
}

fn main() {
    // AWS-LC seeds its generator on first use (about 30 ms): not part of any measurement.
    let mut seed = [0; 32];
    aws_lc_rs::rand::fill(&mut seed).unwrap();
    let mut c = Criterion::default().configure_from_args();
    encrypt(&mut c);
    jwt(&mut c);
    c.final_summary();
    // In `--test`/`--list`/`--profile-time` runs criterion saves no estimates: nothing to read.
    let measured = std::env::args().all(|a| {
        !a.starts_with("--test") && !a.starts_with("--list") && !a.starts_with("--profile-time")
    });
    if measured {
        report();
        interleaved();
    }
}

/// Interleaved median ratio of `a` to `b`, in batches of 16 calls.
fn ratio(a: impl FnMut(), b: impl FnMut()) -> f64 {
    common::batch_ratio(16, a, b)
}

/// The same comparisons as `report`, interleaved: the figures to trust on a busy machine.
fn interleaved() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let keys = UaKeys::generate(&mut rng).unwrap();
    let text = vec![0x61; PLAINTEXT_LEN];
    let (ua_public, auth) = (keys.public_key().as_bytes(), keys.auth_secret.as_bytes());
    let mut r1 = ChaCha20Rng::seed_from_u64(6);
    let mut r2 = ChaCha20Rng::seed_from_u64(7);
    println!("\ninterleaved medians (alternating batches, robust to other load):");
    let rc = ratio(
        || {
            drop(black_box(webpush::encrypt_with::<RustCrypto>(
                &mut r1,
                keys.public_key(),
                &keys.auth_secret,
                &text,
            )))
        },
        || {
            drop(black_box(rustcrypto_primitives(
                &mut r2, ua_public, auth, &text,
            )))
        },
    );
    println!("  encrypt 3 KiB, RustCrypto / its primitives: {rc:.3}x (target <= 1.10x)");
    let default_is_aws = backend::Default::NAME != RustCrypto::NAME;
    if default_is_aws {
        let aws = ratio(
            || {
                drop(black_box(webpush::encrypt_with::<backend::Default>(
                    &mut r1,
                    keys.public_key(),
                    &keys.auth_secret,
                    &text,
                )))
            },
            || {
                drop(black_box(aws_lc_primitives(
                    false, &mut r2, ua_public, auth, &text,
                )))
            },
        );
        println!("  encrypt 3 KiB, aws-lc-rs / its primitives:  {aws:.3}x (target <= 1.10x)");
        let own = ratio(
            || {
                drop(black_box(webpush::encrypt_with::<backend::Default>(
                    &mut r1,
                    keys.public_key(),
                    &keys.auth_secret,
                    &text,
                )))
            },
            || {
                drop(black_box(aws_lc_primitives(
                    true, &mut r2, ua_public, auth, &text,
                )))
            },
        );
        println!("  encrypt 3 KiB, aws-lc-rs / its primitives with AWS-LC's own RNG: {own:.3}x");
        let vs_ece = ratio(
            || drop(black_box(ece::encrypt(ua_public, auth, &text))),
            || {
                drop(black_box(webpush::encrypt_with::<backend::Default>(
                    &mut r1,
                    keys.public_key(),
                    &keys.auth_secret,
                    &text,
                )))
            },
        );
        println!(
            "  encrypt 3 KiB, aws-lc-rs throughput / the ece crate's: {vs_ece:.2}x (target >= 2.5x)"
        );
    }
    let rc_vs_ece = ratio(
        || drop(black_box(ece::encrypt(ua_public, auth, &text))),
        || {
            drop(black_box(webpush::encrypt_with::<RustCrypto>(
                &mut r1,
                keys.public_key(),
                &keys.auth_secret,
                &text,
            )))
        },
    );
    println!("  encrypt 3 KiB, RustCrypto throughput / the ece crate's: {rc_vs_ece:.2}x");
    let key = VapidKey::generate(&mut rng).unwrap();
    let claims = Claims::new("https://push.example.com").with_sub("mailto:ops@example.com");
    let message = [0x2e; 150];
    let signer = VapidSigner::<RustCrypto>::with_backend(&key).unwrap();
    let p256_key = p256::ecdsa::SigningKey::from_slice(key.key_pair().private_bytes()).unwrap();
    let jwt_rc = ratio(
        || drop(black_box(signer.sign(now(), &claims, LIFETIME))),
        || {
            let signature: p256::ecdsa::Signature =
                p256::ecdsa::signature::Signer::sign(&p256_key, black_box(&message));
            black_box(signature);
        },
    );
    println!("  VAPID JWT, RustCrypto / one raw ES256 signature: {jwt_rc:.3}x");
    if default_is_aws {
        let signer = VapidSigner::new(&key).unwrap();
        let aws_key = aws_lc_rs::signature::EcdsaKeyPair::from_private_key_and_public_key(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            key.key_pair().private_bytes(),
            key.public_key().as_bytes(),
        )
        .unwrap();
        let system = aws_lc_rs::rand::SystemRandom::new();
        let jwt_aws = ratio(
            || drop(black_box(signer.sign(now(), &claims, LIFETIME))),
            || {
                black_box(aws_key.sign(&system, black_box(&message)).ok());
            },
        );
        println!("  VAPID JWT, aws-lc-rs / one raw ES256 signature:  {jwt_aws:.3}x");
    }
}

/// Prints each measurement against its baseline.
fn report() {
    let us = |group: &str, bench: &str| estimate_ns(group, bench).map(|ns| ns / 1000.0);
    println!("\nxmpp-push2-crypto, ratios to baselines measured in this run:");
    let ece = us("encrypt_3KiB", "ece-crate");
    // Only the backends this run measured: older estimates may linger on disk.
    let names: &[&str] = if backend::Default::NAME == RustCrypto::NAME {
        &[RustCrypto::NAME]
    } else {
        &[RustCrypto::NAME, backend::Default::NAME]
    };
    for &name in names {
        let (Some(ours), Some(floor)) = (
            us("encrypt_3KiB", &format!("{name}-crate")),
            us("encrypt_3KiB", &format!("{name}-primitives")),
        ) else {
            continue;
        };
        println!(
            "  encrypt 3 KiB, {name:<10} {ours:8.1} us = {:.3}x its primitives ({floor:.1} us; target <= 1.10x)",
            ours / floor
        );
        if let Some(ece) = ece {
            println!(
                "      throughput {:.2}x the ece crate ({ece:.1} us)",
                ece / ours
            );
        }
        if let Some(own) = us("encrypt_3KiB", &format!("{name}-primitives-own-rng")) {
            println!(
                "      {:.3}x its primitives with AWS-LC's own RNG ({own:.1} us)",
                ours / own
            );
        }
    }
    for &name in names {
        let (Some(ours), Some(floor)) = (
            us("vapid_jwt", &format!("{name}-crate")),
            us("vapid_jwt", &format!("{name}-primitive")),
        ) else {
            continue;
        };
        println!(
            "  VAPID JWT, {name:<10}     {ours:8.1} us = {:.3}x one raw ES256 signature ({floor:.1} us)",
            ours / floor
        );
    }
    if let Some(cached) = estimate_ns("vapid_jwt", "cached") {
        println!("  VAPID JWT from the cache   {cached:8.1} ns (target < 1 us)");
    }
}

fn estimate_ns(group: &str, bench: &str) -> Option<f64> {
    common::estimate_ns(&[group, bench])
}
