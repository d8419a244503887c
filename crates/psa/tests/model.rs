//! Model-based properties of the tracker and the client view together.
//!
//! A small world (local watchers with client views, local sessions and remote contacts on two
//! remote domains) runs random sequences of presences, link flaps, pauses, resumes, expiries,
//! caps and time. A model of the truth (which links are down, which sessions paused, what
//! each watcher last received) runs beside it, and after every step:
//! (a) every annotation goes to a watcher that holds the sender's available presence (never
//!     after unavailable), wants annotations, and is not hibernating;
//! (b) every annotation changes that watcher's view (no duplicates), and at most one goes to
//!     each (watcher, sender) pair per step;
//! (c) the view of every watcher that wants annotations and is not hibernating matches the
//!     truth: stale exactly when the sender's link is down or its session paused, with the
//!     sender's latest status. Together with (b): exactly one annotation per state change.
//!
//! A hibernating watcher's view is frozen; what the server routed to it meanwhile is
//! delivered on resume (as XEP-0198 would), before the tracker's catch-up, and then (c) holds
//! again. The number of cases comes from `PROPTEST_CASES`.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use common::{available, domain, full, jid, t0, unavailable};
use proptest::prelude::*;
use xmpp_parsers::presence::Presence;
use xmpp_psa::{
    LinkLoss, Now, StreamId, Tracker, TrackerConfig, Transmit, TransmitKind, View, ViewConfig,
};

const GRACE: u64 = 10;
const WATCHERS: [&str; 4] = [
    "w0@montague.lit/r",
    "w1@montague.lit/r",
    "w2@montague.lit/r",
    "l0@montague.lit/s",
];
const SOURCES: [&str; 5] = [
    "r0@a.lit/x",
    "r1@a.lit/y",
    "r2@b.lit/z",
    "l0@montague.lit/s",
    "l1@montague.lit/s",
];
const DOMAINS: [&str; 2] = ["a.lit", "b.lit"];

#[derive(Debug, Clone)]
enum Op {
    /// A source's presence reaches a watcher (available with a status, or unavailable).
    Presence {
        source: usize,
        watcher: usize,
        status: Option<u8>,
    },
    Established {
        domain: usize,
        stream: u64,
    },
    Closed {
        domain: usize,
        stream: u64,
        outage: bool,
    },
    Failed {
        domain: usize,
    },
    /// A local party (watcher or session) pauses, resumes or ends.
    Pause(usize),
    Resume(usize),
    End(usize),
    /// w2's caps resolve.
    Caps(bool),
    Wait(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..SOURCES.len(), 0..WATCHERS.len(), proptest::option::weighted(0.8, 0..4u8))
            .prop_map(|(source, watcher, status)| Op::Presence { source, watcher, status }),
        2 => (0..2usize, 0..2u64).prop_map(|(domain, stream)| Op::Established { domain, stream }),
        2 => (0..2usize, 0..2u64, any::<bool>())
            .prop_map(|(domain, stream, outage)| Op::Closed { domain, stream, outage }),
        1 => (0..2usize).prop_map(|domain| Op::Failed { domain }),
        2 => (0..LOCALS.len()).prop_map(Op::Pause),
        2 => (0..LOCALS.len()).prop_map(Op::Resume),
        1 => (0..LOCALS.len()).prop_map(Op::End),
        1 => any::<bool>().prop_map(Op::Caps),
        2 => (0..25u8).prop_map(Op::Wait),
    ]
}

