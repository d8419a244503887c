//! Classifying a `pubsub#event` message: which node, which kind of event.

use minidom::Element;
use xmpp_parsers::ns;
use xmpp_parsers::pubsub::event::{Event, Payload};

use crate::error::ClassifyError;

/// The kind of a PubSub event notification (XEP-0060 §7, §8), as the filters see it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// `<items>` with `<item>` children and no `<retract>`: new or updated items (XEP-0060
    /// §7.1.2.1). An `<items>` with no child at all counts as this too. Implied by `+notify`.
    Publish,
    /// `<items>` with only `<retract>` children (XEP-0060 §7.2.2.1): the `retract` token.
    Retract,
    /// `<items>` with both `<item>` and `<retract>` children: delivered if either part is
    /// wanted (XEP-0060 does not forbid the mix; XEP-0351 is silent).
    PublishAndRetract,
    /// `<delete>` (XEP-0060 §8.4.3): the `delete` token.
    Delete,
    /// `<purge>` (XEP-0060 §8.5.3): no token of its own in XEP-0351; see
    /// [`PurgeRule`](crate::PurgeRule).
    Purge,
    /// `<configuration>` (XEP-0060 §8.2.4): the `config` token.
    Config,
    /// `<subscription>` (XEP-0060 §8.8.4): the `sub` token.
    Subscription,
    /// `<collection>` (XEP-0248 association and disassociation, not modelled by xmpp-parsers):
    /// no token of its own; see [`CollectionRule`](crate::CollectionRule).
    Collection,
    /// A child of `<event/>` no specification above defines, by its element name; see
    /// [`UnknownKindRule`](crate::UnknownKindRule).
    Unknown(Box<str>),
}

impl EventKind {
    /// The element name inside `<event/>` (`items` for the three item kinds).
    #[must_use]
    pub fn element_name(&self) -> &str {
        match self {
            Self::Publish | Self::Retract | Self::PublishAndRetract => "items",
            Self::Delete => "delete",
            Self::Purge => "purge",
            Self::Config => "configuration",
            Self::Subscription => "subscription",
            Self::Collection => "collection",
            Self::Unknown(name) => name,
        }
    }
}

/// A classified notification: the node it is about and its kind. Everything the fan-out
/// decision needs; the message itself stays with the caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notification {
    node: Box<str>,
    kind: EventKind,
    payload_ns: Option<Box<str>>,
}

impl Notification {
    /// A notification of `kind` about `node`.
    #[must_use]
    pub fn new(node: &str, kind: EventKind) -> Self {
        Self {
            node: node.into(),
            kind,
            payload_ns: None,
        }
    }

    /// This notification with the namespace its items' payloads share (see
    /// [`PayloadMatch`](crate::PayloadMatch)).
    #[must_use]
    pub fn with_payload_ns(mut self, ns: &str) -> Self {
        self.payload_ns = Some(ns.into());
        self
    }

    /// The node id (the collection's for [`EventKind::Collection`]; empty for the root
    /// collection, or for an unknown kind that names no node).
    #[must_use]
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The kind of event.
    #[must_use]
    pub const fn kind(&self) -> &EventKind {
        &self.kind
    }

    /// The namespace every published item's payload is in, if they share one (PEP nodes are
    /// named after it, XEP-0163 §2.2; generic PubSub nodes are not, as in XEP-0351's
    /// Example 1).
    #[must_use]
    pub fn payload_ns(&self) -> Option<&str> {
        self.payload_ns.as_deref()
    }

    /// Classifies an event already parsed by xmpp-parsers.
    #[must_use]
    pub fn from_event(event: &Event) -> Self {
        let kind = match &event.payload {
            Payload::Items {
                published,
                retracted,
                ..
            } => match (published.is_empty(), retracted.is_empty()) {
                (_, true) => EventKind::Publish,
                (true, false) => EventKind::Retract,
                (false, false) => EventKind::PublishAndRetract,
            },
            Payload::Delete { .. } => EventKind::Delete,
            Payload::Purge { .. } => EventKind::Purge,
            Payload::Configuration { .. } => EventKind::Config,
            Payload::Subscription { .. } => EventKind::Subscription,
        };
        let mut notification = Self::new(&event.payload.node_name().0, kind);
        if let Payload::Items { published, .. } = &event.payload {
            let mut namespaces = published
                .iter()
                .filter_map(|i| i.payload.as_ref())
                .map(Element::ns);
            if let Some(first) = namespaces.next()
                && namespaces.all(|ns| ns == first)
            {
                notification.payload_ns = Some(first.into());
            }
        }
        notification
    }

    /// Classifies a stanza. `Ok(None)` if it is not a notification: not a `<message/>` (in
    /// `jabber:client` or `jabber:server`), a message of type `error` (a bounce is never fanned
    /// out), or a message without a `pubsub#event` child.
    ///
    /// # Errors
    /// [`ClassifyError`] if the `<event/>` is malformed: more than one, without exactly one
    /// child, or a child that xmpp-parsers rejects. Such a message is delivered to nobody.
    pub fn classify(stanza: &Element) -> Result<Option<Self>, ClassifyError> {
        let is_message = stanza.is("message", ns::JABBER_CLIENT)
            || stanza.is("message", crate::ns::JABBER_SERVER);
        if !is_message || stanza.attr("type") == Some("error") {
            return Ok(None);
        }
        let mut events = stanza
            .children()
            .filter(|c| c.is("event", ns::PUBSUB_EVENT));
        let Some(event) = events.next() else {
            return Ok(None);
        };
        if events.next().is_some() {
            return Err(ClassifyError::SeveralEvents);
        }
        Self::from_event_element(event).map(Some)
    }

