//! The server target: a [`SessionStore`] and several [`Server`] streams against fuzzed
//! clients, with take-overs (through the streams' wake-ups, delivered when the input says),
//! drops, disconnects, pushes, time and wall-clock steps, and restarts through a snapshot.
//! After every operation nothing may be lost: each stanza given to a stream or the store is
//! held by one, or came back exactly once (acknowledged, handed back, refused, or written
//! unmanaged); and the store's indexes agree with each other.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use jid::{BareJid, FullJid};
use minidom::Element;
use xmpp_parsers::stanza_error::DefinedCondition;

use super::client::{Policy, placement};
use super::input::{Clock, Input, Ledger, MAX_OPS, Rng, check_emitted, check_error, numbered};
use crate::config::{EnablePolicy, ServerConfig, StoreConfig};
use crate::elements::{self, Enable, Resume, SmId};
use crate::error::Refusal;
use crate::event::ServerEvent;
use crate::ns::Namespace;
use crate::server::Server;
use crate::session::HibernatedSession;
use crate::store::{Route, SessionStore, StoreEvent, StreamHandle};

#[derive(Debug, Arbitrary)]
struct Setup {
    namespaces: u8,
    resume: bool,
    max_resume: u16,
    default_resume: u16,
    ack: Policy,
    max_queue: u8,
    max_hibernated: u8,
    max_per_account: u8,
    max_remembered: u8,
    ask: bool,
    handover_timeout: u8,
    seed: u64,
}

#[derive(Debug, Arbitrary)]
enum Op {
    /// A new authenticated stream of `owners[i]`.
    Open(u8),
    /// Stream `s` reads this at the top level.
    Feed(u8, Input),
    /// Stream `s` reads this inline (SASL2 or Bind2).
    Inline(u8, Input, u8),
    /// Stream `s` binds resource `r` of its owner.
    Bind(u8, u8),
    /// Stream `s` reads a well-formed `<enable/>`.
    Enable(u8, u8, bool, Option<u16>, u8),
    /// Stream `s` reads a well-formed `<resume/>` for a known SM-ID.
    Resume(u8, u8, Option<u16>, u8),
    Accept(u8),
    Reject(u8),
    /// Stream `s` sends a stanza.
    Send(u8, u8),
    /// The router delivers a stanza to resource `r` of `owners[o]`, wherever it is.
    Route(u8, u8, u8),
    RequestAck(u8),
    /// Every woken stream's task runs.
    Wake,
    /// Stream `s`'s task runs (spuriously or not).
    WakeOne(u8),
    Disconnect(u8),
    Close(u8),
    /// Stream `s`'s task is aborted: its `Server` is dropped.
    Drop(u8),
    Advance(u16),
    AdvanceMillis(u16),
    WallStep(i32),
    FireTimeout,
    /// Every stream hibernates, the store goes through a snapshot and back.
    Restart,
    /// A session from another node (owner, resource, stanzas, that node's RNG seed) is
    /// offered to `adopt`.
    Migrate(u8, u8, u8, u64),
    /// The RNG starts again from this seed (SM-ID collisions).
    Reseed(u64),
    /// Stream `s`'s node dies without handing its session over: another node resumes the
    /// stream's checkpoint with the client's `h` (a copy: nothing in the ledger moves).
    Failover(u8, u32),
}

/// The index of the store's timer handle in the wake log.
const TIMER: usize = usize::MAX;
/// The most streams one input opens.
const MAX_STREAMS: usize = 12;

/// A handle that writes down which stream was woken.
#[derive(Debug, Clone)]
struct Handle {
    index: usize,
    log: Rc<RefCell<Vec<usize>>>,
}

impl StreamHandle for Handle {
    fn wake(&self) {
        self.log.borrow_mut().push(self.index);
    }
}

struct World {
    config: ServerConfig,
    /// juliet and romeo own streams; mallory only opens streams that probe.
    owners: [BareJid; 3],
    streams: Vec<Option<Server<Handle>>>,
    store: SessionStore<Handle>,
    log: Rc<RefCell<Vec<usize>>>,
    rng: Rng,
    ledger: Ledger,
    ids: Vec<SmId>,
    clock: Clock,
    next: u64,
}

