//! The receiving entity: one `Server` per client stream, made by a [`SessionStore`].

mod checkpoint;
mod session;

pub use self::checkpoint::CheckpointMark;

use std::time::SystemTime;

use jid::{BareJid, FullJid};
use minidom::Element;
use rand_core::CryptoRng;
use xmpp_parsers::stanza_error::DefinedCondition;
use xmpp_tether_core::{Monotonic, Now};

use crate::config::{EnablePolicy, ServerConfig};
use crate::core::{Core, Counters};
use crate::elements::{self, Enable, Enabled, Failed, Nonza, Resume, SmId};
use crate::error::{Error, Misuse, PeerError, Refusal, Refused};
use crate::event::{HandBackReason, Incoming, ServerEvent};
use crate::ns::Namespace;
use crate::store::{SessionStore, StreamHandle, StreamKey};
use crate::transmit::{Inline, Placement, Transmit};

/// Where a server stream stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Stream management is off: stanzas pass straight through.
    Off,
    /// Only with [`EnablePolicy::Ask`]: `<enable/>` received, the caller decides. Inbound
    /// counting has started (XEP-0198 §4).
    EnableRequested {
        resume: bool,
        max: Option<u32>,
        placement: Placement,
    },
    /// `<resume/>` received for a session another stream still holds: waiting for it to be
    /// handed over (until `deadline`).
    Resuming {
        previd: SmId,
        h: Option<u32>,
        placement: Placement,
        deadline: Monotonic,
    },
    /// Stream management is on.
    On,
    /// The stream is over (hibernated, taken over, closed or failed).
    Closed,
}

impl Phase {
    const fn name(&self) -> &'static str {
        match self {
            Self::Off => "stream management is off",
            Self::EnableRequested { .. } => "an enable request is pending",
            Self::Resuming { .. } => "a resumption waits for a take-over",
            Self::On => "enabled",
            Self::Closed => "closed",
        }
    }
}

/// XEP-0198 for the receiving entity, sans-IO: one per authenticated client stream, made by
/// [`SessionStore::stream`].
///
/// The stream answers `<enable/>` and `<resume/>` itself, with the store it came from: it
/// registers a resumable session, claims a hibernated one, or asks the stream that still holds
/// it to hand it over (waking that stream's task through its [`StreamHandle`]); when its
/// connection is lost it hibernates its session in the store, and when it ends it remembers the
/// last `h`. Every element to write comes out of [`poll_transmit`](Self::poll_transmit), tagged
/// with its [`Placement`] (top level, or inside SASL2 `<success/>` / Bind2 `<bound/>` when the
/// request came inline), in order.
///
/// Dropping a stream that was not closed or disconnected counts as a lost connection at the
/// last time it was given: its session hibernates, and stanzas it cannot keep go to the store's
/// [`poll_event`](SessionStore::poll_event). An aborted connection task leaves nothing behind.
///
/// Methods, by kind:
/// - getters: [`owner`](Self::owner), [`resource`](Self::resource), [`id`](Self::id),
///   [`is_enabled`](Self::is_enabled), [`is_resumed`](Self::is_resumed),
///   [`is_resume_pending`](Self::is_resume_pending), [`is_closed`](Self::is_closed),
///   [`unacked`](Self::unacked), [`handled`](Self::handled), [`features`](Self::features);
/// - input: [`handle_element`](Self::handle_element), [`handle_inline`](Self::handle_inline)
///   (or [`handle_authenticate`](Self::handle_authenticate) and
///   [`handle_bind2`](Self::handle_bind2) for SASL2 and Bind2), [`handle_bind`](Self::handle_bind), [`handle_wake`](Self::handle_wake),
///   [`handle_timeout`](Self::handle_timeout), [`handle_disconnect`](Self::handle_disconnect);
/// - commands: [`send`](Self::send), [`request_ack`](Self::request_ack),
///   [`accept_enable`](Self::accept_enable), [`reject_enable`](Self::reject_enable),
///   [`close`](Self::close);
/// - output: [`poll_transmit`](Self::poll_transmit), then [`poll_event`](Self::poll_event),
///   then [`poll_timeout`](Self::poll_timeout); after draining, stop if
///   [`is_closed`](Self::is_closed).
#[derive(Debug)]
pub struct Server<H: StreamHandle> {
    store: SessionStore<H>,
    key: StreamKey,
    owner: BareJid,
    resource: Option<FullJid>,
    phase: Phase,
    /// Set once the stream was resumed: it must never also be bound (XEP-0198 §5, XEP-0386).
    resumed: bool,
    /// A client makes at most one attempt to enable and one to resume per stream (XEP-0198
    /// §3, §5); later ones are refused even after a refusal.
    enable_attempted: bool,
    resume_attempted: bool,
    /// Drawn from the caller's RNG when the stream was made; used by the first resumable
    /// enable.
    candidate: Option<SmId>,
    /// The SM-ID while this stream holds a resumable session.
    id: Option<SmId>,
    max: u32,
    core: Core<ServerEvent>,
    /// The latest time given, for a drop without a disconnect.
    last_now: Option<Now>,
}

