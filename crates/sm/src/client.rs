//! The initiating entity: one `Client` for all of a connection's successive streams.

use minidom::Element;
use xmpp_tether_core::{Monotonic, Now};

use crate::config::ClientConfig;
use crate::core::{Core, Counters};
use crate::elements::{self, Enable, Enabled, Failed, Nonza, Resume, Resumed, SmId, inline};
use crate::error::{Error, Misuse, PeerError, Refusal, Refused};
use crate::event::{ClientEvent, HandBackReason, Incoming, Request};
use crate::ns::Namespace;
use crate::transmit::{Inline, Placement, Transmit};

/// Where a client stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Stream management is off on this stream (or there is no stream yet).
    Off,
    /// `<enable/>` sent, no answer yet.
    Enabling { deadline: Option<Monotonic> },
    /// Stream management is on.
    On,
    /// The stream is gone; the session waits for [`Client::resume`] on a new one.
    Disconnected,
    /// `<resume/>` sent, no answer yet. `fallback`: an `<enable/>` sent next to it (SASL2 +
    /// Bind2, XEP-0198 §9.2.1), in this dialect, which takes effect if the resumption fails.
    Resuming {
        deadline: Option<Monotonic>,
        fallback: Option<Namespace>,
    },
    /// This stream failed (a fatal error, or a request that timed out): nothing more goes in
    /// or out until [`Client::handle_disconnect`].
    Closed,
}

impl Phase {
    const fn name(self) -> &'static str {
        match self {
            Self::Off => "stream management is off",
            Self::Enabling { .. } => "enabling",
            Self::On => "enabled",
            Self::Disconnected => "disconnected",
            Self::Resuming { .. } => "resuming",
            Self::Closed => "the stream has failed",
        }
    }
}

/// A resumable session, as the server described it in `<enabled/>`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Session {
    id: SmId,
    location: Option<String>,
}

/// XEP-0198 for the initiating entity, sans-IO.
///
/// One `Client` lives across a connection's successive streams, so that a session survives a
/// lost connection. Requests go out through [`poll_transmit`](Self::poll_transmit) like every
/// other element, tagged with their [`Placement`]: at the top level, or inline in SASL2
/// `<authenticate/>` (`<resume/>`) and Bind2 `<bind/>` (`<enable/>`).
///
/// Methods, by kind:
/// - getters: [`is_enabled`](Self::is_enabled), [`can_resume`](Self::can_resume),
///   [`id`](Self::id), [`unacked`](Self::unacked), [`location`](Self::location),
///   [`namespace`](Self::namespace);
/// - input: [`handle_element`](Self::handle_element), [`handle_success`](Self::handle_success),
///   [`handle_timeout`](Self::handle_timeout), [`handle_disconnect`](Self::handle_disconnect);
/// - commands: [`enable`](Self::enable), [`resume`](Self::resume), [`send`](Self::send),
///   [`request_ack`](Self::request_ack), [`close`](Self::close);
/// - output: [`poll_transmit`](Self::poll_transmit), then [`poll_event`](Self::poll_event),
///   then [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    phase: Phase,
    session: Option<Session>,
    core: Core<ClientEvent>,
}

impl Client {
    /// A client with stream management off.
    #[must_use]
    pub fn new(config: ClientConfig) -> Self {
        let core = Core::new(config.ack.clone());
        Self {
            config,
            phase: Phase::Off,
            session: None,
            core,
        }
    }

