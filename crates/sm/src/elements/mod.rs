//! Typed XEP-0198 elements in all three dialects, parsed from and serialised to
//! [`minidom::Element`].
//!
//! Every element carries its [`Namespace`], so a server can answer in the namespace its peer
//! used. xmpp-parsers models the `urn:xmpp:sm:3` elements only; conversions to and from its
//! types are provided ([`crate::elements::Nonza`] `From`/`TryFrom` `xmpp_parsers::sm::Nonza`),
//! and its stanza-error [`DefinedCondition`] and [`StreamError`] are used as they are.
//!
//! Parsing is lenient where the spec allows extension (unknown attributes and children are
//! ignored) and strict where a value matters (`h`, `u`, `max`, booleans, ids).

mod build;
pub mod inline;
mod parse;

use minidom::Element;
use xmpp_parsers::stanza_error::DefinedCondition;
use xmpp_parsers::stream_error::{self, StreamError};

pub use self::parse::{ParseError, features_of};
use crate::ns::Namespace;

/// The longest SM-ID we accept (XEP-0198 §5: "SHOULD NOT be longer than 4000 bytes").
pub const MAX_ID_LEN: usize = 4000;

/// A stream management identifier (SM-ID): opaque to clients, made by the server.
///
/// Never empty and at most [`MAX_ID_LEN`] bytes; parsing rejects anything else.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "String", into = "String"))]
pub struct SmId(pub(crate) String);

impl SmId {
    /// Wraps an identifier, checking its length.
    ///
    /// # Errors
    /// [`ParseError::InvalidId`] if it is empty or longer than [`MAX_ID_LEN`] bytes.
    pub fn new(id: impl Into<String>) -> Result<Self, ParseError> {
        let id = id.into();
        if id.is_empty() || id.len() > MAX_ID_LEN {
            return Err(ParseError::InvalidId { len: id.len() });
        }
        Ok(Self(id))
    }

    /// The identifier as sent on the wire.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl SmId {
    /// SM-IDs carry this many random bytes (128 bits; XEP-0198 §5 asks for unguessable ids).
    const RANDOM_BYTES: usize = 16;

    /// A fresh SM-ID: 128 bits from the caller's CSPRNG, hex-encoded.
    pub(crate) fn random(rng: &mut impl rand_core::CryptoRng) -> Self {
        let mut bytes = [0u8; Self::RANDOM_BYTES];
        rng.fill_bytes(&mut bytes);
        let mut hex = String::with_capacity(2 * Self::RANDOM_BYTES);
        for b in bytes {
            hex.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            hex.push(char::from(b"0123456789abcdef"[usize::from(b & 0x0f)]));
        }
        Self(hex)
    }
}

impl std::fmt::Debug for SmId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SmId({:?})", self.0)
    }
}

impl std::fmt::Display for SmId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for SmId {
    type Error = ParseError;
    fn try_from(id: String) -> Result<Self, ParseError> {
        Self::new(id)
    }
}

impl From<SmId> for String {
    fn from(id: SmId) -> Self {
        id.0
    }
}

/// The `<sm/>` stream feature.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Feature {
    /// The dialect offered.
    pub ns: Namespace,
    /// `<optional/>` child: undocumented in current XEP-0198 but sent by Prosody and the seed.
    pub optional: bool,
    /// sm:1 only: longest allowable resumption time in seconds.
    pub max: Option<u32>,
    /// sm:1 only: the server's preferred maximum number of stanzas between acks.
    pub stanzas: Option<u32>,
}

impl Feature {
    /// A plain feature in `ns`.
    #[must_use]
    pub const fn new(ns: Namespace) -> Self {
        Self {
            ns,
            optional: false,
            max: None,
            stanzas: None,
        }
    }
}

/// `<enable/>`: the initiating entity asks to enable stream management.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Enable {
    /// The dialect.
    pub ns: Namespace,
    /// Whether the client wants the stream to be resumable.
    pub resume: bool,
    /// The client's preferred resumption time in seconds.
    pub max: Option<u32>,
}

impl Enable {
    /// `<enable/>` without resumption.
    #[must_use]
    pub const fn new(ns: Namespace) -> Self {
        Self {
            ns,
            resume: false,
            max: None,
        }
    }

