//! Issue 8, "xmpp-push2-crypto hardening": one section per item of the issue. The push2_tool
//! items (`--aud` must be an origin, a warning without `--sub`) are tested with the tool,
//! in tests/push2_crypto_python.rs at the workspace root.

use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, Rng as _, SeedableRng};
use xmpp_push2_crypto::backend::{self, Backend, RustCrypto};
use xmpp_push2_crypto::error::MalformedJwt;
use xmpp_push2_crypto::hazmat::b64;
use xmpp_push2_crypto::jwt::{self, Policy};
use xmpp_push2_crypto::webpush::MAX_PLAINTEXT_LEN;
use xmpp_push2_crypto::{
    AuthSecret, Claims, DecryptError, EcPublicKey, EncryptError, Envelope, EnvelopeError,
    EnvelopeWriteError, JwtError, KeyError, NotifyError, Now, OriginError, Padding, TokenCache,
    UaKeys, VapidError, VapidKey, VapidSigner, VapidToken, decrypt, encrypt, fuzzing, hazmat,
    vapid,
};

use super::{NOW, at, envelope_with_body, key};

// 1. Envelope::with_random_rpad could push a plaintext over RFC 8291's 3993 octets at random,
//    so webpush::encrypt failed nondeterministically near the limit. Padding is now chosen
//    when serialising, within the bound it will be encrypted under.

#[test]
fn padding_never_pushes_a_plaintext_over_the_rfc_8291_limit() {
    let mut rng = ChaCha20Rng::seed_from_u64(81);
    let ua = UaKeys::generate(&mut rng).unwrap();
    let overhead = envelope_with_body("").to_bytes().unwrap().len();
    // Bodies from "an rpad of 200 may not fit" up to "nothing else fits".
    for body_len in (MAX_PLAINTEXT_LEN - overhead - 220)..=(MAX_PLAINTEXT_LEN - overhead) {
        let envelope = envelope_with_body(&"x".repeat(body_len));
        for padding in [
            Padding::random(200),
            Padding::random_up_to_fit(),
            Padding::fill(),
            Padding::NONE,
        ] {
            let plaintext = envelope.to_padded_bytes(&mut rng, padding).unwrap();
            assert!(plaintext.len() <= MAX_PLAINTEXT_LEN);
            if padding == Padding::fill() && body_len + overhead + 14 <= MAX_PLAINTEXT_LEN {
                assert_eq!(plaintext.len(), MAX_PLAINTEXT_LEN, "fill, body {body_len}");
            }
        }
    }
    // The ones that encrypt: every padding of the longest body that fits with an rpad.
    let envelope = envelope_with_body(&"x".repeat(MAX_PLAINTEXT_LEN - overhead - 14));
    for _ in 0..16 {
        let plaintext = envelope
            .to_padded_bytes(&mut rng, Padding::random(200))
            .unwrap();
        assert!(encrypt(&mut rng, ua.public_key(), &ua.auth_secret, &plaintext).is_ok());
    }
    // One octet too many is refused every time, before any randomness, with the excess.
    let too_long = envelope_with_body(&"x".repeat(MAX_PLAINTEXT_LEN - overhead + 1));
    for padding in [Padding::NONE, Padding::fill()] {
        assert!(matches!(
            too_long.to_padded_bytes(&mut rng, padding),
            Err(EnvelopeWriteError::DoesNotFit { len, limit: MAX_PLAINTEXT_LEN })
                if len == MAX_PLAINTEXT_LEN + 1
        ));
    }
    // A push service that accepts less: the bound follows.
    let small = envelope_with_body("hello")
        .to_padded_bytes(&mut rng, Padding::fill().within(1000))
        .unwrap();
    assert_eq!(small.len(), 1000);
}

// 2. A high-S twin (r, n - s) of a valid ES256 signature verified on the RustCrypto backend
//    (and on aws-lc-rs): tokens were malleable. Both backends now sign low-S only, and the
//    verifier refuses high-S before either backend runs, unless the policy allows it.

const ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// `n - s` in the `s` half of an `r || s` signature.
fn twin(signature: &[u8]) -> Vec<u8> {
    let mut out = signature.to_vec();
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(ORDER[i]) - i16::from(signature[32 + i]) - borrow;
        borrow = i16::from(d < 0);
        out[32 + i] = u8::try_from(d + 256 * borrow).unwrap();
    }
    out
}