/// Replays the operations in `data` on server streams and their store; panics if an
/// invariant breaks.
pub fn server(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(setup) = Setup::arbitrary(&mut u) else {
        return;
    };
    let Some(mut world) = World::new(&setup) else {
        return;
    };
    for _ in 0..MAX_OPS {
        // `arbitrary` pads exhausted input with zeros; stop instead of replaying padding.
        if u.is_empty() {
            break;
        }
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        world.step(op);
        world.settle_wakes_of_the_timer();
        world.drain();
        world.check();
    }
    world.finish();
}

impl World {
    fn new(setup: &Setup) -> Option<Self> {
        let store = StoreConfig {
            max_hibernated: usize::from(setup.max_hibernated % 8),
            max_per_account: usize::from(setup.max_per_account % 5),
            max_remembered: usize::from(setup.max_remembered % 8),
        };
        let config = ServerConfig {
            namespaces: match setup.namespaces % 3 {
                0 => vec![Namespace::Sm2, Namespace::Sm3],
                1 => vec![Namespace::Sm1],
                _ => Namespace::ALL.to_vec(),
            },
            resume: setup.resume,
            max_resume: u32::from(setup.max_resume),
            default_resume: u32::from(setup.default_resume),
            ack: setup.ack.policy(),
            max_queue: usize::from(setup.max_queue % 32),
            enable: if setup.ask {
                EnablePolicy::Ask
            } else {
                EnablePolicy::Accept
            },
            handover_timeout: Duration::from_secs(u64::from(setup.handover_timeout % 30)),
            store,
            ..ServerConfig::default()
        };
        let owners = [
            "juliet@example.com".parse().ok()?,
            "romeo@example.net".parse().ok()?,
            "mallory@example.org".parse().ok()?,
        ];
        let log = Rc::default();
        let store = SessionStore::new(config.clone());
        for feature in store.features() {
            check_emitted(&feature);
        }
        let world = Self {
            config,
            owners,
            streams: Vec::new(),
            store,
            log,
            rng: Rng(setup.seed),
            ledger: Ledger::default(),
            ids: Vec::new(),
            clock: Clock::new(),
            next: 0,
        };
        world.store.set_timer_handle(world.handle(TIMER));
        Some(world)
    }

    fn handle(&self, index: usize) -> Handle {
        Handle {
            index,
            log: Rc::clone(&self.log),
        }
    }

    /// The stream an operand picks, if it is still there.
    fn pick(&self, s: u8) -> Option<usize> {
        let n = self.streams.len();
        (n > 0)
            .then(|| usize::from(s) % n)
            .filter(|&i| self.streams[i].is_some())
    }

    fn jid(&self, owner: &BareJid, r: u8) -> Option<FullJid> {
        owner.with_resource_str(&format!("r{}", r % 3)).ok()
    }

