//! Every error of the crate, in one place.
//!
//! Three kinds, never mixed in one enum (STYLE.md rule 5):
//! - **Faults in data from outside**: a ciphertext ([`DecryptError`]), a token or
//!   `Authorization` value ([`JwtError`]), decrypted XML ([`EnvelopeError`]), and the key
//!   material and endpoint URL a client registers ([`KeyError`], [`Base64Error`],
//!   [`OriginError`]). A push service or device logs or rejects them; they never mean the
//!   caller misused the API.
//! - **Caller misuse and limits**: what the caller asked for cannot be done
//!   ([`EncryptError`], [`VapidError`], [`EnvelopeWriteError`]). Peer data can never produce
//!   one of these.
//! - **[`NotifyError`]**, the umbrella of the sending path: parse the client's keys and
//!   endpoint, wrap the stanza, pad, encrypt, sign. A server building a notification can `?`
//!   every step into it.
//!
//! Some enums carry a `Backend` variant: the crypto library failed on valid input, which no
//! input is known to cause. It is reported rather than hidden behind a panic.

use thiserror::Error;
use xmpp_parsers::minidom;

/// Base64 text that could not be decoded ([`crate::hazmat::b64`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Base64Error {
    /// The text mixes the standard (`+/`) and URL-safe (`-_`) alphabets.
    #[error("base64 text mixes the standard and URL-safe alphabets")]
    MixedAlphabets,
    /// A character outside both alphabets, bad padding, or a length no encoding produces.
    #[error("invalid base64 text")]
    Invalid,
    /// The text decoded, but not to the number of octets the field needs.
    #[error("{field}: expected {expected} octets, got {found}")]
    WrongLength {
        /// Which field was decoded.
        field: &'static str,
        /// The length the field must have.
        expected: usize,
        /// The decoded length.
        found: usize,
    },
}

/// Key material that was rejected ([`crate::keys`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A public key that is not a 65-octet uncompressed SEC1 point (`0x04 || x || y`).
    #[error("public key is not a 65-octet uncompressed P-256 point (got {len} octets)")]
    NotUncompressedPoint {
        /// The length given.
        len: usize,
    },
    /// 65 octets of the right shape that are not a point on P-256.
    #[error("public key is not a point on P-256")]
    NotOnCurve,
    /// A private key that is not a scalar in `[1, n-1]`.
    #[error("private key is not a valid P-256 scalar")]
    InvalidScalar,
    /// A public key given next to a private key does not belong to it.
    #[error("public key does not match the private key")]
    Mismatch,
    /// Base64 text of a key or secret did not decode.
    #[error("key encoding: {0}")]
    Base64(#[from] Base64Error),
    /// The DER is not an unencrypted PKCS#8 (or SEC1) P-256 private key.
    #[error("not an unencrypted PKCS#8 P-256 private key")]
    Pkcs8,
    /// PEM text without a private key block, or with a label we do not read.
    #[error("PEM text holds no PKCS#8 or SEC1 private key")]
    Pem,
    /// The crypto backend failed on valid input (an internal error of the library used).
    #[error("crypto backend failure")]
    Backend,
}

/// A push endpoint URL from which no RFC 8292 `aud` can be derived
/// ([`crate::vapid::origin`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OriginError {
    /// The text is not an absolute URL (WHATWG URL parsing failed).
    #[error("not an absolute URL: {0}")]
    NotAUrl(url::ParseError),
    /// The scheme is neither `https` nor `http`, so the URL has no tuple origin a push
    /// service could be (RFC 6454 section 4; RFC 8030 push resources are HTTP URLs).
    #[error("scheme {0:?} is not https or http")]
    UnsupportedScheme(String),
}