fn is_high(signature: &[u8]) -> bool {
    let mut half = ORDER;
    // floor(n / 2): shift the big-endian order right by one bit.
    let mut carry = 0;
    for byte in &mut half {
        let next = *byte & 1;
        *byte = (*byte >> 1) | (carry << 7);
        carry = next;
    }
    signature[32..] > half[..]
}

fn twin_of(token: &str) -> String {
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let signature = b64::decode(signature).unwrap();
    format!("{signed}.{}", b64::encode_url(&twin(&signature)))
}

fn high_s_is_refused<B: Backend>() {
    let key = key(82);
    let signer = VapidSigner::<B>::with_backend(&key).unwrap();
    for i in 0..16 {
        let claims = Claims::new(format!("https://{i}.example"));
        let token = signer
            .sign(at(NOW), &claims, Duration::from_secs(600))
            .unwrap();
        let signature = b64::decode(token.as_str().rsplit_once('.').unwrap().1).unwrap();
        assert!(!is_high(&signature), "{} signed high-S", B::NAME);
        let twin = twin_of(token.as_str());
        for verify in [
            jwt::verify_with::<RustCrypto>,
            jwt::verify_with::<backend::Default>,
        ] {
            assert_eq!(
                verify(at(NOW), &twin, key.public_key(), &Policy::new()),
                Err(JwtError::HighS),
                "{}",
                B::NAME
            );
            let lenient = Policy::new().with_high_s_allowed();
            let allowed = verify(at(NOW), &twin, key.public_key(), &lenient).unwrap();
            assert_eq!(allowed.aud, claims.aud);
        }
    }
}

#[test]
fn a_high_s_twin_is_refused_rustcrypto() {
    high_s_is_refused::<RustCrypto>();
}

#[test]
fn a_high_s_twin_is_refused_default_backend() {
    high_s_is_refused::<backend::Default>();
}

// 3. Duplicate JSON member names in the header or the claims were resolved last-one-wins:
//    {"alg":"none","alg":"ES256"} passed. 4. An unknown `crit` header parameter was accepted.

/// A validly signed token with any header and claims text.
fn signed_raw(key: &VapidKey, header: &str, claims: &str) -> String {
    let mut token = format!(
        "{}.{}",
        b64::encode_url(header.as_bytes()),
        b64::encode_url(claims.as_bytes())
    );
    let pair = key.key_pair();
    let signing =
        backend::Default::signing_key(pair.private_bytes(), pair.public_key().as_bytes()).unwrap();
    let signature = backend::Default::sign(&signing, token.as_bytes()).unwrap();
    token.push('.');
    token.push_str(&b64::encode_url(&signature));
    token
}

