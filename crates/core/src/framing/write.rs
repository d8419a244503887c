//! Writing: [`StreamWriter`] (the stream one side sends) and [`serialize_element`] (one
//! standalone element, for a store).
//!
//! The serialiser is ours rather than minidom's `write_to`, which panics on some elements it
//! parsed itself (see the `reader` module) and has no notion of a stream's default
//! namespace. It writes every element unprefixed with a default namespace declaration where
//! the namespace changes, except elements of the streams namespace inside a stream, which
//! use the `stream:` prefix the header declared; attributes in a namespace get a prefix
//! declared on their own element. It never recurses and validates what it writes, so the
//! output is always well-formed and namespace-well-formed.

use minidom::rxml::{Namespace, NcNameStr, XMLNS_XML, XMLNS_XMLNS};
use minidom::{Element, Node};

use super::{ContentNamespace, NS_STREAMS, StreamHeader};
use crate::error::WriteError;

/// The closing tag of a stream (RFC 6120 §4.4).
pub const STREAM_END: &str = "</stream:stream>";

/// Writes the stream one side sends: its header, top-level elements and the closing tag,
/// appended to a caller-owned buffer that the caller writes to its transport.
///
/// It remembers the content namespace of the last header it wrote, so that a top-level
/// element in that namespace (every stanza) is written without a redundant `xmlns`. After a
/// stream restart, write the new header with [`header`](Self::header) again.
///
/// ```
/// use minidom::Element;
/// use xmpp_tether_core::framing::{StreamHeader, StreamWriter};
///
/// let mut writer = StreamWriter::new();
/// let mut out = Vec::new();
/// writer.header(&StreamHeader::client("im.example.com"), &mut out);
/// let presence = Element::bare("presence", "jabber:client");
/// writer.element(&presence, &mut out)?;
/// writer.end(&mut out);
/// let text = String::from_utf8(out).unwrap();
/// assert!(text.starts_with("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "));
/// assert!(text.ends_with("><presence/></stream:stream>"));
/// # Ok::<(), xmpp_tether_core::WriteError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamWriter {
    /// `None` before the first header: elements are then written standalone.
    opened: Option<Option<ContentNamespace>>,
}

impl StreamWriter {
    /// A writer for a stream whose header is not written yet.
    #[must_use]
    pub const fn new() -> Self {
        Self { opened: None }
    }

    /// The content namespace of the header last written (`None` before any, or if it
    /// declared none).
    #[must_use]
    pub const fn content(&self) -> Option<ContentNamespace> {
        match self.opened {
            Some(content) => content,
            None => None,
        }
    }

    /// Appends the XML declaration and the opening `<stream:stream>` tag (RFC 6120 §4.7),
    /// declaring the header's content namespace as the default namespace and the `stream`
    /// prefix.
    pub fn header(&mut self, header: &StreamHeader, out: &mut Vec<u8>) {
        out.extend_from_slice(b"<?xml version='1.0'?><stream:stream");
        if let Some(content) = header.content {
            out.extend_from_slice(b" xmlns='");
            out.extend_from_slice(content.as_str().as_bytes());
            out.push(b'\'');
        }
        out.extend_from_slice(b" xmlns:stream='");
        out.extend_from_slice(NS_STREAMS.as_bytes());
        out.push(b'\'');
        for (name, value) in [
            ("from", &header.from),
            ("to", &header.to),
            ("id", &header.id),
            ("version", &header.version),
            ("xml:lang", &header.lang),
        ] {
            if let Some(value) = value {
                out.push(b' ');
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"='");
                // Header values are ours or the caller's strings; characters XML cannot
                // carry are dropped rather than written (there is no error to return
                // halfway through a header, and none of them belongs in an address or id).
                escape_lossy(value, out);
                out.push(b'\'');
            }
        }
        out.push(b'>');
        self.opened = Some(header.content);
    }

    /// Appends one top-level element. An element in the stream's content namespace is
    /// written without `xmlns`; one in the streams namespace with the `stream:` prefix.
    /// On error nothing is appended.
    ///
    /// # Errors
    ///
    /// [`WriteError`] if the element (built by hand) has a name that is not an XML name or
    /// holds a character XML cannot carry.
    pub fn element(&self, element: &Element, out: &mut Vec<u8>) -> Result<(), WriteError> {
        let scope = match self.opened {
            Some(content) => Scope {
                default_ns: content.map_or("", ContentNamespace::as_str),
                stream_prefix: true,
            },
            None => Scope::STANDALONE,
        };
        write_tree(element, scope, out)
    }

    /// Appends the closing `</stream:stream>` tag.
    pub fn end(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(STREAM_END.as_bytes());
    }
}