/// Local sessions that can pause: the watchers and l1.
const LOCALS: [&str; 5] = [
    "w0@montague.lit/r",
    "w1@montague.lit/r",
    "w2@montague.lit/r",
    "l0@montague.lit/s",
    "l1@montague.lit/s",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkState {
    Up,
    Suspect(Duration),
    Down,
}

#[derive(Debug)]
struct Link {
    streams: BTreeSet<u64>,
    state: LinkState,
}

struct World {
    tracker: Tracker,
    now: Now,
    elapsed: Duration,
    links: Vec<Link>,
    paused: BTreeSet<&'static str>,
    /// Caps known: w2 starts unknown.
    interest: HashMap<&'static str, Option<bool>>,
    views: HashMap<&'static str, View>,
    /// What the server routed to a hibernating watcher, delivered on resume.
    queued: HashMap<&'static str, Vec<Presence>>,
    /// (watcher, source) -> latest available status received.
    holds: BTreeMap<(&'static str, &'static str), String>,
}

impl World {
    fn new() -> Self {
        let mut config = TrackerConfig::new(domain("montague.lit"));
        config.grace = Duration::from_secs(GRACE);
        config.probe_on_restore = false;
        let mut tracker = Tracker::new(config);
        let mut interest = HashMap::new();
        for w in WATCHERS {
            let known = (w != WATCHERS[2]).then_some(true);
            if known == Some(true) {
                tracker.handle_interest(t0(), &jid(w), true);
            }
            let _ = interest.insert(w, known);
        }
        Self {
            tracker,
            now: t0(),
            elapsed: Duration::ZERO,
            links: (0..2)
                .map(|_| Link {
                    streams: BTreeSet::new(),
                    state: LinkState::Up,
                })
                .collect(),
            paused: BTreeSet::new(),
            interest,
            views: WATCHERS.iter().map(|w| (*w, view())).collect(),
            queued: HashMap::new(),
            holds: BTreeMap::new(),
        }
    }

    fn domain_of(source: &str) -> Option<usize> {
        let host = source.split('@').nth(1)?.split('/').next()?;
        DOMAINS.iter().position(|d| *d == host)
    }

    fn stale(&self, source: &str) -> bool {
        match Self::domain_of(source) {
            Some(d) => self.links[d].state == LinkState::Down,
            None => self.paused.contains(source),
        }
    }

    fn wants(&self, watcher: &str) -> bool {
        self.interest.get(watcher).copied().flatten() == Some(true)
    }

    /// Delivers a presence the server routes to `watcher` (through the tracker first).
    fn route(&mut self, watcher: &'static str, source: &'static str, mut presence: Presence) {
        let _ = self.tracker.handle_presence(self.now, &mut presence);
        match presence.type_ {
            // A watcher that said it wants no annotations is not tracked (and not checked).
            xmpp_parsers::presence::Type::None
                if self.interest.get(watcher) == Some(&Some(false)) => {}
            xmpp_parsers::presence::Type::None => {
                let status = presence
                    .statuses
                    .values()
                    .next()
                    .cloned()
                    .unwrap_or_default();
                let _ = self.holds.insert((watcher, source), status);
            }
            _ => {
                let _ = self.holds.remove(&(watcher, source));
            }
        }
        if self.paused.contains(watcher) {
            self.queued.entry(watcher).or_default().push(presence);
        } else if let Some(view) = self.views.get_mut(watcher) {
            let _ = view.handle_presence(&presence);
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Presence {
                source,
                watcher,
                status,
            } => {
                let (source, watcher) = (SOURCES[source], WATCHERS[watcher]);
                if source == watcher {
                    return Ok(());
                }
                // A remote presence only arrives over an open stream; an ended local session
                // sends nothing until it is back (it comes back unpaused).
                if let Some(d) = Self::domain_of(source)
                    && self.links[d].streams.is_empty()
                {
                    return Ok(());
                }
                let presence = match status {
                    Some(n) => available(source, watcher, &format!("status {n}")),
                    None => unavailable(source, watcher),
                };
                self.route(watcher, source, presence);
                if status.is_none() {
                    // The sender went unavailable: it stops being a watcher (RFC 6121 §4.5).
                    self.holds.retain(|(w, _), _| *w != source);
                }
                self.settle()
            }
            Op::Established { domain: d, stream } => {
                let link = &mut self.links[d];
                let _ = link.streams.insert(stream);
                link.state = LinkState::Up;
                self.tracker
                    .handle_link_established(self.now, &domain(DOMAINS[d]), StreamId(stream))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                self.settle()
            }
            Op::Closed {
                domain: d,
                stream,
                outage,
            } => {
                let deadline = self.elapsed + Duration::from_secs(GRACE);
                let link = &mut self.links[d];
                let _ = link.streams.remove(&stream);
                if outage && link.streams.is_empty() && link.state == LinkState::Up {
                    link.state = LinkState::Suspect(deadline);
                }
                let reason = if outage {
                    LinkLoss::Network
                } else {
                    LinkLoss::Idle
                };
                self.tracker
                    .handle_link_closed(self.now, &domain(DOMAINS[d]), StreamId(stream), reason)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                self.settle()
            }
            Op::Failed { domain: d } => {
                let deadline = self.elapsed + Duration::from_secs(GRACE);
                let link = &mut self.links[d];
                if link.streams.is_empty() && link.state == LinkState::Up {
                    link.state = LinkState::Suspect(deadline);
                }
                self.tracker
                    .handle_link_failed(self.now, &domain(DOMAINS[d]), LinkLoss::ConnectFailed)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                self.settle()
            }
            Op::Pause(i) => {
                let _ = self.paused.insert(LOCALS[i]);
                self.tracker
                    .handle_session_paused(self.now, &full(LOCALS[i]))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                self.settle()
            }
            Op::Resume(i) => {
                let who = LOCALS[i];
                let was = self.paused.remove(who);
                // XEP-0198 delivers what was queued before anything new.
                for presence in self.queued.remove(who).unwrap_or_default() {
                    if let Some(view) = self.views.get_mut(who) {
                        let _ = view.handle_presence(&presence);
                    }
                }
                self.tracker
                    .handle_session_resumed(self.now, &full(who))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let _ = was;
                self.settle()
            }
            Op::End(i) => {
                let who = LOCALS[i];
                let _ = self.paused.remove(who);
                let _ = self.queued.remove(who);
                self.tracker
                    .handle_session_ended(self.now, &full(who))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let none = self.drain();
                prop_assert!(none.is_empty(), "an ended session sends nothing: {none:?}");
                // As a watcher it is gone (a new session starts afresh, caps known again).
                if let Some(view) = self.views.get_mut(who) {
                    *view = self::view();
                }
                self.holds.retain(|(w, _), _| *w != who);
                if who == WATCHERS[2] {
                    let _ = self.interest.insert(who, None);
                } else if self.interest.contains_key(who) {
                    self.tracker.handle_interest(self.now, &jid(who), true);
                }
                // The server sends its unavailable to everyone who held its presence.
                let holders: Vec<&'static str> = self
                    .holds
                    .keys()
                    .filter(|(_, s)| *s == who)
                    .map(|(w, _)| *w)
                    .collect();
                for watcher in holders {
                    self.route(watcher, who, unavailable(who, watcher));
                }
                self.settle()
            }
            Op::Caps(wants) => {
                let w2 = WATCHERS[2];
                let _ = self.interest.insert(w2, Some(wants));
                self.tracker.handle_interest(self.now, &jid(w2), wants);
                if !wants {
                    self.holds.retain(|(w, _), _| *w != w2);
                    // It no longer reads annotations; its view is not checked any more.
                }
                self.settle()
            }
            Op::Wait(secs) => {
                let target = self.elapsed + Duration::from_secs(u64::from(secs));
                // Fire the grace timer at its deadline, as an event loop would.
                while let Some(deadline) = self.tracker.poll_timeout() {
                    let at = deadline - t0().monotonic();
                    if at > target {
                        break;
                    }
                    self.advance_to(at);
                    for link in &mut self.links {
                        if let LinkState::Suspect(due) = link.state
                            && due <= at
                        {
                            link.state = LinkState::Down;
                        }
                    }
                    self.tracker.handle_timeout(self.now);
                    self.settle()?;
                }
                self.advance_to(target);
                Ok(())
            }
        }
    }

    fn advance_to(&mut self, at: Duration) {
        if at > self.elapsed {
            self.now = self.now.advance(at - self.elapsed);
            self.elapsed = at;
        }
    }

    fn drain(&mut self) -> Vec<Transmit> {
        let mut out = Vec::new();
        while let Some(t) = self.tracker.poll_transmit() {
            out.push(t);
        }
        while self.tracker.poll_event().is_some() {}
        out
    }

    /// Drains the tracker, checks each annotation, delivers it, and checks the views.
    fn settle(&mut self) -> Result<(), TestCaseError> {
        let transmits = self.drain();
        self.check(&transmits)
    }

    fn check(&mut self, transmits: &[Transmit]) -> Result<(), TestCaseError> {
        let mut seen = BTreeSet::new();
        for t in transmits {
            prop_assert!(t.kind() != &TransmitKind::Probe, "probes are off");
            let to = WATCHERS
                .iter()
                .find(|w| jid(w) == *t.to())
                .copied()
                .ok_or_else(|| TestCaseError::fail(format!("to a stranger: {t:?}")))?;
            let from = t
                .presence()
                .from
                .clone()
                .map(|f| f.to_string())
                .unwrap_or_default();
            let source = SOURCES
                .iter()
                .find(|s| **s == from)
                .copied()
                .ok_or_else(|| TestCaseError::fail(format!("from a stranger: {t:?}")))?;
            prop_assert!(
                self.holds.contains_key(&(to, source)),
                "annotation for a presence {to} does not hold from {source}: {t:?}"
            );
            prop_assert!(self.wants(to), "{to} did not ask for annotations");
            prop_assert!(!self.paused.contains(to), "queued for hibernating {to}");
            prop_assert!(
                seen.insert((to, source)),
                "two annotations for one pair: {t:?}"
            );
            let view = self
                .views
                .get_mut(to)
                .ok_or_else(|| TestCaseError::fail("no view"))?;
            let before = view.is_stale(&jid(source));
            let _ = view.handle_presence(t.presence());
            prop_assert!(
                view.is_stale(&jid(source)) != before,
                "a duplicate annotation for ({to}, {source}): {t:?}"
            );
        }
        for ((watcher, source), status) in &self.holds {
            if !self.wants(watcher) || self.paused.contains(watcher) {
                continue;
            }
            let view = &self.views[watcher];
            let resource = view.resource(&jid(source));
            prop_assert!(resource.is_some(), "{watcher}'s view lost {source}");
            let resource = resource.ok_or_else(|| TestCaseError::fail("checked"))?;
            prop_assert_eq!(
                resource.presence.statuses.values().next(),
                Some(status),
                "{}'s view of {}",
                watcher,
                source
            );
            prop_assert_eq!(
                view.is_stale(&jid(source)),
                self.stale(source),
                "{}'s view of {}: stale?",
                watcher,
                source
            );
        }
        Ok(())
    }
}

fn view() -> View {
    View::new(ViewConfig::new(domain("montague.lit")))
}

proptest! {

    #![proptest_config(persisted(ProptestConfig::default()))]
    #[test]
    fn one_annotation_per_state_change_and_views_match_the_truth(
        ops in proptest::collection::vec(op(), 1..120)
    ) {
        let mut world = World::new();
        for op in &ops {
            world.apply(op)?;
        }
    }
}

/// Saved failures go beside this file (`<name>.proptest-regressions`) and are replayed first:
/// proptest's default looks beside `src/`, which an integration test has not.
fn persisted(config: ProptestConfig) -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..config
    }
}
