//! Property tests: round trips over random plaintexts, record sizes, padding and keys,
//! single-bit flips anywhere in a body, the two backends against each other (and against the
//! `ece` crate), and envelope padding against its bound.
//!
//! Case counts: the RFC 8188 properties (HKDF and AES only) take the environment's
//! `PROPTEST_CASES` (1000 in CI). The properties that do P-256 scalar multiplications (four or
//! five per case, milliseconds each in an unoptimised test build) run 128 cases each whatever
//! the environment says (about 5 s each on 2 cores).

use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xmpp_parsers::forwarding::Forwarded;
use xmpp_parsers::message::{Lang, Message};
use xmpp_push2_crypto::backend::{self, Backend, RustCrypto};
use xmpp_push2_crypto::ece::{self, Header};
use xmpp_push2_crypto::error::{DecryptError, EnvelopeWriteError, JwtError, KeyError};
use xmpp_push2_crypto::jwt::{self, Policy};
use xmpp_push2_crypto::{
    AuthSecret, Claims, Envelope, Now, Padding, UaKeys, VapidKey, VapidSigner, hazmat, webpush,
};

const WEBPUSH_CASES: u32 = 128;

fn ece_round_trip<B: Backend>(
    ikm: &[u8],
    salt: &[u8; 16],
    keyid: &[u8],
    rs: u32,
    plaintext: &[u8],
    padding: usize,
) -> Result<(), TestCaseError> {
    let body = ece::encrypt_with::<B>(ikm, salt, keyid, rs, plaintext, padding).unwrap();
    let (header, records) = Header::parse(&body).unwrap();
    prop_assert_eq!((header.rs, header.keyid), (rs, keyid));
    // Every record but the last is exactly rs octets.
    let capacity = rs as usize - 17;
    let expected_records = (plaintext.len() + padding).div_ceil(capacity).max(1);
    prop_assert_eq!(
        records.len(),
        plaintext.len() + padding + 17 * expected_records
    );
    prop_assert_eq!(ece::decrypt_with::<B>(ikm, &body).unwrap(), plaintext);
    Ok(())
}

/// RFC 8188 round trips under every backend built, byte for byte alike.
fn ece_backends_round_trip(
    ikm: &[u8],
    salt: &[u8; 16],
    keyid: &[u8],
    rs: u32,
    plaintext: &[u8],
    padding: usize,
) -> Result<(), TestCaseError> {
    ece_round_trip::<RustCrypto>(ikm, salt, keyid, rs, plaintext, padding)?;
    #[cfg(feature = "aws-lc-rs")]
    {
        use xmpp_push2_crypto::backend::AwsLc;
        ece_round_trip::<AwsLc>(ikm, salt, keyid, rs, plaintext, padding)?;
        let ours = ece::encrypt_with::<RustCrypto>(ikm, salt, keyid, rs, plaintext, padding);
        let theirs = ece::encrypt_with::<AwsLc>(ikm, salt, keyid, rs, plaintext, padding);
        prop_assert_eq!(ours, theirs);
    }
    Ok(())
}

fn record_size() -> impl Strategy<Value = u32> {
    prop_oneof![18u32..64, 64u32..600, Just(4096u32), Just(u32::MAX)]
}

