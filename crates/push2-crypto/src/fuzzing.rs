//! Fuzz entry points (hidden feature `__fuzzing`), compiled in ordinary builds so CI checks
//! them; each `fuzz/fuzz_targets/push2_*.rs` file calls one. None may panic on any input.

use crate::backend::{self, Backend as _};
use crate::ece::{self, Header};
use crate::envelope::Envelope;
use crate::keys::{AuthSecret, EcKeyPair, UaKeys, VapidKey};
use crate::{jwt, webpush};

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
    let _ = webpush::decrypt(&fixed_ua_keys(), data);
}

/// JWT parsing and verification, and `Authorization` parsing.
pub fn jwt(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let _ = jwt::parse_authorization(text);
    let key = fixed_vapid_key();
    if let Ok(claims) = jwt::verify(text, key.public_key(), 0, None) {
        // Only a signature by this key verifies; fuzzers do not forge ECDSA.
        assert!(claims.exp > 0);
    }
}

/// JWT claim checks without the signature, which a fuzzer cannot forge: the first 8 octets
/// are `now` (big-endian), the rest is the claims JSON. Accepted claims obey the 24 h rule.
pub fn jwt_claims(data: &[u8]) {
    let (now, json) = data.split_at(data.len().min(8));
    let mut now_bytes = [0; 8];
    now_bytes[..now.len()].copy_from_slice(now);
    let now = u64::from_be_bytes(now_bytes);
    if let Ok(serde_json::Value::Object(all)) = serde_json::from_slice(json)
        && let Ok(claims) = jwt::check_claims(all, now, None)
    {
        assert!(claims.exp > now && claims.exp - now <= crate::vapid::MAX_EXPIRY_SECS);
        assert_eq!(
            claims.all.get("aud").and_then(|a| a.as_str()),
            Some(&*claims.aud)
        );
    }
}

/// XEP-0420 envelope parsing: parse, serialise, parse again gives the same envelope.
pub fn envelope(data: &[u8]) {
    if let Ok(envelope) = Envelope::from_bytes(data) {
        // Whatever parsed holds only characters XML carries, so it serialises.
        let bytes = envelope.to_bytes();
        assert!(bytes.is_ok(), "serialise failed: {:?}", bytes.err());
        let bytes = bytes.unwrap_or_default();
        let again = Envelope::from_bytes(&bytes);
        assert!(again.is_ok(), "re-parse failed: {:?}", again.err());
        assert_eq!(again.ok(), Some(envelope));
    }
}

fn fixed_ua_keys() -> UaKeys {
    let mut scalar = [0x11; 32];
    scalar[0] = 0x01;
    // Invariant: 0x0111..11 is a valid P-256 scalar (non-zero, below the group order).
    #[expect(clippy::expect_used, reason = "invariant stated in the message")]
    let key_pair = EcKeyPair::from_private_bytes(&scalar).expect("invariant: valid scalar");
    UaKeys {
        key_pair,
        auth_secret: AuthSecret::from_bytes([0x22; 16]),
    }
}

fn fixed_vapid_key() -> VapidKey {
    let mut scalar = [0x33; 32];
    scalar[0] = 0x01;
    #[expect(clippy::expect_used, reason = "invariant stated in the message")]
    let key_pair = EcKeyPair::from_private_bytes(&scalar).expect("invariant: valid scalar");
    debug_assert!(backend::Default::public_key(&scalar).is_ok());
    VapidKey::from_key_pair(key_pair)
}
