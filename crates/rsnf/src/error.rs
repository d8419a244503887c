//! Every error of the crate: malformed notifications, disco results that cannot be cached for
//! everyone, failed caps queries, and snapshots that do not restore.

use xmpp_parsers::stanza_error::DefinedCondition;

/// A `pubsub#event` message that cannot be classified (peer fault). It is delivered to nobody;
/// a server that bounces it answers [`ClassifyError::condition`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClassifyError {
    /// The element given to [`Notification::from_event_element`](crate::Notification) is not
    /// a `pubsub#event` `<event/>`.
    #[error("not a pubsub#event <event/> element")]
    NotAnEvent,
    /// More than one `<event/>` in one message: which filter applies is ambiguous.
    #[error("more than one pubsub#event <event/> in one message")]
    SeveralEvents,
    /// An `<event/>` without a child.
    #[error("an <event/> without a child")]
    NoPayload,
    /// An `<event/>` with more than one child (XEP-0060 §12 allows exactly one).
    #[error("an <event/> with more than one child")]
    SeveralPayloads,
    /// A known child that xmpp-parsers rejects (a missing `node`, a bad attribute).
    #[error("malformed <{element}/> notification: {reason}")]
    Malformed {
        /// The child's name.
        element: &'static str,
        /// What xmpp-parsers said.
        reason: String,
    },
}

impl ClassifyError {
    /// The stanza error condition for a bounce: `bad-request` (RFC 6120 §8.3.3.1).
    #[must_use]
    pub const fn condition(&self) -> DefinedCondition {
        DefinedCondition::BadRequest
    }
}

/// Why a disco#info result is not cached for every entity that advertises the same caps
/// (peer fault; XEP-0115 §5.4). Nothing is answered: a result is not answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unverifiable {
    /// The recomputed verification string differs from the advertised `ver` (§5.4 step 8).
    #[error("the disco#info result does not hash to the advertised ver")]
    HashMismatch,
    /// The `hash` attribute names an algorithm we cannot compute.
    #[error("unsupported caps hash algorithm {0:?}")]
    UnsupportedHash(String),
    /// The same feature twice: the result is ill-formed (§5.4 step 3.4).
    #[error("feature {0:?} appears twice: ill-formed disco#info result")]
    DuplicateFeature(String),
    /// The same identity (category/type/lang/name) twice: ill-formed (§5.4 step 3.3).
    #[error("an identity appears twice: ill-formed disco#info result")]
    DuplicateIdentity,
    /// Two extended-information forms with one FORM_TYPE: ill-formed (§5.4 step 3.5).
    #[error("two forms with FORM_TYPE {0:?}: ill-formed disco#info result")]
    DuplicateForm(String),
    /// The result names another node than `<caps node>#<ver>`.
    #[error("the disco#info result is for node {0:?}, not the advertised caps")]
    NodeMismatch(String),
}

/// Why a caps query left its entity unresolved (reported in
/// [`CapsEvent::Unresolved`](crate::CapsEvent::Unresolved)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryFailure {
    /// The entity answered with an iq error.
    #[error("the entity answered the disco#info query with an error")]
    Error,
    /// No answer within [`CapsConfig::query_timeout`](crate::CapsConfig).
    #[error("no answer to the disco#info query in time")]
    TimedOut,
    /// The answer is not a disco#info result xmpp-parsers accepts.
    #[error("the answer is not a disco#info result: {0}")]
    Malformed(String),
    /// The answer is larger than [`CapsConfig`](crate::CapsConfig) allows (features or bytes).
    #[error("the disco#info result exceeds the configured limits")]
    TooLarge,
    /// The entity changed its caps or went away while its query was pending.
    #[error("the entity changed its caps or went unavailable while asked")]
    Withdrawn,
    /// The pending-query table was full and this query was the one evicted.
    #[error("the pending-query table was full")]
    Evicted,
}

/// A [`CapsSnapshot`](crate::CapsSnapshot) that does not restore. A snapshot is input: it is
/// validated like peer data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// More entries than [`CapsConfig::max_entries`](crate::CapsConfig).
    #[error("{count} entries, above the configured {limit}")]
    TooManyEntries {
        /// Entries in the snapshot.
        count: usize,
        /// The configured bound.
        limit: usize,
    },
    /// An algorithm we cannot compute (only verified entries are ever cached).
    #[error("entry {index}: unsupported hash algorithm {algo:?}")]
    UnsupportedHash {
        /// Position in the snapshot.
        index: usize,
        /// The algorithm named.
        algo: String,
    },
    /// A `ver` that is not base64 or not as long as the algorithm's digest.
    #[error("entry {index}: bad ver {ver:?}")]
    BadVer {
        /// Position in the snapshot.
        index: usize,
        /// The ver as stored.
        ver: String,
    },
    /// The same (algorithm, ver) twice.
    #[error("entry {index}: duplicate ver {ver:?}")]
    DuplicateVer {
        /// Position in the snapshot.
        index: usize,
        /// The ver as stored.
        ver: String,
    },
    /// A feature outside what the cache keeps (filter features and `urn:xmpp:rsf:0`), a
    /// duplicate, too many or too long.
    #[error("entry {index}: feature {feature:?} is not one the cache keeps or breaks a limit")]
    BadFeature {
        /// Position in the snapshot.
        index: usize,
        /// The offending feature (cut to 64 bytes).
        feature: String,
    },
}
