//! Elements a fuzzed peer sends: XEP-0198 templates with arbitrary attribute values, stanzas,
//! and raw XML.

use std::time::{Duration, SystemTime};

use arbitrary::Arbitrary;
use minidom::Element;
use minidom::rxml::NcName;
use xmpp_tether_core::{Monotonic, Now};

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

/// Virtual time: both clocks start at fixed points; the monotonic one only moves forward, the
/// wall clock also jumps (NTP steps, in either direction).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock(pub(crate) Now);

impl Clock {
    pub(crate) fn new() -> Self {
        Self(Now::new(
            Monotonic::ZERO,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        ))
    }

    pub(crate) fn advance(&mut self, by: Duration) {
        self.0 = self.0.advance(by);
    }

    /// Steps the wall clock by `secs` (either way); the monotonic clock stays. It stays after
    /// 1970, as real clocks do (a `SystemTime` before the epoch does not serialise).
    pub(crate) fn step_wall(&mut self, secs: i32) {
        let step = Duration::from_secs(u64::from(secs.unsigned_abs()));
        let wall = self.0.wall();
        let stepped = if secs < 0 {
            wall.checked_sub(step)
                .filter(|t| *t >= SystemTime::UNIX_EPOCH)
        } else {
            wall.checked_add(step)
        };
        self.0 = self.0.with_wall(stepped.unwrap_or(wall));
    }

    /// Jumps to `deadline` if it is later than now.
    pub(crate) fn reach(&mut self, deadline: Monotonic) {
        let by = deadline - self.0.monotonic();
        if deadline != Monotonic::MAX {
            self.0 = self.0.advance(by);
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

/// Checks the answer to a peer error and says whether it is fatal: the fatal flag agrees with
/// the answer's kind, and a `<failed/>` answer parses. `Closed` is always fatal.
pub(crate) fn check_error(error: &crate::Error) -> bool {
    let crate::Error::Peer(peer) = error else {
        assert!(error.is_fatal(), "a closed machine's error must be fatal");
        return true;
    };
    let answer = peer.answer(crate::Placement::TopLevel);
    let fatal = matches!(answer, crate::Answer::StreamError(_));
    assert_eq!(fatal, peer.is_fatal(), "{peer:?}");
    assert_eq!(fatal, error.is_fatal(), "{peer:?}");
    if let crate::Answer::Failed(failed, _) = &answer {
        check_emitted(failed);
    }
    fatal
}

/// A counted stanza with a unique id, so the ledgers can tell each one's fate.
pub(crate) fn numbered(kind: u8, n: u64) -> Element {
    let mut stanza = stanza(kind);
    if let Ok(name) = NcName::try_from("id") {
        stanza.set_attr(minidom::rxml::Namespace::NONE, name, format!("f{n}"));
    }
    stanza
}

/// The id [`numbered`] gave a stanza.
pub(crate) fn number_of(stanza: &Element) -> Option<u64> {
    stanza.attr("id")?.strip_prefix('f')?.parse().ok()
}

/// What became of every numbered stanza given to a machine: nothing lost, nothing invented,
/// nothing handed out twice (DESIGN.md promise 2).
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Stanzas given away and kept by a machine, by number.
    pub(crate) given: std::collections::BTreeSet<u64>,
    /// Stanzas that came back: acknowledged, handed back, refused, or written unmanaged.
    pub(crate) done: std::collections::BTreeSet<u64>,
}

impl Ledger {
    pub(crate) fn give(&mut self, n: u64) {
        assert!(self.given.insert(n), "stanza {n} given twice");
    }

    /// A stanza came back (or left for good); each one only once.
    pub(crate) fn done(&mut self, stanza: &Element) {
        let Some(n) = number_of(stanza) else {
            panic!("a stanza nobody gave came back: {stanza:?}");
        };
        assert!(self.given.contains(&n), "stanza {n} was never given");
        assert!(self.done.insert(n), "stanza {n} came back twice");
    }

    /// How many are still held somewhere.
    pub(crate) fn held(&self) -> usize {
        self.given.len() - self.done.len()
    }
}

/// A deterministic stand-in for a CSPRNG, seeded from the input. Not random: the fuzzer
/// controls it, which is the point.
pub(crate) struct Rng(pub(crate) u64);

impl rand_core::TryRng for Rng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        self.try_next_u64().map(|x| (x >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        // SplitMix64.
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for Rng {}
