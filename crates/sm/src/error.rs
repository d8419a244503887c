//! Every error of the crate, in three tiers: what the peer did wrong ([`PeerError`], with the
//! answer the machine has already queued), what the caller did wrong ([`Misuse`]), and commands
//! that hand an owned value back ([`Refused`]). Persisted records that fail validation are
//! [`RecordError`]s.

use std::fmt;

use minidom::Element;
use xmpp_parsers::stanza_error::DefinedCondition as StanzaCondition;
use xmpp_parsers::stream_error::{DefinedCondition as StreamCondition, StreamError};

use crate::elements::{Failed, HandledCountTooHigh, ParseError, SmId};
use crate::ns::Namespace;
use crate::transmit::Placement;

/// What `handle_element` reports besides success.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer broke the protocol. The answer ([`PeerError::answer`]) is already queued in
    /// `poll_transmit`; a fatal one has closed the machine.
    #[error(transparent)]
    Peer(#[from] PeerError),
    /// The machine is closed (after a fatal error, a close, a take-over or a lost
    /// connection): stop reading from and writing to its stream. The element is handed back
    /// for diagnostics; the peer retransmits it on its new stream if it matters.
    #[error("the stream is closed")]
    Closed(Box<Element>),
}

impl Error {
    /// Whether the stream is over: write what `poll_transmit` still holds, then close it.
    /// Always true for [`Error::Closed`], so a read loop keyed on it ends.
    #[must_use]
    pub const fn is_fatal(&self) -> bool {
        match self {
            Self::Peer(e) => e.is_fatal(),
            Self::Closed(_) => true,
        }
    }
}

/// What a machine queued in answer to a [`PeerError`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Answer {
    /// A `<failed/>` at the request's placement; the stream goes on.
    Failed(Element, Placement),
    /// A stream error; the machine is closed and has handed back every unacknowledged stanza.
    StreamError(StreamError),
}

impl Answer {
    /// The element that was queued.
    #[must_use]
    pub fn into_element(self) -> Element {
        match self {
            Self::Failed(element, _) => element,
            Self::StreamError(error) => error.into(),
        }
    }
}

/// A protocol violation by the peer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// A malformed XEP-0198 element (bad number, missing attribute, ...). Fatal: `bad-format`.
    #[error("malformed stream management element: {0}")]
    Malformed(#[from] ParseError),
    /// The peer acknowledged stanzas we never sent (XEP-0198 §4). Fatal:
    /// `undefined-condition` with `<handled-count-too-high/>`.
    #[error("peer acknowledged {h} stanzas but only {send_count} were sent")]
    HandledCountTooHigh {
        /// The dialect, for the application condition.
        ns: Namespace,
        /// The `h` received.
        h: u32,
        /// What we had sent.
        send_count: u32,
    },
    /// The peer's `h` went backwards: below an acknowledgement it already gave. Fatal:
    /// `undefined-condition`.
    #[error("peer acknowledged h={h}, below its earlier h={acked}")]
    AckWentBackwards {
        /// The `h` received.
        h: u32,
        /// The highest `h` seen before.
        acked: u32,
    },
    /// `<enable/>` before resource binding (XEP-0198 §3). Answered `<failed/>` with
    /// `unexpected-request`; the stream goes on.
    #[error("<enable/> before resource binding")]
    EnableBeforeBind {
        /// The dialect of the request.
        ns: Namespace,
    },
    /// A second `<enable/>` on one stream, or one on a resumed stream. Answered `<failed/>`
    /// with `unexpected-request`.
    #[error("a second <enable/> on this stream")]
    EnableTwice {
        /// The dialect of the request.
        ns: Namespace,
    },
    /// `<resume/>` after resource binding, or on a stream where SM is already on (XEP-0198
    /// §5). Answered `<failed/>` with `unexpected-request`.
    #[error("<resume/> after resource binding or on a managed stream")]
    ResumeAfterBind {
        /// The dialect of the request.
        ns: Namespace,
    },
    /// A second `<resume/>` on one stream (XEP-0198 §5 allows one attempt). Answered
    /// `<failed/>` with `unexpected-request`.
    #[error("a second <resume/> on this stream")]
    ResumeTwice {
        /// The dialect of the request.
        ns: Namespace,
    },
    /// `<resumed/>` naming another stream than the one we asked to resume. Fatal:
    /// `undefined-condition`.
    #[error("<resumed/> for another stream")]
    PrevIdMismatch,
}

impl PeerError {
    /// Whether the stream is over: the answer is a stream error and the machine has handed
    /// back every unacknowledged stanza.
    #[must_use]
    pub const fn is_fatal(&self) -> bool {
        !matches!(
            self,
            Self::EnableBeforeBind { .. }
                | Self::EnableTwice { .. }
                | Self::ResumeAfterBind { .. }
                | Self::ResumeTwice { .. }
        )
    }

    /// The answer the protocol prescribes (what the machine queued), for a request that came
    /// at `placement`.
    #[must_use]
    pub fn answer(&self, placement: Placement) -> Answer {
        let stream =
            |condition, text: String| Answer::StreamError(StreamError::new(condition, "en", text));
        match self {
            Self::Malformed(e) => stream(StreamCondition::BadFormat, e.to_string()),
            Self::HandledCountTooHigh { ns, h, send_count } => Answer::StreamError(
                HandledCountTooHigh::new(*ns, *h, *send_count).to_stream_error(),
            ),
            Self::AckWentBackwards { .. } | Self::PrevIdMismatch => {
                stream(StreamCondition::UndefinedCondition, self.to_string())
            }
            Self::EnableBeforeBind { ns }
            | Self::EnableTwice { ns }
            | Self::ResumeAfterBind { ns }
            | Self::ResumeTwice { ns } => Answer::Failed(
                Failed::new(*ns, StanzaCondition::UnexpectedRequest).into(),
                placement,
            ),
        }
    }
}

