//! RFC 8292 VAPID: ES256 JWTs, the `Authorization: vapid t=..., k=...` value, the `aud`
//! origin of a push endpoint, and a bounded token cache.
//!
//! A token is `base64url(header) . base64url(claims) . base64url(r || s)` (RFC 7515 compact
//! serialisation, RFC 7518 section 3.4 signature, `s` always in low-S form), with header
//! `{"typ":"JWT","alg":"ES256"}` and claims `aud`, `exp` (a number, at most 24 hours ahead:
//! RFC 8292 section 2), `sub` when given, then the caller's own string claims.
//!
//! Time is a [`Now`] argument: `exp` is `now.unix_seconds()` plus the token's lifetime, from
//! the wall clock, because it is read by another machine. There is no `iat` (RFC 8292 does not
//! use one).
//!
//! A server signs through [`TokenCache`], which holds the signers and tokens for every
//! (key, claims) pair it is asked about, within a bound; [`VapidSigner`] signs one token at a
//! time. Verification for push services is in [`crate::jwt`].

use core::fmt;
use core::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use xmpp_tether_core::Now;

use crate::backend::{self, Backend};
use crate::error::{KeyError, OriginError, VapidError};
use crate::hazmat::b64;
use crate::keys::{EcPublicKey, VapidKey};

mod cache;

pub use cache::TokenCache;

/// The longest a token may live: 24 hours (RFC 8292 section 2).
pub const MAX_LIFETIME: Duration = Duration::from_secs(MAX_EXPIRY_SECS);

/// [`MAX_LIFETIME`] in seconds.
pub(crate) const MAX_EXPIRY_SECS: u64 = 24 * 60 * 60;

/// `base64url({"typ":"JWT","alg":"ES256"})`, the header RFC 8292 section 2.4 shows.
pub(crate) const HEADER_B64: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9";

/// Claim names the signer writes itself (`aud`, `exp`, `sub`), or that registered JWT claims
/// define as numbers (`iat`, `nbf`, RFC 7519 section 4.1) and a string would make invalid.
const RESERVED: [&str; 5] = ["aud", "exp", "sub", "iat", "nbf"];

/// The origin of a push endpoint URL, for the `aud` claim: RFC 8292 section 2 asks for "the
/// Unicode serialization of the origin (Section 6.1 of RFC 6454) of the push resource URL".
///
/// The URL is parsed as browsers parse it (WHATWG URL, the `url` crate): scheme and host are
/// lower-cased, a default port is dropped, path, query, fragment and user information are left
/// out. For an internationalised host the Unicode form is written, as the RFC says; for an ASCII
/// host (every push service today) it is the same text as the ASCII serialisation.
///
/// ```
/// use xmpp_push2_crypto::vapid::origin;
///
/// assert_eq!(origin("https://Push.Example.net:443/wpush/v2/gAAAA?x#y")?, "https://push.example.net");
/// assert_eq!(origin("http://localhost:8080/push/1")?, "http://localhost:8080");
/// assert!(origin("mailto:ops@example.com").is_err());
/// assert!(origin("not a url").is_err());
/// # Ok::<(), xmpp_push2_crypto::error::OriginError>(())
/// ```
///
/// # Errors
/// [`OriginError::NotAUrl`], or [`OriginError::UnsupportedScheme`] for anything but `https`
/// and `http`.
pub fn origin(endpoint: &str) -> Result<String, OriginError> {
    let url = url::Url::parse(endpoint).map_err(OriginError::NotAUrl)?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(OriginError::UnsupportedScheme(url.scheme().to_owned()));
    }
    Ok(url.origin().unicode_serialization())
}

/// The claims of a VAPID token other than `exp`, which is set at signing time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Claims {
    /// `aud`: the origin of the push resource, e.g. `https://push.example.net`.
    pub aud: String,
    /// `sub`: a contact URI (`mailto:` or `https:`) for the push service operator to use.
    /// RFC 8292 makes it optional, but push services commonly refuse tokens without one
    /// (Apple's also refuses a `mailto:` at `localhost`).
    pub sub: Option<String>,
    /// Further string claims (the push2 `<jwt-claim name=''/>` elements), in order.
    pub extra: Vec<(String, String)>,
}

impl Claims {
    /// Claims for the push resource at `endpoint`: `aud` is its origin ([`origin`]).
    ///
    /// # Errors
    /// As [`origin`].
    pub fn for_endpoint(endpoint: &str) -> Result<Self, OriginError> {
        Ok(Self::new(origin(endpoint)?))
    }

