//! Fuzz entry points (hidden feature `__fuzzing`), compiled in ordinary builds so CI checks
//! them; each `fuzz/fuzz_targets/psa_*.rs` file calls one. None may panic on any input: a
//! panic is a library bug or a broken invariant, which is what the targets look for.
//!
//! - `elements()`: bytes as XML; every `<state-annotation/>` in it that parses must survive
//!   parse -> serialise -> parse unchanged, and every presence in it must pass through a
//!   tracker and a client view, and survive the same round trip.
//! - `tracker()`: bytes as a list of operations on a tracker with small limits (presences
//!   from templates or raw XML, caps, link events with every kind of loss, pauses, resumes,
//!   ends, rooms, time taken from the input, snapshot and restore), with the tracker's
//!   invariants checked after each: indexes agree, limits hold, every transmit is addressed,
//!   goes to a watcher that holds the presence it annotates, and says what its kind says.

mod tracker;

use minidom::Element;
use xmpp_parsers::presence::Presence;

pub use self::tracker::tracker;
use crate::elements::{self, StateAnnotation};
use crate::{Tracker, TrackerConfig, View, ViewConfig};

/// How deep [`elements`] looks for annotations and presences inside the parsed tree.
const MAX_DEPTH: usize = 8;

/// Parses `data` as UTF-8 XML and checks every annotation and presence in it.
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
    if let Ok(annotation) = StateAnnotation::try_from(element) {
        let again = round_trip(Element::from(annotation.clone()), |e| {
            StateAnnotation::try_from(e).ok()
        });
        assert_eq!(
            again,
            Some(annotation),
            "annotation round trip of {element:?}"
        );
    } else {
        assert!(!elements::is_annotation(element) || element.attr("from").is_some());
    }
    if let Ok(presence) = Presence::try_from(element.clone()) {
        check_presence(presence);
    }
    if depth < MAX_DEPTH {
        for child in element.children() {
            walk(child, depth + 1);
        }
    }
}

fn check_presence(presence: Presence) {
    let _ = StateAnnotation::of(&presence);
    let again = round_trip(crate::presence_element(presence.clone()), |e| {
        Presence::try_from(e.clone()).ok()
    });
    assert_eq!(again.as_ref(), Some(&presence), "presence round trip");
    let domain = jid::DomainPart::new("montague.lit").map(std::borrow::Cow::into_owned);
    let Ok(domain) = domain else {
        return;
    };
    let mut view = View::new(ViewConfig::new(domain.clone()));
    let _ = view.handle_presence(&presence);
    let mut tracker = Tracker::new(TrackerConfig::new(domain));
    let mut relayed = presence;
    let _ = tracker.handle_presence(tracker::start(), &mut relayed);
    while tracker.poll_transmit().is_some() {}
    while tracker.poll_event().is_some() {}
    // What the tracker leaves in a relayed presence is still a presence we can write.
    let _ = round_trip(crate::presence_element(relayed), |e| {
        Presence::try_from(e.clone()).ok()
    });
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
            "<presence xmlns='jabber:client' from='juliet@capulet.lit/orchard' \
             to='romeo@montague.lit/lane'><status>Available</status><state-annotation \
             xmlns='urn:xmpp:psa' from='montague.lit'><server-unavailable/><description>The \
             capulet.lit server is no longer available</description></state-annotation></presence>",
            "<state-annotation xmlns='urn:xmpp:psa'><gone/><connection-paused/><description \
             xml:lang='en'>a &amp; b&#13;</description></state-annotation>",
            "<state-annotation xmlns='urn:xmpp:psa' from='a@b@c'/>",
        ] {
            super::elements(xml.as_bytes());
        }
        for data in inputs(11, 100) {
            super::elements(&data);
        }
    }

    #[test]
    fn tracker_on_noise() {
        for data in inputs(12, 200) {
            super::tracker(&data);
        }
    }
}
