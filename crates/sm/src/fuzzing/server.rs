//! The server target: [`Server`] streams and a [`SessionStore`] against fuzzed clients.
//!
//! One stream is current; a stream replaced while still open is kept as `old`, so a later
//! `<resume/>` can take its session over (XEP-0198 §5).

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use jid::{BareJid, FullJid};
use rand_core::{TryCryptoRng, TryRng};
use xmpp_parsers::stanza_error::DefinedCondition;

use super::client::{Ledger, Policy};
use super::input::{Clock, Input, MAX_OPS, check_emitted, check_peer_error, stanza};
use crate::Server;
use crate::config::{ServerConfig, StoreConfig};
use crate::elements::SmId;
use crate::error::{Error, Misuse, PeerError};
use crate::event::Incoming;
use crate::ns::Namespace;
use crate::session::HibernatedSession;
use crate::store::{Claim, SessionStore, StoreError, StoreEvent};

#[derive(Debug, Arbitrary)]
struct Setup {
    namespaces: u8,
    resume: bool,
    max_resume: u16,
    default_resume: u16,
    ack: Policy,
    max_queue: u8,
    max_hibernated: u8,
    max_remembered: u8,
}

#[derive(Debug, Arbitrary)]
enum Op {
    /// The client wrote this.
    Feed(Input),
    Bound,
    AcceptEnable(u64),
    RejectEnable,
    /// Answer the pending `<resume/>` from the store: resume, take over, or fail.
    Claim,
    RejectResume(Option<u32>),
    Send(u8),
    RequestAck,
    /// The connection dropped: hibernate (or hand back), and a new stream starts.
    Disconnect(bool),
    /// A new stream starts while the current one stays open.
    NewStream(bool),
    Close,
    StorePush(u8, u8),
    /// Route a stanza to the hibernated session of `owners[i]/fuzz`, found by full JID.
    StorePushTo(bool, u8),
    Advance(u16),
    AdvanceMillis(u16),
    FireTimeout,
}

/// A deterministic stand-in for a CSPRNG, seeded from the input. Not random: the fuzzer
/// controls it, which is the point.
struct Rng(u64);

