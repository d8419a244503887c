//! The receiving entity: one `Server` per client stream.

use std::time::SystemTime;

use jid::{BareJid, FullJid};
use minidom::Element;
use rand_core::CryptoRng;
use xmpp_parsers::stanza_error::DefinedCondition;
use xmpp_parsers::stream_error::{DefinedCondition as StreamCondition, StreamError};

use crate::config::ServerConfig;
use crate::core::{Counters, Outputs, Requester};
use crate::elements::{self, Enabled, Failed, Feature, Nonza, Resumed, SmId};
use crate::error::{Error, Misuse, PeerError};
use crate::event::{Event, HandBackReason, Incoming};
use crate::ns::Namespace;
use crate::session::HibernatedSession;
use crate::transmit::Transmit;

/// SM-IDs carry this many random bytes (128 bits; XEP-0198 §5 asks for unguessable ids).
const ID_BYTES: usize = 16;

/// Where a server stream stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// SM is off: stanzas pass straight through.
    Off,
    /// `<enable/>` received, the caller has not answered yet. Inbound counting has started.
    EnableRequested { resume: bool, max: Option<u32> },
    /// `<resume/>` received, the caller is looking the session up.
    ResumeRequested { previd: SmId, h: Option<u32> },
    /// SM is on.
    On,
    /// The stream is over (hibernated, taken over, closed or failed).
    Closed,
}

impl Phase {
    const fn name(&self) -> &'static str {
        match self {
            Self::Off => "stream management is off",
            Self::EnableRequested { .. } => "an enable request is pending",
            Self::ResumeRequested { .. } => "a resume request is pending",
            Self::On => "enabled",
            Self::Closed => "closed",
        }
    }
}

/// XEP-0198 for the receiving entity, sans-IO: one per authenticated client stream.
///
/// Requests that need the caller's resources come back from
/// [`handle_element`](Self::handle_element) as [`Incoming::EnableRequest`] (an RNG for the
/// SM-ID) and [`Incoming::ResumeRequest`] (the [`crate::SessionStore`]); answer them with
/// `accept_*`/`reject_*`, which return the reply to write: at top level, or inside SASL2
/// `<success/>` / Bind2 `<bound/>` when the request came inline. Retransmissions come out of
/// [`poll_transmit`](Self::poll_transmit) after that reply.
///
/// Methods, by kind:
/// - getters: [`owner`](Self::owner), [`is_enabled`](Self::is_enabled),
///   [`id`](Self::id), [`unacked`](Self::unacked), [`features`](Self::features);
/// - input: [`handle_element`](Self::handle_element), [`handle_timeout`](Self::handle_timeout),
///   [`handle_disconnect`](Self::handle_disconnect);
/// - commands: [`bound`](Self::bound), [`accept_enable`](Self::accept_enable),
///   [`reject_enable`](Self::reject_enable), [`accept_resume`](Self::accept_resume),
///   [`reject_resume`](Self::reject_resume), [`send`](Self::send),
///   [`request_ack`](Self::request_ack), [`take_over`](Self::take_over),
///   [`close`](Self::close);
/// - output: [`poll_transmit`](Self::poll_transmit), [`poll_event`](Self::poll_event),
///   [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    owner: BareJid,
    resource: Option<FullJid>,
    phase: Phase,
    /// Set once the stream was resumed: it must never also be bound (XEP-0198 §5, XEP-0386).
    resumed: bool,
    /// A client makes at most one attempt to enable and one to resume per stream (XEP-0198
    /// §3, §5); later ones are refused even after a refusal.
    enable_attempted: bool,
    resume_attempted: bool,
    id: Option<SmId>,
    max: u32,
    counters: Counters,
    requester: Requester,
    out: Outputs,
}

impl Server {
    /// A stream authenticated as `owner`, with stream management off.
    #[must_use]
    pub fn new(config: ServerConfig, owner: BareJid) -> Self {
        Self {
            config,
            owner,
            resource: None,
            phase: Phase::Off,
            resumed: false,
            enable_attempted: false,
            resume_attempted: false,
            id: None,
            max: 0,
            counters: Counters::new(Namespace::Sm3),
            requester: Requester::default(),
            out: Outputs::default(),
        }
    }

