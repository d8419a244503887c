//! The `aws-lc-rs` backend (cargo feature `aws-lc-rs`).

use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, ECDH_P256, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Salt};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    UnparsedPublicKey as UnparsedVerifyingKey,
};
use zeroize::Zeroizing;

use super::{Backend, HkdfOutput, PUBLIC_KEY_LEN, SCALAR_LEN, sealed};
use crate::error::KeyError;

/// AWS-LC through `aws-lc-rs` (cargo feature `aws-lc-rs`; needs a C compiler).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AwsLc;

impl sealed::Sealed for AwsLc {}

/// An ES256 signing key held by AWS-LC.
pub struct AwsLcSigningKey(EcdsaKeyPair);

impl core::fmt::Debug for AwsLcSigningKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AwsLcSigningKey(<redacted>)")
    }
}

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn private(scalar: &[u8; SCALAR_LEN]) -> Result<PrivateKey, KeyError> {
    PrivateKey::from_private_key(&ECDH_P256, scalar).map_err(|_| KeyError::InvalidScalar)
}

fn public_of(key: &PrivateKey) -> Result<[u8; PUBLIC_KEY_LEN], KeyError> {
    let public = key.compute_public_key().map_err(|_| KeyError::Backend)?;
    public.as_ref().try_into().map_err(|_| KeyError::Backend)
}

fn agree(key: &PrivateKey, peer: &[u8; PUBLIC_KEY_LEN]) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let peer = UnparsedPublicKey::new(&ECDH_P256, peer);
    agreement::agree(key, peer, KeyError::NotOnCurve, |secret| {
        let mut out = Zeroizing::new([0; 32]);
        if secret.len() != 32 {
            return Err(KeyError::Backend);
        }
        out.copy_from_slice(secret);
        Ok(out)
    })
}

impl Backend for AwsLc {
    const NAME: &'static str = "aws-lc-rs";
    type SigningKey = AwsLcSigningKey;

    fn public_key(scalar: &[u8; SCALAR_LEN]) -> Result<[u8; PUBLIC_KEY_LEN], KeyError> {
        public_of(&private(scalar)?)
    }

    fn ecdh(
        scalar: &[u8; SCALAR_LEN],
        peer: &[u8; PUBLIC_KEY_LEN],
    ) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        agree(&private(scalar)?, peer)
    }

    fn ephemeral_ecdh(
        scalar: &[u8; SCALAR_LEN],
        peer: &[u8; PUBLIC_KEY_LEN],
    ) -> Result<([u8; PUBLIC_KEY_LEN], Zeroizing<[u8; 32]>), KeyError> {
        // One parsed key for both: AWS-LC computes the public point while parsing the scalar.
        let key = private(scalar)?;
        Ok((public_of(&key)?, agree(&key, peer)?))
    }

    fn hkdf_sha256(
        salt: &[u8],
        ikm: &[u8],
        outputs: &mut [HkdfOutput<'_>],
    ) -> Result<(), KeyError> {
        let prk = Salt::new(HKDF_SHA256, salt).extract(ikm);
        for output in outputs {
            prk.expand(output.info, Len(output.okm.len()))
                .and_then(|okm| okm.fill(output.okm))
                .map_err(|_| KeyError::Backend)?;
        }
        Ok(())
    }

    fn seal(key: &[u8; 16], nonce: &[u8; 12], in_out: &mut [u8]) -> Result<[u8; 16], KeyError> {
        let unbound = UnboundKey::new(&AES_128_GCM, key).map_err(|_| KeyError::Backend)?;
        let key = LessSafeKey::new(unbound);
        let nonce = Nonce::assume_unique_for_key(*nonce);
        let tag = key
            .seal_in_place_separate_tag(nonce, Aad::empty(), in_out)
            .map_err(|_| KeyError::Backend)?;
        tag.as_ref().try_into().map_err(|_| KeyError::Backend)
    }

    fn open(key: &[u8; 16], nonce: &[u8; 12], record: &mut [u8]) -> Result<usize, ()> {
        if record.len() < 16 {
            return Err(());
        }
        let unbound = UnboundKey::new(&AES_128_GCM, key).map_err(|_| ())?;
        let key = LessSafeKey::new(unbound);
        let nonce = Nonce::assume_unique_for_key(*nonce);
        key.open_in_place(nonce, Aad::empty(), record)
            .map(|plain| plain.len())
            .map_err(|_| ())
    }

    fn signing_key(
        scalar: &[u8; SCALAR_LEN],
        public: &[u8; PUBLIC_KEY_LEN],
    ) -> Result<AwsLcSigningKey, KeyError> {
        // AWS-LC reports a bad scalar and a mismatched public key alike; tell them apart as
        // the RustCrypto backend does.
        if !super::is_valid_scalar(scalar) {
            return Err(KeyError::InvalidScalar);
        }
        let key = EcdsaKeyPair::from_private_key_and_public_key(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            scalar,
            public,
        )
        .map_err(|_| KeyError::Mismatch)?;
        if key.public_key().as_ref() != public {
            return Err(KeyError::Mismatch);
        }
        Ok(AwsLcSigningKey(key))
    }

    fn sign(key: &AwsLcSigningKey, message: &[u8]) -> Result<[u8; 64], KeyError> {
        // aws-lc-rs ignores this argument and uses AWS-LC's own generator for the nonce.
        let rng = SystemRandom::new();
        let signature = key.0.sign(&rng, message).map_err(|_| KeyError::Backend)?;
        let raw: [u8; 64] = signature
            .as_ref()
            .try_into()
            .map_err(|_| KeyError::Backend)?;
        // AWS-LC leaves `s` as computed (half the time high): hand out the canonical form.
        Ok(super::to_low_s(raw))
    }

    fn verify(public: &[u8; PUBLIC_KEY_LEN], message: &[u8], signature: &[u8; 64]) -> bool {
        UnparsedVerifyingKey::new(&ECDSA_P256_SHA256_FIXED, public)
            .verify(message, signature)
            .is_ok()
    }
}
