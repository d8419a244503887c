//! RFC 8291 "Message Encryption for Web Push" on top of RFC 8188.
//!
//! ```text
//! ecdh_secret = ECDH(as_private, ua_public)                                     section 3.1
//! IKM         = HKDF-SHA-256(auth_secret, ecdh_secret,
//!                            "WebPush: info" || 0x00 || ua_public || as_public, 32)  3.3, 3.4
//! body        = aes128gcm(IKM, salt, keyid = as_public, rs = 4096), one record   section 4
//! ```
//! The sender (the XMPP server) draws a fresh ephemeral key pair and a fresh salt from the
//! caller's RNG for every message. One 4096-octet push message holds at most
//! [`MAX_PLAINTEXT_LEN`] octets of plaintext: 4096 minus the 86-octet header, the 16-octet
//! tag and the delimiter (section 4). Longer plaintexts are refused with
//! [`EncryptError::PlaintextTooLong`], never split; an
//! [`Envelope`](crate::envelope::Envelope) serialised with
//! [`to_padded_bytes`](crate::envelope::Envelope::to_padded_bytes) always fits.

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::backend::{self, Backend, HkdfOutput, PUBLIC_KEY_LEN, SCALAR_LEN};
use crate::ece::{self, ContentKeys, Header, SALT_LEN};
use crate::error::{DecryptError, EncryptError, KeyError};
use crate::keys::{AuthSecret, EcPublicKey, UaKeys};

/// The record size every message is sent with (section 4).
pub const RECORD_SIZE: u32 = 4096;
/// The header length: salt, rs, idlen and a 65-octet key id.
pub const HEADER_LEN: usize = ece::HEADER_LEN + PUBLIC_KEY_LEN;
/// The largest plaintext one message carries: 4096 - 86 - 16 - 1 (section 4).
pub const MAX_PLAINTEXT_LEN: usize = RECORD_SIZE as usize - HEADER_LEN - ece::TAG_LEN - 1;

const KEY_INFO: &[u8] = b"WebPush: info\0";
const SCALAR_ATTEMPTS: usize = 16;

/// Encrypts `plaintext` for a user agent with the default backend.
///
/// # Errors
/// [`EncryptError::PlaintextTooLong`]; [`EncryptError::Key`] only with a broken RNG.
pub fn encrypt(
    rng: &mut impl CryptoRng,
    ua_public: &EcPublicKey,
    auth_secret: &AuthSecret,
    plaintext: &[u8],
) -> Result<Vec<u8>, EncryptError> {
    encrypt_with::<backend::Default>(rng, ua_public, auth_secret, plaintext)
}

/// Encrypts `plaintext` for a user agent with backend `B`: a fresh ephemeral key and salt from
/// `rng`, one record, rs 4096.
///
/// # Errors
/// As [`encrypt`].
pub fn encrypt_with<B: Backend>(
    rng: &mut impl CryptoRng,
    ua_public: &EcPublicKey,
    auth_secret: &AuthSecret,
    plaintext: &[u8],
) -> Result<Vec<u8>, EncryptError> {
    check_len(plaintext)?;
    let mut scalar = Zeroizing::new([0; SCALAR_LEN]);
    let mut salt = [0; SALT_LEN];
    for _ in 0..SCALAR_ATTEMPTS {
        rng.fill_bytes(scalar.as_mut());
        match B::ephemeral_ecdh(&scalar, ua_public.as_bytes()) {
            Ok((as_public, secret)) => {
                rng.fill_bytes(&mut salt);
                return seal::<B>(
                    &as_public,
                    &secret,
                    &salt,
                    ua_public,
                    auth_secret,
                    plaintext,
                );
            }
            // Below 2^-32 per draw with a working RNG: draw again.
            Err(KeyError::InvalidScalar) => {}
            Err(other) => return Err(other.into()),
        }
    }
    Err(KeyError::InvalidScalar.into())
}

