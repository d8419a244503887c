//! Regression tests for the first review's findings, one section per finding. Each failed (or
//! crashed) before its fix. (Written against the API of the time; brought up to date since.)

use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xmpp_parsers::message::Id;
use xmpp_push2_crypto::backend::{self, Backend, HkdfOutput, RustCrypto};
use xmpp_push2_crypto::envelope::{MAX_DEPTH, MAX_ENVELOPE_LEN, MAX_RPAD_LEN};
use xmpp_push2_crypto::error::{
    EnvelopeError, EnvelopeWriteError, JwtError, KeyError, MalformedJwt,
};
use xmpp_push2_crypto::jwt::{self, Policy};
use xmpp_push2_crypto::{Claims, Envelope, Padding, TokenCache, VapidKey, fuzzing};

use super::{NOW, at, envelope_with_body, key};

// 1. TokenCache evicted the token it had just signed when the lifetime was at most the refresh
//    margin and the cache was full, and token() then failed with Key(Backend).

#[test]
fn token_cache_short_lifetime_at_capacity_still_returns_a_token() {
    let key = key(1);
    let mut cache = TokenCache::new()
        .with_lifetime(Duration::from_secs(600))
        .with_max_entries(1);
    cache
        .token(at(NOW), &key, &Claims::new("https://a.example"))
        .unwrap();
    let second = cache
        .token(at(NOW), &key, &Claims::new("https://b.example"))
        .unwrap();
    assert_eq!(cache.len(), 1);
    // The one kept is the one just signed, and it is reused while fresh: the default 1 h
    // margin is clamped to half the lifetime (300 s), so for the first 300 seconds.
    let claims = jwt::verify(at(NOW), second.as_str(), key.public_key(), &Policy::new()).unwrap();
    assert_eq!(
        (claims.aud.as_str(), claims.exp),
        ("https://b.example", NOW + 600)
    );
    let again = cache.token(at(NOW), &key, &Claims::new("https://b.example"));
    assert_eq!(again.unwrap(), second);
    let reused = cache.token(at(NOW + 299), &key, &Claims::new("https://b.example"));
    assert_eq!(reused.unwrap(), second);
    let renewed = cache.token(at(NOW + 300), &key, &Claims::new("https://b.example"));
    assert_eq!(renewed.unwrap().exp(), NOW + 900);
}

#[test]
fn token_cache_short_lifetime_fills_and_cycles_without_errors() {
    let key = key(2);
    // Lifetime equal to the margin: the clamp makes the margin 300 s for both freshness and
    // eviction.
    let mut cache = TokenCache::new()
        .with_lifetime(Duration::from_secs(600))
        .with_refresh_margin(Duration::from_secs(600))
        .with_max_entries(3);
    for i in 0..20u64 {
        let aud = format!("https://{}.example", i % 5);
        let token = cache
            .token(at(NOW + i), &key, &Claims::new(aud.clone()))
            .unwrap();
        let policy = Policy::new().with_audience(aud);
        let (claims, _) =
            jwt::verify_authorization(at(NOW + i), token.authorization(), &policy).unwrap();
        assert!(claims.exp > NOW + i);
        assert!((1..=3).contains(&cache.len()));
    }
    // Three audiences within the same second: all kept, none evicted while fresh.
    for aud in [
        "https://x.example",
        "https://y.example",
        "https://z.example",
    ] {
        cache.token(at(NOW + 100), &key, &Claims::new(aud)).unwrap();
    }
    assert_eq!(cache.len(), 3);
}

#[test]
fn token_cache_renewing_a_stale_entry_evicts_nothing_else() {
    let key = key(3);
    let mut cache = TokenCache::new()
        .with_lifetime(Duration::from_secs(3600))
        .with_refresh_margin(Duration::from_secs(600))
        .with_max_entries(2);
    let a = Claims::new("https://a.example");
    let b = Claims::new("https://b.example");
    cache.token(at(NOW), &key, &a).unwrap();
    let b_token = cache.token(at(NOW + 100), &key, &b).unwrap();
    // a is due for renewal at NOW + 3000; b is not yet (until NOW + 3100).
    let renewed = cache.token(at(NOW + 3050), &key, &a).unwrap();
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.token(at(NOW + 3050), &key, &b).unwrap(), b_token);
    assert_eq!(cache.token(at(NOW + 3050), &key, &a).unwrap(), renewed);
}

