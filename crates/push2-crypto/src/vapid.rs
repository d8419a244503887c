//! RFC 8292 VAPID: ES256 JWTs, the `Authorization: vapid t=..., k=...` value, and a token
//! cache.
//!
//! A token is `base64url(header) . base64url(claims) . base64url(r || s)` (RFC 7515 compact
//! serialisation, RFC 7518 section 3.4 signature), with header `{"typ":"JWT","alg":"ES256"}`
//! and claims `aud`, `exp` (a number, at most 24 hours ahead: RFC 8292 section 2), `sub` when
//! given, then the caller's own claims. Time is always an argument, in Unix seconds.
//!
//! Verification for push services is in [`crate::jwt`].

use core::fmt;
use core::fmt::Write as _;
use std::collections::HashMap;

use crate::b64;
use crate::backend::{self, Backend};
use crate::error::{KeyError, VapidError};
use crate::keys::{EcPublicKey, VapidKey};

/// The longest a token may live: 24 hours (RFC 8292 section 2).
pub const MAX_EXPIRY_SECS: u64 = 24 * 60 * 60;

/// `base64url({"typ":"JWT","alg":"ES256"})`, the header RFC 8292 section 2.4 shows.
pub(crate) const HEADER_B64: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9";

/// The claims of a VAPID token other than `exp`, which is given at signing time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Claims {
    /// `aud`: the origin of the push resource, e.g. `https://push.example.net`.
    pub aud: String,
    /// `sub`: a contact URI (`mailto:` or `https:`) for the push service operator to use.
    pub sub: Option<String>,
    /// Further string claims (the push2 `<jwt-claim name=''/>` elements), in order.
    pub extra: Vec<(String, String)>,
}