    fn step(&mut self, op: Op) {
        let now = self.clock.0;
        match op {
            Op::Open(o) => {
                if self.streams.len() < MAX_STREAMS {
                    let owner = self.owners[usize::from(o) % 3].clone();
                    let handle = self.handle(self.streams.len());
                    let server = self.store.stream(owner, handle, &mut self.rng);
                    self.streams.push(Some(server));
                }
            }
            Op::Feed(s, input) => {
                let element = input.build(&self.ids);
                if let (Some(i), Some(element)) = (self.pick(s), element) {
                    self.feed(i, element, 0);
                }
            }
            Op::Inline(s, input, p) => {
                let element = input.build(&self.ids);
                if let (Some(i), Some(element)) = (self.pick(s), element) {
                    self.feed(i, element, p);
                }
            }
            Op::Bind(s, r) => self.bind(s, r),
            Op::Enable(s, ns, resume, max, p) => {
                if let Some(i) = self.pick(s) {
                    let ns = self.config.namespaces[usize::from(ns) % self.config.namespaces.len()];
                    let mut enable = Enable::new(ns);
                    enable.resume = resume;
                    enable.max = max.map(u32::from);
                    self.feed(i, enable.into(), p);
                }
            }
            Op::Resume(s, id, h, p) => {
                let previd = self
                    .ids
                    .get(usize::from(id) % self.ids.len().max(1))
                    .cloned();
                if let (Some(i), Some(previd)) = (self.pick(s), previd) {
                    let ns = self.config.namespaces[0];
                    let resume = Resume::new(ns, previd, h.map(u32::from));
                    self.feed(i, resume.into(), p);
                }
            }
            Op::Accept(s) => {
                if let Some(server) = self.pick(s).and_then(|i| self.streams[i].as_mut()) {
                    let _ = server.accept_enable(now);
                }
            }
            Op::Reject(s) => {
                if let Some(server) = self.pick(s).and_then(|i| self.streams[i].as_mut()) {
                    let _ = server.reject_enable(now, DefinedCondition::PolicyViolation);
                }
            }
            Op::Send(s, kind) => {
                if let Some(i) = self.pick(s) {
                    self.next += 1;
                    let stanza = numbered(kind, self.next);
                    self.send_on(i, stanza);
                }
            }
            Op::Route(o, r, kind) => self.route(o, r, kind),
            Op::RequestAck(s) => {
                if let Some(server) = self.pick(s).and_then(|i| self.streams[i].as_mut()) {
                    server.request_ack(now);
                }
            }
            Op::Wake => {
                let woken: Vec<usize> = std::mem::take(&mut *self.log.borrow_mut());
                for i in woken {
                    if let Some(Some(server)) = self.streams.get_mut(i) {
                        server.handle_wake(now);
                    }
                }
            }
            Op::WakeOne(s) => {
                if let Some(server) = self.pick(s).and_then(|i| self.streams[i].as_mut()) {
                    server.handle_wake(now);
                }
            }
            Op::Disconnect(s) => {
                if let Some(server) = self.pick(s).and_then(|i| self.streams[i].as_mut()) {
                    server.handle_disconnect(now);
                    assert!(server.is_closed());
                }
            }
            Op::Close(s) => {
                if let Some(server) = self.pick(s).and_then(|i| self.streams[i].as_mut()) {
                    server.close(now);
                    assert!(server.is_closed());
                }
            }
            Op::Drop(s) => {
                if let Some(i) = self.pick(s) {
                    self.drain();
                    drop(self.streams[i].take());
                }
            }
            Op::Advance(secs) => self.tick(Duration::from_secs(u64::from(secs))),
            Op::AdvanceMillis(ms) => self.tick(Duration::from_millis(u64::from(ms))),
            Op::WallStep(secs) => {
                self.clock.step_wall(secs);
                self.tick(Duration::ZERO);
            }
            Op::FireTimeout => {
                let deadline = self
                    .streams
                    .iter()
                    .flatten()
                    .filter_map(Server::poll_timeout)
                    .chain(self.store.poll_timeout())
                    .min();
                if let Some(deadline) = deadline {
                    self.clock.reach(deadline);
                }
                self.tick(Duration::ZERO);
            }
            Op::Restart => self.restart(),
            Op::Migrate(o, r, count, seed) => self.migrate(o, r, count, seed),
            Op::Reseed(seed) => self.rng = Rng(seed),
            Op::Failover(s, h) => self.failover(s, h),
        }
    }

    fn feed(&mut self, i: usize, element: Element, p: u8) {
        let now = self.clock.0;
        let Some(server) = self.streams[i].as_mut() else {
            return;
        };
        let closed = server.is_closed();
        let result = match placement(p) {
            crate::Placement::TopLevel => server.handle_element(now, element),
            other => server.handle_inline(now, element, other),
        };
        if closed {
            // Reading on after the end hands the element back; a loop keyed on
            // "is this fatal" ends.
            assert!(matches!(&result, Err(e) if e.is_fatal()), "{result:?}");
        }
        if let Err(e) = result
            && check_error(&e)
        {
            assert!(server.is_closed(), "fatal, yet the stream goes on");
            assert_eq!(server.unacked(), 0, "a fatal error left stanzas behind");
        }
    }

    fn bind(&mut self, s: u8, r: u8) {
        let now = self.clock.0;
        let Some(i) = self.pick(s) else {
            return;
        };
        let Some(server) = self.streams[i].as_mut() else {
            return;
        };
        let Some(jid) = server
            .owner()
            .with_resource_str(&format!("r{}", r % 3))
            .ok()
        else {
            return;
        };
        let resumed = server.is_resumed();
        let result = server.handle_bind(now, jid.clone());
        // Never both resumed and bound.
        assert!(!resumed || result.is_err());
        if result.is_ok() {
            assert!(
                matches!(self.store.route(&jid), Some(Route::Live(h)) if h.index == i),
                "a bound JID routes to its stream"
            );
        }
    }