impl<H: StreamHandle> SessionStore<H> {
    /// A new stream, authenticated as `owner` and reachable through `handle`. A candidate
    /// SM-ID (128 bits) is drawn from `rng` now, so that an `<enable/>` is answered without a
    /// second call.
    pub fn stream(&self, owner: BareJid, handle: H, rng: &mut impl CryptoRng) -> Server<H> {
        let key = self.with(|t| t.open(owner.clone(), handle));
        Server::new(self.clone(), key, owner, SmId::random(rng))
    }
}

impl<H: StreamHandle> Server<H> {
    pub(crate) fn new(store: SessionStore<H>, key: StreamKey, owner: BareJid, id: SmId) -> Self {
        let core = Core::new(store.config().ack.clone());
        Self {
            store,
            key,
            owner,
            resource: None,
            phase: Phase::Off,
            resumed: false,
            enable_attempted: false,
            resume_attempted: false,
            candidate: Some(id),
            id: None,
            max: 0,
            core,
            last_now: None,
        }
    }

    fn config(&self) -> &ServerConfig {
        self.store.config()
    }

    /// The `<sm/>` stream features to offer now, one per configured dialect: none once
    /// stream management is on, the stream was resumed or is closed (a client that sees
    /// `<sm/>` again would enable or resume a second time).
    #[must_use]
    pub fn features(&self) -> Vec<Element> {
        match self.phase {
            Phase::Off if !self.resumed => self.config().features(),
            _ => Vec::new(),
        }
    }

    /// The authenticated account.
    #[must_use]
    pub const fn owner(&self) -> &BareJid {
        &self.owner
    }

    /// The bound full JID (after [`handle_bind`](Self::handle_bind), or restored by a
    /// resumption).
    #[must_use]
    pub const fn resource(&self) -> Option<&FullJid> {
        self.resource.as_ref()
    }

    /// The SM-ID, while this stream holds a resumable session.
    #[must_use]
    pub const fn id(&self) -> Option<&SmId> {
        self.id.as_ref()
    }

