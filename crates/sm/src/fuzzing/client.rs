//! The client target: a [`Client`] against a fuzzed server.

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use minidom::Element;

use super::input::{Clock, Input, Ledger, MAX_OPS, check_emitted, check_error, numbered};
use crate::Client;
use crate::config::{AckPolicy, ClientConfig};
use crate::elements::{self, SmId};
use crate::error::Refusal;
use crate::event::ClientEvent;
use crate::ns::{self, Namespace};
use crate::transmit::Placement;

#[derive(Debug, Arbitrary)]
struct Setup {
    resume: bool,
    max: Option<u32>,
    ack: Policy,
    max_queue: u8,
    request_timeout: Option<u8>,
}

/// An ack policy with small numbers.
#[derive(Debug, Arbitrary)]
pub(super) struct Policy {
    after_stanzas: Option<u8>,
    after_time: Option<u8>,
    timeout: Option<u8>,
}

impl Policy {
    pub(super) fn policy(&self) -> AckPolicy {
        let secs = |s: &u8| Duration::from_secs(u64::from(*s));
        let mut policy = AckPolicy::manual();
        policy.after_stanzas = self.after_stanzas.map(u32::from);
        policy.after_time = self.after_time.as_ref().map(secs);
        policy.timeout = self.timeout.as_ref().map(secs);
        policy
    }
}

/// One of the three placements.
pub(super) fn placement(p: u8) -> Placement {
    match p % 3 {
        0 => Placement::TopLevel,
        1 => Placement::Sasl2,
        _ => Placement::Bind2,
    }
}

#[derive(Debug, Arbitrary)]
enum Op {
    /// The server wrote this at the top level.
    Feed(Input),
    /// The server's SASL2 `<success/>`, with these inside it (and inside a Bind2 `<bound/>`).
    Success(Vec<Input>, Vec<Input>),
    Enable(u8, u8),
    Resume(u8),
    Send(u8),
    RequestAck,
    Disconnect,
    Close,
    /// Seconds pass, and the timer is polled (spuriously or not).
    Advance(u16),
    AdvanceMillis(u16),
    /// The wall clock is stepped; the monotonic clock does not move.
    WallStep(i32),
    /// Jump to the next deadline and fire it.
    FireTimeout,
}

struct Run {
    client: Client,
    clock: Clock,
    ledger: Ledger,
    ids: Vec<SmId>,
    next: u64,
}

/// Replays the operations in `data` on a [`Client`]; panics if an invariant breaks.
pub fn client(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(setup) = Setup::arbitrary(&mut u) else {
        return;
    };
    let config = ClientConfig {
        resume: setup.resume,
        max: setup.max,
        ack: setup.ack.policy(),
        max_queue: usize::from(setup.max_queue % 32),
        request_timeout: setup
            .request_timeout
            .map(|s| Duration::from_secs(u64::from(s))),
    };
    let max_queue = config.max_queue;
    let mut run = Run {
        client: Client::new(config),
        clock: Clock::new(),
        ledger: Ledger::default(),
        ids: Vec::new(),
        next: 0,
    };
    for _ in 0..MAX_OPS {
        // `arbitrary` pads exhausted input with zeros; stop instead of replaying padding.
        if u.is_empty() {
            break;
        }
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        run.step(op);
        run.drain();
        assert!(run.client.unacked() <= max_queue, "queue beyond its bound");
        assert_eq!(
            run.ledger.held(),
            run.client.unacked(),
            "a stanza was lost or invented"
        );
    }
    // Giving the session up hands back everything still held.
    run.client.close(run.clock.0);
    run.drain();
    assert_eq!(run.ledger.held(), 0, "stanzas held after close");
}