    /// Claims with the audience `aud`, taken as it is. RFC 8292 wants an origin there, which
    /// [`Claims::for_endpoint`] derives; this constructor leaves the value to the caller, for
    /// the push2 `<jwt-claim name='aud'/>` a client sends and for push services with rules of
    /// their own.
    #[must_use]
    pub fn new(aud: impl Into<String>) -> Self {
        Self {
            aud: aud.into(),
            sub: None,
            extra: Vec::new(),
        }
    }

    /// Sets `sub`.
    #[must_use]
    pub fn with_sub(mut self, sub: impl Into<String>) -> Self {
        self.sub = Some(sub.into());
        self
    }

    /// Adds a string claim.
    #[must_use]
    pub fn with_claim(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.push((name.into(), value.into()));
        self
    }

    fn check(&self) -> Result<(), VapidError> {
        for (i, (name, _)) in self.extra.iter().enumerate() {
            if RESERVED.contains(&name.as_str()) {
                return Err(VapidError::ReservedClaim(name.clone()));
            }
            if self.extra[..i].iter().any(|(other, _)| other == name) {
                return Err(VapidError::DuplicateClaim(name.clone()));
            }
        }
        Ok(())
    }

    fn to_json(&self, exp: u64) -> String {
        let mut json = String::with_capacity(64 + self.aud.len());
        json.push_str("{\"aud\":");
        push_json_str(&mut json, &self.aud);
        // Writing to a String cannot fail.
        let _ = write!(json, ",\"exp\":{exp}");
        if let Some(sub) = &self.sub {
            json.push_str(",\"sub\":");
            push_json_str(&mut json, sub);
        }
        for (name, value) in &self.extra {
            json.push(',');
            push_json_str(&mut json, name);
            json.push(':');
            push_json_str(&mut json, value);
        }
        json.push('}');
        json
    }
}

/// Appends `text` as a JSON string (RFC 8259 section 7).
fn push_json_str(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A signed VAPID token with what goes with it: cheap to clone (shared), redacted from `Debug`
/// (a bearer credential until it expires).
///
/// For push2, [`VapidToken::as_str`] is the text of `<jwt/>` and
/// [`VapidToken::public_key`]`.to_base64()` its `key`; for HTTP Web Push,
/// [`VapidToken::authorization`] is the `Authorization` header value.
#[derive(Clone)]
pub struct VapidToken(Arc<Signed>);

struct Signed {
    token: String,
    authorization: String,
    public: EcPublicKey,
    exp: u64,
}

impl VapidToken {
    /// `k` is `public` in unpadded base64url (the signer keeps it, so it is encoded once).
    fn new(token: String, public: EcPublicKey, k: &str, exp: u64) -> Self {
        // RFC 8292 section 3: the only place the header value is built.
        let authorization = format!("vapid t={token}, k={k}");
        Self(Arc::new(Signed {
            token,
            authorization,
            public,
            exp,
        }))
    }

    /// The JWT (compact serialisation).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0.token
    }

    /// The `Authorization` header value, `vapid t=<token>, k=<key>` (RFC 8292 section 3).
    #[must_use]
    pub fn authorization(&self) -> &str {
        &self.0.authorization
    }

    /// The public key of the signer (`k`).
    #[must_use]
    pub fn public_key(&self) -> &EcPublicKey {
        &self.0.public
    }

    /// The `exp` claim, Unix seconds.
    #[must_use]
    pub fn exp(&self) -> u64 {
        self.0.exp
    }

    /// The `exp` claim as a wall-clock time.
    #[must_use]
    pub fn expires_at(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(self.0.exp)
    }
}

impl PartialEq for VapidToken {
    fn eq(&self, other: &Self) -> bool {
        self.0.token == other.0.token
    }
}

impl Eq for VapidToken {}

impl fmt::Debug for VapidToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VapidToken")
            .field("public", &self.0.public)
            .field("exp", &self.0.exp)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// Signs VAPID tokens with one key, prepared once for backend `B`.
///
/// A server sending to many clients, each with its own `jwt-key`, uses a [`TokenCache`],
/// which keeps one signer per key for as long as it keeps tokens of that key.
pub struct VapidSigner<B: Backend = backend::Default> {
    key: B::SigningKey,
    public: EcPublicKey,
    /// `public` as the `k` parameter: unpadded base64url.
    k: String,
}

impl VapidSigner {
    /// A signer for `key` with the default backend.
    ///
    /// # Errors
    /// [`KeyError`] if the backend rejects the key.
    pub fn new(key: &VapidKey) -> Result<Self, KeyError> {
        Self::with_backend(key)
    }
}

