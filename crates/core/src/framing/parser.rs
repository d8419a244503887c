//! Reading: [`StreamParser`] (bytes in, events out) and [`parse_element`] (one stored
//! element).

use minidom::Element;
use minidom::rxml::error::EndOrError;
use minidom::rxml::{self, Event};

use super::reader::{Reader, Tree, is_xml_space};
use super::{Limits, StreamHeader};
use crate::error::FramingError;

/// One thing read from a stream.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StreamEvent {
    /// The peer's `<stream:stream>` header, once per stream: first on a connection, and again
    /// after each [`StreamParser::restart`].
    Header(StreamHeader),
    /// One complete top-level element: a stanza, a nonza (SASL, XEP-0198, ...), stream
    /// features or a `<stream:error/>`. Its namespace is resolved (an unqualified stanza is
    /// in the header's content namespace) and it carries no prefix declarations.
    Element(Element),
    /// The peer closed the stream with `</stream:stream>`, once. Nothing is read after it;
    /// later bytes are discarded.
    End,
}

/// What the parser expects next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The XML declaration and the stream header.
    Header,
    /// Top-level elements, whitespace, or the end of the stream.
    Content,
    /// `</stream:stream>` was read.
    Ended,
}

/// A sans-IO XMPP stream reader (RFC 6120 §4): feed it the bytes a transport delivered, in
/// any chunks, and poll it for the stream header, each top-level element and the stream end.
///
/// Methods, by kind:
/// - getters: [`limits`](Self::limits), [`header`](Self::header),
///   [`is_ended`](Self::is_ended), [`error`](Self::error), [`buffered`](Self::buffered).
/// - input: [`feed`](Self::feed) the bytes just read.
/// - commands: [`restart`](Self::restart) at a stream restart, and
///   [`take_unread`](Self::take_unread) when the transport changes under the stream (TLS).
/// - output: [`poll`](Self::poll) until it returns `Ok(None)`.
///
/// **After every `feed`, call `poll` until it returns `Ok(None)` or an error.** Every event
/// the bytes fed so far allow comes out without waiting for another byte, so a
/// request/response exchange never stalls on a closing tag held back.
///
/// Whitespace between top-level elements (keepalives, RFC 6120 §4.6.1) is skipped as soon as
/// it arrives and counts against no limit; so is whitespace before the XML declaration, as
/// a keepalive may straddle a restart. Any other error is fatal: the parser stays failed and
/// returns the same [`FramingError`] from every later `poll`; answer with
/// [`FramingError::stream_error`] and close the stream.
///
/// ```
/// use xmpp_tether_core::framing::{Limits, StreamEvent, StreamParser};
///
/// let mut parser = StreamParser::new(Limits::default());
/// parser.feed(b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
///     xmlns:stream='http://etherx.jabber.org/streams' to='im.example.com' version='1.0'>\
///     <iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></i");
/// let Some(StreamEvent::Header(header)) = parser.poll()? else { panic!("no header") };
/// assert_eq!(header.to.as_deref(), Some("im.example.com"));
/// assert_eq!(parser.poll()?, None); // the iq is not complete yet
///
/// parser.feed(b"q> </stream:stream>");
/// let Some(StreamEvent::Element(iq)) = parser.poll()? else { panic!("no iq") };
/// assert!(iq.is("iq", "jabber:client"));
/// assert_eq!(parser.poll()?, Some(StreamEvent::End));
/// assert_eq!(parser.poll()?, None);
/// # Ok::<(), xmpp_tether_core::FramingError>(())
/// ```
#[derive(Debug)]
pub struct StreamParser {
    limits: Limits,
    reader: Reader,
    tree: Tree,
    /// Bytes fed and not yet read; `buf[..pos]` is already consumed.
    buf: Vec<u8>,
    pos: usize,
    phase: Phase,
    /// Bytes the rxml parser consumed since the current header or top-level element began.
    used: usize,
    /// Between top-level elements (or before the stream): whitespace is ours to skip.
    at_gap: bool,
    header: Option<StreamHeader>,
    failed: Option<FramingError>,
}

/// Consumed bytes are moved out of the buffer once they are this many and more than half.
const COMPACT_AT: usize = 4096;

