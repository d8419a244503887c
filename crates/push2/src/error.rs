//! Every error of the crate, in one place.
//!
//! - **Peer faults**, each naming the stanza error to answer with ([`EnableError::condition`],
//!   [`NotificationError::condition`]): what a client's `<enable/>` did wrong on the user's
//!   server, what a user's server's `<notification/>` did wrong at the push service. The
//!   machine has already queued the answer; the error only classifies. [`ParseError`] is what
//!   both wrap when an element does not parse.
//! - **[`Refused<T>`]**: [`Registry::enable`](crate::Registry::enable), the command behind the
//!   enable iq, hands the [`Enable`](crate::Enable) back with the reason.
//! - **[`BuildError`]**: a notification the user's server could not build (reported in
//!   [`Event::NotBuilt`](crate::Event::NotBuilt), never returned).
//! - **[`RestoreError`]**: persisted state that does not hold together.
//! - **[`OpenError`]** and **[`RequestError`]**: a client that cannot open a notification, a
//!   push service that cannot turn one into a Web Push request.
//!
//! No caller misuse is possible: every command accepts every input.

use jid::{BareJid, Jid};
use minidom::Element;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};
use xmpp_push2_crypto::error::{
    DecryptError, EnvelopeError, KeyError, NotifyError, OriginError, VapidError,
};

/// A Push 2.0 element that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Not the element this parser reads (another name or namespace): "not ours", never a
    /// fault.
    #[error("not a <{expected}/> element")]
    Mismatch {
        /// The element expected.
        expected: &'static str,
    },
    /// A required child is missing (`<service/>` or `<client/>` of `<enable/>`, `<send/>` of
    /// `<match/>`, `<client/>` of `<notification/>`, ...).
    #[error("<{element}/> lacks its <{child}/>")]
    MissingChild {
        /// The parent.
        element: &'static str,
        /// The child.
        child: &'static str,
    },
    /// A child that may appear once appears twice.
    #[error("<{element}/> has more than one <{child}/>")]
    Repeated {
        /// The parent.
        element: &'static str,
        /// The child.
        child: &'static str,
    },
    /// A required attribute is missing (`profile` of `<match/>`, `jid` of `<filter/>`, `name`
    /// of `<jwt-claim/>`, `key` of `<jwt/>`).
    #[error("<{element}/> lacks its '{attribute}' attribute")]
    MissingAttribute {
        /// The element.
        element: &'static str,
        /// The attribute.
        attribute: &'static str,
    },
    /// A JID that does not parse (RFC 7622).
    #[error("<{element}/> carries an invalid JID {value:?}")]
    InvalidJid {
        /// Where it was.
        element: &'static str,
        /// The text received.
        value: String,
    },
    /// A text child that must not be empty is (`<client/>`, `<ua-public/>`, ...).
    #[error("<{element}/> is empty")]
    Empty {
        /// The element.
        element: &'static str,
    },
    /// `<enable/>` without any `<match/>`.
    #[error("<enable/> has no <match/>")]
    NoMatch,
    /// A `<grace/>` that is not a whole number of seconds.
    #[error("<grace/> is not a number of seconds: {value:?}")]
    InvalidGrace {
        /// The text received.
        value: String,
    },
    /// A `<priority/>` other than `high`, `normal` or `low`.
    #[error("unknown priority {value:?}")]
    InvalidPriority {
        /// The text received.
        value: String,
    },
    /// A `<payload/>` that is not base64.
    #[error("<payload/> is not base64")]
    InvalidPayload,
    /// A `<jwt key=''/>` that is not a base64 P-256 public key.
    #[error("<jwt/> key: {0}")]
    InvalidJwtKey(KeyError),
}

impl ParseError {
    /// The stanza error condition to answer a request that failed to parse with.
    #[must_use]
    pub const fn condition(&self) -> DefinedCondition {
        DefinedCondition::BadRequest
    }
}

