//! What the behaviour tests share: a virtual clock, presences from the XEP's examples, and a
//! tracker with its outputs drained.

#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, SystemTime};

use minidom::Element;
use xmpp_parsers::presence::Presence;
use xmpp_psa::{Event, Monotonic, Now, Tracker, TrackerConfig, Transmit};

pub fn t0() -> Now {
    Now::new(
        Monotonic::from_epoch(Duration::from_secs(100)),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    )
}

pub fn jid(s: &str) -> jid::Jid {
    s.parse().expect("a JID")
}

pub fn full(s: &str) -> jid::FullJid {
    s.parse().expect("a full JID")
}

pub fn domain(s: &str) -> jid::DomainPart {
    jid::DomainPart::new(s).expect("a domain").into_owned()
}

/// An example as the XEP prints it: without the stanza namespace, with indentation.
pub fn example(xml: &str) -> Presence {
    Presence::try_from(element(xml)).expect("a presence")
}

pub fn element(xml: &str) -> Element {
    let compact: String = xml
        .split('\n')
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
        .replace("> <", "><")
        .replace("<presence ", "<presence xmlns='jabber:client' ");
    compact.parse().expect("XML")
}

/// An available presence with one status.
pub fn available(from: &str, to: &str, status: &str) -> Presence {
    let mut presence = Presence::available().with_from(jid(from)).with_to(jid(to));
    presence.set_status("", status);
    presence
}

pub fn unavailable(from: &str, to: &str) -> Presence {
    Presence::unavailable()
        .with_from(jid(from))
        .with_to(jid(to))
}

/// montague.lit and the room service chats.shakespeare.lit, as in the XEP.
pub fn config() -> TrackerConfig {
    TrackerConfig::new(domain("montague.lit")).with_domain(domain("chats.shakespeare.lit"))
}

/// Everything the tracker has to say after a call, in drain order.
#[derive(Debug, Default)]
pub struct Drained {
    pub transmits: Vec<Transmit>,
    pub events: Vec<Event>,
}

pub fn drain(tracker: &mut Tracker) -> Drained {
    let mut out = Drained::default();
    while let Some(t) = tracker.poll_transmit() {
        assert_eq!(
            t.presence().to.as_ref(),
            Some(t.to()),
            "every transmit is addressed"
        );
        out.transmits.push(t);
    }
    while let Some(e) = tracker.poll_event() {
        out.events.push(e);
    }
    out
}