impl StreamParser {
    /// A parser at the start of a stream, enforcing `limits`.
    #[must_use]
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            reader: Reader::stream(&limits),
            tree: Tree::new(limits.max_depth),
            buf: Vec::new(),
            pos: 0,
            phase: Phase::Header,
            used: 0,
            at_gap: true,
            header: None,
            failed: None,
        }
    }

    /// The limits this parser enforces.
    #[must_use]
    pub const fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The current stream's header, once read (cleared by [`restart`](Self::restart)).
    #[must_use]
    pub const fn header(&self) -> Option<&StreamHeader> {
        self.header.as_ref()
    }

    /// Whether `</stream:stream>` has been read.
    #[must_use]
    pub fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// The fatal error the parser stopped at, if any.
    #[must_use]
    pub const fn error(&self) -> Option<&FramingError> {
        self.failed.as_ref()
    }

    /// How many bytes are fed but not yet read by the XML parser (partial input waiting for
    /// more, or input behind an event not yet polled).
    #[must_use]
    pub const fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Hands the parser bytes read from the transport. They are read by [`poll`](Self::poll);
    /// after the stream ended or failed they are discarded.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.failed.is_some() || self.phase == Phase::Ended {
            return;
        }
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos >= COMPACT_AT && self.pos * 2 >= self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Takes the bytes fed but not read yet, leaving none. After `<proceed/>` (RFC 6120
    /// §5.4.3.3) whatever follows on the connection is TLS, not XML: hand these bytes to the
    /// TLS layer first, then [`restart`](Self::restart) and feed the decrypted stream.
    pub fn take_unread(&mut self) -> Vec<u8> {
        let unread = self.buf.split_off(self.pos);
        self.buf.clear();
        self.pos = 0;
        unread
    }

    /// Starts a new stream on the same transport (RFC 6120 §4.3.3): after TLS negotiation
    /// and after SASL success, both sides restart. Call it right after polling the element
    /// that ends the old stream's negotiation (`<success/>` or `<proceed/>` on the initiating
    /// side; on the receiving side, after writing it). Bytes already fed that were not read
    /// yet belong to the new stream, which begins with an optional XML declaration and a new
    /// header. An element half-read when `restart` is called is dropped. A failed parser
    /// stays failed.
    pub fn restart(&mut self) {
        if self.failed.is_some() {
            return;
        }
        self.reader = Reader::stream(&self.limits);
        self.tree = Tree::new(self.limits.max_depth);
        self.phase = Phase::Header;
        self.used = 0;
        self.at_gap = true;
        self.header = None;
    }

    /// The next event the bytes fed so far allow, `Ok(None)` when more bytes are needed (or
    /// the stream has ended), or the fatal error the stream stopped at.
    ///
    /// # Errors
    ///
    /// A [`FramingError`] when the peer sent something that is not an XMPP stream within the
    /// limits; the same error again on every later call.
    pub fn poll(&mut self) -> Result<Option<StreamEvent>, FramingError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let result = self.step();
        if let Err(error) = &result {
            self.failed = Some(error.clone());
            // Nothing more will be read: release what the stream held.
            self.buf = Vec::new();
            self.pos = 0;
            self.tree = Tree::new(0);
        }
        result
    }

    fn step(&mut self) -> Result<Option<StreamEvent>, FramingError> {
        loop {
            if self.phase == Phase::Ended {
                return Ok(None);
            }
            if self.at_gap {
                let rest = &self.buf[self.pos..];
                let spaces = rest.iter().take_while(|b| is_xml_space(**b)).count();
                self.pos += spaces;
                if spaces < rest.len() {
                    self.at_gap = false;
                }
            }
            let limit = self.limit();
            // Hand rxml at most one byte past the budget, so that no token (which rxml
            // buffers whole) grows beyond it before we notice.
            let budget = limit.saturating_sub(self.used).saturating_add(1);
            let available = &self.buf[self.pos..];
            let window = &available[..available.len().min(budget)];
            let mut input = window;
            let result = self.reader.next(&mut input, false);
            let consumed = window.len() - input.len();
            self.pos += consumed;
            self.used += consumed;
            if self.used > limit {
                return Err(self.too_large());
            }
            match result {
                Ok(Some(event)) => {
                    if let Some(event) = self.on_event(event)? {
                        return Ok(Some(event));
                    }
                }
                // rxml ends a document only when told the input is over, which a stream
                // never does; `None` cannot come.
                Ok(None) | Err(EndOrError::NeedMoreData) => return Ok(None),
                Err(EndOrError::Error(error)) => return Err(FramingError::Xml(error)),
            }
        }
    }

    const fn limit(&self) -> usize {
        match self.phase {
            Phase::Header => self.limits.max_header_bytes,
            Phase::Content | Phase::Ended => self.limits.max_element_bytes,
        }
    }

    const fn too_large(&self) -> FramingError {
        match self.phase {
            Phase::Header => FramingError::HeaderTooLarge {
                max: self.limits.max_header_bytes,
            },
            Phase::Content | Phase::Ended => FramingError::ElementTooLarge {
                max: self.limits.max_element_bytes,
            },
        }
    }

    /// Turns one rxml event into the stream event it completes, if any.
    fn on_event(&mut self, event: Event) -> Result<Option<StreamEvent>, FramingError> {
        match event {
            Event::XmlDeclaration(..) => Ok(None),
            Event::StartElement(_, (ns, name), attrs) => {
                if self.phase == Phase::Header {
                    let header = StreamHeader::from_root(
                        &ns,
                        name.as_str(),
                        attrs,
                        self.reader.root_default_ns(),
                    )?;
                    self.phase = Phase::Content;
                    self.between_elements();
                    self.header = Some(header.clone());
                    return Ok(Some(StreamEvent::Header(header)));
                }
                self.tree.start(ns, &name, attrs)?;
                Ok(None)
            }
            Event::EndElement(_) => {
                if self.tree.is_empty() {
                    // The stream element itself closes.
                    self.phase = Phase::Ended;
                    self.buf = Vec::new();
                    self.pos = 0;
                    return Ok(Some(StreamEvent::End));
                }
                Ok(self.tree.end().map(|element| {
                    self.between_elements();
                    StreamEvent::Element(element)
                }))
            }
            Event::Text(_, text) => {
                if !self.tree.is_empty() {
                    self.tree.text(text);
                    return Ok(None);
                }
                // Whitespace we did not skip ourselves: written as character references or
                // in a CDATA section. Anything else does not belong between elements.
                if text.bytes().all(is_xml_space) {
                    self.between_elements();
                    Ok(None)
                } else {
                    Err(FramingError::TopLevelText)
                }
            }
        }
    }

    /// A header or a top-level element is over: the next one starts from zero.
    const fn between_elements(&mut self) {
        self.used = 0;
        self.at_gap = true;
    }
}