/// What an `<enable/>` or `<disable/>` to the user's server did wrong. The
/// [`Registry`](crate::Registry) has already queued the error reply (an iq error, or a
/// `<failed/>` inside Bind2 `<bound/>`); this only classifies.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EnableError {
    /// The element does not parse; a missing `<service/>` or `<client/>` is here:
    /// `bad-request`.
    #[error("malformed push2 command: {0}")]
    Malformed(#[from] ParseError),
    /// A command in an iq that is not of type `set`: `bad-request`.
    #[error("push2 commands are iq-set only")]
    NotSet,
    /// The iq is addressed to another account than the sender's: `forbidden`.
    #[error("{from} may not change the push registrations of {to}")]
    Forbidden {
        /// Who sent it.
        from: Jid,
        /// Whom it was addressed to.
        to: Jid,
    },
    /// The push service named is the user's own JID: `bad-request`.
    #[error("the push service JID is the account's own")]
    OwnJid,
    /// A `<match/>` whose `<send/>` profile this server does not implement: `bad-request`.
    /// The element is kept as it came, for the log.
    #[error("no usable send profile: {namespace}")]
    UnsupportedSend {
        /// The `<send/>` element's namespace.
        namespace: String,
        /// The element as it came.
        element: Box<Element>,
    },
    /// A match profile neither this crate nor the caller's
    /// [`CustomProfiles`](crate::CustomProfiles) implements: `feature-not-implemented`.
    #[error("unsupported match profile {profile:?}")]
    UnsupportedMatch {
        /// The profile URI.
        profile: String,
    },
    /// `ua-public`, `auth-secret` or `jwt-key` does not parse: `not-acceptable`.
    #[error("<{field}/>: {error}")]
    InvalidKey {
        /// The field.
        field: &'static str,
        /// Why.
        error: KeyError,
    },
    /// A `jwt-alg` other than `ES256` (RFC 8292 section 2): `feature-not-implemented`.
    #[error("unsupported JWT algorithm {alg:?}")]
    UnsupportedJwtAlg {
        /// The algorithm named.
        alg: String,
    },
    /// `jwt-alg` without `jwt-key`: `bad-request`.
    #[error("<jwt-alg/> without <jwt-key/>")]
    MissingJwtKey,
    /// A `jwt-claim` the signer cannot carry (`iat`, `nbf`, a name given twice): `bad-request`.
    #[error("jwt-claim: {0}")]
    InvalidClaim(VapidError),
    /// No `aud` claim was given and `<client/>` is not an http(s) URL whose origin could be
    /// one: `not-acceptable`.
    #[error("no aud claim, and <client/> has no origin: {0}")]
    NoAudience(OriginError),
    /// More matches, filters, claims or text than the configured limits: `not-acceptable`.
    #[error("{what} exceeds the limit of {limit}")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
}

impl EnableError {
    /// The condition of the error reply.
    #[must_use]
    pub const fn condition(&self) -> DefinedCondition {
        match self {
            Self::Malformed(e) => e.condition(),
            Self::NotSet
            | Self::OwnJid
            | Self::UnsupportedSend { .. }
            | Self::MissingJwtKey
            | Self::InvalidClaim(_) => DefinedCondition::BadRequest,
            Self::Forbidden { .. } => DefinedCondition::Forbidden,
            Self::UnsupportedMatch { .. } | Self::UnsupportedJwtAlg { .. } => {
                DefinedCondition::FeatureNotImplemented
            }
            Self::InvalidKey { .. } | Self::NoAudience(_) | Self::TooLarge { .. } => {
                DefinedCondition::NotAcceptable
            }
        }
    }

    /// The type of the error reply (RFC 6120 §8.3.2).
    #[must_use]
    pub const fn error_type(&self) -> ErrorType {
        match self {
            Self::Forbidden { .. } => ErrorType::Auth,
            Self::UnsupportedMatch { .. } | Self::UnsupportedJwtAlg { .. } => ErrorType::Cancel,
            _ => ErrorType::Modify,
        }
    }

    /// The stanza error to answer with.
    #[must_use]
    pub fn to_stanza_error(&self) -> StanzaError {
        StanzaError::new(self.error_type(), self.condition(), "en", self.to_string())
    }
}

/// A command that could not keep the value it was given hands it back, with the reason (like
/// `std::sync::mpsc::SendError<T>`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("refused: {reason}")]
#[non_exhaustive]
pub struct Refused<T> {
    /// Why.
    pub reason: EnableError,
    /// What was given.
    pub value: T,
}

impl<T> Refused<T> {
    /// The value handed back.
    pub fn into_inner(self) -> T {
        self.value
    }
}

/// A notification the user's server could not build (reported in
/// [`Event::NotBuilt`](crate::Event::NotBuilt)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Even the smallest form of the stanza (its MAM id alone) exceeds the size budget.
    #[error("the minimal envelope of {len} octets exceeds the budget of {limit}")]
    DoesNotFit {
        /// Its length.
        len: usize,
        /// The budget.
        limit: usize,
    },
    /// Padding, encryption or the VAPID token failed.
    #[error(transparent)]
    Crypto(#[from] NotifyError),
}

