//! Every error of the crate, in one place.
//!
//! XEP-0310 defines no error answers, and the tracker never answers a peer: whatever a peer
//! sends is tracked, stripped (a foreign annotation, reported in
//! [`crate::Event::Stripped`]) or left alone ([`crate::Relay::Untracked`]). So there is no
//! peer-fault tier here. What remains is a malformed element ([`ParseError`]), the caller
//! breaking the API contract ([`Misuse`], which peer data never causes), and a snapshot that
//! does not validate ([`RestoreError`], with the `serde` feature).

/// A `<state-annotation/>` that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Not a `<state-annotation xmlns='urn:xmpp:psa'/>`: hand it to whoever handles it.
    #[error("<{name} xmlns='{ns}'/> is not a state annotation")]
    NotAnnotation {
        /// The element's local name (truncated).
        name: String,
        /// Its namespace (truncated).
        ns: String,
    },
    /// The `from` attribute is not a JID.
    #[error("the annotator {value:?} is not a JID")]
    InvalidAnnotator {
        /// The value received (truncated).
        value: String,
    },
    /// A stored unknown condition that is not a valid XML name, or is a known one.
    #[error("{name:?} is not an unknown condition's name")]
    InvalidCondition {
        /// The name (truncated).
        name: String,
    },
}

/// A call the tracker's contract does not allow. Never caused by peer data: each names the
/// argument the caller got wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Misuse {
    /// A local-session input (pause, resume, end) or a room occupant for a JID whose domain is
    /// not one of [`crate::TrackerConfig::local_domains`].
    #[error("{jid} is not on a local domain")]
    NotLocal {
        /// The JID given.
        jid: String,
    },
    /// A link input for one of our own domains: links go to remote servers.
    #[error("{domain} is a local domain, not a remote server")]
    LocalDomain {
        /// The domain given.
        domain: String,
    },
    /// [`crate::Tracker::snapshot`] while transmits or events wait to be drained: drain them
    /// first, so that nothing is lost between the snapshot and the restore.
    #[error("{transmits} transmits and {events} events are not drained")]
    Undrained {
        /// Transmits waiting.
        transmits: usize,
        /// Events waiting.
        events: usize,
    },
}

/// A snapshot that does not validate: [`crate::Tracker::restore`] treats a snapshot like peer
/// data, because a store is only as trustworthy as what can write to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// A stored presence is not XML, is too large or too deep, is not an available
    /// `<presence/>`, or is not from the source it is filed under.
    #[error("stored presence #{index} is invalid: {why}")]
    Presence {
        /// Its index in the snapshot.
        index: usize,
        /// What is wrong.
        why: &'static str,
    },
    /// An entry names a presence index that does not exist.
    #[error("entry #{index} names presence #{presence}, which does not exist")]
    DanglingPresence {
        /// The entry's index.
        index: usize,
        /// The presence index it names.
        presence: usize,
    },
    /// The same (watcher, source) pair twice.
    #[error("entry #{index} repeats a watcher and source pair")]
    DuplicateEntry {
        /// The entry's index.
        index: usize,
    },
    /// An entry, session or occupant that the rules of the tracker would never have made
    /// (a remote watcher of a remote source, a session on a remote domain, ...).
    #[error("record #{index} is inconsistent: {why}")]
    Inconsistent {
        /// Its index in its list.
        index: usize,
        /// What is wrong.
        why: &'static str,
    },
    /// A domain name that is not one.
    #[error("{value:?} is not a domain")]
    InvalidDomain {
        /// The value (truncated).
        value: String,
    },
    /// More records than the configuration allows.
    #[error("the snapshot holds more than the configured {limit} {what}")]
    OverLimit {
        /// Which table.
        what: &'static str,
        /// The configured limit.
        limit: usize,
    },
}
