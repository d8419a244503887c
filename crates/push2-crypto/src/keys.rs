//! Key material: P-256 public keys, key pairs, the RFC 8291 auth secret, VAPID keys.
//!
//! Private scalars and auth secrets are zeroized on drop and never printed by `Debug`.
//! Public keys are checked to be on P-256 when they are built, so a bad `ua-public` is
//! reported when a registration arrives, not at every notification.

use core::fmt;

use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::backend::{self, Backend, PUBLIC_KEY_LEN, SCALAR_LEN};
use crate::error::KeyError;
use crate::hazmat::b64;

/// Length of the RFC 8291 authentication secret.
pub const AUTH_SECRET_LEN: usize = 16;

/// How many scalars to draw before giving up on an RNG: a CSPRNG yields an invalid P-256
/// scalar with probability below 2^-32 per draw, so failing 16 times means the RNG is broken.
const SCALAR_ATTEMPTS: usize = 16;

/// A P-256 public key as 65 octets of uncompressed SEC1 (`0x04 || x || y`), known to be on
/// the curve. This is the form of `ua-public` (push2 seed), `p256dh` (RFC 8291) and `k`
/// (RFC 8292).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EcPublicKey([u8; PUBLIC_KEY_LEN]);

impl EcPublicKey {
    /// Checks and wraps 65 octets of uncompressed SEC1.
    ///
    /// # Errors
    /// [`KeyError::NotUncompressedPoint`] or [`KeyError::NotOnCurve`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let array: [u8; PUBLIC_KEY_LEN] = match bytes.try_into() {
            Ok(array) if bytes.first() == Some(&0x04) => array,
            _ => return Err(KeyError::NotUncompressedPoint { len: bytes.len() }),
        };
        p256::PublicKey::from_sec1_bytes(&array).map_err(|_| KeyError::NotOnCurve)?;
        Ok(Self(array))
    }

    /// Decodes base64 (either alphabet, padded or not) and checks the point.
    ///
    /// # Errors
    /// As [`EcPublicKey::from_bytes`], plus [`KeyError::Base64`].
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        Self::from_bytes(&b64::decode(text)?)
    }

    /// The 65 octets.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.0
    }

    /// Standard padded base64, for XMPP fields (`<ua-public/>`, `<jwt key=''/>`).
    #[must_use]
    pub fn to_base64(&self) -> String {
        b64::encode_std(&self.0)
    }

    /// Unpadded base64url, for the `vapid` header's `k` and Web Push subscriptions.
    #[must_use]
    pub fn to_base64url(&self) -> String {
        b64::encode_url(&self.0)
    }
}

impl fmt::Debug for EcPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EcPublicKey")
            .field(&self.to_base64url())
            .finish()
    }
}

/// A P-256 key pair. The scalar is zeroized on drop and redacted from `Debug`.
#[derive(Clone)]
pub struct EcKeyPair {
    scalar: Zeroizing<[u8; SCALAR_LEN]>,
    public: EcPublicKey,
}

impl EcKeyPair {
    /// A fresh key pair from the caller's RNG, with the default backend.
    ///
    /// # Errors
    /// [`KeyError::InvalidScalar`] only if the RNG is broken (16 invalid scalars in a row).
    pub fn generate(rng: &mut impl CryptoRng) -> Result<Self, KeyError> {
        Self::generate_with::<backend::Default>(rng)
    }

    /// A fresh key pair from the caller's RNG, with backend `B`.
    ///
    /// # Errors
    /// As [`EcKeyPair::generate`].
    pub fn generate_with<B: Backend>(rng: &mut impl CryptoRng) -> Result<Self, KeyError> {
        let mut scalar = Zeroizing::new([0; SCALAR_LEN]);
        for _ in 0..SCALAR_ATTEMPTS {
            rng.fill_bytes(scalar.as_mut());
            if let Ok(public) = B::public_key(&scalar) {
                return Ok(Self {
                    scalar,
                    public: EcPublicKey(public),
                });
            }
        }
        Err(KeyError::InvalidScalar)
    }

    /// A key pair from a 32-octet big-endian scalar (computing its public point).
    ///
    /// # Errors
    /// [`KeyError::InvalidScalar`] if it is not 32 octets in `[1, n-1]`.
    pub fn from_private_bytes(scalar: &[u8]) -> Result<Self, KeyError> {
        Self::from_private_bytes_with::<backend::Default>(scalar)
    }

