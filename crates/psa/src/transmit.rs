//! What the tracker hands out to send: presences, each addressed.

use std::sync::Arc;

use jid::Jid;
use minidom::Element;
use xmpp_parsers::presence::Presence;

use crate::elements::{self, Condition, StateAnnotation};

/// What a [`Transmit`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransmitKind {
    /// A presence the watcher holds, re-sent with a stale annotation.
    Annotated(Condition),
    /// The same presence with the empty annotation: current again.
    Restored,
    /// A probe (XEP-0310 §4.1 "MAY subsequently attempt to refresh this presence by
    /// reprobing"), sent after the empty annotations when a down domain comes back: from a
    /// local account to a contact's bare JID, or from a room to an occupant's real JID.
    Probe,
}

/// A presence to send, from [`crate::Tracker::poll_transmit`]: route it like any presence the
/// server sends (to a local resource's stream, or over s2s to a remote JID). It is addressed:
/// its `to` is [`Transmit::to`], its `from` the entity whose presence it is (or the prober).
///
/// The presence is an xmpp-parsers [`Presence`] in `jabber:client`; a server writes it on an
/// s2s stream in `jabber:server` as it does every stanza it routes. It carries no `id`: it is
/// a new stanza made by the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Transmit {
    to: Jid,
    kind: TransmitKind,
    presence: Presence,
}

impl Transmit {
    pub(crate) fn annotated(
        to: Jid,
        stored: &Arc<Presence>,
        condition: Condition,
        annotation: &Element,
    ) -> Self {
        let mut presence = Presence::clone(stored);
        // Ours replaces whatever a trusted remote annotator said.
        let _ = StateAnnotation::remove_from(&mut presence);
        presence.to = Some(to.clone());
        presence.payloads.push(annotation.clone());
        Self {
            to,
            kind: TransmitKind::Annotated(condition),
            presence,
        }
    }

    pub(crate) fn restored(to: Jid, stored: &Arc<Presence>, annotation: &Element) -> Self {
        let mut presence = Presence::clone(stored);
        presence.to = Some(to.clone());
        // A presence that still carries a trusted remote annotator's stale annotation (a
        // remote MUC service said its occupant is paused) keeps it: that is the latest word
        // on its freshness, and ours is only that the link works again.
        if !presence.payloads.iter().any(elements::is_annotation) {
            presence.payloads.push(annotation.clone());
        }
        Self {
            to,
            kind: TransmitKind::Restored,
            presence,
        }
    }

    pub(crate) fn probe(from: Jid, to: Jid) -> Self {
        let presence = Presence::probe().with_from(from).with_to(to.clone());
        Self {
            to,
            kind: TransmitKind::Probe,
            presence,
        }
    }

    /// Where it goes: a local resource's full JID, or a remote JID.
    #[must_use]
    pub const fn to(&self) -> &Jid {
        &self.to
    }

    /// What it is.
    #[must_use]
    pub const fn kind(&self) -> &TransmitKind {
        &self.kind
    }

    /// The presence.
    #[must_use]
    pub const fn presence(&self) -> &Presence {
        &self.presence
    }

    /// The presence, owned.
    #[must_use]
    pub fn into_presence(self) -> Presence {
        self.presence
    }

    /// The presence as an element, ready to write ([`presence_element`]).
    #[must_use]
    pub fn into_element(self) -> Element {
        presence_element(self.presence)
    }
}

/// A presence as an element, without the `<priority>0</priority>` xmpp-parsers always
/// writes: RFC 6121 §4.7.2.3 makes an absent priority zero, and the XEP's examples have none.
#[must_use]
pub fn presence_element(presence: Presence) -> Element {
    let default_priority = presence.priority.0 == 0;
    let mut element = Element::from(presence);
    if default_priority {
        let ns = element.ns();
        let _ = element.remove_child("priority", ns.as_str());
    }
    element
}
