//! VAPID JWT verification, for push services (RFC 8292 sections 2 and 3).
//!
//! Checks, in order: the token's shape and size, the header's `alg` (only `ES256`), the
//! signature under the key from `k`, then the claims: `exp` a number after `now` and at most
//! 24 hours ahead, `aud` a string (and the expected origin when one is given), `sub` a string
//! when present. Each failure is its own [`JwtError`] variant. No clock skew is allowed for:
//! a service that wants leeway passes an adjusted `now`.

use serde_json::{Map, Value};

use crate::b64;
use crate::backend::{self, Backend};
use crate::error::{JwtError, MalformedJwt};
use crate::keys::EcPublicKey;
use crate::vapid::MAX_EXPIRY_SECS;

/// Tokens longer than this are refused before any decoding (a VAPID token is ~250 octets).
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The claims of a verified token.
#[derive(Debug, Clone, PartialEq)]
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

/// Verifies `token` against `key` at `now` (Unix seconds) with the default backend.
///
/// # Errors
/// Every [`JwtError`] but [`JwtError::MalformedAuthorization`] and [`JwtError::Key`].
pub fn verify(
    token: &str,
    key: &EcPublicKey,
    now: u64,
    expected_aud: Option<&str>,
) -> Result<VerifiedClaims, JwtError> {
    verify_with::<backend::Default>(token, key, now, expected_aud)
}

/// Verifies `token` against `key` at `now` with backend `B`.
///
/// # Errors
/// As [`verify`].
pub fn verify_with<B: Backend>(
    token: &str,
    key: &EcPublicKey,
    now: u64,
    expected_aud: Option<&str>,
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
    let header = json_object(header)?;
    match header.get("alg") {
        Some(Value::String(alg)) if alg == "ES256" => {}
        Some(Value::String(alg)) => {
            return Err(JwtError::UnsupportedAlgorithm { alg: alg.clone() });
        }
        _ => return Err(JwtError::UnsupportedAlgorithm { alg: String::new() }),
    }
    let signature = b64::decode_url_strict(signature).map_err(|_| MalformedJwt::Base64)?;
    let signature: [u8; 64] = signature
        .try_into()
        .map_err(|_| MalformedJwt::SignatureLength)?;
    // The signing input is the first two parts as sent, dot included (RFC 7515 section 5.2).
    let signed = &token[..header_and_payload_len(token)];
    if !B::verify(key.as_bytes(), signed.as_bytes(), &signature) {
        return Err(JwtError::BadSignature);
    }
    check_claims(json_object(payload)?, now, expected_aud)
}

/// The claim checks, after the signature has verified (and, for fuzzing, without it).
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

fn header_and_payload_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(token.len())
}

fn json_object(part: &str) -> Result<Map<String, Value>, MalformedJwt> {
    let bytes = b64::decode_url_strict(part).map_err(|_| MalformedJwt::Base64)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(MalformedJwt::Json),
    }
}

/// Splits an `Authorization` value `vapid t=<token>, k=<key>` (RFC 8292 section 3; scheme
/// case-insensitive, parameters in any order, unknown ones ignored).
///
/// Parameters are RFC 7235 section 2.1 `auth-param`s, so a value may be a token or a
/// `quoted-string`: `t="eyJ..."` is read like `t=eyJ...`. The `t` and `k` values are base64url
/// and never need a `quoted-pair`; one in them (`\x`) is refused rather than unescaped, as
/// the token is returned as a slice of `value`. Unknown parameters may hold any quoted-string.
///
/// # Errors
/// [`JwtError::MalformedAuthorization`], or [`JwtError::Key`] for a bad `k`.
pub fn parse_authorization(value: &str) -> Result<(&str, EcPublicKey), JwtError> {
    let value = value.trim();
    let (scheme, params) = value
        .split_once(char::is_whitespace)
        .ok_or(JwtError::MalformedAuthorization)?;
    if !scheme.eq_ignore_ascii_case("vapid") {
        return Err(JwtError::MalformedAuthorization);
    }
    let (mut token, mut key) = (None, None);
    let mut rest = params;
    loop {
        // #auth-param: elements separated by commas and optional whitespace, empty ones allowed
        // (RFC 7230 section 7).
        rest = rest.trim_start_matches([',', ' ', '\t']);
        if rest.is_empty() {
            break;
        }
        let (name, after_name) = rest
            .split_once('=')
            .ok_or(JwtError::MalformedAuthorization)?;
        let name = name.trim();
        let after_name = after_name.trim_start_matches([' ', '\t']);
        let (val, quoted_pair, after_value) = split_param_value(after_name)?;
        rest = after_value.trim_start_matches([' ', '\t']);
        if !(rest.is_empty() || rest.starts_with(',')) {
            return Err(JwtError::MalformedAuthorization);
        }
        let slot = match name {
            n if n.eq_ignore_ascii_case("t") => &mut token,
            n if n.eq_ignore_ascii_case("k") => &mut key,
            n if n.is_empty() || n.contains(char::is_whitespace) => {
                return Err(JwtError::MalformedAuthorization);
            }
            _ => continue,
        };
        if quoted_pair || slot.replace(val).is_some() {
            return Err(JwtError::MalformedAuthorization);
        }
    }
    let (Some(token), Some(key)) = (token, key) else {
        return Err(JwtError::MalformedAuthorization);
    };
    let key = EcPublicKey::from_base64(key).map_err(JwtError::Key)?;
    Ok((token, key))
}