/// Encrypts with a given ephemeral private key and salt; public as
/// [`crate::hazmat::encrypt_deterministic_with`], for test vectors only.
pub(crate) fn encrypt_fixed<B: Backend>(
    as_private: &[u8; SCALAR_LEN],
    salt: &[u8; SALT_LEN],
    ua_public: &EcPublicKey,
    auth_secret: &AuthSecret,
    plaintext: &[u8],
) -> Result<Vec<u8>, EncryptError> {
    check_len(plaintext)?;
    let (as_public, secret) = B::ephemeral_ecdh(as_private, ua_public.as_bytes())?;
    seal::<B>(&as_public, &secret, salt, ua_public, auth_secret, plaintext)
}

fn check_len(plaintext: &[u8]) -> Result<(), EncryptError> {
    if plaintext.len() > MAX_PLAINTEXT_LEN {
        return Err(EncryptError::PlaintextTooLong {
            len: plaintext.len(),
            max: MAX_PLAINTEXT_LEN,
        });
    }
    Ok(())
}

/// Section 3.3: IKM from the ECDH secret and the auth secret, bound to both public keys.
fn ikm<B: Backend>(
    ecdh_secret: &[u8; 32],
    auth_secret: &AuthSecret,
    ua_public: &[u8; PUBLIC_KEY_LEN],
    as_public: &[u8; PUBLIC_KEY_LEN],
) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let mut ikm = Zeroizing::new([0; 32]);
    B::hkdf_sha256(
        auth_secret.as_bytes(),
        ecdh_secret,
        &mut [HkdfOutput {
            info: &[KEY_INFO, ua_public, as_public],
            okm: ikm.as_mut(),
        }],
    )?;
    Ok(ikm)
}

fn seal<B: Backend>(
    as_public: &[u8; PUBLIC_KEY_LEN],
    ecdh_secret: &[u8; 32],
    salt: &[u8; SALT_LEN],
    ua_public: &EcPublicKey,
    auth_secret: &AuthSecret,
    plaintext: &[u8],
) -> Result<Vec<u8>, EncryptError> {
    let ikm = ikm::<B>(ecdh_secret, auth_secret, ua_public.as_bytes(), as_public)
        .map_err(|_| EncryptError::Backend)?;
    // check_len keeps plaintext + delimiter + tag within one 4096-octet record.
    ece::encrypt_with::<B>(ikm.as_ref(), salt, as_public, RECORD_SIZE, plaintext, 0)
}

/// Decrypts a push message body with the user agent's keys, default backend.
///
/// # Errors
/// [`DecryptError::KeyIdNotPublicKey`], [`DecryptError::SenderKey`], or the RFC 8188 error
/// of a malformed or altered body.
pub fn decrypt(keys: &UaKeys, body: &[u8]) -> Result<Vec<u8>, DecryptError> {
    decrypt_with::<backend::Default>(keys, body)
}