    /// Whether stream management is on for the current stream.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.phase == Phase::On
    }

    /// Whether there is a session to [`resume`](Self::resume) on a new stream.
    #[must_use]
    pub fn can_resume(&self) -> bool {
        self.phase == Phase::Disconnected && self.session.is_some()
    }

    /// The SM-ID of the resumable session, if there is one.
    #[must_use]
    pub fn id(&self) -> Option<&SmId> {
        self.session.as_ref().map(|s| &s.id)
    }

    /// How many stanzas are held unacknowledged.
    #[must_use]
    pub fn unacked(&self) -> usize {
        self.core.counters.queue.len()
    }

    /// The server's preferred reconnection location from `<enabled/>`, if any.
    #[must_use]
    pub fn location(&self) -> Option<&str> {
        self.session.as_ref()?.location.as_deref()
    }

    /// The dialect in use (meaningful once enabled).
    #[must_use]
    pub const fn namespace(&self) -> Namespace {
        self.core.counters.ns
    }

    /// Starts stream management on the current stream: queues `<enable/>` at `placement`
    /// ([`Placement::TopLevel`] after resource binding, or [`Placement::Bind2`] inside a
    /// Bind2 `<bind/>`). Pick `ns` from the server's features with [`Namespace::choose`].
    /// Outbound counting starts now (XEP-0198 §4: after sending `<enable/>`).
    ///
    /// While a [`resume`](Self::resume) is pending, this makes the fallback of XEP-0198
    /// §9.2.1 (`<resume/>` inside SASL2 `<authenticate/>`, `<enable/>` inside its Bind2
    /// `<bind/>`): it takes effect only if the resumption fails.
    ///
    /// # Errors
    /// [`Misuse`] unless stream management is off, or a resumption is pending without a
    /// fallback yet.
    pub fn enable(&mut self, now: Now, ns: Namespace, placement: Placement) -> Result<(), Misuse> {
        match self.phase {
            Phase::Off => {
                self.core.counters = Counters::new(ns);
                self.core.reset_requests();
                self.session = None;
                self.phase = Phase::Enabling {
                    deadline: self.request_deadline(now),
                };
            }
            Phase::Resuming {
                deadline,
                fallback: None,
            } => {
                self.phase = Phase::Resuming {
                    deadline,
                    fallback: Some(ns),
                };
            }
            _ => return Err(self.misuse("enable")),
        }
        let mut enable = Enable::new(ns);
        enable.resume = self.config.resume;
        enable.max = self.config.max;
        self.core.nonza(enable, placement);
        Ok(())
    }

    /// Asks to resume the former session on a new, authenticated stream: queues `<resume/>`
    /// at `placement` ([`Placement::TopLevel`] instead of binding a resource, or
    /// [`Placement::Sasl2`] inside SASL2 `<authenticate/>`).
    ///
    /// # Errors
    /// [`Misuse`] unless [`can_resume`](Self::can_resume).
    pub fn resume(&mut self, now: Now, placement: Placement) -> Result<(), Misuse> {
        let Some(session) = self.session.as_ref().filter(|_| self.can_resume()) else {
            return Err(self.misuse("resume"));
        };
        let resume = Resume::new(
            self.core.counters.ns,
            session.id.clone(),
            Some(self.core.counters.inbound),
        );
        self.phase = Phase::Resuming {
            deadline: self.request_deadline(now),
            fallback: None,
        };
        self.core.nonza(resume, placement);
        Ok(())
    }

    /// Sends a stanza. With stream management on it is queued until acknowledged; while
    /// disconnected or resuming it waits in the queue and goes out after `<resumed/>`; with
    /// stream management off it goes straight out.
    ///
    /// # Errors
    /// The stanza is handed back in [`Refused`]:
    /// - [`Refusal::NotAStanza`]: not a message, presence or iq;
    /// - [`Refusal::Closed`]: the stream has failed; call
    ///   [`handle_disconnect`](Self::handle_disconnect) first;
    /// - [`Refusal::QueueFull`]: the server is not acknowledging. Stream management is over:
    ///   every held stanza is handed back in [`ClientEvent::HandedBack`] and the stream is
    ///   closed with `resource-constraint` (while disconnected there is no stream to close:
    ///   the session is given up and stream management is off).
    pub fn send(&mut self, now: Now, stanza: Element) -> Result<(), Refused<Element>> {
        if !elements::is_stanza(&stanza) {
            return Err(Refused::new(Refusal::NotAStanza, stanza));
        }
        let limit = self.config.max_queue;
        let result = match self.phase {
            Phase::Off => {
                self.core.pass(stanza, now.wall());
                return Ok(());
            }
            Phase::Closed => return Err(Refused::new(Refusal::Closed, stanza)),
            // Stanzas sent after `<enable/>` count (§4); the ack policy applies once enabled.
            Phase::Enabling { .. } => self.core.send(now, stanza, now.wall(), limit, false),
            Phase::On => self.core.send(now, stanza, now.wall(), limit, true),
            Phase::Disconnected | Phase::Resuming { .. } => {
                self.core.counters.hold(stanza, now.wall(), limit)
            }
        };
        result.map_err(|stanza| {
            if self.phase == Phase::Disconnected {
                // No stream to close: the session is given up, and nothing is queued for the
                // next connection.
                self.core.hand_back_all(HandBackReason::QueueOverflow);
                self.reset();
            } else {
                self.overflow();
            }
            Refused::new(Refusal::QueueFull { limit }, stanza)
        })
    }

    /// Sends `<r/>` now, unless one is outstanding or stream management is not on.
    pub fn request_ack(&mut self, now: Now) {
        if self.phase == Phase::On {
            self.core.request_ack(now);
        }
    }

    /// Feeds one top-level element read from the stream.
    ///
    /// # Errors
    /// - [`Error::Peer`]: the answer is queued; when [`Error::is_fatal`], write what
    ///   `poll_transmit` holds and close the stream (every unacknowledged stanza has been
    ///   handed back).
    /// - [`Error::Closed`]: this stream has already failed.
    pub fn handle_element(&mut self, now: Now, element: Element) -> Result<Incoming, Error> {
        if self.phase == Phase::Closed {
            return Err(Error::Closed(Box::new(element)));
        }
        if let Some(acked) = self.core.plain_ack(now, &element, self.phase == Phase::On) {
            return acked
                .map(|()| Incoming::Handled)
                .map_err(|e| self.peer_error(e));
        }
        if elements::is_stanza(&element) {
            // XEP-0198 §4: the inbound counter starts once `<enabled/>` is received.
            if self.phase == Phase::On {
                self.core.counters.inbound = self.core.counters.inbound.wrapping_add(1);
            }
            return Ok(Incoming::Stanza(element));
        }
        let Some(ns) = Namespace::of(&element) else {
            return Ok(Incoming::NotOurs(element));
        };
        let result = Nonza::parse_in(ns, &element)
            .map_err(PeerError::from)
            .and_then(|nonza| self.handle_nonza(now, nonza));
        result.map_err(|e| self.peer_error(e))
    }

    /// Answers a peer's fault and, if it is fatal, fails the stream.
    fn peer_error(&mut self, e: PeerError) -> Error {
        self.core.answer(&e, Placement::TopLevel);
        if e.is_fatal() {
            self.fail(HandBackReason::ProtocolError);
        }
        e.into()
    }

    /// Feeds a SASL2 `<success/>`: the inline answers it carries, in the order XEP-0198
    /// §9.2.1 gives them (the `<resumed/>` or `<failed/>` of an inline resume, then the
    /// `<enabled/>` or `<failed/>` inside Bind2 `<bound/>`). Anything else in it is the
    /// caller's (the authorization identifier, other Bind2 features).
    ///
    /// # Errors
    /// As [`handle_element`](Self::handle_element).
    pub fn handle_success(&mut self, now: Now, success: &Element) -> Result<(), Error> {
        if let Some(reply) = inline::reply_in_success(success) {
            let _ = self.handle_element(now, reply.clone())?;
        }
        let bound = success.children().find_map(inline::reply_in_bound);
        if let Some(reply) = bound {
            let _ = self.handle_element(now, reply.clone())?;
        }
        Ok(())
    }

    fn handle_nonza(&mut self, now: Now, nonza: Nonza) -> Result<Incoming, PeerError> {
        match (nonza, self.phase) {
            (Nonza::Request(r), Phase::On) => self.core.handle_request(now, r)?,
            (Nonza::Ack(a), Phase::On) => self.core.handle_ack(now, a.h)?,
            (Nonza::Enabled(e), Phase::Enabling { .. }) => self.on_enabled(now, e),
            (Nonza::Resumed(r), Phase::Resuming { .. }) => self.on_resumed(now, r)?,
            (Nonza::Failed(f), Phase::Enabling { .. }) => {
                self.core.event(ClientEvent::EnableFailed {
                    condition: f.condition,
                });
                self.core.hand_back_all(HandBackReason::EnableFailed);
                self.reset();
            }
            (Nonza::Failed(f), Phase::Resuming { fallback, deadline }) => {
                self.on_resume_failed(now, f, fallback, deadline);
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

    fn on_enabled(&mut self, now: Now, e: Enabled) {
        self.session = match (&e.id, e.resume) {
            (Some(id), true) => Some(Session {
                id: id.clone(),
                location: e.location.clone(),
            }),
            _ => None,
        };
        self.phase = Phase::On;
        self.core.event(ClientEvent::Enabled {
            id: e.id,
            resume: e.resume,
            max: e.max,
            location: e.location,
        });
        // Stanzas sent while enabling are counted (§4): the count policy may already be met.
        self.core.after_send(now);
    }

    fn on_resumed(&mut self, now: Now, r: Resumed) -> Result<(), PeerError> {
        if self.session.as_ref().map(|s| &s.id) != Some(&r.previd) {
            return Err(PeerError::PrevIdMismatch);
        }
        // sm:1 makes `h` optional; without it nothing is known to be acknowledged and
        // everything is retransmitted (the seed allows duplicates in that case). A resumed
        // stream ignores the Bind2 request sent with the `<resume/>` (§9.2): no fallback.
        if let Some(h) = r.h {
            self.core.apply_ack(now, h)?;
        }
        self.phase = Phase::On;
        let retransmitted = self.core.retransmit(now);
        self.core.event(ClientEvent::Resumed {
            previd: r.previd,
            retransmitted,
        });
        Ok(())
    }

    fn on_resume_failed(
        &mut self,
        now: Now,
        f: Failed,
        fallback: Option<Namespace>,
        deadline: Option<Monotonic>,
    ) {
        // XEP-0198 §5: apply `h` first, so only stanzas the server never handled come back.
        // An `h` that does not fit is ignored: duplicates are better than loss.
        if let Some(h) = f.h {
            let _ = self.core.apply_ack(now, h);
        }
        self.core.event(ClientEvent::ResumeFailed {
            condition: f.condition,
            h: f.h,
        });
        self.core.hand_back_all(HandBackReason::ResumeFailed);
        self.reset();
        if let Some(ns) = fallback {
            // The inline `<enable/>` went with the `<resume/>`: counting starts afresh.
            self.core.counters = Counters::new(ns);
            self.phase = Phase::Enabling { deadline };
        }
    }

    /// The stream is gone (TCP closed, timeout, stream error). If the session is resumable
    /// it waits for [`resume`](Self::resume) on a new stream; otherwise every
    /// unacknowledged stanza is handed back and stream management is off.
    pub fn handle_disconnect(&mut self, now: Now) {
        let _ = now;
        // Whatever still waits in `poll_transmit` belonged to the dead connection: writing it
        // on the next one would put stanzas before `<resume/>` and then retransmit them.
        self.core.abort_connection();
        match self.phase {
            Phase::On | Phase::Resuming { .. } | Phase::Disconnected if self.session.is_some() => {
                self.phase = Phase::Disconnected;
            }
            Phase::Off => {}
            Phase::Closed => self.reset(),
            _ => {
                self.core.hand_back_all(HandBackReason::StreamClosed);
                self.reset();
            }
        }
    }

    /// Gives up the session (a clean close, or no intention to resume): queues a last `<a/>`
    /// (XEP-0198 §4, so the server need not treat what we handled as lost), hands back every
    /// unacknowledged stanza, and turns stream management off.
    pub fn close(&mut self, now: Now) {
        let _ = now;
        if self.phase == Phase::On {
            let a = self.core.counters.ack_element();
            self.core.nonza(a, Placement::TopLevel);
        }
        self.core.hand_back_all(HandBackReason::StreamClosed);
        self.reset();
    }

    /// Fires due timers (ack requests by time, ack timeouts, unanswered requests). A spurious
    /// call is a no-op.
    pub fn handle_timeout(&mut self, now: Now) {
        match self.phase {
            Phase::On => self.core.handle_timeout(now),
            Phase::Enabling { deadline: Some(at) } if now.monotonic() >= at => {
                self.core.event(ClientEvent::RequestTimedOut {
                    request: Request::Enable,
                });
                self.core.hand_back_all(HandBackReason::RequestTimedOut);
                self.session = None;
                self.phase = Phase::Closed;
            }
            Phase::Resuming {
                deadline: Some(at), ..
            } if now.monotonic() >= at => {
                self.core.event(ClientEvent::RequestTimedOut {
                    request: Request::Resume,
                });
                // The session is untouched: resume it on a new stream.
                self.core.abort_connection();
                self.phase = Phase::Disconnected;
            }
            _ => {}
        }
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Monotonic> {
        match self.phase {
            Phase::On => self.core.deadline(),
            Phase::Enabling { deadline } | Phase::Resuming { deadline, .. } => deadline,
            _ => None,
        }
    }

    /// The next element to write, in order, with its placement.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.core.poll_transmit()
    }

    /// Takes the inline requests out of the output queue, for the SASL2 `<authenticate/>`
    /// being built: a `<resume/>` ([`Inline::sasl2`]) and an `<enable/>` for inside its
    /// Bind2 `<bind/>` ([`Inline::bind2`]).
    #[must_use]
    pub fn take_inline(&mut self) -> Inline {
        self.core.take_inline()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.core.poll_event()
    }

    /// Test hook: start counting from `outbound`/`inbound` instead of zero, to cross the 2^32
    /// wrap in tests. Call right after [`enable`](Self::enable); shift the server to match.
    #[cfg(any(test, feature = "__testing"))]
    #[doc(hidden)]
    pub fn __shift_counters(&mut self, outbound: u32, inbound: u32) {
        self.core.counters.shift(outbound, inbound);
    }

    fn request_deadline(&self, now: Now) -> Option<Monotonic> {
        self.config.request_timeout.map(|t| now.monotonic() + t)
    }

    /// The server is not acknowledging: stream management is over on this stream.
    fn overflow(&mut self) {
        self.core.overflow(self.config.max_queue);
        self.fail(HandBackReason::QueueOverflow);
    }

    fn reset(&mut self) {
        self.phase = Phase::Off;
        self.session = None;
        self.core.reset_requests();
    }

    /// A fatal error on this stream: every held stanza back, nothing more until
    /// `handle_disconnect`.
    fn fail(&mut self, reason: HandBackReason) {
        self.core.hand_back_all(reason);
        self.session = None;
        self.phase = Phase::Closed;
    }

    fn misuse(&self, operation: &'static str) -> Misuse {
        Misuse {
            operation,
            state: self.phase.name(),
        }
    }
}
