//! Errors: what the peer did wrong (with the answer to send) and what the caller did wrong.

use minidom::Element;
use xmpp_parsers::stanza_error::DefinedCondition as StanzaCondition;
use xmpp_parsers::stream_error::{DefinedCondition as StreamCondition, StreamError};

use crate::elements::{Failed, HandledCountTooHigh, ParseError};
use crate::ns::Namespace;
use crate::session::HibernatedSession;

/// Everything that can go wrong in a state machine call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer broke the protocol. [`Error::answer`] says what to send back.
    #[error(transparent)]
    Peer(#[from] PeerError),
    /// The caller used the API in a way the current state does not allow. Peer data never
    /// causes this.
    #[error(transparent)]
    Misuse(#[from] Misuse),
}

/// What to send back after a [`PeerError`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Answer {
    /// Write this `<failed/>` where the request came from (top level, or inside SASL2
    /// `<success/>`/Bind2 `<bound/>`); the stream goes on.
    Failed(Element),
    /// Write this stream error, then close the stream. The state machine has already handed
    /// back every unacknowledged stanza and will not resume.
    StreamError(StreamError),
}

impl Answer {
    /// The element to write.
    #[must_use]
    pub fn into_element(self) -> Element {
        match self {
            Self::Failed(element) => element,
            Self::StreamError(error) => error.into(),
        }
    }
}

impl Error {
    /// The answer the protocol prescribes, if any.
    #[must_use]
    pub fn answer(&self) -> Option<Answer> {
        match self {
            Self::Peer(e) => e.answer(),
            Self::Misuse(_) => None,
        }
    }

    /// Whether the stream must be closed (the answer is a stream error).
    #[must_use]
    pub fn is_fatal(&self) -> bool {
        matches!(self, Self::Peer(e) if e.is_fatal())
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
    /// `<enable/>` before resource binding (XEP-0198 §3). Answer `<failed/>` with
    /// `unexpected-request`; the stream goes on.
    #[error("<enable/> before resource binding")]
    EnableBeforeBind {
        /// The dialect of the request.
        ns: Namespace,
    },
    /// `<enable/>` on a stream where SM is already enabled or was resumed. Answer `<failed/>`
    /// with `unexpected-request`.
    #[error("<enable/> on a stream where stream management is already on")]
    EnableTwice {
        /// The dialect of the request.
        ns: Namespace,
    },
    /// `<resume/>` after resource binding, or on a stream where SM is already on (XEP-0198
    /// §5). Answer `<failed/>` with `unexpected-request`.
    #[error("<resume/> after resource binding or on a managed stream")]
    ResumeAfterBind {
        /// The dialect of the request.
        ns: Namespace,
    },
    /// A second `<resume/>` on one stream (XEP-0198 §5 allows one attempt). Answer
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
    /// An SM element that the current state does not allow (for example `<r/>` before SM was
    /// enabled, or `<enabled/>` that nobody asked for). Not fatal and nothing to answer: the
    /// element is ignored and reported. XEP-0198 1.6.3 forbids none of these explicitly, and
    /// Prosody ignores an early `<r/>`, so a stream is not torn down for them.
    #[error("unexpected <{element}/> while {state}")]
    Unexpected {
        /// The element's local name.
        element: &'static str,
        /// The state it arrived in.
        state: &'static str,
    },
    /// The retransmission queue is full: the peer is not acknowledging. Fatal:
    /// `resource-constraint`; every held stanza was handed back.
    #[error("more than {limit} unacknowledged stanzas")]
    QueueOverflow {
        /// The configured limit.
        limit: usize,
    },
}

impl PeerError {
    /// Whether the stream must be closed: the answer is a stream error, and the state machine
    /// has handed back every unacknowledged stanza.
    #[must_use]
    pub const fn is_fatal(&self) -> bool {
        !matches!(
            self,
            Self::Malformed(ParseError::NotStreamManagement { .. })
                | Self::EnableBeforeBind { .. }
                | Self::EnableTwice { .. }
                | Self::ResumeAfterBind { .. }
                | Self::ResumeTwice { .. }
                | Self::Unexpected { .. }
        )
    }

    /// The answer the protocol prescribes.
    #[must_use]
    pub fn answer(&self) -> Option<Answer> {
        let stream = |condition, text: String| {
            Some(Answer::StreamError(StreamError::new(condition, "en", text)))
        };
        match self {
            Self::Malformed(ParseError::NotStreamManagement { .. }) => None,
            Self::Malformed(e) => stream(StreamCondition::BadFormat, e.to_string()),
            Self::HandledCountTooHigh { ns, h, send_count } => Some(Answer::StreamError(
                HandledCountTooHigh {
                    ns: *ns,
                    h: *h,
                    send_count: *send_count,
                }
                .to_stream_error(),
            )),
            Self::AckWentBackwards { .. } | Self::PrevIdMismatch => {
                stream(StreamCondition::UndefinedCondition, self.to_string())
            }
            Self::EnableBeforeBind { ns }
            | Self::EnableTwice { ns }
            | Self::ResumeAfterBind { ns }
            | Self::ResumeTwice { ns } => Some(Answer::Failed(
                Failed::new(*ns, StanzaCondition::UnexpectedRequest).into(),
            )),
            Self::Unexpected { .. } => None,
            Self::QueueOverflow { .. } => {
                stream(StreamCondition::ResourceConstraint, self.to_string())
            }
        }
    }
}

/// A call the current state does not allow. Never caused by peer data.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Misuse {
    /// The operation needs another state (for example `resume` with nothing to resume).
    #[error("{operation} is not possible while {state}")]
    InvalidState {
        /// What was called.
        operation: &'static str,
        /// The state the machine is in.
        state: &'static str,
    },
    /// `send` was given something that is not a message, presence or iq. It is handed back.
    #[error("<{}/> is not a stanza", .0.name())]
    NotAStanza(Box<Element>),
    /// `send` on, or `handle_element` for, a stream that is closed (hibernated, taken over,
    /// closed or failed): stop reading from and writing to it. The element is handed back.
    #[error("the stream is closed")]
    Closed(Box<Element>),
    /// `accept_resume` with a session owned by another account, with another SM-ID than the
    /// one requested, or with no resume request pending. The session is handed back
    /// untouched.
    #[error("the session does not belong to this stream's account or request")]
    WrongSession(Box<HibernatedSession>),
}