proptest! {

    #![proptest_config(persisted(ProptestConfig::default()))]
    #[test]
    fn ece_round_trips(
        ikm in proptest::collection::vec(any::<u8>(), 1..48),
        salt in any::<[u8; 16]>(),
        keyid in proptest::collection::vec(any::<u8>(), 0..70),
        rs in record_size(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..700),
        padding in 0usize..80,
    ) {
        ece_backends_round_trip(&ikm, &salt, &keyid, rs, &plaintext, padding)?;
    }

    /// Flipping any bit of the salt or of a record is caught by the tag of the record it
    /// lands in (or, for the salt, the first record).
    #[test]
    fn ece_flips_in_salt_or_records_fail_authentication(
        salt in any::<[u8; 16]>(),
        rs in 18u32..80,
        plaintext in proptest::collection::vec(any::<u8>(), 0..300),
        padding in 0usize..20,
        position in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let ikm = [0x5a; 16];
        let body = ece::encrypt(&ikm, &salt, b"", rs, &plaintext, padding).unwrap();
        let header_len = ece::HEADER_LEN;
        // Salt octets, then record octets: skip rs and idlen.
        let candidates: Vec<usize> = (0..16).chain(header_len..body.len()).collect();
        let at = candidates[position.index(candidates.len())];
        let mut flipped = body.clone();
        flipped[at] ^= 1 << bit;
        let index = if at < 16 { 0 } else { ((at - header_len) / rs as usize) as u64 };
        prop_assert_eq!(ece::decrypt(&ikm, &flipped), Err(DecryptError::Authentication { index }));
    }

    /// RFC 8188 does not authenticate rs: a changed rs is noticed only when it moves record
    /// boundaries. It decrypts to the same plaintext or fails with a typed error, never to
    /// anything else.
    #[test]
    fn ece_changed_record_size_is_caught_or_harmless(
        rs in 18u32..80,
        plaintext in proptest::collection::vec(any::<u8>(), 0..300),
        bit in 0u8..32,
    ) {
        let ikm = [0x6b; 16];
        let body = ece::encrypt(&ikm, &[3; 16], b"", rs, &plaintext, 0).unwrap();
        let mut flipped = body.clone();
        let new_rs = rs ^ (1 << bit);
        flipped[16..20].copy_from_slice(&new_rs.to_be_bytes());
        let records_len = body.len() - ece::HEADER_LEN;
        match ece::decrypt(&ikm, &flipped) {
            Ok(decrypted) => {
                prop_assert_eq!(&decrypted, &plaintext);
                // Only a single record, still whole under the new size, survives.
                prop_assert!(records_len <= rs as usize && records_len <= new_rs as usize);
            }
            Err(DecryptError::RecordSizeTooSmall { rs: seen }) => prop_assert!(seen < 18 && seen == new_rs),
            Err(DecryptError::Authentication { .. } | DecryptError::TruncatedRecord { .. }
                | DecryptError::BadDelimiter { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
        // A single record still whole under a new size that is itself valid (RFC 8188 §2:
        // at least 18) must decrypt; below 18 the header is refused (matched above).
        if records_len <= rs as usize && new_rs as usize >= records_len && new_rs >= 18 {
            prop_assert_eq!(ece::decrypt(&ikm, &flipped).unwrap(), plaintext);
        }
    }
}

/// The case the property above found (rs 21, bit 2: the header then says 17, below RFC
/// 8188's minimum of 18), which its last check wrongly expected to decrypt: a typed refusal.
#[test]
fn a_record_size_flipped_below_the_minimum_is_refused() {
    let ikm = [0x6b; 16];
    let body = ece::encrypt(&ikm, &[3; 16], b"", 21, &[], 0).unwrap();
    let mut flipped = body;
    flipped[16..20].copy_from_slice(&17u32.to_be_bytes());
    assert!(matches!(
        ece::decrypt(&ikm, &flipped),
        Err(DecryptError::RecordSizeTooSmall { rs: 17 })
    ));
}

fn keys(seed: u64) -> UaKeys {
    UaKeys::generate(&mut ChaCha20Rng::seed_from_u64(seed)).unwrap()
}

proptest! {
    #![proptest_config(persisted(ProptestConfig::with_cases(WEBPUSH_CASES)))]

    #[test]
    fn webpush_round_trips(
        seed in any::<u64>(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..=webpush::MAX_PLAINTEXT_LEN),
    ) {
        let keys = keys(seed);
        let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 0xa5a5);
        let body = webpush::encrypt_with::<RustCrypto>(&mut rng, keys.public_key(), &keys.auth_secret, &plaintext).unwrap();
        prop_assert_eq!(body.len(), webpush::HEADER_LEN + plaintext.len() + 17);
        let (header, _) = Header::parse(&body).unwrap();
        prop_assert_eq!((header.rs, header.keyid.len()), (4096, 65));
        prop_assert_eq!(&webpush::decrypt_with::<RustCrypto>(&keys, &body).unwrap(), &plaintext);
        #[cfg(feature = "aws-lc-rs")]
        {
            use xmpp_push2_crypto::backend::AwsLc;
            prop_assert_eq!(&webpush::decrypt_with::<AwsLc>(&keys, &body).unwrap(), &plaintext);
            let body = webpush::encrypt_with::<AwsLc>(&mut rng, keys.public_key(), &keys.auth_secret, &plaintext).unwrap();
            prop_assert_eq!(&webpush::decrypt_with::<RustCrypto>(&keys, &body).unwrap(), &plaintext);
        }
    }

    /// One flipped bit in the salt, the sender key, the ciphertext or the receiver's auth
    /// secret is rejected with a typed error; a flip in rs is caught or harmless.
    #[test]
    fn webpush_single_bit_flips_are_rejected(
        seed in any::<u64>(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..200),
        position in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let keys = keys(seed);
        let mut rng = ChaCha20Rng::seed_from_u64(!seed);
        let body = webpush::encrypt(&mut rng, keys.public_key(), &keys.auth_secret, &plaintext).unwrap();
        let at = position.index(body.len() + 16);
        if at >= body.len() {
            // A flipped bit in the auth secret the receiver holds.
            let mut auth = *keys.auth_secret.as_bytes();
            auth[at - body.len()] ^= 1 << bit;
            let wrong = UaKeys { key_pair: keys.key_pair.clone(), auth_secret: AuthSecret::from_bytes(auth) };
            prop_assert_eq!(webpush::decrypt(&wrong, &body), Err(DecryptError::Authentication { index: 0 }));
            return Ok(());
        }
        let mut flipped = body.clone();
        flipped[at] ^= 1 << bit;
        let result = webpush::decrypt(&keys, &flipped);
        match at {
            0..16 | webpush::HEADER_LEN.. => {
                prop_assert_eq!(result, Err(DecryptError::Authentication { index: 0 }));
            }
            16..20 => match result {
                // rs is not authenticated: a larger one still holds the single record.
                Ok(decrypted) => prop_assert_eq!(decrypted, plaintext),
                Err(DecryptError::RecordSizeTooSmall { .. }
                    | DecryptError::TruncatedRecord { .. } | DecryptError::Authentication { .. }) => {}
                Err(other) => prop_assert!(false, "rs flip gave {other:?}"),
            },
            20 => prop_assert!(matches!(
                result,
                Err(DecryptError::KeyIdNotPublicKey { .. } | DecryptError::ShortHeader { .. })
            ), "{result:?}"),
            // The sender key: no longer a point, or (vanishingly rarely) another point.
            _ => prop_assert!(matches!(
                result,
                Err(DecryptError::SenderKey(KeyError::NotOnCurve | KeyError::NotUncompressedPoint { .. })
                    | DecryptError::Authentication { index: 0 })
            ), "{result:?}"),
        }
    }
}

/// The `(r, n - s)` twin of an `r || s` signature (n is the P-256 group order).
fn twin(signature: &[u8; 64]) -> [u8; 64] {
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x51,
    ];
    let mut out = *signature;
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(N[i]) - i16::from(signature[32 + i]) - borrow;
        borrow = i16::from(d < 0);
        out[32 + i] = (d + 256 * borrow) as u8;
    }
    out
}

