//! Composing with xmpp-sm: the wiring a server writes so that XEP-0198 drives XEP-0310.
//!
//! A server that runs xmpp-sm already drains two event streams: each stream's
//! [`ServerEvent`]s and the store's [`StoreEvent`]s. Three of those events are the tracker's
//! session inputs, each carrying the full JID the tracker keys on:
//!
//! | xmpp-sm | tracker |
//! |---|---|
//! | [`ServerEvent::Hibernated`] (the connection was lost) | [`Tracker::handle_session_paused`] |
//! | [`ServerEvent::Resumed`] (on the new stream) | [`Tracker::handle_session_resumed`] |
//! | [`StoreEvent::HandedBack`] (the hibernation expired, or was evicted) | [`Tracker::handle_session_ended`], then the usual unavailable |
//!
//! [`sm_event`] and [`store_event`] below are that whole wiring (the README and the crate
//! docs quote them); everything else in this file plays the network and the clock.

mod common;

use std::time::Duration;

use minidom::Element;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xmpp_parsers::presence::Presence;
use xmpp_psa::{
    Condition, Event, Freshness, Misuse, Now, StateAnnotation, Tracker, TrackerConfig, View,
    ViewConfig,
};
use xmpp_sm::{
    Client, ClientConfig, HandBackReason, Namespace, Placement, Server, ServerConfig, ServerEvent,
    SessionStore, StoreEvent,
};

use common::{available, domain, full, jid, t0, unavailable};

// ---- the wiring: this is all a server adds ----

/// A stream's event, after the server's own handling of it (routing, handing back).
fn sm_event(tracker: &mut Tracker, now: Now, event: &ServerEvent) -> Result<(), Misuse> {
    match event {
        ServerEvent::Hibernated { jid: Some(jid), .. } => tracker.handle_session_paused(now, jid),
        ServerEvent::Resumed { jid: Some(jid), .. } => tracker.handle_session_resumed(now, jid),
        _ => Ok(()),
    }
}

/// A store event: a hibernated session is over. The tracker forgets it first, so that the
/// unavailable presence the server then broadcasts as usual goes out plain.
fn store_event(tracker: &mut Tracker, now: Now, event: &StoreEvent) -> Result<(), Misuse> {
    match event {
        StoreEvent::HandedBack { jid: Some(jid), .. } => tracker.handle_session_ended(now, jid),
        _ => Ok(()),
    }
}

// ---- the rest plays the server, its clients and the clock ----

const ROMEO: &str = "romeo@montague.lit/lane";
const BENVOLIO: &str = "benvolio@montague.lit/square";
const JULIET: &str = "juliet@montague.lit/balcony";

/// A server with one tracker and one session store, Juliet's stream and client, and the
/// presences delivered to each watcher (Romeo also keeps a client-side view).
struct World {
    now: Now,
    rng: ChaCha20Rng,
    store: SessionStore<()>,
    tracker: Tracker,
    juliet: Client,
    stream: Option<Server<()>>,
    romeo_view: View,
    delivered: Vec<(jid::Jid, Presence)>,
    events: Vec<Event>,
}

impl World {
    /// Romeo asks for annotations, Benvolio does not; Juliet's session has stream management
    /// on and her presence reached both.
    fn new(max_resume: u32) -> Self {
        let mut config = ServerConfig::default();
        config.default_resume = max_resume;
        let mut w = Self {
            now: t0(),
            rng: ChaCha20Rng::seed_from_u64(11),
            store: SessionStore::new(config),
            tracker: Tracker::new(TrackerConfig::new(domain("montague.lit"))),
            juliet: Client::new(ClientConfig::default()),
            stream: None,
            romeo_view: View::new(ViewConfig::new(domain("montague.lit"))),
            delivered: Vec::new(),
            events: Vec::new(),
        };
        w.tracker.handle_interest(w.now, &jid(ROMEO), true);
        w.tracker.handle_interest(w.now, &jid(BENVOLIO), false);
        let mut stream = w
            .store
            .stream(jid("juliet@montague.lit").to_bare(), (), &mut w.rng);
        stream.handle_bind(w.now, full(JULIET)).expect("binds");
        w.juliet
            .enable(w.now, Namespace::Sm3, Placement::TopLevel)
            .expect("enables");
        w.stream = Some(stream);
        w.wire();
        assert!(w.juliet.is_enabled());
        for watcher in [ROMEO, BENVOLIO] {
            w.deliver(available(JULIET, watcher, "On the balcony"));
        }
        w
    }

