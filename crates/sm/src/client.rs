//! The initiating entity (a client, or a server opening an s2s stream).

use std::time::SystemTime;

use minidom::Element;

use crate::config::ClientConfig;
use crate::core::{Counters, Outputs, Requester};
use crate::elements::{self, Enable, Enabled, Failed, Nonza, Resume, Resumed, SmId};
use crate::error::{Error, Misuse, PeerError};
use crate::event::{Event, HandBackReason, Incoming};
use crate::ns::Namespace;
use crate::transmit::Transmit;

/// Where a client stands. Counters live in `Client::counters` while SM is on.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// SM is off on this stream: stanzas pass straight through.
    Off,
    /// `<enable/>` sent, waiting for `<enabled/>`. Outbound counting has started.
    Enabling,
    /// SM is on. `session` is set when the stream can be resumed.
    On,
    /// The stream broke; the session can be resumed on a new one. Stanzas sent now are
    /// queued and go out after `<resumed/>`.
    Disconnected,
    /// `<resume/>` sent on a new stream, waiting for `<resumed/>`.
    Resuming,
}

impl Phase {
    const fn name(&self) -> &'static str {
        match self {
            Self::Off => "stream management is off",
            Self::Enabling => "enabling",
            Self::On => "enabled",
            Self::Disconnected => "disconnected",
            Self::Resuming => "resuming",
        }
    }
}

/// A resumable session as the client knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Session {
    id: SmId,
    max: Option<u32>,
    location: Option<String>,
}

/// XEP-0198 for the initiating entity, sans-IO.
///
/// One `Client` lives across TCP connections: it outlives a broken stream so that the session
/// can be resumed on the next one.
///
/// Methods, by kind (see the crate docs for the drain contract):
/// - getters: [`is_enabled`](Self::is_enabled), [`can_resume`](Self::can_resume),
///   [`unacked`](Self::unacked), [`location`](Self::location);
/// - input: [`handle_element`](Self::handle_element), [`handle_timeout`](Self::handle_timeout),
///   [`handle_disconnect`](Self::handle_disconnect);
/// - commands: [`enable`](Self::enable), [`resume`](Self::resume), [`send`](Self::send),
///   [`request_ack`](Self::request_ack), [`close`](Self::close);
/// - output: [`poll_transmit`](Self::poll_transmit), [`poll_event`](Self::poll_event),
///   [`poll_timeout`](Self::poll_timeout). Drain transmit first, then events.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    phase: Phase,
    counters: Counters,
    requester: Requester,
    session: Option<Session>,
    /// An `<enable/>` sent next to a `<resume/>` (SASL2 + Bind2, XEP-0198 §9.2.1), in this
    /// dialect: it takes effect if the resumption fails.
    fallback: Option<Namespace>,
    out: Outputs,
}

impl Client {
    /// A client with stream management off.
    #[must_use]
    pub fn new(config: ClientConfig) -> Self {
        Self {
            config,
            phase: Phase::Off,
            counters: Counters::new(Namespace::Sm3),
            requester: Requester::default(),
            session: None,
            fallback: None,
            out: Outputs::default(),
        }
    }