#[test]
fn duplicate_member_names_are_refused_in_header_and_claims() {
    let key = key(83);
    let claims = format!(r#"{{"aud":"https://a.example","exp":{}}}"#, NOW + 60);
    let good = signed_raw(&key, r#"{"alg":"ES256"}"#, &claims);
    assert!(jwt::verify(at(NOW), &good, key.public_key(), &Policy::new()).is_ok());
    let dup_claims = format!(
        r#"{{"aud":"https://evil.example","aud":"https://a.example","exp":{}}}"#,
        NOW + 60
    );
    for (header, claims) in [
        (r#"{"alg":"none","alg":"ES256"}"#, claims.as_str()),
        (r#"{"alg":"ES256","alg":"none"}"#, claims.as_str()),
        (r#"{"alg":"ES256","\u0061lg":"ES256"}"#, claims.as_str()),
        (r#"{"alg":"ES256"}"#, dup_claims.as_str()),
        (
            r#"{"alg":"ES256"}"#,
            r#"{"aud":"x","exp":1,"x":{"y":1,"y":2}}"#,
        ),
    ] {
        let token = signed_raw(&key, header, claims);
        let policy = Policy::new().with_audience("https://a.example");
        assert_eq!(
            jwt::verify(at(NOW), &token, key.public_key(), &policy),
            Err(MalformedJwt::DuplicateMember.into()),
            "{header} {claims}"
        );
    }
}

#[test]
fn a_crit_header_is_refused() {
    let key = key(84);
    let claims = format!(r#"{{"aud":"https://a.example","exp":{}}}"#, NOW + 60);
    for (header, names) in [
        (r#"{"alg":"ES256","crit":["exp"],"exp":1}"#, vec!["exp"]),
        (r#"{"alg":"ES256","b64":false,"crit":["b64"]}"#, vec!["b64"]),
        (r#"{"alg":"ES256","crit":[]}"#, vec![]),
        (r#"{"alg":"ES256","crit":"b64"}"#, vec!["b64"]),
        (r#"{"alg":"ES256","crit":[7]}"#, vec!["7"]),
    ] {
        let token = signed_raw(&key, header, &claims);
        let names: Vec<String> = names.into_iter().map(String::from).collect();
        assert_eq!(
            jwt::verify(at(NOW), &token, key.public_key(), &Policy::new()),
            Err(JwtError::UnsupportedCritical(names)),
            "{header}"
        );
    }
}

// 5. Envelope::from_bytes accepted anything after the root element.

#[test]
fn content_after_the_envelope_is_refused() {
    let bytes = envelope_with_body("hi").to_bytes().unwrap();
    let envelope = Envelope::from_bytes(&bytes).unwrap();
    for trailing in [&b" \n\t\r\n"[..], b"\n"] {
        let with = [&bytes[..], trailing].concat();
        assert_eq!(Envelope::from_bytes(&with).unwrap(), envelope);
    }
    for trailing in [
        &b"<envelope xmlns='urn:xmpp:sce:1'/>"[..],
        b"<x/>",
        b"text",
        b"\0",
        b"<!-- comment -->",
        b"<?pi x?>",
        b" </envelope>",
        b"\n\0",
    ] {
        let with = [&bytes[..], trailing].concat();
        assert!(
            matches!(
                Envelope::from_bytes(&with),
                Err(EnvelopeError::TrailingContent)
            ),
            "{:?}",
            String::from_utf8_lossy(trailing)
        );
        fuzzing::envelope(&with);
    }
}

// 6. An `aud` that is not an origin was accepted everywhere. The library derives the origin
//    from an endpoint URL (RFC 8292 section 2), and still takes a caller-chosen `aud` as it is.

#[test]
fn the_audience_is_derived_from_the_endpoint() {
    let endpoint = "https://Updates.Push.Services.Mozilla.com:443/wpush/v2/gAAAAABh?x=1#f";
    let claims = Claims::for_endpoint(endpoint).unwrap();
    assert_eq!(claims.aud, "https://updates.push.services.mozilla.com");
    assert_eq!(
        vapid::origin(&claims.aud).unwrap(),
        claims.aud,
        "an origin is its own"
    );
    assert!(matches!(
        Claims::for_endpoint("not a url"),
        Err(OriginError::NotAUrl(_))
    ));
    assert_eq!(
        Claims::for_endpoint("mailto:ops@example.com"),
        Err(OriginError::UnsupportedScheme("mailto".into()))
    );
    // Caller-chosen claims stay possible (documented): for a spec-less peer.
    assert_eq!(Claims::new("https://host/path").aud, "https://host/path");
}

// 8. VapidError::CacheInconsistent and the `unwrap_or("")` behind it could yield an empty
//    token. The cache now hands out owned tokens found by one lookup; no such state exists.

#[test]
fn cached_tokens_are_never_empty_through_evictions_and_clock_steps() {
    let keys = [key(85), key(86), key(87)];
    let mut cache = TokenCache::new()
        .with_max_entries(4)
        .with_max_per_key(2)
        .with_lifetime(Duration::from_secs(600));
    let mut now = NOW;
    for i in 0u64..120 {
        // Forwards mostly, sometimes back a day and a half.
        now = if i % 37 == 36 {
            now - 130_000
        } else {
            now + 97
        };
        let key = &keys[usize::try_from(i % 3).unwrap()];
        let claims = Claims::new(format!("https://{}.example", i % 5));
        let token = cache.token(at(now), key, &claims).unwrap();
        assert!(!token.as_str().is_empty());
        assert!(token.exp() > now && token.exp() - now <= 86_400);
        assert!(cache.len() <= 4);
    }
    // The fuzz target's invariant checks over a similar sequence.
    let mut ops = vec![0x29];
    for i in 0u8..40 {
        ops.extend_from_slice(&[i.wrapping_mul(37), 0, i]);
    }
    fuzzing::token_cache(&ops);
}

// 9. The Authorization value was built in three places: now in one, and every token has it.

#[test]
fn every_token_carries_one_authorization_shape() {
    let key = key(88);
    let claims = Claims::new("https://a.example");
    let signed = VapidSigner::new(&key)
        .unwrap()
        .sign(at(NOW), &claims, Duration::from_secs(60))
        .unwrap();
    let cached = TokenCache::new().token(at(NOW), &key, &claims).unwrap();
    for token in [&signed, &cached] {
        assert_eq!(
            token.authorization(),
            format!(
                "vapid t={}, k={}",
                token.as_str(),
                key.public_key().to_base64url()
            )
        );
        let (parsed, k) = jwt::parse_authorization(token.authorization()).unwrap();
        assert_eq!((parsed, &k), (token.as_str(), key.public_key()));
    }
}

// 10. The calendar in envelope.rs was hand-rolled; the <time/> affix now comes from chrono.

#[test]
fn time_affixes_agree_with_chrono() {
    let mut rng = ChaCha20Rng::seed_from_u64(89);
    let last = 253_402_300_799u64; // 9999-12-31T23:59:59Z
    let mut samples: Vec<u64> = vec![0, 59, 86_399, 86_400, 951_782_400, 4_107_542_400, last];
    samples.extend((0..500).map(|_| rng.next_u64() % (last + 1)));
    for seconds in samples {
        let envelope = envelope_with_body("").with_time(at(seconds));
        let want = chrono::DateTime::from_timestamp(i64::try_from(seconds).unwrap(), 0).unwrap();
        assert_eq!(envelope.time.as_ref().unwrap().0, want.fixed_offset());
        let parsed = Envelope::from_bytes(&envelope.to_bytes().unwrap()).unwrap();
        assert_eq!(parsed.time, envelope.time, "{seconds}");
    }
    // Beyond the year 9999 the stamp is clamped, not wrapped or refused.
    let far = envelope_with_body("").with_time(at(last + 1_000_000));
    assert_eq!(
        far.time.unwrap().0.timestamp(),
        i64::try_from(last).unwrap()
    );
}

// 11. Four error types with no umbrella for the notify path, and EceError mixed peer faults
//     with caller misuse. 12. The crate root showed only modules. A server's whole notify
//     path now reads from the root and `?`s into NotifyError.

/// What a client registers: `ua-public`, `auth-secret`, `jwt-key` and its endpoint.
type Registration<'a> = (&'a str, &'a str, &'a str, &'a str);

fn notify(
    rng: &mut impl CryptoRng,
    now: Now,
    tokens: &mut TokenCache,
    (ua_public, auth_secret, jwt_key, endpoint): Registration<'_>,
    envelope: &Envelope,
) -> Result<(Vec<u8>, VapidToken), NotifyError> {
    let plaintext = envelope.to_padded_bytes(rng, Padding::fill())?;
    let body = encrypt(
        rng,
        &EcPublicKey::from_base64(ua_public)?,
        &AuthSecret::from_base64(auth_secret)?,
        &plaintext,
    )?;
    let claims = Claims::for_endpoint(endpoint)?.with_sub("xmpp:capulet.lit");
    let token = tokens.token(now, &VapidKey::from_push2(jwt_key)?, &claims)?;
    Ok((body, token))
}

#[test]
fn the_notify_path_has_one_error_and_peer_faults_are_apart() {
    let mut rng = ChaCha20Rng::seed_from_u64(90);
    let device = UaKeys::generate(&mut rng).unwrap();
    let ua = device.public_key().to_base64();
    let auth = device.auth_secret.to_base64();
    let jwt_key = key(91).to_push2().unwrap();
    let mut tokens = TokenCache::new();
    let fits = envelope_with_body("hi");
    let endpoint = "https://push.example/x";
    let good = (ua.as_str(), auth.as_str(), jwt_key.as_str(), endpoint);
    let (body, token) = notify(&mut rng, at(NOW), &mut tokens, good, &fits).unwrap();
    assert_eq!(body.len(), 4096);
    assert_eq!(
        Envelope::from_bytes(&decrypt(&device, &body).unwrap())
            .unwrap()
            .rpad
            .map(|r| r.len() > 3000),
        Some(true)
    );
    assert_eq!(token.exp(), NOW + 12 * 3600);

    let cases: [(Registration<'_>, &Envelope); 5] = [
        (("AAAA", &auth, &jwt_key, endpoint), &fits),
        ((&ua, "!", &jwt_key, endpoint), &fits),
        ((&ua, &auth, &jwt_key, "push.example/x"), &fits),
        ((&ua, &auth, "AAAA", endpoint), &fits),
        (good, &envelope_with_body(&"x".repeat(4000))),
    ];
    let errors: Vec<NotifyError> = cases
        .into_iter()
        .map(|(fields, envelope)| {
            notify(&mut rng, at(NOW), &mut tokens, fields, envelope).unwrap_err()
        })
        .collect();
    assert!(matches!(
        errors[0],
        NotifyError::Key(KeyError::NotUncompressedPoint { len: 3 })
    ));
    assert!(matches!(errors[1], NotifyError::Key(KeyError::Base64(_))));
    assert!(matches!(
        errors[2],
        NotifyError::Origin(OriginError::NotAUrl(_))
    ));
    assert!(matches!(errors[3], NotifyError::Key(KeyError::Pkcs8)));
    assert!(matches!(
        errors[4],
        NotifyError::Envelope(EnvelopeWriteError::DoesNotFit {
            limit: MAX_PLAINTEXT_LEN,
            ..
        })
    ));
    // Signing misuse and encryption misuse are their own variants.
    let reserved: NotifyError = VapidError::ReservedClaim("exp".into()).into();
    assert!(matches!(reserved, NotifyError::Vapid(_)));
    let long: NotifyError = encrypt(
        &mut rng,
        device.public_key(),
        &device.auth_secret,
        &[0; 4000],
    )
    .unwrap_err()
    .into();
    assert!(matches!(
        long,
        NotifyError::Encrypt(EncryptError::PlaintextTooLong { len: 4000, .. })
    ));
    // A body from outside fails with a peer fault, never a misuse variant.
    assert_eq!(
        decrypt(&device, b"junk"),
        Err(DecryptError::ShortHeader { len: 4 })
    );
}

#[test]
fn plumbing_is_in_hazmat() {
    // RFC 8291 Appendix A through hazmat::encrypt_deterministic_with.
    let as_private: [u8; 32] =
        b64::decode_array("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw", "as_private").unwrap();
    let salt = b64::decode_array("DGv6ra1nlYgDCS1FRnbzlw", "salt").unwrap();
    let ua_public = EcPublicKey::from_base64(
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
    )
    .unwrap();
    let auth = AuthSecret::from_base64("BTBZMqHH6r4Tts7J_aSIgg").unwrap();
    let body = hazmat::encrypt_deterministic_with::<RustCrypto>(
        &as_private,
        &salt,
        &ua_public,
        &auth,
        b"When I grow up, I want to be a watermelon",
    )
    .unwrap();
    assert!(
        b64::encode_url(&body)
            .ends_with("Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN")
    );
}

// 13. Signers were cached by the caller per jwt-key (unbounded) while TokenCache cached tokens:
//     one bounded cache now holds both, keyed by key and claims (the origin among them).

#[test]
fn one_bounded_cache_holds_signers_and_tokens() {
    let mut cache = TokenCache::new().with_max_entries(8);
    let keys: Vec<VapidKey> = (0..40).map(|seed| key(1000 + seed)).collect();
    for (i, key) in keys.iter().enumerate() {
        let claims = Claims::for_endpoint(&format!("https://p{}.example/x", i % 3)).unwrap();
        let first = cache.token(at(NOW), key, &claims).unwrap();
        assert_eq!(cache.token(at(NOW + 1), key, &claims).unwrap(), first);
        assert!(cache.len() <= 8);
    }
    assert_eq!(cache.len(), 8);
    let last = keys.last().unwrap().public_key();
    assert_eq!(cache.remove_key(last), 1);
    assert_eq!(cache.len(), 7);
}

// Time: every call that needs the time takes `Now`; JWT expiry follows the wall clock.

#[test]
fn expiry_follows_the_wall_clock_of_now() {
    let key = key(92);
    let claims = Claims::new("https://a.example");
    let mut cache = TokenCache::new();
    let now = at(NOW);
    let first = cache.token(now, &key, &claims).unwrap();
    assert_eq!(
        first.expires_at(),
        now.wall() + Duration::from_secs(12 * 3600)
    );
    // The same monotonic reading with the wall clock stepped 12 h ahead: the token is stale.
    let stepped = now.with_wall(now.wall() + Duration::from_secs(12 * 3600));
    assert_eq!(
        jwt::verify(stepped, first.as_str(), key.public_key(), &Policy::new()),
        Err(JwtError::Expired {
            exp: NOW + 12 * 3600,
            now: NOW + 12 * 3600
        })
    );
    let renewed = cache.token(stepped, &key, &claims).unwrap();
    assert_eq!(renewed.exp(), NOW + 24 * 3600);
    assert_eq!(
        VapidSigner::new(&key)
            .unwrap()
            .sign(now, &claims, Duration::ZERO),
        Err(VapidError::LifetimeTooShort)
    );
}