    /// Asks for resumption.
    #[must_use]
    pub const fn with_resume(mut self) -> Self {
        self.resume = true;
        self
    }

    /// Sets the preferred resumption time in seconds.
    #[must_use]
    pub const fn with_max(mut self, max: u32) -> Self {
        self.max = Some(max);
        self
    }
}

/// `<enabled/>`: the receiving entity enabled stream management.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Enabled {
    /// The dialect.
    pub ns: Namespace,
    /// The SM-ID, present when resumption is allowed.
    pub id: Option<SmId>,
    /// Whether the stream can be resumed.
    pub resume: bool,
    /// The server's resumption timeout in seconds.
    pub max: Option<u32>,
    /// Where to reconnect for resumption (`IP`, `domain`, `IP:port` or `domain:port`).
    pub location: Option<String>,
}

impl Enabled {
    /// `<enabled/>` without resumption.
    #[must_use]
    pub const fn new(ns: Namespace) -> Self {
        Self {
            ns,
            id: None,
            resume: false,
            max: None,
            location: None,
        }
    }

    /// Allows resumption with this SM-ID.
    #[must_use]
    pub fn with_resume(mut self, id: SmId) -> Self {
        self.id = Some(id);
        self.resume = true;
        self
    }

    /// Sets the resumption timeout in seconds.
    #[must_use]
    pub const fn with_max(mut self, max: u32) -> Self {
        self.max = Some(max);
        self
    }

    /// Sets the preferred reconnection location.
    #[must_use]
    pub fn with_location(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }
}

/// `<resume/>`: the initiating entity asks to resume a former stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resume {
    /// The dialect.
    pub ns: Namespace,
    /// The SM-ID of the former stream.
    pub previd: SmId,
    /// Stanzas handled from the former stream. Required in sm:2 and sm:3; sm:1 says
    /// "SHOULD include", so it may be absent there.
    pub h: Option<u32>,
}

impl Resume {
    /// `<resume previd h/>`.
    #[must_use]
    pub const fn new(ns: Namespace, previd: SmId, h: Option<u32>) -> Self {
        Self { ns, previd, h }
    }
}

/// `<resumed/>`: the receiving entity resumed the former stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resumed {
    /// The dialect.
    pub ns: Namespace,
    /// The SM-ID of the former stream.
    pub previd: SmId,
    /// Stanzas handled from the former stream. Required in sm:2 and sm:3; optional in sm:1.
    pub h: Option<u32>,
}

impl Resumed {
    /// `<resumed previd h/>`.
    #[must_use]
    pub const fn new(ns: Namespace, previd: SmId, h: Option<u32>) -> Self {
        Self { ns, previd, h }
    }
}

/// `<failed/>`: enabling or resuming failed (or, in sm:1, any SM error).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Failed {
    /// The dialect.
    pub ns: Namespace,
    /// On a failed resume, the stanzas the server had handled from the former stream, if
    /// it still knows (XEP-0198 1.6 §5).
    pub h: Option<u32>,
    /// The stanza error condition (RFC 6120 §8.3.3).
    pub condition: Option<DefinedCondition>,
    /// Human-readable text (`<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>`).
    pub text: Option<String>,
}

impl Failed {
    /// `<failed/>` with a condition.
    #[must_use]
    pub const fn new(ns: Namespace, condition: DefinedCondition) -> Self {
        Self {
            ns,
            h: None,
            condition: Some(condition),
            text: None,
        }
    }

    /// Adds the `h` of the former stream.
    #[must_use]
    pub const fn with_h(mut self, h: u32) -> Self {
        self.h = Some(h);
        self
    }

    /// Adds text.
    #[must_use]
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }
}

/// `<r/>`: a request for an acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Request {
    /// The dialect.
    pub ns: Namespace,
    /// sm:1 only (required there): the sequence number of the last stanza sent.
    pub u: Option<u32>,
    /// sm:1 only (optional there): an acknowledgement carried on the request.
    pub h: Option<u32>,
}

impl Request {
    /// A plain `<r/>`.
    #[must_use]
    pub const fn new(ns: Namespace) -> Self {
        Self {
            ns,
            u: None,
            h: None,
        }
    }