    /// Gives `stanza` to stream `i`; the ledger follows it.
    fn send_on(&mut self, i: usize, stanza: Element) {
        let now = self.clock.0;
        let Some(server) = self.streams[i].as_mut() else {
            return;
        };
        let is_stanza = elements::is_stanza(&stanza);
        let n = self.next;
        match server.send(now, stanza) {
            Ok(()) => self.ledger.give(n),
            Err(refused) => {
                let (reason, stanza) = refused.into_parts();
                match reason {
                    Refusal::NotAStanza => assert!(!is_stanza),
                    Refusal::Closed => assert!(server.is_closed() || server.is_resume_pending()),
                    Refusal::QueueFull { .. } => assert!(server.is_closed()),
                    other => panic!("send refused unexpectedly: {other:?}"),
                }
                if is_stanza {
                    self.ledger.give(n);
                    self.ledger.done(&stanza);
                }
            }
        }
    }

    /// What a router does with a stanza for a full JID.
    fn route(&mut self, o: u8, r: u8, kind: u8) {
        let now = self.clock.0;
        let owner = self.owners[usize::from(o) % 3].clone();
        let Some(jid) = self.jid(&owner, r) else {
            return;
        };
        self.next += 1;
        let stanza = numbered(kind, self.next);
        // Where it goes, to check the store agrees with itself; then the store delivers it.
        match self.store.route(&jid) {
            Some(Route::Live(handle)) => assert!(
                self.streams.get(handle.index).is_some_and(Option::is_some),
                "routed to a stream that is gone"
            ),
            Some(Route::Hibernated(id)) => assert!(
                self.store.hibernated(&owner).iter().any(|(h, _)| *h == id),
                "routed to {id}, which the account does not list"
            ),
            None => {}
        }
        let is_stanza = elements::is_stanza(&stanza);
        let routed = if kind % 8 == 7 {
            // Straight into a hibernated session, as a router that looked it up would.
            self.store.push(now, &jid, stanza)
        } else {
            self.store.send(now, &jid, stanza)
        };
        match routed {
            Ok(()) => self.ledger.give(self.next),
            Err(refused) => {
                let (reason, stanza) = refused.into_parts();
                assert!(
                    matches!(
                        reason,
                        Refusal::NotAStanza | Refusal::QueueFull { .. } | Refusal::UnknownSession
                    ),
                    "{reason:?}"
                );
                if is_stanza {
                    self.ledger.give(self.next);
                    self.ledger.done(&stanza);
                }
            }
        }
    }

    /// Time moves on by `by`; every stream and the store get a (possibly spurious) timeout.
    fn tick(&mut self, by: Duration) {
        self.clock.advance(by);
        let now = self.clock.0;
        for server in self.streams.iter_mut().flatten() {
            server.handle_timeout(now);
        }
        self.store.handle_timeout(now);
    }

    /// The store's timer task runs whenever its handle was woken.
    fn settle_wakes_of_the_timer(&mut self) {
        let timer_woken = {
            let mut log = self.log.borrow_mut();
            let before = log.len();
            log.retain(|&i| i != TIMER);
            log.len() != before
        };
        if timer_woken {
            self.store.handle_timeout(self.clock.0);
        }
    }

    /// A server restart: every stream hibernates, the store is written and read back.
    fn restart(&mut self) {
        let now = self.clock.0;
        for server in self.streams.iter_mut().flatten() {
            server.handle_disconnect(now);
        }
        self.drain();
        let snapshot = self.store.snapshot(now);
        #[cfg(feature = "serde")]
        let snapshot = {
            let json = serde_json::to_string(&snapshot);
            assert!(json.is_ok(), "our own snapshot serialises: {json:?}");
            let back = json.ok().and_then(|j| serde_json::from_str(&j).ok());
            assert!(back.is_some(), "our own snapshot deserialises");
            back.unwrap_or(snapshot)
        };
        let restored = SessionStore::restore(self.config.clone(), snapshot, now);
        assert!(restored.is_ok(), "our own snapshot restores: {restored:?}");
        if let Ok(store) = restored {
            for slot in &mut self.streams {
                // Closed: dropping one touches nothing.
                drop(slot.take());
            }
            self.log.borrow_mut().clear();
            self.store = store;
            self.store.set_timer_handle(self.handle(TIMER));
        }
    }