// 2. Envelope::to_bytes panicked inside minidom on text XML cannot carry.

#[test]
fn envelope_to_bytes_refuses_characters_xml_cannot_carry() {
    assert!(matches!(
        envelope_with_body("a\u{1}b").to_bytes(),
        Err(EnvelopeWriteError::UnwritableChar('\u{1}'))
    ));
    let mut in_attribute = envelope_with_body("fine");
    in_attribute.forwarded.message.id = Some(Id("x\u{fffe}".into()));
    assert!(matches!(
        in_attribute.to_bytes(),
        Err(EnvelopeWriteError::UnwritableChar('\u{fffe}'))
    ));
    let mut in_rpad = envelope_with_body("fine");
    in_rpad.rpad = Some("\u{ffff}".into());
    assert!(matches!(
        in_rpad.to_bytes(),
        Err(EnvelopeWriteError::UnwritableChar('\u{ffff}'))
    ));
}

#[test]
fn envelope_with_every_xml_whitespace_and_astral_text_round_trips() {
    let mut envelope = envelope_with_body("tab\there\r\nnew line \u{10FFFF} \u{E000} <&>'\"");
    envelope.forwarded.message.id = Some(Id("id\twith\nspace\r".into()));
    let bytes = envelope.to_bytes().unwrap();
    assert_eq!(Envelope::from_bytes(&bytes).unwrap(), envelope);
}

#[test]
fn parsed_prefixes_and_namespaces_serialise_without_panicking() {
    // Payloads keep the prefixes they were parsed with; writing them must not trip minidom.
    for payload in [
        "<x xmlns='urn:a' xmlns:p='urn:b'><p:y p:z='1'/></x>",
        "<p:x xmlns:p='urn:a'><p:y xmlns:p='urn:b'/></p:x>",
        "<x xmlns='urn:a'><y xmlns='jabber:client'/><z xmlns=''/></x>",
        "<x xmlns='urn:a' xmlns:xml2='urn:c'><q xmlns:p='urn:a' p:a='2'/></x>",
    ] {
        let xml = format!(
            "<envelope xmlns='urn:xmpp:sce:1' xmlns:e='urn:xmpp:sce:1'><content>\
             <forwarded xmlns='urn:xmpp:forward:0' xmlns:p='urn:other'>\
             <message xmlns='jabber:client' xmlns:p='urn:third'>{payload}</message>\
             </forwarded></content><e:rpad>r</e:rpad></envelope>"
        );
        fuzzing::envelope(xml.as_bytes());
        let parsed = Envelope::from_bytes(xml.as_bytes()).unwrap();
        assert_eq!(parsed.rpad.as_deref(), Some("r"));
    }
}

// 3. The <time/> affix lost its fractional seconds, so parse -> serialise -> parse changed
//    the envelope (the push2_envelope fuzz target's assertion).

const FRACTIONAL: &str = "<envelope xmlns='urn:xmpp:sce:1'><content>\
    <forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'/></forwarded>\
    </content><time stamp='2004-01-25T04:05:00.5Z'/></envelope>";

#[test]
fn envelope_time_with_fraction_round_trips() {
    for stamp in [
        "2004-01-25T04:05:00.5Z",
        "2004-01-25T04:05:00.123456789Z",
        "2004-01-25T05:05:00.25+01:00",
        "2004-01-25T04:05:00-00:00",
    ] {
        let xml = FRACTIONAL.replace("2004-01-25T04:05:00.5Z", stamp);
        let parsed = Envelope::from_bytes(xml.as_bytes()).unwrap();
        let again = Envelope::from_bytes(&parsed.to_bytes().unwrap()).unwrap();
        assert_eq!(again, parsed, "{stamp}");
        assert_eq!(again.time.unwrap().0.timestamp_subsec_nanos(), {
            parsed.time.unwrap().0.timestamp_subsec_nanos()
        });
    }
}

#[test]
fn envelope_fuzz_target_survives_fractional_utc_stamp() {
    fuzzing::envelope(FRACTIONAL.as_bytes());
}

// 4. Envelope::from_bytes handed any input to minidom: 10,000 nested elements overflowed the
//    stack and aborted the process.