impl Run {
    fn drain(&mut self) {
        while let Some(out) = self.client.poll_transmit() {
            if !out.is_counted() && elements::is_stanza(&out) {
                // Written while stream management was off: it left for good.
                self.ledger.done(&out);
            }
            check_emitted(&out);
        }
        while let Some(event) = self.client.poll_event() {
            match event {
                ClientEvent::Acked { stanzas, .. } => {
                    assert!(!stanzas.is_empty(), "an Acked event acknowledges something");
                    stanzas.iter().for_each(|s| self.ledger.done(s));
                }
                ClientEvent::HandedBack { stanzas, .. } => {
                    assert!(!stanzas.is_empty(), "HandedBack carries stanzas");
                    stanzas.iter().for_each(|u| self.ledger.done(&u.stanza));
                }
                ClientEvent::Enabled { id: Some(id), .. } => self.ids.push(id),
                _ => {}
            }
        }
    }

    fn feed(&mut self, element: Element) {
        let now = self.clock.0;
        if let Err(e) = self.client.handle_element(now, element)
            && check_error(&e)
        {
            assert_eq!(self.client.unacked(), 0, "fatal error left stanzas behind");
            assert!(!self.client.is_enabled() && !self.client.can_resume());
        }
    }

    fn step(&mut self, op: Op) {
        let now = self.clock.0;
        match op {
            Op::Feed(input) => {
                if let Some(element) = input.build(&self.ids) {
                    self.feed(element);
                }
            }
            Op::Success(sasl2, bind2) => {
                let mut bound = Element::bare("bound", ns::BIND2);
                for el in bind2.iter().filter_map(|i| i.build(&self.ids)) {
                    bound.append_child(el);
                }
                let mut success = Element::bare("success", ns::SASL2);
                for el in sasl2.iter().filter_map(|i| i.build(&self.ids)) {
                    success.append_child(el);
                }
                success.append_child(bound);
                if let Err(e) = self.client.handle_success(now, &success) {
                    let _ = check_error(&e);
                }
            }
            Op::Enable(ns, p) => {
                let ns = Namespace::ALL[usize::from(ns) % Namespace::ALL.len()];
                let _ = self.client.enable(now, ns, placement(p));
            }
            Op::Resume(p) => {
                let _ = self.client.resume(now, placement(p));
            }
            Op::Send(kind) => {
                self.next += 1;
                let stanza = numbered(kind, self.next);
                let is_stanza = elements::is_stanza(&stanza);
                match self.client.send(now, stanza) {
                    Ok(()) => self.ledger.give(self.next),
                    Err(refused) => {
                        let (reason, stanza) = refused.into_parts();
                        match reason {
                            Refusal::NotAStanza => assert!(!is_stanza),
                            Refusal::QueueFull { .. } | Refusal::Closed => {
                                // Handed straight back: never held.
                                self.ledger.give(self.next);
                                self.ledger.done(&stanza);
                            }
                            other => panic!("send refused unexpectedly: {other:?}"),
                        }
                    }
                }
            }
            Op::RequestAck => self.client.request_ack(now),
            Op::Disconnect => self.client.handle_disconnect(now),
            Op::Close => self.client.close(now),
            Op::Advance(secs) => {
                self.clock.advance(Duration::from_secs(u64::from(secs)));
                self.client.handle_timeout(self.clock.0);
            }
            Op::AdvanceMillis(ms) => {
                self.clock.advance(Duration::from_millis(u64::from(ms)));
                self.client.handle_timeout(self.clock.0);
            }
            Op::WallStep(secs) => {
                // A wall-clock step moves no live timer: nothing becomes due.
                let before = self.client.poll_timeout();
                self.clock.step_wall(secs);
                self.client.handle_timeout(self.clock.0);
                if before.is_some_and(|d| d > self.clock.0.monotonic()) {
                    assert_eq!(
                        self.client.poll_timeout(),
                        before,
                        "a wall step moved a timer"
                    );
                }
            }
            Op::FireTimeout => {
                if let Some(deadline) = self.client.poll_timeout() {
                    self.clock.reach(deadline);
                }
                // A deadline that handling does not move on would make a caller spin.
                let mut rounds = 0;
                while self
                    .client
                    .poll_timeout()
                    .is_some_and(|d| d <= self.clock.0.monotonic())
                {
                    self.client.handle_timeout(self.clock.0);
                    rounds += 1;
                    assert!(rounds <= 3, "handle_timeout does not move the deadline on");
                }
            }
        }
    }
}
