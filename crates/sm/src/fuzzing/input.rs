//! Elements a fuzzed peer sends: XEP-0198 templates with arbitrary attribute values, stanzas,
//! and raw XML.

use std::time::{Duration, SystemTime};

use arbitrary::Arbitrary;
use minidom::Element;
use minidom::rxml::NcName;

use crate::elements::{Feature, Nonza, SmId};
use crate::ns::{self, Namespace};

/// The most operations one input replays (keeps each run short).
pub(crate) const MAX_OPS: usize = 256;

const NAMES: &[&str] = &[
    "enable",
    "enabled",
    "resume",
    "resumed",
    "failed",
    "r",
    "a",
    "sm",
    "handled-count-too-high",
    "t",
];

const NAMESPACES: &[&str] = &[ns::SM3, ns::SM2, ns::SM1, ns::JABBER_CLIENT, "urn:example"];

const ATTRIBUTES: &[&str] = &[
    "h",
    "u",
    "max",
    "resume",
    "id",
    "previd",
    "location",
    "stanzas",
    "send-count",
];

const CONDITIONS: &[&str] = &[
    "item-not-found",
    "unexpected-request",
    "feature-not-implemented",
    "gone",
    "text",
    "not-a-condition",
];

/// An attribute value: mostly plausible, sometimes hostile.
#[derive(Debug, Arbitrary)]
pub(crate) enum Value {
    /// A small number: likely to fall in the range of the counters.
    Small(u8),
    /// Any 32-bit number.
    Number(u32),
    /// A number that does not fit in 32 bits.
    Big(u64),
    /// `true`/`false`.
    Bool(bool),
    /// One of the SM-IDs seen so far (or a made-up one when there is none).
    KnownId(u8),
    /// Anything.
    Text(String),
}

impl Value {
    fn render(&self, ids: &[SmId]) -> String {
        match self {
            Self::Small(n) => n.to_string(),
            Self::Number(n) => n.to_string(),
            Self::Big(n) => (u128::from(*n) + u128::from(u32::MAX)).to_string(),
            Self::Bool(b) => b.to_string(),
            Self::KnownId(i) => ids
                .get(usize::from(*i) % ids.len().max(1))
                .map_or_else(|| "unknown-id".to_owned(), |id| id.as_str().to_owned()),
            Self::Text(s) => s.clone(),
        }
    }
}

/// A XEP-0198-shaped element.
#[derive(Debug, Arbitrary)]
pub(crate) struct Template {
    name: u8,
    ns: u8,
    attributes: Vec<(u8, Value)>,
    condition: Option<(u8, String)>,
}

/// What the fuzzed peer writes.
#[derive(Debug, Arbitrary)]
pub(crate) enum Input {
    /// A XEP-0198-shaped element.
    Sm(Template),
    /// A message, presence or iq (or, for `3..`, something that is not a stanza).
    Stanza(u8),
    /// Raw XML text (usually not well-formed).
    Raw(String),
}

fn pick<'a>(choices: &[&'a str], index: u8) -> &'a str {
    choices[usize::from(index) % choices.len()]
}

impl Input {
    /// The element, or `None` when raw text does not parse.
    pub(crate) fn build(&self, ids: &[SmId]) -> Option<Element> {
        match self {
            Self::Sm(t) => Some(t.build(ids)),
            Self::Stanza(kind) => Some(stanza(*kind)),
            Self::Raw(text) => text.parse().ok(),
        }
    }
}

impl Template {
    fn build(&self, ids: &[SmId]) -> Element {
        let ns = pick(NAMESPACES, self.ns);
        let mut element = Element::bare(pick(NAMES, self.name), ns);
        for (attribute, value) in &self.attributes {
            if let Ok(name) = NcName::try_from(pick(ATTRIBUTES, *attribute)) {
                element.set_attr(minidom::rxml::Namespace::NONE, name, value.render(ids));
            }
        }
        if let Some((condition, text)) = &self.condition {
            let mut child = Element::bare(pick(CONDITIONS, *condition), ns::STANZAS);
            child.append_text(text.clone());
            element.append_child(child);
        }
        element
    }
}

/// A stanza of kind `kind % 4`: message, presence, iq, or a CSI nonza (not a stanza).
pub(crate) fn stanza(kind: u8) -> Element {
    match kind % 4 {
        0 => Element::bare("message", ns::JABBER_CLIENT),
        1 => Element::bare("presence", ns::JABBER_CLIENT),
        2 => Element::bare("iq", ns::JABBER_CLIENT),
        _ => Element::bare("active", "urn:xmpp:csi:0"),
    }
}

/// Virtual time: starts at a fixed instant and only moves forward.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock(pub(crate) SystemTime);

impl Clock {
    pub(crate) fn new() -> Self {
        Self(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
    }

    pub(crate) fn advance(&mut self, by: Duration) {
        if let Some(later) = self.0.checked_add(by) {
            self.0 = later;
        }
    }

    /// Jumps to `deadline` if it is later than now.
    pub(crate) fn reach(&mut self, deadline: SystemTime) {
        if deadline > self.0 {
            self.0 = deadline;
        }
    }
}

/// Checks an element a state machine wrote: a XEP-0198 element must be one we can read back.
/// (Round trips through XML text are the `elements` target's job; here they would only slow
/// the machine targets down.)
pub(crate) fn check_emitted(element: &Element) {
    if Namespace::of(element).is_some() {
        if element.name() == "sm" {
            assert!(Feature::try_from(element).is_ok(), "we emitted {element:?}");
        } else {
            let parsed = Nonza::try_from(element);
            assert!(parsed.is_ok(), "we emitted {element:?}: {parsed:?}");
        }
    }
}

/// Checks the answer to a peer error and says whether it is fatal: peer data never causes a
/// misuse, a `<failed/>` answer parses, and the fatal flag agrees with the answer's kind.
pub(crate) fn check_peer_error(error: &crate::Error) -> bool {
    let crate::Error::Peer(peer) = error else {
        panic!("peer data caused a misuse: {error:?}");
    };
    // `Error::is_fatal` builds the answer again; one build is enough here.
    let answer = peer.answer();
    let fatal = matches!(answer, Some(crate::Answer::StreamError(_)));
    assert_eq!(fatal, peer.is_fatal(), "{peer:?}");
    if let Some(crate::Answer::Failed(failed)) = &answer {
        check_emitted(failed);
    }
    fatal
}
