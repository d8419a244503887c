//! The two crypto backends, and the trait that names them.
//!
//! The five primitives (P-256 key generation, ECDH, HKDF-SHA-256, AES-128-GCM and ES256) come
//! from one of two implementations, both always usable as types so one program (the benches,
//! the cross-checks) can run both:
//! - [`RustCrypto`]: pure Rust (`p256`, `hkdf`, `sha2`, `aes-gcm`); no C toolchain, builds for
//!   wasm. Always compiled.
//! - `AwsLc`: `aws-lc-rs`, behind the cargo feature `aws-lc-rs`; about five times faster
//!   for the scalar multiplications that dominate a Web Push encryption.
//!
//! [`Default`](type@Default) names the one the feature selects, and every function without a
//! `_with` suffix uses it; the `_with::<B>` forms (and `VapidSigner::<B>`, `TokenCache::<B>`)
//! pick one. [`Backend`] is sealed, and its primitive methods are hidden from the docs: they
//! are this crate's plumbing, public only so that the crate's own integration tests and
//! benches can hold the two backends side by side. Use them through the protocol functions.
//!
//! Key generation takes its randomness from the caller's RNG in both backends: a scalar is
//! drawn from it and handed to the backend. The one exception is ES256 signing under
//! `aws-lc-rs`, which draws its ECDSA nonce from AWS-LC's own generator (its API offers no
//! other way); [`RustCrypto`] signs deterministically (RFC 6979). Both backends hand out
//! signatures in low-S form only (`s <= n/2`), so the crate's tokens are canonical.

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
pub(crate) const PUBLIC_KEY_LEN: usize = 65;
/// Length of a P-256 scalar.
pub(crate) const SCALAR_LEN: usize = 32;

/// One HKDF-Expand output: `okm` is filled from `info`, given as parts to concatenate.
// Hidden: an argument of the hidden primitive methods below.
#[doc(hidden)]
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

/// The order n of P-256, big-endian (SEC 2 section 2.4.2).
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

/// `floor(n / 2)` for the P-256 order n, big-endian: an ECDSA `s` above it is "high".
const HALF_ORDER: [u8; SCALAR_LEN] = [
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
];

/// Whether the `s` half of an `r || s` ES256 signature is above `n/2`. Of the two valid
/// signatures `(r, s)` and `(r, n - s)` exactly one is low; neither value is secret.
pub(crate) fn is_high_s(signature: &[u8; 64]) -> bool {
    signature[SCALAR_LEN..] > HALF_ORDER[..]
}

/// The low-S form of a valid `r || s` signature: `(r, n - s)` when `s` is high, so that the
/// crate never emits the malleable twin. (RustCrypto's signatures are normalised by `p256`.)
/// A 256-bit big-endian subtraction: `s` is below `n`, so it never underflows.
#[cfg(feature = "aws-lc-rs")]
pub(crate) fn to_low_s(mut signature: [u8; 64]) -> [u8; 64] {
    if is_high_s(&signature) {
        let mut borrow = 0u16;
        for (out, n) in signature[SCALAR_LEN..].iter_mut().zip(ORDER).rev() {
            let difference = u16::from(n)
                .wrapping_sub(u16::from(*out))
                .wrapping_sub(borrow);
            // The low octet of the difference, and whether it borrowed from the next one.
            *out = difference.to_le_bytes()[0];
            borrow = difference >> 15;
        }
    }
    signature
}

mod sealed {
    pub trait Sealed {}
}