impl<B: Backend> VapidSigner<B> {
    /// A signer for `key` with backend `B`.
    ///
    /// # Errors
    /// [`KeyError`] if the backend rejects the key.
    pub fn with_backend(key: &VapidKey) -> Result<Self, KeyError> {
        let pair = key.key_pair();
        let signing = B::signing_key(pair.private_bytes(), pair.public_key().as_bytes())?;
        Ok(Self {
            key: signing,
            public: *pair.public_key(),
            k: pair.public_key().to_base64url(),
        })
    }

    /// The public key, as push services see it in `k`.
    #[must_use]
    pub const fn public_key(&self) -> &EcPublicKey {
        &self.public
    }

    /// Signs a token for `claims` that expires `lifetime` after `now` (`exp` is
    /// `now.unix_seconds()` plus the lifetime's whole seconds).
    ///
    /// # Errors
    /// [`VapidError::LifetimeTooLong`] (more than 24 h in whole seconds),
    /// [`VapidError::LifetimeTooShort`] (under 1 s), [`VapidError::ReservedClaim`],
    /// [`VapidError::DuplicateClaim`], or [`VapidError::Key`] if the backend fails.
    pub fn sign(
        &self,
        now: Now,
        claims: &Claims,
        lifetime: Duration,
    ) -> Result<VapidToken, VapidError> {
        let seconds = lifetime.as_secs();
        if seconds == 0 {
            return Err(VapidError::LifetimeTooShort);
        }
        if seconds > MAX_EXPIRY_SECS {
            return Err(VapidError::LifetimeTooLong { seconds });
        }
        claims.check()?;
        let exp = now.unix_seconds().saturating_add(seconds);
        let payload = claims.to_json(exp);
        let mut token = String::with_capacity(HEADER_B64.len() + payload.len() * 4 / 3 + 92);
        token.push_str(HEADER_B64);
        token.push('.');
        b64::encode_url_into(payload.as_bytes(), &mut token);
        let signature = B::sign(&self.key, token.as_bytes())?;
        token.push('.');
        b64::encode_url_into(&signature, &mut token);
        Ok(VapidToken::new(token, self.public, &self.k, exp))
    }
}

