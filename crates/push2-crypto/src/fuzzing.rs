//! Fuzz entry points (hidden feature `__fuzzing`), compiled in ordinary builds so CI checks
//! them; each `fuzz/fuzz_targets/push2_*.rs` file calls one. None may panic on any input.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use xmpp_tether_core::{Monotonic, Now};

use crate::backend::{self, Backend as _};
use crate::ece::{self, Header};
use crate::envelope::Envelope;
use crate::jwt::{self, Policy};
use crate::keys::{AuthSecret, EcKeyPair, UaKeys, VapidKey};
use crate::vapid::{Claims, MAX_EXPIRY_SECS, TokenCache};
use crate::webpush;

/// RFC 8188 header parsing: a parsed header's length matches what was consumed.
pub fn ece_header(data: &[u8]) {
    if let Ok((header, records)) = Header::parse(data) {
        assert_eq!(header.len() + records.len(), data.len());
        assert!(header.rs >= ece::MIN_RECORD_SIZE);
    }
}

/// RFC 8188 decryption with a key taken from the input, and RFC 8291 decryption with fixed
/// user-agent keys. Whatever decrypts re-encrypts to a body that decrypts to the same octets.
pub fn decrypt(data: &[u8]) {
    let (ikm, body) = data.split_at(data.len().min(16));
    if let Ok(plain) = ece::decrypt(ikm, body)
        && let Ok((header, _)) = Header::parse(body)
        && let Ok(again) = ece::encrypt(ikm, &header.salt, header.keyid, header.rs, &plain, 0)
    {
        assert_eq!(ece::decrypt(ikm, &again).ok(), Some(plain));
    }
    let _ = webpush::decrypt(fixed_ua_keys(), data);
}

/// JWT parsing and verification (strict and lenient), and `Authorization` parsing.
pub fn jwt(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let _ = jwt::parse_authorization(text);
    let key = &fixed_vapid_keys()[0];
    let epoch = unix(0);
    for policy in [Policy::new(), Policy::new().with_high_s_allowed()] {
        if let Ok(claims) = jwt::verify(epoch, text, key.public_key(), &policy) {
            // Only a signature by this key verifies; fuzzers do not forge ECDSA.
            assert!(claims.exp > 0);
        }
    }
}

/// JWT claim checks without the signature, which a fuzzer cannot forge: the first 8 octets
/// are `now` (big-endian), the rest is the claims JSON, read as the verifier reads it (no
/// repeated member names). Accepted claims obey the 24 h rule.
pub fn jwt_claims(data: &[u8]) {
    let (now, json) = data.split_at(data.len().min(8));
    let mut now_bytes = [0; 8];
    now_bytes[..now.len()].copy_from_slice(now);
    let now = u64::from_be_bytes(now_bytes);
    if let Ok(all) = jwt::json::object(json)
        && let Ok(claims) = jwt::check_claims(all, now, None)
    {
        assert!(claims.exp > now && claims.exp - now <= MAX_EXPIRY_SECS);
        assert_eq!(
            claims.all.get("aud").and_then(|a| a.as_str()),
            Some(&*claims.aud)
        );
    }
}

/// XEP-0420 envelope parsing: parse, serialise, parse again gives the same envelope; and
/// whatever parsed pads within any bound it fits.
pub fn envelope(data: &[u8]) {
    if let Ok(envelope) = Envelope::from_bytes(data) {
        // Whatever parsed holds only characters XML carries, so it serialises.
        let bytes = envelope.to_bytes();
        assert!(bytes.is_ok(), "serialise failed: {:?}", bytes.err());
        let bytes = bytes.unwrap_or_default();
        let again = Envelope::from_bytes(&bytes);
        assert!(again.is_ok(), "re-parse failed: {:?}", again.err());
        assert_eq!(again.ok(), Some(envelope.clone()));
        let limit = data.len().max(bytes.len()) + usize::from(data.first().copied().unwrap_or(0));
        let mut rng = SplitMix(u64::from(data.first().copied().unwrap_or(0)));
        for padding in [
            crate::Padding::fill().within(limit),
            crate::Padding::random_up_to_fit().within(limit),
        ] {
            let padded = envelope.to_padded_bytes(&mut rng, padding);
            let padded = padded.unwrap_or_default();
            assert!(!padded.is_empty() && padded.len() <= limit);
            let mut parsed = Envelope::from_bytes(&padded).ok();
            if let Some(parsed) = &mut parsed {
                parsed.rpad.clone_from(&envelope.rpad);
            }
            assert_eq!(parsed.as_ref(), Some(&envelope));
        }
    }
}

