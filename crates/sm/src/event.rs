//! What the machines tell the application: what an incoming element was, and events.

use std::time::SystemTime;

use jid::FullJid;
use minidom::Element;
use xmpp_parsers::stanza_error::DefinedCondition;
use xmpp_tether_core::Monotonic;

use crate::elements::{Enable, SmId};
use crate::transmit::{AckedStanzas, Unacked};

/// What `handle_element` made of an incoming element (both roles).
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a stanza or an element for another protocol may be inside"]
#[non_exhaustive]
pub enum Incoming {
    /// A message, presence or iq: handle or route it. It was counted if stream management is
    /// on, so it now counts as handled.
    Stanza(Element),
    /// A stream management element, fully handled: drain `poll_transmit` and `poll_event`.
    Handled,
    /// Neither a stanza nor a stream management element (SASL, bind, CSI, ...): yours.
    NotOurs(Element),
    /// A stream management element the current state has no use for (an `<r/>` before
    /// stream management is on, an `<enabled/>` nobody asked for): ignored, as Prosody does.
    /// XEP-0198 1.6.3 forbids none of these explicitly, so the stream goes on.
    Ignored {
        /// The element's local name.
        element: &'static str,
        /// The state it arrived in.
        state: &'static str,
    },
}

/// Why stanzas were handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum HandBackReason {
    /// The stream ended and cannot be resumed (not resumable, or closed).
    StreamClosed,
    /// The peer refused to enable stream management.
    EnableFailed,
    /// The peer refused to resume; stanzas its `<failed h/>` acknowledged were removed first.
    ResumeFailed,
    /// An `<enable/>` or `<resume/>` went unanswered for the configured time.
    RequestTimedOut,
    /// A hibernated session reached its deadline.
    Expired,
    /// A hibernated session was evicted to make room (see [`crate::StoreConfig`]).
    Evicted,
    /// Another stream bound the session's full JID, or a newer session hibernated on it:
    /// one session per full JID, and this one ended.
    Replaced,
    /// The retransmission queue overflowed.
    QueueOverflow,
    /// The peer broke the protocol (see the error returned with it); the stream is dead.
    ProtocolError,
}

/// Which request a [`ClientEvent::RequestTimedOut`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// `<enable/>`.
    Enable,
    /// `<resume/>`.
    Resume,
}

/// Something a [`crate::Client`]'s application should know. Drain with
/// [`crate::Client::poll_event`] after every `&mut` call.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The server enabled stream management (once per enable).
    Enabled {
        /// The SM-ID, when the stream is resumable.
        id: Option<SmId>,
        /// Whether the stream can be resumed.
        resume: bool,
        /// The server's resumption timeout in seconds.
        max: Option<u32>,
        /// Where to reconnect for resumption (XEP-0198 §5 `location`).
        location: Option<String>,
    },
    /// The server refused `<enable/>` (once). Stanzas sent since are handed back in a
    /// [`ClientEvent::HandedBack`] that follows.
    EnableFailed {
        /// The condition given.
        condition: Option<DefinedCondition>,
    },
    /// The stream was resumed (once per resumption). `retransmitted` stanzas come out of
    /// `poll_transmit` next, before any new one.
    Resumed {
        /// The SM-ID of the resumed stream.
        previd: SmId,
        /// How many unacknowledged stanzas are retransmitted.
        retransmitted: usize,
    },
    /// The server refused `<resume/>` (once). The stream may now bind a resource afresh; the
    /// unacknowledged stanzas follow in [`ClientEvent::HandedBack`].
    ResumeFailed {
        /// The condition given.
        condition: Option<DefinedCondition>,
        /// The server's `h`, if it still knew it (already applied).
        h: Option<u32>,
    },
    /// An `<enable/>` or `<resume/>` got no answer within
    /// [`ClientConfig::request_timeout`](crate::ClientConfig::request_timeout) (a server
    /// that advertises inline stream management but never answers it, such as Prosody 0.12
    /// with mod_sasl2_sm). Close this connection. After a resume, the session is still
    /// resumable: open a new stream and [`resume`](crate::Client::resume) at the top level.
    /// After an enable, stanzas sent since are handed back.
    RequestTimedOut {
        /// Which request.
        request: Request,
    },
    /// The server acknowledged these stanzas, oldest first (for example to mark messages as
    /// received by the server). Fires for every ack that acknowledges at least one.
    Acked {
        /// The server's new `h`.
        h: u32,
        /// The stanzas it newly acknowledged.
        stanzas: AckedStanzas,
    },
    /// An `<r/>` went unanswered for [`crate::AckPolicy::timeout`] (once per request). The
    /// stream is probably dead: close it and resume on a new one.
    AckTimeout {
        /// When the request was sent.
        requested_at: Monotonic,
    },
    /// Stanzas that were never acknowledged and will never be retransmitted by this machine.
    HandedBack {
        /// Why.
        reason: HandBackReason,
        /// The stanzas, oldest first.
        stanzas: Vec<Unacked>,
    },
}