fn nested(depth: usize) -> String {
    // The envelope and <content/> count as two levels.
    let mut xml = String::from("<envelope xmlns='urn:xmpp:sce:1'><content>");
    for _ in 0..depth.saturating_sub(2) {
        xml.push_str("<a>");
    }
    for _ in 0..depth.saturating_sub(2) {
        xml.push_str("</a>");
    }
    xml.push_str("</content></envelope>");
    xml
}

#[test]
fn deeply_nested_envelope_is_an_error_not_a_crash() {
    // 10,000 levels (70 KB, the review's case) is over the size limit; 9,000 (63 KB) is
    // within it and must be stopped by the depth check.
    assert!(matches!(
        Envelope::from_bytes(nested(10_000).as_bytes()),
        Err(EnvelopeError::TooLong { .. })
    ));
    let xml = nested(9_000);
    assert!(xml.len() <= MAX_ENVELOPE_LEN);
    let error = Envelope::from_bytes(xml.as_bytes()).unwrap_err();
    assert!(
        matches!(error, EnvelopeError::TooDeep { max: MAX_DEPTH }),
        "{error:?}"
    );
    fuzzing::envelope(xml.as_bytes());
}

#[test]
fn nesting_is_bounded_exactly_at_max_depth() {
    // At the limit the document reaches the content checks (an <a/> is not <forwarded/>).
    assert!(matches!(
        Envelope::from_bytes(nested(MAX_DEPTH).as_bytes()),
        Err(EnvelopeError::NotForwarded)
    ));
    assert!(matches!(
        Envelope::from_bytes(nested(MAX_DEPTH + 1).as_bytes()),
        Err(EnvelopeError::TooDeep { .. })
    ));
    // Self-closing elements close their level too.
    let siblings = nested(3).replace("<a></a>", &"<a/>".repeat(MAX_DEPTH * 2));
    assert!(matches!(
        Envelope::from_bytes(siblings.as_bytes()),
        Err(EnvelopeError::NotForwarded)
    ));
}

#[test]
fn oversized_envelope_is_refused_before_parsing() {
    let mut envelope = envelope_with_body(&"x".repeat(MAX_ENVELOPE_LEN));
    envelope.rpad = None;
    let bytes = envelope.to_bytes().unwrap();
    assert!(matches!(
        Envelope::from_bytes(&bytes),
        Err(EnvelopeError::TooLong { len }) if len == bytes.len()
    ));
    let mut just_fits = envelope_with_body("");
    let overhead = just_fits.to_bytes().unwrap().len();
    just_fits = envelope_with_body(&"x".repeat(MAX_ENVELOPE_LEN - overhead));
    let bytes = just_fits.to_bytes().unwrap();
    assert_eq!(bytes.len(), MAX_ENVELOPE_LEN);
    assert_eq!(Envelope::from_bytes(&bytes).unwrap(), just_fits);
}

// 5. with_random_rpad(rng, usize::MAX) tried to allocate up to usize::MAX octets. (Padding is
//    now chosen when serialising, within a bound: the bound may be huge, the rpad is not.)

#[test]
fn rpad_length_is_capped() {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let envelope = envelope_with_body("");
    for padding in [Padding::random(usize::MAX), Padding::fill()] {
        for _ in 0..32 {
            let bytes = envelope
                .to_padded_bytes(&mut rng, padding.within(usize::MAX))
                .unwrap();
            let rpad = Envelope::from_bytes(&bytes)
                .unwrap()
                .rpad
                .unwrap_or_default();
            assert!(rpad.len() <= MAX_RPAD_LEN, "{}", rpad.len());
        }
    }
}

#[test]
fn absurd_padding_is_an_error_not_an_abort() {
    use xmpp_push2_crypto::ece;
    use xmpp_push2_crypto::error::EncryptError;
    // Fits usize after the record arithmetic, but no allocator can provide it.
    let padding = usize::MAX / 2;
    assert_eq!(
        ece::encrypt(&[1; 16], &[2; 16], b"", u32::MAX, b"hi", padding),
        Err(EncryptError::TooLarge)
    );
}

// 6. Debug of an HKDF output printed key bytes; AwsLc reported a bad scalar as Mismatch; there
//    was no VapidKey::generate_with.

