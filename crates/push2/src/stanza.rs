//! What the server tells the registry about a stanza routed to an account, and what the
//! registry makes of the stanza itself ([`Classification`]).

use core::fmt;

use jid::{BareJid, FullJid};
use minidom::Element;
use xmpp_tether_core::Monotonic;

use crate::elements::Priority;
use crate::ns;
use crate::xml;

/// Which registration of an account a session's commands and state belong to: the client's
/// SASL2 user-agent id (XEP-0388 `<user-agent id=''/>`) when it gave one, else its resource
/// (as mod_push2: `origin.client_id or origin.resource`). With a user-agent id a client keeps
/// its registration across resources; without one, each resource has its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum RegistrationKey {
    /// The SASL2 user-agent id.
    UserAgent(String),
    /// The bound resource.
    Resource(String),
}

impl fmt::Display for RegistrationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UserAgent(id) => write!(f, "user-agent {id}"),
            Self::Resource(r) => write!(f, "resource {r}"),
        }
    }
}

/// The session a command comes from: its full JID and, if it logged in with SASL2, its
/// user-agent id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Device {
    /// The session's full JID.
    pub jid: FullJid,
    /// The SASL2 `<user-agent id=''/>`.
    pub user_agent: Option<String>,
}

impl Device {
    /// A session without a SASL2 user-agent id.
    #[must_use]
    pub const fn new(jid: FullJid) -> Self {
        Self {
            jid,
            user_agent: None,
        }
    }

    /// With the SASL2 user-agent id (an empty one is ignored).
    #[must_use]
    pub fn with_user_agent(mut self, id: impl Into<String>) -> Self {
        let id = id.into();
        self.user_agent = (!id.is_empty()).then_some(id);
        self
    }

    /// The registration key of this session.
    #[must_use]
    pub fn key(&self) -> RegistrationKey {
        self.user_agent.as_ref().map_or_else(
            || RegistrationKey::Resource(self.jid.resource().to_string()),
            |id| RegistrationKey::UserAgent(id.clone()),
        )
    }
}

/// Where a session of the account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionStatus {
    /// Connected: stanzas reach it, so its registration is not pushed to (calls excepted,
    /// see [`RegistryConfig::calls_reach_live_sessions`](crate::RegistryConfig)).
    Live,
    /// Hibernated (XEP-0198): its stanzas are queued, so its registration is pushed to.
    Hibernated,
}

/// One session of the account, as the server sees it when it routes a stanza.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionState {
    /// Its registration key ([`Device::key`]).
    pub key: RegistrationKey,
    /// Live or hibernated.
    pub status: SessionStatus,
    /// When the user last did something on it (sent a message or a chat state, as
    /// mod_push2 counts), on the monotonic clock: what `<grace/>` periods look at.
    pub last_activity: Option<Monotonic>,
}

impl SessionState {
    /// A session in `status` with no recorded activity.
    #[must_use]
    pub const fn new(key: RegistrationKey, status: SessionStatus) -> Self {
        Self {
            key,
            status,
            last_activity: None,
        }
    }

    /// With the time of the user's last activity on it.
    #[must_use]
    pub const fn with_last_activity(mut self, at: Monotonic) -> Self {
        self.last_activity = Some(at);
        self
    }
}

/// A stanza routed to an account, with the context only the server knows. Registrations with
/// no session in [`Routed::sessions`] belong to clients that are offline.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Routed<'a> {
    /// The account.
    pub account: &'a BareJid,
    /// The stanza, as it will be (or would have been) delivered.
    pub stanza: &'a Element,
    /// The id under which it was stored in the account's archive (XEP-0313), if it was.
    pub archive_id: Option<&'a str>,
    /// The account's sessions.
    pub sessions: &'a [SessionState],
    /// For a groupchat message, the account's nickname in that room (to recognise its own
    /// reflections, mentions of it and replies to it).
    pub room_nick: Option<&'a str>,
}

impl<'a> Routed<'a> {
    /// A stanza for `account`, not archived, with no sessions and no room nickname.
    #[must_use]
    pub const fn new(account: &'a BareJid, stanza: &'a Element) -> Self {
        Self {
            account,
            stanza,
            archive_id: None,
            sessions: &[],
            room_nick: None,
        }
    }

    /// Archived under `id`.
    #[must_use]
    pub const fn with_archive_id(mut self, id: &'a str) -> Self {
        self.archive_id = Some(id);
        self
    }

    /// The account's sessions.
    #[must_use]
    pub const fn with_sessions(mut self, sessions: &'a [SessionState]) -> Self {
        self.sessions = sessions;
        self
    }

    /// The account's nickname in the room a groupchat message comes from.
    #[must_use]
    pub const fn with_room_nick(mut self, nick: &'a str) -> Self {
        self.room_nick = Some(nick);
        self
    }

    /// The stanza whose content matters: a carbon's forwarded message (XEP-0280), else the
    /// stanza itself.
    #[must_use]
    pub fn content(&self) -> &'a Element {
        carbon(self.stanza).map_or(self.stanza, |(_, inner)| inner)
    }
}

/// What kind of stanza it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StanzaKind {
    /// `<message/>`.
    Message,
    /// `<presence/>`.
    Presence,
    /// `<iq/>`.
    Iq,
    /// Anything else (not a stanza).
    Other,
}