/// Something a [`crate::Server`] stream's application should know. Drain with
/// [`crate::Server::poll_event`] after every `&mut` call.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// Only with [`EnablePolicy::Ask`](crate::EnablePolicy::Ask): the client asked to enable
    /// stream management. Answer with [`crate::Server::accept_enable`] or
    /// [`crate::Server::reject_enable`]. Fires at most once per stream.
    EnableRequested(Enable),
    /// Stream management is on (once). With an SM-ID the session is resumable and registered
    /// in the store.
    Enabled {
        /// The SM-ID, when resumable.
        id: Option<SmId>,
    },
    /// The session `previd` now lives on this stream (once): route stanzas for `jid` here.
    /// `retransmitted` stanzas come out of `poll_transmit` after `<resumed/>`.
    Resumed {
        /// The SM-ID.
        previd: SmId,
        /// The full JID bound on the session.
        jid: Option<FullJid>,
        /// How many unacknowledged stanzas are retransmitted.
        retransmitted: usize,
    },
    /// The session `previd` was resumed from a checkpoint: a copy of a stream that was still
    /// live when it was taken ([`Server::checkpoint`](crate::Server::checkpoint)), because
    /// that stream's node could not hand the session over (a cluster node that died). Fires
    /// right before [`ServerEvent::Resumed`], so that the gap is reported, not hidden.
    ///
    /// What the old stream did after `checkpointed_at` is unknown here: stanzas it accepted
    /// after the copy that the client did not acknowledge are not in the queue (unless the
    /// caller checkpoints before every write, as the example server does), and stanzas it
    /// handled from the client after the copy count as unhandled, so the client sends them
    /// again (duplicates for their recipients). `acked_beyond` is how many stanzas the client
    /// acknowledged that the copy did not hold: the client has those.
    ResumedFromCheckpoint {
        /// The SM-ID.
        previd: SmId,
        /// When the copy was taken (wall clock).
        checkpointed_at: SystemTime,
        /// Stanzas the client acknowledged beyond the copy's queue.
        acked_beyond: u32,
    },
    /// A `<resume/>` was refused (`<failed/>` is queued); the client may bind afresh.
    ResumeRefused {
        /// The SM-ID it asked for.
        previd: SmId,
    },
    /// Another stream resumed this stream's session (XEP-0198 §5): the `conflict` stream
    /// error is queued and the machine is closed; its unacknowledged stanzas moved to the new
    /// stream. Also when this stream ends (a close, a fatal error) while another stream waits
    /// to take its session over: the session goes there with every stanza. And on a stream
    /// still waiting for a take-over ([`Server::is_resume_pending`])
    /// when a newer `<resume/>` for the same session supersedes it: `conflict` too, so its
    /// client keeps the session and resumes again. Fires once.
    ///
    /// [`Server::is_resume_pending`]: crate::Server::is_resume_pending
    TakenOver,
    /// The connection was lost and the session hibernates in the store until its deadline
    /// (once). Stanzas for its full JID now go to [`crate::SessionStore::push`].
    Hibernated {
        /// The SM-ID.
        id: SmId,
        /// The full JID bound on the session.
        jid: Option<FullJid>,
    },
    /// The client acknowledged these stanzas, oldest first.
    Acked {
        /// The client's new `h`.
        h: u32,
        /// The stanzas it newly acknowledged.
        stanzas: AckedStanzas,
    },
    /// An `<r/>` went unanswered for [`crate::AckPolicy::timeout`] (once per request).
    AckTimeout {
        /// When the request was sent.
        requested_at: Monotonic,
    },
    /// Stanzas that were never acknowledged and will never be retransmitted: store them
    /// offline or bounce them.
    HandedBack {
        /// Why.
        reason: HandBackReason,
        /// The stanzas, oldest first.
        stanzas: Vec<Unacked>,
    },
}

impl ServerEvent {
    /// The stanzas this event hands back (those of [`ServerEvent::HandedBack`]), empty for
    /// every other event: `for u in event.into_handed_back() { store_offline(u) }`.
    #[must_use]
    pub fn into_handed_back(self) -> Vec<Unacked> {
        match self {
            Self::HandedBack { stanzas, .. } => stanzas,
            _ => Vec::new(),
        }
    }
}

impl ClientEvent {
    /// The stanzas this event hands back (those of [`ClientEvent::HandedBack`]), empty for
    /// every other event.
    #[must_use]
    pub fn into_handed_back(self) -> Vec<Unacked> {
        match self {
            Self::HandedBack { stanzas, .. } => stanzas,
            _ => Vec::new(),
        }
    }
}

/// The events the shared stream core reports, built into each role's own event type.
pub(crate) trait CoreEvent {
    fn acked(h: u32, stanzas: AckedStanzas) -> Self;
    fn ack_timeout(requested_at: Monotonic) -> Self;
    fn handed_back(reason: HandBackReason, stanzas: Vec<Unacked>) -> Self;
}

impl CoreEvent for ClientEvent {
    fn acked(h: u32, stanzas: AckedStanzas) -> Self {
        Self::Acked { h, stanzas }
    }
    fn ack_timeout(requested_at: Monotonic) -> Self {
        Self::AckTimeout { requested_at }
    }
    fn handed_back(reason: HandBackReason, stanzas: Vec<Unacked>) -> Self {
        Self::HandedBack { reason, stanzas }
    }
}

impl CoreEvent for ServerEvent {
    fn acked(h: u32, stanzas: AckedStanzas) -> Self {
        Self::Acked { h, stanzas }
    }
    fn ack_timeout(requested_at: Monotonic) -> Self {
        Self::AckTimeout { requested_at }
    }
    fn handed_back(reason: HandBackReason, stanzas: Vec<Unacked>) -> Self {
        Self::HandedBack { reason, stanzas }
    }
}