    /// Classifies an `<event xmlns='http://jabber.org/protocol/pubsub#event'/>` element.
    ///
    /// # Errors
    /// As [`Notification::classify`]; also [`ClassifyError::NotAnEvent`] for another element.
    pub fn from_event_element(event: &Element) -> Result<Self, ClassifyError> {
        if !event.is("event", ns::PUBSUB_EVENT) {
            return Err(ClassifyError::NotAnEvent);
        }
        let mut children = event.children();
        let child = children.next().ok_or(ClassifyError::NoPayload)?;
        if children.next().is_some() {
            return Err(ClassifyError::SeveralPayloads);
        }
        if child.ns() != ns::PUBSUB_EVENT {
            return Ok(Self::new(
                child.attr("node").unwrap_or_default(),
                EventKind::Unknown(child.name().into()),
            ));
        }
        match child.name() {
            "items" | "delete" | "purge" | "configuration" | "subscription" => {}
            // XEP-0248 / early XEP-0060: <collection node='c'><associate|node .../></collection>.
            "collection" => {
                return Ok(Self::new(
                    child.attr("node").unwrap_or_default(),
                    EventKind::Collection,
                ));
            }
            other => {
                return Ok(Self::new(
                    child.attr("node").unwrap_or_default(),
                    EventKind::Unknown(other.into()),
                ));
            }
        }
        let parsed = Event::try_from(event.clone()).map_err(|e| ClassifyError::Malformed {
            element: known_name(child.name()),
            reason: e.to_string(),
        })?;
        Ok(Self::from_event(&parsed))
    }
}

fn known_name(name: &str) -> &'static str {
    match name {
        "items" => "items",
        "delete" => "delete",
        "purge" => "purge",
        "configuration" => "configuration",
        _ => "subscription",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(xml: &str) -> Result<Option<Notification>, ClassifyError> {
        let element: Element = xml.parse().map_err(|_| ClassifyError::NotAnEvent)?;
        Notification::classify(&element)
    }

    #[test]
    fn xep0351_example_1_is_a_publish() {
        // XEP-0351 §3.2 Example 1 (first message; the namespace is added, as on a stream).
        let n = classify(
            "<message xmlns='jabber:client' from='user@example.net' to='user1@example.com'>\
             <event xmlns='http://jabber.org/protocol/pubsub#event'>\
             <items node='n48ad4fj78zn38st734'><item id='i1s2d3f4g5h6bjeh936'>\
             <geoloc xmlns='http://jabber.org/protocol/geoloc'><description>Venice</description>\
             <lat>45.44</lat><lon>12.33</lon></geoloc></item></items></event></message>",
        );
        assert_eq!(
            n,
            Ok(Some(
                Notification::new("n48ad4fj78zn38st734", EventKind::Publish)
                    .with_payload_ns("http://jabber.org/protocol/geoloc")
            ))
        );
    }

    #[test]
    fn kinds() {
        let event = |inner: &str| {
            classify(&format!(
                "<message xmlns='jabber:server'><event \
                 xmlns='http://jabber.org/protocol/pubsub#event'>{inner}</event></message>"
            ))
        };
        let kind = |inner: &str| event(inner).map(|n| n.map(|n| n.kind().clone()));
        assert_eq!(
            kind("<items node='n'><retract id='a'/></items>"),
            Ok(Some(EventKind::Retract))
        );
        assert_eq!(
            kind("<items node='n'><item id='b'/><retract id='a'/></items>"),
            Ok(Some(EventKind::PublishAndRetract))
        );
        assert_eq!(kind("<items node='n'/>"), Ok(Some(EventKind::Publish)));
        assert_eq!(kind("<delete node='n'/>"), Ok(Some(EventKind::Delete)));
        assert_eq!(kind("<purge node='n'/>"), Ok(Some(EventKind::Purge)));
        assert_eq!(
            kind("<configuration node='n'/>"),
            Ok(Some(EventKind::Config))
        );
        assert_eq!(
            kind("<subscription node='n' jid='a@b' subscription='subscribed'/>"),
            Ok(Some(EventKind::Subscription))
        );
        assert_eq!(
            event("<collection node='c'><associate node='n'/></collection>"),
            Ok(Some(Notification::new("c", EventKind::Collection)))
        );
        assert_eq!(
            event("<future node='n'/>"),
            Ok(Some(Notification::new(
                "n",
                EventKind::Unknown("future".into())
            )))
        );
        assert!(matches!(
            event("<purge/>"),
            Err(ClassifyError::Malformed {
                element: "purge",
                ..
            })
        ));
        assert_eq!(event(""), Err(ClassifyError::NoPayload));
        assert_eq!(
            event("<purge node='a'/><purge node='b'/>"),
            Err(ClassifyError::SeveralPayloads)
        );
    }

    #[test]
    fn not_notifications() {
        assert_eq!(
            classify("<message xmlns='jabber:client'><body>hi</body></message>"),
            Ok(None)
        );
        assert_eq!(
            classify(
                "<message xmlns='jabber:client' type='error'><event \
                 xmlns='http://jabber.org/protocol/pubsub#event'><purge node='n'/></event></message>"
            ),
            Ok(None)
        );
        assert_eq!(classify("<presence xmlns='jabber:client'/>"), Ok(None));
        assert_eq!(
            classify(
                "<message xmlns='jabber:client'><event xmlns='http://jabber.org/protocol/pubsub#event'>\
                 <purge node='a'/></event><event xmlns='http://jabber.org/protocol/pubsub#event'>\
                 <purge node='b'/></event></message>"
            ),
            Err(ClassifyError::SeveralEvents)
        );
    }
}
