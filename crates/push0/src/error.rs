//! Every error of the crate, in three groups: what a peer sent that does not parse
//! ([`ParseError`]), what a peer did wrong in a request a machine answered ([`EnableError`] on
//! the user's server, [`PublishError`] on the app server; the machine has already queued the
//! answer, the error only classifies), and state read back from a store that does not hold
//! together ([`RestoreError`]).
//!
//! Nothing here is caused by the caller misusing the API: the machines' commands cannot fail.

use jid::{BareJid, FullJid, Jid};
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType};

/// A XEP-0357 element (or the PubSub/data-form structure around it) that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Not the element this parser reads (another name or namespace). Callers treat this as
    /// "not ours", never as a fault.
    #[error("not a <{expected}/> element")]
    Mismatch {
        /// The element expected.
        expected: &'static str,
    },
    /// A required attribute is missing (`jid` on `<enable/>` and `<disable/>`, XEP-0357 §5,
    /// §6; `node` on a remote-disable notice, §8).
    #[error("<{element}/> lacks its '{attribute}' attribute")]
    MissingAttribute {
        /// The element.
        element: &'static str,
        /// The attribute.
        attribute: &'static str,
    },
    /// A JID that does not parse (RFC 7622).
    #[error("<{element}/> carries an invalid JID {value:?}")]
    InvalidJid {
        /// Where it was.
        element: &'static str,
        /// The text received.
        value: String,
    },
    /// A XEP-0004 data form that xmpp-parsers rejects even after the leniencies described in
    /// [`crate::elements`] (a field without `var`, options in a non-list field, ...).
    #[error("invalid data form: {detail}")]
    InvalidForm {
        /// xmpp-parsers' description.
        detail: String,
    },
    /// A data form whose `FORM_TYPE` is not the one this place calls for.
    #[error("data form of type {found:?} where {expected:?} belongs")]
    WrongFormType {
        /// The `FORM_TYPE` expected.
        expected: &'static str,
        /// The `FORM_TYPE` found.
        found: String,
    },
    /// A summary count that is not a non-negative 32-bit number (XEP-0357 §11.3).
    #[error("summary field {field} is not a count: {value:?}")]
    InvalidCount {
        /// The field.
        field: &'static str,
        /// Its value.
        value: String,
    },
    /// A pubsub element without `<publish/>` (so not a publish request).
    #[error("<pubsub/> without <publish/>")]
    MissingPublish,
    /// A `<publish/>` without `<item/>`.
    #[error("<publish/> without <item/>")]
    MissingItem,
    /// An `<item/>` whose payload is not a `<notification xmlns='urn:xmpp:push:0'/>`.
    #[error("<item/> without a <notification xmlns='urn:xmpp:push:0'/>")]
    MissingNotification,
    /// An `affiliation` value XEP-0060 does not define.
    #[error("unknown affiliation {value:?}")]
    InvalidAffiliation {
        /// The value received.
        value: String,
    },
    /// Something larger than the configured bound (publish options, node names).
    #[error("{what} exceeds {limit} bytes")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// The bound.
        limit: usize,
    },
}

impl ParseError {
    /// The stanza error condition to answer a request that failed to parse with.
    #[must_use]
    pub const fn condition(&self) -> DefinedCondition {
        match self {
            Self::TooLarge { .. } => DefinedCondition::NotAcceptable,
            _ => DefinedCondition::BadRequest,
        }
    }
}

/// What an `<enable/>` or `<disable/>` request to the user's server did wrong. The
/// [`Registry`](crate::Registry) has already queued the error reply; this only classifies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnableError {
    /// The command does not parse (no `jid`, an invalid JID, a broken form): `bad-request`.
    #[error("malformed push command: {0}")]
    Malformed(#[from] ParseError),
    /// `<enable/>`/`<disable/>` in an iq of type `get`: `not-allowed` (ejabberd's answer;
    /// XEP-0357 §5 and §6 only define `set`).
    #[error("push commands are iq-set only")]
    NotSet,
    /// The request came from someone else than the account owner: `forbidden`.
    #[error("{from} may not change the push registrations of {account}")]
    Forbidden {
        /// Who sent it.
        from: Jid,
        /// The account addressed.
        account: BareJid,
    },
    /// The push service named is the account itself: `bad-request` (Prosody's rule).
    #[error("the push service JID is the account's own")]
    OwnJid,
    /// `<enable/>` without `node`, with [`RegistryConfig::require_node`](crate::RegistryConfig)
    /// on: `feature-not-implemented` (ejabberd's answer; XEP-0357 §5 says the node SHOULD be
    /// given, and a XEP-0060 publish needs one).
    #[error("<enable/> without a node")]
    NodeRequired,
}

impl EnableError {
    /// The condition of the error reply.
    #[must_use]
    pub const fn condition(&self) -> DefinedCondition {
        match self {
            Self::Malformed(e) => e.condition(),
            Self::NotSet => DefinedCondition::NotAllowed,
            Self::Forbidden { .. } => DefinedCondition::Forbidden,
            Self::OwnJid => DefinedCondition::BadRequest,
            Self::NodeRequired => DefinedCondition::FeatureNotImplemented,
        }
    }