    /// Another node resumes stream `s`'s checkpoint for a client that says it handled `h`:
    /// any `h` is taken (behind the copy it acknowledges nothing, beyond it everything), the
    /// gap is reported before `Resumed`, and each stanza of the copy is acknowledged or
    /// retransmitted, once.
    fn failover(&mut self, s: u8, h: u32) {
        let now = self.clock.0;
        let Some(server) = self.pick(s).and_then(|i| self.streams[i].as_ref()) else {
            return;
        };
        let mark = server.checkpoint_mark();
        let Some(copy) = server.checkpoint(now) else {
            assert_eq!(mark, None, "a mark without a checkpoint");
            return;
        };
        assert!(mark.is_some(), "a checkpoint without a mark");
        assert_eq!(copy.checkpointed_at(), Some(now.wall()));
        #[cfg(feature = "serde")]
        let copy = {
            let json = serde_json::to_string(&copy);
            assert!(json.is_ok(), "a checkpoint serialises: {json:?}");
            let back = json.ok().and_then(|j| serde_json::from_str(&j).ok());
            assert_eq!(back.as_ref(), Some(&copy), "and reads back the same");
            back.unwrap_or(copy)
        };
        let (id, owner, ns, queued, deadline) = (
            copy.id().clone(),
            copy.owner().clone(),
            copy.namespace(),
            copy.unacked(),
            copy.deadline(),
        );
        let node = SessionStore::new(self.config.clone());
        if node.adopt(now, copy).is_err() || node.hibernated_count() == 0 {
            return; // beyond this node's limits: refused whole, or evicted at once
        }
        let mut stream = node.stream(owner, self.handle(TIMER), &mut Rng(0));
        let resumed = stream.handle_element(now, Resume::new(ns, id, Some(h)).into());
        assert!(resumed.is_ok(), "a checkpoint takes any h: {resumed:?}");
        let mut acked = 0;
        let mut reported = false;
        let mut retransmitted = None;
        while let Some(event) = stream.poll_event() {
            match event {
                ServerEvent::ResumeRefused { .. } => {
                    // Only a copy that is over at once (no resumption time granted, or a
                    // wall clock so late that the deadline cannot be added) is refused.
                    assert!(deadline <= now.wall(), "a live copy refused");
                    return;
                }
                ServerEvent::Acked { stanzas, .. } => acked += stanzas.len(),
                ServerEvent::ResumedFromCheckpoint {
                    checkpointed_at, ..
                } => {
                    assert_eq!(checkpointed_at, now.wall());
                    assert!(retransmitted.is_none(), "the gap is reported first");
                    reported = true;
                }
                ServerEvent::Resumed {
                    retransmitted: n, ..
                } => retransmitted = Some(n),
                other => panic!("unexpected on a resumption: {other:?}"),
            }
        }
        assert!(reported, "the gap is reported");
        let retransmitted = retransmitted.unwrap_or(usize::MAX);
        assert_eq!(acked + retransmitted, queued, "each stanza once");
        let mut written = 0;
        while let Some(out) = stream.poll_transmit() {
            written += usize::from(out.is_counted());
        }
        assert_eq!(written, retransmitted);
        stream.close(now);
    }

    /// Another node hibernated a session (with `count` stanzas) and hands the record over:
    /// it is adopted here, or refused and handed back whole.
    fn migrate(&mut self, o: u8, r: u8, count: u8, seed: u64) {
        let now = self.clock.0;
        let owner = self.owners[usize::from(o) % 2].clone();
        let Some(jid) = self.jid(&owner, r) else {
            return;
        };
        let node = SessionStore::new(self.config.clone());
        let mut stream = node.stream(owner, self.handle(TIMER), &mut Rng(seed));
        if stream.handle_bind(now, jid).is_err() {
            return;
        }
        let ns = self.config.namespaces[0];
        let _ = stream.handle_element(now, Enable::new(ns).with_resume().into());
        let _ = stream.accept_enable(now);
        for _ in 0..count % 4 {
            self.next += 1;
            if stream.send(now, numbered(0, self.next)).is_ok() {
                self.ledger.give(self.next);
            }
        }
        stream.handle_disconnect(now);
        while let Some(out) = stream.poll_transmit() {
            if !out.is_counted() && elements::is_stanza(&out) {
                self.ledger.done(&out);
            }
        }
        while let Some(event) = stream.poll_event() {
            if let ServerEvent::HandedBack { stanzas, .. } = event {
                stanzas.iter().for_each(|u| self.ledger.done(&u.stanza));
            }
        }
        drop(stream);
        let Some(record) = node.snapshot(now).sessions.pop() else {
            // Not resumable here (or evicted at once): the node handed the stanzas back.
            while let Some(StoreEvent::HandedBack { stanzas, .. }) = node.poll_event() {
                stanzas.iter().for_each(|u| self.ledger.done(&u.stanza));
            }
            return;
        };
        drop(node);
        if let Err(refused) = self.store.adopt(now, record) {
            let (reason, record) = refused.into_parts();
            assert!(
                matches!(
                    reason,
                    Refusal::DuplicateId(_) | Refusal::ResourceInUse | Refusal::Invalid(_)
                ),
                "{reason:?}"
            );
            for u in record.into_unacked() {
                self.ledger.done(&u.stanza);
            }
        }
    }