    /// A presence the server delivers: through the tracker on its way out.
    fn deliver(&mut self, mut presence: Presence) {
        let _ = self.tracker.handle_presence(self.now, &mut presence);
        self.write(presence);
    }

    fn write(&mut self, presence: Presence) {
        let to = presence.to.clone().expect("addressed");
        if to == jid(ROMEO) {
            let _ = self.romeo_view.handle_presence(&presence);
        }
        self.delivered.push((to, presence));
    }

    /// Carries every queued element between Juliet's client and her stream, then drains the
    /// stream's events through the wiring and the tracker's outputs to the watchers.
    fn wire(&mut self) {
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        loop {
            let mut moved = false;
            while let Some(t) = self.juliet.poll_transmit() {
                let _ = stream.handle_element(self.now, t.into_element());
                moved = true;
            }
            while let Some(t) = stream.poll_transmit() {
                let _ = self.juliet.handle_element(self.now, t.into_element());
                moved = true;
            }
            if !moved {
                break;
            }
        }
        while self.juliet.poll_event().is_some() {}
        let events: Vec<ServerEvent> = std::iter::from_fn(|| stream.poll_event()).collect();
        for event in &events {
            sm_event(&mut self.tracker, self.now, event).expect("a local session");
        }
        self.drain();
    }

    /// The tracker's drain contract: its presences go straight to their watchers.
    fn drain(&mut self) {
        while let Some(transmit) = self.tracker.poll_transmit() {
            self.write(transmit.into_presence());
        }
        self.events
            .extend(std::iter::from_fn(|| self.tracker.poll_event()));
    }

    /// Juliet's TCP connection breaks: both ends notice.
    fn cut(&mut self) {
        self.juliet.handle_disconnect(self.now);
        if let Some(stream) = self.stream.as_mut() {
            stream.handle_disconnect(self.now);
        }
        self.wire();
        self.stream = None;
    }

    /// Juliet reconnects and resumes on a new stream.
    fn resume(&mut self) {
        let stream = self
            .store
            .stream(jid("juliet@montague.lit").to_bare(), (), &mut self.rng);
        self.stream = Some(stream);
        self.juliet
            .resume(self.now, Placement::TopLevel)
            .expect("resumable");
        self.wire();
    }

    /// Lets time pass, running the store's timer as the server's timer task does.
    fn wait(&mut self, secs: u64) -> Vec<HandBackReason> {
        self.now = self.now.advance(Duration::from_secs(secs));
        self.store.handle_timeout(self.now);
        let mut reasons = Vec::new();
        while let Some(event) = self.store.poll_event() {
            store_event(&mut self.tracker, self.now, &event).expect("a local session");
            self.drain();
            let StoreEvent::HandedBack { reason, jid, .. } = event else {
                continue;
            };
            reasons.push(reason);
            // The server's usual part: the resource is gone, its contacts are told.
            if let Some(jid) = jid {
                for watcher in [ROMEO, BENVOLIO] {
                    self.deliver(unavailable(&jid.to_string(), watcher));
                }
            }
        }
        reasons
    }

    /// What reached `watcher` since the last call: (its annotation: `plain` for none,
    /// `restored` for the empty one, else the condition; the presence's type).
    fn take(&mut self, watcher: &str) -> Vec<(&'static str, String)> {
        let watcher = jid(watcher);
        let (mine, rest) = std::mem::take(&mut self.delivered)
            .into_iter()
            .partition::<Vec<_>, _>(|(to, _)| *to == watcher);
        self.delivered = rest;
        mine.into_iter()
            .map(|(_, p)| {
                let annotation = match StateAnnotation::of(&p).map(|a| a.map(|a| a.condition)) {
                    None => "plain",
                    Some(Ok(None)) => "restored",
                    Some(Ok(Some(Condition::ConnectionPaused))) => "connection-paused",
                    Some(Ok(Some(_))) => "another condition",
                    Some(Err(_)) => "malformed",
                };
                let kind = Element::from(p)
                    .attr("type")
                    .unwrap_or("available")
                    .to_owned();
                (annotation, kind)
            })
            .collect()
    }

