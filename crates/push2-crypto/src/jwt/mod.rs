//! VAPID JWT verification, for push services (RFC 8292 sections 2 and 3).
//!
//! Checks, in order: the token's shape and size; the header (a JSON object without repeated
//! member names, `alg` `ES256`, no `crit`); the signature (64 octets, `s` in low-S form unless
//! the [`Policy`] allows both, valid under the key from `k`); then the claims (a JSON object
//! without repeated member names, `exp` an integer after `now` and at most 24 hours ahead, `aud`
//! a string and the [`Policy`]'s audience when it names one, `sub` a string when present). Each
//! failure is its own [`JwtError`] variant. No clock skew is allowed for: a service that wants
//! leeway passes an adjusted `now`.
//!
//! **High S.** Of the two valid signatures `(r, s)` and `(r, n - s)` of a message, the default
//! policy accepts only the one with `s <= n/2`, so that a token cannot be altered into a second
//! valid token (both backends behave alike: the check is made here, before either runs). This
//! crate only ever signs in that form. Signers that do not normalise (OpenSSL, and so Prosody's
//! mod_push2, Python's `cryptography` and PyJWT) emit the other form half the time: a push
//! service that must accept their tokens uses [`Policy::with_high_s_allowed`], and, if it
//! keys anything on the token, keys it on the claims rather than the token text.

use serde_json::{Map, Value};
use xmpp_tether_core::Now;

use crate::backend::{self, Backend};
use crate::error::{JwtError, MalformedJwt};
use crate::hazmat::b64;
use crate::keys::EcPublicKey;
use crate::vapid::MAX_EXPIRY_SECS;

mod authorization;
pub(crate) mod json;

pub use authorization::parse_authorization;

/// Tokens longer than this are refused before any decoding (a VAPID token is ~250 octets).
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// What a verifier requires of a token beyond a valid ES256 signature by the key and an `exp`
/// after `now` and at most 24 hours ahead.
///
/// ```
/// use xmpp_push2_crypto::jwt::Policy;
///
/// let strict = Policy::new().with_audience("https://push.example.net");
/// assert_eq!(strict.audience(), Some("https://push.example.net"));
/// let lenient = strict.clone().with_high_s_allowed();
/// assert!(lenient.is_high_s_allowed() && !strict.is_high_s_allowed());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    audience: Option<String>,
    high_s_allowed: bool,
}

impl Policy {
    /// Any audience; low-S signatures only.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Requires `aud` to be exactly `origin` (a push service's own origin, RFC 8292 section
    /// 2: compared as text, so pass it in the form [`crate::vapid::origin`] writes).
    #[must_use]
    pub fn with_audience(mut self, origin: impl Into<String>) -> Self {
        self.audience = Some(origin.into());
        self
    }

    /// Accepts a signature whose `s` is above `n/2` too (see the [module docs](self)).
    #[must_use]
    pub const fn with_high_s_allowed(mut self) -> Self {
        self.high_s_allowed = true;
        self
    }

    /// The audience required, if any.
    #[must_use]
    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// Whether high-S signatures are accepted.
    #[must_use]
    pub const fn is_high_s_allowed(&self) -> bool {
        self.high_s_allowed
    }
}

/// The claims of a verified token.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct VerifiedClaims {
    /// `aud`.
    pub aud: String,
    /// `exp`, Unix seconds.
    pub exp: u64,
    /// `sub`, when present.
    pub sub: Option<String>,
    /// Every claim, `aud`, `exp` and `sub` included.
    pub all: Map<String, Value>,
}

/// Verifies `token` against `key` at `now` (its wall clock) with the default backend.
///
/// # Errors
/// Every [`JwtError`] but [`JwtError::MalformedAuthorization`] and [`JwtError::Key`].
pub fn verify(
    now: Now,
    token: &str,
    key: &EcPublicKey,
    policy: &Policy,
) -> Result<VerifiedClaims, JwtError> {
    verify_with::<backend::Default>(now, token, key, policy)
}