    /// sm:1: the sequence number of the last stanza sent.
    #[must_use]
    pub const fn with_u(mut self, u: u32) -> Self {
        self.u = Some(u);
        self
    }

    /// sm:1: an acknowledgement carried on the request.
    #[must_use]
    pub const fn with_h(mut self, h: u32) -> Self {
        self.h = Some(h);
        self
    }
}

/// `<a/>`: an acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ack {
    /// The dialect.
    pub ns: Namespace,
    /// Stanzas handled so far, modulo 2^32.
    pub h: u32,
    /// sm:1 only (optional): the sender's own last sequence number.
    pub u: Option<u32>,
}

impl Ack {
    /// `<a h/>`.
    #[must_use]
    pub const fn new(ns: Namespace, h: u32) -> Self {
        Self { ns, h, u: None }
    }

    /// sm:1: the sender's own last sequence number.
    #[must_use]
    pub const fn with_u(mut self, u: u32) -> Self {
        self.u = Some(u);
        self
    }
}

/// Any top-level XEP-0198 element (a "nonza": not a stanza, not counted).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Nonza {
    /// `<enable/>`.
    Enable(Enable),
    /// `<enabled/>`.
    Enabled(Enabled),
    /// `<resume/>`.
    Resume(Resume),
    /// `<resumed/>`.
    Resumed(Resumed),
    /// `<failed/>`.
    Failed(Failed),
    /// `<r/>`.
    Request(Request),
    /// `<a/>`.
    Ack(Ack),
}

impl Nonza {
    /// The dialect of the element.
    #[must_use]
    pub const fn ns(&self) -> Namespace {
        match self {
            Self::Enable(e) => e.ns,
            Self::Enabled(e) => e.ns,
            Self::Resume(e) => e.ns,
            Self::Resumed(e) => e.ns,
            Self::Failed(e) => e.ns,
            Self::Request(e) => e.ns,
            Self::Ack(e) => e.ns,
        }
    }

    /// The element's local name, for diagnostics.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Enable(_) => "enable",
            Self::Enabled(_) => "enabled",
            Self::Resume(_) => "resume",
            Self::Resumed(_) => "resumed",
            Self::Failed(_) => "failed",
            Self::Request(_) => "r",
            Self::Ack(_) => "a",
        }
    }
}

/// The `<handled-count-too-high/>` application condition (XEP-0198 1.6 §4), sent inside an
/// `undefined-condition` stream error when a peer acknowledges more than was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandledCountTooHigh {
    /// The dialect.
    pub ns: Namespace,
    /// The `h` the peer sent.
    pub h: u32,
    /// How many stanzas were in fact sent.
    pub send_count: u32,
}

impl HandledCountTooHigh {
    /// The condition for a peer that acknowledged `h` stanzas when `send_count` were sent.
    #[must_use]
    pub const fn new(ns: Namespace, h: u32, send_count: u32) -> Self {
        Self { ns, h, send_count }
    }

    /// The stream error to send: `undefined-condition` carrying this element.
    #[must_use]
    pub fn to_stream_error(&self) -> StreamError {
        StreamError::new(
            stream_error::DefinedCondition::UndefinedCondition,
            "en",
            format!(
                "You acknowledged {} stanza(s), while I only sent {} so far.",
                self.h, self.send_count
            ),
        )
        .with_application_specific(vec![Element::from(*self)])
    }
}

impl From<HandledCountTooHigh> for StreamError {
    fn from(e: HandledCountTooHigh) -> Self {
        e.to_stream_error()
    }
}

/// Whether `element` is a stanza that XEP-0198 counts: `<message/>`, `<presence/>` or `<iq/>`
/// in the `jabber:client` or `jabber:server` namespace (XEP-0198 §4: nonzas are not counted).
#[must_use]
pub fn is_stanza(element: &Element) -> bool {
    matches!(element.name(), "message" | "presence" | "iq")
        && (element.has_ns(crate::ns::JABBER_CLIENT) || element.has_ns(crate::ns::JABBER_SERVER))
}

#[cfg(test)]
mod tests;