    /// As [`EcKeyPair::from_private_bytes`], with backend `B`.
    ///
    /// # Errors
    /// As [`EcKeyPair::from_private_bytes`].
    pub fn from_private_bytes_with<B: Backend>(scalar: &[u8]) -> Result<Self, KeyError> {
        let scalar: Zeroizing<[u8; SCALAR_LEN]> =
            Zeroizing::new(scalar.try_into().map_err(|_| KeyError::InvalidScalar)?);
        let public = EcPublicKey(B::public_key(&scalar)?);
        Ok(Self { scalar, public })
    }

    /// The public key.
    #[must_use]
    pub const fn public_key(&self) -> &EcPublicKey {
        &self.public
    }

    /// The private scalar, 32 octets big-endian. Handle with care: copies are not zeroized.
    #[must_use]
    pub fn private_bytes(&self) -> &[u8; SCALAR_LEN] {
        &self.scalar
    }
}

impl fmt::Debug for EcKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcKeyPair")
            .field("public", &self.public)
            .field("private", &"<redacted>")
            .finish()
    }
}

/// The RFC 8291 authentication secret: 16 random octets shared by the user agent with the
/// application server only. Zeroized on drop, redacted from `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AuthSecret([u8; AUTH_SECRET_LEN]);

impl AuthSecret {
    /// A fresh secret from the caller's RNG (RFC 8291 section 3.2).
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut bytes = [0; AUTH_SECRET_LEN];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Wraps 16 octets.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; AUTH_SECRET_LEN]) -> Self {
        Self(bytes)
    }

    /// Decodes base64 (either alphabet, padded or not) of exactly 16 octets.
    ///
    /// # Errors
    /// [`KeyError::Base64`].
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        // `decode_array` wipes its intermediate copies; this one is moved into `Self`, which
        // zeroizes on drop.
        Ok(Self(b64::decode_array(text, "auth secret")?))
    }

    /// The 16 octets.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; AUTH_SECRET_LEN] {
        &self.0
    }

    /// Standard padded base64, for the push2 `<auth-secret/>` field.
    #[must_use]
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(b64::encode_std(&self.0))
    }

    /// Unpadded base64url, the Web Push subscription form.
    #[must_use]
    pub fn to_base64url(&self) -> Zeroizing<String> {
        Zeroizing::new(b64::encode_url(&self.0))
    }
}

impl fmt::Debug for AuthSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthSecret(<redacted>)")
    }
}

/// What a receiving client or device holds to decrypt RFC 8291 messages: its key pair and
/// auth secret. It publishes [`UaKeys::public_key`] and the secret in its push2 `<send/>`.
#[derive(Debug, Clone)]
pub struct UaKeys {
    /// The user agent's P-256 key pair (`ua_private`, `ua_public`).
    pub key_pair: EcKeyPair,
    /// The shared authentication secret.
    pub auth_secret: AuthSecret,
}

impl UaKeys {
    /// Fresh keys from the caller's RNG, with the default backend.
    ///
    /// # Errors
    /// Only with a broken RNG; see [`EcKeyPair::generate`].
    pub fn generate(rng: &mut impl CryptoRng) -> Result<Self, KeyError> {
        Self::generate_with::<backend::Default>(rng)
    }

    /// Fresh keys from the caller's RNG, with backend `B`.
    ///
    /// # Errors
    /// As [`UaKeys::generate`].
    pub fn generate_with<B: Backend>(rng: &mut impl CryptoRng) -> Result<Self, KeyError> {
        let key_pair = EcKeyPair::generate_with::<B>(rng)?;
        Ok(Self {
            key_pair,
            auth_secret: AuthSecret::generate(rng),
        })
    }

    /// The public key to publish (`ua-public`).
    #[must_use]
    pub const fn public_key(&self) -> &EcPublicKey {
        self.key_pair.public_key()
    }
}

/// A VAPID (RFC 8292) signing key: a P-256 key pair read from or written to PKCS#8.
#[derive(Debug, Clone)]
pub struct VapidKey(EcKeyPair);

