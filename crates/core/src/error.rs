//! Every error of the crate, in one place: what a peer (or a store) did wrong while we read an
//! XML stream or a persisted element ([`FramingError`], each with the stream error to answer
//! with), and what cannot be written as XML ([`WriteError`], always the caller's element).

use minidom::rxml;
use xmpp_parsers::stream_error::{DefinedCondition, StreamError};

/// Why bytes could not be framed into a stream header, elements and a stream end.
///
/// Every variant is a fault of whoever produced the bytes, and every one is fatal: the
/// [`StreamParser`](crate::framing::StreamParser) stays failed and returns the same error
/// from every later [`poll`](crate::framing::StreamParser::poll). Answer with
/// [`stream_error`](Self::stream_error), then close the stream (RFC 6120 §4.9.1.1).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// The bytes are not well-formed, namespace-well-formed or restricted XML (RFC 6120
    /// §11): a syntax error, a duplicate attribute, an undeclared prefix, invalid UTF-8, a
    /// comment, processing instruction or DTD, or a name or attribute value longer than
    /// [`Limits::max_token_bytes`](crate::framing::Limits::max_token_bytes).
    /// [`condition`](Self::condition) picks the most specific stream error condition.
    #[error("malformed XML: {0}")]
    Xml(rxml::Error),
    /// The root element is not a stream header at all (for example an HTML page, or the
    /// RFC 7395 WebSocket `<open/>` sent over TCP). `bad-format`.
    #[error("not an XMPP stream: the root element is {{{ns}}}{name}")]
    NotAStream {
        /// The root element's local name.
        name: String,
        /// The root element's namespace.
        ns: String,
    },
    /// The root element is a `<stream/>` in a namespace other than
    /// `http://etherx.jabber.org/streams` (RFC 6120 §4.8.1). `invalid-namespace`.
    #[error("the stream header is in namespace {ns:?}, not the streams namespace")]
    StreamNamespace {
        /// The namespace the header used.
        ns: String,
    },
    /// The stream header declares a default (content) namespace other than `jabber:client`,
    /// `jabber:server` or `jabber:component:accept` (RFC 6120 §4.8.2, §4.9.3.10).
    /// `invalid-namespace`.
    #[error("unsupported content namespace {ns:?}")]
    ContentNamespace {
        /// The declared default namespace.
        ns: String,
    },
    /// Character data other than whitespace directly inside the stream element, between
    /// top-level elements (only whitespace keepalives may appear there, RFC 6120 §4.6.1).
    /// `bad-format`.
    #[error("text outside any element at the top level of the stream")]
    TopLevelText,
    /// An element nests deeper than [`Limits::max_depth`](crate::framing::Limits::max_depth)
    /// (the top-level element counts as depth 1). `policy-violation`.
    #[error("elements nest deeper than {max}")]
    TooDeep {
        /// The configured limit.
        max: usize,
    },
    /// A top-level element is larger than
    /// [`Limits::max_element_bytes`](crate::framing::Limits::max_element_bytes).
    /// `policy-violation`.
    #[error("an element is larger than {max} bytes")]
    ElementTooLarge {
        /// The configured limit.
        max: usize,
    },
    /// The stream header (with the XML declaration before it) is larger than
    /// [`Limits::max_header_bytes`](crate::framing::Limits::max_header_bytes).
    /// `policy-violation`.
    #[error("the stream header is larger than {max} bytes")]
    HeaderTooLarge {
        /// The configured limit.
        max: usize,
    },
}

impl FramingError {
    /// Whether the stream is over. Always true: every framing error is fatal, so a read loop
    /// keyed on it ends.
    #[must_use]
    pub const fn is_fatal(&self) -> bool {
        true
    }

    /// The stream error condition to answer with (RFC 6120 §4.9.3).
    #[must_use]
    pub const fn condition(&self) -> DefinedCondition {
        match self {
            Self::Xml(e) => xml_condition(e),
            Self::NotAStream { .. } | Self::TopLevelText => DefinedCondition::BadFormat,
            Self::StreamNamespace { .. } | Self::ContentNamespace { .. } => {
                DefinedCondition::InvalidNamespace
            }
            Self::TooDeep { .. } | Self::ElementTooLarge { .. } | Self::HeaderTooLarge { .. } => {
                DefinedCondition::PolicyViolation
            }
        }
    }

    /// The `<stream:error/>` to write before closing the stream: [`condition`](Self::condition)
    /// with this error's description as its English text.
    #[must_use]
    pub fn stream_error(&self) -> StreamError {
        StreamError::new(self.condition(), "en", self.to_string())
    }
}

/// The most specific condition for an rxml error: RFC 6120 §4.9.3 recommends the specific
/// XML conditions over `bad-format`.
const fn xml_condition(error: &rxml::Error) -> DefinedCondition {
    match error {
        // §4.9.3.22: "improperly encoded the stream (e.g., by violating the rules of UTF-8)".
        rxml::Error::InvalidUtf8Byte(_) => DefinedCondition::UnsupportedEncoding,
        // §4.9.3.2 and §11.2.
        rxml::Error::UndeclaredNamespacePrefix(_)
        | rxml::Error::ReservedNamespacePrefix
        | rxml::Error::ReservedNamespaceName
        | rxml::Error::EmptyNamespaceUri => DefinedCondition::BadNamespacePrefix,
        // §4.9.3.18 and §11.1: comments, processing instructions, DTDs, entity declarations.
        rxml::Error::RestrictedXml(_) => DefinedCondition::RestrictedXml,
        _ => DefinedCondition::NotWellFormed,
    }
}

/// Why an element cannot be written as XML. Elements read by a
/// [`StreamParser`](crate::framing::StreamParser) or
/// [`parse_element`](crate::framing::parse_element) never cause one; an element built by hand
/// with a name that is not an XML name, or text holding a character XML 1.0 forbids (such as
/// U+0000), does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// An element name that is not an XML NCName (empty, with a colon or a space, ...).
    #[error("{name:?} is not a valid XML element name")]
    InvalidName {
        /// The offending name.
        name: String,
    },
    /// An attribute named `xmlns` or in the `xmlns` namespace: namespace declarations are
    /// written from the elements' namespaces, never set as attributes (one would change what
    /// the element means, or make it not namespace-well-formed).
    #[error("attribute {name:?} on element {element:?} would be a namespace declaration")]
    ReservedAttribute {
        /// The attribute's local name.
        name: String,
        /// The element that holds it.
        element: String,
    },
    /// Text, an attribute value or a namespace name holds a character that XML 1.0 cannot
    /// carry, even escaped (C0 controls other than tab, newline and carriage return; U+FFFE;
    /// U+FFFF).
    #[error("U+{:04X} cannot appear in XML (in element {element:?})", u32::from(*character))]
    InvalidChar {
        /// The offending character.
        character: char,
        /// The element that holds it.
        element: String,
    },
}