/// Splits an `auth-param` value off the front of `text`: a `quoted-string` (without its quotes;
/// the flag says whether it held a `quoted-pair`) or a token up to the next comma or
/// whitespace. Returns the value, the flag and what follows.
fn split_param_value(text: &str) -> Result<(&str, bool, &str), JwtError> {
    let Some(quoted) = text.strip_prefix('"') else {
        let end = text
            .find(|c: char| c == ',' || c.is_whitespace())
            .unwrap_or(text.len());
        let (val, after) = text.split_at(end);
        if val.is_empty() || val.contains('"') {
            return Err(JwtError::MalformedAuthorization);
        }
        return Ok((val, false, after));
    };
    let mut escaped = false;
    let mut had_pair = false;
    for (i, c) in quoted.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => (escaped, had_pair) = (true, true),
            // `i` is the closing quote's offset in `quoted`, whose first octet follows the
            // opening quote: both slices are on character boundaries.
            '"' => return Ok((&quoted[..i], had_pair, &quoted[i + 1..])),
            _ => {}
        }
    }
    Err(JwtError::MalformedAuthorization)
}

/// Parses and verifies an `Authorization` value in one step; returns the claims and the key
/// (which a push service compares with the one the subscription was restricted to).
///
/// # Errors
/// As [`parse_authorization`] and [`verify`].
pub fn verify_authorization(
    value: &str,
    now: u64,
    expected_aud: Option<&str>,
) -> Result<(VerifiedClaims, EcPublicKey), JwtError> {
    let (token, key) = parse_authorization(value)?;
    Ok((verify(token, &key, now, expected_aud)?, key))
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;
    use crate::backend::RustCrypto;
    use crate::error::KeyError;
    use crate::keys::VapidKey;
    use crate::vapid::{Claims, VapidSigner};

    // RFC 8292 section 2.4 and 3.
    const RFC_TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9.eyJhdWQiOiJodHRwczovL3B1c2guZXhhbXBsZS5uZXQiLCJleHAiOjE0NTM1MjM3NjgsInN1YiI6Im1haWx0bzpwdXNoQGV4YW1wbGUuY29tIn0.i3CYb7t4xfxCDquptFOepC9GAu_HLGkMlMuCGSK2rpiUfnK9ojFwDXb1JrErtmysazNjjvW2L9OkSSHzvoD1oA";
    const RFC_KEY: &str =
        "BA1Hxzyi1RUM1b5wjxsn7nGxAszw2u61m164i3MrAIxHF6YK5h4SDYic-dRuU_RCPCfA5aq9ojSwk5Y2EmClBPs";
    const RFC_EXP: u64 = 1_453_523_768;

    fn rfc_example<B: Backend>() {
        let key = EcPublicKey::from_base64(RFC_KEY).unwrap();
        let now = RFC_EXP - 3600;
        let claims =
            verify_with::<B>(RFC_TOKEN, &key, now, Some("https://push.example.net")).unwrap();
        assert_eq!(claims.exp, RFC_EXP);
        assert_eq!(claims.sub.as_deref(), Some("mailto:push@example.com"));
        assert_eq!(
            verify_with::<B>(RFC_TOKEN, &key, RFC_EXP, None),
            Err(JwtError::Expired {
                exp: RFC_EXP,
                now: RFC_EXP
            })
        );
        assert_eq!(
            verify_with::<B>(RFC_TOKEN, &key, RFC_EXP - 86_401, None),
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
        let (claims, key) = verify_authorization(&value, RFC_EXP - 10, None).unwrap();
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
        let now = RFC_EXP - 60;
        let other = VapidKey::generate(&mut ChaCha20Rng::seed_from_u64(1)).unwrap();
        assert_eq!(
            verify(RFC_TOKEN, other.public_key(), now, None),
            Err(JwtError::BadSignature)
        );
        assert_eq!(
            verify(RFC_TOKEN, &key, now, Some("https://other.example")),
            Err(JwtError::AudienceMismatch {
                found: "https://push.example.net".into()
            })
        );
        assert_eq!(
            verify("a.b", &key, now, None),
            Err(MalformedJwt::NotThreeParts.into())
        );
        assert_eq!(
            verify("a.b.c.d", &key, now, None),
            Err(MalformedJwt::NotThreeParts.into())
        );
        assert_eq!(
            verify("!.b.c", &key, now, None),
            Err(MalformedJwt::Base64.into())
        );
        assert_eq!(
            verify("W10.b.c", &key, now, None),
            Err(MalformedJwt::Json.into())
        );
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(
            verify(&long, &key, now, None),
            Err(MalformedJwt::TooLong.into())
        );
        // {"alg":"HS256"} and {"typ":"JWT"}
        let (_, rest) = RFC_TOKEN.split_once('.').unwrap();
        for (header, alg) in [
            ("eyJhbGciOiJIUzI1NiJ9", "HS256"),
            ("eyJ0eXAiOiJKV1QifQ", ""),
        ] {
            assert_eq!(
                verify(&format!("{header}.{rest}"), &key, now, None),
                Err(JwtError::UnsupportedAlgorithm { alg: alg.into() })
            );
        }
        let (signed, _) = RFC_TOKEN.rsplit_once('.').unwrap();
        assert_eq!(
            verify(&format!("{signed}.AAAA"), &key, now, None),
            Err(MalformedJwt::SignatureLength.into())
        );
        let mut flipped = RFC_TOKEN.as_bytes().to_vec();
        flipped[60] = if flipped[60] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert!(matches!(
            verify(&flipped, &key, now, None),
            Err(JwtError::BadSignature | JwtError::Malformed(_))
        ));
    }

    #[test]
    fn claim_types_and_presence_are_checked() {
        let vapid = VapidKey::generate(&mut ChaCha20Rng::seed_from_u64(2)).unwrap();
        let signer = VapidSigner::new(&vapid).unwrap();
        let now = 1_000;
        // Sign arbitrary payloads through the backend to reach the claim checks.
        let sign = |payload: &str| {
            let mut token = format!(
                "{}.{}",
                crate::vapid::HEADER_B64,
                b64::encode_url(payload.as_bytes())
            );
            let key = backend::Default::signing_key(
                vapid.key_pair().private_bytes(),
                vapid.public_key().as_bytes(),
            )
            .unwrap();
            let signature = backend::Default::sign(&key, token.as_bytes()).unwrap();
            token.push('.');
            token.push_str(&b64::encode_url(&signature));
            token
        };
        let key = signer.public_key();
        assert_eq!(
            verify(&sign(r#"{"aud":"x"}"#), key, now, None),
            Err(JwtError::MissingClaim("exp"))
        );
        assert_eq!(
            verify(&sign(r#"{"exp":2000}"#), key, now, None),
            Err(JwtError::MissingClaim("aud"))
        );
        assert_eq!(
            verify(&sign(r#"{"aud":"x","exp":"2000"}"#), key, now, None),
            Err(MalformedJwt::ClaimType.into())
        );
        assert_eq!(
            verify(&sign(r#"{"aud":"x","exp":2000.5}"#), key, now, None),
            Err(MalformedJwt::ClaimType.into())
        );
        assert_eq!(
            verify(&sign(r#"{"aud":1,"exp":2000}"#), key, now, None),
            Err(MalformedJwt::ClaimType.into())
        );
        assert_eq!(
            verify(&sign("[1]"), key, now, None),
            Err(MalformedJwt::Json.into())
        );
        let ok = verify(&sign(r#"{"aud":"x","exp":2000,"jti":"7"}"#), key, now, None).unwrap();
        assert_eq!(ok.all["jti"], "7");
        let token = signer
            .sign(&Claims::new("x").with_claim("jti", "7"), 2000, now)
            .unwrap();
        assert_eq!(verify(&token, key, now, None).unwrap(), ok);
    }

    #[test]
    fn malformed_authorization_values() {
        for value in [
            "",
            "vapid",
            "bearer t=a, k=b",
            "vapid t=a",
            "vapid k=b",
            "vapid t=a, t=b, k=c",
            "vapid t",
        ] {
            assert_eq!(
                parse_authorization(value),
                Err(JwtError::MalformedAuthorization),
                "{value:?}"
            );
        }
        assert!(matches!(
            parse_authorization("vapid t=a, k=AAAA"),
            Err(JwtError::Key(KeyError::NotUncompressedPoint { len: 3 }))
        ));
    }
}