    fn juliet_in_romeos_view(&self) -> Option<&Freshness> {
        self.romeo_view.freshness(&jid(JULIET))
    }
}

#[test]
fn hibernation_pauses_resumption_restores_expiry_is_the_plain_unavailable() {
    let mut w = World::new(60);
    assert_eq!(w.take(ROMEO).len(), 1);
    assert_eq!(w.take(BENVOLIO).len(), 1);
    assert_eq!(w.juliet_in_romeos_view(), Some(&Freshness::Fresh));

    // The link breaks: xmpp-sm hibernates the session, the tracker annotates.
    w.cut();
    assert!(w.tracker.is_paused(&full(JULIET)));
    assert_eq!(
        w.take(ROMEO),
        [("connection-paused", "available".to_owned())]
    );
    assert!(
        w.take(BENVOLIO).is_empty(),
        "no caps feature, nothing extra"
    );
    assert!(w.romeo_view.is_stale(&jid(JULIET)));
    let Some(Freshness::Stale(stale)) = w.juliet_in_romeos_view() else {
        panic!("stale");
    };
    assert_eq!(stale.annotator, Some(jid("montague.lit")));
    assert!(
        w.events
            .iter()
            .any(|e| matches!(e, Event::Paused { annotated: 1, .. }))
    );

    // Juliet resumes on a new connection: the empty annotation.
    w.now = w.now.advance(Duration::from_secs(20));
    w.resume();
    assert!(w.juliet.is_enabled(), "resumed");
    assert!(!w.tracker.is_paused(&full(JULIET)));
    assert_eq!(w.take(ROMEO), [("restored", "available".to_owned())]);
    assert_eq!(w.juliet_in_romeos_view(), Some(&Freshness::Fresh));
    assert!(w.take(BENVOLIO).is_empty());
    assert!(
        w.events
            .iter()
            .any(|e| matches!(e, Event::Resumed { restored: 1, .. }))
    );

    // The link breaks again, and this time the hibernation runs out.
    w.cut();
    assert_eq!(
        w.take(ROMEO),
        [("connection-paused", "available".to_owned())]
    );
    assert!(w.wait(30).is_empty(), "still within the 60 s");
    assert_eq!(w.wait(31), [HandBackReason::Expired]);
    // Only the plain unavailable: never an empty annotation first (XEP-0310 §4.2).
    assert_eq!(w.take(ROMEO), [("plain", "unavailable".to_owned())]);
    assert_eq!(w.take(BENVOLIO), [("plain", "unavailable".to_owned())]);
    assert_eq!(w.juliet_in_romeos_view(), None, "offline");
    assert!(!w.tracker.is_paused(&full(JULIET)));
    assert!(!w.tracker.holds(&jid(ROMEO), &jid(JULIET)));
    assert_eq!(w.tracker.presences(), 0, "nothing left behind");
}

#[test]
fn a_hibernating_watcher_is_caught_up_when_it_resumes() {
    // Romeo's own session is the one that hibernates here; Juliet's stays up, then pauses.
    let mut w = World::new(60);
    let _ = (w.take(ROMEO), w.take(BENVOLIO));
    w.tracker
        .handle_session_paused(w.now, &full(ROMEO))
        .expect("local"); // as `sm_event` would for Romeo's ServerEvent::Hibernated
    w.cut();
    assert!(
        w.take(ROMEO).is_empty(),
        "nothing is queued for a hibernating watcher"
    );
    w.tracker
        .handle_session_resumed(w.now, &full(ROMEO))
        .expect("local");
    w.drain();
    assert_eq!(
        w.take(ROMEO),
        [("connection-paused", "available".to_owned())],
        "caught up with what its view lacks"
    );
}

#[test]
fn a_session_that_closes_without_hibernating_gets_nothing_from_the_tracker() {
    let mut w = World::new(60);
    let _ = w.take(ROMEO);
    // A clean close: no Hibernated event; the server ends the session and says unavailable.
    if let Some(stream) = w.stream.as_mut() {
        stream.close(w.now);
    }
    w.wire();
    w.tracker
        .handle_session_ended(w.now, &full(JULIET))
        .expect("local");
    w.drain();
    w.deliver(unavailable(JULIET, ROMEO));
    assert_eq!(w.take(ROMEO), [("plain", "unavailable".to_owned())]);
    assert!(w.events.iter().all(|e| !matches!(e, Event::Paused { .. })));
}
