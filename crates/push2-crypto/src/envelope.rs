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

use core::str::FromStr;

use rand_core::CryptoRng;
use xmpp_parsers::date::DateTime;
use xmpp_parsers::forwarding::Forwarded;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::rxml::{self, Parse as _, RawEvent, RawParser};
use xmpp_parsers::minidom::{Element, Node};
use xmpp_parsers::ns;

use crate::error::EnvelopeError;

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

/// The longest `<rpad/>` [`Envelope::with_random_rpad`] makes: more padding than a whole Web
/// Push message can carry (3993 octets) is of no use, and a bound keeps a caller's mistaken
/// `max_len` from allocating without limit.
pub const MAX_RPAD_LEN: usize = 4096;

/// The characters rpad is drawn from (base64url's alphabet: no escaping needed in XML).
const RPAD_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A XEP-0420 envelope whose content is one XEP-0297 forwarded message.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The forwarded stanza (with its optional XEP-0203 delay).
    pub forwarded: Forwarded,
    /// Random padding hiding the content's length (XEP-0420 section 3.1).
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

    /// Adds padding of a length drawn uniformly from `0..=max_len` with the caller's RNG
    /// (XEP-0420 section 3.1: random content of random length hides the content's length).
    /// `max_len` is clamped to [`MAX_RPAD_LEN`].
    #[must_use]
    pub fn with_random_rpad(mut self, rng: &mut impl CryptoRng, max_len: usize) -> Self {
        let max_len = max_len.min(MAX_RPAD_LEN);
        let span = u64::try_from(max_len).unwrap_or(u64::MAX).saturating_add(1);
        // The modulo bias is below max_len / 2^64: negligible for padding lengths.
        let len = usize::try_from(rng.next_u64() % span).unwrap_or(max_len);
        let mut bytes = vec![0u8; len];
        rng.fill_bytes(&mut bytes);
        let pad = bytes
            .iter()
            .map(|b| char::from(RPAD_ALPHABET[usize::from(b & 63)]))
            .collect();
        self.rpad = Some(pad);
        self
    }

    /// Adds the `<time/>` affix.
    #[must_use]
    pub fn with_time(mut self, time: DateTime) -> Self {
        self.time = Some(time);
        self
    }

    /// Adds the `<time/>` affix from Unix seconds (UTC).
    #[must_use]
    pub fn with_unix_time(self, unix_seconds: u64) -> Self {
        self.with_time(datetime_from_unix(unix_seconds))
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

    /// Serialises to the octets that RFC 8291 encrypts.
    ///
    /// Every text and attribute value is checked against XML 1.0's `Char` production first:
    /// a caller's string may hold characters no XML document can carry (U+0001, U+FFFE, ...),
    /// which minidom's writer would panic on.
    ///
    /// # Errors
    /// [`EnvelopeError::UnwritableChar`], or [`EnvelopeError::Xml`] if the writer fails.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EnvelopeError> {
        let root = Element::from(self.clone());
        check_writable(&root)?;
        let mut out = Vec::with_capacity(512);
        root.write_to(&mut out)?;
        Ok(out)
    }

    /// Parses decrypted octets: at most [`MAX_ENVELOPE_LEN`] of them, nested at most
    /// [`MAX_DEPTH`] elements deep (checked by a streaming pass before any tree is built).
    ///
    /// # Errors
    /// Any [`EnvelopeError`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        if bytes.len() > MAX_ENVELOPE_LEN {
            return Err(EnvelopeError::TooLong { len: bytes.len() });
        }
        let text = core::str::from_utf8(bytes).map_err(|_| EnvelopeError::NotUtf8)?;
        check_depth(bytes)?;
        Self::try_from(Element::from_str(text)?)
    }
}