#[test]
fn hkdf_output_debug_shows_no_key_bytes() {
    let mut okm = [0u8; 16];
    let info: &[&[u8]] = &[b"Content-Encoding: aes128gcm\0"];
    let mut outputs = [HkdfOutput {
        info,
        okm: &mut okm,
    }];
    RustCrypto::hkdf_sha256(b"salt", b"ikm", &mut outputs).unwrap();
    let printed = format!("{:?}", outputs[0]);
    let filled = outputs[0].okm.to_vec();
    assert!(filled.iter().any(|&b| b != 0));
    assert!(!printed.contains(&format!("{filled:?}")), "{printed}");
    assert!(printed.contains("okm_len: 16"), "{printed}");
}

fn signing_key_errors<B: Backend>() {
    let key = VapidKey::generate_with::<B>(&mut ChaCha20Rng::seed_from_u64(4)).unwrap();
    let public = key.public_key().as_bytes();
    let order_minus_one = {
        let mut n = [0xff; 32];
        n[4..8].copy_from_slice(&[0; 4]);
        n[16..].copy_from_slice(&[
            0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
            0x25, 0x50,
        ]);
        n
    };
    let mut order = order_minus_one;
    order[31] = 0x51;
    for bad in [[0; 32], [0xff; 32], order] {
        assert_eq!(
            B::signing_key(&bad, public).err(),
            Some(KeyError::InvalidScalar),
            "{}",
            B::NAME
        );
    }
    // n - 1 is a valid scalar, just not this key's.
    assert_eq!(
        B::signing_key(&order_minus_one, public).err(),
        Some(KeyError::Mismatch),
        "{}",
        B::NAME
    );
    assert!(B::signing_key(key.key_pair().private_bytes(), public).is_ok());
}

#[test]
fn signing_key_errors_rustcrypto() {
    signing_key_errors::<RustCrypto>();
}

#[test]
fn signing_key_errors_default_backend() {
    signing_key_errors::<backend::Default>();
}

#[test]
fn vapid_key_generation_is_the_same_in_both_backends() {
    let a = VapidKey::generate_with::<RustCrypto>(&mut ChaCha20Rng::seed_from_u64(5)).unwrap();
    let b =
        VapidKey::generate_with::<backend::Default>(&mut ChaCha20Rng::seed_from_u64(5)).unwrap();
    assert_eq!(a.public_key(), b.public_key());
}

// 7. Quoted auth-param values were taken with their quotes; claims parsing was not fuzzed.

#[test]
fn authorization_accepts_quoted_parameter_values() {
    let signed = TokenCache::new()
        .token(at(NOW), &key(6), &Claims::new("https://a.example"))
        .unwrap();
    let (token, key) = jwt::parse_authorization(signed.authorization()).unwrap();
    let k = key.to_base64url();
    for quoted in [
        format!("vapid t=\"{token}\", k=\"{k}\""),
        format!("vapid k=\"{k}\",t={token}"),
        format!("vapid t={token}, realm=\"a, \\\"b\\\" c\", k={k}"),
        format!("vapid , t = \"{token}\" ,, k={k} ,"),
    ] {
        let (t, parsed_key) = jwt::parse_authorization(&quoted).unwrap();
        assert_eq!((t, &parsed_key), (token, &key), "{quoted}");
    }
    for bad in [
        format!("vapid t=\"{token}, k={k}"),
        format!("vapid t=\"{token}\"x, k={k}"),
        format!("vapid t=\"a\\\"b\", k={k}"),
        format!("vapid t={token} junk, k={k}"),
        format!("vapid t=, k={k}"),
    ] {
        assert_eq!(
            jwt::parse_authorization(&bad),
            Err(JwtError::MalformedAuthorization),
            "{bad}"
        );
    }
}

#[test]
fn claims_parse_without_a_signature_for_fuzzing() {
    let mut data = 1_000u64.to_be_bytes().to_vec();
    data.extend_from_slice(br#"{"aud":"x","exp":2000.5}"#);
    fuzzing::jwt_claims(&data);
    fuzzing::jwt_claims(b"");
    fuzzing::jwt_claims(br#"12345678{"aud":"x","exp":18446744073709551615}"#);
    // A fractional exp is refused by verification (documented on jwt::verify).
    let key = VapidKey::generate(&mut ChaCha20Rng::seed_from_u64(7)).unwrap();
    assert_eq!(
        jwt::verify(
            at(0),
            "eyJhbGciOiJFUzI1NiJ9.e30.AAAA",
            key.public_key(),
            &Policy::new()
        ),
        Err(MalformedJwt::SignatureLength.into())
    );
}
