//! XEP-0420 Stanza Content Encryption envelopes (`urn:xmpp:sce:1`) around a XEP-0297
//! `<forwarded/>` message: the plaintext of the push2 `sce+rfc8291+rfc8292` send profile.
//!
//! ```xml
//! <envelope xmlns='urn:xmpp:sce:1'>
//!   <content>
//!     <forwarded xmlns='urn:xmpp:forward:0'>
//!       <delay xmlns='urn:xmpp:delay' stamp='...'/>   <!-- optional -->
//!       <message xmlns='jabber:client' ...>...</message>
//!     </forwarded>
//!   </content>
//!   <rpad>random-length random text</rpad>            <!-- XEP-0420 section 3.1 -->
//!   <time stamp='2026-11-23T00:00:00Z'/>              <!-- affixes, when asked -->
//!   <to jid='juliet@capulet.lit'/>
//!   <from jid='romeo@montague.lit'/>
//! </envelope>
//! ```
//! The forwarded message, the delay and the time stamps are xmpp-parsers types. Unknown affixes
//! are ignored when parsing, as XEP-0420 lets other specifications define their own.
//!
//! **Padding within a bound.** A server serialises with [`Envelope::to_padded_bytes`] and a
//! [`Padding`]: the `<rpad/>` is chosen knowing the exact length of the rest, so the result
//! never exceeds the bound it will be encrypted under (RFC 8291's 3993 octets unless
//! [`Padding::within`] says less). [`Padding::fill`] pads up to exactly what fits (every
//! notification the same length); [`Padding::random_up_to_fit`] draws a random length up to
//! what fits. An envelope that does not fit even unpadded is
//! [`EnvelopeWriteError::DoesNotFit`], never a random failure later in encryption.

use core::str::FromStr;

use xmpp_parsers::date::DateTime;
use xmpp_parsers::forwarding::Forwarded;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::rxml::{self, Parse as _, RawEvent, RawParser};
use xmpp_parsers::minidom::{Element, Node};
use xmpp_parsers::ns;
use xmpp_tether_core::Now;

use crate::error::{EnvelopeError, EnvelopeWriteError};

mod padding;

pub use padding::{EnvelopeBytes, Padding};

/// The XEP-0420 namespace.
pub const NS_SCE: &str = "urn:xmpp:sce:1";

/// The most octets [`Envelope::from_bytes`] reads. A decrypted Web Push message holds at most
/// 3993 (RFC 8291 section 4); the rest of the bound leaves room for envelopes carried by other
/// means while keeping a hostile input's cost small.
pub const MAX_ENVELOPE_LEN: usize = 64 * 1024;

/// The deepest element nesting [`Envelope::from_bytes`] reads, the envelope itself counting as
/// level 1. The push2 profile needs four levels (envelope, content, forwarded, message) plus
/// the message's own payloads. Parsing, cloning and dropping a tree are recursive in minidom
/// and xmpp-parsers, so an unbounded depth would let a peer overflow the stack.
pub const MAX_DEPTH: usize = 64;

/// The longest `<rpad/>` a [`Padding`] makes: more padding than a whole Web Push message can
/// carry (3993 octets) is of no use, and a bound keeps a mistaken [`Padding::within`] from
/// allocating without limit.
pub const MAX_RPAD_LEN: usize = 4096;

/// A XEP-0420 envelope whose content is one XEP-0297 forwarded message.
///
/// Build one with [`Envelope::new`] and the `with_*` affixes, then serialise it with
/// [`Envelope::to_padded_bytes`] (or [`Envelope::to_bytes`], which writes [`Envelope::rpad`]
/// as it is, unbounded).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Envelope {
    /// The forwarded stanza (with its optional XEP-0203 delay).
    pub forwarded: Forwarded,
    /// Random padding hiding the content's length (XEP-0420 section 3.1): what a parsed
    /// envelope carried. [`Envelope::to_padded_bytes`] replaces it with its own.
    pub rpad: Option<String>,
    /// The `<time/>` affix.
    pub time: Option<DateTime>,
    /// The `<to/>` affix.
    pub to: Option<Jid>,
    /// The `<from/>` affix.
    pub from: Option<Jid>,
}

impl Envelope {
    /// An envelope with no padding and no affixes.
    #[must_use]
    pub const fn new(forwarded: Forwarded) -> Self {
        Self {
            forwarded,
            rpad: None,
            time: None,
            to: None,
            from: None,
        }
    }

