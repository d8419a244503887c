//! What the [`Registry`](crate::Registry) tells the application, and how it answers a stanza.

use std::fmt;
use std::time::SystemTime;

use jid::{BareJid, FullJid, Jid};
use xmpp_parsers::stanza_error::StanzaError;

/// A registration's address: the push service and its node (XEP-0357 §5: the pair is the key).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PushNode {
    /// The push service.
    pub service: Jid,
    /// The node (`None` when the client enabled none).
    pub node: Option<String>,
}

impl PushNode {
    /// The pair (`service`, `node`).
    #[must_use]
    pub const fn new(service: Jid, node: Option<String>) -> Self {
        Self { service, node }
    }
}

impl fmt::Display for PushNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.node {
            Some(node) => write!(f, "{} node {node:?}", self.service),
            None => write!(f, "{} (no node)", self.service),
        }
    }
}

/// What `handle_stanza` made of a stanza.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a stanza that is not ours must be routed or answered by the caller"]
#[non_exhaustive]
pub enum Incoming {
    /// A push command, an answer to one of our publishes, or a remote-disable notice: fully
    /// handled; drain `poll_transmit` and `poll_event`.
    Handled,
    /// Not XEP-0357 business (or an answer to a publish this registry did not send): route or
    /// answer it as usual.
    NotOurs,
}

/// Why a registration was removed (or suspended).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DisableReason {
    /// The user sent `<disable/>` (XEP-0357 §6), from this session.
    User {
        /// The session that asked.
        by: Jid,
    },
    /// The push service revoked the affiliation (XEP-0357 §8).
    Service,
    /// Publishes failed: `count` errors in a row whose type is not `wait`, the last one
    /// `error` (XEP-0357 §7.1).
    Errors {
        /// The last error.
        error: StanzaError,
        /// Errors in a row.
        count: u32,
        /// When it will be retried ([`RegistryConfig::retry_disabled_after`]); `None`: removed.
        ///
        /// [`RegistryConfig::retry_disabled_after`]: crate::RegistryConfig::retry_disabled_after
        retry_at: Option<SystemTime>,
    },
    /// Evicted to make room: the table reached a bound.
    Evicted {
        /// Which bound.
        bound: Bound,
    },
    /// The caller removed the account ([`Registry::remove_account`](crate::Registry)).
    AccountRemoved,
}

/// A configured bound of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Bound {
    /// The per-account bound.
    Account,
    /// The global bound.
    Global,
}

/// Why a publish was given up.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AbandonReason {
    /// Every attempt went unanswered for [`RegistryConfig::response_timeout`](crate::RegistryConfig).
    TimedOut,
    /// Every attempt was answered with a `wait` error; this is the last one.
    Wait(Box<StanzaError>),
    /// The registration was disabled before the retry was due.
    Disabled,
    /// The table of pending publishes reached a bound.
    Evicted(Bound),
}

/// Something the application should know. Drain with
/// [`Registry::poll_event`](crate::Registry::poll_event) after every `&mut` call.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A registration was added, or an existing one had its publish options replaced
    /// (`replaced`). Fires once per accepted `<enable/>`.
    Enabled {
        /// The account.
        account: BareJid,
        /// The registration.
        node: PushNode,
        /// The session that enabled it.
        by: Option<FullJid>,
        /// Whether it replaced an earlier registration of the same pair.
        replaced: bool,
    },
    /// A registration was removed or suspended. Fires once per registration and cause.
    Disabled {
        /// The account.
        account: BareJid,
        /// The registration.
        node: PushNode,
        /// Why.
        reason: DisableReason,
    },
    /// A suspended registration is active again after
    /// [`RegistryConfig::retry_disabled_after`](crate::RegistryConfig), on probation (its next
    /// error disables it). Fires once per suspension.
    Reenabled {
        /// The account.
        account: BareJid,
        /// The registration.
        node: PushNode,
    },
    /// The push service accepted a publish (once per publish).
    Delivered {
        /// The account.
        account: BareJid,
        /// The registration.
        node: PushNode,
        /// Sends it took.
        attempts: u32,
        /// When it was first sent.
        first_sent: SystemTime,
    },
    /// The push service answered a publish with an error whose type is not `wait` (once per
    /// such answer). A [`Event::Disabled`] follows when it disabled the registration.
    PublishFailed {
        /// The account.
        account: BareJid,
        /// The registration.
        node: PushNode,
        /// The error.
        error: StanzaError,
        /// Errors in a row for this registration, this one included.
        consecutive: u32,
    },
    /// A publish was given up without an answer that counts (once per publish).
    Abandoned {
        /// The account.
        account: BareJid,
        /// The registration.
        node: PushNode,
        /// Why.
        reason: AbandonReason,
        /// Sends made.
        attempts: u32,
        /// When it was first sent.
        first_sent: SystemTime,
    },
    /// Set the hibernation deadline of `session` to `deadline`: its first push went out (its
    /// own timeout runs from now), or the registration that justified the extension is gone,
    /// or the table of extended sessions reached a bound. Fires at most once per
    /// [`Hibernation::Extended`](crate::Hibernation).
    HibernationDeadline {
        /// The hibernating session.
        session: FullJid,
        /// Its new deadline.
        deadline: SystemTime,
    },
    /// The account's persisted state changed: store
    /// [`Registry::record`](crate::Registry::record) for it (`None`: delete the record).
    /// Not emitted when only the summary counts moved (every `notify` moves them): they are
    /// persisted with the next record or snapshot.
    Changed {
        /// The account.
        account: BareJid,
    },
}
