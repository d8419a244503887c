//! Plumbing below the main API: for test vectors, cross-checks, tools and other profiles.
//!
//! A push2 server or client needs none of this: keys read and write their own text forms
//! ([`EcPublicKey::from_base64`](crate::keys::EcPublicKey::from_base64),
//! [`VapidKey::to_push2`](crate::keys::VapidKey::to_push2), ...), and
//! [`encrypt`](crate::encrypt) draws its ephemeral key and salt itself. The items here are
//! stable and tested like the rest, but easy to misuse: [`encrypt_deterministic_with`] breaks
//! AES-GCM if a key and salt are ever used twice.

pub mod b64;

use crate::backend::{Backend, SCALAR_LEN};
use crate::ece::SALT_LEN;
use crate::error::EncryptError;
use crate::keys::{AuthSecret, EcPublicKey};
use crate::webpush;

/// RFC 8291 encryption with a given ephemeral private key and salt: the deterministic entry
/// point for test vectors (RFC 8291 Appendix A) and cross-checks between backends.
///
/// **Never use it to send.** Reusing an ephemeral key and salt pair across messages reuses
/// the AES-GCM key and nonce, which reveals the XOR of the plaintexts and lets anyone forge
/// messages. [`crate::encrypt`] draws both from the caller's RNG for every message.
///
/// # Errors
/// As [`crate::webpush::encrypt`], plus [`EncryptError::Key`] for a bad `as_private`.
pub fn encrypt_deterministic_with<B: Backend>(
    as_private: &[u8; SCALAR_LEN],
    salt: &[u8; SALT_LEN],
    ua_public: &EcPublicKey,
    auth_secret: &AuthSecret,
    plaintext: &[u8],
) -> Result<Vec<u8>, EncryptError> {
    webpush::encrypt_fixed::<B>(as_private, salt, ua_public, auth_secret, plaintext)
}