/// Parses one standalone element, such as a stanza read back from a store, within `limits`:
/// at most [`Limits::max_element_bytes`] bytes, nested at most [`Limits::max_depth`] deep.
/// An XML declaration before it and whitespace around it are allowed; anything else (text,
/// a second element, a comment) is refused. An unqualified element is in no namespace: write
/// stored elements with [`serialize_element`](super::serialize_element), which declares
/// every namespace.
///
/// ```
/// use xmpp_tether_core::framing::{Limits, parse_element};
///
/// let stored = b"<message xmlns='jabber:client' to='juliet@capulet.example'><body>hi</body></message>";
/// let message = parse_element(stored, &Limits::default())?;
/// assert_eq!(message.attr("to"), Some("juliet@capulet.example"));
/// assert!(parse_element(b"<a xmlns='urn:x'/><b xmlns='urn:x'/>", &Limits::default()).is_err());
/// # Ok::<(), xmpp_tether_core::FramingError>(())
/// ```
///
/// # Errors
///
/// [`FramingError::ElementTooLarge`] or [`FramingError::TooDeep`] beyond the limits,
/// [`FramingError::Xml`] for anything that is not exactly one well-formed element.
pub fn parse_element(bytes: &[u8], limits: &Limits) -> Result<Element, FramingError> {
    if bytes.len() > limits.max_element_bytes {
        return Err(FramingError::ElementTooLarge {
            max: limits.max_element_bytes,
        });
    }
    let mut reader = Reader::element(limits);
    let mut tree = Tree::new(limits.max_depth);
    let mut input = bytes;
    let mut root = None;
    loop {
        match reader.next(&mut input, true) {
            Ok(Some(Event::StartElement(_, (ns, name), attrs))) => tree.start(ns, &name, attrs)?,
            Ok(Some(Event::EndElement(_))) => {
                if let Some(element) = tree.end() {
                    root = Some(element);
                }
            }
            Ok(Some(Event::Text(_, text))) => tree.text(text),
            Ok(Some(Event::XmlDeclaration(..))) => {}
            // rxml has checked that exactly one root element came, and nothing but
            // whitespace after it.
            Ok(None) => {
                return root.ok_or(FramingError::Xml(rxml::Error::InvalidEof(None)));
            }
            Err(EndOrError::Error(error)) => return Err(FramingError::Xml(error)),
            // Not with `at_eof`; treated as the truncation it would mean.
            Err(EndOrError::NeedMoreData) => {
                return Err(FramingError::Xml(rxml::Error::InvalidEof(None)));
            }
        }
    }
}
