//! The app server side of XEP-0357: an XMPP Push Service that accepts publishes for the nodes
//! it issued (XEP-0357 §3, §7) and hands their summaries to the application.

mod store;

use std::collections::VecDeque;
use std::time::SystemTime;

use jid::{BareJid, Jid};
use minidom::Element;
use minidom::rxml::xml_ncname;
use rand_core::CryptoRng;
use xmpp_parsers::stanza_error::StanzaError;
use xmpp_tether_core::Now;

pub use self::store::{NodeCredentials, NodeRecord, NodeStore, NodeStoreConfig, Secret};
use crate::elements::{AffiliationChange, Publish, Summary, disco};
use crate::error::PublishError;
use crate::ns;
use crate::xml;

/// Configuration of an [`AppServer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct AppServerConfig {
    /// Limits of the node store.
    pub store: NodeStoreConfig,
    /// Who may publish.
    pub publishers: Publishers,
}

/// Who may publish to an app server's nodes (besides holding the node's secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Publishers {
    /// Servers and bare JIDs only (XEP-0357 §3.2: 0.2.1 "MAY opt to only accept ... publish
    /// requests from bare JIDs", 0.3+ "from server JIDs and bare user JIDs"): a full JID, that
    /// is some client application, is `forbidden`.
    #[default]
    ServersAndBareJids,
    /// Anyone holding the secret.
    Anyone,
}

/// A notification the app server accepted: forward it to the device (APNs, FCM, UnifiedPush,
/// ...).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Received {
    /// The node published to.
    pub node: String,
    /// The node's owner, as given to [`AppServer::create_node`].
    pub owner: String,
    /// Who published (the user's server in XEP-0357 0.3+, the user's bare JID in 0.2.1).
    pub publisher: Jid,
    /// The summary, if the publish carried one.
    pub summary: Option<Summary>,
    /// The notification's other payloads.
    pub payloads: Vec<Element>,
    /// When it was accepted.
    pub received_at: SystemTime,
}

/// Something the application should know. Drain with [`AppServer::poll_event`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AppEvent {
    /// A publish was accepted (once per publish).
    Notification(Received),
    /// A node was evicted to make room for a new one (the store reached a bound): publishes
    /// to it will now get `item-not-found`. Fires once per node.
    NodeEvicted(NodeRecord),
}

/// What [`AppServer::handle_stanza`] made of a stanza.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a stanza that is not ours must be answered by the caller"]
#[non_exhaustive]
pub enum AppIncoming {
    /// A publish or a disco#info query, answered in `poll_transmit`.
    Handled,
    /// Anything else: the caller's business (answer unknown iqs `service-unavailable`).
    NotOurs,
}

/// A stanza to write, addressed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AppTransmit {
    /// Where it goes.
    pub to: Jid,
    /// The stanza (`jabber:client`; write it in the stream's namespace).
    pub element: Element,
}

/// A XEP-0357 push service: issues nodes with secrets, accepts publishes that name one and
/// carry its secret (compared in constant time), and answers everything else a publish can
/// get wrong with the XEP-0060 error.
///
/// Methods, by kind:
/// - getters: [`jid`](Self::jid), [`store`](Self::store);
/// - input: [`handle_stanza`](Self::handle_stanza);
/// - commands: [`create_node`](Self::create_node), [`retire_node`](Self::retire_node);
/// - output: [`poll_transmit`](Self::poll_transmit), [`poll_event`](Self::poll_event).
///
/// It keeps no timers. **After every `&mut` call, drain `poll_transmit` (write each stanza,
/// in order), then `poll_event`.**
#[derive(Debug)]
pub struct AppServer {
    jid: Jid,
    config: AppServerConfig,
    store: NodeStore,
    transmit: VecDeque<AppTransmit>,
    events: VecDeque<AppEvent>,
}

impl AppServer {
    /// A push service at `jid` (a component's domain, usually) with an empty store.
    #[must_use]
    pub fn new(jid: Jid, config: AppServerConfig) -> Self {
        Self::with_store(jid, config, NodeStore::new(config.store))
    }

