//! Fuzz entry points (hidden feature `__fuzzing`), compiled in ordinary builds so CI checks
//! them; each `fuzz/fuzz_targets/sm_*.rs` file calls one. None may panic on any input: a
//! panic here is either a library bug or a broken invariant, which is what the targets look
//! for.
//!
//! - [`elements`]: bytes as XML; whatever parses as a XEP-0198 element must survive
//!   parse -> serialise -> parse unchanged.
//! - `client()` and `server()`: bytes as a list of operations (elements from the peer, built
//!   from templates with arbitrary attribute values or raw XML; commands; time passing), with
//!   the invariants of DESIGN.md checked after each: nothing lost or invented (every stanza
//!   queued is acknowledged, handed back, expired or still held), queues within their
//!   bounds, and everything we emit parses.
//! - `record()`: bytes as a stored session record or store snapshot (JSON): what reads back
//!   writes out the same, is adopted or refused whole, and resumes with each stanza
//!   acknowledged or retransmitted once.

mod client;
mod input;
mod record;
mod server;

use minidom::Element;

use crate::elements::{self, Feature, HandledCountTooHigh, Nonza, inline};
use crate::ns::Namespace;

pub use self::client::client;
pub use self::record::record;
pub use self::server::server;

/// How deep [`elements`] looks for XEP-0198 elements inside the parsed tree.
const MAX_DEPTH: usize = 8;

/// Parses `data` as UTF-8 XML; every XEP-0198 element in it (at any depth up to a bound,
/// including inside SASL2/Bind2 wrappers) that parses must round-trip through `Element` and
/// XML text to the same typed value.
pub fn elements(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(element) = text.parse::<Element>() else {
        return;
    };
    walk(&element, 0);
}

fn walk(element: &Element, depth: usize) {
    check_element(element);
    let _ = elements::features_of(element);
    let _ = elements::is_stanza(element);
    for found in [
        inline::resume_in_authenticate(element),
        inline::enable_in_bind(element),
        inline::reply_in_success(element),
        inline::reply_in_bound(element),
    ]
    .into_iter()
    .flatten()
    {
        // The helpers only return XEP-0198 elements.
        assert!(Namespace::of(found).is_some(), "helper returned {found:?}");
    }
    if depth < MAX_DEPTH {
        for child in element.children() {
            walk(child, depth + 1);
        }
    }
}

/// Parses `element` with every typed parser and checks that what parses round-trips.
fn check_element(element: &Element) {
    if let Ok(nonza) = Nonza::try_from(element) {
        let again = round_trip(Element::from(nonza.clone()), |e| Nonza::try_from(e).ok());
        assert_eq!(again, Some(nonza), "Nonza round trip of {element:?}");
    }
    if let Ok(feature) = Feature::try_from(element) {
        let again = round_trip(Element::from(feature.clone()), |e| {
            Feature::try_from(e).ok()
        });
        assert_eq!(again, Some(feature), "Feature round trip of {element:?}");
    }
    if let Ok(too_high) = HandledCountTooHigh::try_from(element) {
        let again = round_trip(Element::from(too_high), |e| {
            HandledCountTooHigh::try_from(e).ok()
        });
        assert_eq!(again, Some(too_high), "round trip of {element:?}");
        let error = too_high.to_stream_error();
        assert_eq!(
            error
                .application_specific
                .first()
                .and_then(|e| HandledCountTooHigh::try_from(e).ok()),
            Some(too_high)
        );
    }
}

/// Parses `element` directly and after serialising it to XML text and reading it back; both
/// must agree, and the result is returned.
fn round_trip<T: PartialEq + std::fmt::Debug>(
    element: Element,
    parse: impl Fn(&Element) -> Option<T>,
) -> Option<T> {
    let direct = parse(&element);
    let text = String::from(&element);
    let reparsed = text.parse::<Element>();
    assert!(reparsed.is_ok(), "our own XML does not parse: {text:?}");
    let via_text = reparsed.ok().and_then(|e| parse(&e));
    assert_eq!(direct, via_text, "XML text changed the value: {text:?}");
    direct
}

#[cfg(test)]
mod tests {
    //! Smoke runs of the fuzz entry points on seeded pseudo-random inputs, so that
    //! `cargo test --all-features` exercises them without cargo-fuzz.

    use rand_chacha::ChaCha20Rng;
    use rand_core::{Rng, SeedableRng};

    fn inputs(seed: u64, count: usize) -> impl Iterator<Item = Vec<u8>> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        (0..count).map(move |i| {
            let mut data = vec![0u8; 64 + (i % 8) * 256];
            rng.fill_bytes(&mut data);
            data
        })
    }

    #[test]
    fn elements_on_spec_examples_and_noise() {
        for xml in [
            "<enabled xmlns='urn:xmpp:sm:3' id='some-long-sm-id' location='[2001:41D0:1:A49b::1]:9222' resume='true'/>",
            "<failed xmlns='urn:xmpp:sm:3' h='3'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'> a &amp; b </text></failed>",
            "<success xmlns='urn:xmpp:sasl:2'><resumed xmlns='urn:xmpp:sm:3' h='345' previd='124'/></success>",
            "<sm xmlns='urn:xmpp:sm:1' max='600' stanzas='10'><optional/></sm>",
            "<handled-count-too-high xmlns='urn:xmpp:sm:3' h='10' send-count='8'/>",
            "<enabled xmlns='urn:xmpp:sm:3' location='a&#10;b&#9;c'/>",
        ] {
            super::elements(xml.as_bytes());
        }
        for data in inputs(1, 100) {
            super::elements(&data);
        }
    }

    #[test]
    fn client_on_noise() {
        for data in inputs(2, 100) {
            super::client(&data);
        }
    }

    #[test]
    fn server_on_noise() {
        for data in inputs(3, 100) {
            super::server(&data);
        }
    }
}