/// Appends one standalone element with every namespace declared, the form to persist (read
/// it back with [`parse_element`](super::parse_element)). On error nothing is appended.
///
/// ```
/// use minidom::Element;
/// use xmpp_tether_core::framing::{Limits, parse_element, serialize_element};
///
/// let message = Element::builder("message", "jabber:client")
///     .append(Element::builder("body", "jabber:client").append("1 < 2").build())
///     .build();
/// let mut stored = Vec::new();
/// serialize_element(&message, &mut stored)?;
/// assert_eq!(stored, b"<message xmlns='jabber:client'><body>1 &lt; 2</body></message>");
/// assert_eq!(parse_element(&stored, &Limits::default()).unwrap(), message);
/// # Ok::<(), xmpp_tether_core::WriteError>(())
/// ```
///
/// # Errors
///
/// As [`StreamWriter::element`].
pub fn serialize_element(element: &Element, out: &mut Vec<u8>) -> Result<(), WriteError> {
    write_tree(element, Scope::STANDALONE, out)
}

/// What the enclosing context has declared.
#[derive(Debug, Clone, Copy)]
struct Scope {
    /// The default namespace in scope (`""` for none).
    default_ns: &'static str,
    /// Whether the `stream` prefix is bound to the streams namespace.
    stream_prefix: bool,
}

impl Scope {
    const STANDALONE: Self = Self {
        default_ns: "",
        stream_prefix: false,
    };
}

/// One open element while writing: its children still to write, and whether it pushed a
/// default namespace and was written with the `stream:` prefix.
struct Frame<'a> {
    element: &'a Element,
    nodes: std::slice::Iter<'a, Node>,
    pushed_ns: bool,
    stream_prefixed: bool,
}