    /// A push service with a store read back from persistence ([`NodeStore::restore`]).
    #[must_use]
    pub fn with_store(jid: Jid, config: AppServerConfig, store: NodeStore) -> Self {
        Self {
            jid,
            config,
            store,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The service's JID.
    #[must_use]
    pub const fn jid(&self) -> &Jid {
        &self.jid
    }

    /// The node store (to persist [`NodeStore::records`]).
    #[must_use]
    pub const fn store(&self) -> &NodeStore {
        &self.store
    }

    /// Issues a node with a fresh secret (from `rng`) for `owner`, the app's own name of the
    /// device or user. Nodes evicted to make room are reported ([`AppEvent::NodeEvicted`]).
    pub fn create_node(
        &mut self,
        now: Now,
        rng: &mut impl CryptoRng,
        owner: &str,
    ) -> NodeCredentials {
        let (credentials, evicted) = self.store.create(now.wall(), rng, owner);
        self.events
            .extend(evicted.into_iter().map(AppEvent::NodeEvicted));
        credentials
    }

    /// Retires a node: later publishes get `item-not-found`. With `notify`, the user's bare
    /// JID, also queues the XEP-0357 §8 affiliation change notice so the user's server stops
    /// publishing at once. Returns whether the node existed.
    pub fn retire_node(&mut self, _now: Now, node: &str, notify: Option<&BareJid>) -> bool {
        let existed = self.store.remove(node).is_some();
        if let (true, Some(user)) = (existed, notify) {
            let notice = AffiliationChange::revoked(node, Jid::from(user.clone()))
                .to_message(&self.jid, user);
            self.transmit.push_back(AppTransmit {
                to: user.clone().into(),
                element: notice,
            });
        }
        existed
    }

    /// Handles a stanza addressed to the service: a publish (answered with a result or the
    /// error below) or a disco#info query (answered with identity `pubsub/push`, XEP-0357
    /// §4.2). Anything else is [`AppIncoming::NotOurs`].
    ///
    /// # Errors
    /// [`PublishError`] when a publish was refused; its error reply is queued.
    pub fn handle_stanza(
        &mut self,
        now: Now,
        stanza: &Element,
    ) -> Result<AppIncoming, PublishError> {
        if !xml::is_stanza(stanza, "iq") {
            return Ok(AppIncoming::NotOurs);
        }
        let (Some(id), Some(from)) = (
            stanza.attr("id"),
            stanza.attr("from").and_then(|f| f.parse::<Jid>().ok()),
        ) else {
            return Ok(AppIncoming::NotOurs);
        };
        match stanza.attr("type") {
            Some("get") => {
                let is_info = stanza
                    .get_child("query", ns::DISCO_INFO)
                    .is_some_and(|q| q.attr("node").is_none());
                if !is_info {
                    return Ok(AppIncoming::NotOurs);
                }
                let mut reply = self.reply(id, &from, None);
                reply.append_child(disco::push_service_info().into());
                self.transmit.push_back(AppTransmit {
                    to: from,
                    element: reply,
                });
                Ok(AppIncoming::Handled)
            }
            Some("set") => {
                let Some(pubsub) = stanza.get_child("pubsub", ns::PUBSUB) else {
                    return Ok(AppIncoming::NotOurs);
                };
                if !pubsub.has_child("publish", ns::PUBSUB) {
                    return Ok(AppIncoming::NotOurs);
                }
                let outcome = self.publish(now, &from, pubsub);
                let reply = match &outcome {
                    Ok(()) => self.reply(id, &from, None),
                    Err(e) => self.reply(id, &from, Some(e)),
                };
                self.transmit.push_back(AppTransmit {
                    to: from,
                    element: reply,
                });
                outcome.map(|()| AppIncoming::Handled)
            }
            _ => Ok(AppIncoming::NotOurs),
        }
    }

    fn publish(&mut self, now: Now, from: &Jid, pubsub: &Element) -> Result<(), PublishError> {
        let publish = Publish::try_from(pubsub)?;
        if self.config.publishers == Publishers::ServersAndBareJids && from.is_full() {
            return Err(PublishError::PublisherNotAllowed { from: from.clone() });
        }
        let node = publish.node.ok_or(PublishError::NodeRequired)?;
        let Some(record) = self.store.get(&node) else {
            return Err(PublishError::UnknownNode { node });
        };
        let Some(secret) = publish.publish_options.as_ref().and_then(|o| o.secret()) else {
            return Err(PublishError::MissingSecret { node });
        };
        if !record.secret.matches(secret) {
            return Err(PublishError::WrongSecret { node });
        }
        let owner = record.owner.clone();
        self.store.touch(&node, now.wall());
        self.events.push_back(AppEvent::Notification(Received {
            node,
            owner,
            publisher: from.clone(),
            summary: publish.notification.summary,
            payloads: publish.notification.payloads,
            received_at: now.wall(),
        }));
        Ok(())
    }

    fn reply(&self, id: &str, to: &Jid, error: Option<&PublishError>) -> Element {
        let mut iq = Element::bare("iq", ns::JABBER_CLIENT);
        let kind = if error.is_some() { "error" } else { "result" };
        xml::set(&mut iq, xml_ncname!("type"), kind);
        xml::set(&mut iq, xml_ncname!("id"), id);
        xml::set(&mut iq, xml_ncname!("from"), self.jid.as_str());
        xml::set(&mut iq, xml_ncname!("to"), to.as_str());
        if let Some(e) = error {
            let mut error = StanzaError::new(e.error_type(), e.condition(), "en", e.to_string());
            if matches!(e, PublishError::NodeRequired) {
                error.other = Some(Element::bare("nodeid-required", ns::PUBSUB_ERRORS));
            }
            iq.append_child(error.into());
        }
        iq
    }

    /// The next stanza to write.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<AppTransmit> {
        self.transmit.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<AppEvent> {
        self.events.pop_front()
    }

    /// Checks the store's invariants (tests and fuzzing).
    #[cfg(any(test, feature = "__fuzzing"))]
    #[doc(hidden)]
    pub fn assert_invariants(&self) {
        self.store.assert_invariants();
    }
}
