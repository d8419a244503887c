//! The pure-Rust backend: `p256`, `hkdf`, `sha2`, `aes-gcm`.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce, Tag};
use hkdf::Hkdf;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{Backend, HkdfOutput, PUBLIC_KEY_LEN, SCALAR_LEN, sealed};
use crate::error::KeyError;

/// Pure Rust: RustCrypto's `p256` 0.14, `hkdf`, `sha2` and `aes-gcm`. No C toolchain needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RustCrypto;

impl sealed::Sealed for RustCrypto {}

fn secret(scalar: &[u8; SCALAR_LEN]) -> Result<SecretKey, KeyError> {
    SecretKey::from_slice(scalar).map_err(|_| KeyError::InvalidScalar)
}

fn public(bytes: &[u8; PUBLIC_KEY_LEN]) -> Result<PublicKey, KeyError> {
    PublicKey::from_sec1_bytes(bytes).map_err(|_| KeyError::NotOnCurve)
}

fn encode(public: &PublicKey) -> Result<[u8; PUBLIC_KEY_LEN], KeyError> {
    let point = public.to_sec1_point(false);
    point.as_bytes().try_into().map_err(|_| KeyError::Backend)
}

impl Backend for RustCrypto {
    const NAME: &'static str = "RustCrypto";
    type SigningKey = SigningKey;

    fn public_key(scalar: &[u8; SCALAR_LEN]) -> Result<[u8; PUBLIC_KEY_LEN], KeyError> {
        encode(&secret(scalar)?.public_key())
    }

    fn ecdh(
        scalar: &[u8; SCALAR_LEN],
        peer: &[u8; PUBLIC_KEY_LEN],
    ) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        let secret = secret(scalar)?;
        let peer = public(peer)?;
        let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), peer.as_affine());
        let mut out = Zeroizing::new([0; 32]);
        out.copy_from_slice(shared.raw_secret_bytes());
        Ok(out)
    }

    fn hkdf_sha256(
        salt: &[u8],
        ikm: &[u8],
        outputs: &mut [HkdfOutput<'_>],
    ) -> Result<(), KeyError> {
        let hkdf = Hkdf::<Sha256>::new(Some(salt), ikm);
        for output in outputs {
            hkdf.expand_multi_info(output.info, output.okm)
                .map_err(|_| KeyError::Backend)?;
        }
        Ok(())
    }

    fn seal(key: &[u8; 16], nonce: &[u8; 12], in_out: &mut [u8]) -> Result<[u8; 16], KeyError> {
        let cipher = Aes128Gcm::new(key.into());
        let tag = cipher
            .encrypt_inout_detached(&Nonce::from(*nonce), &[], in_out.into())
            .map_err(|_| KeyError::Backend)?;
        Ok(tag.into())
    }

    fn open(key: &[u8; 16], nonce: &[u8; 12], record: &mut [u8]) -> Result<usize, ()> {
        let len = record.len().checked_sub(16).ok_or(())?;
        let (ciphertext, tag) = record.split_at_mut(len);
        let tag = Tag::try_from(&tag[..]).map_err(|_| ())?;
        let cipher = Aes128Gcm::new(key.into());
        cipher
            .decrypt_inout_detached(&Nonce::from(*nonce), &[], ciphertext.into(), &tag)
            .map_err(|_| ())?;
        Ok(len)
    }

    fn signing_key(
        scalar: &[u8; SCALAR_LEN],
        public: &[u8; PUBLIC_KEY_LEN],
    ) -> Result<SigningKey, KeyError> {
        let key = SigningKey::from_slice(scalar).map_err(|_| KeyError::InvalidScalar)?;
        if key.verifying_key().to_sec1_point(false).as_bytes() != public {
            return Err(KeyError::Mismatch);
        }
        Ok(key)
    }

    fn sign(key: &SigningKey, message: &[u8]) -> Result<[u8; 64], KeyError> {
        let signature: Signature = key.try_sign(message).map_err(|_| KeyError::Backend)?;
        // p256 leaves `s` as computed (half the time high): hand out the canonical form.
        Ok(signature.normalize_s().to_bytes().into())
    }

    fn verify(public: &[u8; PUBLIC_KEY_LEN], message: &[u8], signature: &[u8; 64]) -> bool {
        let Ok(key) = VerifyingKey::from_sec1_bytes(public) else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(signature) else {
            return false;
        };
        key.verify(message, &signature).is_ok()
    }
}
