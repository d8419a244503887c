//! The client target: a [`Client`] against a fuzzed server.

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};

use super::input::{Clock, Input, MAX_OPS, check_emitted, check_peer_error, stanza};
use crate::Client;
use crate::config::{AckPolicy, ClientConfig};
use crate::elements::SmId;
use crate::error::{Error, Misuse, PeerError};
use crate::event::Event;
use crate::ns::Namespace;

#[derive(Debug, Arbitrary)]
struct Setup {
    resume: bool,
    max: Option<u32>,
    ack: Policy,
    max_queue: u8,
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
        AckPolicy {
            after_stanzas: self.after_stanzas.map(u32::from),
            after_time: self.after_time.as_ref().map(secs),
            timeout: self.timeout.as_ref().map(secs),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Op {
    /// The server wrote this.
    Feed(Input),
    Enable(u8),
    Resume,
    Send(u8),
    RequestAck,
    Disconnect,
    Close,
    /// Seconds pass, and the timer is polled (spuriously or not).
    Advance(u16),
    AdvanceMillis(u16),
    /// Jump to the next deadline and fire it.
    FireTimeout,
}

/// Stanzas queued versus stanzas acknowledged or handed back (DESIGN.md promise 2).
#[derive(Debug, Default)]
pub(super) struct Ledger {
    pub(super) created: u64,
    pub(super) destroyed: u64,
}

impl Ledger {
    /// Accounts for an event; returns an SM-ID it announces, if any.
    pub(super) fn on_event(&mut self, event: &Event) -> Option<SmId> {
        match event {
            Event::Acked { count, .. } => {
                assert!(*count > 0, "an Acked event acknowledges something");
                self.destroyed += u64::from(*count);
            }
            Event::HandedBack { stanzas, .. } => {
                assert!(!stanzas.is_empty(), "HandedBack carries stanzas");
                self.destroyed += stanzas.len() as u64;
            }
            Event::Enabled { id, .. } => return id.clone(),
            _ => {}
        }
        None
    }
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
    };
    let max_queue = config.max_queue;

    let mut client = Client::new(config);
    let mut clock = Clock::new();
    let mut ledger = Ledger::default();
    let mut ids: Vec<SmId> = Vec::new();

    for _ in 0..MAX_OPS {
        // `arbitrary` pads exhausted input with zeros; stop instead of replaying padding.
        if u.is_empty() {
            break;
        }
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        step(&mut client, &mut clock, &mut ledger, &ids, op);

        while let Some(out) = client.poll_transmit() {
            assert!(!out.is_stanza() || crate::elements::is_stanza(&out));
            check_emitted(&out);
        }
        while let Some(event) = client.poll_event() {
            if let Some(id) = ledger.on_event(&event) {
                ids.push(id);
            }
        }
        assert!(client.unacked() <= max_queue, "queue beyond its bound");
        assert_eq!(
            ledger.created,
            ledger.destroyed + client.unacked() as u64,
            "a stanza was lost or invented"
        );
    }
}

fn step(client: &mut Client, clock: &mut Clock, ledger: &mut Ledger, ids: &[SmId], op: Op) {
    let now = clock.0;
    match op {
        Op::Feed(input) => {
            let Some(element) = input.build(ids) else {
                return;
            };
            if let Err(e) = client.handle_element(now, element)
                && check_peer_error(&e)
            {
                assert_eq!(client.unacked(), 0, "fatal error left stanzas behind");
                assert!(!client.is_enabled() && !client.can_resume());
            }
        }
        Op::Enable(ns) => {
            let ns = Namespace::ALL[usize::from(ns) % Namespace::ALL.len()];
            if let Ok(enable) = client.enable(now, ns) {
                check_emitted(&enable);
            }
        }
        Op::Resume => {
            if let Ok(resume) = client.resume(now) {
                check_emitted(&resume);
            }
        }
        Op::Send(kind) => {
            let before = client.unacked();
            match client.send(now, stanza(kind)) {
                Ok(()) => {
                    let queued = client.unacked() - before;
                    assert!(queued <= 1);
                    ledger.created += queued as u64;
                }
                Err(Error::Peer(PeerError::QueueOverflow { .. })) => ledger.created += 1,
                Err(Error::Misuse(Misuse::NotAStanza(_))) => assert_eq!(kind % 4, 3),
                Err(other) => panic!("send failed unexpectedly: {other:?}"),
            }
        }
        Op::RequestAck => client.request_ack(now),
        Op::Disconnect => client.handle_disconnect(now),
        Op::Close => client.close(now),
        Op::Advance(secs) => {
            clock.advance(Duration::from_secs(u64::from(secs)));
            client.handle_timeout(clock.0);
        }
        Op::AdvanceMillis(ms) => {
            clock.advance(Duration::from_millis(u64::from(ms)));
            client.handle_timeout(clock.0);
        }
        Op::FireTimeout => {
            if let Some(deadline) = client.poll_timeout() {
                clock.reach(deadline);
            }
            // A deadline that handling does not move on would make a caller spin.
            let mut rounds = 0;
            while client.poll_timeout().is_some_and(|d| d <= clock.0) {
                client.handle_timeout(clock.0);
                rounds += 1;
                assert!(rounds <= 3, "handle_timeout does not move the deadline on");
            }
        }
    }
}