    /// Whether stream management is on.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.phase == Phase::On
    }

    /// Whether the stream was resumed (and so must not be bound).
    #[must_use]
    pub const fn is_resumed(&self) -> bool {
        self.resumed
    }

    /// Whether a `<resume/>` waits for another stream to hand its session over (answered from
    /// [`handle_wake`](Self::handle_wake) or [`handle_timeout`](Self::handle_timeout)). A
    /// server doing an inline SASL2 resume holds its `<success/>` until this is false.
    #[must_use]
    pub const fn is_resume_pending(&self) -> bool {
        matches!(self.phase, Phase::Resuming { .. })
    }

    /// Whether the stream is over (hibernated, taken over, closed or failed): write what
    /// `poll_transmit` still holds, then close the connection.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// How many stanzas are held unacknowledged.
    #[must_use]
    pub fn unacked(&self) -> usize {
        self.core.counters.queue.len()
    }

    /// Stanzas handled from the client so far.
    #[must_use]
    pub const fn handled(&self) -> u32 {
        self.core.counters.inbound
    }

    /// The caller bound `jid` (RFC 6120 §7): stanzas for it route to this stream
    /// ([`SessionStore::route`]) and stream management can be enabled from now on. A
    /// hibernated session on the same full JID is replaced: its stanzas are handed back in
    /// [`ServerEvent::HandedBack`].
    ///
    /// # Errors
    /// The JID is handed back: [`Refusal::ResourceInUse`] if another live stream holds it
    /// (pick another resource, RFC 6120 §7.7.2.2), [`Refusal::Resumed`] on a resumed stream
    /// (XEP-0198 §5: never both), [`Refusal::Closed`] on a closed one,
    /// [`Refusal::AlreadyBound`] if this stream bound another resource before (one per
    /// stream, RFC 6120 §7.1). Binding the same JID again is a no-op.
    pub fn handle_bind(&mut self, now: Now, jid: FullJid) -> Result<(), Refused<FullJid>> {
        self.last_now = Some(now);
        if self.resumed || self.is_resume_pending() {
            return Err(Refused::new(Refusal::Resumed, jid));
        }
        if self.phase == Phase::Closed {
            return Err(Refused::new(Refusal::Closed, jid));
        }
        match &self.resource {
            Some(bound) if *bound == jid => return Ok(()),
            Some(_) => return Err(Refused::new(Refusal::AlreadyBound, jid)),
            None => {}
        }
        if jid.to_bare() != self.owner {
            return Err(Refused::new(Refusal::NotOwner, jid));
        }
        let key = self.key;
        let Ok(replaced) = self.store.with(|t| t.bind(key, &jid)) else {
            return Err(Refused::new(Refusal::ResourceInUse, jid));
        };
        self.core.hand_back(HandBackReason::Replaced, replaced);
        self.resource = Some(jid);
        Ok(())
    }

    /// Feeds one top-level element read from the stream.
    ///
    /// # Errors
    /// - [`Error::Peer`]: the answer is queued in `poll_transmit`; when [`Error::is_fatal`],
    ///   the stream is closed (every unacknowledged stanza has been handed back).
    /// - [`Error::Closed`]: the stream is already over.
    pub fn handle_element(&mut self, now: Now, element: Element) -> Result<Incoming, Error> {
        self.handle_inline(now, element, Placement::TopLevel)
    }

    /// Feeds an XEP-0198 element the client put inline: a `<resume/>` from SASL2
    /// `<authenticate/>` ([`Placement::Sasl2`], see
    /// [`inline::resume_in_authenticate`](crate::elements::inline::resume_in_authenticate)) or
    /// an `<enable/>` from Bind2 `<bind/>` ([`Placement::Bind2`], after
    /// [`handle_bind`](Self::handle_bind)). The answer is queued at the same placement.
    ///
    /// # Errors
    /// As [`handle_element`](Self::handle_element).
    pub fn handle_inline(
        &mut self,
        now: Now,
        element: Element,
        placement: Placement,
    ) -> Result<Incoming, Error> {
        self.last_now = Some(now);
        if self.phase == Phase::Closed {
            // A stream that was taken over, hibernated or failed: anything still read from it
            // must not be routed (the client retransmits on its new stream).
            return Err(Error::Closed(Box::new(element)));
        }
        if let Some(acked) = self.core.plain_ack(now, &element, self.phase == Phase::On) {
            return acked
                .map(|()| Incoming::Handled)
                .map_err(|e| self.peer_error(e, placement));
        }
        if elements::is_stanza(&element) {
            // XEP-0198 §4: the inbound counter starts once `<enable/>` is received.
            if matches!(self.phase, Phase::On | Phase::EnableRequested { .. }) {
                let c = &mut self.core.counters;
                c.inbound = c.inbound.wrapping_add(1);
            }
            return Ok(Incoming::Stanza(element));
        }
        // A dialect this server does not offer is not stream management to it.
        let offered = &self.config().namespaces;
        let Some(ns) = Namespace::of(&element).filter(|ns| offered.contains(ns)) else {
            return Ok(Incoming::NotOurs(element));
        };
        let result = Nonza::parse_in(ns, &element)
            .map_err(PeerError::from)
            .and_then(|nonza| self.handle_nonza(now, nonza, placement));
        result.map_err(|e| self.peer_error(e, placement))
    }

    /// Answers a peer's fault at `placement` and, if it is fatal, fails the stream.
    fn peer_error(&mut self, e: PeerError, placement: Placement) -> Error {
        self.core.answer(&e, placement);
        if e.is_fatal() {
            self.fail(HandBackReason::ProtocolError);
        }
        e.into()
    }

    /// Feeds a SASL2 `<authenticate/>` (XEP-0388): the `<resume/>` inside it, if any
    /// (XEP-0198 §9.2), answered at [`Placement::Sasl2`]. Call it once authentication has
    /// succeeded, before binding; then [`is_resume_pending`](Self::is_resume_pending) says
    /// whether to wait for a take-over and [`is_resumed`](Self::is_resumed) whether to skip
    /// Bind2. `Ok(Incoming::NotOurs)` hands the element back when it carries no resumption.
    ///
    /// # Errors
    /// As [`handle_element`](Self::handle_element).
    pub fn handle_authenticate(
        &mut self,
        now: Now,
        authenticate: &Element,
    ) -> Result<Incoming, Error> {
        match elements::inline::resume_in_authenticate(authenticate) {
            Some(resume) => self.handle_inline(now, resume.clone(), Placement::Sasl2),
            None => Ok(Incoming::NotOurs(authenticate.clone())),
        }
    }

    /// Feeds a Bind2 `<bind/>` (XEP-0386) after [`handle_bind`](Self::handle_bind) bound
    /// the resource it asked for: the `<enable/>` inside it, if any (XEP-0198 §9.1),
    /// answered at [`Placement::Bind2`]. `Ok(Incoming::NotOurs)` hands the element back when
    /// it carries no `<enable/>`.
    ///
    /// # Errors
    /// As [`handle_element`](Self::handle_element).
    pub fn handle_bind2(&mut self, now: Now, bind: &Element) -> Result<Incoming, Error> {
        match elements::inline::enable_in_bind(bind) {
            Some(enable) => self.handle_inline(now, enable.clone(), Placement::Bind2),
            None => Ok(Incoming::NotOurs(bind.clone())),
        }
    }

    fn handle_nonza(
        &mut self,
        now: Now,
        nonza: Nonza,
        placement: Placement,
    ) -> Result<Incoming, PeerError> {
        match (nonza, &self.phase) {
            (Nonza::Request(r), Phase::On) => self.core.handle_request(now, r)?,
            (Nonza::Ack(a), Phase::On) => self.core.handle_ack(now, a.h)?,
            (Nonza::Enable(e), Phase::Off) => self.on_enable(now, e, placement)?,
            (Nonza::Enable(e), _) if self.phase != Phase::Closed => {
                return Err(PeerError::EnableTwice { ns: e.ns });
            }
            (Nonza::Resume(r), Phase::Off) => self.on_resume(now, r, placement)?,
            (Nonza::Resume(r), Phase::Resuming { .. }) => {
                return Err(PeerError::ResumeTwice { ns: r.ns });
            }
            (Nonza::Resume(r), Phase::On | Phase::EnableRequested { .. }) => {
                return Err(PeerError::ResumeAfterBind { ns: r.ns });
            }
            (nonza, phase) => {
                return Ok(Incoming::Ignored {
                    element: nonza.name(),
                    state: phase.name(),
                });
            }
        }
        Ok(Incoming::Handled)
    }

    fn on_enable(&mut self, now: Now, e: Enable, placement: Placement) -> Result<(), PeerError> {
        if self.enable_attempted || self.resumed {
            return Err(PeerError::EnableTwice { ns: e.ns });
        }
        if self.resource.is_none() {
            return Err(PeerError::EnableBeforeBind { ns: e.ns });
        }
        self.enable_attempted = true;
        self.core.counters = Counters::new(e.ns);
        match self.config().enable {
            EnablePolicy::Ask => {
                self.phase = Phase::EnableRequested {
                    resume: e.resume,
                    max: e.max,
                    placement,
                };
                self.core.event(ServerEvent::EnableRequested(e));
            }
            // A policy added later without its own arm answers like `Accept`.
            _ => self.enable(now, e.resume, e.max, placement),
        }
        Ok(())
    }

    /// Turns stream management on: queues `<enabled/>` at `placement`, resumable (with the
    /// candidate SM-ID, registered in the store) if the client asked and the server allows.
    fn enable(&mut self, now: Now, resume: bool, max: Option<u32>, placement: Placement) {
        let _ = now;
        let ns = self.core.counters.ns;
        let mut enabled = Enabled::new(ns);
        if resume && self.config().resume {
            let (key, candidate) = (self.key, self.candidate.take());
            // A candidate the store already knows means the RNG repeats itself or a record
            // was replayed: never reuse an SM-ID; enable without resumption instead.
            let id = candidate.filter(|id| {
                self.store.with(|t| {
                    let fresh = !t.id_known(id);
                    if fresh {
                        t.register(key, id.clone());
                    }
                    fresh
                })
            });
            if let Some(id) = id {
                // Honour the client's preference up to the configured cap (XEP-0198 §5).
                // `max` is a positiveInteger; a 0 counts as absent.
                let config = self.store.config();
                let granted = max
                    .filter(|&m| m > 0)
                    .unwrap_or(config.default_resume)
                    .min(config.max_resume);
                enabled = enabled.with_resume(id.clone()).with_max(granted);
                if let Some(location) = &config.location {
                    enabled = enabled.with_location(location.clone());
                }
                self.max = granted;
                self.id = Some(id);
            }
        }
        self.phase = Phase::On;
        self.core.nonza(enabled, placement);
        self.core.event(ServerEvent::Enabled {
            id: self.id.clone(),
        });
    }

    /// With [`EnablePolicy::Ask`]: enables stream management as requested.
    ///
    /// # Errors
    /// [`Misuse`] unless a [`ServerEvent::EnableRequested`] is pending.
    pub fn accept_enable(&mut self, now: Now) -> Result<(), Misuse> {
        let Phase::EnableRequested {
            resume,
            max,
            placement,
        } = self.phase
        else {
            return Err(self.misuse("accept_enable"));
        };
        self.enable(now, resume, max, placement);
        Ok(())
    }

    /// With [`EnablePolicy::Ask`]: refuses the pending enable request with `condition`.
    ///
    /// # Errors
    /// [`Misuse`] unless a [`ServerEvent::EnableRequested`] is pending.
    pub fn reject_enable(&mut self, now: Now, condition: DefinedCondition) -> Result<(), Misuse> {
        let _ = now;
        let Phase::EnableRequested { placement, .. } = self.phase else {
            return Err(self.misuse("reject_enable"));
        };
        self.phase = Phase::Off;
        let failed = Failed::new(self.core.counters.ns, condition);
        self.core.nonza(failed, placement);
        Ok(())
    }

    fn on_resume(&mut self, now: Now, r: Resume, placement: Placement) -> Result<(), PeerError> {
        if self.resume_attempted {
            return Err(PeerError::ResumeTwice { ns: r.ns });
        }
        if self.resource.is_some() {
            return Err(PeerError::ResumeAfterBind { ns: r.ns });
        }
        self.resume_attempted = true;
        self.core.counters.ns = r.ns;
        self.claim(now, r.previd, r.h, placement)
    }

    /// Sends a stanza to the client: queued until acknowledged when stream management is on,
    /// straight out otherwise.
    ///
    /// # Errors
    /// The stanza is handed back in [`Refused`]:
    /// - [`Refusal::NotAStanza`];
    /// - [`Refusal::Closed`]: the stream is over, or still waiting for a take-over; route the
    ///   stanza again ([`SessionStore::route`]), it may now belong to a hibernated session;
    /// - [`Refusal::QueueFull`]: the client is not acknowledging. The stream is closed with
    ///   `resource-constraint` and every held stanza handed back.
    pub fn send(&mut self, now: Now, stanza: Element) -> Result<(), Refused<Element>> {
        self.send_at(now, stanza, now.wall())
    }

    /// [`send`](Self::send) for a stanza first given to the library at `first_sent` (routed
    /// here by the store earlier).
    pub(crate) fn send_at(
        &mut self,
        now: Now,
        stanza: Element,
        first_sent: SystemTime,
    ) -> Result<(), Refused<Element>> {
        self.last_now = Some(now);
        if !elements::is_stanza(&stanza) {
            return Err(Refused::new(Refusal::NotAStanza, stanza));
        }
        let limit = self.config().max_queue;
        match self.phase {
            Phase::On => {}
            Phase::Closed | Phase::Resuming { .. } => {
                return Err(Refused::new(Refusal::Closed, stanza));
            }
            // Outbound counting starts only after `<enabled/>` is sent.
            Phase::Off | Phase::EnableRequested { .. } => {
                self.core.pass(stanza, first_sent);
                return Ok(());
            }
        }
        self.core
            .send(now, stanza, first_sent, limit, true)
            .map_err(|stanza| {
                self.core.overflow(limit);
                self.fail(HandBackReason::QueueOverflow);
                Refused::new(Refusal::QueueFull { limit }, stanza)
            })
    }

    /// Sends `<r/>` now, unless one is outstanding or stream management is not on.
    pub fn request_ack(&mut self, now: Now) {
        self.last_now = Some(now);
        if self.phase == Phase::On {
            self.core.request_ack(now);
        }
    }

    /// Fires due timers (ack requests by time, ack timeouts, a take-over that took too long).
    /// A spurious call is a no-op.
    pub fn handle_timeout(&mut self, now: Now) {
        self.last_now = Some(now);
        match &self.phase {
            Phase::On => self.core.handle_timeout(now),
            Phase::Resuming { deadline, .. } if now.monotonic() >= *deadline => {
                self.handover_timed_out(now);
            }
            _ => {}
        }
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Monotonic> {
        match &self.phase {
            Phase::On => self.core.deadline(),
            Phase::Resuming { deadline, .. } => Some(*deadline),
            _ => None,
        }
    }

    /// The next element to write, in order, with its placement.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.core.poll_transmit()
    }

    /// Takes the answers to inline requests out of the output queue, for the SASL2
    /// `<success/>` being built: the `<resumed/>` or `<failed/>` of an inline resume
    /// ([`Inline::sasl2`]) and the `<enabled/>` or `<failed/>` for inside `<bound/>`
    /// ([`Inline::bind2`]). Put them in that order (XEP-0198 §9.2.1); what stays in
    /// `poll_transmit` (retransmissions after a resumption) goes after `<success/>`.
    #[must_use]
    pub fn take_inline(&mut self) -> Inline {
        self.core.take_inline()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.core.poll_event()
    }

    /// Test hook: count from `outbound`/`inbound` instead of zero, to cross the 2^32 wrap.
    /// Call right after the stream is enabled; shift the client to match.
    #[cfg(any(test, feature = "__testing"))]
    #[doc(hidden)]
    pub fn __shift_counters(&mut self, outbound: u32, inbound: u32) {
        self.core.counters.shift(outbound, inbound);
    }

    fn misuse(&self, operation: &'static str) -> Misuse {
        Misuse {
            operation,
            state: self.phase.name(),
        }
    }
}
