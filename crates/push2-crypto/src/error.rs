//! Errors, one enum per concern.
//!
//! Faults in data a peer sent (a ciphertext, a token, an XML envelope) and misuse by the caller
//! (an over-long plaintext, an expiry more than 24 h ahead) are different variants: peer data
//! can never produce a misuse variant.

use thiserror::Error;
use xmpp_parsers::minidom;

/// Base64 text that could not be decoded ([`crate::b64`]).
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

/// RFC 8188 `aes128gcm` content coding errors ([`crate::ece`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EceError {
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
    /// Caller misuse: a record size below 18 was asked for when encrypting.
    #[error("record size {rs} is below the minimum of 18")]
    InvalidRecordSize {
        /// The record size asked for.
        rs: u32,
    },
    /// Caller misuse: a key id longer than 255 octets.
    #[error("key id of {len} octets does not fit the one-octet length")]
    KeyIdTooLong {
        /// Its length.
        len: usize,
    },
    /// Caller misuse: more records than a 96-bit sequence number can count, or more output
    /// than memory can address.
    #[error("content too large to encrypt")]
    TooLarge,
    /// The crypto backend failed on valid input (an internal error of the library used).
    #[error("crypto backend failure")]
    Backend,
}

/// RFC 8291 Web Push message encryption errors ([`crate::webpush`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WebPushError {
    /// Caller misuse: the plaintext exceeds the 3993 octets one 4096-octet push message holds
    /// (RFC 8291 section 4).
    #[error("plaintext of {len} octets exceeds the {max}-octet Web Push limit")]
    PlaintextTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The header's key id is not a 65-octet uncompressed point (RFC 8291 section 4).
    #[error("the keyid is {len} octets, not a 65-octet sender public key")]
    KeyIdNotPublicKey {
        /// Its length.
        len: usize,
    },
    /// The sender's public key in the header is not a P-256 point.
    #[error("sender public key: {0}")]
    SenderKey(KeyError),
    /// ECDH with the peer's key failed.
    #[error("key agreement: {0}")]
    Key(#[from] KeyError),
    /// The content coding underneath failed.
    #[error(transparent)]
    Ece(#[from] EceError),
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
    /// The signature is not 64 octets of `r || s` (RFC 7518 section 3.4).
    #[error("signature is not 64 octets")]
    SignatureLength,
    /// A claim has the wrong JSON type (`exp` not an integer, `aud` not a string, ...).
    #[error("a claim has the wrong JSON type")]
    ClaimType,
}

/// JWT verification errors for push services ([`crate::jwt::verify`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum JwtError {
    /// The token is not a well-formed JWS compact serialisation.
    #[error("malformed JWT: {0}")]
    Malformed(#[from] MalformedJwt),
    /// The header's `alg` is not `ES256` (RFC 8292 section 2).
    #[error("unsupported JWT algorithm {alg:?}")]
    UnsupportedAlgorithm {
        /// The `alg` found (empty if absent).
        alg: String,
    },
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
        /// The time given.
        now: u64,
    },
    /// `exp` is more than 24 hours after `now` (RFC 8292 section 2).
    #[error("JWT expiry {exp} is more than 24 h after {now}")]
    ExpiryTooFar {
        /// The `exp` claim.
        exp: u64,
        /// The time given.
        now: u64,
    },
    /// `aud` is not the origin the push service expected.
    #[error("JWT audience {found:?} is not the expected one")]
    AudienceMismatch {
        /// The `aud` found.
        found: String,
    },
    /// The `Authorization` value is not `vapid t=..., k=...` (RFC 8292 section 3).
    #[error("not a `vapid t=..., k=...` authorization value")]
    MalformedAuthorization,
    /// The `k` parameter is not a P-256 public key.
    #[error("vapid k parameter: {0}")]
    Key(KeyError),
}

/// VAPID signing errors ([`crate::vapid::VapidSigner`], [`crate::vapid::TokenCache`]): caller
/// misuse, a backend failure, or an internal inconsistency.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum VapidError {
    /// `exp` is not after `now`.
    #[error("expiry {exp} is not after now ({now})")]
    ExpiryInPast {
        /// The expiry asked for.
        exp: u64,
        /// The time given.
        now: u64,
    },
    /// `exp` is more than 24 hours after `now` (RFC 8292 section 2: push services reject it).
    #[error("expiry {exp} is more than 24 h after now ({now})")]
    ExpiryTooFar {
        /// The expiry asked for.
        exp: u64,
        /// The time given.
        now: u64,
    },
    /// An extra claim reuses a name this crate sets itself (`aud`, `exp`, `sub`).
    #[error("claim {0:?} is set by the signer, not as an extra claim")]
    ReservedClaim(String),
    /// Two extra claims share a name.
    #[error("claim {0:?} given twice")]
    DuplicateClaim(String),
    /// The backend failed to sign.
    #[error("signing: {0}")]
    Key(#[from] KeyError),
    /// A bug in this crate: [`crate::vapid::TokenCache`] lost an entry it had just found.
    /// Never expected; reported rather than hidden behind a panic.
    #[error("internal error: the token cache lost an entry it had just found")]
    CacheInconsistent,
}

/// XEP-0420 envelope / XEP-0297 forwarding errors ([`crate::envelope`]).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The bytes are not UTF-8.
    #[error("envelope is not UTF-8")]
    NotUtf8,
    /// The bytes are not one well-formed XML element.
    #[error("envelope is not well-formed XML: {0}")]
    Xml(#[from] minidom::Error),
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
    /// An affix (`time`, `to`, `from`) is repeated or its attribute is missing or invalid.
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
    /// Caller misuse when serialising: a text or attribute value holds a character XML 1.0
    /// cannot carry (outside the `Char` production, e.g. U+0001).
    #[error("character {0:?} cannot be written in XML")]
    UnwritableChar(char),
}