    /// Adds the `<time/>` affix: `now`'s wall-clock reading, in whole seconds, UTC (XEP-0082).
    /// A wall clock before 1970 is written as 1970-01-01T00:00:00Z and one past the year 9999
    /// as 9999-12-31T23:59:59Z, the range XEP-0082 (RFC 3339) can write.
    #[must_use]
    pub fn with_time(self, now: Now) -> Self {
        self.with_time_stamp(wall_stamp(now))
    }

    /// Adds the `<time/>` affix with a given stamp (fractions and offsets are kept).
    #[must_use]
    pub fn with_time_stamp(mut self, time: DateTime) -> Self {
        self.time = Some(time);
        self
    }

    /// Adds the `<to/>` affix.
    #[must_use]
    pub fn with_to(mut self, to: Jid) -> Self {
        self.to = Some(to);
        self
    }

    /// Adds the `<from/>` affix.
    #[must_use]
    pub fn with_from(mut self, from: Jid) -> Self {
        self.from = Some(from);
        self
    }

    /// Serialises with [`Envelope::rpad`] as it is, however long the result: for envelopes
    /// not bound for RFC 8291. A push notification uses [`Envelope::to_padded_bytes`].
    ///
    /// Every text and attribute value is checked against XML 1.0's `Char` production first:
    /// a caller's string may hold characters no XML document can carry (U+0001, U+FFFE, ...),
    /// which minidom's writer would panic on.
    ///
    /// # Errors
    /// [`EnvelopeWriteError::UnwritableChar`], or [`EnvelopeWriteError::Xml`] if the writer
    /// fails.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EnvelopeWriteError> {
        write(&self.element(self.rpad.clone()))
    }

    /// Parses decrypted octets: at most [`MAX_ENVELOPE_LEN`] of them, nested at most
    /// [`MAX_DEPTH`] elements deep, one root element followed by nothing but whitespace
    /// (checked by a streaming pass before any tree is built).
    ///
    /// # Errors
    /// Any [`EnvelopeError`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        if bytes.len() > MAX_ENVELOPE_LEN {
            return Err(EnvelopeError::TooLong { len: bytes.len() });
        }
        let text = core::str::from_utf8(bytes).map_err(|_| EnvelopeError::NotUtf8)?;
        prescan(bytes)?;
        Self::try_from(Element::from_str(text)?)
    }

    /// The element, with `rpad` in place of [`Envelope::rpad`].
    fn element(&self, rpad: Option<String>) -> Element {
        let content =
            Element::builder("content", NS_SCE).append(Element::from(self.forwarded.clone()));
        let mut root = Element::builder("envelope", NS_SCE).append(content);
        if let Some(rpad) = rpad {
            root = root.append(Element::builder("rpad", NS_SCE).append(rpad));
        }
        if let Some(time) = &self.time {
            let stamp = time_string(time);
            root = root.append(
                Element::builder("time", NS_SCE).attr(rxml::xml_ncname!("stamp").into(), stamp),
            );
        }
        for (name, jid) in [("to", &self.to), ("from", &self.from)] {
            if let Some(jid) = jid {
                root = root.append(
                    Element::builder(name, NS_SCE)
                        .attr(rxml::xml_ncname!("jid").into(), jid.to_string()),
                );
            }
        }
        root.build()
    }
}

/// Checks every text and attribute value, then writes.
fn write(root: &Element) -> Result<Vec<u8>, EnvelopeWriteError> {
    check_writable(root)?;
    let mut out = Vec::with_capacity(512);
    root.write_to(&mut out)?;
    Ok(out)
}

/// Whether XML 1.0 can carry `c` (the `Char` production, section 2.2; Rust's `char` already
/// excludes the surrogates).
const fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Checks every text node and attribute value of `root`, without recursion.
fn check_writable(root: &Element) -> Result<(), EnvelopeWriteError> {
    let mut stack = vec![root];
    while let Some(element) = stack.pop() {
        for (_, value) in element.attrs() {
            if let Some(c) = value.chars().find(|&c| !is_xml_char(c)) {
                return Err(EnvelopeWriteError::UnwritableChar(c));
            }
        }
        for node in element.nodes() {
            match node {
                Node::Element(child) => stack.push(child),
                Node::Text(text) => {
                    if let Some(c) = text.chars().find(|&c| !is_xml_char(c)) {
                        return Err(EnvelopeWriteError::UnwritableChar(c));
                    }
                }
            }
        }
    }
    Ok(())
}