/// Verifies `token` against `key` at `now` with backend `B`.
///
/// # Errors
/// As [`verify`].
pub fn verify_with<B: Backend>(
    now: Now,
    token: &str,
    key: &EcPublicKey,
    policy: &Policy,
) -> Result<VerifiedClaims, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(MalformedJwt::TooLong.into());
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(MalformedJwt::NotThreeParts.into());
    };
    check_header(&decode_object(header)?)?;
    let signature = b64::decode_url_strict(signature).map_err(|_| MalformedJwt::Base64)?;
    let signature: [u8; 64] = signature
        .try_into()
        .map_err(|_| MalformedJwt::SignatureLength)?;
    if !policy.high_s_allowed && backend::is_high_s(&signature) {
        return Err(JwtError::HighS);
    }
    // The signing input is the first two parts as sent, dot included (RFC 7515 section 5.2).
    let signed = &token[..header.len() + 1 + payload.len()];
    if !B::verify(key.as_bytes(), signed.as_bytes(), &signature) {
        return Err(JwtError::BadSignature);
    }
    check_claims(
        decode_object(payload)?,
        now.unix_seconds(),
        policy.audience(),
    )
}

/// `alg` must be `ES256` (RFC 8292 section 2), and no `crit` may be present: it names
/// extensions the verifier must understand or reject the token for (RFC 7515 section
/// 4.1.11), and none is understood here.
fn check_header(header: &Map<String, Value>) -> Result<(), JwtError> {
    match header.get("alg") {
        Some(Value::String(alg)) if alg == "ES256" => {}
        Some(Value::String(alg)) => {
            return Err(JwtError::UnsupportedAlgorithm { alg: alg.clone() });
        }
        _ => return Err(JwtError::UnsupportedAlgorithm { alg: String::new() }),
    }
    if let Some(crit) = header.get("crit") {
        // The names, for the error (as JSON text where a name is not a string).
        let name = |value: &Value| {
            value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned)
        };
        let names = match crit {
            Value::Array(names) => names.iter().map(name).collect(),
            other => vec![name(other)],
        };
        return Err(JwtError::UnsupportedCritical(names));
    }
    Ok(())
}

/// The claim checks, after the signature has verified (and, for fuzzing, without it), at
/// `now` Unix seconds.
///
/// `exp` must be a JSON integer: RFC 7519 section 2 lets a NumericDate carry a fraction, but
/// RFC 8292 senders write whole seconds, and refusing `1453523768.5` (as
/// [`MalformedJwt::ClaimType`]) keeps the expiry arithmetic exact.
pub(crate) fn check_claims(
    all: Map<String, Value>,
    now: u64,
    expected_aud: Option<&str>,
) -> Result<VerifiedClaims, JwtError> {
    let exp = match all.get("exp") {
        None => return Err(JwtError::MissingClaim("exp")),
        Some(exp) => exp.as_u64().ok_or(MalformedJwt::ClaimType)?,
    };
    let aud = match all.get("aud") {
        None => return Err(JwtError::MissingClaim("aud")),
        Some(Value::String(aud)) => aud.clone(),
        Some(_) => return Err(MalformedJwt::ClaimType.into()),
    };
    let sub = match all.get("sub") {
        None => None,
        Some(Value::String(sub)) => Some(sub.clone()),
        Some(_) => return Err(MalformedJwt::ClaimType.into()),
    };
    if exp <= now {
        return Err(JwtError::Expired { exp, now });
    }
    if exp - now > MAX_EXPIRY_SECS {
        return Err(JwtError::ExpiryTooFar { exp, now });
    }
    if let Some(expected) = expected_aud
        && aud != expected
    {
        return Err(JwtError::AudienceMismatch { found: aud });
    }
    Ok(VerifiedClaims { aud, exp, sub, all })
}

fn decode_object(part: &str) -> Result<Map<String, Value>, MalformedJwt> {
    let bytes = b64::decode_url_strict(part).map_err(|_| MalformedJwt::Base64)?;
    json::object(&bytes)
}

