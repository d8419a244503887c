//! # xmpp-push2-crypto
//!
//! The cryptography under Push 2.0's `urn:xmpp:push2:send:sce+rfc8291+rfc8292:0` send
//! profile, sans-IO: the caller passes the time (a [`Now`]) and the random number generator
//! (`&mut impl rand_core::CryptoRng`); nothing here reads a clock or the OS RNG.
//!
//! Three users, three paths:
//! - **the XMPP server** wraps the stanza in an [`Envelope`] (XEP-0297 inside XEP-0420),
//!   serialises it with a [`Padding`] that fits the RFC 8291 bound, [`encrypt`]s it for the
//!   client's `ua-public` and `auth-secret`, and takes a VAPID token for the client's
//!   `jwt-key` and the push service's origin from a [`TokenCache`]. Every step's error
//!   converts into [`NotifyError`], so the whole path is one function with `?`.
//! - **the push service** checks the token ([`jwt::verify_authorization`]).
//! - **the client or device** generates its keys ([`UaKeys`]), [`decrypt`]s, and parses the
//!   [`Envelope`] ([`Envelope::from_bytes`]).
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use rand_chacha::ChaCha20Rng;
//! use rand_core::SeedableRng;
//! use xmpp_parsers::forwarding::Forwarded;
//! use xmpp_parsers::message::{Lang, Message};
//! use xmpp_push2_crypto::jwt::{self, Policy};
//! use xmpp_push2_crypto::{
//!     AuthSecret, Claims, EcPublicKey, Envelope, Now, Padding, TokenCache, UaKeys, VapidKey,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut rng = ChaCha20Rng::seed_from_u64(42); // a real program uses an OS-seeded CSPRNG
//! // From the caller's clocks, once per turn of its event loop.
//! let now = Now::new(Default::default(), SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
//!
//! // The client makes its keys and sends them (base64) in its push2 <send/> element, with
//! // its push endpoint in <client/>.
//! let device = UaKeys::generate(&mut rng)?;
//! let (ua_public, auth_secret) = (device.public_key().to_base64(), device.auth_secret.to_base64());
//! let jwt_key = VapidKey::generate(&mut rng)?.to_push2()?;
//! let endpoint = "https://push.example.com/wpush/v2/gAAAAABh";
//!
//! // The server, for each notification: envelope, pad, encrypt, sign.
//! let mut tokens = TokenCache::new(); // one for the whole server
//! let message = Message::new(Some("juliet@capulet.lit".parse()?))
//!     .with_body(Lang::default(), "Wherefore art thou?".into());
//! let plaintext = Envelope::new(Forwarded { delay: None, message })
//!     .with_time(now)
//!     .to_padded_bytes(&mut rng, Padding::fill())?;
//! let body = xmpp_push2_crypto::encrypt(
//!     &mut rng,
//!     &EcPublicKey::from_base64(&ua_public)?,
//!     &AuthSecret::from_base64(&auth_secret)?,
//!     &plaintext,
//! )?;
//! let claims = Claims::for_endpoint(endpoint)?.with_sub("xmpp:capulet.lit");
//! let token = tokens.token(now, &VapidKey::from_push2(&jwt_key)?, &claims)?;
//! assert_eq!(body.len(), 4096); // Padding::fill(): every notification the same size
//!
//! // The push service checks the token; the device decrypts.
//! let policy = Policy::new().with_audience("https://push.example.com");
//! let later = now.advance(Duration::from_secs(60));
//! let (verified, _key) = jwt::verify_authorization(later, token.authorization(), &policy)?;
//! assert_eq!(verified.sub.as_deref(), Some("xmpp:capulet.lit"));
//! let envelope = Envelope::from_bytes(&xmpp_push2_crypto::decrypt(&device, &body)?)?;
//! assert_eq!(envelope.forwarded.message.bodies[&Lang::default()], "Wherefore art thou?");
//! # Ok(())
//! # }
//! ```
//!
//! ## Time
//! Every function that needs the time takes `now: Now` (`xmpp_tether_core::Now`, re-exported
//! here), first among its arguments. What this crate does with time leaves the process, so it
//! reads the wall clock: a token's `exp` is `now.unix_seconds()` plus its lifetime
//! ([`VapidSigner::sign`], [`TokenCache::token`]); verification compares `exp` with
//! `now.unix_seconds()` ([`jwt::verify`]); the `<time/>` affix is `now.wall()`
//! ([`Envelope::with_time`]). The monotonic reading is not used: nothing here runs a timer.
//!
//! ## Where this crate stands on each specification
//! - **RFC 8188** (`aes128gcm` content coding), [`ece`]: complete, both directions: any record
//!   size from 18, key ids up to 255 octets, padding, multi-record bodies. Every malformed
//!   body is a typed [`DecryptError`]. The record size is not authenticated by the RFC
//!   (section 4.4); we only notice a changed one when it moves a record boundary.
//! - **RFC 8291** (Web Push encryption), [`webpush`]: complete. The sender always emits one
//!   record with rs 4096 and refuses plaintexts over 3993 octets
//!   ([`EncryptError::PlaintextTooLong`]); [`Envelope::to_padded_bytes`] never produces one.
//!   The receiver accepts any valid RFC 8188 body whose key id is a 65-octet P-256 point.
//! - **RFC 8292** (VAPID), [`vapid`] and [`jwt`]: ES256 tokens with `aud`, `exp` (numeric,
//!   at most 24 h ahead, enforced), optional `sub` and further string claims; the
//!   `vapid t=..., k=...` scheme of section 3. `aud` is the push resource's origin
//!   ([`vapid::origin`], [`Claims::for_endpoint`]); [`Claims::new`] takes any text, for the
//!   push2 `<jwt-claim name='aud'/>` a client chooses. Signatures are always low-S;
//!   verification refuses high-S twins, duplicate JSON member names and any `crit` header by
//!   default ([`jwt::Policy`]). The older `WebPush` scheme with a separate `Crypto-Key`
//!   header (drafts before RFC 8292) is not produced.
//! - **XEP-0420** (Stanza Content Encryption), [`envelope`]: namespace `urn:xmpp:sce:1`, the
//!   one current XEP-0420 uses (the seed names the XEP but no namespace); `<envelope>`,
//!   `<content>`, `<rpad>` and the `<time>`, `<to>`, `<from>` affixes. Other affixes are
//!   ignored when parsing; content after the root element is refused; the older
//!   `urn:xmpp:sce:0` is not read.
//! - **XEP-0297** (Stanza Forwarding, `urn:xmpp:forward:0`): xmpp-parsers' `Forwarded`, which
//!   carries a `<message/>` (not iq or presence) with an optional XEP-0203 delay.
//! - **The push2 seed** (`shared/seeds/push2.md`, prosody-modules mod_push2 revision 5819):
//!   keys in the seed's forms: `ua-public` as base64 of the raw uncompressed point,
//!   `auth-secret` as base64 of 16 octets, `jwt-key` as PKCS#8 PEM without the armour lines
//!   ([`VapidKey::from_push2`]); we read either base64 alphabet, padded or not, and write
//!   standard padded base64 in XMPP fields and unpadded base64url in JWTs and the `vapid`
//!   header. We follow the seed's text for this profile; should a later Push 2.0 document
//!   change it, the seed's dialect stays supported (DESIGN.md, promise 6). The seed asks for
//!   "a suitable `exp` and `sub`": `exp` is the caller's choice within RFC 8292's 24 hours
//!   ([`TokenCache`] uses 12 h), `sub` is the caller's contact URI: push services commonly
//!   refuse tokens without one, though RFC 8292 makes it optional. The seed's 4096-byte note
//!   is [`Padding`]'s bound ([`Padding::within`] for a push service that takes less).
//!
//! Out of scope: the older `aesgcm` content coding (draft-ietf-webpush-encryption-04), HTTP
//! delivery to push services, and building the push2 `<notification/>` element (crate
//! `xmpp-push2`).
//!
//! ## Errors
//! All in [`error`]: faults in data from outside ([`DecryptError`], [`JwtError`],
//! [`EnvelopeError`], and [`KeyError`] / [`OriginError`] for what a client registers) apart
//! from caller misuse ([`EncryptError`], [`VapidError`], [`EnvelopeWriteError`]), and
//! [`NotifyError`] over the whole sending path.
//!
//! ## Backends
//! The five primitives (key generation, ECDH, HKDF, AES-128-GCM, ES256) come from
//! [`backend::RustCrypto`] (pure Rust, the default, builds for wasm) or, with the cargo
//! feature `aws-lc-rs`, `backend::AwsLc`. Functions without a suffix use
//! [`backend::Default`]; the `_with::<B>` forms pick one, so a single program can use both.
//! [`hazmat`] holds the plumbing a server does not need (base64 helpers, deterministic
//! encryption for test vectors).
//!
//! ## Secrets
//! Private scalars, auth secrets, derived keys and exported key text are zeroized on drop and
//! never printed by `Debug` (nor are tokens). No input makes this crate panic (the `ece` crate
//! panics on some bad keys; we return [`KeyError`]): not a peer's (bad keys, bodies, tokens;
//! envelopes are bounded in size and nesting, [`envelope::MAX_ENVELOPE_LEN`] and
//! [`envelope::MAX_DEPTH`]) and not the caller's (text XML cannot carry is
//! [`EnvelopeWriteError::UnwritableChar`], impossible padding is [`EncryptError::TooLarge`],
//! `<rpad/>` lengths are capped at [`envelope::MAX_RPAD_LEN`]).
//!
//! ## Persistence
//! There is no `serde` feature: the only state worth keeping is key material, and it has
//! standard text forms the caller stores as it likes ([`VapidKey::to_push2`],
//! [`EcPublicKey::to_base64`], ...). A [`TokenCache`] is rebuilt by one signature per
//! (key, origin) and is not worth persisting.
#![forbid(unsafe_code)]

pub mod backend;
pub mod ece;
pub mod envelope;
pub mod error;
pub mod hazmat;
pub mod jwt;
pub mod keys;
pub mod vapid;
pub mod webpush;

#[cfg(feature = "__fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

pub use xmpp_tether_core::Now;

pub use crate::envelope::{Envelope, EnvelopeBytes, Padding};
pub use crate::error::{
    Base64Error, DecryptError, EncryptError, EnvelopeError, EnvelopeWriteError, JwtError, KeyError,
    NotifyError, OriginError, VapidError,
};
pub use crate::keys::{AuthSecret, EcKeyPair, EcPublicKey, UaKeys, VapidKey};
pub use crate::vapid::{Claims, TokenCache, VapidSigner, VapidToken};
pub use crate::webpush::{decrypt, encrypt};
