//! The five primitives behind one trait: P-256 key generation, ECDH, HKDF-SHA-256,
//! AES-128-GCM and ES256.
//!
//! Two implementations exist, both always usable as types so one program (the benches, the
//! cross-checks) can run both:
//! - [`RustCrypto`]: pure Rust (`p256`, `hkdf`, `sha2`, `aes-gcm`); no C toolchain, builds for
//!   wasm. Always compiled.
//! - `AwsLc`: `aws-lc-rs`, behind the cargo feature `aws-lc-rs`; about five times faster
//!   for the scalar multiplications that dominate a Web Push encryption.
//!
//! [`Default`](type@Default) names the one the feature selects, and every function without a `_with` suffix
//! uses it. The trait is sealed: the rest of the crate relies on each implementation being
//! one of these two.
//!
//! Key generation takes its randomness from the caller's RNG in both backends: a scalar is
//! drawn from it and handed to the backend. The one exception is ES256 signing under
//! `aws-lc-rs`, which draws its ECDSA nonce from AWS-LC's own generator (its API offers no
//! other way); [`RustCrypto`] signs deterministically (RFC 6979).

use zeroize::Zeroizing;

use crate::error::KeyError;

mod rustcrypto;
pub use rustcrypto::RustCrypto;

#[cfg(feature = "aws-lc-rs")]
mod aws_lc;
#[cfg(feature = "aws-lc-rs")]
pub use aws_lc::AwsLc;

/// The backend the cargo features select: `AwsLc` with `aws-lc-rs`, else [`RustCrypto`].
#[cfg(feature = "aws-lc-rs")]
pub type Default = AwsLc;
/// The backend the cargo features select: `AwsLc` with `aws-lc-rs`, else [`RustCrypto`].
#[cfg(not(feature = "aws-lc-rs"))]
pub type Default = RustCrypto;

/// Length of an uncompressed SEC1 P-256 point.
pub const PUBLIC_KEY_LEN: usize = 65;
/// Length of a P-256 scalar.
pub const SCALAR_LEN: usize = 32;

/// One HKDF-Expand output: `okm` is filled from `info`, given as parts to concatenate.
pub struct HkdfOutput<'a> {
    /// The info string, in parts (concatenated by the backend, never copied by the caller).
    pub info: &'a [&'a [u8]],
    /// Where the output goes (this crate asks for at most 32 octets).
    pub okm: &'a mut [u8],
}

impl core::fmt::Debug for HkdfOutput<'_> {
    // `okm` is key material once filled: only its length is printed.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HkdfOutput")
            .field("info", &self.info)
            .field("okm_len", &self.okm.len())
            .finish()
    }
}

/// The order of P-256, big-endian (SEC 2 section 2.4.2).
#[cfg(feature = "aws-lc-rs")]
const ORDER: [u8; SCALAR_LEN] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// Whether `scalar` is a valid private key, in `[1, n-1]`: lets every backend report a bad
/// scalar as [`KeyError::InvalidScalar`] before its own library gives a vaguer error. Not
/// constant-time; it runs on key loading only, where the scalar's validity is not secret.
#[cfg(feature = "aws-lc-rs")]
pub(crate) fn is_valid_scalar(scalar: &[u8; SCALAR_LEN]) -> bool {
    scalar.iter().any(|&b| b != 0) && scalar[..] < ORDER[..]
}

mod sealed {
    pub trait Sealed {}
}

/// The primitives a backend provides. Sealed: implemented by [`RustCrypto`] and `AwsLc` only.
///
/// Every method returns an error rather than panicking on any input.
pub trait Backend: sealed::Sealed + Sized + 'static {
    /// A short name for reports and benches.
    const NAME: &'static str;

    /// An ES256 signing key prepared once (parsing and checking it costs a scalar
    /// multiplication in some backends).
    type SigningKey: Send + Sync;

    /// The uncompressed public point of a scalar.
    ///
    /// # Errors
    /// [`KeyError::InvalidScalar`] if `scalar` is zero or not below the group order.
    fn public_key(scalar: &[u8; SCALAR_LEN]) -> Result<[u8; PUBLIC_KEY_LEN], KeyError>;

    /// ECDH: the x coordinate of `scalar * peer`.
    ///
    /// # Errors
    /// [`KeyError::InvalidScalar`] or [`KeyError::NotOnCurve`].
    fn ecdh(
        scalar: &[u8; SCALAR_LEN],
        peer: &[u8; PUBLIC_KEY_LEN],
    ) -> Result<Zeroizing<[u8; 32]>, KeyError>;

    /// Key generation and ECDH in one: the public point of `scalar` and the shared secret with
    /// `peer`. A backend may share work between the two.
    ///
    /// # Errors
    /// As [`Backend::public_key`] and [`Backend::ecdh`].
    fn ephemeral_ecdh(
        scalar: &[u8; SCALAR_LEN],
        peer: &[u8; PUBLIC_KEY_LEN],
    ) -> Result<([u8; PUBLIC_KEY_LEN], Zeroizing<[u8; 32]>), KeyError> {
        Ok((Self::public_key(scalar)?, Self::ecdh(scalar, peer)?))
    }

    /// HKDF-SHA-256 (RFC 5869): one Extract, then one Expand per output.
    ///
    /// # Errors
    /// [`KeyError::Backend`] if an output is longer than HKDF allows (255 blocks).
    fn hkdf_sha256(salt: &[u8], ikm: &[u8], outputs: &mut [HkdfOutput<'_>])
    -> Result<(), KeyError>;

    /// AES-128-GCM encryption in place with empty associated data; returns the tag.
    ///
    /// # Errors
    /// [`KeyError::Backend`] if `in_out` exceeds what GCM can encrypt under one nonce.
    fn seal(key: &[u8; 16], nonce: &[u8; 12], in_out: &mut [u8]) -> Result<[u8; 16], KeyError>;

    /// AES-128-GCM decryption in place of `ciphertext || tag`; returns the plaintext length.
    ///
    /// # Errors
    /// `Err(())` when `record` is shorter than a tag or authentication fails.
    #[expect(
        clippy::result_unit_err,
        reason = "one failure, mapped to a typed error by callers"
    )]
    fn open(key: &[u8; 16], nonce: &[u8; 12], record: &mut [u8]) -> Result<usize, ()>;

    /// Prepares an ES256 signing key from its scalar and public point.
    ///
    /// # Errors
    /// [`KeyError::InvalidScalar`], [`KeyError::Mismatch`].
    fn signing_key(
        scalar: &[u8; SCALAR_LEN],
        public: &[u8; PUBLIC_KEY_LEN],
    ) -> Result<Self::SigningKey, KeyError>;

    /// ES256: ECDSA P-256 SHA-256 over `message`, as `r || s` (RFC 7518 section 3.4).
    ///
    /// # Errors
    /// [`KeyError::Backend`] if the library fails.
    fn sign(key: &Self::SigningKey, message: &[u8]) -> Result<[u8; 64], KeyError>;

    /// Verifies an ES256 `r || s` signature.
    fn verify(public: &[u8; PUBLIC_KEY_LEN], message: &[u8], signature: &[u8; 64]) -> bool;
}
