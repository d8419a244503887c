//! The pieces both readers share: rxml's incremental, namespace-resolving parser (with a peek
//! at the root's default namespace declaration), and a depth-bounded tree builder.
//!
//! Why not minidom's `TreeBuilder` over rxml's `RawParser`, as our testkit once did: the
//! tree builder keeps every element's prefix declarations, and minidom's own serialiser
//! panics on two legal inputs when it writes such an element back (a prefix redeclared by a
//! descendant, `<a xmlns:p='urn:x'><b xmlns:p='urn:y'/></a>`, and an explicit
//! `xmlns:xml='http://www.w3.org/XML/1998/namespace'`), so a server that re-serialises a
//! routed stanza with `String::from(&element)` could be crashed by its sender. It also keeps
//! the last of two duplicate attributes instead of refusing them, and resolves prefixes
//! itself. rxml's namespace-resolving `Parser` refuses duplicates (also after prefix
//! resolution), undeclared and reserved prefixes, and hands us resolved names; the elements
//! built here carry no prefix declarations at all, so any serialiser writes them safely.

use minidom::Element;
use minidom::rxml::error::EndOrError;
use minidom::rxml::parser::CommentMode;
use minidom::rxml::{
    AttrMap, Event, Namespace, NcName, Options, Parse as _, Parser, RawEvent, RawParser,
    WithOptions,
};

use super::Limits;
use crate::error::FramingError;

/// rxml's namespace-resolving `Parser`, plus a peek at the root element's raw start tag: the
/// resolved events drop namespace declarations, and the stream header's default namespace is
/// the stream's content namespace (RFC 6120 §4.8.2). rxml does not export its resolver on
/// its own, so a second, raw parser reads the same bytes until the root's start tag ends
/// (at most [`Limits::max_header_bytes`], once per stream).
#[derive(Debug)]
pub(super) struct Reader {
    parser: Parser,
    peek: Option<RootPeek>,
    default_ns: Option<String>,
}

/// The raw parser that watches the root's start tag for its `xmlns` attribute.
#[derive(Debug)]
struct RootPeek {
    raw: RawParser,
    inside: bool,
}

fn options(limits: &Limits) -> Options {
    Options {
        max_token_length: limits.max_token_bytes,
        // RFC 6120 §11.1: comments are restricted XML (rxml's default, stated on purpose).
        comments: CommentMode::Reject,
        ..Options::default()
    }
}

impl Reader {
    /// A reader for a stream: watches the root's default namespace declaration.
    pub(super) fn stream(limits: &Limits) -> Self {
        Self {
            parser: Parser::with_options(options(limits)),
            peek: Some(RootPeek {
                raw: <RawParser as WithOptions>::with_options(options(limits)),
                inside: false,
            }),
            default_ns: None,
        }
    }

    /// A reader for one standalone element.
    pub(super) fn element(limits: &Limits) -> Self {
        Self {
            parser: Parser::with_options(options(limits)),
            peek: None,
            default_ns: None,
        }
    }

    /// The default namespace the root element declared, once its start tag has been read.
    pub(super) fn root_default_ns(&self) -> Option<&str> {
        self.default_ns.as_deref()
    }

    /// The next event from `input`, advancing it past the bytes read. `NeedMoreData` when
    /// `input` ran out first (the bytes read so far are kept inside the parser).
    pub(super) fn next(
        &mut self,
        input: &mut &[u8],
        at_eof: bool,
    ) -> Result<Option<Event>, EndOrError> {
        let before = *input;
        let result = self.parser.parse(input, at_eof);
        if let Some(peek) = &mut self.peek {
            let mut read = &before[..before.len() - input.len()];
            if peek.watch(&mut read, &mut self.default_ns) {
                self.peek = None;
            }
        }
        result
    }
}

impl RootPeek {
    /// Reads `bytes` (exactly what the real parser read); true once the root's start tag is
    /// over. Errors are the real parser's to report: it read the same bytes.
    fn watch(&mut self, bytes: &mut &[u8], default_ns: &mut Option<String>) -> bool {
        loop {
            match self.raw.parse(bytes, false) {
                Ok(Some(RawEvent::ElementHeadOpen(..))) => self.inside = true,
                Ok(Some(RawEvent::Attribute(_, (None, name), value)))
                    if self.inside && name.as_str() == "xmlns" =>
                {
                    *default_ns = Some(value);
                }
                Ok(Some(RawEvent::ElementHeadClose(..))) => return true,
                Ok(Some(_)) => {}
                Ok(None) | Err(EndOrError::NeedMoreData) => return false,
                Err(EndOrError::Error(_)) => return true,
            }
        }
    }
}

/// The open elements of one top-level element, innermost last. Never recursive: elements are
/// pushed and popped, and a closed one is appended to its parent.
#[derive(Debug)]
pub(super) struct Tree {
    open: Vec<Element>,
    max_depth: usize,
}

impl Tree {
    pub(super) const fn new(max_depth: usize) -> Self {
        Self {
            open: Vec::new(),
            max_depth,
        }
    }

    /// Whether no element is open.
    pub(super) fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Opens an element, refusing one deeper than the limit before building it.
    pub(super) fn start(
        &mut self,
        ns: Namespace<'static>,
        name: &NcName,
        attrs: AttrMap,
    ) -> Result<(), FramingError> {
        if self.open.len() >= self.max_depth {
            return Err(FramingError::TooDeep {
                max: self.max_depth,
            });
        }
        let mut element = Element::bare(name.as_str(), String::from(ns));
        *element.attrs_mut() = attrs;
        self.open.push(element);
        Ok(())
    }

    /// Appends text to the innermost open element (text outside every element is the
    /// caller's to judge).
    pub(super) fn text(&mut self, text: String) {
        if let Some(element) = self.open.last_mut() {
            element.append_text(text);
        }
    }

    /// Closes the innermost element: the finished outermost element when it was the last one
    /// open, `None` when it went into its parent (or nothing was open).
    pub(super) fn end(&mut self) -> Option<Element> {
        let element = self.open.pop()?;
        match self.open.last_mut() {
            Some(parent) => {
                parent.append_child(element);
                None
            }
            None => Some(element),
        }
    }
}

/// XML's whitespace (the `S` production): what may stand between top-level elements.
pub(super) const fn is_xml_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}