    /// The `<sm/>` stream features to offer after authentication, one per configured dialect.
    #[must_use]
    pub fn features(&self) -> Vec<Element> {
        self.config
            .namespaces
            .iter()
            .map(|&ns| {
                let mut feature = Feature::new(ns);
                if ns == Namespace::Sm1 && self.config.resume {
                    feature.max = Some(self.config.max_resume);
                }
                feature.into()
            })
            .collect()
    }

    /// The authenticated account.
    #[must_use]
    pub const fn owner(&self) -> &BareJid {
        &self.owner
    }

    /// The bound full JID (after [`bound`](Self::bound), or restored by a resumption).
    #[must_use]
    pub const fn resource(&self) -> Option<&FullJid> {
        self.resource.as_ref()
    }

    /// Whether stream management is on.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.phase == Phase::On
    }

    /// Whether the stream is over (hibernated, taken over, closed or failed): stop reading from
    /// and writing to it.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Whether the stream was resumed (and so must not be bound).
    #[must_use]
    pub const fn is_resumed(&self) -> bool {
        self.resumed
    }

    /// The SM-ID, when the stream is resumable.
    #[must_use]
    pub const fn id(&self) -> Option<&SmId> {
        self.id.as_ref()
    }

    /// How many stanzas are held unacknowledged.
    #[must_use]
    pub fn unacked(&self) -> usize {
        self.counters.queue.len()
    }

    /// Stanzas handled from the client so far.
    #[must_use]
    pub const fn handled(&self) -> u32 {
        self.counters.inbound
    }

    /// The caller bound a resource. Stream management can be enabled from now on and the
    /// stream can no longer be resumed.
    ///
    /// # Errors
    /// [`Misuse::InvalidState`] on a resumed or closed stream: a stream is never both resumed
    /// and bound.
    pub fn bound(&mut self, now: SystemTime, jid: FullJid) -> Result<(), Error> {
        let _ = now;
        if self.resumed || self.phase == Phase::Closed {
            return Err(self.misuse("bound"));
        }
        self.resource = Some(jid);
        Ok(())
    }

    /// Feeds one top-level element read from the stream, or an SM element the client put
    /// inside SASL2 `<authenticate/>` or Bind2 `<bind/>` (see [`crate::elements::inline`]).
    ///
    /// # Errors
    /// A [`PeerError`]: write [`Error::answer`]; when it is a stream error, close the stream
    /// (every unacknowledged stanza has been handed back).
    pub fn handle_element(&mut self, now: SystemTime, element: Element) -> Result<Incoming, Error> {
        if self.phase == Phase::Closed {
            // A stream that was taken over, hibernated or failed: anything still read from it
            // must not be routed (the client retransmits on its new stream).
            return Err(Misuse::Closed(Box::new(element)).into());
        }
        if elements::is_stanza(&element) {
            // XEP-0198 §4: the inbound counter starts once `<enable/>` is received.
            if matches!(self.phase, Phase::On | Phase::EnableRequested { .. }) {
                self.counters.inbound = self.counters.inbound.wrapping_add(1);
            }
            return Ok(Incoming::Stanza(element));
        }
        // A dialect this server does not offer is not stream management to it.
        let Some(ns) = Namespace::of(&element).filter(|ns| self.config.namespaces.contains(ns))
        else {
            return Ok(Incoming::NotOurs(element));
        };
        let result = Nonza::parse_in(ns, &element)
            .map_err(PeerError::from)
            .and_then(|nonza| self.handle_nonza(now, nonza));
        result.map_err(|e| {
            if e.is_fatal() {
                self.fail(HandBackReason::ProtocolError);
            }
            e.into()
        })
    }

    fn handle_nonza(&mut self, now: SystemTime, nonza: Nonza) -> Result<Incoming, PeerError> {
        let _ = now;
        match (nonza, &self.phase) {
            (Nonza::Request(r), Phase::On) => {
                if let Some(h) = r.h {
                    self.on_ack(h)?;
                }
                self.out.nonza(self.counters.ack_element());
                Ok(Incoming::Handled)
            }
            (Nonza::Ack(a), Phase::On) => self.on_ack(a.h).map(|()| Incoming::Handled),
            (Nonza::Enable(e), Phase::Off) if self.enable_attempted => {
                Err(PeerError::EnableTwice { ns: e.ns })
            }
            (Nonza::Enable(e), Phase::Off) if self.resource.is_none() => {
                Err(PeerError::EnableBeforeBind { ns: e.ns })
            }
            (Nonza::Enable(e), Phase::Off) => {
                self.enable_attempted = true;
                self.counters = Counters::new(e.ns);
                self.phase = Phase::EnableRequested {
                    resume: e.resume,
                    max: e.max,
                };
                Ok(Incoming::EnableRequest(e))
            }
            (Nonza::Enable(e), Phase::On | Phase::EnableRequested { .. }) => {
                Err(PeerError::EnableTwice { ns: e.ns })
            }
            (Nonza::Resume(r), Phase::Off) if self.resume_attempted => {
                Err(PeerError::ResumeTwice { ns: r.ns })
            }
            (Nonza::Resume(r), Phase::Off) if self.resource.is_none() => {
                self.resume_attempted = true;
                self.counters.ns = r.ns;
                self.phase = Phase::ResumeRequested {
                    previd: r.previd.clone(),
                    h: r.h,
                };
                Ok(Incoming::ResumeRequest(r))
            }
            (Nonza::Resume(r), Phase::Off | Phase::On | Phase::EnableRequested { .. }) => {
                Err(PeerError::ResumeAfterBind { ns: r.ns })
            }
            (nonza, phase) => Err(PeerError::Unexpected {
                element: nonza.name(),
                state: phase.name(),
            }),
        }
    }

    fn on_ack(&mut self, h: u32) -> Result<(), PeerError> {
        self.requester.answered();
        self.counters.ack(h, &mut self.out)
    }

    /// Enables stream management as requested: returns `<enabled/>` to write (top level, or
    /// inside Bind2 `<bound/>`). The SM-ID, when resumable, has 128 bits from `rng`; register
    /// it with [`crate::SessionStore::register`]. Outbound counting starts now.
    ///
    /// # Errors
    /// [`Misuse::InvalidState`] unless an [`Incoming::EnableRequest`] is pending.
    pub fn accept_enable(
        &mut self,
        now: SystemTime,
        rng: &mut impl CryptoRng,
    ) -> Result<Element, Error> {
        let _ = now;
        let Phase::EnableRequested { resume, max } = self.phase else {
            return Err(self.misuse("accept_enable"));
        };
        let mut enabled = Enabled::new(self.counters.ns);
        if resume && self.config.resume {
            let id = new_id(rng);
            // Honour the client's preference up to the configured cap (XEP-0198 §5).
            // `max` is a positiveInteger; a 0 counts as absent.
            self.max = max
                .filter(|&m| m > 0)
                .unwrap_or(self.config.default_resume)
                .min(self.config.max_resume);
            enabled = enabled.with_resume(id.clone()).with_max(self.max);
            if let Some(location) = &self.config.location {
                enabled = enabled.with_location(location.clone());
            }
            self.id = Some(id);
        }
        self.phase = Phase::On;
        Ok(enabled.into())
    }

    /// Refuses the pending enable request: returns `<failed/>` to write.
    ///
    /// # Errors
    /// [`Misuse::InvalidState`] unless an [`Incoming::EnableRequest`] is pending.
    pub fn reject_enable(
        &mut self,
        now: SystemTime,
        condition: DefinedCondition,
    ) -> Result<Element, Error> {
        let _ = now;
        if !matches!(self.phase, Phase::EnableRequested { .. }) {
            return Err(self.misuse("reject_enable"));
        }
        self.phase = Phase::Off;
        Ok(Failed::new(self.counters.ns, condition).into())
    }

    /// Resumes the session the pending request named: returns `<resumed/>` to write (top
    /// level, or inside SASL2 `<success/>`); the unacknowledged stanzas then come out of
    /// [`poll_transmit`](Self::poll_transmit), in order, before any new stanza.
    ///
    /// # Errors
    /// - [`Misuse::WrongSession`] if no [`Incoming::ResumeRequest`] is pending, or `session`
    ///   belongs to another account or SM-ID (it is handed back untouched);
    /// - a fatal [`PeerError::HandledCountTooHigh`] if the client's `h` acknowledges stanzas
    ///   never sent: the session's stanzas are handed back and the stream is closed. An `h`
    ///   below the last acknowledgement (a stale request) acknowledges nothing.
    pub fn accept_resume(
        &mut self,
        now: SystemTime,
        session: HibernatedSession,
    ) -> Result<Element, Error> {
        // Nothing is dropped: a session that cannot be taken is handed back untouched.
        let Phase::ResumeRequested { previd, h } = &self.phase else {
            return Err(Misuse::WrongSession(Box::new(session)).into());
        };
        if session.id != *previd || session.owner != self.owner {
            return Err(Misuse::WrongSession(Box::new(session)).into());
        }
        let (previd, h) = (previd.clone(), *h);
        let ns = self.counters.ns;
        self.counters = session.counters;
        self.counters.ns = ns;
        self.id = Some(session.id);
        self.max = session.max;
        self.resource = session.resource;
        // sm:1 makes `h` optional: without it nothing counts as acknowledged. A `<resume/>`
        // can be stale (sent on a connection the client abandoned before a newer one resumed
        // and acknowledged more), so an `h` below the last acknowledgement acknowledges
        // nothing instead of ending the session; an `h` above what was sent is still fatal.
        if let Some(h) = h {
            match self.counters.ack(h, &mut self.out) {
                Ok(()) | Err(PeerError::AckWentBackwards { .. }) => {}
                Err(e) => {
                    self.fail(HandBackReason::ProtocolError);
                    return Err(e.into());
                }
            }
        }
        self.phase = Phase::On;
        self.resumed = true;
        let reply = Resumed {
            ns,
            previd: previd.clone(),
            h: Some(self.counters.inbound),
        };
        let retransmitted = self.counters.retransmit(&mut self.out);
        self.out.events.push_back(Event::Resumed {
            previd,
            retransmitted,
        });
        self.requester
            .after_send(now, &self.config.ack, &self.counters, &mut self.out);
        Ok(reply.into())
    }

    /// Refuses the pending resume request: returns `<failed/>` with `item-not-found` (and `h`
    /// when the store still knew the session's last count) to write. The client may bind a
    /// resource next.
    ///
    /// # Errors
    /// [`Misuse::InvalidState`] unless an [`Incoming::ResumeRequest`] is pending.
    pub fn reject_resume(&mut self, now: SystemTime, h: Option<u32>) -> Result<Element, Error> {
        let _ = now;
        if !matches!(self.phase, Phase::ResumeRequested { .. }) {
            return Err(self.misuse("reject_resume"));
        }
        self.phase = Phase::Off;
        let mut failed = Failed::new(self.counters.ns, DefinedCondition::ItemNotFound);
        failed.h = h;
        Ok(failed.into())
    }

    /// Sends a stanza to the client: queued until acknowledged when stream management is on,
    /// straight out otherwise.
    ///
    /// # Errors
    /// - [`Misuse::NotAStanza`] / [`Misuse::Closed`]: the stanza is handed back inside.
    /// - [`PeerError::QueueOverflow`]: fatal; every held stanza, this one included, is handed
    ///   back in [`Event::HandedBack`].
    pub fn send(&mut self, now: SystemTime, stanza: Element) -> Result<(), Error> {
        if !elements::is_stanza(&stanza) {
            return Err(Misuse::NotAStanza(Box::new(stanza)).into());
        }
        match self.phase {
            Phase::On => {}
            Phase::Closed => return Err(Misuse::Closed(Box::new(stanza)).into()),
            // Outbound counting starts only after `<enabled/>` is sent.
            _ => {
                self.out.transmit.push_back(Transmit::nonza(stanza));
                return Ok(());
            }
        }
        if let Err(e) = self
            .counters
            .push(now, stanza, self.config.max_queue, true, &mut self.out)
        {
            // The queue already handed every stanza back; this ends the session.
            self.fail(HandBackReason::QueueOverflow);
            return Err(e.into());
        }
        self.requester
            .after_send(now, &self.config.ack, &self.counters, &mut self.out);
        Ok(())
    }

    /// Sends `<r/>` now, unless one is outstanding or stream management is not on.
    pub fn request_ack(&mut self, now: SystemTime) {
        if self.phase == Phase::On {
            self.requester.request(now, &self.counters, &mut self.out);
        }
    }

    /// The connection is gone. A resumable session is returned for
    /// [`crate::SessionStore::hibernate`], with its deadline set from `now`; otherwise every
    /// unacknowledged stanza is handed back in [`Event::HandedBack`].
    #[must_use = "a returned session holds unacknowledged stanzas"]
    pub fn handle_disconnect(&mut self, now: SystemTime) -> Option<HibernatedSession> {
        self.out.abort_connection(now);
        match self.detach(now) {
            Some(session) => Some(session),
            None => {
                self.fail(HandBackReason::StreamClosed);
                None
            }
        }
    }

    /// A new stream is resuming this session while this one is still open (XEP-0198 §5):
    /// detaches the session for the new stream and returns it with the `conflict` stream
    /// error to write on this stream before closing it.
    ///
    /// # Errors
    /// [`Misuse::InvalidState`] if the stream is not resumable.
    pub fn take_over(
        &mut self,
        now: SystemTime,
    ) -> Result<(HibernatedSession, StreamError), Error> {
        let session = self.detach(now).ok_or_else(|| self.misuse("take_over"))?;
        // Stanzas still waiting here go out on the new stream, after `<resumed/>`.
        self.out.abort_connection(now);
        let error = StreamError::new(
            StreamCondition::Conflict,
            "en",
            "This session was resumed on another stream.",
        );
        Ok((session, error))
    }

    /// Ends the stream cleanly: every unacknowledged stanza is handed back.
    pub fn close(&mut self, now: SystemTime) {
        let _ = now;
        self.fail(HandBackReason::StreamClosed);
    }

    /// Fires due timers (ack requests by time, ack timeouts). A spurious call is a no-op.
    pub fn handle_timeout(&mut self, now: SystemTime) {
        if self.phase == Phase::On {
            self.requester
                .handle_timeout(now, &self.config.ack, &self.counters, &mut self.out);
        }
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<SystemTime> {
        if self.phase != Phase::On {
            return None;
        }
        self.requester.deadline(&self.config.ack, &self.counters)
    }

    /// The next element to write, in order.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.transmit.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.events.pop_front()
    }

    /// Test hook: count from `outbound`/`inbound` instead of zero, to cross the 2^32 wrap.
    /// Call right after [`accept_enable`](Self::accept_enable); shift the client to match.
    #[cfg(any(test, feature = "__testing"))]
    #[doc(hidden)]
    pub fn __shift_counters(&mut self, outbound: u32, inbound: u32) {
        self.counters.shift(outbound, inbound);
    }

    fn detach(&mut self, now: SystemTime) -> Option<HibernatedSession> {
        if self.phase != Phase::On {
            return None;
        }
        let id = self.id.clone()?;
        self.phase = Phase::Closed;
        self.requester = Requester::default();
        // Stanzas on the old wire may or may not have arrived; the client's `h` on resume says.
        let ns = self.counters.ns;
        Some(HibernatedSession {
            id,
            owner: self.owner.clone(),
            resource: self.resource.clone(),
            counters: std::mem::replace(&mut self.counters, Counters::new(ns)),
            max: self.max,
            max_queue: self.config.max_queue,
            deadline: HibernatedSession::deadline_from(now, self.max),
        })
    }

    fn fail(&mut self, reason: HandBackReason) {
        self.out.unsend_stanzas();
        let stanzas = self.counters.take_unacked();
        self.out.hand_back(reason, stanzas);
        if let Some(id) = self.id.take() {
            let handled = self.counters.inbound;
            self.out
                .events
                .push_back(Event::SessionEnded { id, handled });
        }
        self.phase = Phase::Closed;
    }

    fn misuse(&self, operation: &'static str) -> Error {
        Misuse::InvalidState {
            operation,
            state: self.phase.name(),
        }
        .into()
    }
}

/// A fresh SM-ID: `ID_BYTES` random bytes from the caller's CSPRNG, hex-encoded.
fn new_id(rng: &mut impl CryptoRng) -> SmId {
    let mut bytes = [0u8; ID_BYTES];
    rng.fill_bytes(&mut bytes);
    let mut hex = String::with_capacity(2 * ID_BYTES);
    for b in bytes {
        hex.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(b & 0x0f)]));
    }
    SmId(hex)
}