/// A streaming pass with rxml's parser (no recursion, no tree) before minidom's recursive tree
/// code sees the input: nesting deeper than [`MAX_DEPTH`] is refused, and so is anything but
/// whitespace after the root element, which minidom would silently ignore (a second root,
/// text, a comment, a NUL).
fn prescan(mut bytes: &[u8]) -> Result<(), EnvelopeError> {
    let mut parser = RawParser::new();
    let mut depth = 0usize;
    let mut too_deep = false;
    let mut root_closed = false;
    let result = parser.parse_all(&mut bytes, true, |event| match event {
        RawEvent::ElementHeadOpen(..) => {
            depth += 1;
            too_deep |= depth > MAX_DEPTH;
        }
        RawEvent::ElementFoot(..) => {
            depth = depth.saturating_sub(1);
            root_closed |= depth == 0;
        }
        _ => {}
    });
    if too_deep {
        return Err(EnvelopeError::TooDeep { max: MAX_DEPTH });
    }
    // rxml accepts only whitespace after the root and reports anything else as an error.
    // Malformed XML before that is left to minidom, which reports it as `EnvelopeError::Xml`.
    if result.is_err() && root_closed {
        return Err(EnvelopeError::TrailingContent);
    }
    Ok(())
}

impl From<Envelope> for Element {
    fn from(envelope: Envelope) -> Self {
        envelope.element(envelope.rpad.clone())
    }
}

impl TryFrom<Element> for Envelope {
    type Error = EnvelopeError;

    fn try_from(root: Element) -> Result<Self, EnvelopeError> {
        if !root.is("envelope", NS_SCE) {
            return Err(EnvelopeError::NotEnvelope);
        }
        let mut forwarded = None;
        let (mut rpad, mut time, mut to, mut from) = (None, None, None, None);
        for child in root.children() {
            if child.ns() != NS_SCE {
                continue;
            }
            match child.name() {
                "content" => {
                    if forwarded.is_some() {
                        return Err(EnvelopeError::Content);
                    }
                    let mut elements = child.children();
                    let (Some(inner), None) = (elements.next(), elements.next()) else {
                        return Err(EnvelopeError::NotForwarded);
                    };
                    if !inner.is("forwarded", ns::FORWARD) {
                        return Err(EnvelopeError::NotForwarded);
                    }
                    forwarded =
                        Some(Forwarded::try_from(inner.clone()).map_err(EnvelopeError::Forwarded)?);
                }
                "rpad" => set_once(&mut rpad, child.text(), "rpad")?,
                "time" => {
                    let stamp = child.attr("stamp").ok_or(EnvelopeError::Affix("time"))?;
                    let stamp =
                        DateTime::from_str(stamp).map_err(|_| EnvelopeError::Affix("time"))?;
                    set_once(&mut time, stamp, "time")?;
                }
                "to" => set_once(&mut to, jid_affix(child, "to")?, "to")?,
                "from" => set_once(&mut from, jid_affix(child, "from")?, "from")?,
                _ => {}
            }
        }
        Ok(Self {
            forwarded: forwarded.ok_or(EnvelopeError::Content)?,
            rpad,
            time,
            to,
            from,
        })
    }
}

fn jid_affix(child: &Element, affix: &'static str) -> Result<Jid, EnvelopeError> {
    let jid = child.attr("jid").ok_or(EnvelopeError::Affix(affix))?;
    Jid::from_str(jid).map_err(|_| EnvelopeError::Affix(affix))
}

fn set_once<T>(slot: &mut Option<T>, value: T, affix: &'static str) -> Result<(), EnvelopeError> {
    if slot.replace(value).is_some() {
        return Err(EnvelopeError::Affix(affix));
    }
    Ok(())
}

/// XEP-0082 text of a time stamp (RFC 3339): fractional seconds kept as given (chrono's
/// `AutoSi`: none, 3, 6 or 9 digits), `Z` for UTC, the offset otherwise. Parse, serialise,
/// parse gives the same instant.
fn time_string(time: &DateTime) -> String {
    let text = time.0.to_rfc3339();
    if time.timezone().local_minus_utc() == 0
        && let Some(date_time) = text.strip_suffix("+00:00")
    {
        return format!("{date_time}Z");
    }
    text
}

/// The last second RFC 3339 can write: 9999-12-31T23:59:59Z.
const MAX_UNIX_SECONDS: u64 = 253_402_300_799;

