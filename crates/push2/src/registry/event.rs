//! What the [`Registry`](crate::Registry) hands out: elements to write, and events.

use core::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use jid::{BareJid, FullJid, Jid};
use minidom::Element;
use xmpp_parsers::stanza_error::StanzaError;

use crate::elements::Notification;
use crate::error::BuildError;
use crate::stanza::RegistrationKey;

/// The id of one send of a notification (the `<message/>` `id`): a delivery outcome names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NotificationId(pub(crate) String);

impl NotificationId {
    /// The id text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of a stanza's `id` attribute (an error bounce's), to report an outcome with.
    #[must_use]
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }
}

impl fmt::Display for NotificationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An element to write, in the order [`poll_transmit`](crate::Registry::poll_transmit)
/// returns them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Transmit {
    /// The iq result or error answering an `<enable/>` or `<disable/>`, to the session.
    Reply {
        /// The session.
        to: FullJid,
        /// The iq.
        element: Box<Element>,
    },
    /// The answer to an `<enable/>` inside Bind2 `<bind/>`: goes inside the `<bound/>` the
    /// server sends to `session` (`<enabled xmlns='urn:xmpp:push2:0'/>` or `<failed/>`).
    Bind2 {
        /// The session being bound.
        session: FullJid,
        /// The element for `<bound/>`.
        element: Box<Element>,
    },
    /// A notification to a push service.
    Notification(OutgoingNotification),
}

impl Transmit {
    /// Where it goes: the session, or the push service.
    #[must_use]
    pub fn to(&self) -> Jid {
        match self {
            Self::Reply { to, .. } | Self::Bind2 { session: to, .. } => Jid::from(to.clone()),
            Self::Notification(n) => n.to.clone(),
        }
    }

    /// The element (a `<message/>` in `jabber:client` for a notification).
    #[must_use]
    pub fn into_element(self) -> Element {
        match self {
            Self::Reply { element, .. } | Self::Bind2 { element, .. } => *element,
            Self::Notification(n) => n.to_element(),
        }
    }
}

/// A notification on its way to a push service, with what it is about.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OutgoingNotification {
    /// The `<message/>` id, which an error bounce carries back.
    pub id: NotificationId,
    /// The account it is about.
    pub account: BareJid,
    /// The registration.
    pub key: RegistrationKey,
    /// The `from`: the account's domain.
    pub from: Jid,
    /// The push service.
    pub to: Jid,
    /// Which send this is (1 for the first; retries count up).
    pub attempt: u32,
    /// The notification (shared with the registry's retry queue).
    pub notification: Arc<Notification>,
}

impl OutgoingNotification {
    /// The `<message/>`.
    #[must_use]
    pub fn to_element(&self) -> Element {
        self.notification
            .to_message(Some(&self.from), &self.to, Some(self.id.as_str()))
    }
}

/// What `handle_*` made of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a stanza that is not ours must be routed or answered by the caller"]
#[non_exhaustive]
pub enum Incoming {
    /// Push 2.0 business, handled: drain `poll_transmit` and `poll_event`.
    Handled,
    /// Not Push 2.0 business (or about a notification this registry no longer holds): route
    /// or answer it as usual.
    NotOurs,
}

/// A delivery outcome the caller learned some other way than an error bounce.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Delivery {
    /// The push service took it.
    Delivered,
    /// The push service (or the route to it) failed with this error.
    Failed(Box<StanzaError>),
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

/// Why a registration was removed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DisableReason {
    /// The client sent `<disable/>` from this session.
    User {
        /// The session.
        by: FullJid,
    },
    /// Evicted to make room.
    Evicted {
        /// Which bound.
        bound: Bound,
    },
    /// Its notifications failed, without a success, since `since`, for at least
    /// [`RegistryConfig::disable_after`](crate::RegistryConfig::disable_after).
    Failing {
        /// The first failure since the last success.
        since: SystemTime,
        /// The last error.
        error: StanzaError,
    },
    /// The push service said the subscription is gone (`item-not-found` or `gone`, type
    /// `cancel`), with [`RegistryConfig::disable_on_gone`](crate::RegistryConfig::disable_on_gone).
    Gone {
        /// The error.
        error: StanzaError,
    },
    /// The caller removed the account ([`Registry::remove_account`](crate::Registry::remove_account)).
    AccountRemoved,
}

/// Why a notification was given up.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DiscardReason {
    /// An error whose type is not `wait`: never retried (the seed: "MUST NOT be
    /// automatically retried").
    Error(StanzaError),
    /// Every send was answered with a `wait` error; this is the last one.
    RetriesExhausted(StanzaError),
    /// Its registration was disabled or replaced before it was settled.
    Disabled,
    /// The table of pending notifications reached a bound.
    Evicted(Bound),
}

/// Something the application should know. Drain with
/// [`Registry::poll_event`](crate::Registry::poll_event) after every `&mut` call.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A registration was added, or replaced one with the same key. Once per accepted
    /// `<enable/>`.
    Enabled {
        /// The account.
        account: BareJid,
        /// The registration.
        key: RegistrationKey,
        /// Its push service.
        service: Jid,
        /// The session that enabled it.
        by: FullJid,
        /// Whether it replaced a registration with the same key.
        replaced: bool,
    },
    /// A registration was removed. Once per registration.
    Disabled {
        /// The account.
        account: BareJid,
        /// The registration.
        key: RegistrationKey,
        /// Its push service.
        service: Jid,
        /// Why.
        reason: DisableReason,
    },
    /// A notification was answered with a `wait` error and will be sent again after
    /// `delay` (the timer is in [`poll_timeout`](crate::Registry::poll_timeout)). Once per
    /// such answer.
    Retrying {
        /// The account.
        account: BareJid,
        /// The registration.
        key: RegistrationKey,
        /// The send that failed.
        id: NotificationId,
        /// The error.
        error: StanzaError,
        /// Sends so far.
        attempt: u32,
        /// Until the next send.
        delay: Duration,
    },
    /// A notification was delivered: reported by the caller (`acknowledged`), or no error
    /// came within [`RegistryConfig::outcome_window`](crate::RegistryConfig::outcome_window).
    /// Once per notification.
    Delivered {
        /// The account.
        account: BareJid,
        /// The registration.
        key: RegistrationKey,
        /// The last send.
        id: NotificationId,
        /// Sends it took.
        attempts: u32,
        /// Whether the caller reported it (rather than the window passing in silence).
        acknowledged: bool,
        /// When it was first sent.
        first_sent: SystemTime,
    },
    /// A notification was given up. Once per notification.
    Discarded {
        /// The account.
        account: BareJid,
        /// The registration.
        key: RegistrationKey,
        /// The last send.
        id: NotificationId,
        /// Why.
        reason: DiscardReason,
        /// Sends made.
        attempts: u32,
        /// When it was first sent.
        first_sent: SystemTime,
    },
    /// A stanza matched a registration but its notification could not be built (a budget
    /// too small for its MAM id; a crypto failure). Once per registration and stanza.
    NotBuilt {
        /// The account.
        account: BareJid,
        /// The registration.
        key: RegistrationKey,
        /// Why.
        error: BuildError,
    },
    /// The account's persisted state changed: store [`Registry::record`](crate::Registry::record)
    /// for it (`None`: delete the record).
    Changed {
        /// The account.
        account: BareJid,
    },
}