/// A message body that could not be decrypted: a fault in data from outside
/// ([`crate::ece::decrypt`], [`crate::webpush::decrypt`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// Fewer than the 21 octets of salt, rs and idlen, or fewer than idlen keyid octets
    /// (RFC 8188 section 2.1).
    #[error("content coding header is truncated ({len} octets)")]
    ShortHeader {
        /// Octets available.
        len: usize,
    },
    /// The header's record size is below the minimum of 18 (RFC 8188 section 2.1).
    #[error("record size {rs} is below the minimum of 18")]
    RecordSizeTooSmall {
        /// The record size read.
        rs: u32,
    },
    /// No record follows the header.
    #[error("no record follows the header")]
    NoRecords,
    /// A record shorter than a tag plus a delimiter, or a non-final record shorter than rs.
    #[error("record {index} is truncated")]
    TruncatedRecord {
        /// Zero-based record number.
        index: u64,
    },
    /// AES-GCM authentication failed: wrong key or altered data.
    #[error("record {index} failed authentication")]
    Authentication {
        /// Zero-based record number.
        index: u64,
    },
    /// A record's plaintext is all zero octets: no padding delimiter (RFC 8188 section 2).
    #[error("record {index} has no padding delimiter")]
    NoDelimiter {
        /// Zero-based record number.
        index: u64,
    },
    /// The delimiter is neither 1 nor 2, or 1 on the last record (truncation at a record
    /// boundary), or 2 on a record that is not the last.
    #[error("record {index} has delimiter {delimiter:#04x}, which is wrong for its position")]
    BadDelimiter {
        /// Zero-based record number.
        index: u64,
        /// The delimiter octet found.
        delimiter: u8,
    },
    /// RFC 8291 section 4: the header's key id is not a 65-octet uncompressed point.
    #[error("the keyid is {len} octets, not a 65-octet sender public key")]
    KeyIdNotPublicKey {
        /// Its length.
        len: usize,
    },
    /// RFC 8291: the sender's public key in the header is not a P-256 point.
    #[error("sender public key: {0}")]
    SenderKey(KeyError),
    /// The crypto backend failed on valid input (an internal error of the library used).
    #[error("crypto backend failure")]
    Backend,
}

/// What the caller asked to encrypt cannot be encrypted ([`crate::ece::encrypt`],
/// [`crate::webpush::encrypt`]). Caller misuse or a broken RNG: never caused by a peer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncryptError {
    /// The plaintext exceeds the 3993 octets one 4096-octet push message holds (RFC 8291
    /// section 4). An [`Envelope`](crate::envelope::Envelope) serialised with
    /// [`to_padded_bytes`](crate::envelope::Envelope::to_padded_bytes) always fits.
    #[error("plaintext of {len} octets exceeds the {max}-octet Web Push limit")]
    PlaintextTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A record size below 18 (RFC 8188 section 2.1).
    #[error("record size {rs} is below the minimum of 18")]
    InvalidRecordSize {
        /// The record size asked for.
        rs: u32,
    },
    /// A key id longer than the 255 octets its one-octet length can count.
    #[error("key id of {len} octets does not fit the one-octet length")]
    KeyIdTooLong {
        /// Its length.
        len: usize,
    },
    /// More records than a 96-bit sequence number can count, or more output than memory can
    /// hold.
    #[error("content too large to encrypt")]
    TooLarge,
    /// The ephemeral key: a bad scalar given to
    /// [`hazmat::encrypt_deterministic_with`](crate::hazmat::encrypt_deterministic_with), or
    /// an RNG so broken that 16 draws in a row gave no valid P-256 scalar.
    #[error("ephemeral key: {0}")]
    Key(#[from] KeyError),
    /// The crypto backend failed on valid input (an internal error of the library used).
    #[error("crypto backend failure")]
    Backend,
}

/// Why a JWT could not be read ([`JwtError::Malformed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MalformedJwt {
    /// Not three dot-separated parts.
    #[error("not three dot-separated parts")]
    NotThreeParts,
    /// Longer than the 8 KiB any VAPID token needs.
    #[error("token too long")]
    TooLong,
    /// A part is not base64url.
    #[error("a part is not base64url")]
    Base64,
    /// The header or claims are not a JSON object.
    #[error("header or claims are not a JSON object")]
    Json,
    /// A JSON object in the header or claims names a member twice. RFC 7515 section 4 and
    /// RFC 7519 section 4 let a parser reject such a JWT or keep the last value; keeping the
    /// last lets `{"alg":"none","alg":"ES256"}` mean different things to different parsers,
    /// so it is rejected.
    #[error("a JSON member name appears twice")]
    DuplicateMember,
    /// The signature is not 64 octets of `r || s` (RFC 7518 section 3.4).
    #[error("signature is not 64 octets")]
    SignatureLength,
    /// A claim has the wrong JSON type (`exp` not an integer, `aud` not a string, ...).
    #[error("a claim has the wrong JSON type")]
    ClaimType,
}