/// A crypto backend: [`RustCrypto`] or `AwsLc`. Sealed: implemented by these two only.
///
/// The primitive methods are hidden plumbing (see the [module docs](self)); every one returns
/// an error rather than panicking on any input.
pub trait Backend: sealed::Sealed + Sized + 'static {
    /// A short name for reports and benches.
    const NAME: &'static str;

    /// An ES256 signing key prepared once (parsing and checking it costs a scalar
    /// multiplication in some backends).
    #[doc(hidden)]
    type SigningKey: Send + Sync;

    /// The uncompressed public point of a scalar.
    ///
    /// # Errors
    /// [`KeyError::InvalidScalar`] if `scalar` is zero or not below the group order.
    #[doc(hidden)]
    fn public_key(scalar: &[u8; SCALAR_LEN]) -> Result<[u8; PUBLIC_KEY_LEN], KeyError>;

    /// ECDH: the x coordinate of `scalar * peer`.
    ///
    /// # Errors
    /// [`KeyError::InvalidScalar`] or [`KeyError::NotOnCurve`].
    #[doc(hidden)]
    fn ecdh(
        scalar: &[u8; SCALAR_LEN],
        peer: &[u8; PUBLIC_KEY_LEN],
    ) -> Result<Zeroizing<[u8; 32]>, KeyError>;

    /// Key generation and ECDH in one: the public point of `scalar` and the shared secret with
    /// `peer`. A backend may share work between the two.
    ///
    /// # Errors
    /// As [`Backend::public_key`] and [`Backend::ecdh`].
    #[doc(hidden)]
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
    #[doc(hidden)]
    fn hkdf_sha256(salt: &[u8], ikm: &[u8], outputs: &mut [HkdfOutput<'_>])
    -> Result<(), KeyError>;

    /// AES-128-GCM encryption in place with empty associated data; returns the tag.
    ///
    /// # Errors
    /// [`KeyError::Backend`] if `in_out` exceeds what GCM can encrypt under one nonce.
    #[doc(hidden)]
    fn seal(key: &[u8; 16], nonce: &[u8; 12], in_out: &mut [u8]) -> Result<[u8; 16], KeyError>;

    /// AES-128-GCM decryption in place of `ciphertext || tag`; returns the plaintext length.
    ///
    /// # Errors
    /// `Err(())` when `record` is shorter than a tag or authentication fails.
    #[doc(hidden)]
    #[expect(
        clippy::result_unit_err,
        reason = "one failure, mapped to a typed error by callers"
    )]
    fn open(key: &[u8; 16], nonce: &[u8; 12], record: &mut [u8]) -> Result<usize, ()>;

    /// Prepares an ES256 signing key from its scalar and public point.
    ///
    /// # Errors
    /// [`KeyError::InvalidScalar`], [`KeyError::Mismatch`].
    #[doc(hidden)]
    fn signing_key(
        scalar: &[u8; SCALAR_LEN],
        public: &[u8; PUBLIC_KEY_LEN],
    ) -> Result<Self::SigningKey, KeyError>;

    /// ES256: ECDSA P-256 SHA-256 over `message`, as `r || s` (RFC 7518 section 3.4), with
    /// `s` in low-S form.
    ///
    /// # Errors
    /// [`KeyError::Backend`] if the library fails.
    #[doc(hidden)]
    fn sign(key: &Self::SigningKey, message: &[u8]) -> Result<[u8; 64], KeyError>;

    /// Verifies an ES256 `r || s` signature. Both forms of `s` verify here: the low-S policy
    /// is [`crate::jwt`]'s, the same for both backends.
    #[doc(hidden)]
    fn verify(public: &[u8; PUBLIC_KEY_LEN], message: &[u8], signature: &[u8; 64]) -> bool;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_order_is_floor_n_over_2() {
        // n is odd: 2 * floor(n/2) + 1 == n, computed octet by octet from the end.
        let mut carry = 1u16;
        let mut doubled = [0u8; SCALAR_LEN];
        for (out, half) in doubled.iter_mut().zip(HALF_ORDER).rev() {
            let value = u16::from(half) * 2 + carry;
            *out = value.to_le_bytes()[0];
            carry = value >> 8;
        }
        assert_eq!(carry, 0);
        let n: [u8; SCALAR_LEN] = [
            0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2,
            0xfc, 0x63, 0x25, 0x51,
        ];
        assert_eq!(doubled, n);
    }

    #[cfg(feature = "aws-lc-rs")]
    #[test]
    fn low_s_agrees_with_p256() {
        use p256::ecdsa::signature::Signer as _;
        let key = p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
        let mut high = 0;
        for i in 0..64u8 {
            let signature: p256::ecdsa::Signature = key.sign(&[i]);
            let raw: [u8; 64] = signature.to_bytes().into();
            high += usize::from(is_high_s(&raw));
            let ours = to_low_s(raw);
            assert_eq!(ours, <[u8; 64]>::from(signature.normalize_s().to_bytes()));
            assert!(!is_high_s(&ours));
        }
        assert!(high > 0, "no high-S signature among 64");
    }
}
