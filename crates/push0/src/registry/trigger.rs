//! What the caller reports as worth a push, and who gets it.

use jid::{BareJid, FullJid, Jid};
use minidom::Element;

use super::config::Privacy;
use crate::xml;

const CARBONS: &str = "urn:xmpp:carbons:2";
const FORWARD: &str = "urn:xmpp:forward:0";
const JINGLE_MESSAGE: &str = "urn:xmpp:jingle-message:0";
/// Namespaces of end-to-end encrypted payloads: OMEMO (legacy and current), XEP-0027, XEP-0373.
const ENCRYPTED: [(&str, &str); 5] = [
    ("encrypted", "eu.siacs.conversations.axolotl"),
    ("encrypted", "urn:xmpp:omemo:0"),
    ("encrypted", "urn:xmpp:omemo:2"),
    ("x", "jabber:x:encrypted"),
    ("openpgp", "urn:xmpp:openpgp:0"),
];

/// What happened that may warrant a push: the caller reports it with
/// [`Registry::notify`](crate::Registry::notify) when the user cannot be reached otherwise (no
/// session, or a hibernated one).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Trigger {
    /// What kind of event.
    pub kind: TriggerKind,
    /// Who caused it (a message's sender), for `last-message-sender`.
    pub sender: Option<Jid>,
    /// A message's body, for `last-message-body`.
    pub body: Option<String>,
    /// Whether the user should be woken for it: a message with a body, an encrypted one, a
    /// call proposal (Prosody's rules). Under [`Privacy::Placeholder`](crate::Privacy) only
    /// important triggers carry the placeholder body and end a hibernation extension.
    pub important: bool,
    /// Extra elements for the `<notification/>` (XEP-0357 §7: "Other elements MAY be
    /// included").
    pub payloads: Vec<Element>,
}

/// The kinds of [`Trigger`]: they decide which count of the summary goes up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TriggerKind {
    /// A message (counts in `message-count`).
    Message,
    /// A presence subscription request (counts in `pending-subscription-count`).
    SubscriptionRequest,
    /// A XEP-0353 call proposal (counts as a message; always important).
    CallProposal,
    /// Anything else (a chat state, a receipt, an outgoing carbon, a "ping"): pushed, counted
    /// nowhere, never important.
    Other,
}

impl Trigger {
    /// A message from `sender`; important when the body is not empty.
    #[must_use]
    pub fn message(sender: Jid, body: Option<String>) -> Self {
        let important = body.as_deref().is_some_and(|b| !b.is_empty());
        Self {
            kind: TriggerKind::Message,
            sender: Some(sender),
            body,
            important,
            payloads: Vec::new(),
        }
    }

    /// A subscription request from `from`.
    #[must_use]
    pub const fn subscription_request(from: Jid) -> Self {
        Self {
            kind: TriggerKind::SubscriptionRequest,
            sender: Some(from),
            body: None,
            important: false,
            payloads: Vec::new(),
        }
    }

    /// A call proposal from `from` (always important).
    #[must_use]
    pub const fn call_proposal(from: Jid) -> Self {
        Self {
            kind: TriggerKind::CallProposal,
            sender: Some(from),
            body: None,
            important: true,
            payloads: Vec::new(),
        }
    }

    /// Something else worth a (silent) push.
    #[must_use]
    pub const fn other() -> Self {
        Self {
            kind: TriggerKind::Other,
            sender: None,
            body: None,
            important: false,
            payloads: Vec::new(),
        }
    }

    /// Overrides [`Trigger::important`].
    #[must_use]
    pub const fn with_important(mut self, important: bool) -> Self {
        self.important = important;
        self
    }

    /// Adds a payload to the notification.
    #[must_use]
    pub fn with_payload(mut self, payload: Element) -> Self {
        self.payloads.push(payload);
        self
    }

    /// Classifies a stanza the way Prosody's mod_cloud_notify does; `None` for what is never
    /// worth a push (iqs, presences other than `subscribe`).
    ///
    /// - a carbon-copied message is read from inside its wrapper; one the user sent from
    ///   another device is [`TriggerKind::Other`];
    /// - a XEP-0353 `<propose/>` is a [`TriggerKind::CallProposal`];
    /// - a message with a body, or end-to-end encrypted, is an important
    ///   [`TriggerKind::Message`]; a headline or a groupchat subject change is an unimportant
    ///   one; one with neither body nor encryption (chat states, receipts) is
    ///   [`TriggerKind::Other`];
    /// - a `<presence type='subscribe'/>` is a [`TriggerKind::SubscriptionRequest`].
    #[must_use]
    pub fn from_stanza(stanza: &Element) -> Option<Self> {
        Self::classify(stanza, true, true)
    }