/// `token` with its signature replaced by the signature's twin.
fn twin_token(token: &str) -> String {
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let signature: [u8; 64] = hazmat::b64::decode(signature).unwrap().try_into().unwrap();
    format!("{signed}.{}", hazmat::b64::encode_url(&twin(&signature)))
}

fn at(unix_seconds: u64) -> Now {
    Now::new(
        Default::default(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(unix_seconds),
    )
}

/// What one backend does with one ES256 token: signed in low-S form, verified by every
/// backend built, its high-S twin refused by default and accepted when the policy allows it.
fn es256_agrees<B: Backend>(key: &VapidKey, aud: &str) -> Result<(), TestCaseError> {
    let now = at(1_800_000_000);
    let signer = VapidSigner::<B>::with_backend(key).unwrap();
    let token = signer
        .sign(now, &Claims::new(aud), Duration::from_secs(600))
        .unwrap();
    let twin = twin_token(token.as_str());
    let (strict, lenient) = (Policy::new(), Policy::new().with_high_s_allowed());
    let public = key.public_key();
    for verify in [
        jwt::verify_with::<RustCrypto>,
        jwt::verify_with::<backend::Default>,
    ] {
        prop_assert!(
            verify(now, token.as_str(), public, &strict).is_ok(),
            "{}",
            B::NAME
        );
        prop_assert_eq!(verify(now, &twin, public, &strict), Err(JwtError::HighS));
        prop_assert_eq!(
            verify(now, &twin, public, &lenient).map(|c| c.aud),
            Ok(aud.to_owned())
        );
    }
    Ok(())
}

fn backend_cases() -> ProptestConfig {
    ProptestConfig::with_cases(WEBPUSH_CASES)
}

proptest! {
    #![proptest_config(persisted(backend_cases()))]

    /// The backends agree. With `aws-lc-rs`: byte for byte on RFC 8291 with a fixed ephemeral
    /// key and salt, on key derivation, and on ES256 (each verifies the other's tokens and
    /// treats high-S twins alike). Without it there is one backend, and what can still be
    /// checked is: its RFC 8291 output decrypts with the `ece` crate (OpenSSL underneath),
    /// its ES256 tokens are low-S and its verifier treats twins as the policy says.
    #[test]
    fn backends_agree(
        ephemeral_seed in any::<u64>(),
        salt in any::<[u8; 16]>(),
        ua_seed in any::<u64>(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..=webpush::MAX_PLAINTEXT_LEN),
        aud in "https://[a-z]{1,12}\\.example",
    ) {
        let ua = keys(ua_seed);
        let ephemeral = VapidKey::generate(&mut ChaCha20Rng::seed_from_u64(ephemeral_seed)).unwrap();
        let scalar = ephemeral.key_pair().private_bytes();
        let ours = hazmat::encrypt_deterministic_with::<RustCrypto>(
            scalar, &salt, ua.public_key(), &ua.auth_secret, &plaintext).unwrap();
        let theirs = hazmat::encrypt_deterministic_with::<backend::Default>(
            scalar, &salt, ua.public_key(), &ua.auth_secret, &plaintext).unwrap();
        prop_assert_eq!(&ours, &theirs);
        let components = ::ece::EcKeyComponents::new(
            ua.key_pair.private_bytes().to_vec(), ua.public_key().as_bytes().to_vec());
        prop_assert_eq!(
            &::ece::decrypt(&components, ua.auth_secret.as_bytes(), &ours).unwrap(),
            &plaintext
        );
        let regenerated =
            VapidKey::generate_with::<backend::Default>(&mut ChaCha20Rng::seed_from_u64(ephemeral_seed)).unwrap();
        prop_assert_eq!(regenerated.public_key(), ephemeral.public_key());
        es256_agrees::<RustCrypto>(&ephemeral, &aud)?;
        es256_agrees::<backend::Default>(&ephemeral, &aud)?;
    }

    /// Padding never takes an envelope past its bound: whatever the body, the bound and the
    /// padding, the result fits (Fill reaches the bound whenever an `<rpad/>` fits), parses
    /// back to the same envelope, and under the default bound always encrypts.
    #[test]
    fn padding_respects_its_bound(
        body_len in 0usize..4200,
        limit in prop_oneof![Just(webpush::MAX_PLAINTEXT_LEN), 0usize..5000],
        mode in 0u8..4,
        seed in any::<u64>(),
    ) {
        let message = Message::new(Some("juliet@capulet.lit".parse().unwrap()))
            .with_body(Lang::default(), "x".repeat(body_len));
        let envelope = Envelope::new(Forwarded { delay: None, message });
        let padding = match mode {
            0 => Padding::NONE,
            1 => Padding::random(seed as usize % 5000),
            2 => Padding::random_up_to_fit(),
            _ => Padding::fill(),
        }
        .within(limit);
        let unpadded = envelope.to_bytes().unwrap().len();
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        match envelope.to_padded_bytes(&mut rng, padding) {
            Ok(bytes) => {
                prop_assert!(bytes.len() <= limit && unpadded <= limit);
                if mode == 3 && unpadded + "<rpad>A</rpad>".len() <= limit {
                    prop_assert_eq!(bytes.len(), limit.min(unpadded + 13 + 4096));
                }
                let mut parsed = Envelope::from_bytes(&bytes).unwrap();
                parsed.rpad = None;
                prop_assert_eq!(&parsed, &envelope);
                if limit == webpush::MAX_PLAINTEXT_LEN {
                    let ua = keys(seed);
                    prop_assert!(webpush::encrypt(&mut rng, ua.public_key(), &ua.auth_secret, &bytes).is_ok());
                }
            }
            Err(EnvelopeWriteError::DoesNotFit { len, limit: bound }) => {
                prop_assert_eq!((len, bound), (unpadded, limit));
                prop_assert!(unpadded > limit);
            }
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }
}

/// Saved failures go beside this file (`<name>.proptest-regressions`) and are replayed first:
/// proptest's default looks beside `src/`, which an integration test has not.
fn persisted(config: ProptestConfig) -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..config
    }
}
