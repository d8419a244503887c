//! The part both roles share: counters, the retransmission queue, acks and ack requests.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::SystemTime;

use minidom::Element;

use crate::config::AckPolicy;
use crate::elements::{Ack, Request};
use crate::error::PeerError;
use crate::event::{Event, HandBackReason};
use crate::ns::Namespace;
use crate::seq::{self, AckPosition};
use crate::transmit::{Transmit, Unacked};

/// A stanza held until the peer acknowledges it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Queued {
    pub(crate) stanza: Arc<Element>,
    pub(crate) first_sent: SystemTime,
}

impl From<Queued> for Unacked {
    fn from(q: Queued) -> Self {
        Self {
            stanza: Arc::unwrap_or_clone(q.stanza),
            first_sent: q.first_sent,
        }
    }
}

/// Elements to write and events to report, drained by the `poll_*` methods.
#[derive(Debug, Default)]
pub(crate) struct Outputs {
    pub(crate) transmit: VecDeque<Transmit>,
    pub(crate) events: VecDeque<Event>,
}

impl Outputs {
    pub(crate) fn nonza(&mut self, element: impl Into<Element>) {
        self.transmit.push_back(Transmit::nonza(element.into()));
    }

    pub(crate) fn hand_back(&mut self, reason: HandBackReason, stanzas: Vec<Unacked>) {
        if !stanzas.is_empty() {
            self.events.push_back(Event::HandedBack { reason, stanzas });
        }
    }

    /// Queued stanzas are being handed back: they must not also go out on the wire.
    pub(crate) fn unsend_stanzas(&mut self) {
        self.transmit.retain(|t| !t.is_stanza());
    }

    /// The connection is gone: nothing waiting to be written ever will be. Counted stanzas
    /// stay in the retransmission queue; stanzas that passed through uncounted (stream
    /// management off) are handed back here, stamped `now`.
    pub(crate) fn abort_connection(&mut self, now: SystemTime) {
        let uncounted: Vec<Unacked> = self
            .transmit
            .drain(..)
            .filter(|t| !t.is_stanza() && crate::elements::is_stanza(t))
            .map(|t| Unacked {
                stanza: t.into_element(),
                first_sent: now,
            })
            .collect();
        self.hand_back(HandBackReason::StreamClosed, uncounted);
    }
}

/// Counters and queue of one managed stream (or of a hibernated session).
///
/// Sequence numbers: the stanza at `queue[i]` is number `acked + 1 + i` (mod 2^32); `sent` is
/// the number of the last one written to the wire (stanzas queued while disconnected are
/// numbered but not yet sent), `outbound` the number of the last one queued.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Counters {
    pub(crate) ns: Namespace,
    pub(crate) outbound: u32,
    pub(crate) sent: u32,
    pub(crate) acked: u32,
    pub(crate) inbound: u32,
    pub(crate) queue: VecDeque<Queued>,
}

impl Counters {
    pub(crate) const fn new(ns: Namespace) -> Self {
        Self {
            ns,
            outbound: 0,
            sent: 0,
            acked: 0,
            inbound: 0,
            queue: VecDeque::new(),
        }
    }

    /// Test hook: count from `outbound`/`inbound` instead of zero (an empty queue).
    #[cfg(any(test, feature = "__testing"))]
    pub(crate) const fn shift(&mut self, outbound: u32, inbound: u32) {
        self.outbound = outbound;
        self.sent = outbound;
        self.acked = outbound;
        self.inbound = inbound;
    }

    /// Unacknowledged stanzas that are on the wire.
    pub(crate) const fn in_flight(&self) -> u32 {
        seq::distance(self.acked, self.sent)
    }

    /// Queues a stanza, writing it out when `transmit` (the stream is up).
    pub(crate) fn push(
        &mut self,
        now: SystemTime,
        stanza: Element,
        limit: usize,
        transmit: bool,
        out: &mut Outputs,
    ) -> Result<(), PeerError> {
        let stanza = Arc::new(stanza);
        if self.queue.len() >= limit {
            out.unsend_stanzas();
            let mut stanzas = self.take_unacked();
            stanzas.push(Unacked {
                stanza: Arc::unwrap_or_clone(stanza),
                first_sent: now,
            });
            out.hand_back(HandBackReason::QueueOverflow, stanzas);
            return Err(PeerError::QueueOverflow { limit });
        }
        self.outbound = self.outbound.wrapping_add(1);
        if transmit {
            self.sent = self.outbound;
            out.transmit
                .push_back(Transmit::stanza(Arc::clone(&stanza)));
        }
        self.queue.push_back(Queued {
            stanza,
            first_sent: now,
        });
        Ok(())
    }