/// A call the current state does not allow. Never caused by peer data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} is not possible while {state}")]
#[non_exhaustive]
pub struct Misuse {
    /// What was called.
    pub operation: &'static str,
    /// The state the machine is in.
    pub state: &'static str,
}

/// A command that takes ownership of a value could not keep it, and hands it back (like
/// [`std::sync::mpsc::SendError`]): [`reason`](Self::reason) says why,
/// [`into_inner`](Self::into_inner) gives the value back untouched. One pointer wide, so
/// the `Result` of a hot call such as `send` stays small.
#[derive(Clone, PartialEq)]
pub struct Refused<T>(Box<(Refusal, T)>);

impl<T> Refused<T> {
    pub(crate) fn new(reason: Refusal, value: T) -> Self {
        Self(Box::new((reason, value)))
    }

    /// Why the value was refused.
    #[must_use]
    pub fn reason(&self) -> &Refusal {
        &self.0.0
    }

    /// The value, by reference.
    #[must_use]
    pub fn value(&self) -> &T {
        &self.0.1
    }

    /// The value handed back.
    #[must_use]
    pub fn into_inner(self) -> T {
        self.0.1
    }

    /// The reason and the value.
    #[must_use]
    pub fn into_parts(self) -> (Refusal, T) {
        *self.0
    }
}

impl<T> fmt::Debug for Refused<T> {
    // The value may be a large stanza or a whole session: show only the reason.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refused")
            .field("reason", self.reason())
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for Refused<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.reason(), f)
    }
}

impl<T> std::error::Error for Refused<T> {}

/// Why a value was handed back.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// Only `<message/>`, `<presence/>` and `<iq/>` (XEP-0198 §4) are sent or queued.
    #[error("not a stanza")]
    NotAStanza,
    /// The stream is closed (hibernated, taken over, closed or failed): route the stanza
    /// again, it may now belong to a hibernated session.
    #[error("the stream is closed")]
    Closed,
    /// The retransmission queue is at its limit: the peer is not acknowledging. On a live
    /// stream this is fatal: the stream was closed with `resource-constraint` and every held
    /// stanza handed back.
    #[error("more than {limit} unacknowledged stanzas")]
    QueueFull {
        /// The configured limit.
        limit: usize,
    },
    /// Another live stream has bound this full JID: pick another resource (RFC 6120
    /// §7.7.2.2).
    #[error("the resource is bound on another stream")]
    ResourceInUse,
    /// This stream has already bound another resource (RFC 6120 §7.1: one per stream).
    #[error("the stream has bound another resource already")]
    AlreadyBound,
    /// The JID belongs to another account than the stream's.
    #[error("the JID belongs to another account")]
    NotOwner,
    /// The stream was resumed (or is resuming): it is never also bound (XEP-0198 §5).
    #[error("the stream was resumed")]
    Resumed,
    /// No hibernated session for this full JID or SM-ID.
    #[error("no hibernated session")]
    UnknownSession,
    /// A session with this SM-ID is already in the store.
    #[error("SM-ID {0} is already in the store")]
    DuplicateId(SmId),
    /// A persisted record failed validation.
    #[error("invalid session record: {0}")]
    Invalid(#[from] RecordError),
}

/// A persisted session record (or store snapshot) that fails validation: read-back state is
/// input, checked like peer data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The bound full JID does not belong to the record's owner.
    #[error("the bound resource {resource} does not belong to {owner}")]
    ResourceOfAnotherAccount {
        /// The record's owner.
        owner: String,
        /// The resource it claims.
        resource: String,
    },
    /// The counters and the queue disagree.
    #[error("counters inconsistent with the queue: {0}")]
    Counters(&'static str),
    /// A queued element is not a stanza that XEP-0198 counts (a stream error, a nonza...).
    #[error("queued element {index} is not a stanza")]
    NotAStanza {
        /// Its position in the queue.
        index: usize,
    },
    /// A queued stanza's XML is malformed, too deep or too large.
    #[error("queued stanza {index} is not acceptable XML: {reason}")]
    Xml {
        /// Its position in the queue.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// More queued stanzas than the configured limit.
    #[error("{len} queued stanzas, more than the limit of {limit}")]
    QueueTooLong {
        /// How many.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The resumption time is above the configured maximum.
    #[error("resumption time {max} s above the configured maximum {limit} s")]
    MaxTooLong {
        /// The record's value.
        max: u32,
        /// The configured maximum.
        limit: u32,
    },
    /// Two records share an SM-ID.
    #[error("SM-ID {0} appears twice")]
    DuplicateId(String),
    /// An ended-session entry or index refers to something absent.
    #[error("snapshot index inconsistent: {0}")]
    Index(&'static str),
}

/// A store snapshot that fails validation ([`crate::SessionStore::restore`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// A hibernated session record is invalid.
    #[error("session {index}: {error}")]
    Session {
        /// Its position in the snapshot.
        index: usize,
        /// What is wrong.
        error: RecordError,
    },
    /// An ended-session entry is invalid.
    #[error("ended session {index}: {error}")]
    Ended {
        /// Its position in the snapshot.
        index: usize,
        /// What is wrong.
        error: RecordError,
    },
}
