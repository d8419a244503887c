//! A blocking XMPP stream reader and writer (RFC 6120 §4), over the workspace's sans-IO
//! framing ([`xmpp_tether_core::framing`]).
//!
//! [`StreamReader`] turns bytes from any [`Read`] (a `TcpStream` in practice) into the stream
//! header and then one [`minidom::Element`] per top-level child: it feeds whatever each
//! `read` returned to a [`StreamParser`] and polls it, so split reads and several elements in
//! one read both work, and every event the bytes allow is delivered before the next `read`.
//!
//! [`StreamWriter`] writes stream headers, elements and the closing tag. Elements in the
//! stream's default namespace (`jabber:client`) are written without a redundant `xmlns`.

use std::io::{self, Read, Write};

use minidom::Element;
use xmpp_tether_core::framing::{self, ContentNamespace, Limits, StreamParser};
use xmpp_tether_core::{FramingError, WriteError};

pub use xmpp_tether_core::framing::NS_STREAMS;

/// `jabber:client`, the default namespace of client-to-server streams (RFC 6120 §4.8.3).
pub const NS_CLIENT: &str = ContentNamespace::Client.as_str();

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
    /// The peer's bytes are not an XMPP stream within the framing's limits (malformed XML,
    /// a root other than `<stream:stream/>`, ...). The reader stays failed.
    #[error("framing: {0}")]
    Framing(#[from] FramingError),
    /// An element built by a test cannot be written as XML.
    #[error("cannot write: {0}")]
    Write(#[from] WriteError),
}

/// The attributes of a `<stream:stream>` header (RFC 6120 §4.7), by name: the framing's
/// typed [`framing::StreamHeader`] with the name-based access the tests use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamHeader {
    /// The typed header.
    pub header: framing::StreamHeader,
}

impl StreamHeader {
    /// The header a client sends to open a stream to `domain`.
    #[must_use]
    pub fn client(domain: &str) -> Self {
        Self {
            header: framing::StreamHeader::client(domain),
        }
    }

    /// The header a server answers with, from `domain`, with stream id `id`.
    #[must_use]
    pub fn server(domain: &str, id: &str) -> Self {
        Self {
            header: framing::StreamHeader::server(domain, id),
        }
    }

    /// Sets one of the attributes RFC 6120 defines (`from`, `to`, `id`, `version`,
    /// `xml:lang`); other names are not carried by a header and are ignored.
    #[must_use]
    pub fn with(mut self, name: &str, value: &str) -> Self {
        if let Some(slot) = self.slot(name) {
            *slot = Some(value.to_owned());
        }
        self
    }

    /// One attribute's value.
    #[must_use]
    pub fn attr(&self, name: &str) -> Option<&str> {
        let h = &self.header;
        match name {
            "from" => h.from.as_deref(),
            "to" => h.to.as_deref(),
            "id" => h.id.as_deref(),
            "version" => h.version.as_deref(),
            "xml:lang" => h.lang.as_deref(),
            _ => None,
        }
    }

    fn slot(&mut self, name: &str) -> Option<&mut Option<String>> {
        let h = &mut self.header;
        match name {
            "from" => Some(&mut h.from),
            "to" => Some(&mut h.to),
            "id" => Some(&mut h.id),
            "version" => Some(&mut h.version),
            "xml:lang" => Some(&mut h.lang),
            _ => None,
        }
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

impl From<framing::StreamEvent> for StreamEvent {
    fn from(event: framing::StreamEvent) -> Self {
        match event {
            framing::StreamEvent::Header(header) => Self::Header(StreamHeader { header }),
            framing::StreamEvent::Element(element) => Self::Element(element),
            // `End`, and whatever later versions add: nothing more to read here.
            _ => Self::End,
        }
    }
}

/// Reads an XMPP stream from a blocking byte source. See the [module docs](self).
pub struct StreamReader<R> {
    inner: R,
    parser: StreamParser,
    buf: Box<[u8]>,
}

impl<R: Read> StreamReader<R> {
    /// Wraps a byte source, with the framing's default limits.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            parser: StreamParser::new(Limits::default()),
            buf: vec![0; READ_CHUNK].into_boxed_slice(),
        }
    }

    /// The byte source, to change its timeouts.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Starts a new XML document on the same byte source, keeping bytes already read: the
    /// stream restart after SASL success (RFC 6120 §6.4.6).
    pub fn reset(&mut self) {
        self.parser.restart();
    }