/// State read back from a store that does not hold together. Read-back state is input:
/// nothing in it is trusted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// A stored `<enable/>` that is not XML within the bounds.
    #[error("{account}: stored registration is not a bounded XML element")]
    NotXml {
        /// The account.
        account: BareJid,
    },
    /// A stored `<enable/>` this registry would refuse from a client.
    #[error("{account}: stored registration refused: {error}")]
    Refused {
        /// The account.
        account: BareJid,
        /// Why.
        error: EnableError,
    },
    /// The same registration key twice in one account.
    #[error("{account}: registration {key} appears twice")]
    DuplicateKey {
        /// The account.
        account: BareJid,
        /// The key.
        key: String,
    },
    /// The same account twice.
    #[error("{account} appears twice")]
    DuplicateAccount {
        /// The account.
        account: BareJid,
    },
    /// An account holds more registrations than the per-account bound.
    #[error("{account} holds {count} registrations, above the bound of {limit}")]
    TooManyForAccount {
        /// The account.
        account: BareJid,
        /// How many.
        count: usize,
        /// The bound.
        limit: usize,
    },
    /// More registrations in all than the global bound.
    #[error("{count} registrations in total, above the bound of {limit}")]
    TooMany {
        /// How many.
        count: usize,
        /// The bound.
        limit: usize,
    },
}

/// A notification a client or device cannot open.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The notification carries no `<encrypted/>` payload (notify-only).
    #[error("the notification carries no payload")]
    NoPayload,
    /// RFC 8291 decryption failed (wrong keys, altered data).
    #[error(transparent)]
    Decrypt(#[from] DecryptError),
    /// The plaintext is not a XEP-0420 envelope around a forwarded message.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
}

/// What a user's server's `<notification/>` did wrong at the push service. The
/// [`PushService`](crate::PushService) has already queued the error reply; this only
/// classifies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotificationError {
    /// The notification does not parse: `bad-request`.
    #[error("malformed notification: {0}")]
    Malformed(#[from] ParseError),
    /// The request could not be made from it: see [`RequestError`].
    #[error(transparent)]
    Request(#[from] RequestError),
    /// Too many requests are in flight: `wait` / `resource-constraint` (the user's server
    /// retries).
    #[error("{limit} requests in flight")]
    Busy {
        /// The bound.
        limit: usize,
    },
}

impl NotificationError {
    /// The condition of the error reply.
    #[must_use]
    pub const fn condition(&self) -> DefinedCondition {
        match self {
            Self::Malformed(e) => e.condition(),
            Self::Request(e) => e.condition(),
            Self::Busy { .. } => DefinedCondition::ResourceConstraint,
        }
    }

    /// The type of the error reply.
    #[must_use]
    pub const fn error_type(&self) -> ErrorType {
        match self {
            Self::Malformed(_) => ErrorType::Modify,
            Self::Request(e) => e.error_type(),
            Self::Busy { .. } => ErrorType::Wait,
        }
    }

    /// The stanza error to answer with.
    #[must_use]
    pub fn to_stanza_error(&self) -> StanzaError {
        StanzaError::new(self.error_type(), self.condition(), "en", self.to_string())
    }
}

/// A notification that cannot become a Web Push request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// `<client/>` is not an http(s) URL: `item-not-found` (no such push resource).
    #[error("<client/> is not a push resource URL: {client:?}")]
    NotAnEndpoint {
        /// The `<client/>` text.
        client: String,
    },
    /// The payload exceeds what one Web Push message carries (RFC 8030 section 7.2, 4096
    /// octets): `not-acceptable`.
    #[error("payload of {len} octets exceeds {max}")]
    PayloadTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl RequestError {
    /// The condition of the error reply.
    #[must_use]
    pub const fn condition(&self) -> DefinedCondition {
        match self {
            Self::NotAnEndpoint { .. } => DefinedCondition::ItemNotFound,
            Self::PayloadTooLarge { .. } => DefinedCondition::NotAcceptable,
        }
    }

    /// The type of the error reply.
    #[must_use]
    pub const fn error_type(&self) -> ErrorType {
        match self {
            Self::NotAnEndpoint { .. } => ErrorType::Cancel,
            Self::PayloadTooLarge { .. } => ErrorType::Modify,
        }
    }
}