    /// The type of the error reply (RFC 6120 §8.3.2).
    #[must_use]
    pub const fn error_type(&self) -> ErrorType {
        match self {
            Self::Forbidden { .. } => ErrorType::Auth,
            Self::NotSet | Self::NodeRequired => ErrorType::Cancel,
            Self::Malformed(_) | Self::OwnJid => ErrorType::Modify,
        }
    }
}

/// What a publish to the app server did wrong. The [`AppServer`](crate::AppServer) has already
/// queued the error reply; this only classifies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The publish does not parse: `bad-request`.
    #[error("malformed publish: {0}")]
    Malformed(#[from] ParseError),
    /// A publish without a node: `bad-request` with `<nodeid-required/>` (XEP-0060 §7.1.3.3).
    #[error("publish without a node")]
    NodeRequired,
    /// A node this app server did not issue (or has retired): `item-not-found`
    /// (XEP-0060 §7.1.3.3).
    #[error("unknown node {node:?}")]
    UnknownNode {
        /// The node named.
        node: String,
    },
    /// A publish without the node's secret in its publish options: `forbidden`.
    #[error("publish to {node:?} without a secret")]
    MissingSecret {
        /// The node.
        node: String,
    },
    /// A publish with a secret that is not the node's: `forbidden`.
    #[error("publish to {node:?} with a wrong secret")]
    WrongSecret {
        /// The node.
        node: String,
    },
    /// A publisher the configuration does not accept (a full JID, where XEP-0357 §3.2 expects
    /// the user's server or bare JID): `forbidden`.
    #[error("{from} may not publish")]
    PublisherNotAllowed {
        /// The publisher.
        from: Jid,
    },
}

impl PublishError {
    /// The condition of the error reply.
    #[must_use]
    pub const fn condition(&self) -> DefinedCondition {
        match self {
            Self::Malformed(e) => e.condition(),
            Self::NodeRequired => DefinedCondition::BadRequest,
            Self::UnknownNode { .. } => DefinedCondition::ItemNotFound,
            Self::MissingSecret { .. }
            | Self::WrongSecret { .. }
            | Self::PublisherNotAllowed { .. } => DefinedCondition::Forbidden,
        }
    }

    /// The type of the error reply (RFC 6120 §8.3.2).
    #[must_use]
    pub const fn error_type(&self) -> ErrorType {
        match self {
            Self::MissingSecret { .. }
            | Self::WrongSecret { .. }
            | Self::PublisherNotAllowed { .. } => ErrorType::Auth,
            Self::UnknownNode { .. } => ErrorType::Cancel,
            Self::Malformed(_) | Self::NodeRequired => ErrorType::Modify,
        }
    }
}

/// State read back from a store (a snapshot or an account record) that does not hold
/// together. Read-back state is treated like peer data: nothing is trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// An account holds more registrations than the configured per-account bound.
    #[error("{account} holds {count} registrations, above the bound of {limit}")]
    TooManyForAccount {
        /// The account.
        account: BareJid,
        /// How many the record holds.
        count: usize,
        /// The bound.
        limit: usize,
    },
    /// More entries in total than the configured global bound.
    #[error("{count} entries in total, above the bound of {limit}")]
    TooMany {
        /// How many the snapshot holds.
        count: usize,
        /// The bound.
        limit: usize,
    },
    /// The same account twice.
    #[error("{account} appears twice")]
    DuplicateAccount {
        /// The account.
        account: BareJid,
    },
    /// The same (service, node) pair twice in one account.
    #[error("{account} registers {service} node {node:?} twice")]
    DuplicateRegistration {
        /// The account.
        account: BareJid,
        /// The push service.
        service: Jid,
        /// The node.
        node: Option<String>,
    },
    /// Publish options that do not parse, or exceed the configured size.
    #[error("{account}: stored publish options: {error}")]
    InvalidOptions {
        /// The account.
        account: BareJid,
        /// Why.
        error: ParseError,
    },
    /// A session that is not the account's own.
    #[error("{session} is not a session of {account}")]
    WrongOwner {
        /// The account.
        account: BareJid,
        /// The session named.
        session: FullJid,
    },
    /// A push service JID equal to the account (which `<enable/>` refuses).
    #[error("{account} registers itself as its push service")]
    OwnJid {
        /// The account.
        account: BareJid,
    },
    /// The same hibernating session twice.
    #[error("session {session} appears twice")]
    DuplicateSession {
        /// The session.
        session: FullJid,
    },
    /// A node name twice in the app server's store.
    #[error("node {node:?} appears twice")]
    DuplicateNode {
        /// The node.
        node: String,
    },
    /// A node name or secret outside the store's rules (empty, too long, not printable).
    #[error("invalid node record {node:?}: {reason}")]
    InvalidNode {
        /// The node.
        node: String,
        /// What is wrong.
        reason: &'static str,
    },
}
