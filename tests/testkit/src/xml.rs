//! A blocking XMPP stream reader and writer (RFC 6120 §4).
//!
//! [`StreamReader`] turns bytes from any [`Read`] (a `TcpStream` in practice) into the stream
//! header and then one [`minidom::Element`] per top-level child. It feeds rxml's incremental
//! `RawParser` and minidom's `TreeBuilder` with whatever each `read` returned, so split reads
//! and several elements in one read both work, and every event the bytes allow is delivered
//! before the next `read` (rxml's own blocking reader may hold a closing tag back until the
//! next byte arrives, which would deadlock a request/response exchange).
//!
//! [`StreamWriter`] writes stream headers, elements and the closing tag. Elements in the
//! stream's default namespace (`jabber:client`) are written without a redundant `xmlns`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Read, Write};

use minidom::Element;
use minidom::rxml::error::EndOrError;
use minidom::rxml::{Parse as _, RawEvent, RawParser};
use minidom::tree_builder::TreeBuilder;

/// `jabber:client`, the default namespace of client-to-server streams (RFC 6120 §4.8.3).
pub const NS_CLIENT: &str = "jabber:client";
/// The `stream` prefix namespace (RFC 6120 §4.8.1).
pub const NS_STREAMS: &str = "http://etherx.jabber.org/streams";

/// How many bytes one `read` call asks for.
const READ_CHUNK: usize = 16 * 1024;

/// What went wrong while reading or writing a stream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum XmlError {
    /// The socket's read timeout elapsed before a complete event arrived.
    #[error("timed out waiting for data from the peer")]
    Timeout,
    /// The peer closed the TCP connection before closing the stream.
    #[error("the peer closed the connection without closing the stream")]
    Eof,
    /// The stream was closed (`</stream:stream>`) and nothing more can be read.
    #[error("the stream has already ended")]
    Ended,
    /// Any other I/O error.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The bytes are not well-formed (restricted) XML.
    #[error("malformed XML: {0}")]
    Syntax(#[from] minidom::rxml::Error),
    /// The XML could not be built into a tree (for example an undeclared prefix).
    #[error("invalid XML tree: {0}")]
    Tree(#[from] minidom::Error),
    /// The root element is not `<stream:stream/>`.
    #[error("not an XMPP stream: root element {{{ns}}}{name}")]
    NotAStream {
        /// The root element's name.
        name: String,
        /// The root element's namespace.
        ns: String,
    },
}

/// The attributes of a `<stream:stream>` header (RFC 6120 §4.7).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamHeader {
    /// Attributes by name; `xml:lang` is stored under that name.
    pub attrs: BTreeMap<String, String>,
}

impl StreamHeader {
    /// The header a client sends to open a stream to `domain`.
    #[must_use]
    pub fn client(domain: &str) -> Self {
        Self::default()
            .with("to", domain)
            .with("version", "1.0")
            .with("xml:lang", "en")
    }

    /// The header a server answers with, from `domain`, with stream id `id`.
    #[must_use]
    pub fn server(domain: &str, id: &str) -> Self {
        Self::default()
            .with("from", domain)
            .with("id", id)
            .with("version", "1.0")
            .with("xml:lang", "en")
    }

    /// Sets one attribute.
    #[must_use]
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.attrs.insert(name.to_owned(), value.to_owned());
        self
    }

    /// One attribute's value.
    #[must_use]
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }

    fn from_element(el: &Element) -> Self {
        let attrs = el
            .attrs()
            .iter()
            .map(|((ns, name), value)| {
                let key = if **ns == *minidom::rxml::Namespace::xml() {
                    format!("xml:{}", name.as_str())
                } else {
                    name.as_str().to_owned()
                };
                (key, value.clone())
            })
            .collect();
        Self { attrs }
    }
}

/// One thing read from a stream.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StreamEvent {
    /// The peer's `<stream:stream>` header.
    Header(StreamHeader),
    /// One complete top-level child of the stream: a stanza, a nonza, features, an error.
    Element(Element),
    /// The peer closed the stream with `</stream:stream>`.
    End,
}

/// Reads an XMPP stream from a blocking byte source. See the [module docs](self).
pub struct StreamReader<R> {
    inner: R,
    parser: RawParser,
    tree: TreeBuilder,
    /// Bytes read but not yet consumed by the parser.
    buf: Vec<u8>,
    header_seen: bool,
    ended: bool,
}