    /// Blocks until the next event, the socket's read timeout ([`XmlError::Timeout`]) or an
    /// error. A timeout leaves the reader usable: call again to keep waiting.
    pub fn next_event(&mut self) -> Result<StreamEvent, XmlError> {
        loop {
            if let Some(event) = self.parser.poll()? {
                return Ok(event.into());
            }
            if self.parser.is_ended() {
                return Err(XmlError::Ended);
            }
            let got = loop {
                match self.inner.read(&mut self.buf) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other,
                }
            };
            match got {
                Ok(0) => return Err(XmlError::Eof),
                Ok(n) => self.parser.feed(&self.buf[..n]),
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
}

/// Writes an XMPP stream to a blocking byte sink. Every call flushes.
pub struct StreamWriter<W> {
    inner: W,
    writer: framing::StreamWriter,
    buf: Vec<u8>,
}

impl<W: Write> StreamWriter<W> {
    /// Wraps a byte sink.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            writer: framing::StreamWriter::new(),
            buf: Vec::new(),
        }
    }

    /// The byte sink.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Writes the XML declaration and a `<stream:stream>` header with the `jabber:client`
    /// default namespace and the given attributes.
    pub fn write_header(&mut self, header: &StreamHeader) -> io::Result<()> {
        self.writer.header(&header.header, &mut self.buf);
        self.flush_buf()
    }

    /// Writes one top-level element.
    pub fn write_element(&mut self, el: &Element) -> Result<(), XmlError> {
        self.writer.element(el, &mut self.buf)?;
        Ok(self.flush_buf()?)
    }

    /// Writes the closing `</stream:stream>` tag.
    pub fn write_close(&mut self) -> io::Result<()> {
        self.writer.end(&mut self.buf);
        self.flush_buf()
    }

    /// Writes bytes as they are, for tests that send something our types cannot build.
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.inner.write_all(bytes)?;
        self.inner.flush()
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        let result = self.write_raw(&buf);
        buf.clear();
        self.buf = buf;
        result
    }
}

/// The text of a stream header (with XML declaration).
#[must_use]
pub fn header_to_string(header: &StreamHeader) -> String {
    let mut out = Vec::new();
    framing::StreamWriter::new().header(&header.header, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Serialises an element as it appears inside a `jabber:client` stream: an element in that
/// namespace leaves out its (inherited) `xmlns`.
pub fn element_to_string(el: &Element) -> Result<String, XmlError> {
    let mut writer = framing::StreamWriter::new();
    writer.header(
        &framing::StreamHeader::new(ContentNamespace::Client),
        &mut Vec::new(),
    );
    let mut out = Vec::new();
    writer.element(el, &mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    //! The blocking plumbing only: what the framing itself reads and refuses is tested in
    //! `xmpp-tether-core`.

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
        assert!(matches!(r.next_event(), Err(XmlError::Timeout)));
    }

    #[test]
    fn byte_by_byte_reads_then_end() {
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
        let all = format!("{HEADER}<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>{second}");
        let mut r = reader(&[&all]);
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
        assert!(matches!(
            r.next_event(),
            Err(XmlError::Framing(FramingError::NotAStream { .. }))
        ));
        let bad = format!("{HEADER}<a></b>");
        let mut r = StreamReader::new(bad.as_bytes());
        assert!(matches!(r.next_event(), Ok(StreamEvent::Header(_))));
        assert!(matches!(
            r.next_event(),
            Err(XmlError::Framing(FramingError::Xml(_)))
        ));
        // The reader stays failed.
        assert!(matches!(r.next_event(), Err(XmlError::Framing(_))));
    }

    #[test]
    fn writer_round_trips_through_reader() {
        let mut out = StreamWriter::new(Vec::new());
        out.write_header(&StreamHeader::client("local'host").with("from", "me@localhost"))
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
        assert!(text.starts_with(&header_to_string(
            &StreamHeader::client("local'host").with("from", "me@localhost")
        )));
        assert_eq!(
            element_to_string(&msg).unwrap(),
            "<message to='a@b'><body>1 &lt; 2 &amp; 'q'</body>\
             <request xmlns='urn:xmpp:receipts'/></message>"
        );
        let mut r = StreamReader::new(text.as_bytes());
        let Ok(StreamEvent::Header(h)) = r.next_event() else {
            panic!("no header in {text}");
        };
        assert_eq!(h.attr("to"), Some("local'host"));
        assert_eq!(h.attr("from"), Some("me@localhost"));
        let Ok(StreamEvent::Element(back)) = r.next_event() else {
            panic!("no message in {text}");
        };
        assert_eq!(back, msg);
        assert!(matches!(r.next_event(), Ok(StreamEvent::Element(_))));
        assert_eq!(r.next_event().ok(), Some(StreamEvent::End));
    }
}