/// Parses and verifies an `Authorization` value in one step; returns the claims and the key
/// (which a push service compares with the one the subscription was restricted to).
///
/// # Errors
/// As [`parse_authorization`] and [`verify`].
pub fn verify_authorization(
    now: Now,
    value: &str,
    policy: &Policy,
) -> Result<(VerifiedClaims, EcPublicKey), JwtError> {
    let (token, key) = parse_authorization(value)?;
    Ok((verify(now, token, &key, policy)?, key))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;
    use crate::backend::RustCrypto;
    use crate::keys::VapidKey;
    use crate::vapid::{Claims, HEADER_B64, VapidSigner};

    // RFC 8292 sections 2.4 and 3. Its signature happens to be high-S.
    const RFC_TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9.eyJhdWQiOiJodHRwczovL3B1c2guZXhhbXBsZS5uZXQiLCJleHAiOjE0NTM1MjM3NjgsInN1YiI6Im1haWx0bzpwdXNoQGV4YW1wbGUuY29tIn0.i3CYb7t4xfxCDquptFOepC9GAu_HLGkMlMuCGSK2rpiUfnK9ojFwDXb1JrErtmysazNjjvW2L9OkSSHzvoD1oA";
    const RFC_KEY: &str =
        "BA1Hxzyi1RUM1b5wjxsn7nGxAszw2u61m164i3MrAIxHF6YK5h4SDYic-dRuU_RCPCfA5aq9ojSwk5Y2EmClBPs";
    const RFC_EXP: u64 = 1_453_523_768;

    fn at(unix_seconds: u64) -> Now {
        Now::new(
            xmpp_tether_core::Monotonic::ZERO,
            SystemTime::UNIX_EPOCH + Duration::from_secs(unix_seconds),
        )
    }

    fn lenient() -> Policy {
        Policy::new().with_high_s_allowed()
    }

    fn rfc_example<B: Backend>() {
        let key = EcPublicKey::from_base64(RFC_KEY).unwrap();
        let policy = lenient().with_audience("https://push.example.net");
        let claims = verify_with::<B>(at(RFC_EXP - 3600), RFC_TOKEN, &key, &policy).unwrap();
        assert_eq!(claims.exp, RFC_EXP);
        assert_eq!(claims.sub.as_deref(), Some("mailto:push@example.com"));
        // The default policy refuses its high-S signature.
        assert_eq!(
            verify_with::<B>(at(RFC_EXP - 3600), RFC_TOKEN, &key, &Policy::new()),
            Err(JwtError::HighS)
        );
        assert_eq!(
            verify_with::<B>(at(RFC_EXP), RFC_TOKEN, &key, &lenient()),
            Err(JwtError::Expired {
                exp: RFC_EXP,
                now: RFC_EXP
            })
        );
        assert_eq!(
            verify_with::<B>(at(RFC_EXP - 86_401), RFC_TOKEN, &key, &lenient()),
            Err(JwtError::ExpiryTooFar {
                exp: RFC_EXP,
                now: RFC_EXP - 86_401
            })
        );
    }

    #[test]
    fn rfc8292_example_verifies_rustcrypto() {
        rfc_example::<RustCrypto>();
    }

    #[cfg(feature = "aws-lc-rs")]
    #[test]
    fn rfc8292_example_verifies_aws_lc() {
        rfc_example::<backend::AwsLc>();
    }

    #[test]
    fn rfc8292_authorization_example_parses() {
        let value = format!("vapid t={RFC_TOKEN}, k={RFC_KEY}");
        let (claims, key) = verify_authorization(at(RFC_EXP - 10), &value, &lenient()).unwrap();
        assert_eq!(
            (claims.aud.as_str(), key.to_base64url()),
            ("https://push.example.net", RFC_KEY.into())
        );
        // Order, case and spacing vary in the wild.
        let reordered = format!("VAPID  k={RFC_KEY},t={RFC_TOKEN}");
        let (token, _) = parse_authorization(&reordered).unwrap();
        assert_eq!(token, RFC_TOKEN);
    }

    #[test]
    fn every_failure_is_typed() {
        let key = EcPublicKey::from_base64(RFC_KEY).unwrap();
        let now = at(RFC_EXP - 60);
        let any = lenient();
        let other = VapidKey::generate(&mut ChaCha20Rng::seed_from_u64(1)).unwrap();
        assert_eq!(
            verify(now, RFC_TOKEN, other.public_key(), &any),
            Err(JwtError::BadSignature)
        );
        assert_eq!(
            verify(
                now,
                RFC_TOKEN,
                &key,
                &any.clone().with_audience("https://other.example")
            ),
            Err(JwtError::AudienceMismatch {
                found: "https://push.example.net".into()
            })
        );
        for (token, want) in [
            ("a.b", MalformedJwt::NotThreeParts),
            ("a.b.c.d", MalformedJwt::NotThreeParts),
            ("!.b.c", MalformedJwt::Base64),
            ("W10.b.c", MalformedJwt::Json),
        ] {
            assert_eq!(verify(now, token, &key, &any), Err(want.into()), "{token}");
        }
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(
            verify(now, &long, &key, &any),
            Err(MalformedJwt::TooLong.into())
        );
        // {"alg":"HS256"} and {"typ":"JWT"}
        let (_, rest) = RFC_TOKEN.split_once('.').unwrap();
        for (header, alg) in [
            ("eyJhbGciOiJIUzI1NiJ9", "HS256"),
            ("eyJ0eXAiOiJKV1QifQ", ""),
        ] {
            assert_eq!(
                verify(now, &format!("{header}.{rest}"), &key, &any),
                Err(JwtError::UnsupportedAlgorithm { alg: alg.into() })
            );
        }
        let (signed, _) = RFC_TOKEN.rsplit_once('.').unwrap();
        assert_eq!(
            verify(now, &format!("{signed}.AAAA"), &key, &any),
            Err(MalformedJwt::SignatureLength.into())
        );
        let mut flipped = RFC_TOKEN.as_bytes().to_vec();
        flipped[60] = if flipped[60] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert!(matches!(
            verify(now, &flipped, &key, &any),
            Err(JwtError::BadSignature | JwtError::Malformed(_))
        ));
    }

    /// Signs arbitrary header and claims JSON with `key`, to reach the checks after the
    /// signature.
    fn sign_raw(key: &VapidKey, header: &str, claims: &str) -> String {
        let mut token = format!(
            "{}.{}",
            b64::encode_url(header.as_bytes()),
            b64::encode_url(claims.as_bytes())
        );
        let signing = backend::Default::signing_key(
            key.key_pair().private_bytes(),
            key.public_key().as_bytes(),
        )
        .unwrap();
        let signature = backend::Default::sign(&signing, token.as_bytes()).unwrap();
        token.push('.');
        token.push_str(&b64::encode_url(&signature));
        token
    }

    #[test]
    fn claim_types_and_presence_are_checked() {
        let vapid = VapidKey::generate(&mut ChaCha20Rng::seed_from_u64(2)).unwrap();
        let signer = VapidSigner::new(&vapid).unwrap();
        let now = at(1_000);
        let header = r#"{"typ":"JWT","alg":"ES256"}"#;
        let sign = |claims: &str| sign_raw(&vapid, header, claims);
        let key = signer.public_key();
        let policy = Policy::new();
        for (claims, want) in [
            (r#"{"aud":"x"}"#, JwtError::MissingClaim("exp")),
            (r#"{"exp":2000}"#, JwtError::MissingClaim("aud")),
            (
                r#"{"aud":"x","exp":"2000"}"#,
                MalformedJwt::ClaimType.into(),
            ),
            (
                r#"{"aud":"x","exp":2000.5}"#,
                MalformedJwt::ClaimType.into(),
            ),
            (r#"{"aud":1,"exp":2000}"#, MalformedJwt::ClaimType.into()),
            (
                r#"{"aud":"x","exp":2000,"sub":7}"#,
                MalformedJwt::ClaimType.into(),
            ),
            ("[1]", MalformedJwt::Json.into()),
        ] {
            assert_eq!(
                verify(now, &sign(claims), key, &policy),
                Err(want),
                "{claims}"
            );
        }
        let ok = verify(
            now,
            &sign(r#"{"aud":"x","exp":2000,"jti":"7"}"#),
            key,
            &policy,
        )
        .unwrap();
        assert_eq!(ok.all["jti"], "7");
        let token = signer
            .sign(
                now,
                &Claims::new("x").with_claim("jti", "7"),
                Duration::from_secs(1000),
            )
            .unwrap();
        assert_eq!(verify(now, token.as_str(), key, &policy).unwrap(), ok);
        assert_eq!(HEADER_B64, b64::encode_url(header.as_bytes()));
    }
}