/// A token or `Authorization` value a push service must refuse ([`crate::jwt::verify`]): all
/// faults in data from outside.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum JwtError {
    /// The token is not a well-formed JWS compact serialisation.
    #[error("malformed JWT: {0}")]
    Malformed(#[from] MalformedJwt),
    /// The header's `alg` is not `ES256` (RFC 8292 section 2).
    #[error("unsupported JWT algorithm {alg:?}")]
    UnsupportedAlgorithm {
        /// The `alg` found (empty if absent or not a string).
        alg: String,
    },
    /// The header has a `crit` parameter: it names extensions the verifier must understand
    /// (RFC 7515 section 4.1.11), and this one understands none.
    #[error("JWT header marks {0:?} critical")]
    UnsupportedCritical(Vec<String>),
    /// The signature's `s` is in the upper half of the group order: the malleable twin
    /// `(r, n - s)` of a low-S signature. Refused unless
    /// [`Policy::with_high_s_allowed`](crate::jwt::Policy::with_high_s_allowed).
    #[error("ES256 signature is not in low-S form")]
    HighS,
    /// The signature does not verify under the given key.
    #[error("JWT signature does not verify")]
    BadSignature,
    /// A required claim (`aud`, `exp`) is absent.
    #[error("JWT lacks the {0:?} claim")]
    MissingClaim(&'static str),
    /// `exp` is not after `now`.
    #[error("JWT expired at {exp}, now is {now}")]
    Expired {
        /// The `exp` claim.
        exp: u64,
        /// The verifier's time, Unix seconds.
        now: u64,
    },
    /// `exp` is more than 24 hours after `now` (RFC 8292 section 2).
    #[error("JWT expiry {exp} is more than 24 h after {now}")]
    ExpiryTooFar {
        /// The `exp` claim.
        exp: u64,
        /// The verifier's time, Unix seconds.
        now: u64,
    },
    /// `aud` is not the audience the verifier expected.
    #[error("JWT audience {found:?} is not the expected one")]
    AudienceMismatch {
        /// The `aud` found.
        found: String,
    },
    /// The `Authorization` value is not `vapid t=..., k=...` (RFC 8292 section 3).
    #[error("Authorization is not a `vapid t=..., k=...` value")]
    MalformedAuthorization,
    /// The `k` parameter is not a P-256 public key.
    #[error("the k parameter: {0}")]
    Key(KeyError),
}

/// A VAPID token the caller asked for cannot be signed ([`crate::vapid`]). Caller misuse:
/// never caused by a peer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum VapidError {
    /// A token lifetime of more than 24 hours (RFC 8292 section 2).
    #[error("token lifetime of {seconds} s is more than 24 h")]
    LifetimeTooLong {
        /// The lifetime asked for, in whole seconds.
        seconds: u64,
    },
    /// A token lifetime under one second: `exp` is in whole seconds, so such a token would
    /// be expired when signed.
    #[error("token lifetime under one second")]
    LifetimeTooShort,
    /// An extra claim named `aud`, `exp` or `sub`, which the signer sets itself.
    #[error("claim {0:?} is set by the signer, not as an extra claim")]
    ReservedClaim(String),
    /// Two extra claims share a name.
    #[error("claim {0:?} given twice")]
    DuplicateClaim(String),
    /// The key was rejected by the backend, or signing failed.
    #[error("signing: {0}")]
    Key(#[from] KeyError),
}

/// XEP-0420 / XEP-0297 bytes that are not a valid envelope ([`crate::envelope`]): faults in
/// decrypted data from outside.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The bytes are not UTF-8.
    #[error("envelope is not UTF-8")]
    NotUtf8,
    /// The bytes are not one well-formed XML element.
    #[error("envelope is not well-formed XML: {0}")]
    Xml(#[from] minidom::Error),
    /// Something other than whitespace follows the root element: a second element, text, a
    /// comment, an invalid character.
    #[error("content follows the envelope's root element")]
    TrailingContent,
    /// The root is not `<envelope xmlns='urn:xmpp:sce:1'>`.
    #[error("root element is not an urn:xmpp:sce:1 envelope")]
    NotEnvelope,
    /// No `<content/>` child, or more than one.
    #[error("envelope must have exactly one <content/>")]
    Content,
    /// `<content/>` does not hold exactly one XEP-0297 `<forwarded/>`.
    #[error("<content/> must hold exactly one urn:xmpp:forward:0 <forwarded/>")]
    NotForwarded,
    /// The `<forwarded/>` element did not parse as XEP-0297 with a message inside.
    #[error("invalid <forwarded/>: {0}")]
    Forwarded(#[source] xmpp_parsers::FromElementError),
    /// An affix (`time`, `to`, `from`, `rpad`) is repeated or its attribute is missing or
    /// invalid.
    #[error("invalid or repeated <{0}/> affix")]
    Affix(&'static str),
    /// More than [`crate::envelope::MAX_ENVELOPE_LEN`] octets.
    #[error("envelope of {len} octets exceeds the limit")]
    TooLong {
        /// The length given.
        len: usize,
    },
    /// Elements nested deeper than [`crate::envelope::MAX_DEPTH`].
    #[error("envelope nests elements deeper than {max}")]
    TooDeep {
        /// The limit.
        max: usize,
    },
}

/// An envelope the caller built cannot be serialised as asked ([`crate::envelope`]). Caller
/// misuse or a stanza too large for the bound: never caused by a peer.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EnvelopeWriteError {
    /// A text or attribute value holds a character XML 1.0 cannot carry (outside the `Char`
    /// production, e.g. U+0001).
    #[error("character {0:?} cannot be written in XML")]
    UnwritableChar(char),
    /// The envelope is longer than the bound even without padding. The push2 seed lets a
    /// server shorten the stanza (drop payloads, truncate the body) and try again; `len -
    /// limit` octets must go.
    #[error("envelope of {len} octets does not fit the {limit}-octet bound")]
    DoesNotFit {
        /// Its length without `<rpad/>`.
        len: usize,
        /// The bound of the [`Padding`](crate::envelope::Padding).
        limit: usize,
    },
    /// minidom's writer failed.
    #[error("writing XML: {0}")]
    Xml(#[from] minidom::Error),
}

/// Everything that can go wrong while a server builds one encrypted push notification: read
/// the client's keys and endpoint, wrap and pad the stanza, encrypt it, sign the VAPID token.
///
/// ```
/// # use rand_chacha::ChaCha20Rng;
/// # use rand_core::SeedableRng;
/// # use std::time::{Duration, SystemTime};
/// # use xmpp_parsers::{forwarding::Forwarded, message::Message};
/// use xmpp_push2_crypto::{
///     AuthSecret, Claims, EcPublicKey, Envelope, Now, NotifyError, Padding, TokenCache,
///     VapidKey, VapidToken,
/// };
///
/// fn notify(
///     rng: &mut impl rand_core::CryptoRng,
///     now: Now,
///     tokens: &mut TokenCache,
///     (ua_public, auth_secret, jwt_key, endpoint): (&str, &str, &str, &str),
///     forwarded: Forwarded,
/// ) -> Result<(Vec<u8>, VapidToken), NotifyError> {
///     let plaintext = Envelope::new(forwarded).to_padded_bytes(rng, Padding::fill())?;
///     let ua_public = EcPublicKey::from_base64(ua_public)?;
///     let auth_secret = AuthSecret::from_base64(auth_secret)?;
///     let body = xmpp_push2_crypto::encrypt(rng, &ua_public, &auth_secret, &plaintext)?;
///     let claims = Claims::for_endpoint(endpoint)?.with_sub("xmpp:capulet.lit");
///     let token = tokens.token(now, &VapidKey::from_push2(jwt_key)?, &claims)?;
///     Ok((body, token))
/// }
/// # let mut rng = ChaCha20Rng::seed_from_u64(1);
/// # let device = xmpp_push2_crypto::UaKeys::generate(&mut rng).unwrap();
/// # let key = VapidKey::generate(&mut rng).unwrap().to_push2().unwrap();
/// # let now = Now::new(Default::default(), SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 30));
/// # let forwarded = Forwarded { delay: None, message: Message::new(None) };
/// # let (ua, auth) = (device.public_key().to_base64(), device.auth_secret.to_base64());
/// # let (body, _) = notify(&mut rng, now, &mut TokenCache::new(), (&ua, &auth, &key, "https://push.example/x"), forwarded).unwrap();
/// # assert_eq!(body.len(), 4096);
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The client's `ua-public`, `auth-secret` or `jwt-key` did not parse.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The client's endpoint has no origin to use as `aud`.
    #[error(transparent)]
    Origin(#[from] OriginError),
    /// The envelope could not be serialised within the bound.
    #[error(transparent)]
    Envelope(#[from] EnvelopeWriteError),
    /// The plaintext could not be encrypted.
    #[error(transparent)]
    Encrypt(#[from] EncryptError),
    /// The VAPID token could not be signed.
    #[error(transparent)]
    Vapid(#[from] VapidError),
}

impl From<Base64Error> for NotifyError {
    fn from(error: Base64Error) -> Self {
        Self::Key(KeyError::Base64(error))
    }
}