fn write_tree(root: &Element, scope: Scope, out: &mut Vec<u8>) -> Result<(), WriteError> {
    let start = out.len();
    let result = write_tree_inner(root, scope, out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn write_tree_inner(root: &Element, scope: Scope, out: &mut Vec<u8>) -> Result<(), WriteError> {
    // The default namespaces in scope, innermost last; the scope's own at the bottom.
    let mut defaults: Vec<String> = vec![scope.default_ns.to_owned()];
    let mut stack: Vec<Frame<'_>> = Vec::new();
    let mut next = Some(root);
    loop {
        if let Some(element) = next.take() {
            let default_ns = defaults.last().map_or("", String::as_str);
            let opened = open_tag(element, default_ns, scope.stream_prefix, out)?;
            if element.nodes().len() == 0 {
                out.extend_from_slice(b"/>");
            } else {
                out.push(b'>');
                if let Some(ns) = opened.new_default {
                    defaults.push(ns);
                }
                stack.push(Frame {
                    element,
                    nodes: element.nodes(),
                    pushed_ns: opened.pushed,
                    stream_prefixed: opened.stream_prefixed,
                });
            }
        }
        let Some(frame) = stack.last_mut() else {
            return Ok(());
        };
        match frame.nodes.next() {
            Some(Node::Element(child)) => next = Some(child),
            Some(Node::Text(text)) => {
                escape(text, Context::Text, out).map_err(|c| invalid_char(c, frame.element))?
            }
            None => {
                out.extend_from_slice(b"</");
                if frame.stream_prefixed {
                    out.extend_from_slice(b"stream:");
                }
                out.extend_from_slice(frame.element.name().as_bytes());
                out.push(b'>');
                if frame.pushed_ns {
                    defaults.pop();
                }
                stack.pop();
            }
        }
    }
}

/// What [`open_tag`] declared.
struct Opened {
    /// The default namespace the element declared, for its children.
    new_default: Option<String>,
    pushed: bool,
    stream_prefixed: bool,
}

/// Writes `<name` with the namespace declarations and attributes, without the closing `>`.
fn open_tag(
    element: &Element,
    default_ns: &str,
    stream_prefix: bool,
    out: &mut Vec<u8>,
) -> Result<Opened, WriteError> {
    let name = element.name();
    if <&NcNameStr>::try_from(name).is_err() {
        return Err(WriteError::InvalidName {
            name: name.to_owned(),
        });
    }
    let mut opened = Opened {
        new_default: None,
        pushed: false,
        stream_prefixed: false,
    };
    out.push(b'<');
    if stream_prefix && element.has_ns(NS_STREAMS) {
        out.extend_from_slice(b"stream:");
        out.extend_from_slice(name.as_bytes());
        opened.stream_prefixed = true;
    } else {
        out.extend_from_slice(name.as_bytes());
        if !element.has_ns(default_ns) {
            let ns = element.ns();
            out.extend_from_slice(b" xmlns='");
            escape(&ns, Context::Attribute, out).map_err(|c| invalid_char(c, element))?;
            out.push(b'\'');
            opened.new_default = Some(ns);
            opened.pushed = true;
        }
    }
    // Attributes in a namespace need a prefix: `ns0`, `ns1`, ... declared right here (they
    // may shadow an ancestor's, which is harmless: each element declares what it uses).
    let mut prefixed: Vec<&Namespace<'_>> = Vec::new();
    for ((ns, attr), value) in element.attrs() {
        if (ns.is_empty() && attr.as_str() == "xmlns") || ns.as_str() == XMLNS_XMLNS {
            return Err(WriteError::ReservedAttribute {
                name: attr.as_str().to_owned(),
                element: name.to_owned(),
            });
        }
        out.push(b' ');
        if ns.is_empty() {
            out.extend_from_slice(attr.as_str().as_bytes());
        } else if ns.as_str() == XMLNS_XML {
            out.extend_from_slice(b"xml:");
            out.extend_from_slice(attr.as_str().as_bytes());
        } else {
            let index = match prefixed.iter().position(|known| *known == ns) {
                Some(index) => index,
                None => {
                    out.extend_from_slice(format!("xmlns:ns{}='", prefixed.len()).as_bytes());
                    escape(ns.as_str(), Context::Attribute, out)
                        .map_err(|c| invalid_char(c, element))?;
                    out.extend_from_slice(b"' ");
                    prefixed.push(ns);
                    prefixed.len() - 1
                }
            };
            out.extend_from_slice(format!("ns{index}:").as_bytes());
            out.extend_from_slice(attr.as_str().as_bytes());
        }
        out.extend_from_slice(b"='");
        escape(value, Context::Attribute, out).map_err(|c| invalid_char(c, element))?;
        out.push(b'\'');
    }
    Ok(opened)
}

fn invalid_char(character: char, element: &Element) -> WriteError {
    WriteError::InvalidChar {
        character,
        element: element.name().to_owned(),
    }
}

/// Where escaped text goes: attribute values are single-quoted, and their tabs and line ends
/// are written as references so that attribute-value normalisation keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    Text,
    Attribute,
}

/// Appends `text` escaped for `context`; the first character XML 1.0 cannot carry, even
/// escaped, is an error (what was appended by then is truncated by [`write_tree`]).
fn escape(text: &str, context: Context, out: &mut Vec<u8>) -> Result<(), char> {
    let bytes = text.as_bytes();
    let mut from = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let replacement: &[u8] = match byte {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            // Only needed to keep `]]>` out of text, but cheap everywhere.
            b'>' => b"&gt;",
            b'\'' if context == Context::Attribute => b"&apos;",
            b'\t' if context == Context::Attribute => b"&#9;",
            b'\n' if context == Context::Attribute => b"&#10;",
            // XML parsers turn a literal CR (or CRLF) into LF, even in text.
            b'\r' => b"&#13;",
            b'\t' | b'\n' => continue,
            0x00..=0x1f => return Err(char::from(byte)),
            // U+FFFE and U+FFFF are EF BF BE and EF BF BF in UTF-8.
            0xef if bytes.get(i + 1) == Some(&0xbf) => match bytes.get(i + 2) {
                Some(0xbe) => return Err('\u{fffe}'),
                Some(0xbf) => return Err('\u{ffff}'),
                _ => continue,
            },
            _ => continue,
        };
        out.extend_from_slice(&bytes[from..i]);
        out.extend_from_slice(replacement);
        from = i + 1;
    }
    out.extend_from_slice(&bytes[from..]);
    Ok(())
}

/// Whether XML 1.0 can carry `c` (its `Char` production; surrogates cannot occur in a
/// `str`).
const fn is_xml_char(c: char) -> bool {
    !matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

/// Escapes a header value, dropping the characters XML cannot carry.
fn escape_lossy(value: &str, out: &mut Vec<u8>) {
    let start = out.len();
    if escape(value, Context::Attribute, out).is_err() {
        out.truncate(start);
        let clean: String = value.chars().filter(|c| is_xml_char(*c)).collect();
        // Cannot fail: only characters XML carries are left.
        let _ = escape(&clean, Context::Attribute, out);
    }
}
