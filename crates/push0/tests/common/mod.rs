//! Test support shared by xmpp-push0's integration tests: virtual time, seeded randomness,
//! stanza helpers, and draining a machine.

#![allow(dead_code, unreachable_pub, unused_macros)]

use std::time::{Duration, SystemTime};

use jid::{BareJid, FullJid, Jid};
use minidom::Element;
use minidom::rxml::{Namespace, NcNameStr, xml_ncname};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xmpp_push0::{
    AppServer, Enable, Event, Monotonic, Now, PublishIq, Registry, RegistryConfig, Transmit,
};

/// A `RegistryConfig` with some fields changed (it is `#[non_exhaustive]`).
macro_rules! config {
    ($($field:ident : $value:expr),* $(,)?) => {{
        let mut c = xmpp_push0::RegistryConfig::default();
        $(c.$field = $value;)*
        c
    }};
}

/// 2023-11-14 22:13:20 UTC on the wall clock, 10 s after the caller's monotonic epoch.
pub fn t0() -> Now {
    Now::new(
        Monotonic::from_epoch(Duration::from_secs(10)),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    )
}

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub fn xml(text: &str) -> Element {
    text.parse()
        .unwrap_or_else(|e| panic!("test XML {text:?}: {e}"))
}

pub fn jid(s: &str) -> Jid {
    s.parse().expect("test JID")
}

pub fn bare(s: &str) -> BareJid {
    s.parse().expect("test JID")
}

pub fn full(s: &str) -> FullJid {
    s.parse().expect("test JID")
}

pub fn set(mut el: Element, name: &'static NcNameStr, value: &str) -> Element {
    el.set_attr(Namespace::NONE, name.to_owned(), value);
    el
}

/// What routing does to a client's stanza: stamps its full JID as `from`.
pub fn from(el: Element, who: &str) -> Element {
    set(el, xml_ncname!("from"), who)
}

pub const JULIET: &str = "juliet@capulet.example";
pub const PHONE: &str = "juliet@capulet.example/phone";
pub const TABLET: &str = "juliet@capulet.example/tablet";
pub const SERVICE: &str = "push.example";

pub fn registry(config: RegistryConfig) -> Registry {
    Registry::new(config, &mut rng(1))
}

/// Everything a machine handed out since the last drain.
#[derive(Debug, Default)]
pub struct Drained {
    pub replies: Vec<Element>,
    pub publishes: Vec<PublishIq>,
    pub events: Vec<Event>,
}

impl Drained {
    /// The events that are not `Changed` (those say "persist", which most tests ignore).
    pub fn events(&self) -> Vec<&Event> {
        self.events
            .iter()
            .filter(|e| !matches!(e, Event::Changed { .. }))
            .collect()
    }
}

pub fn drain(r: &mut Registry) -> Drained {
    let mut d = Drained::default();
    while let Some(t) = r.poll_transmit() {
        match t {
            Transmit::Publish(p) => d.publishes.push(p),
            other => d.replies.push(other.into_element()),
        }
    }
    while let Some(e) = r.poll_event() {
        d.events.push(e);
    }
    d
}

/// `session` enables `node` at `service` with `secret`; returns the drained reply and events.
pub fn enable(r: &mut Registry, now: Now, session: &str, service: &str, node: &str) -> Drained {
    let iq = Enable::new(jid(service), node)
        .with_secret(&format!("secret-of-{node}"))
        .to_iq("e1");
    let incoming = r.handle_stanza(now, &from(iq, session));
    assert!(incoming.is_ok(), "enable refused: {incoming:?}");
    let d = drain(r);
    assert_eq!(d.replies.len(), 1);
    assert_eq!(
        d.replies[0].attr("type"),
        Some("result"),
        "{:?}",
        d.replies[0]
    );
    d
}

/// The push service's answer to a publish: a result, or an error of `kind` with `condition`.
pub fn answer(p: &PublishIq, error: Option<(&str, &str)>) -> Element {
    let mut iq = Element::bare("iq", "jabber:component:accept");
    iq = set(iq, xml_ncname!("id"), p.id());
    iq = set(iq, xml_ncname!("from"), p.node().service.as_str());
    iq = set(iq, xml_ncname!("to"), p.from().as_str());
    match error {
        None => set(iq, xml_ncname!("type"), "result"),
        Some((kind, condition)) => {
            let mut e = Element::bare("error", "jabber:component:accept");
            e = set(e, xml_ncname!("type"), kind);
            e.append_child(Element::bare(
                condition,
                "urn:ietf:params:xml:ns:xmpp-stanzas",
            ));
            let mut iq = set(iq, xml_ncname!("type"), "error");
            iq.append_child(e);
            iq
        }
    }
}

/// Runs every publish through `app` and feeds the answers back to `r`.
pub fn deliver(r: &mut Registry, app: &mut AppServer, now: Now, publishes: &[PublishIq]) {
    for p in publishes {
        let _ = app.handle_stanza(now, &p.to_element());
        while let Some(a) = app.poll_transmit() {
            let _ = r.handle_stanza(now, &a.element);
        }
    }
}
