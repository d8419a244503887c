//! The part both roles share: counters, the retransmission queue, acks, ack requests, and the
//! output queues with the `<r/>`/`<a/>`/timer/poll logic over them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::SystemTime;

use minidom::Element;
use xmpp_parsers::stream_error::{DefinedCondition as StreamCondition, StreamError};
use xmpp_tether_core::{Monotonic, Now};

use crate::config::AckPolicy;
use crate::elements::{Ack, Request};
use crate::error::{Answer, PeerError};
use crate::event::{CoreEvent, HandBackReason};
use crate::ns::Namespace;
use crate::seq::{self, AckPosition};
use crate::transmit::{AckedStanzas, Inline, Placement, Transmit, Unacked};

/// A stanza held until the peer acknowledges it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Queued {
    pub(crate) stanza: Arc<Element>,
    /// Wall clock: survives persistence, stamps XEP-0203 delays.
    pub(crate) first_sent: SystemTime,
}

impl From<Queued> for Unacked {
    fn from(q: Queued) -> Self {
        Self::new(Arc::unwrap_or_clone(q.stanza), q.first_sent)
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

    /// Queues a stanza that is not written (the stream is gone): it goes out on resumption.
    /// Hands it back at `limit`.
    pub(crate) fn hold(
        &mut self,
        stanza: Element,
        first_sent: SystemTime,
        limit: usize,
    ) -> Result<(), Element> {
        if self.queue.len() >= limit {
            return Err(stanza);
        }
        self.outbound = self.outbound.wrapping_add(1);
        self.queue.push_back(Queued {
            stanza: Arc::new(stanza),
            first_sent,
        });
        Ok(())
    }

    /// Removes the stanzas `h` newly acknowledges: O(newly acknowledged), never O(queue). Only
    /// pointers move: the stanzas are unwrapped (or freed) when the caller takes the event.
    fn ack(&mut self, h: u32) -> Result<AckedStanzas, PeerError> {
        match seq::classify_ack(self.acked, self.sent, h) {
            AckPosition::New(0) => Ok(AckedStanzas::default()),
            AckPosition::New(count) => {
                // `count <= in_flight <= queue.len()` holds by construction of `sent`; `min`
                // keeps a broken invariant from panicking.
                let count = (count as usize).min(self.queue.len());
                self.acked = h;
                Ok(AckedStanzas::new(
                    self.queue.drain(..count).map(|q| q.stanza),
                ))
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

    /// Empties the queue, handing the stanzas back.
    pub(crate) fn take_unacked(&mut self) -> Vec<Unacked> {
        self.acked = self.outbound;
        self.sent = self.outbound;
        self.queue.drain(..).map(Unacked::from).collect()
    }

    pub(crate) const fn ack_element(&self) -> Ack {
        Ack::new(self.ns, self.inbound)
    }

    const fn request_element(&self) -> Request {
        match self.ns {
            // Seed §4: `u` is the sequence number of the last stanza sent.
            Namespace::Sm1 => Request::new(self.ns).with_u(self.sent),
            _ => Request::new(self.ns),
        }
    }
}

/// One managed stream's shared state: counters and queue, the ack requester, and the output
/// queues every `poll_*` drains.
#[derive(Debug)]
pub(crate) struct Core<E> {
    pub(crate) counters: Counters,
    pub(crate) policy: AckPolicy,
    /// When the outstanding `<r/>` was sent, and whether its timeout was reported.
    outstanding: Option<(Monotonic, bool)>,
    /// Since when stanzas have been in flight without an acknowledgement (for
    /// [`AckPolicy::after_time`]).
    waiting_since: Option<Monotonic>,
    transmit: VecDeque<Transmit>,
    events: VecDeque<E>,
}

impl<E: CoreEvent> Core<E> {
    pub(crate) fn new(policy: AckPolicy) -> Self {
        Self {
            counters: Counters::new(Namespace::Sm3),
            policy,
            outstanding: None,
            waiting_since: None,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    pub(crate) fn event(&mut self, event: E) {
        self.events.push_back(event);
    }

    pub(crate) fn nonza(&mut self, element: impl Into<Element>, placement: Placement) {
        self.transmit.push_back(Transmit::nonza(element, placement));
    }

    /// Queues what a peer error prescribes.
    pub(crate) fn answer(&mut self, error: &PeerError, placement: Placement) {
        match error.answer(placement) {
            Answer::Failed(element, placement) => self.nonza(element, placement),
            Answer::StreamError(error) => self.nonza(error, Placement::TopLevel),
        }
    }

    /// The peer is not acknowledging and the queue is at `limit`: queues the
    /// `resource-constraint` stream error (the caller then hands everything back).
    pub(crate) fn overflow(&mut self, limit: usize) {
        let error = StreamError::new(
            StreamCondition::ResourceConstraint,
            "en",
            format!("more than {limit} unacknowledged stanzas"),
        );
        self.nonza(error, Placement::TopLevel);
    }

    /// A stanza while stream management is off: straight out, uncounted.
    pub(crate) fn pass(&mut self, stanza: Element, first_sent: SystemTime) {
        self.transmit
            .push_back(Transmit::uncounted(stanza, first_sent));
    }

    /// Counts, queues and writes a stanza, asking for an ack if the policy says so and
    /// `may_request` (a client that has not yet received `<enabled/>` must not: a server
    /// deciding on its `<enable/>` ignores an early `<r/>`, which would then time out). Hands
    /// it back at `limit`.
    pub(crate) fn send(
        &mut self,
        now: Now,
        stanza: Element,
        first_sent: SystemTime,
        limit: usize,
        may_request: bool,
    ) -> Result<(), Element> {
        if self.counters.queue.len() >= limit {
            return Err(stanza);
        }
        let stanza = Arc::new(stanza);
        let c = &mut self.counters;
        c.outbound = c.outbound.wrapping_add(1);
        c.sent = c.outbound;
        self.transmit
            .push_back(Transmit::counted(Arc::clone(&stanza)));
        c.queue.push_back(Queued { stanza, first_sent });
        self.waiting_since.get_or_insert(now.monotonic());
        if may_request {
            self.after_send(now);
        }
        Ok(())
    }

    /// Applies the count part of the ack policy.
    pub(crate) fn after_send(&mut self, now: Now) {
        if let Some(n) = self.policy.after_stanzas
            && self.counters.in_flight() >= n.max(1)
        {
            self.request_ack(now);
        }
    }

    /// Sends `<r/>` now, unless one is outstanding.
    pub(crate) fn request_ack(&mut self, now: Now) {
        if self.outstanding.is_none() {
            self.outstanding = Some((now.monotonic(), false));
            let r = self.counters.request_element();
            self.nonza(r, Placement::TopLevel);
        }
    }

    /// An incoming `<r/>`: answered at once (sm:1 may carry an ack in `h`).
    pub(crate) fn handle_request(&mut self, now: Now, r: Request) -> Result<(), PeerError> {
        if let Some(h) = r.h {
            self.handle_ack(now, h)?;
        }
        let a = self.counters.ack_element();
        self.nonza(a, Placement::TopLevel);
        Ok(())
    }

    /// Takes in `element` if it is an `<a h/>` in this stream's own dialect and stream
    /// management is `on`, read directly: the element every acknowledged stanza costs, so
    /// the roles try it before the general parser. `None` for anything else, an sm:1 `<a/>`
    /// (which may carry `u`) or an `h` that is not a number: the general path parses those
    /// and answers any error.
    pub(crate) fn plain_ack(
        &mut self,
        now: Now,
        element: &Element,
        on: bool,
    ) -> Option<Result<(), PeerError>> {
        let ns = self.counters.ns;
        if !on || element.name() != "a" || ns == Namespace::Sm1 || !element.has_ns(ns.as_str()) {
            return None;
        }
        let h = element.attr("h")?.parse().ok()?;
        Some(self.handle_ack(now, h))
    }

    /// An incoming `h` (any `<a/>` answers the outstanding request).
    pub(crate) fn handle_ack(&mut self, now: Now, h: u32) -> Result<(), PeerError> {
        self.outstanding = None;
        self.apply_ack(now, h)
    }

    /// Applies `h` without touching the request state (a `<resumed/>`, a `<failed h/>`).
    pub(crate) fn apply_ack(&mut self, now: Now, h: u32) -> Result<(), PeerError> {
        let stanzas = self.counters.ack(h)?;
        if !stanzas.is_empty() {
            self.waiting_since = (self.counters.in_flight() > 0).then_some(now.monotonic());
            self.events.push_back(E::acked(h, stanzas));
        }
        Ok(())
    }

    /// Applies the `h` of a `<resume/>` to a checkpoint, which may lag the stream it was
    /// copied from: an `h` beyond the stanzas the copy knows were written acknowledges all
    /// of those (the client has the rest: the old stream wrote them after the copy). Stanzas
    /// queued since (routed to the copy while it waited) were never written: they stay, and
    /// are numbered after `h`. Returns how far beyond.
    pub(crate) fn apply_ack_beyond(&mut self, now: Now, h: u32) -> Result<u32, PeerError> {
        let c = &self.counters;
        if seq::classify_ack(c.acked, c.sent, h) != AckPosition::TooHigh {
            return self.apply_ack(now, h).map(|()| 0);
        }
        let (sent, pending) = (c.sent, seq::distance(c.sent, c.outbound));
        self.apply_ack(now, sent)?;
        let c = &mut self.counters;
        c.acked = h;
        c.sent = h;
        c.outbound = h.wrapping_add(pending);
        Ok(seq::distance(sent, h))
    }

    /// Writes every queued stanza again, oldest first (after a resumption); the ack state
    /// starts afresh. Returns how many.
    pub(crate) fn retransmit(&mut self, now: Now) -> usize {
        self.outstanding = None;
        let c = &mut self.counters;
        self.transmit.extend(
            c.queue
                .iter()
                .map(|q| Transmit::counted(Arc::clone(&q.stanza))),
        );
        c.sent = c.outbound;
        self.waiting_since = (!c.queue.is_empty()).then_some(now.monotonic());
        let n = c.queue.len();
        self.after_send(now);
        n
    }

    /// Forgets the ack-request state (stream management off or the stream gone).
    pub(crate) const fn reset_requests(&mut self) {
        self.outstanding = None;
        self.waiting_since = None;
    }

    /// Counted stanzas waiting in the output queue will not be written here after all (they
    /// are handed back, or retransmitted on another stream).
    pub(crate) fn unsend_counted(&mut self) {
        self.transmit.retain(|t| !t.is_counted());
    }

    /// Hands back every unacknowledged stanza; none of them goes out any more.
    pub(crate) fn hand_back_all(&mut self, reason: HandBackReason) {
        self.unsend_counted();
        let stanzas = self.counters.take_unacked();
        self.hand_back(reason, stanzas);
        self.reset_requests();
    }

    pub(crate) fn hand_back(&mut self, reason: HandBackReason, stanzas: Vec<Unacked>) {
        if !stanzas.is_empty() {
            self.events.push_back(E::handed_back(reason, stanzas));
        }
    }

    /// The connection is gone: nothing waiting to be written ever will be. Counted stanzas
    /// stay in the retransmission queue; stanzas that passed through uncounted (stream
    /// management off) are handed back with the time they were sent.
    pub(crate) fn abort_connection(&mut self) {
        let uncounted: Vec<Unacked> = self
            .transmit
            .drain(..)
            .filter_map(Transmit::into_uncounted)
            .collect();
        self.hand_back(HandBackReason::StreamClosed, uncounted);
        self.reset_requests();
    }

    /// The next point at which [`handle_timeout`](Self::handle_timeout) has work.
    pub(crate) fn deadline(&self) -> Option<Monotonic> {
        match self.outstanding {
            Some((at, false)) => self.policy.timeout.map(|t| at + t),
            Some((_, true)) => None,
            None => self
                .waiting_since
                .filter(|_| self.counters.in_flight() > 0)
                .and_then(|since| self.policy.after_time.map(|t| since + t)),
        }
    }

    /// Fires what is due at `now`; a spurious call is a no-op.
    pub(crate) fn handle_timeout(&mut self, now: Now) {
        let Some(deadline) = self.deadline() else {
            return;
        };
        if now.monotonic() < deadline {
            return;
        }
        match self.outstanding {
            Some((requested_at, _)) => {
                self.outstanding = Some((requested_at, true));
                self.events.push_back(E::ack_timeout(requested_at));
            }
            None => self.request_ack(now),
        }
    }

    /// Takes the inline elements out of the output queue (the top-level ones stay, in order).
    pub(crate) fn take_inline(&mut self) -> Inline {
        let mut inline = Inline::default();
        let mut rest = VecDeque::with_capacity(self.transmit.len());
        for t in self.transmit.drain(..) {
            match t.placement() {
                Placement::Sasl2 => inline.sasl2.push(t.into_element()),
                Placement::Bind2 => inline.bind2.push(t.into_element()),
                _ => rest.push_back(t),
            }
        }
        self.transmit = rest;
        inline
    }

    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmit.pop_front()
    }

    pub(crate) fn poll_event(&mut self) -> Option<E> {
        self.events.pop_front()
    }
}