/// `now`'s wall clock as a UTC stamp in whole seconds, clamped to what RFC 3339 can write.
fn wall_stamp(now: Now) -> DateTime {
    let seconds = i64::try_from(now.unix_seconds().min(MAX_UNIX_SECONDS)).unwrap_or(0);
    // Every second from 1970 to 9999 is in chrono's range, so the fallback is never taken.
    let utc = chrono::DateTime::from_timestamp(seconds, 0).unwrap_or_default();
    DateTime(utc.fixed_offset())
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use xmpp_parsers::message::{Lang, Message};

    use super::*;

    fn forwarded() -> Forwarded {
        let message = Message::new(Some(Jid::from_str("juliet@capulet.lit").unwrap()))
            .with_body(Lang::default(), "Wherefore art thou, Romeo?".into());
        Forwarded {
            delay: None,
            message,
        }
    }

    fn at(unix_seconds: u64) -> Now {
        Now::new(
            xmpp_tether_core::Monotonic::ZERO,
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(unix_seconds),
        )
    }

    #[test]
    fn the_wall_clock_becomes_xep0082_stamps() {
        for (secs, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_700_000_000, "2023-11-14T22:13:20Z"),
            (MAX_UNIX_SECONDS, "9999-12-31T23:59:59Z"),
            (MAX_UNIX_SECONDS + 1, "9999-12-31T23:59:59Z"),
        ] {
            assert_eq!(time_string(&wall_stamp(at(secs))), text);
        }
        // Sub-second readings are written in whole seconds; a clock before 1970 as 1970.
        let fraction = at(1_700_000_000).advance(std::time::Duration::from_millis(999));
        assert_eq!(time_string(&wall_stamp(fraction)), "2023-11-14T22:13:20Z");
        let before =
            at(0).with_wall(std::time::SystemTime::UNIX_EPOCH - std::time::Duration::from_secs(5));
        assert_eq!(time_string(&wall_stamp(before)), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn a_full_envelope_round_trips() {
        let mut envelope = Envelope::new(forwarded())
            .with_time(at(1_700_000_000))
            .with_to(Jid::from_str("juliet@capulet.lit").unwrap())
            .with_from(Jid::from_str("capulet.lit").unwrap());
        envelope.rpad = Some("C29Yj3t8uDFSo".into());
        let bytes = envelope.to_bytes().unwrap();
        let text = core::str::from_utf8(&bytes).unwrap();
        assert!(
            text.starts_with("<envelope xmlns='urn:xmpp:sce:1'><content><forwarded"),
            "{text}"
        );
        assert!(
            text.contains("<rpad>C29Yj3t8uDFSo</rpad><time stamp='2023-11-14T22:13:20Z'/>"),
            "{text}"
        );
        assert_eq!(Envelope::from_bytes(&bytes).unwrap(), envelope);
    }

    #[test]
    fn padding_is_random_bounded_and_replaces_rpad() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let mut envelope = Envelope::new(forwarded());
        envelope.rpad = Some("x".repeat(5000));
        let lengths: Vec<usize> = (0..64)
            .map(|_| {
                let bytes = envelope
                    .to_padded_bytes(&mut rng, Padding::random(50))
                    .unwrap();
                Envelope::from_bytes(&bytes)
                    .unwrap()
                    .rpad
                    .map_or(0, |r| r.len())
            })
            .collect();
        assert!(lengths.iter().all(|&len| len <= 50), "{lengths:?}");
        assert!(lengths.iter().any(|&len| len != lengths[0]), "{lengths:?}");
        let none = envelope.to_padded_bytes(&mut rng, Padding::NONE).unwrap();
        assert_eq!(Envelope::from_bytes(&none).unwrap().rpad, None);
        let zero = envelope
            .to_padded_bytes(&mut rng, Padding::random(0))
            .unwrap();
        assert_eq!(zero, none);
    }

    #[test]
    fn padding_a_serialised_envelope_writes_what_the_writer_would() {
        let envelope = Envelope::new(forwarded())
            .with_time(at(1_700_000_000))
            .with_to(Jid::from_str("juliet@capulet.lit").unwrap())
            .with_from(Jid::from_str("capulet.lit").unwrap());
        let unpadded = envelope.to_unpadded().unwrap();
        assert_eq!(unpadded.as_bytes(), envelope.to_bytes().unwrap());
        for (seed, padding) in [
            (1, Padding::fill()),
            (2, Padding::random(40)),
            (3, Padding::random_up_to_fit().within(600)),
            (4, Padding::NONE),
        ] {
            let bytes = unpadded
                .to_padded_bytes(&mut ChaCha20Rng::seed_from_u64(seed), padding)
                .unwrap();
            let parsed = Envelope::from_bytes(&bytes).unwrap();
            let mut expected = envelope.clone();
            expected.rpad.clone_from(&parsed.rpad);
            assert_eq!(parsed, expected);
            assert_eq!(
                bytes,
                write(&envelope.element(parsed.rpad.clone())).unwrap()
            );
            assert!(bytes.len() <= padding.limit());
            let again = envelope
                .to_padded_bytes(&mut ChaCha20Rng::seed_from_u64(seed), padding)
                .unwrap();
            assert_eq!(again, bytes);
        }
        let small = Padding::fill().within(10);
        let error = unpadded
            .to_padded_bytes(&mut ChaCha20Rng::seed_from_u64(5), small)
            .unwrap_err();
        assert!(
            matches!(error, EnvelopeWriteError::DoesNotFit { len, limit: 10 } if len == unpadded.len()),
            "{error:?}"
        );
    }

    #[test]
    fn a_spec_shaped_envelope_parses() {
        // XEP-0420 section 4's shape, with a forwarded message as push2 puts in <content/>, an
        // offset time stamp, and an affix from another specification (ignored).
        let xml = "<envelope xmlns='urn:xmpp:sce:1'>\
            <content><forwarded xmlns='urn:xmpp:forward:0'>\
              <delay xmlns='urn:xmpp:delay' stamp='2004-01-25T04:05:00Z'/>\
              <message xmlns='jabber:client' to='missioncontrol@houston.nasa.gov' type='chat'>\
                <body>Houston, we have a problem.</body></message>\
            </forwarded></content>\
            <rpad>C29Yj3t8uDFSo</rpad>\
            <time stamp='2004-01-25T05:05:00.000+01:00'/>\
            <to jid='missioncontrol@houston.nasa.gov'/>\
            <from jid='opportunity@mars.planet'/>\
            <custom xmlns='urn:example:affix'/>\
            </envelope>";
        let envelope = Envelope::from_bytes(xml.as_bytes()).unwrap();
        assert_eq!(envelope.rpad.as_deref(), Some("C29Yj3t8uDFSo"));
        assert_eq!(
            envelope.from.unwrap().to_string(),
            "opportunity@mars.planet"
        );
        assert!(envelope.forwarded.delay.is_some());
        assert_eq!(
            envelope.time.unwrap(),
            DateTime::from_str("2004-01-25T04:05:00Z").unwrap()
        );
    }

    #[test]
    fn malformed_envelopes_are_typed() {
        type Check = fn(&EnvelopeError) -> bool;
        let cases: [(&str, Check); 9] = [
            ("<envelope xmlns='urn:xmpp:sce:0'/>", |e| {
                matches!(e, EnvelopeError::NotEnvelope)
            }),
            ("<envelope xmlns='urn:xmpp:sce:1'/>", |e| {
                matches!(e, EnvelopeError::Content)
            }),
            ("<envelope", |e| matches!(e, EnvelopeError::Xml(_))),
            (
                "<envelope xmlns='urn:xmpp:sce:1'><content><body xmlns='jabber:client'>hi</body></content></envelope>",
                |e| matches!(e, EnvelopeError::NotForwarded),
            ),
            (
                "<envelope xmlns='urn:xmpp:sce:1'><content/></envelope>",
                |e| matches!(e, EnvelopeError::NotForwarded),
            ),
            (
                "<envelope xmlns='urn:xmpp:sce:1'><content><forwarded xmlns='urn:xmpp:forward:0'/></content></envelope>",
                |e| matches!(e, EnvelopeError::Forwarded(_)),
            ),
            (
                "<envelope xmlns='urn:xmpp:sce:1'><time stamp='yesterday'/></envelope>",
                |e| matches!(e, EnvelopeError::Affix("time")),
            ),
            (
                "<envelope xmlns='urn:xmpp:sce:1'><to jid='a@b'/><to jid='c@d'/></envelope>",
                |e| matches!(e, EnvelopeError::Affix("to")),
            ),
            ("<envelope xmlns='urn:xmpp:sce:1'><from/></envelope>", |e| {
                matches!(e, EnvelopeError::Affix("from"))
            }),
        ];
        for (xml, is_expected) in cases {
            let error = Envelope::from_bytes(xml.as_bytes()).unwrap_err();
            assert!(is_expected(&error), "{xml}: {error:?}");
        }
        assert!(matches!(
            Envelope::from_bytes(b"\xff"),
            Err(EnvelopeError::NotUtf8)
        ));
    }
}