impl<R: Read> StreamReader<R> {
    /// Wraps a byte source.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            parser: RawParser::new(),
            tree: TreeBuilder::new(),
            buf: Vec::new(),
            header_seen: false,
            ended: false,
        }
    }

    /// The byte source, to change its timeouts.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Starts a new XML document on the same byte source, keeping bytes already read: the
    /// stream restart after SASL success (RFC 6120 §6.4.6).
    pub fn reset(&mut self) {
        self.parser = RawParser::new();
        self.tree = TreeBuilder::new();
        self.header_seen = false;
        self.ended = false;
    }

    /// Blocks until the next event, the socket's read timeout ([`XmlError::Timeout`]) or an
    /// error. A timeout leaves the reader usable: call again to keep waiting.
    pub fn next_event(&mut self) -> Result<StreamEvent, XmlError> {
        if self.ended {
            return Err(XmlError::Ended);
        }
        loop {
            if let Some(event) = self.parse_buffered()? {
                return Ok(event);
            }
            let old = self.buf.len();
            self.buf.resize(old + READ_CHUNK, 0);
            let got = loop {
                match self.inner.read(&mut self.buf[old..]) {
                    Ok(n) => break Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                }
            };
            self.buf.truncate(old + got.as_ref().copied().unwrap_or(0));
            match got {
                Ok(0) => return Err(XmlError::Eof),
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(XmlError::Timeout);
                }
                Err(e) => return Err(XmlError::Io(e)),
            }
        }
    }

    /// Runs the parser over the buffered bytes until it yields an event we report or needs
    /// more data.
    fn parse_buffered(&mut self) -> Result<Option<StreamEvent>, XmlError> {
        loop {
            let mut rest: &[u8] = &self.buf;
            let before = rest.len();
            let result = self.parser.parse(&mut rest, false);
            let consumed = before - rest.len();
            self.buf.drain(..consumed);
            match result {
                Ok(Some(raw)) => {
                    if let Some(event) = self.on_raw(raw)? {
                        return Ok(Some(event));
                    }
                }
                // `None` only comes at end of file, which we never signal to the parser.
                Ok(None) | Err(EndOrError::NeedMoreData) => return Ok(None),
                Err(EndOrError::Error(e)) => return Err(XmlError::Syntax(e)),
            }
        }
    }

    fn on_raw(&mut self, raw: RawEvent) -> Result<Option<StreamEvent>, XmlError> {
        let depth = self.tree.depth();
        match raw {
            // Whitespace keepalives between top-level elements (RFC 6120 §4.6.1) would
            // otherwise pile up as text in the stream element.
            RawEvent::Text(..) if depth <= 1 => Ok(None),
            RawEvent::ElementFoot(_) if depth == 1 => {
                self.ended = true;
                Ok(Some(StreamEvent::End))
            }
            raw => {
                let head_close = matches!(raw, RawEvent::ElementHeadClose(_));
                let foot = matches!(raw, RawEvent::ElementFoot(_));
                self.tree.process_event(raw)?;
                if head_close && !self.header_seen && self.tree.depth() == 1 {
                    self.header_seen = true;
                    let Some(root) = self.tree.top() else {
                        return Ok(None);
                    };
                    if !root.is("stream", NS_STREAMS) {
                        return Err(XmlError::NotAStream {
                            name: root.name().to_owned(),
                            ns: root.ns(),
                        });
                    }
                    return Ok(Some(StreamEvent::Header(StreamHeader::from_element(root))));
                }
                if foot && self.tree.depth() == 1 {
                    return Ok(self.tree.unshift_child().map(StreamEvent::Element));
                }
                Ok(None)
            }
        }
    }
}

/// Writes an XMPP stream to a blocking byte sink. Every call flushes.
pub struct StreamWriter<W> {
    inner: W,
}

impl<W: Write> StreamWriter<W> {
    /// Wraps a byte sink.
    pub fn new(inner: W) -> Self {
        Self { inner }
    }

    /// The byte sink.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Writes the XML declaration and a `<stream:stream>` header with the `jabber:client`
    /// default namespace and the given attributes.
    pub fn write_header(&mut self, header: &StreamHeader) -> io::Result<()> {
        self.write_raw(header_to_string(header).as_bytes())
    }

    /// Writes one top-level element.
    pub fn write_element(&mut self, el: &Element) -> Result<(), XmlError> {
        let text = element_to_string(el)?;
        Ok(self.write_raw(text.as_bytes())?)
    }

    /// Writes the closing `</stream:stream>` tag.
    pub fn write_close(&mut self) -> io::Result<()> {
        self.write_raw(b"</stream:stream>")
    }