    /// [`Trigger::from_stanza`], keeping only what a notification may reveal under `privacy`
    /// ([`Privacy::reveals_sender`], [`Privacy::reveals_body`]): the sender's JID is parsed
    /// only when the summary names it, the body copied only when the summary carries it.
    /// Handed to a [`Registry`](crate::Registry) configured with `privacy`, the trigger
    /// makes the same publishes as one from `from_stanza`, for less work, and the server
    /// holds no message content it will not send.
    #[must_use]
    pub fn from_stanza_for(stanza: &Element, privacy: &Privacy) -> Option<Self> {
        Self::classify(stanza, privacy.reveals_sender(), privacy.reveals_body())
    }

    fn classify(stanza: &Element, keep_sender: bool, keep_body: bool) -> Option<Self> {
        if xml::is_stanza(stanza, "presence") {
            return (stanza.attr("type") == Some("subscribe"))
                .then(|| Self::subscription_request_from(stanza, keep_sender));
        }
        if !xml::is_stanza(stanza, "message") {
            return None;
        }
        let (message, outgoing) = unwrap_carbon(stanza);
        if outgoing {
            return Some(Self::other());
        }
        let sender = keep_sender
            .then(|| message.attr("from").and_then(|f| f.parse::<Jid>().ok()))
            .flatten();
        if message.has_child("propose", JINGLE_MESSAGE) {
            return Some(Self {
                kind: TriggerKind::CallProposal,
                sender,
                body: None,
                important: true,
                payloads: Vec::new(),
            });
        }
        let ns = xml::stanza_ns(message);
        let body_element = message.children().find(|c| c.is("body", ns));
        // Whether the body has text, without copying it when it is not kept.
        let has_body = body_element.is_some_and(|b| b.texts().any(|t| !t.is_empty()));
        let body = body_element
            .filter(|_| keep_body && has_body)
            .map(Element::text);
        let encrypted = ENCRYPTED.iter().any(|(n, s)| message.has_child(*n, *s));
        if !has_body && !encrypted {
            return Some(Self::other());
        }
        let kind = message.attr("type");
        let unimportant = kind == Some("headline")
            || (kind == Some("groupchat") && message.has_child("subject", ns));
        Some(Self {
            kind: TriggerKind::Message,
            sender,
            body,
            important: !unimportant,
            payloads: Vec::new(),
        })
    }

    fn subscription_request_from(presence: &Element, keep_sender: bool) -> Self {
        Self {
            kind: TriggerKind::SubscriptionRequest,
            sender: keep_sender
                .then(|| presence.attr("from").and_then(|f| f.parse::<Jid>().ok()))
                .flatten(),
            body: None,
            important: false,
            payloads: Vec::new(),
        }
    }
}

/// The message inside a XEP-0280 carbon, and whether it is one the user sent.
fn unwrap_carbon(message: &Element) -> (&Element, bool) {
    for (wrapper, outgoing) in [("received", false), ("sent", true)] {
        let inner = message
            .get_child(wrapper, CARBONS)
            .and_then(|w| w.get_child("forwarded", FORWARD))
            .and_then(|f| f.children().find(|c| xml::is_stanza(c, "message")));
        if let Some(inner) = inner {
            return (inner, outgoing);
        }
    }
    (message, false)
}

/// Whose registrations a trigger goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// Every registration of the account: the user has no session (an offline message, as
    /// Prosody's `message/offline` and ejabberd's `offline_message` hooks).
    Account(BareJid),
    /// The registrations enabled from this session: it is hibernated (XEP-0198), and what
    /// queues up in it is what the user misses (Prosody and ejabberd push per session).
    Session(FullJid),
}

impl Target {
    /// The account.
    #[must_use]
    pub fn account(&self) -> BareJid {
        match self {
            Self::Account(a) => a.clone(),
            Self::Session(s) => s.to_bare(),
        }
    }
}