/// Whether XML 1.0 can carry `c` (the `Char` production, section 2.2; Rust's `char` already
/// excludes the surrogates).
const fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Checks every text node and attribute value of `root`, without recursion.
fn check_writable(root: &Element) -> Result<(), EnvelopeError> {
    let mut stack = vec![root];
    while let Some(element) = stack.pop() {
        for (_, value) in element.attrs() {
            if let Some(c) = value.chars().find(|&c| !is_xml_char(c)) {
                return Err(EnvelopeError::UnwritableChar(c));
            }
        }
        for node in element.nodes() {
            match node {
                Node::Element(child) => stack.push(child),
                Node::Text(text) => {
                    if let Some(c) = text.chars().find(|&c| !is_xml_char(c)) {
                        return Err(EnvelopeError::UnwritableChar(c));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Measures the nesting depth with rxml's streaming parser (no recursion, no tree), so that a
/// deep document is refused before minidom's recursive tree code sees it.
fn check_depth(mut bytes: &[u8]) -> Result<(), EnvelopeError> {
    let mut parser = RawParser::new();
    let mut depth = 0usize;
    let mut too_deep = false;
    // Malformed XML is left to minidom, which reports it as `EnvelopeError::Xml`; a document
    // cut short by the error is still measured up to that point.
    let _ = parser.parse_all(&mut bytes, true, |event| match event {
        RawEvent::ElementHeadOpen(..) => {
            depth += 1;
            too_deep |= depth > MAX_DEPTH;
        }
        RawEvent::ElementFoot(..) => depth = depth.saturating_sub(1),
        _ => {}
    });
    if too_deep {
        return Err(EnvelopeError::TooDeep { max: MAX_DEPTH });
    }
    Ok(())
}

impl From<Envelope> for Element {
    fn from(envelope: Envelope) -> Self {
        let content = Self::builder("content", NS_SCE).append(Self::from(envelope.forwarded));
        let mut root = Self::builder("envelope", NS_SCE).append(content);
        if let Some(rpad) = envelope.rpad {
            root = root.append(Self::builder("rpad", NS_SCE).append(rpad));
        }
        if let Some(time) = envelope.time {
            let stamp = time_string(&time);
            root = root.append(
                Self::builder("time", NS_SCE).attr(rxml::xml_ncname!("stamp").into(), stamp),
            );
        }
        for (name, jid) in [("to", envelope.to), ("from", envelope.from)] {
            if let Some(jid) = jid {
                root = root.append(
                    Self::builder(name, NS_SCE)
                        .attr(rxml::xml_ncname!("jid").into(), jid.to_string()),
                );
            }
        }
        root.build()
    }
}

impl TryFrom<Element> for Envelope {
    type Error = EnvelopeError;

    fn try_from(root: Element) -> Result<Self, EnvelopeError> {
        if !root.is("envelope", NS_SCE) {
            return Err(EnvelopeError::NotEnvelope);
        }
        let mut forwarded = None;
        let mut envelope = Self {
            forwarded: placeholder(),
            rpad: None,
            time: None,
            to: None,
            from: None,
        };
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
                "rpad" => set_once(&mut envelope.rpad, child.text(), "rpad")?,
                "time" => {
                    let stamp = child.attr("stamp").ok_or(EnvelopeError::Affix("time"))?;
                    let time =
                        DateTime::from_str(stamp).map_err(|_| EnvelopeError::Affix("time"))?;
                    set_once(&mut envelope.time, time, "time")?;
                }
                name @ ("to" | "from") => {
                    let affix = if name == "to" { "to" } else { "from" };
                    let jid = child.attr("jid").ok_or(EnvelopeError::Affix(affix))?;
                    let jid = Jid::from_str(jid).map_err(|_| EnvelopeError::Affix(affix))?;
                    let slot = if name == "to" {
                        &mut envelope.to
                    } else {
                        &mut envelope.from
                    };
                    set_once(slot, jid, affix)?;
                }
                _ => {}
            }
        }
        envelope.forwarded = forwarded.ok_or(EnvelopeError::Content)?;
        Ok(envelope)
    }
}

fn placeholder() -> Forwarded {
    Forwarded {
        delay: None,
        message: xmpp_parsers::message::Message::new(None),
    }
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

/// A UTC XEP-0082 date-time from Unix seconds (clamped to the year 9999, RFC 3339's last).
#[must_use]
pub fn datetime_from_unix(unix_seconds: u64) -> DateTime {
    let unix_seconds = unix_seconds.min(MAX_UNIX_SECONDS);
    // Days to civil date (proleptic Gregorian), after H. Hinnant's `civil_from_days`; all
    // values are small and non-negative after the clamp.
    let days = unix_seconds / 86_400;
    let secs = unix_seconds % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    let text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    #[expect(clippy::expect_used, reason = "invariant stated in the message")]
    DateTime::from_str(&text).expect("invariant: a clamped civil date formats as RFC 3339")
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

    #[test]
    fn unix_seconds_become_xep0082_stamps() {
        for (secs, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_700_000_000, "2023-11-14T22:13:20Z"),
            (u64::MAX, "9999-12-31T23:59:59Z"),
        ] {
            assert_eq!(time_string(&datetime_from_unix(secs)), text);
        }
    }

    #[test]
    fn a_full_envelope_round_trips() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let envelope = Envelope::new(forwarded())
            .with_random_rpad(&mut rng, 200)
            .with_unix_time(1_700_000_000)
            .with_to(Jid::from_str("juliet@capulet.lit").unwrap())
            .with_from(Jid::from_str("capulet.lit").unwrap());
        let bytes = envelope.to_bytes().unwrap();
        let text = core::str::from_utf8(&bytes).unwrap();
        assert!(
            text.starts_with("<envelope xmlns='urn:xmpp:sce:1'><content><forwarded"),
            "{text}"
        );
        assert!(
            text.contains("<time stamp='2023-11-14T22:13:20Z'/>"),
            "{text}"
        );
        assert_eq!(Envelope::from_bytes(&bytes).unwrap(), envelope);
    }

    #[test]
    fn rpad_length_is_random_and_bounded() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let lengths: Vec<usize> = (0..64)
            .map(|_| {
                Envelope::new(forwarded())
                    .with_random_rpad(&mut rng, 50)
                    .rpad
                    .unwrap()
                    .len()
            })
            .collect();
        assert!(lengths.iter().all(|&len| len <= 50));
        assert!(lengths.iter().any(|&len| len != lengths[0]), "{lengths:?}");
        let zero = Envelope::new(forwarded()).with_random_rpad(&mut rng, 0);
        assert_eq!(zero.rpad.as_deref(), Some(""));
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
