//! Fuzz entry points (hidden feature `__fuzzing`), compiled in ordinary builds so CI checks
//! them; each `fuzz/fuzz_targets/rsnf_*.rs` file calls one. None may panic on any input.
//!
//! - [`features`]: bytes as lines of disco features. The parsed filter must survive
//!   filter -> feature strings -> filter unchanged, and parsing is idempotent under
//!   repetition and order.
//! - [`classify`]: bytes as XML. Whatever classifies must classify the same after a trip
//!   through XML text, and every policy must decide on it without panicking.
//! - `cache()`: bytes as a list of operations on a [`CapsCache`](crate::CapsCache) with small
//!   bounds (caps from several JIDs of several accounts, right, wrong, ill-formed and error
//!   answers, unavailability, time passing), with the indexes checked after each and a model
//!   of every JID's state: a JID is resolving exactly while it is on a query in flight, and
//!   only right answers are shared.

mod cache;

use minidom::Element;

use crate::filter::Filter;
use crate::info::{CapsInfo, CapsState};
use crate::notification::{EventKind, Notification};
use crate::policy::{CollectionRule, EventsWithoutNotify, Policy, PurgeRule, UnknownKindRule};

pub use self::cache::cache;

/// The most features one input parses.
const MAX_FEATURES: usize = 512;

/// Parses `data` as lines of features and checks the round trip.
pub fn features(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.lines().take(MAX_FEATURES).collect();
    let filter = Filter::from_features(&lines);
    let written = filter.features();
    assert!(
        written.iter().all(|f| crate::filter::is_filter_feature(f)),
        "wrote a feature outside the grammar: {written:?}"
    );
    let again = Filter::from_features(&written);
    assert_eq!(
        again, filter,
        "filter -> features -> filter changed it: {written:?}"
    );
    assert_eq!(again.features(), written, "features are not stable");
    let twice: Vec<&str> = lines.iter().rev().chain(lines.iter()).copied().collect();
    assert_eq!(
        Filter::from_features(&twice),
        filter,
        "merging is not idempotent"
    );
    let info = CapsInfo::from_features(&lines);
    assert_eq!(info.filter(), &filter);
    assert_eq!(CapsInfo::from_features(info.features()), info);
}

/// Parses `data` as XML and classifies it; checks stability and that policies decide.
pub fn classify(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(element) = text.parse::<Element>() else {
        return;
    };
    let direct = Notification::classify(&element);
    let reparsed = String::from(&element).parse::<Element>();
    assert!(reparsed.is_ok(), "our own XML does not parse: {element:?}");
    if let Ok(reparsed) = reparsed {
        assert_eq!(
            Notification::classify(&reparsed),
            direct,
            "XML text changed it"
        );
    }
    for event in element.children() {
        let _ = Notification::from_event_element(event);
    }
    if let Ok(Some(notification)) = direct {
        decide(&notification);
    }
}

/// Runs every policy over a few filters naming the notification's node.
fn decide(notification: &Notification) {
    let node = notification.node();
    let lists = [
        "",
        "config-delete-retract-sub",
        "retract",
        "purge-collection",
        "future",
    ];
    let mut states = vec![CapsState::Unknown, CapsState::Resolving];
    for list in lists {
        for notify in [false, true] {
            let mut features = vec![format!("{node}+events-{list}")];
            if notify {
                features.push(format!("{node}+notify"));
            }
            states.push(CapsState::Known(CapsInfo::from_features(features)));
        }
    }
    let policies = [
        Policy::default(),
        Policy::legacy(),
        Policy::default()
            .with_purge(PurgeRule::OnlyToken)
            .with_collection(CollectionRule::LikeItems)
            .with_unknown_kind(UnknownKindRule::Never)
            .with_events_without_notify(EventsWithoutNotify::ListedKinds),
    ];
    for policy in policies {
        for state in &states {
            let accepts = policy.accepts(state, notification);
            if matches!(notification.kind(), EventKind::Publish) && accepts {
                // New items need +notify under every policy here.
                let info = state.info();
                assert!(info.is_none_or(|i| i.filter().node(node).is_some_and(|r| r.notify)));
            }
        }
    }
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
            let mut data = vec![0u8; 16 + (i % 8) * 128];
            rng.fill_bytes(&mut data);
            data
        })
    }

    #[test]
    fn features_on_examples_and_noise() {
        super::features(
            b"http://jabber.org/protocol/geoloc+notify\n\
              http://jabber.org/protocol/geoloc+events-config-sub\n\
              a+events-b+events-sub-delete-sub\nx+events-\n+notify\nn+events-a+b-c",
        );
        for data in inputs(1, 200) {
            super::features(&data);
        }
        // Noise made of the grammar's own pieces.
        let pieces: &[&[u8]] = &[b"+notify", b"+events-", b"-", b"+", b"a", b"config", b"\n"];
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        for _ in 0..500 {
            let mut data = Vec::new();
            for _ in 0..40 {
                let i = usize::try_from(rng.next_u32()).unwrap_or(0) % pieces.len();
                data.extend_from_slice(pieces[i]);
            }
            super::features(&data);
        }
    }

    #[test]
    fn classify_on_examples_and_noise() {
        for xml in [
            "<message xmlns='jabber:client'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='n'><item id='1'/></items></event></message>",
            "<message xmlns='jabber:server'><event xmlns='http://jabber.org/protocol/pubsub#event'><collection node='c'/></event></message>",
            "<message xmlns='jabber:client'><event xmlns='http://jabber.org/protocol/pubsub#event'><x node='n'/></event></message>",
            "<message xmlns='jabber:client'><event xmlns='http://jabber.org/protocol/pubsub#event'><items/></event></message>",
        ] {
            super::classify(xml.as_bytes());
        }
        for data in inputs(2, 200) {
            super::classify(&data);
        }
    }

    #[test]
    fn cache_on_noise() {
        for data in inputs(3, 300) {
            super::cache(&data);
        }
    }
}