impl Claims {
    /// Claims with only an audience.
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
            if matches!(name.as_str(), "aud" | "exp" | "sub") {
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

/// Signs VAPID tokens with one key, prepared once for backend `B`.
pub struct VapidSigner<B: Backend = backend::Default> {
    key: B::SigningKey,
    public: EcPublicKey,
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

    /// Signs a token expiring at `exp`, checked against `now` (both Unix seconds).
    ///
    /// # Errors
    /// [`VapidError::ExpiryInPast`], [`VapidError::ExpiryTooFar`] (more than 24 h ahead),
    /// [`VapidError::ReservedClaim`], [`VapidError::DuplicateClaim`].
    pub fn sign(&self, claims: &Claims, exp: u64, now: u64) -> Result<String, VapidError> {
        if exp <= now {
            return Err(VapidError::ExpiryInPast { exp, now });
        }
        if exp - now > MAX_EXPIRY_SECS {
            return Err(VapidError::ExpiryTooFar { exp, now });
        }
        claims.check()?;
        let payload = claims.to_json(exp);
        let mut token = String::with_capacity(HEADER_B64.len() + payload.len() * 4 / 3 + 92);
        token.push_str(HEADER_B64);
        token.push('.');
        b64::encode_url_into(payload.as_bytes(), &mut token);
        let signature = B::sign(&self.key, token.as_bytes())?;
        token.push('.');
        b64::encode_url_into(&signature, &mut token);
        Ok(token)
    }

    /// Signs a token and returns the whole `Authorization` value, `vapid t=..., k=...`.
    ///
    /// # Errors
    /// As [`VapidSigner::sign`].
    pub fn authorization(&self, claims: &Claims, exp: u64, now: u64) -> Result<String, VapidError> {
        let token = self.sign(claims, exp, now)?;
        Ok(format!("vapid t={token}, k={}", self.k))
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

/// The `Authorization` header value for a token and key (RFC 8292 section 3).
#[must_use]
pub fn authorization_header(token: &str, key: &EcPublicKey) -> String {
    format!("vapid t={token}, k={}", key.to_base64url())
}

/// Reuses one token per (key, claims) until it is close to expiry.
///
/// Signing costs a scalar multiplication; a push service accepts the same token for every
/// notification to the same origin until `exp`. The cache signs tokens valid for
/// [`TokenCache::with_lifetime`] (default 12 h) and signs anew once fewer than
/// [`TokenCache::with_refresh_margin`] seconds (default 1 h) remain, or when `now` went
/// backwards so far that the cached `exp` would be more than 24 h ahead. At most
/// [`TokenCache::with_max_entries`] tokens are kept (default 1024): at the limit, expired
/// tokens and tokens due for renewal go first, then the one expiring soonest; the token just
/// signed is never evicted.
#[derive(Clone)]
pub struct TokenCache {
    lifetime: u64,
    refresh_margin: u64,
    max_entries: usize,
    len: usize,
    entries: HashMap<[u8; 65], HashMap<Claims, Cached>>,
}

impl fmt::Debug for TokenCache {
    // Tokens are bearer credentials until they expire: not printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("lifetime", &self.lifetime)
            .field("refresh_margin", &self.refresh_margin)
            .field("max_entries", &self.max_entries)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
struct Cached {
    exp: u64,
    /// `vapid t=<token>, k=<key>`.
    header: String,
    token_len: usize,
}

const AUTH_PREFIX: &str = "vapid t=";

impl Default for TokenCache {
    fn default() -> Self {
        Self::new()
    }
}

impl TokenCache {
    /// An empty cache: 12 h tokens, renewed 1 h before expiry, at most 1024 of them.
    #[must_use]
    pub fn new() -> Self {
        Self {
            lifetime: 12 * 60 * 60,
            refresh_margin: 60 * 60,
            max_entries: 1024,
            len: 0,
            entries: HashMap::new(),
        }
    }

    /// How long new tokens live, in seconds; clamped to 1 s ..= 24 h.
    #[must_use]
    pub fn with_lifetime(mut self, seconds: u64) -> Self {
        self.lifetime = seconds.clamp(1, MAX_EXPIRY_SECS);
        self
    }

    /// How long before `exp` a token is replaced, in seconds (to cover clock skew and
    /// transit time). Clamped to half the lifetime.
    #[must_use]
    pub const fn with_refresh_margin(mut self, seconds: u64) -> Self {
        self.refresh_margin = seconds;
        self
    }

    /// The most tokens kept (at least 1).
    #[must_use]
    pub fn with_max_entries(mut self, max: usize) -> Self {
        self.max_entries = max.max(1);
        self
    }

    /// How many tokens are cached.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether no token is cached.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets every token.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.len = 0;
    }

    /// A token for `claims` signed by `signer`, reused while fresh at `now` (Unix seconds).
    ///
    /// # Errors
    /// As [`VapidSigner::sign`].
    pub fn token<B: Backend>(
        &mut self,
        now: u64,
        signer: &VapidSigner<B>,
        claims: &Claims,
    ) -> Result<&str, VapidError> {
        let cached = self.lookup(now, signer, claims)?;
        Ok(cached
            .header
            .get(AUTH_PREFIX.len()..AUTH_PREFIX.len() + cached.token_len)
            .unwrap_or(""))
    }

    /// The whole `Authorization` value (`vapid t=..., k=...`), reused while fresh.
    ///
    /// # Errors
    /// As [`VapidSigner::sign`].
    pub fn authorization<B: Backend>(
        &mut self,
        now: u64,
        signer: &VapidSigner<B>,
        claims: &Claims,
    ) -> Result<&str, VapidError> {
        Ok(&self.lookup(now, signer, claims)?.header)
    }

    /// The refresh margin in force: the configured one, clamped to half the lifetime so that
    /// a token just signed is fresh and is reused for at least half its life (a 10-minute
    /// token with the default 1 h margin would otherwise be stale at birth, or reused for a
    /// second). Freshness and eviction both use this one value.
    fn margin(&self) -> u64 {
        self.refresh_margin.min(self.lifetime / 2)
    }

    fn is_fresh(&self, cached: &Cached, now: u64) -> bool {
        now.saturating_add(self.margin()) < cached.exp && cached.exp - now <= MAX_EXPIRY_SECS
    }

    fn lookup<B: Backend>(
        &mut self,
        now: u64,
        signer: &VapidSigner<B>,
        claims: &Claims,
    ) -> Result<&Cached, VapidError> {
        let key = signer.public_key().as_bytes();
        let fresh = self
            .entries
            .get(key)
            .and_then(|by_claims| by_claims.get(claims))
            .is_some_and(|cached| self.is_fresh(cached, now));
        if !fresh {
            let exp = now.saturating_add(self.lifetime);
            let token = signer.sign(claims, exp, now)?;
            let header = format!("{AUTH_PREFIX}{token}, k={}", signer.k);
            let cached = Cached {
                exp,
                header,
                token_len: token.len(),
            };
            return Ok(self.insert(now, *key, claims, cached));
        }
        // Found fresh just above, with no change to the cache since: this lookup cannot miss.
        // (Returning the first lookup's borrow is what the borrow checker does not yet allow
        // when the other branch mutates the cache.)
        self.entries
            .get(key)
            .and_then(|by_claims| by_claims.get(claims))
            .ok_or(VapidError::CacheInconsistent)
    }

    /// Stores `cached` for (`key`, `claims`), first making room if the cache is full, and hands
    /// the stored entry back: the entry being inserted is never a candidate for eviction.
    fn insert(&mut self, now: u64, key: [u8; 65], claims: &Claims, cached: Cached) -> &Cached {
        // Drop the stale entry this one replaces, so that it neither counts nor gets evicted
        // in place of another.
        if let Some(by_claims) = self.entries.get_mut(&key)
            && by_claims.remove(claims).is_some()
        {
            self.len -= 1;
        }
        if self.len >= self.max_entries {
            self.evict(now, self.max_entries - 1);
        }
        self.len += 1;
        self.entries
            .entry(key)
            .or_default()
            .entry(claims.clone())
            .insert_entry(cached)
            .into_mut()
    }

    /// Drops stale tokens (by the same margin as [`TokenCache::is_fresh`]), then the
    /// soonest-expiring, until at most `target` remain.
    fn evict(&mut self, now: u64, target: usize) {
        let margin = self.margin();
        for by_claims in self.entries.values_mut() {
            by_claims.retain(|_, cached| now.saturating_add(margin) < cached.exp);
        }
        self.entries.retain(|_, by_claims| !by_claims.is_empty());
        self.len = self.entries.values().map(HashMap::len).sum();
        while self.len > target {
            let victim = self
                .entries
                .iter()
                .flat_map(|(key, by_claims)| by_claims.iter().map(move |(c, v)| (key, c, v.exp)))
                .min_by_key(|(_, _, exp)| *exp)
                .map(|(key, claims, _)| (*key, claims.clone()));
            let Some((key, claims)) = victim else { break };
            if let Some(by_claims) = self.entries.get_mut(&key) {
                by_claims.remove(&claims);
                if by_claims.is_empty() {
                    self.entries.remove(&key);
                }
            }
            self.len -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;
    use crate::backend::RustCrypto;
    use crate::jwt;

    const NOW: u64 = 1_700_000_000;

    fn signer(seed: u64) -> VapidSigner<RustCrypto> {
        let key = VapidKey::generate(&mut ChaCha20Rng::seed_from_u64(seed)).unwrap();
        VapidSigner::with_backend(&key).unwrap()
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
    fn signed_tokens_verify_and_expiry_is_bounded() {
        let signer = signer(1);
        let claims = Claims::new("https://push.example.net").with_sub("mailto:a@example.com");
        let token = signer.sign(&claims, NOW + MAX_EXPIRY_SECS, NOW).unwrap();
        let verified = jwt::verify(
            &token,
            signer.public_key(),
            NOW,
            Some("https://push.example.net"),
        );
        assert_eq!(verified.unwrap().exp, NOW + MAX_EXPIRY_SECS);
        assert_eq!(
            signer.sign(&claims, NOW + MAX_EXPIRY_SECS + 1, NOW),
            Err(VapidError::ExpiryTooFar {
                exp: NOW + MAX_EXPIRY_SECS + 1,
                now: NOW
            })
        );
        assert_eq!(
            signer.sign(&claims, NOW, NOW),
            Err(VapidError::ExpiryInPast { exp: NOW, now: NOW })
        );
        let reserved = claims.clone().with_claim("exp", "9");
        assert_eq!(
            signer.sign(&reserved, NOW + 1, NOW),
            Err(VapidError::ReservedClaim("exp".into()))
        );
        let twice = claims.with_claim("x", "1").with_claim("x", "2");
        assert_eq!(
            signer.sign(&twice, NOW + 1, NOW),
            Err(VapidError::DuplicateClaim("x".into()))
        );
    }

    #[test]
    fn authorization_value_has_the_rfc_shape() {
        let signer = signer(2);
        let value = signer
            .authorization(&Claims::new("https://a.example"), NOW + 60, NOW)
            .unwrap();
        let (token, key) = jwt::parse_authorization(&value).unwrap();
        assert_eq!(&key, signer.public_key());
        assert_eq!(value, authorization_header(token, signer.public_key()));
        assert_eq!(
            value.matches('=').count(),
            2,
            "base64url without padding: {value}"
        );
    }

    #[test]
    fn the_cache_reuses_until_close_to_expiry() {
        let signer = signer(3);
        let claims = Claims::new("https://push.example.net");
        let mut cache = TokenCache::new()
            .with_lifetime(3600)
            .with_refresh_margin(600);
        let first = cache.token(NOW, &signer, &claims).unwrap().to_owned();
        assert_eq!(cache.token(NOW + 2999, &signer, &claims).unwrap(), first);
        let renewed = cache
            .token(NOW + 3000, &signer, &claims)
            .unwrap()
            .to_owned();
        assert_ne!(renewed, first);
        assert_eq!(
            jwt::verify(&renewed, signer.public_key(), NOW + 3000, None)
                .unwrap()
                .exp,
            NOW + 6600
        );
        // Another audience or another key is another token.
        let other = Claims::new("https://other.example");
        assert_ne!(cache.token(NOW + 3000, &signer, &other).unwrap(), renewed);
        assert_ne!(
            cache.token(NOW + 3000, &self::signer(4), &claims).unwrap(),
            renewed
        );
        assert_eq!(cache.len(), 3);
        // A clock that went back more than a day gets a fresh token, never an over-long one.
        let back = cache
            .token(NOW - 90_000, &signer, &claims)
            .unwrap()
            .to_owned();
        assert_eq!(
            jwt::verify(&back, signer.public_key(), NOW - 90_000, None)
                .unwrap()
                .exp,
            NOW - 86_400
        );
        let header = cache.authorization(NOW - 90_000, &signer, &claims).unwrap();
        assert!(header.starts_with(&format!("vapid t={back}, k=")));
    }

    #[test]
    fn the_cache_is_bounded() {
        let signer = signer(5);
        let mut cache = TokenCache::new().with_max_entries(3);
        for i in 0..10 {
            let claims = Claims::new(format!("https://{i}.example"));
            cache.token(NOW + i, &signer, &claims).unwrap();
            assert!(cache.len() <= 3);
        }
        assert_eq!(cache.len(), 3);
        // The newest survive.
        let newest = Claims::new("https://9.example");
        let before = cache.token(NOW + 10, &signer, &newest).unwrap().to_owned();
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.token(NOW + 11, &signer, &newest).unwrap(), before);
        cache.clear();
        assert!(cache.is_empty());
    }
}
