//! The bounds every read of peer or store XML is held to.

/// How much XML one stream (or one [`parse_element`](super::parse_element) call) may make us
/// hold. Exceeding a bound is a typed, fatal [`FramingError`](crate::FramingError) answered
/// with `policy-violation` (or `restricted-xml` for an over-long token), never unbounded
/// memory or a deep recursion.
///
/// ```
/// use xmpp_tether_core::framing::Limits;
///
/// let limits = Limits::default().with_max_element_bytes(64 * 1024);
/// assert_eq!(limits.max_element_bytes, 65_536);
/// assert_eq!(limits.max_depth, Limits::DEFAULT.max_depth);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Limits {
    /// The deepest nesting of a top-level element, the element itself counting as 1 (the
    /// stream element around it does not count). Default 64: real stanzas stay below 20
    /// even with forwarded carbons inside MAM results inside PubSub payloads.
    ///
    /// The parser itself never recurses, but minidom drops, compares and serialises an
    /// [`Element`](minidom::Element) recursively, so this bound is what keeps a hostile
    /// element from overflowing the stack. At the default an element is dropped safely on a
    /// 256 KiB thread stack; raise it only with that in mind.
    pub max_depth: usize,
    /// The largest top-level element (a stanza or nonza), counted in bytes of input from
    /// its `<` to the end of its closing tag. Default 256 KiB, Prosody's default
    /// `c2s_stanza_size_limit`. Whitespace keepalives between elements do not count.
    pub max_element_bytes: usize,
    /// The largest stream header, counted from the first byte of the stream (the XML
    /// declaration included) to the `>` that ends the `<stream:stream>` tag. Default 8 KiB:
    /// a header with two maximal JIDs (3071 bytes each, RFC 7622 §3.1) still fits.
    pub max_header_bytes: usize,
    /// The longest single name or attribute value; longer text is not refused but read in
    /// pieces. Default 8 KiB. rxml's lexer reserves a buffer of this size for each parser,
    /// so it is also the per-stream memory floor: keep it small.
    pub max_token_bytes: usize,
}

impl Limits {
    /// The defaults, as a constant (see each field).
    pub const DEFAULT: Self = Self {
        max_depth: 64,
        max_element_bytes: 256 * 1024,
        max_header_bytes: 8 * 1024,
        max_token_bytes: 8 * 1024,
    };

    /// Sets [`max_depth`](Self::max_depth).
    #[must_use]
    pub const fn with_max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }

    /// Sets [`max_element_bytes`](Self::max_element_bytes).
    #[must_use]
    pub const fn with_max_element_bytes(mut self, max_element_bytes: usize) -> Self {
        self.max_element_bytes = max_element_bytes;
        self
    }

    /// Sets [`max_header_bytes`](Self::max_header_bytes).
    #[must_use]
    pub const fn with_max_header_bytes(mut self, max_header_bytes: usize) -> Self {
        self.max_header_bytes = max_header_bytes;
        self
    }

    /// Sets [`max_token_bytes`](Self::max_token_bytes).
    #[must_use]
    pub const fn with_max_token_bytes(mut self, max_token_bytes: usize) -> Self {
        self.max_token_bytes = max_token_bytes;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
