//! Every example of XEP-0351 (0.1, the seed; 0.2 of 2017 only deferred it) as a fixture with
//! its exact typed value, and the XEP-0115 generation examples through the caps cache.
//!
//! Fixture files live in `tests/fixtures/{xep0351,xep0115}/`; XML ones begin with a comment
//! naming their source (minidom rejects comments, so the loader strips them), text ones with
//! `#` lines.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use jid::Jid;
use minidom::Element;
use xmpp_parsers::caps::Caps;
use xmpp_parsers::iq::Iq;
use xmpp_rsnf::{
    CapsCache, CapsEvent, CapsInfo, CapsState, EventKind, EventSet, EventToken, Filter, Handled,
    NodeFilter, Notification, PayloadMatch, Policy, Resource,
};
use xmpp_tether_core::{Monotonic, Now};

const GEOLOC: &str = "http://jabber.org/protocol/geoloc";
const NODE: &str = "n48ad4fj78zn38st734";

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read(relative: &str) -> String {
    let path = fixture_dir().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The fixture's element, its comments removed.
fn load(relative: &str) -> Element {
    let text = read(relative);
    assert!(
        text.starts_with("<!--"),
        "{relative}: begins with a comment naming its source"
    );
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("-->").expect("terminated comment");
        rest = &rest[start + end + 3..];
    }
    out.push_str(rest);
    out.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn lines(relative: &str) -> Vec<String> {
    read(relative)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

fn now() -> Now {
    Now::new(Monotonic::ZERO, SystemTime::UNIX_EPOCH)
}

#[test]
fn example_1_sending_the_notification() {
    let expected = Notification::new(NODE, EventKind::Publish).with_payload_ns(GEOLOC);
    for (file, to) in [
        (
            "xep0351/01-sending-the-notification-user1.xml",
            "user1@example.com",
        ),
        (
            "xep0351/02-sending-the-notification-user2.xml",
            "user2@example.com",
        ),
    ] {
        let message = load(file);
        assert_eq!(message.attr("to"), Some(to));
        assert_eq!(
            Notification::classify(&message),
            Ok(Some(expected.clone())),
            "{file}"
        );
        // Unchanged through XML text.
        let again: Element = String::from(&message).parse().expect("our XML parses");
        assert_eq!(Notification::classify(&again), Ok(Some(expected.clone())));
    }
}

#[test]
fn advertising_preferences() {
    let features = lines("xep0351/03-advertising-preferences.txt");
    let filter = Filter::from_features(&features);
    let expected = Filter::new().with_node(
        GEOLOC,
        &NodeFilter::notify().with_events(
            EventSet::new()
                .with(EventToken::Config)
                .with(EventToken::Sub),
        ),
    );
    assert_eq!(filter, expected);
    assert_eq!(
        filter.features(),
        features,
        "built back exactly as the XEP writes them"
    );

    // What these preferences admit of a geoloc PEP node.
    let caps = CapsState::Known(CapsInfo::from_features(&features));
    let policy = Policy::default();
    for (kind, wanted) in [
        (EventKind::Publish, true),
        (EventKind::Config, true),
        (EventKind::Subscription, true),
        (EventKind::Retract, false),
        (EventKind::Delete, false),
        (EventKind::Purge, false),
    ] {
        let n = Notification::new(GEOLOC, kind.clone());
        assert_eq!(policy.accepts(&caps, &n), wanted, "{kind:?}");
    }
}

#[test]
fn example_1_reaches_geoloc_resources_by_payload_only_when_asked() {
    let message = load("xep0351/01-sending-the-notification-user1.xml");
    let n = Notification::classify(&message)
        .expect("classifies")
        .expect("a notification");
    let geoloc = CapsState::Known(CapsInfo::from_features(lines(
        "xep0351/03-advertising-preferences.txt",
    )));
    let by_node = CapsState::Known(CapsInfo::from_features([format!("{NODE}+notify")]));
    let resources = || {
        [
            Resource::new("user1@example.com/geoloc", &geoloc),
            Resource::new("user1@example.com/node", &by_node),
        ]
    };
    assert_eq!(
        Policy::default().recipients(&n, resources()),
        ["user1@example.com/node"]
    );
    let by_payload = Policy::default().with_payload_match(PayloadMatch::NodeOrPayload);
    assert_eq!(
        by_payload.recipients(&n, resources()),
        ["user1@example.com/geoloc", "user1@example.com/node"]
    );
}

#[test]
fn xep0115_examples_verify_through_the_cache() {
    let presence = load("xep0115/03-presence-caps.xml");
    let from: Jid = presence.attr("from").expect("from").parse().expect("a JID");
    let caps = Caps::try_from(
        presence
            .get_child("c", "http://jabber.org/protocol/caps")
            .expect("caps")
            .clone(),
    )
    .expect("caps parse");
    let mut cache = CapsCache::default();
    assert_eq!(cache.handle_caps(now(), &from, &caps), CapsState::Resolving);
    let query = cache.poll_transmit().expect("a query");
    assert_eq!(query.to, from);
    assert_eq!(
        query.node,
        "http://code.google.com/p/exodus#QgayPKawpkPSDYmwT/WM94uAlu0="
    );
    let answer = result(&query.id, &from, load("xep0115/01-simple-generation.xml"));
    assert_eq!(cache.handle_iq(now(), &answer), Handled::Ours);
    let Some(CapsEvent::Resolved { jids, info }) = cache.poll_event() else {
        panic!("the simple example verifies");
    };
    assert_eq!(jids, [from]);
    assert!(info.filter().is_empty() && !info.supports_rsf());

    // §5.3, the complex example (identities in two languages, a form).
    let psi: Jid = "juliet@capulet.lit/balcony".parse().expect("a JID");
    let caps: Caps = "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' \
        node='http://psi-im.org' ver='q07IKJEyjvHSyhy//CH0CxmKi8w='/>"
        .parse::<Element>()
        .ok()
        .and_then(|c| Caps::try_from(c).ok())
        .expect("caps");
    assert_eq!(cache.handle_caps(now(), &psi, &caps), CapsState::Resolving);
    let query = cache.poll_transmit().expect("a query");
    let answer = result(&query.id, &psi, load("xep0115/02-complex-generation.xml"));
    assert_eq!(cache.handle_iq(now(), &answer), Handled::Ours);
    assert!(matches!(
        cache.poll_event(),
        Some(CapsEvent::Resolved { .. })
    ));
    assert_eq!(cache.len(), 2);
}

fn result(id: &str, from: &Jid, query: Element) -> Element {
    let mut iq: Element = Iq::from_result(id, None::<xmpp_parsers::disco::DiscoInfoResult>)
        .with_from(from.clone())
        .into();
    iq.append_child(query);
    iq
}