    /// Writes bytes as they are, for tests that send something our types cannot build.
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.inner.write_all(bytes)?;
        self.inner.flush()
    }
}

/// The text of a stream header (with XML declaration).
#[must_use]
pub fn header_to_string(header: &StreamHeader) -> String {
    let mut out = format!(
        "<?xml version='1.0'?><stream:stream xmlns='{NS_CLIENT}' xmlns:stream='{NS_STREAMS}'"
    );
    for (name, value) in &header.attrs {
        // Writing into a String cannot fail.
        let _ = write!(out, " {name}='{}'", escape_attr(value));
    }
    out.push('>');
    out
}

/// Serialises an element as it appears inside a `jabber:client` stream: an element in that
/// namespace leaves out its (inherited) `xmlns`.
pub fn element_to_string(el: &Element) -> Result<String, XmlError> {
    let mut bytes = Vec::new();
    el.write_to(&mut bytes)?;
    let text =
        String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    if el.ns() != NS_CLIENT {
        return Ok(text);
    }
    for quote in ['"', '\''] {
        let decl = format!(" xmlns={quote}{NS_CLIENT}{quote}");
        let head = format!("<{}{decl}", el.name());
        if let Some(rest) = text.strip_prefix(&head) {
            // Only the root's own declaration is removed; descendants that need it keep theirs.
            return Ok(format!("<{}{rest}", el.name()));
        }
    }
    Ok(text)
}