/// What the registry reads from a stanza once, before looking at any registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Classification {
    /// The kind of stanza.
    pub kind: StanzaKind,
    /// A XEP-0353 `<propose/>`: a call.
    pub call_proposal: bool,
    /// A non-empty `<body/>`.
    pub body: bool,
    /// An end-to-end encrypted payload: OMEMO (`eu.siacs.conversations.axolotl`,
    /// `urn:xmpp:omemo:0`, `urn:xmpp:omemo:2`), OpenPGP (`urn:xmpp:openpgp:0`) or legacy PGP
    /// (`jabber:x:encrypted`).
    pub encrypted: bool,
    /// `<message type='groupchat'/>`.
    pub groupchat: bool,
    /// A `headline` or `error` message.
    pub headline_or_error: bool,
    /// A XEP-0308 correction.
    pub correction: bool,
    /// A carbon copy of a message the user sent from another client (XEP-0280 `<sent/>`).
    pub sent_carbon: bool,
    /// The user's own message reflected by a room (from the user's nickname).
    pub own_reflection: bool,
    /// Stored in the archive.
    pub archived: bool,
}

impl Classification {
    /// Reads `routed`'s stanza (unwrapping carbons).
    #[must_use]
    pub fn of(routed: &Routed<'_>) -> Self {
        let outer = routed.stanza;
        let sent_carbon = matches!(carbon(outer), Some((Carbon::Sent, _)));
        let stanza = routed.content();
        let kind = if xml::is_stanza(stanza, "message") {
            StanzaKind::Message
        } else if xml::is_stanza(stanza, "presence") {
            StanzaKind::Presence
        } else if xml::is_stanza(stanza, "iq") {
            StanzaKind::Iq
        } else {
            StanzaKind::Other
        };
        let mut c = Self {
            kind,
            call_proposal: false,
            body: false,
            encrypted: false,
            groupchat: false,
            headline_or_error: false,
            correction: false,
            sent_carbon,
            own_reflection: false,
            archived: routed.archive_id.is_some(),
        };
        if kind != StanzaKind::Message {
            return c;
        }
        let message_type = stanza.attr("type");
        c.groupchat = message_type == Some("groupchat");
        c.headline_or_error = matches!(message_type, Some("headline" | "error"));
        if c.groupchat
            && let (Some(nick), Some(from)) = (routed.room_nick, stanza.attr("from"))
        {
            c.own_reflection = from.split_once('/').is_some_and(|(_, r)| r == nick);
        }
        for child in stanza.children() {
            match child.name() {
                "body" if xml::in_stanza_ns(child) => {
                    c.body |= child.texts().any(|t| !t.trim().is_empty());
                }
                "propose" if child.has_ns(ns::JINGLE_MESSAGE) => c.call_proposal = true,
                "replace" if child.has_ns(ns::CORRECTION) => c.correction = true,
                _ if ENCRYPTED.iter().any(|n| child.has_ns(*n)) => c.encrypted = true,
                _ => {}
            }
        }
        c
    }

    /// Important, as this crate defines it for the `important` profile and priorities: a
    /// message that is not a headline or error, not a carbon of the user's own message, not
    /// the user's own reflection from a room and not a correction, and that carries a body,
    /// an encrypted payload or a call proposal. Receipts, chat states and markers carry none
    /// of these; presence and iq stanzas are never important.
    #[must_use]
    pub const fn is_important(&self) -> bool {
        matches!(self.kind, StanzaKind::Message)
            && !self.headline_or_error
            && !self.sent_carbon
            && !self.own_reflection
            && !self.correction
            && (self.body || self.encrypted || self.call_proposal)
    }

    /// A call the device should ring for: a proposal that is not the user's own.
    #[must_use]
    pub const fn is_call(&self) -> bool {
        self.call_proposal && !self.sent_carbon && !self.headline_or_error
    }

    /// The body test of `archived-with-body`: a body, or an encrypted payload (whose body may
    /// be a fallback or absent).
    #[must_use]
    pub const fn has_content(&self) -> bool {
        self.body || self.encrypted
    }

    /// The notification's priority: calls `high`, important stanzas `normal`, the rest `low`.
    #[must_use]
    pub const fn priority(&self) -> Priority {
        if self.is_call() {
            Priority::High
        } else if self.is_important() {
            Priority::Normal
        } else {
            Priority::Low
        }
    }
}

/// The namespaces of end-to-end encrypted payloads.
const ENCRYPTED: [&str; 5] = [
    ns::OMEMO_LEGACY,
    ns::OMEMO_0,
    ns::OMEMO_2,
    ns::PGP_LEGACY,
    ns::OPENPGP,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Carbon {
    Received,
    Sent,
}

/// A XEP-0280 carbon's direction and forwarded message.
fn carbon(stanza: &Element) -> Option<(Carbon, &Element)> {
    if !xml::is_stanza(stanza, "message") {
        return None;
    }
    for child in stanza.children().filter(|c| c.has_ns(ns::CARBONS)) {
        let direction = match child.name() {
            "received" => Carbon::Received,
            "sent" => Carbon::Sent,
            _ => continue,
        };
        let inner = child
            .get_child("forwarded", ns::FORWARD)
            .and_then(|f| f.children().find(|m| xml::is_stanza(m, "message")))?;
        return Some((direction, inner));
    }
    None
}