impl TryRng for Rng {
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

impl TryCryptoRng for Rng {}

struct World {
    config: ServerConfig,
    /// juliet and romeo own streams; mallory only probes the store.
    owners: [BareJid; 3],
    current: Server,
    old: Option<Server>,
    store: SessionStore,
    /// Unacknowledged stanzas inside hibernated sessions in the store.
    in_store: u64,
    ledger: Ledger,
    ids: Vec<SmId>,
    pending_resume: Option<SmId>,
    clock: Clock,
}

/// Replays the operations in `data` on server streams and a store; panics if an invariant
/// breaks.
pub fn server(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(setup) = Setup::arbitrary(&mut u) else {
        return;
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
        location: None,
        ack: setup.ack.policy(),
        max_queue: usize::from(setup.max_queue % 32),
    };
    let store_config = StoreConfig {
        max_hibernated: usize::from(setup.max_hibernated % 8),
        max_remembered: usize::from(setup.max_remembered % 8),
    };
    let max_hibernated = store_config.max_hibernated;

    let (Ok(juliet), Ok(romeo), Ok(mallory)) = (
        "juliet@example.com".parse::<BareJid>(),
        "romeo@example.net".parse::<BareJid>(),
        "mallory@example.org".parse::<BareJid>(),
    ) else {
        return;
    };
    let mut world = World {
        current: Server::new(config.clone(), juliet.clone()),
        config,
        owners: [juliet, romeo, mallory],
        old: None,
        store: SessionStore::new(store_config),
        in_store: 0,
        ledger: Ledger::default(),
        ids: Vec::new(),
        pending_resume: None,
        clock: Clock::new(),
    };
    for feature in world.current.features() {
        check_emitted(&feature);
    }

    for _ in 0..MAX_OPS {
        // `arbitrary` pads exhausted input with zeros; stop instead of replaying padding.
        if u.is_empty() {
            break;
        }
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        world.step(op);
        world.drain();
        world.check(max_hibernated);
    }
}

impl World {
    fn step(&mut self, op: Op) {
        let now = self.clock.0;
        match op {
            Op::Feed(input) => {
                let Some(element) = input.build(&self.ids) else {
                    return;
                };
                if self.current.is_closed() {
                    // Reading on after the end is the caller's mistake, and nothing is routed.
                    let result = self.current.handle_element(now, element);
                    assert!(
                        matches!(result, Err(Error::Misuse(Misuse::Closed(_)))),
                        "{result:?}"
                    );
                    return;
                }
                match self.current.handle_element(now, element) {
                    Ok(Incoming::ResumeRequest(r)) => self.pending_resume = Some(r.previd),
                    Ok(_) => {}
                    Err(e) => self.on_error(&e),
                }
            }
            Op::Bound => {
                let full = format!("{}/fuzz", self.current.owner());
                if let Ok(jid) = full.parse::<FullJid>() {
                    // Refused on a resumed stream: never both resumed and bound.
                    let resumed = self.current.is_resumed();
                    let result = self.current.bound(now, jid);
                    assert!(!resumed || result.is_err());
                }
            }
            Op::AcceptEnable(seed) => {
                if let Ok(enabled) = self.current.accept_enable(now, &mut Rng(seed)) {
                    check_emitted(&enabled);
                    if let Some(id) = self.current.id().cloned() {
                        assert_eq!(id.as_str().len(), 32, "128-bit SM-ID");
                        self.store
                            .register(id.clone(), self.current.owner().clone());
                        self.ids.push(id);
                    }
                }
            }
            Op::RejectEnable => {
                if let Ok(failed) = self
                    .current
                    .reject_enable(now, DefinedCondition::FeatureNotImplemented)
                {
                    check_emitted(&failed);
                }
            }
            Op::Claim => self.claim(),
            Op::RejectResume(h) => {
                if let Ok(failed) = self.current.reject_resume(now, h) {
                    self.pending_resume = None;
                    check_emitted(&failed);
                }
            }
            Op::Send(kind) => {
                let was_on = self.current.is_enabled();
                match self.current.send(now, stanza(kind)) {
                    Ok(()) if was_on => self.ledger.created += 1,
                    Ok(()) => {}
                    Err(Error::Peer(PeerError::QueueOverflow { .. })) => {
                        self.ledger.created += 1;
                        self.end_current();
                    }
                    Err(Error::Misuse(Misuse::NotAStanza(_) | Misuse::Closed(_))) => {}
                    Err(other) => panic!("send failed unexpectedly: {other:?}"),
                }
            }
            Op::RequestAck => self.current.request_ack(now),
            Op::Disconnect(other) => {
                if let Some(session) = self.current.handle_disconnect(now) {
                    self.hibernate(session);
                } else {
                    self.end_current();
                }
                self.new_stream(other);
            }
            Op::NewStream(other) => {
                if let Some(mut older) = self.old.take() {
                    older.close(now);
                    drain_server(&mut older, &mut self.ledger, &mut self.ids);
                    if let Some(id) = older.id() {
                        self.store.end(id, older.handled());
                    }
                }
                let previous = std::mem::replace(
                    &mut self.current,
                    Server::new(self.config.clone(), self.owners[0].clone()),
                );
                self.old = Some(previous);
                self.new_stream(other);
            }
            Op::Close => {
                self.current.close(now);
                self.end_current();
            }
            Op::StorePush(id, kind) => {
                let Some(id) = self
                    .ids
                    .get(usize::from(id) % self.ids.len().max(1))
                    .cloned()
                else {
                    return;
                };
                if self.store.push(now, &id, stanza(kind)).is_ok() {
                    self.ledger.created += 1;
                    self.in_store += 1;
                }
            }
            Op::StorePushTo(other, kind) => {
                let full = format!("{}/fuzz", self.owners[usize::from(other)]);
                let Ok(jid) = full.parse::<FullJid>() else {
                    return;
                };
                let Some(id) = self.store.find(&jid).cloned() else {
                    return;
                };
                match self.store.push(now, &id, stanza(kind)) {
                    Ok(()) => {
                        self.ledger.created += 1;
                        self.in_store += 1;
                    }
                    // find() takes no time: push expires a session already past its deadline
                    // (its stanzas come back in StoreEvent::Expired) and hands this one back.
                    Err(StoreError::UnknownSession { stanza, .. }) => {
                        assert!(
                            self.store.find(&jid).is_none(),
                            "push refused a live lookup"
                        );
                        drop(stanza);
                    }
                    Err(_) => {}
                }
            }
            Op::Advance(secs) => self.advance(Duration::from_secs(u64::from(secs))),
            Op::AdvanceMillis(ms) => self.advance(Duration::from_millis(u64::from(ms))),
            Op::FireTimeout => {
                let next = [self.current.poll_timeout(), self.store.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min();
                if let Some(deadline) = next {
                    self.clock.reach(deadline);
                }
                self.advance(Duration::ZERO);
                let now = self.clock.0;
                let mut rounds = 0;
                while self.current.poll_timeout().is_some_and(|d| d <= now) {
                    self.current.handle_timeout(now);
                    rounds += 1;
                    assert!(rounds <= 3, "handle_timeout does not move the deadline on");
                }
                assert!(self.store.poll_timeout().is_none_or(|d| d > now));
            }
        }
    }

    fn advance(&mut self, by: Duration) {
        self.clock.advance(by);
        let now = self.clock.0;
        self.current.handle_timeout(now);
        self.store.handle_timeout(now);
    }

    fn on_error(&mut self, e: &Error) {
        if check_peer_error(e) {
            assert_eq!(self.current.unacked(), 0, "fatal error left stanzas behind");
            assert!(!self.current.is_enabled());
            self.end_current();
        }
    }

    fn claim(&mut self) {
        let now = self.clock.0;
        let Some(previd) = self.pending_resume.clone() else {
            return;
        };
        // An account that owns nothing learns nothing, whatever the id (XEP-0198 §5).
        assert_eq!(
            self.store.claim(now, &previd, &self.owners[2]),
            Claim::Failed { h: None }
        );
        let owner = self.current.owner().clone();
        match self.store.claim(now, &previd, &owner) {
            Claim::Hibernated(session) => {
                self.in_store -= session.unacked() as u64;
                self.accept(session);
            }
            Claim::Live => {
                let taken = self
                    .old
                    .as_mut()
                    .filter(|old| old.id() == Some(&previd))
                    .and_then(|old| old.take_over(now).ok());
                match taken {
                    Some((session, error)) => {
                        check_emitted(&error.into());
                        self.accept(session);
                    }
                    None => {
                        let _ = self.current.reject_resume(now, None);
                        self.pending_resume = None;
                    }
                }
            }
            Claim::Failed { h } => {
                if let Ok(failed) = self.current.reject_resume(now, h) {
                    check_emitted(&failed);
                }
                self.pending_resume = None;
            }
        }
    }

    fn accept(&mut self, session: HibernatedSession) {
        let now = self.clock.0;
        self.pending_resume = None;
        match self.current.accept_resume(now, session) {
            Ok(resumed) => check_emitted(&resumed),
            Err(Error::Misuse(Misuse::WrongSession(session))) => {
                self.ledger.destroyed += session.into_unacked().len() as u64;
            }
            Err(e) => self.on_error(&e),
        }
    }

    fn hibernate(&mut self, session: HibernatedSession) {
        self.in_store += session.unacked() as u64;
        self.store.hibernate(self.clock.0, session);
    }

    /// The current stream is over for good: remember its `h` for a late `<resume/>`.
    fn end_current(&mut self) {
        self.pending_resume = None;
        if let Some(id) = self.current.id() {
            self.store.end(id, self.current.handled());
        }
    }

    fn new_stream(&mut self, other: bool) {
        // Whatever the ending stream still has to report must be drained first.
        drain_server(&mut self.current, &mut self.ledger, &mut self.ids);
        let owner = self.owners[usize::from(other)].clone();
        self.current = Server::new(self.config.clone(), owner);
        self.pending_resume = None;
    }

    fn drain(&mut self) {
        drain_server(&mut self.current, &mut self.ledger, &mut self.ids);
        if let Some(old) = self.old.as_mut() {
            drain_server(old, &mut self.ledger, &mut self.ids);
        }
        while let Some(event) = self.store.poll_event() {
            match event {
                StoreEvent::Expired { stanzas, .. } => {
                    self.ledger.destroyed += stanzas.len() as u64;
                    self.in_store -= stanzas.len() as u64;
                }
            }
        }
    }

    fn check(&self, max_hibernated: usize) {
        let max_queue = self.config.max_queue;
        assert!(
            self.current.unacked() <= max_queue,
            "queue beyond its bound"
        );
        assert!(self.store.hibernated() <= max_hibernated);
        let old = self.old.as_ref().map_or(0, Server::unacked);
        assert_eq!(
            self.ledger.created,
            self.ledger.destroyed + (self.current.unacked() + old) as u64 + self.in_store,
            "a stanza was lost or invented"
        );
    }
}

fn drain_server(server: &mut Server, ledger: &mut Ledger, ids: &mut Vec<SmId>) {
    while let Some(out) = server.poll_transmit() {
        assert!(!out.is_stanza() || crate::elements::is_stanza(&out));
        check_emitted(&out);
    }
    while let Some(event) = server.poll_event() {
        if let Some(id) = ledger.on_event(&event) {
            ids.push(id);
        }
    }
}