/// [`TokenCache`] fed arbitrary operations, time taken from the input: the first octet picks
/// the bounds and lifetime, then each 3 octets are one call (which key, which audience, a
/// signed clock step in seconds, or forgetting a key). Every token handed out is for the key
/// and claims asked, unexpired and within 24 h; asked again at once, the same token comes
/// back; the cache's index and bounds hold after every call.
pub fn token_cache(data: &[u8]) {
    let Some((&config, ops)) = data.split_first() else {
        return;
    };
    let lifetime = [60, 600, 3600, 43_200, MAX_EXPIRY_SECS][usize::from(config >> 5) % 5];
    let mut cache = TokenCache::new()
        .with_max_entries(usize::from(config & 7) + 1)
        .with_max_per_key(usize::from((config >> 3) & 3) + 1)
        .with_lifetime(Duration::from_secs(lifetime))
        .with_refresh_margin(Duration::from_secs(lifetime / 4));
    let keys = fixed_vapid_keys();
    let mut now = 1_700_000_000u64;
    for op in ops.chunks_exact(3) {
        let step = i64::from(i16::from_be_bytes([op[1], op[2]])) * 8;
        now = now.saturating_add_signed(step);
        let key = &keys[usize::from(op[0] & 3) % keys.len()];
        if op[0] & 0xc0 == 0xc0 {
            let _ = cache.remove_key(key.public_key());
        } else {
            let claims = Claims::new(format!("https://{}.example", (op[0] >> 2) & 7));
            let token = match cache.token(unix(now), key, &claims) {
                Ok(token) => token,
                Err(error) => panic!("valid claims refused: {error:?}"),
            };
            assert_eq!(token.public_key(), key.public_key());
            assert!(token.exp() > now && token.exp() - now <= MAX_EXPIRY_SECS);
            let payload = token.as_str().split('.').nth(1).unwrap_or_default();
            let payload = crate::hazmat::b64::decode(payload).unwrap_or_default();
            let claimed = jwt::json::object(&payload).unwrap_or_default();
            assert_eq!(
                claimed.get("aud").and_then(|a| a.as_str()),
                Some(&*claims.aud)
            );
            let again = cache.token(unix(now), key, &claims);
            assert_eq!(again.ok(), Some(token));
        }
        let checked = cache.check_invariants();
        assert!(checked.is_ok(), "{checked:?}");
    }
}

/// A deterministic generator for the padding lengths the fuzz targets draw (SplitMix64). Not a
/// CSPRNG: the marker trait is implemented so that fuzzing can call the real API.
struct SplitMix(u64);

impl rand_core::TryRng for SplitMix {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        self.try_next_u64().map(|x| (x >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Ok(z ^ (z >> 31))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let word = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for SplitMix {}

fn unix(seconds: u64) -> Now {
    Now::new(
        Monotonic::ZERO,
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds),
    )
}

fn fixed_ua_keys() -> &'static UaKeys {
    static KEYS: OnceLock<UaKeys> = OnceLock::new();
    KEYS.get_or_init(|| UaKeys {
        key_pair: fixed_key_pair(0x11),
        auth_secret: AuthSecret::from_bytes([0x22; 16]),
    })
}

/// Three VAPID keys, made once per process (each costs a scalar multiplication).
fn fixed_vapid_keys() -> &'static [VapidKey; 3] {
    static KEYS: OnceLock<[VapidKey; 3]> = OnceLock::new();
    KEYS.get_or_init(|| [0x33, 0x44, 0x55].map(|b| VapidKey::from_key_pair(fixed_key_pair(b))))
}

fn fixed_key_pair(fill: u8) -> EcKeyPair {
    let mut scalar = [fill; 32];
    scalar[0] = 0x01;
    debug_assert!(backend::Default::public_key(&scalar).is_ok());
    // Invariant: 0x01 followed by 31 equal octets is a valid P-256 scalar (non-zero, below
    // the group order).
    #[expect(clippy::expect_used, reason = "invariant stated in the message")]
    EcKeyPair::from_private_bytes(&scalar).expect("invariant: valid scalar")
}
