//! Property tests: round trips over random plaintexts, record sizes, padding and keys, and
//! single-bit flips anywhere in a body.
//!
//! Case counts: the RFC 8188 properties (HKDF and AES only) take the environment's
//! `PROPTEST_CASES` (1000 in CI). The RFC 8291 properties do four or five P-256 scalar
//! multiplications per case, which costs milliseconds in an unoptimised test build, so they
//! run 128 cases each whatever the environment says (about 5 s each on 2 cores).

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xmpp_push2_crypto::backend::{Backend, RustCrypto};
use xmpp_push2_crypto::ece::{self, Header};
use xmpp_push2_crypto::error::{EceError, KeyError, WebPushError};
use xmpp_push2_crypto::keys::{AuthSecret, UaKeys};
use xmpp_push2_crypto::webpush;

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

fn backends_agree(
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
    #[test]
    fn ece_round_trips(
        ikm in proptest::collection::vec(any::<u8>(), 1..48),
        salt in any::<[u8; 16]>(),
        keyid in proptest::collection::vec(any::<u8>(), 0..70),
        rs in record_size(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..700),
        padding in 0usize..80,
    ) {
        backends_agree(&ikm, &salt, &keyid, rs, &plaintext, padding)?;
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
        prop_assert_eq!(ece::decrypt(&ikm, &flipped), Err(EceError::Authentication { index }));
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
            Err(EceError::RecordSizeTooSmall { rs: seen }) => prop_assert!(seen < 18 && seen == new_rs),
            Err(EceError::Authentication { .. } | EceError::TruncatedRecord { .. }
                | EceError::BadDelimiter { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
        if records_len <= rs as usize && new_rs as usize >= records_len {
            prop_assert_eq!(ece::decrypt(&ikm, &flipped).unwrap(), plaintext);
        }
    }
}

fn keys(seed: u64) -> UaKeys {
    UaKeys::generate(&mut ChaCha20Rng::seed_from_u64(seed)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(WEBPUSH_CASES))]

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
            prop_assert_eq!(webpush::decrypt(&wrong, &body), Err(EceError::Authentication { index: 0 }.into()));
            return Ok(());
        }
        let mut flipped = body.clone();
        flipped[at] ^= 1 << bit;
        let result = webpush::decrypt(&keys, &flipped);
        match at {
            0..16 | webpush::HEADER_LEN.. => {
                prop_assert_eq!(result, Err(EceError::Authentication { index: 0 }.into()));
            }
            16..20 => match result {
                // rs is not authenticated: a larger one still holds the single record.
                Ok(decrypted) => prop_assert_eq!(decrypted, plaintext),
                Err(WebPushError::Ece(EceError::RecordSizeTooSmall { .. }
                    | EceError::TruncatedRecord { .. } | EceError::Authentication { .. })) => {}
                Err(other) => prop_assert!(false, "rs flip gave {other:?}"),
            },
            20 => prop_assert!(matches!(
                result,
                Err(WebPushError::KeyIdNotPublicKey { .. } | WebPushError::Ece(EceError::ShortHeader { .. }))
            ), "{result:?}"),
            // The sender key: no longer a point, or (vanishingly rarely) another point.
            _ => prop_assert!(matches!(
                result,
                Err(WebPushError::SenderKey(KeyError::NotOnCurve | KeyError::NotUncompressedPoint { .. })
                    | WebPushError::Ece(EceError::Authentication { index: 0 }))
            ), "{result:?}"),
        }
    }
}