/// Decrypts a push message body with the user agent's keys and backend `B`. Bodies of more
/// than one record, or with other record sizes, are accepted too (RFC 8188 allows them).
///
/// # Errors
/// As [`decrypt`].
pub fn decrypt_with<B: Backend>(keys: &UaKeys, body: &[u8]) -> Result<Vec<u8>, DecryptError> {
    let (header, records) = Header::parse(body)?;
    let as_public: &[u8; PUBLIC_KEY_LEN] =
        header
            .keyid
            .try_into()
            .map_err(|_| DecryptError::KeyIdNotPublicKey {
                len: header.keyid.len(),
            })?;
    let as_public = EcPublicKey::from_bytes(as_public).map_err(DecryptError::SenderKey)?;
    // Both keys are a valid point and scalar by construction: a failure is the backend's.
    let secret = B::ecdh(keys.key_pair.private_bytes(), as_public.as_bytes())
        .map_err(|_| DecryptError::Backend)?;
    let ikm = ikm::<B>(
        &secret,
        &keys.auth_secret,
        keys.public_key().as_bytes(),
        as_public.as_bytes(),
    )
    .map_err(|_| DecryptError::Backend)?;
    let content =
        ContentKeys::derive::<B>(ikm.as_ref(), &header.salt).map_err(|_| DecryptError::Backend)?;
    ece::decrypt_records::<B>(&content, header.rs, records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::RustCrypto;
    use crate::hazmat::b64;
    use crate::keys::EcKeyPair;

    // RFC 8291 section 5 and Appendix A.
    const PLAINTEXT: &[u8] = b"When I grow up, I want to be a watermelon";
    const AS_PRIVATE: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
    const AS_PUBLIC: &str =
        "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
    const UA_PRIVATE: &str = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
    const UA_PUBLIC: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const AUTH_SECRET: &str = "BTBZMqHH6r4Tts7J_aSIgg";
    const SALT: &str = "DGv6ra1nlYgDCS1FRnbzlw";
    const BODY: &str = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

    fn ua_keys<B: Backend>() -> UaKeys {
        let key_pair =
            EcKeyPair::from_private_bytes_with::<B>(&b64::decode(UA_PRIVATE).unwrap()).unwrap();
        assert_eq!(key_pair.public_key().to_base64url(), UA_PUBLIC);
        UaKeys {
            key_pair,
            auth_secret: AuthSecret::from_base64(AUTH_SECRET).unwrap(),
        }
    }

    fn appendix_a<B: Backend>() {
        let as_private: [u8; 32] = b64::decode_array(AS_PRIVATE, "as_private").unwrap();
        assert_eq!(
            B::public_key(&as_private).unwrap().as_slice(),
            b64::decode(AS_PUBLIC).unwrap()
        );
        let salt = b64::decode_array(SALT, "salt").unwrap();
        let keys = ua_keys::<B>();
        let body = encrypt_fixed::<B>(
            &as_private,
            &salt,
            keys.public_key(),
            &keys.auth_secret,
            PLAINTEXT,
        )
        .unwrap();
        assert_eq!(b64::encode_url(&body), BODY);
        assert_eq!(decrypt_with::<B>(&keys, &body).unwrap(), PLAINTEXT);
    }

    #[test]
    fn rfc8291_appendix_a_rustcrypto() {
        appendix_a::<RustCrypto>();
    }

    #[cfg(feature = "aws-lc-rs")]
    #[test]
    fn rfc8291_appendix_a_aws_lc() {
        appendix_a::<backend::AwsLc>();
    }

    #[test]
    fn the_plaintext_limit_is_3993_and_enforced() {
        assert_eq!(MAX_PLAINTEXT_LEN, 3993);
        let mut rng = <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(1);
        let keys = UaKeys::generate(&mut rng).unwrap();
        let full = encrypt(
            &mut rng,
            keys.public_key(),
            &keys.auth_secret,
            &[b'x'; 3993],
        )
        .unwrap();
        assert_eq!(full.len(), 4096);
        assert_eq!(decrypt(&keys, &full).unwrap(), vec![b'x'; 3993]);
        assert_eq!(
            encrypt(
                &mut rng,
                keys.public_key(),
                &keys.auth_secret,
                &[b'x'; 3994]
            ),
            Err(EncryptError::PlaintextTooLong {
                len: 3994,
                max: 3993
            })
        );
    }

    #[test]
    fn a_wrong_sender_key_is_typed() {
        let keys = ua_keys::<RustCrypto>();
        let mut body = b64::decode(BODY).unwrap();
        body[20] = 64;
        assert_eq!(
            decrypt(&keys, &body),
            Err(DecryptError::KeyIdNotPublicKey { len: 64 })
        );
        let mut body = b64::decode(BODY).unwrap();
        body[21] = 0x05;
        assert!(matches!(
            decrypt(&keys, &body),
            Err(DecryptError::SenderKey(_))
        ));
        let mut body = b64::decode(BODY).unwrap();
        body[40] ^= 0x01;
        assert_eq!(
            decrypt(&keys, &body),
            Err(DecryptError::SenderKey(KeyError::NotOnCurve))
        );
        let body = b64::decode(BODY).unwrap();
        assert_eq!(
            decrypt(&keys, &body[..50]),
            Err(DecryptError::ShortHeader { len: 50 })
        );
    }
}