    /// Applies the peer's `h`: O(newly acknowledged), never O(queue).
    pub(crate) fn ack(&mut self, h: u32, out: &mut Outputs) -> Result<(), PeerError> {
        match seq::classify_ack(self.acked, self.sent, h) {
            AckPosition::New(0) => Ok(()),
            AckPosition::New(count) => {
                // `count <= in_flight <= queue.len()` by construction of `sent`.
                // `count <= in_flight <= queue.len()` holds by construction; `min` keeps a
                // broken invariant (a hand-edited persisted session) from panicking.
                self.queue.drain(..(count as usize).min(self.queue.len()));
                self.acked = h;
                out.events.push_back(Event::Acked { h, count });
                Ok(())
            }
            AckPosition::Backwards => Err(PeerError::AckWentBackwards {
                h,
                acked: self.acked,
            }),
            AckPosition::TooHigh => Err(PeerError::HandledCountTooHigh {
                ns: self.ns,
                h,
                send_count: self.sent,
            }),
        }
    }

    /// Writes every queued stanza again, oldest first (after a resumption).
    pub(crate) fn retransmit(&mut self, out: &mut Outputs) -> usize {
        out.transmit.extend(
            self.queue
                .iter()
                .map(|q| Transmit::stanza(Arc::clone(&q.stanza))),
        );
        self.sent = self.outbound;
        self.queue.len()
    }

    /// Empties the queue, handing the stanzas back.
    pub(crate) fn take_unacked(&mut self) -> Vec<Unacked> {
        self.acked = self.outbound;
        self.sent = self.outbound;
        self.queue.drain(..).map(Unacked::from).collect()
    }

    pub(crate) const fn ack_element(&self) -> Ack {
        Ack {
            ns: self.ns,
            h: self.inbound,
            u: None,
        }
    }

    pub(crate) const fn request_element(&self) -> Request {
        match self.ns {
            // Seed §4: `u` is the sequence number of the last stanza sent.
            Namespace::Sm1 => Request {
                ns: self.ns,
                u: Some(self.sent),
                h: None,
            },
            _ => Request {
                ns: self.ns,
                u: None,
                h: None,
            },
        }
    }
}

/// The ack-request side of a live stream: at most one `<r/>` outstanding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Requester {
    /// When the outstanding `<r/>` was sent.
    outstanding: Option<SystemTime>,
    /// Whether its timeout was already reported.
    timed_out: bool,
}

impl Requester {
    /// Sends `<r/>` now, unless one is already outstanding.
    pub(crate) fn request(&mut self, now: SystemTime, counters: &Counters, out: &mut Outputs) {
        if self.outstanding.is_none() {
            self.outstanding = Some(now);
            self.timed_out = false;
            out.nonza(counters.request_element());
        }
    }

    /// The peer answered (any `<a/>` answers the outstanding request).
    pub(crate) fn answered(&mut self) {
        self.outstanding = None;
        self.timed_out = false;
    }

    /// Applies the count part of the policy after a send.
    pub(crate) fn after_send(
        &mut self,
        now: SystemTime,
        policy: &AckPolicy,
        counters: &Counters,
        out: &mut Outputs,
    ) {
        if let Some(n) = policy.after_stanzas
            && counters.in_flight() >= n.max(1)
        {
            self.request(now, counters, out);
        }
    }

    /// The next instant at which `handle_timeout` has work.
    pub(crate) fn deadline(&self, policy: &AckPolicy, counters: &Counters) -> Option<SystemTime> {
        match self.outstanding {
            Some(at) if !self.timed_out => policy.timeout.and_then(|t| at.checked_add(t)),
            Some(_) => None,
            None if counters.in_flight() > 0 => {
                let oldest = counters.queue.front()?.first_sent;
                policy.after_time.and_then(|t| oldest.checked_add(t))
            }
            None => None,
        }
    }

    /// Fires what is due at `now`; a spurious call is a no-op.
    pub(crate) fn handle_timeout(
        &mut self,
        now: SystemTime,
        policy: &AckPolicy,
        counters: &Counters,
        out: &mut Outputs,
    ) {
        let Some(deadline) = self.deadline(policy, counters) else {
            return;
        };
        if now < deadline {
            return;
        }
        match self.outstanding {
            Some(requested_at) => {
                self.timed_out = true;
                out.events.push_back(Event::AckTimeout { requested_at });
            }
            None => self.request(now, counters, out),
        }
    }
}