    /// Every element written and every event, into the ledger.
    fn drain(&mut self) {
        for i in 0..self.streams.len() {
            let Some(server) = self.streams[i].as_mut() else {
                continue;
            };
            while let Some(out) = server.poll_transmit() {
                if !out.is_counted() && elements::is_stanza(&out) {
                    // Written while stream management was off: it left for good.
                    self.ledger.done(&out);
                }
                check_emitted(&out);
            }
            while let Some(event) = server.poll_event() {
                match event {
                    ServerEvent::Acked { stanzas, .. } => {
                        assert!(!stanzas.is_empty(), "an Acked event acknowledges something");
                        stanzas.iter().for_each(|s| self.ledger.done(s));
                    }
                    ServerEvent::HandedBack { stanzas, .. } => {
                        assert!(!stanzas.is_empty(), "HandedBack carries stanzas");
                        stanzas.iter().for_each(|u| self.ledger.done(&u.stanza));
                    }
                    ServerEvent::Enabled { id: Some(id) } => self.ids.push(id),
                    _ => {}
                }
            }
        }
        while let Some(event) = self.store.poll_event() {
            let StoreEvent::HandedBack { stanzas, .. } = event;
            stanzas.iter().for_each(|u| self.ledger.done(&u.stanza));
        }
        self.ids.truncate(64);
    }

    /// Nothing lost, limits kept, indexes in agreement.
    fn check(&self) {
        let now = self.clock.0;
        let live: usize = self.streams.iter().flatten().map(Server::unacked).sum();
        let snapshot = self.store.snapshot(now);
        let stored: usize = snapshot
            .sessions
            .iter()
            .map(HibernatedSession::unacked)
            .sum();
        // Stanzas routed into a stream's inbox are held there, out of sight, until its task
        // runs (it has been woken): the count is exact whenever no wake-up is pending.
        if self.log.borrow().is_empty() {
            assert_eq!(
                self.ledger.held(),
                live + stored,
                "a stanza was lost or invented"
            );
        } else {
            assert!(self.ledger.held() >= live + stored, "a stanza was invented");
        }
        let limits = &self.config.store;
        let mut listed = 0;
        for owner in &self.owners {
            let sessions = self.store.hibernated(owner);
            assert!(
                sessions.len() <= limits.max_per_account,
                "per-account limit"
            );
            listed += sessions.len();
            for (id, jid) in sessions {
                if let Some(jid) = jid {
                    assert!(
                        matches!(self.store.route(&jid), Some(Route::Hibernated(h)) if h == id),
                        "the JID index of {id} is stale"
                    );
                }
            }
            for (jid, route) in self.store.resources(owner) {
                if let Route::Live(handle) = route {
                    let stream = self.streams.get(handle.index).and_then(Option::as_ref);
                    assert!(
                        stream.is_some_and(|s| !s.is_closed() && s.resource() == Some(&jid)),
                        "{jid} routes to a stream that does not hold it"
                    );
                }
            }
        }
        assert_eq!(listed, self.store.hibernated_count(), "indexes disagree");
        assert!(self.store.hibernated_count() <= limits.max_hibernated);
    }

    /// Every stream closes and every session expires: everything comes back.
    fn finish(&mut self) {
        let now = self.clock.0;
        for server in self.streams.iter_mut().flatten() {
            server.close(now);
        }
        self.drain();
        self.clock.advance(Duration::from_secs(u64::from(u32::MAX)));
        self.tick(Duration::ZERO);
        self.drain();
        assert_eq!(
            self.ledger.held(),
            0,
            "stanzas still held after every deadline"
        );
    }
}