    /// Whether stream management is on for the current stream.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        matches!(self.phase, Phase::On)
    }

    /// Whether there is a session to resume on a new stream (after
    /// [`handle_disconnect`](Self::handle_disconnect)).
    #[must_use]
    pub fn can_resume(&self) -> bool {
        matches!(self.phase, Phase::Disconnected) && self.session.is_some()
    }

    /// How many stanzas are held unacknowledged.
    #[must_use]
    pub fn unacked(&self) -> usize {
        self.counters.queue.len()
    }

    /// The server's preferred reconnection location from `<enabled/>`, if any.
    #[must_use]
    pub fn location(&self) -> Option<&str> {
        self.session.as_ref()?.location.as_deref()
    }

    /// The dialect in use (meaningful once enabled).
    #[must_use]
    pub const fn namespace(&self) -> Namespace {
        self.counters.ns
    }

    /// Starts stream management on the current stream: returns `<enable/>` to write at top
    /// level (after resource binding) or to put inside a Bind2 `<bind/>`. Pick `ns` from the
    /// server's features with [`Namespace::choose`].
    ///
    /// Outbound counting starts now (XEP-0198 §4: after sending `<enable/>`).
    ///
    /// While a [`resume`](Self::resume) is pending, this makes the fallback of XEP-0198
    /// §9.2.1: `<resume/>` inside SASL2 `<authenticate/>` and `<enable/>` inside its Bind2
    /// `<bind/>`. If the server answers `<failed/>` to the resumption, stream management is
    /// enabled afresh and its `<enabled/>` (inside `<bound/>`) is expected next; if it answers
    /// `<resumed/>`, the fallback is dropped (the server ignores the bind request).
    ///
    /// # Errors
    /// [`Misuse::InvalidState`] unless stream management is off, or a resumption is pending
    /// without a fallback yet.
    pub fn enable(&mut self, now: SystemTime, ns: Namespace) -> Result<Element, Error> {
        let _ = now;
        match self.phase {
            Phase::Off => {
                self.counters = Counters::new(ns);
                self.requester = Requester::default();
                self.session = None;
                self.phase = Phase::Enabling;
            }
            Phase::Resuming if self.fallback.is_none() => self.fallback = Some(ns),
            _ => return Err(self.misuse("enable")),
        }
        let mut enable = Enable::new(ns);
        enable.resume = self.config.resume;
        enable.max = self.config.max;
        Ok(enable.into())
    }

    /// Asks to resume the former session on a new, authenticated stream: returns `<resume/>`
    /// to write at top level (instead of binding a resource) or to put inside a SASL2
    /// `<authenticate/>`.
    ///
    /// # Errors
    /// [`Misuse::InvalidState`] unless [`can_resume`](Self::can_resume).
    pub fn resume(&mut self, now: SystemTime) -> Result<Element, Error> {
        let _ = now;
        let Some(session) = self
            .session
            .as_ref()
            .filter(|_| self.phase == Phase::Disconnected)
        else {
            return Err(self.misuse("resume"));
        };
        let resume = Resume {
            ns: self.counters.ns,
            previd: session.id.clone(),
            h: Some(self.counters.inbound),
        };
        self.phase = Phase::Resuming;
        Ok(resume.into())
    }

    /// Sends a stanza. With stream management on it is queued until acknowledged; while
    /// disconnected or resuming it waits in the queue and goes out after `<resumed/>`; with
    /// stream management off it goes straight out.
    ///
    /// # Errors
    /// - [`Misuse::NotAStanza`]: not a message, presence or iq (handed back inside).
    /// - [`PeerError::QueueOverflow`]: fatal; every held stanza, this one included, is handed
    ///   back in [`Event::HandedBack`] and the answer is a stream error.
    pub fn send(&mut self, now: SystemTime, stanza: Element) -> Result<(), Error> {
        if !elements::is_stanza(&stanza) {
            return Err(Misuse::NotAStanza(Box::new(stanza)).into());
        }
        let transmit = match self.phase {
            Phase::Off => {
                self.out.transmit.push_back(Transmit::nonza(stanza));
                return Ok(());
            }
            Phase::Enabling | Phase::On => true,
            Phase::Disconnected | Phase::Resuming => false,
        };
        if let Err(e) =
            self.counters
                .push(now, stanza, self.config.max_queue, transmit, &mut self.out)
        {
            self.reset();
            return Err(e.into());
        }
        if self.phase == Phase::On {
            self.requester
                .after_send(now, &self.config.ack, &self.counters, &mut self.out);
        }
        Ok(())
    }

    /// Sends `<r/>` now, unless one is outstanding or stream management is not on.
    pub fn request_ack(&mut self, now: SystemTime) {
        if self.phase == Phase::On {
            self.requester.request(now, &self.counters, &mut self.out);
        }
    }

    /// Feeds one top-level element read from the stream (or an SM element found inside SASL2
    /// `<success/>` or Bind2 `<bound/>`, see [`crate::elements::inline`]).
    ///
    /// # Errors
    /// A [`PeerError`]: send [`Error::answer`]; when it is a stream error, close the stream
    /// (every unacknowledged stanza has been handed back).
    pub fn handle_element(&mut self, now: SystemTime, element: Element) -> Result<Incoming, Error> {
        if elements::is_stanza(&element) {
            // XEP-0198 §4: the inbound counter starts once `<enabled/>` is received.
            if self.phase == Phase::On {
                self.counters.inbound = self.counters.inbound.wrapping_add(1);
            }
            return Ok(Incoming::Stanza(element));
        }
        let Some(ns) = Namespace::of(&element) else {
            return Ok(Incoming::NotOurs(element));
        };
        let result = Nonza::parse_in(ns, &element)
            .map_err(PeerError::from)
            .and_then(|nonza| self.handle_nonza(now, nonza));
        match result {
            Ok(()) => Ok(Incoming::Handled),
            Err(e) => {
                if e.is_fatal() {
                    self.fail(HandBackReason::ProtocolError);
                }
                Err(e.into())
            }
        }
    }

    fn handle_nonza(&mut self, now: SystemTime, nonza: Nonza) -> Result<(), PeerError> {
        match (nonza, &self.phase) {
            (Nonza::Request(r), Phase::On) => {
                if let Some(h) = r.h {
                    self.on_ack(h)?;
                }
                self.out.nonza(self.counters.ack_element());
                Ok(())
            }
            (Nonza::Ack(a), Phase::On) => self.on_ack(a.h),
            (Nonza::Enabled(e), Phase::Enabling) => {
                self.on_enabled(now, e);
                Ok(())
            }
            (Nonza::Resumed(r), Phase::Resuming) => self.on_resumed(now, r),
            (Nonza::Failed(f), Phase::Enabling) => {
                self.out.events.push_back(Event::EnableFailed {
                    condition: f.condition,
                });
                self.fail(HandBackReason::EnableFailed);
                Ok(())
            }
            (Nonza::Failed(f), Phase::Resuming) => {
                self.on_resume_failed(f);
                Ok(())
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

    fn on_enabled(&mut self, now: SystemTime, e: Enabled) {
        self.session = match (&e.id, e.resume) {
            (Some(id), true) => Some(Session {
                id: id.clone(),
                max: e.max,
                location: e.location.clone(),
            }),
            _ => None,
        };
        self.phase = Phase::On;
        self.out.events.push_back(Event::Enabled {
            id: e.id,
            resume: e.resume,
            max: e.max,
            location: e.location,
        });
        // Stanzas sent while enabling are counted (§4): the count policy may already be met.
        self.requester
            .after_send(now, &self.config.ack, &self.counters, &mut self.out);
    }

    fn on_resumed(&mut self, now: SystemTime, r: Resumed) -> Result<(), PeerError> {
        let Some(session) = &self.session else {
            return Err(PeerError::Unexpected {
                element: "resumed",
                state: "resuming",
            });
        };
        if session.id != r.previd {
            return Err(PeerError::PrevIdMismatch);
        }
        // Resumed: the server ignores a Bind2 request sent with the `<resume/>` (§9.2).
        self.fallback = None;
        // sm:1 makes `h` optional; without it nothing is known to be acknowledged and
        // everything is retransmitted (the seed allows duplicates in that case).
        if let Some(h) = r.h {
            self.counters.ack(h, &mut self.out)?;
        }
        self.phase = Phase::On;
        self.requester = Requester::default();
        let retransmitted = self.counters.retransmit(&mut self.out);
        self.out.events.push_back(Event::Resumed {
            previd: r.previd,
            retransmitted,
        });
        self.requester
            .after_send(now, &self.config.ack, &self.counters, &mut self.out);
        Ok(())
    }

    fn on_resume_failed(&mut self, f: Failed) {
        // XEP-0198 §5: apply `h` first, so only stanzas the server never handled come back.
        // An `h` that does not fit is ignored: duplicates are better than loss.
        if let Some(h) = f.h {
            let _ = self.counters.ack(h, &mut self.out);
        }
        self.out.events.push_back(Event::ResumeFailed {
            condition: f.condition,
            h: f.h,
        });
        let fallback = self.fallback.take();
        self.fail(HandBackReason::ResumeFailed);
        if let Some(ns) = fallback {
            // The inline `<enable/>` was sent with the `<resume/>`: counting starts afresh.
            self.counters = Counters::new(ns);
            self.phase = Phase::Enabling;
        }
    }

    /// The stream is gone (TCP closed, timeout, stream error). If the session is resumable it
    /// waits for [`resume`](Self::resume) on a new stream; otherwise every unacknowledged
    /// stanza is handed back and stream management is off.
    pub fn handle_disconnect(&mut self, now: SystemTime) {
        // Whatever still waits in `poll_transmit` belonged to the dead connection: writing it
        // on the next one would put stanzas before `<resume/>` and then retransmit them.
        self.out.abort_connection(now);
        match self.phase {
            Phase::On | Phase::Resuming | Phase::Disconnected if self.session.is_some() => {
                self.phase = Phase::Disconnected;
                self.requester = Requester::default();
                self.fallback = None;
            }
            Phase::Off => {}
            _ => self.fail(HandBackReason::StreamClosed),
        }
    }

    /// Gives up the session (a clean close, or no intention to resume): every unacknowledged
    /// stanza is handed back and stream management is off.
    pub fn close(&mut self, now: SystemTime) {
        let _ = now;
        // XEP-0198 §4: tell the server what was handled before a clean close, so it need not
        // treat stanzas this side already handled as lost.
        if self.phase == Phase::On {
            self.out.nonza(self.counters.ack_element());
        }
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

    /// Test hook: start counting from `outbound`/`inbound` instead of zero, to cross the 2^32
    /// wrap in tests. Call right after [`enable`](Self::enable); the peer must be shifted to
    /// match.
    #[cfg(any(test, feature = "__testing"))]
    #[doc(hidden)]
    pub fn __shift_counters(&mut self, outbound: u32, inbound: u32) {
        self.counters.shift(outbound, inbound);
    }

    fn reset(&mut self) {
        self.phase = Phase::Off;
        self.session = None;
        self.fallback = None;
        self.requester = Requester::default();
    }

    fn fail(&mut self, reason: HandBackReason) {
        self.out.unsend_stanzas();
        let stanzas = self.counters.take_unacked();
        self.out.hand_back(reason, stanzas);
        self.reset();
    }

    fn misuse(&self, operation: &'static str) -> Error {
        Misuse::InvalidState {
            operation,
            state: self.phase.name(),
        }
        .into()
    }
}