impl VapidKey {
    /// A fresh key from the caller's RNG.
    ///
    /// # Errors
    /// Only with a broken RNG; see [`EcKeyPair::generate`].
    pub fn generate(rng: &mut impl CryptoRng) -> Result<Self, KeyError> {
        Self::generate_with::<backend::Default>(rng)
    }

    /// A fresh key from the caller's RNG, with backend `B` (as [`EcKeyPair::generate_with`]).
    ///
    /// # Errors
    /// As [`VapidKey::generate`].
    pub fn generate_with<B: Backend>(rng: &mut impl CryptoRng) -> Result<Self, KeyError> {
        EcKeyPair::generate_with::<B>(rng).map(Self)
    }

    /// Wraps a key pair.
    #[must_use]
    pub const fn from_key_pair(key_pair: EcKeyPair) -> Self {
        Self(key_pair)
    }

    /// Reads unencrypted PKCS#8 DER (RFC 5208 / RFC 5958) holding a P-256 key.
    ///
    /// # Errors
    /// [`KeyError::Pkcs8`].
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let secret = p256::SecretKey::from_pkcs8_der(der).map_err(|_| KeyError::Pkcs8)?;
        Self::from_secret(&secret)
    }

    /// Reads unencrypted SEC1 `ECPrivateKey` DER (RFC 5915), what `openssl ec -outform DER`
    /// writes, holding a P-256 key.
    ///
    /// # Errors
    /// [`KeyError::Pkcs8`].
    pub fn from_sec1_der(der: &[u8]) -> Result<Self, KeyError> {
        let secret = p256::SecretKey::from_sec1_der(der).map_err(|_| KeyError::Pkcs8)?;
        Self::from_secret(&secret)
    }

    /// Reads PEM: the first `PRIVATE KEY` (PKCS#8) or `EC PRIVATE KEY` (SEC1) block, wherever
    /// it is in the text. Other blocks are skipped: `openssl ecparam -genkey` writes an
    /// `EC PARAMETERS` block first. CRLF line endings are accepted.
    ///
    /// # Errors
    /// [`KeyError::Pem`] (no such block, or no END line) or [`KeyError::Pkcs8`].
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let (label, body) = pem_block(pem).ok_or(KeyError::Pem)?;
        let der = Zeroizing::new(b64::decode(body).map_err(|_| KeyError::Pem)?);
        if label == "EC PRIVATE KEY" {
            Self::from_sec1_der(&der)
        } else {
            Self::from_pkcs8_der(&der)
        }
    }

    /// Reads the push2 `<jwt-key/>` form: base64 PKCS#8 DER without the PEM armour lines
    /// (line breaks and either base64 alphabet accepted). The body of a SEC1 `EC PRIVATE KEY`
    /// block, which an operator may paste instead, is read too.
    ///
    /// # Errors
    /// [`KeyError::Base64`] or [`KeyError::Pkcs8`].
    pub fn from_push2(text: &str) -> Result<Self, KeyError> {
        let der = Zeroizing::new(b64::decode(text)?);
        Self::from_pkcs8_der(&der).or_else(|_| Self::from_sec1_der(&der))
    }

    /// Reads any of the three forms above, telling them apart by the armour.
    ///
    /// # Errors
    /// As the form's own reader.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        if text.contains("-----BEGIN") {
            Self::from_pem(text)
        } else {
            Self::from_push2(text)
        }
    }

    fn from_secret(secret: &p256::SecretKey) -> Result<Self, KeyError> {
        let scalar = Zeroizing::new(secret.to_bytes());
        EcKeyPair::from_private_bytes(scalar.as_slice()).map(Self)
    }

    fn secret(&self) -> Result<p256::SecretKey, KeyError> {
        p256::SecretKey::from_slice(self.0.private_bytes()).map_err(|_| KeyError::InvalidScalar)
    }

    /// PKCS#8 DER (with the public key, RFC 5915 inside).
    ///
    /// # Errors
    /// [`KeyError::Pkcs8`] if encoding fails.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let document = self.secret()?.to_pkcs8_der().map_err(|_| KeyError::Pkcs8)?;
        Ok(Zeroizing::new(document.as_bytes().to_vec()))
    }

    /// PKCS#8 PEM with `\n` line endings.
    ///
    /// # Errors
    /// [`KeyError::Pkcs8`] if encoding fails.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        self.secret()?
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| KeyError::Pkcs8)
    }

    /// The push2 `<jwt-key/>` form: standard base64 of the PKCS#8 DER, one line, no armour.
    ///
    /// # Errors
    /// [`KeyError::Pkcs8`] if encoding fails.
    pub fn to_push2(&self) -> Result<Zeroizing<String>, KeyError> {
        Ok(Zeroizing::new(b64::encode_std(&self.to_pkcs8_der()?)))
    }

    /// The public key (what push services learn through the `k` parameter).
    #[must_use]
    pub const fn public_key(&self) -> &EcPublicKey {
        self.0.public_key()
    }

    /// The key pair.
    #[must_use]
    pub const fn key_pair(&self) -> &EcKeyPair {
        &self.0
    }
}

