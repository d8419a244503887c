//! # xmpp-push2-crypto
//!
//! The cryptography under Push 2.0's `urn:xmpp:push2:send:sce+rfc8291+rfc8292:0` send
//! profile, sans-IO: the caller passes the time (Unix seconds) and the random number
//! generator (`&mut impl rand_core::CryptoRng`); nothing here reads a clock or the OS RNG.
//!
//! Three users, three paths:
//! - **the XMPP server** wraps the stanza ([`envelope::Envelope`]: XEP-0297 inside XEP-0420),
//!   encrypts it for the client's `ua-public` and `auth-secret` ([`webpush::encrypt`]), and
//!   signs a VAPID token with the client's `jwt-key` ([`vapid::VapidSigner`],
//!   [`vapid::TokenCache`]);
//! - **the push service** checks that token ([`jwt::verify_authorization`]);
//! - **the client or device** generates its keys ([`keys::UaKeys`]) and decrypts
//!   ([`webpush::decrypt`], then [`envelope::Envelope::from_bytes`]).
//!
//! ```
//! use rand_chacha::ChaCha20Rng;
//! use rand_core::SeedableRng;
//! use xmpp_parsers::forwarding::Forwarded;
//! use xmpp_parsers::message::{Lang, Message};
//! use xmpp_push2_crypto::envelope::Envelope;
//! use xmpp_push2_crypto::keys::{EcPublicKey, UaKeys, AuthSecret, VapidKey};
//! use xmpp_push2_crypto::vapid::{Claims, TokenCache, VapidSigner};
//! use xmpp_push2_crypto::{jwt, webpush};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut rng = ChaCha20Rng::seed_from_u64(42); // a real program uses an OS-seeded CSPRNG
//! let now = 1_800_000_000; // Unix seconds, from the caller's clock
//!
//! // The client makes its keys and sends them (base64) in its push2 <send/> element.
//! let device = UaKeys::generate(&mut rng)?;
//! let jwt_key = VapidKey::generate(&mut rng)?;
//! let (ua_public, auth_secret, jwt_key_text) = (
//!     device.public_key().to_base64(),
//!     device.auth_secret.to_base64(),
//!     jwt_key.to_push2()?,
//! );
//!
//! // The server: envelope, encrypt, sign.
//! let message = Message::new(Some("juliet@capulet.lit".parse()?))
//!     .with_body(Lang::default(), "Wherefore art thou?".into());
//! let plaintext = Envelope::new(Forwarded { delay: None, message })
//!     .with_random_rpad(&mut rng, 200)
//!     .with_unix_time(now)
//!     .to_bytes()?;
//! let body = webpush::encrypt(
//!     &mut rng,
//!     &EcPublicKey::from_base64(&ua_public)?,
//!     &AuthSecret::from_base64(&auth_secret)?,
//!     &plaintext,
//! )?;
//! let signer = VapidSigner::new(&VapidKey::from_push2(&jwt_key_text)?)?;
//! let mut tokens = TokenCache::new();
//! let claims = Claims::new("https://push.example.com").with_sub("xmpp:capulet.lit");
//! let authorization = tokens.authorization(now, &signer, &claims)?.to_owned();
//!
//! // The push service checks the token; the device decrypts.
//! let (verified, _key) =
//!     jwt::verify_authorization(&authorization, now + 60, Some("https://push.example.com"))?;
//! assert_eq!(verified.sub.as_deref(), Some("xmpp:capulet.lit"));
//! let envelope = Envelope::from_bytes(&webpush::decrypt(&device, &body)?)?;
//! assert_eq!(envelope.forwarded.message.bodies[&Lang::default()], "Wherefore art thou?");
//! # Ok(())
//! # }
//! ```
//!
//! ## Where this crate stands on each specification
//! - **RFC 8188** (`aes128gcm` content coding), [`ece`]: complete, both directions: any record
//!   size from 18, key ids up to 255 octets, padding, multi-record bodies. Every malformed
//!   body is a typed [`error::EceError`]. The record size is not authenticated by the RFC
//!   (section 4.4); we only notice a changed one when it moves a record boundary.
//! - **RFC 8291** (Web Push encryption), [`webpush`]: complete. The sender always emits one
//!   record with rs 4096 and refuses plaintexts over 3993 octets; the receiver accepts any
//!   valid RFC 8188 body whose key id is a 65-octet P-256 point.
//! - **RFC 8292** (VAPID), [`vapid`] and [`jwt`]: ES256 tokens with `aud`, `exp` (numeric,
//!   at most 24 h ahead, enforced), optional `sub` and further string claims; the
//!   `vapid t=..., k=...` scheme of section 3. The older `WebPush` scheme with a separate
//!   `Crypto-Key` header (drafts before RFC 8292) is not produced.
//! - **XEP-0420** (Stanza Content Encryption), [`envelope`]: namespace `urn:xmpp:sce:1`, the
//!   one current XEP-0420 uses (the seed names the XEP but no namespace); `<envelope>`,
//!   `<content>`, `<rpad>` and the `<time>`, `<to>`, `<from>` affixes. Other affixes are
//!   ignored when parsing; the older `urn:xmpp:sce:0` is not read.
//! - **XEP-0297** (Stanza Forwarding, `urn:xmpp:forward:0`): xmpp-parsers' `Forwarded`, which
//!   carries a `<message/>` (not iq or presence) with an optional XEP-0203 delay.
//! - **The push2 seed** (`shared/seeds/push2.md`, prosody-modules mod_push2 revision 5819):
//!   keys in the seed's forms: `ua-public` as base64 of the raw uncompressed point,
//!   `auth-secret` as base64 of 16 octets, `jwt-key` as PKCS#8 PEM without the armour lines
//!   ([`keys::VapidKey::from_push2`]); we read either base64 alphabet, padded or not, and
//!   write standard padded base64 in XMPP fields and unpadded base64url in JWTs and the
//!   `vapid` header ([`b64`]). We follow the seed's text for this profile; should a later
//!   Push 2.0 document change it, the seed's dialect stays supported (DESIGN.md, promise 6).
//!   The seed asks for "a suitable `exp` and `sub`": `exp` is the caller's choice within
//!   RFC 8292's 24 hours ([`vapid::TokenCache`] uses 12 h), `sub` is the caller's contact URI.
//!
//! Out of scope: the older `aesgcm` content coding (draft-ietf-webpush-encryption-04), HTTP
//! delivery to push services, and building the push2 `<notification/>` element (crate
//! `xmpp-push2`).
//!
//! ## Backends
//! The five primitives (key generation, ECDH, HKDF, AES-128-GCM, ES256) come from
//! [`backend::RustCrypto`] (pure Rust, the default, builds for wasm) or, with the cargo
//! feature `aws-lc-rs`, `backend::AwsLc`. Functions without a suffix use
//! [`backend::Default`]; the `_with::<B>` forms pick one, so a single program can use both.
//!
//! ## Secrets
//! Private scalars, auth secrets, derived keys and exported key text are zeroized on drop and
//! never printed by `Debug`. No input makes this crate panic (the `ece` crate panics on some
//! bad keys; we return [`error::KeyError`]): not a peer's (bad keys, bodies, tokens; envelopes
//! are bounded in size and nesting, [`envelope::MAX_ENVELOPE_LEN`] and
//! [`envelope::MAX_DEPTH`]) and not the caller's (text XML cannot carry is
//! [`error::EnvelopeError::UnwritableChar`], impossible padding is
//! [`error::EceError::TooLarge`], `<rpad/>` lengths are capped at
//! [`envelope::MAX_RPAD_LEN`]).
//!
//! ## Persistence
//! There is no `serde` feature: the only state worth keeping is key material, and it has
//! standard text forms the caller stores as it likes ([`keys::VapidKey::to_push2`],
//! [`keys::EcPublicKey::to_base64`], ...). A [`vapid::TokenCache`] is rebuilt by one signature
//! per origin and is not worth persisting.
#![forbid(unsafe_code)]

pub mod b64;
pub mod backend;
pub mod ece;
pub mod envelope;
pub mod error;
pub mod jwt;
pub mod keys;
pub mod vapid;
pub mod webpush;

#[cfg(feature = "__fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
