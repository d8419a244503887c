//! Sans-IO XML stream framing (RFC 6120 §4): bytes in, stream header / elements / stream end
//! out, and the same three things written back as bytes.
//!
//! An XMPP stream is one long XML document whose root is `<stream:stream>`; every child of
//! the root is a stanza or nonza handled on its own. Following h11, the caller feeds the
//! bytes its transport delivered to a [`StreamParser`] and polls [`StreamEvent`]s; it never
//! writes a parser. A [`StreamWriter`] appends the header, elements and the closing tag to a
//! buffer the caller writes out. Nothing here does I/O, so the same code serves a tokio
//! server, a blocking client, a test harness and a fuzzer.
//!
//! ```
//! use minidom::Element;
//! use xmpp_tether_core::framing::{Limits, StreamEvent, StreamHeader, StreamParser, StreamWriter};
//!
//! // The client side writes its header and a stanza...
//! let mut client = StreamWriter::new();
//! let mut wire = Vec::new();
//! client.header(&StreamHeader::client("im.example.com"), &mut wire);
//! client.element(&Element::bare("presence", "jabber:client"), &mut wire)?;
//!
//! // ...and the server, fed those bytes in any chunks, reads them back.
//! let mut server = StreamParser::new(Limits::default());
//! let mut events = Vec::new();
//! for chunk in wire.chunks(7) {
//!     server.feed(chunk);
//!     while let Some(event) = server.poll()? {
//!         events.push(event);
//!     }
//! }
//! assert!(matches!(&events[0], StreamEvent::Header(h) if h.to.as_deref() == Some("im.example.com")));
//! assert_eq!(events[1], StreamEvent::Element(Element::bare("presence", "jabber:client")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Where it stands on the specifications
//!
//! - RFC 6120 §4.7 and §4.8: the header's `from`, `to`, `id`, `version` and `xml:lang` are
//!   read and written; its default namespace is the content namespace: `jabber:client`,
//!   `jabber:server` or `jabber:component:accept` (XEP-0114), or none when every element is
//!   qualified. The streams namespace may use any prefix on input; we write `stream:`.
//! - §4.3.3 stream restarts: [`StreamParser::restart`]; bytes already fed belong to the new
//!   stream, except after STARTTLS's `<proceed/>`, where [`StreamParser::take_unread`] hands
//!   them back for the TLS layer. §4.6.1 whitespace keepalives are skipped.
//! - §11 restricted XML: comments, processing instructions, DTDs and entity references
//!   other than the predefined ones are refused (by rxml); the encoding is UTF-8 only.
//! - Every peer fault is a [`FramingError`] with the §4.9.3 condition to answer with
//!   ([`FramingError::stream_error`]); bounds are set by [`Limits`].
//! - Persisted elements: [`parse_element`] reads one standalone element within the same
//!   limits, [`serialize_element`] writes one with every namespace declared.
//! - Out of scope: the RFC 7395 WebSocket framing (`<open/>`/`<close/>` as separate
//!   documents), BOSH, and the `xmlns:db` declaration XEP-0220 dialback reads from
//!   server-to-server headers (declarations other than the default namespace are not
//!   reported).
//!
//! Elements come out with their namespaces resolved and no prefix declarations, as if each
//! had been written with default namespaces only; writing them with minidom's own
//! `Element::write_to` is therefore safe too (minidom panics on some prefix declarations it
//! keeps when it parses by itself).

mod header;
mod limits;
mod parser;
mod reader;
mod write;

#[cfg(test)]
mod tests;

pub use self::header::{ContentNamespace, StreamHeader};
pub use self::limits::Limits;
pub use self::parser::{StreamEvent, StreamParser, parse_element};
pub use self::write::{STREAM_END, StreamWriter, serialize_element};
pub use crate::error::{FramingError, WriteError};

/// The streams namespace, of `<stream:stream>`, `<stream:features>` and `<stream:error>`
/// (RFC 6120 §4.8.1).
pub const NS_STREAMS: &str = "http://etherx.jabber.org/streams";
