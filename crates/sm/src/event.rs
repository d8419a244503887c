//! Events for the application, drained with `poll_event`.

use std::time::SystemTime;

use minidom::Element;
use xmpp_parsers::stanza_error::DefinedCondition;

use crate::elements::{Enable, Resume, SmId};
use crate::transmit::Unacked;

/// What `handle_element` made of an incoming element.
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a stanza or a request inside may need handling"]
#[non_exhaustive]
pub enum Incoming {
    /// A message, presence or iq: handle or route it. It was counted if stream management is
    /// on, so it now counts as handled.
    Stanza(Element),
    /// A stream management element, fully handled: drain `poll_transmit` and `poll_event`.
    Handled,
    /// Neither a stanza nor a stream management element (SASL, bind, CSI, ...): yours.
    NotOurs(Element),
    /// Server: the client asked to enable stream management. Answer with
    /// [`crate::Server::accept_enable`] or [`crate::Server::reject_enable`], and write the
    /// element it returns (top level, or inside Bind2 `<bound/>`). Fires once per stream.
    EnableRequest(Enable),
    /// Server: the client asked to resume `previd`. Look the session up
    /// ([`crate::SessionStore::claim`]), then answer with [`crate::Server::accept_resume`] or
    /// [`crate::Server::reject_resume`], and write the element it returns (top level, or
    /// inside SASL2 `<success/>`). Fires at most once per stream.
    ResumeRequest(Resume),
}

/// Why stanzas were handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum HandBackReason {
    /// The stream ended and cannot be resumed (not resumable, or closed by the caller).
    StreamClosed,
    /// The peer refused to enable stream management.
    EnableFailed,
    /// The peer refused to resume; stanzas its `<failed h/>` acknowledged were removed first.
    ResumeFailed,
    /// A hibernated session expired. [`crate::StoreEvent::Expired`] carries its stanzas;
    /// this label is for callers that merge every hand-back into one path.
    Expired,
    /// The retransmission queue overflowed.
    QueueOverflow,
    /// The peer broke the protocol (see the error returned with it); the stream is dead.
    ProtocolError,
}

/// Something the application should know. Drain with `poll_event` after every `&mut` call.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// Client: the server enabled stream management (once per enable).
    Enabled {
        /// The SM-ID, when the stream is resumable.
        id: Option<SmId>,
        /// Whether the stream can be resumed.
        resume: bool,
        /// The server's resumption timeout in seconds.
        max: Option<u32>,
        /// Where to reconnect for resumption.
        location: Option<String>,
    },
    /// Client: the server refused `<enable/>` (once). Stanzas sent since are handed back in a
    /// [`Event::HandedBack`] that follows.
    EnableFailed {
        /// The condition given.
        condition: Option<DefinedCondition>,
    },
    /// Client and server: the stream was resumed (once per resumption). `retransmitted`
    /// stanzas come out of `poll_transmit` next, before any new one.
    Resumed {
        /// The SM-ID of the resumed stream.
        previd: SmId,
        /// How many unacknowledged stanzas are retransmitted.
        retransmitted: usize,
    },
    /// Client: the server refused `<resume/>` (once). The stream may now bind a resource
    /// afresh; the unacknowledged stanzas follow in [`Event::HandedBack`].
    ResumeFailed {
        /// The condition given.
        condition: Option<DefinedCondition>,
        /// The server's `h`, if it still knew it (already applied).
        h: Option<u32>,
    },
    /// The peer acknowledged `count` more stanzas (fires for every ack that acknowledges at
    /// least one).
    Acked {
        /// The peer's new `h`.
        h: u32,
        /// How many stanzas it newly acknowledged.
        count: u32,
    },
    /// An `<r/>` went unanswered for [`crate::AckPolicy::timeout`] (once per request). The
    /// stream is probably dead: close it and resume on a new one.
    AckTimeout {
        /// When the request was sent.
        requested_at: SystemTime,
    },
    /// Server: a resumable session ended for good on this stream (closed, failed on a protocol
    /// error, or its connection lost without hibernation). Call [`crate::SessionStore::end`]
    /// with these values, so a late `<resume/>` is answered `<failed h/>`. Fires at most once
    /// per stream; never for a hibernated or taken-over session.
    SessionEnded {
        /// The SM-ID.
        id: SmId,
        /// Stanzas handled from the client.
        handled: u32,
    },
    /// Unacknowledged stanzas handed back: they were never acknowledged and will never be
    /// retransmitted by this machine.
    HandedBack {
        /// Why.
        reason: HandBackReason,
        /// The stanzas, oldest first.
        stanzas: Vec<Unacked>,
    },
}