/// The label and base64 body of the first private key block in `pem` (RFC 7468 section 2).
fn pem_block(pem: &str) -> Option<(&'static str, &str)> {
    let (label, start) = ["PRIVATE KEY", "EC PRIVATE KEY"]
        .into_iter()
        .filter_map(|label| {
            let begin = pem.find(&format!("-----BEGIN {label}-----"))?;
            Some((label, begin + label.len() + 16))
        })
        .min_by_key(|&(_, start)| start)?;
    let rest = pem.get(start..)?;
    let end = rest.find(&format!("-----END {label}-----"))?;
    Some((label, rest.get(..end)?))
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;

    #[test]
    fn public_keys_are_checked_for_shape_and_curve() {
        assert_eq!(
            EcPublicKey::from_bytes(&[4; 64]),
            Err(KeyError::NotUncompressedPoint { len: 64 })
        );
        let mut compressed_tag = [0; 65];
        compressed_tag[0] = 2;
        assert_eq!(
            EcPublicKey::from_bytes(&compressed_tag),
            Err(KeyError::NotUncompressedPoint { len: 65 })
        );
        let mut off_curve = [1; 65];
        off_curve[0] = 4;
        assert_eq!(
            EcPublicKey::from_bytes(&off_curve),
            Err(KeyError::NotOnCurve)
        );
    }

    #[test]
    fn debug_never_prints_secrets() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let keys = UaKeys::generate(&mut rng).unwrap();
        let printed = format!("{keys:?}");
        let scalar_hex: String = keys
            .key_pair
            .private_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(printed.contains("<redacted>"), "{printed}");
        assert!(!printed.contains(&scalar_hex));
        assert!(!printed.contains(keys.auth_secret.to_base64url().as_str()));
        assert!(!printed.contains(&format!("{:?}", keys.auth_secret.as_bytes())));
    }

    #[test]
    fn vapid_keys_round_trip_through_every_text_form() {
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        let key = VapidKey::generate(&mut rng).unwrap();
        let pem = key.to_pkcs8_pem().unwrap();
        let push2 = key.to_push2().unwrap();
        let der = key.to_pkcs8_der().unwrap();
        for parsed in [
            VapidKey::from_pem(&pem).unwrap(),
            VapidKey::from_text(&pem).unwrap(),
            VapidKey::from_push2(&push2).unwrap(),
            VapidKey::from_text(&push2).unwrap(),
            VapidKey::from_pkcs8_der(&der).unwrap(),
        ] {
            assert_eq!(parsed.public_key(), key.public_key());
        }
        // The push2 form is the PEM body: the armour lines removed, line breaks allowed.
        let body: String = pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(
            VapidKey::from_push2(&body).unwrap().public_key(),
            key.public_key()
        );
    }

    #[test]
    fn bad_key_text_is_a_typed_error() {
        assert_eq!(
            VapidKey::from_pkcs8_der(b"junk").unwrap_err(),
            KeyError::Pkcs8
        );
        assert_eq!(VapidKey::from_pem("hello").unwrap_err(), KeyError::Pem);
        assert!(matches!(
            VapidKey::from_push2("!!").unwrap_err(),
            KeyError::Base64(_)
        ));
        assert_eq!(
            EcKeyPair::from_private_bytes(&[0; 32]).unwrap_err(),
            KeyError::InvalidScalar
        );
        assert_eq!(
            EcKeyPair::from_private_bytes(&[0xff; 32]).unwrap_err(),
            KeyError::InvalidScalar
        );
        assert_eq!(
            EcKeyPair::from_private_bytes(&[1; 31]).unwrap_err(),
            KeyError::InvalidScalar
        );
    }
}
