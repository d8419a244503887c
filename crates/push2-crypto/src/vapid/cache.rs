//! [`TokenCache`]: signed tokens reused per (key, claims), within a bound.

use core::fmt;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use xmpp_tether_core::Now;

use super::{Claims, MAX_EXPIRY_SECS, VapidSigner, VapidToken};
use crate::backend::{self, Backend};
use crate::error::VapidError;
use crate::keys::{EcPublicKey, VapidKey};

/// Hands out signed VAPID tokens, reusing each until it is close to expiry: the one place a
/// server keeps signers and tokens.
///
/// Signing costs a scalar multiplication, and a push service accepts the same token for every
/// notification to the same origin until `exp`. The caller passes the client's key and the
/// claims (whose `aud` is the push service's origin, [`Claims::for_endpoint`]) on every
/// notification; the cache prepares one [`VapidSigner`] per key, signs tokens valid for
/// [`TokenCache::with_lifetime`] (default 12 h), and signs anew once fewer than
/// [`TokenCache::with_refresh_margin`] remain (default 1 h, at most half the lifetime), or
/// when the wall clock went back so far that the cached `exp` would be more than 24 h ahead.
///
/// **Bounds.** At most [`TokenCache::with_max_entries`] tokens in all (default 1024) and
/// [`TokenCache::with_max_per_key`] per key (default 16, so that one client's many claim sets
/// cannot crowd out the others). At a bound the token expiring soonest goes first, of that key
/// or of the whole cache; stale tokens expire soonest, so they go before fresh ones. A signer
/// is kept exactly as long as a token of its key is. Eviction is not reported: a token evicted
/// costs one signature when next asked for, and nothing else is lost. Each call costs a hash
/// lookup when the token is fresh, and a signature plus `O(log n)` bookkeeping otherwise.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use xmpp_push2_crypto::{Claims, Now, TokenCache, VapidKey};
///
/// # let mut rng = <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(1);
/// let jwt_key = VapidKey::from_push2(&VapidKey::generate(&mut rng)?.to_push2()?)?;
/// let claims = Claims::for_endpoint("https://push.example.net/wpush/v2/gAAAA")?
///     .with_sub("xmpp:capulet.lit");
/// let mut tokens = TokenCache::new();
/// let now = Now::new(Default::default(), SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
/// let first = tokens.token(now, &jwt_key, &claims)?;
/// let later = tokens.token(now.advance(Duration::from_secs(3600)), &jwt_key, &claims)?;
/// assert_eq!(first, later); // reused: one signature
/// assert_eq!(first.exp(), 1_800_000_000 + 12 * 3600);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TokenCache<B: Backend = backend::Default> {
    lifetime: u64,
    refresh_margin: u64,
    max_entries: usize,
    max_per_key: usize,
    /// Makes every `by_expiry` key unique.
    serial: u64,
    keys: HashMap<EcPublicKey, KeyEntry<B>>,
    /// Every cached token, soonest `exp` first: `(exp, serial)` to where it is.
    by_expiry: BTreeMap<(u64, u64), (EcPublicKey, Claims)>,
}

/// The signer of one key and its tokens; present only while it holds a token.
struct KeyEntry<B: Backend> {
    signer: VapidSigner<B>,
    tokens: HashMap<Claims, Slot>,
}

struct Slot {
    token: VapidToken,
    /// Its key in `by_expiry`.
    order: (u64, u64),
}

impl<B: Backend> fmt::Debug for TokenCache<B> {
    // Tokens are bearer credentials until they expire: not printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("backend", &B::NAME)
            .field("lifetime", &self.lifetime)
            .field("refresh_margin", &self.refresh_margin)
            .field("max_entries", &self.max_entries)
            .field("max_per_key", &self.max_per_key)
            .field("keys", &self.keys.len())
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new()
    }
}

impl TokenCache {
    /// An empty cache with the default backend: 12 h tokens renewed 1 h before expiry, at
    /// most 1024 of them, 16 per key.
    #[must_use]
    pub fn new() -> Self {
        Self::with_backend()
    }
}