impl<B: Backend> fmt::Debug for VapidSigner<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VapidSigner")
            .field("backend", &B::NAME)
            .field("public", &self.public)
            .field("private", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;
    use crate::backend::RustCrypto;
    use crate::error::JwtError;
    use crate::jwt::{self, Policy};

    pub(super) const NOW: u64 = 1_700_000_000;

    pub(super) fn at(unix_seconds: u64) -> Now {
        Now::new(
            xmpp_tether_core::Monotonic::ZERO,
            SystemTime::UNIX_EPOCH + Duration::from_secs(unix_seconds),
        )
    }

    pub(super) fn vapid_key(seed: u64) -> VapidKey {
        VapidKey::generate(&mut ChaCha20Rng::seed_from_u64(seed)).unwrap()
    }

    fn signer(seed: u64) -> VapidSigner<RustCrypto> {
        VapidSigner::with_backend(&vapid_key(seed)).unwrap()
    }

    #[test]
    fn claims_serialise_in_the_rfc_order_and_escape() {
        let claims = Claims::new("https://push.example.net").with_sub("mailto:push@example.com");
        assert_eq!(
            claims.to_json(1_453_523_768),
            r#"{"aud":"https://push.example.net","exp":1453523768,"sub":"mailto:push@example.com"}"#
        );
        let odd = Claims::new("a\"b\\c\n").with_claim("x", "é");
        assert_eq!(
            odd.to_json(1),
            "{\"aud\":\"a\\\"b\\\\c\\u000a\",\"exp\":1,\"x\":\"é\"}"
        );
        let parsed: serde_json::Value = serde_json::from_str(&odd.to_json(1)).unwrap();
        assert_eq!(parsed["aud"], "a\"b\\c\n");
    }

    #[test]
    fn the_rfc_header_is_what_we_emit() {
        assert_eq!(
            b64::decode(HEADER_B64).unwrap(),
            br#"{"typ":"JWT","alg":"ES256"}"#
        );
    }

    #[test]
    fn signed_tokens_verify_and_the_lifetime_is_bounded() {
        let signer = signer(1);
        let claims = Claims::new("https://push.example.net").with_sub("mailto:a@example.com");
        let token = signer.sign(at(NOW), &claims, MAX_LIFETIME).unwrap();
        assert_eq!(token.exp(), NOW + MAX_EXPIRY_SECS);
        assert_eq!(
            token.expires_at(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(token.exp())
        );
        let policy = Policy::new().with_audience("https://push.example.net");
        let verified = jwt::verify(at(NOW), token.as_str(), signer.public_key(), &policy);
        assert_eq!(verified.unwrap().exp, NOW + MAX_EXPIRY_SECS);
        // Sub-second parts of `now` and of the lifetime are dropped: exp is whole seconds.
        let half = signer
            .sign(
                at(NOW).advance(Duration::from_millis(900)),
                &claims,
                Duration::from_millis(1500),
            )
            .unwrap();
        assert_eq!(half.exp(), NOW + 1);
        assert_eq!(
            signer.sign(at(NOW), &claims, MAX_LIFETIME + Duration::from_secs(1)),
            Err(VapidError::LifetimeTooLong {
                seconds: MAX_EXPIRY_SECS + 1
            })
        );
        // A fraction of a second beyond 24 h is dropped with the rest of the fraction.
        let just = signer.sign(at(NOW), &claims, MAX_LIFETIME + Duration::from_millis(999));
        assert_eq!(just.unwrap().exp(), NOW + MAX_EXPIRY_SECS);
        assert_eq!(
            signer.sign(at(NOW), &claims, Duration::from_millis(999)),
            Err(VapidError::LifetimeTooShort)
        );
        for reserved in RESERVED {
            let claims = claims.clone().with_claim(reserved, "9");
            assert_eq!(
                signer.sign(at(NOW), &claims, MAX_LIFETIME),
                Err(VapidError::ReservedClaim(reserved.into()))
            );
        }
        let twice = claims.with_claim("x", "1").with_claim("x", "2");
        assert_eq!(
            signer.sign(at(NOW), &twice, MAX_LIFETIME),
            Err(VapidError::DuplicateClaim("x".into()))
        );
    }

    #[test]
    fn authorization_value_has_the_rfc_shape() {
        let signer = signer(2);
        let token = signer
            .sign(
                at(NOW),
                &Claims::new("https://a.example"),
                Duration::from_secs(60),
            )
            .unwrap();
        let value = token.authorization();
        let (parsed, key) = jwt::parse_authorization(value).unwrap();
        assert_eq!((parsed, &key), (token.as_str(), signer.public_key()));
        assert_eq!(token.public_key(), signer.public_key());
        assert_eq!(
            value,
            format!("vapid t={}, k={}", token.as_str(), key.to_base64url())
        );
        assert_eq!(
            value.matches('=').count(),
            2,
            "base64url without padding: {value}"
        );
        // Debug shows neither the token nor the key's secret.
        let printed = format!("{token:?} {signer:?}");
        assert!(!printed.contains(token.as_str()), "{printed}");
        assert!(printed.contains("<redacted>"), "{printed}");
    }

    #[test]
    fn origins_follow_rfc_6454() {
        for (endpoint, want) in [
            (
                "https://push.example.net/wpush/v2/x",
                "https://push.example.net",
            ),
            ("HTTPS://Push.Example.NET:443/x", "https://push.example.net"),
            (
                "https://push.example.net:8443/x",
                "https://push.example.net:8443",
            ),
            ("http://localhost:80/x", "http://localhost"),
            ("http://127.0.0.1:8080/x?y#z", "http://127.0.0.1:8080"),
            ("https://[::1]:4443/x", "https://[::1]:4443"),
            (
                "https://user:pass@push.example.net/x",
                "https://push.example.net",
            ),
            ("https://xn--bcher-kva.example/x", "https://bücher.example"),
            ("https://bücher.example/x", "https://bücher.example"),
        ] {
            assert_eq!(origin(endpoint).as_deref(), Ok(want), "{endpoint}");
            assert_eq!(Claims::for_endpoint(endpoint).unwrap().aud, want);
        }
        assert!(matches!(origin("not a url"), Err(OriginError::NotAUrl(_))));
        assert!(matches!(
            origin("/relative/path"),
            Err(OriginError::NotAUrl(_))
        ));
        for (endpoint, scheme) in [
            ("mailto:ops@example.com", "mailto"),
            ("file:///tmp/x", "file"),
            ("wss://push.example.net/x", "wss"),
        ] {
            assert_eq!(
                origin(endpoint),
                Err(OriginError::UnsupportedScheme(scheme.into()))
            );
        }
    }

    #[test]
    fn our_tokens_are_always_low_s() {
        // The signer's own output always passes the strict verifier: low-S, no duplicates.
        let signer = signer(3);
        for i in 0..32 {
            let claims = Claims::new(format!("https://{i}.example"));
            let token = signer.sign(at(NOW), &claims, MAX_LIFETIME).unwrap();
            let verified =
                jwt::verify(at(NOW), token.as_str(), signer.public_key(), &Policy::new());
            assert!(
                !matches!(verified, Err(JwtError::HighS)),
                "token {i} is high-S"
            );
            assert!(verified.is_ok());
        }
    }
}