fn escape_attr(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A byte source that hands out pre-set chunks, one per `read`, then times out.
    struct Chunks(std::collections::VecDeque<Vec<u8>>);

    impl Read for Chunks {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let Some(mut chunk) = self.0.pop_front() else {
                return Err(io::ErrorKind::WouldBlock.into());
            };
            let n = chunk.len().min(out.len());
            out[..n].copy_from_slice(&chunk[..n]);
            if n < chunk.len() {
                self.0.push_front(chunk.split_off(n));
            }
            Ok(n)
        }
    }

    fn reader(chunks: &[&str]) -> StreamReader<Chunks> {
        StreamReader::new(Chunks(
            chunks.iter().map(|c| c.as_bytes().to_vec()).collect(),
        ))
    }

    const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='abc' \
        version='1.0' xml:lang='en'>";

    fn element(r: &mut StreamReader<Chunks>) -> Element {
        match r.next_event() {
            Ok(StreamEvent::Element(el)) => el,
            other => panic!("expected an element, got {other:?}"),
        }
    }

    #[test]
    fn header_then_elements_in_one_read() {
        let all = format!(
            "{HEADER}<r xmlns='urn:xmpp:sm:3'/> <message to='a@b'><body>hi</body></message>"
        );
        let mut r = reader(&[&all]);
        let Ok(StreamEvent::Header(h)) = r.next_event() else {
            panic!("no header");
        };
        assert_eq!(h.attr("id"), Some("abc"));
        assert_eq!(h.attr("xml:lang"), Some("en"));
        assert!(element(&mut r).is("r", "urn:xmpp:sm:3"));
        let msg = element(&mut r);
        assert!(msg.is("message", NS_CLIENT));
        assert_eq!(msg.attr("to"), Some("a@b"));
        assert_eq!(
            msg.get_child("body", NS_CLIENT).map(Element::text),
            Some("hi".into())
        );
        assert!(matches!(r.next_event(), Err(XmlError::Timeout)));
    }

    #[test]
    fn byte_by_byte_reads() {
        let all = format!(
            "{HEADER}<iq type='result' id='1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>a@b/c</jid></bind></iq></stream:stream>"
        );
        let chunks: Vec<String> = all.chars().map(String::from).collect();
        let refs: Vec<&str> = chunks.iter().map(String::as_str).collect();
        let mut r = reader(&refs);
        assert!(matches!(r.next_event(), Ok(StreamEvent::Header(_))));
        let iq = element(&mut r);
        assert_eq!(iq.attr("id"), Some("1"));
        assert_eq!(r.next_event().ok(), Some(StreamEvent::End));
        assert!(matches!(r.next_event(), Err(XmlError::Ended)));
    }

    #[test]
    fn element_delivered_without_waiting_for_the_next_byte() {
        // The closing tag is the last byte we have: it must still come out.
        let mut r = reader(&[HEADER, "<a xmlns='urn:x'>t</a", ">"]);
        assert!(matches!(r.next_event(), Ok(StreamEvent::Header(_))));
        assert!(element(&mut r).is("a", "urn:x"));
        assert!(matches!(r.next_event(), Err(XmlError::Timeout)));
    }

    #[test]
    fn timeout_then_resume_reading() {
        let mut src = reader(&[HEADER, "<a xmlns='urn:x'>"]);
        assert!(matches!(src.next_event(), Ok(StreamEvent::Header(_))));
        assert!(matches!(src.next_event(), Err(XmlError::Timeout)));
        src.inner.0.push_back(b"</a>".to_vec());
        assert!(element(&mut src).is("a", "urn:x"));
    }

    #[test]
    fn restart_after_sasl_success() {
        let second = HEADER.replace("abc", "def");
        let mut r = reader(&[
            HEADER,
            "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
            &second,
        ]);
        assert!(matches!(r.next_event(), Ok(StreamEvent::Header(_))));
        assert!(element(&mut r).is("success", "urn:ietf:params:xml:ns:xmpp-sasl"));
        r.reset();
        let Ok(StreamEvent::Header(h)) = r.next_event() else {
            panic!("no second header");
        };
        assert_eq!(h.attr("id"), Some("def"));
    }

    #[test]
    fn eof_and_bad_input_are_errors() {
        let mut r = StreamReader::new(
            &b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'"[..],
        );
        assert!(matches!(r.next_event(), Err(XmlError::Eof)));
        let mut r = StreamReader::new(&b"<html xmlns='x'>"[..]);
        assert!(matches!(r.next_event(), Err(XmlError::NotAStream { .. })));
        let bad = format!("{HEADER}<a></b>");
        let mut r = StreamReader::new(bad.as_bytes());
        assert!(matches!(r.next_event(), Ok(StreamEvent::Header(_))));
        assert!(matches!(r.next_event(), Err(XmlError::Syntax(_))));
        let unbound = format!("{HEADER}<p:a/>");
        let mut r = StreamReader::new(unbound.as_bytes());
        assert!(matches!(r.next_event(), Ok(StreamEvent::Header(_))));
        assert!(matches!(
            r.next_event(),
            Err(XmlError::Syntax(_) | XmlError::Tree(_))
        ));
    }

    #[test]
    fn garbage_never_panics() {
        // XML-ish noise in random chunks, from a fixed-seed LCG: every outcome must be an
        // event or a typed error.
        const ALPHABET: &[u8] = b"<>/='\" :abxmlnsr?!&;#\n\xff\xc3";
        let mut state: u64 = 0x5eed;
        let mut next = |bound: usize| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize % bound
        };
        for _ in 0..1_000 {
            let mut bytes = HEADER.as_bytes().to_vec();
            bytes.extend((0..next(200)).map(|_| ALPHABET[next(ALPHABET.len())]));
            let mut chunks = std::collections::VecDeque::new();
            while !bytes.is_empty() {
                let n = 1 + next(bytes.len());
                chunks.push_back(bytes.drain(..n).collect());
            }
            let mut r = StreamReader::new(Chunks(chunks));
            for _ in 0..100 {
                if r.next_event().is_err() {
                    break;
                }
            }
        }
    }

    #[test]
    fn writer_round_trips_through_reader() {
        let mut out = StreamWriter::new(Vec::new());
        out.write_header(&StreamHeader::client("local'host"))
            .unwrap();
        let msg = Element::builder("message", NS_CLIENT)
            .attr("to".try_into().unwrap(), "a@b")
            .append(
                Element::builder("body", NS_CLIENT)
                    .append("1 < 2 & 'q'")
                    .build(),
            )
            .append(Element::bare("request", "urn:xmpp:receipts"))
            .build();
        out.write_element(&msg).unwrap();
        out.write_element(&Element::bare("r", "urn:xmpp:sm:3"))
            .unwrap();
        out.write_close().unwrap();
        let text = String::from_utf8(out.inner).unwrap();
        assert!(!text.contains("<message xmlns"), "{text}");
        assert!(text.contains("<r xmlns"), "{text}");
        let mut r = StreamReader::new(text.as_bytes());
        let Ok(StreamEvent::Header(h)) = r.next_event() else {
            panic!("no header in {text}");
        };
        assert_eq!(h.attr("to"), Some("local'host"));
        let Ok(StreamEvent::Element(back)) = r.next_event() else {
            panic!("no message in {text}");
        };
        assert_eq!(back, msg);
        assert!(matches!(r.next_event(), Ok(StreamEvent::Element(_))));
        assert_eq!(r.next_event().ok(), Some(StreamEvent::End));
    }
}