impl<B: Backend> TokenCache<B> {
    /// An empty cache signing with backend `B`, with the defaults of [`TokenCache::new`].
    #[must_use]
    pub fn with_backend() -> Self {
        Self {
            lifetime: 12 * 60 * 60,
            refresh_margin: 60 * 60,
            max_entries: 1024,
            max_per_key: 16,
            serial: 0,
            keys: HashMap::new(),
            by_expiry: BTreeMap::new(),
        }
    }

    /// How long new tokens live, in whole seconds, clamped to 1 s ..= 24 h.
    #[must_use]
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime.as_secs().clamp(1, MAX_EXPIRY_SECS);
        self
    }

    /// How long before `exp` a token is replaced (to cover clock skew and transit time), in
    /// whole seconds. At most half the lifetime is used, so that a token is reused for at
    /// least half its life.
    #[must_use]
    pub const fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin.as_secs();
        self
    }

    /// The most tokens kept (at least 1); tokens beyond it are evicted now.
    #[must_use]
    pub fn with_max_entries(mut self, max: usize) -> Self {
        self.max_entries = max.max(1);
        while self.len() > self.max_entries {
            self.evict_soonest(None);
        }
        self
    }

    /// The most tokens kept per key (at least 1); tokens beyond it are evicted now.
    #[must_use]
    pub fn with_max_per_key(mut self, max: usize) -> Self {
        self.max_per_key = max.max(1);
        let keys: Vec<EcPublicKey> = self.keys.keys().copied().collect();
        for public in keys {
            if let Some(mut entry) = self.keys.remove(&public) {
                self.trim_key(&mut entry, self.max_per_key);
                self.keys.insert(public, entry);
            }
        }
        self
    }

    /// How many tokens are cached.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_expiry.len()
    }

    /// Whether no token is cached.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_expiry.is_empty()
    }

    /// Forgets the signer and every token of one key (a client disabled push, or replaced
    /// its `jwt-key`): the private key leaves the cache's memory now. Returns how many tokens
    /// were dropped.
    pub fn remove_key(&mut self, public: &EcPublicKey) -> usize {
        let Some(entry) = self.keys.remove(public) else {
            return 0;
        };
        for slot in entry.tokens.values() {
            self.by_expiry.remove(&slot.order);
        }
        entry.tokens.len()
    }

    /// Forgets every signer and token.
    pub fn clear(&mut self) {
        self.keys.clear();
        self.by_expiry.clear();
    }

    /// A token for `claims` signed with `key`: the cached one while fresh at `now`, else a
    /// new one (which is then cached).
    ///
    /// # Errors
    /// [`VapidError::ReservedClaim`], [`VapidError::DuplicateClaim`], or [`VapidError::Key`]
    /// if the backend rejects the key or fails to sign. Nothing is cached on error.
    pub fn token(
        &mut self,
        now: Now,
        key: &VapidKey,
        claims: &Claims,
    ) -> Result<VapidToken, VapidError> {
        if let Some(slot) = self
            .keys
            .get(key.public_key())
            .and_then(|entry| entry.tokens.get(claims))
            && self.is_fresh(slot.token.exp(), now.unix_seconds())
        {
            return Ok(slot.token.clone());
        }
        self.renew(now, key, claims)
    }

    /// The refresh margin in force: the configured one, clamped to half the lifetime so that
    /// a token just signed is fresh and is reused for at least half its life (a 10-minute
    /// token with the default 1 h margin would otherwise be stale at birth).
    fn margin(&self) -> u64 {
        self.refresh_margin.min(self.lifetime / 2)
    }

    fn is_fresh(&self, exp: u64, now: u64) -> bool {
        now.saturating_add(self.margin()) < exp && exp - now <= MAX_EXPIRY_SECS
    }

    /// Signs a token for (`key`, `claims`), replaces the stale one if any, makes room within
    /// both bounds, and stores it.
    fn renew(
        &mut self,
        now: Now,
        key: &VapidKey,
        claims: &Claims,
    ) -> Result<VapidToken, VapidError> {
        let public = *key.public_key();
        // Taken out of the map while it changes, and put back (or dropped, when it holds no
        // token) before returning.
        let mut entry = match self.keys.remove(&public) {
            Some(entry) => entry,
            None => KeyEntry {
                signer: VapidSigner::with_backend(key)?,
                tokens: HashMap::new(),
            },
        };
        let token = match entry
            .signer
            .sign(now, claims, Duration::from_secs(self.lifetime))
        {
            Ok(token) => token,
            Err(error) => {
                self.put_back(public, entry);
                return Err(error);
            }
        };
        if let Some(stale) = entry.tokens.remove(claims) {
            self.by_expiry.remove(&stale.order);
        }
        // Room for the new token: below both bounds.
        self.trim_key(&mut entry, self.max_per_key - 1);
        while self.len() >= self.max_entries {
            self.evict_soonest(Some((&public, &mut entry)));
        }
        self.serial += 1;
        let order = (token.exp(), self.serial);
        self.by_expiry.insert(order, (public, claims.clone()));
        entry.tokens.insert(
            claims.clone(),
            Slot {
                token: token.clone(),
                order,
            },
        );
        self.keys.insert(public, entry);
        Ok(token)
    }

    fn put_back(&mut self, public: EcPublicKey, entry: KeyEntry<B>) {
        if !entry.tokens.is_empty() {
            self.keys.insert(public, entry);
        }
    }

    /// Evicts `entry`'s soonest-expiring tokens until it holds at most `keep`.
    fn trim_key(&mut self, entry: &mut KeyEntry<B>, keep: usize) {
        while entry.tokens.len() > keep {
            let Some(victim) = entry
                .tokens
                .iter()
                .min_by_key(|(_, slot)| slot.order)
                .map(|(claims, _)| claims.clone())
            else {
                break;
            };
            if let Some(slot) = entry.tokens.remove(&victim) {
                self.by_expiry.remove(&slot.order);
            }
        }
    }

    /// Evicts the token expiring soonest in the whole cache. `taken` is an entry held out of
    /// the map by the caller, with its key.
    fn evict_soonest(&mut self, taken: Option<(&EcPublicKey, &mut KeyEntry<B>)>) {
        let Some((_, (owner, claims))) = self.by_expiry.pop_first() else {
            return;
        };
        match taken {
            Some((public, entry)) if *public == owner => {
                entry.tokens.remove(&claims);
            }
            _ => {
                if let Some(other) = self.keys.get_mut(&owner) {
                    other.tokens.remove(&claims);
                    if other.tokens.is_empty() {
                        self.keys.remove(&owner);
                    }
                }
            }
        }
    }

    /// Checks that the index and the entries agree and that the bounds hold: for the fuzz
    /// target and the tests. Returns a description of the first disagreement.
    #[cfg(any(test, feature = "__fuzzing"))]
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        let mut counted = 0;
        for (public, entry) in &self.keys {
            if entry.tokens.is_empty() {
                return Err("a key entry without tokens".into());
            }
            if entry.tokens.len() > self.max_per_key {
                return Err(format!("{} tokens for one key", entry.tokens.len()));
            }
            if entry.signer.public_key() != public {
                return Err("a signer under another key".into());
            }
            for (claims, slot) in &entry.tokens {
                let indexed = self.by_expiry.get(&slot.order);
                if indexed != Some(&(*public, claims.clone())) {
                    return Err("a token missing from the expiry index".into());
                }
                if slot.order.0 != slot.token.exp() || slot.token.public_key() != public {
                    return Err("a token filed under the wrong exp or key".into());
                }
                counted += 1;
            }
        }
        if counted != self.by_expiry.len() {
            return Err(format!("{} indexed, {counted} held", self.by_expiry.len()));
        }
        if counted > self.max_entries {
            return Err(format!(
                "{counted} tokens over a bound of {}",
                self.max_entries
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{NOW, at, vapid_key};
    use super::*;
    use crate::jwt::{self, Policy};

    fn claims(aud: &str) -> Claims {
        Claims::new(aud).with_sub("mailto:ops@example.com")
    }

    #[test]
    fn tokens_are_reused_until_close_to_expiry() {
        let key = vapid_key(3);
        let aud = claims("https://push.example.net");
        let mut cache = TokenCache::new()
            .with_lifetime(Duration::from_secs(3600))
            .with_refresh_margin(Duration::from_secs(600));
        let first = cache.token(at(NOW), &key, &aud).unwrap();
        assert_eq!(cache.token(at(NOW + 2999), &key, &aud).unwrap(), first);
        let renewed = cache.token(at(NOW + 3000), &key, &aud).unwrap();
        assert_ne!(renewed, first);
        let verified = jwt::verify(
            at(NOW + 3000),
            renewed.as_str(),
            key.public_key(),
            &Policy::new(),
        );
        assert_eq!(verified.unwrap().exp, NOW + 6600);
        // Another audience or another key is another token.
        let other = claims("https://other.example");
        assert_ne!(cache.token(at(NOW + 3000), &key, &other).unwrap(), renewed);
        assert_ne!(
            cache.token(at(NOW + 3000), &vapid_key(4), &aud).unwrap(),
            renewed
        );
        assert_eq!((cache.len(), cache.keys.len()), (3, 2));
        // A clock that went back more than a day gets a fresh token, never an over-long one.
        let back = cache.token(at(NOW - 90_000), &key, &aud).unwrap();
        assert_eq!(back.exp(), NOW - 86_400);
        cache.check_invariants().unwrap();
    }

    #[test]
    fn the_cache_is_bounded_in_all_and_per_key() {
        let key = vapid_key(5);
        let mut cache = TokenCache::new().with_max_entries(3);
        for i in 0..10 {
            cache
                .token(at(NOW + i), &key, &claims(&format!("https://{i}.example")))
                .unwrap();
            assert!(cache.len() <= 3);
            cache.check_invariants().unwrap();
        }
        // The newest survive, and are reused.
        let newest = claims("https://9.example");
        let kept = cache.token(at(NOW + 10), &key, &newest).unwrap();
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.token(at(NOW + 11), &key, &newest).unwrap(), kept);

        // One key's many claim sets do not crowd out another key's token.
        let mut cache = TokenCache::new().with_max_entries(8).with_max_per_key(2);
        let (busy, quiet) = (vapid_key(6), vapid_key(7));
        let quiet_token = cache
            .token(at(NOW), &quiet, &claims("https://q.example"))
            .unwrap();
        for i in 0..20 {
            cache
                .token(
                    at(NOW + 1 + i),
                    &busy,
                    &claims(&format!("https://{i}.example")),
                )
                .unwrap();
            cache.check_invariants().unwrap();
        }
        assert_eq!(cache.len(), 3);
        let again = cache.token(at(NOW + 30), &quiet, &claims("https://q.example"));
        assert_eq!(again.unwrap(), quiet_token);
        // Lowering a bound evicts at once.
        let cache = cache.with_max_per_key(1).with_max_entries(1);
        assert_eq!(cache.len(), 1);
        cache.check_invariants().unwrap();
    }

    #[test]
    fn a_key_is_kept_exactly_while_it_has_tokens() {
        let (a, b) = (vapid_key(8), vapid_key(9));
        let mut cache = TokenCache::new().with_max_entries(1);
        cache
            .token(at(NOW), &a, &claims("https://x.example"))
            .unwrap();
        cache
            .token(at(NOW), &b, &claims("https://x.example"))
            .unwrap();
        assert_eq!(cache.keys.len(), 1, "a's signer left with its last token");
        cache.check_invariants().unwrap();
        assert_eq!(cache.remove_key(b.public_key()), 1);
        assert_eq!(cache.remove_key(b.public_key()), 0);
        assert!(cache.is_empty() && cache.keys.is_empty());
        cache
            .token(at(NOW), &a, &claims("https://x.example"))
            .unwrap();
        cache.clear();
        assert!(cache.is_empty() && cache.keys.is_empty());
    }

    #[test]
    fn a_refused_claim_set_caches_nothing() {
        let key = vapid_key(10);
        let mut cache = TokenCache::new();
        let bad = claims("https://x.example").with_claim("exp", "1");
        assert_eq!(
            cache.token(at(NOW), &key, &bad),
            Err(VapidError::ReservedClaim("exp".into()))
        );
        assert!(cache.is_empty() && cache.keys.is_empty());
        // With a token of the key cached, the key stays.
        cache
            .token(at(NOW), &key, &claims("https://x.example"))
            .unwrap();
        assert!(cache.token(at(NOW), &key, &bad).is_err());
        assert_eq!((cache.len(), cache.keys.len()), (1, 1));
        cache.check_invariants().unwrap();
    }
}
