//! The PEP service's iqs (XEP-0060 as XEP-0163 uses it): publish, retract, purge, delete
//! and items retrieval, each refused with XEP-0060's error for its case.

use std::collections::{BTreeMap, VecDeque};

use xmpp_tether::Now;
use xmpp_tether::jid::{BareJid, FullJid};
use xmpp_tether::minidom::Element;
use xmpp_tether::xmpp_parsers::ns;
use xmpp_tether::xmpp_parsers::pubsub::event::{Event, Payload};
use xmpp_tether::xmpp_parsers::pubsub::owner::{self, Owner};
use xmpp_tether::xmpp_parsers::pubsub::pubsub::{self as ps, PubSub};
use xmpp_tether::xmpp_parsers::pubsub::{ItemId, NodeName};
use xmpp_tether::xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

use super::node::{Access, Item, Node, Wanted, items_event};
use super::{MAX_ACCOUNT_BYTES, MAX_NODES, Outbox};
use crate::state::{Shared, lock};
use crate::xml;

/// What an iq handled here is refused with (XEP-0060's error cases).
pub(crate) struct Refusal {
    kind: ErrorType,
    condition: DefinedCondition,
    /// The `pubsub#errors` child, if any.
    pubsub: Option<&'static str>,
}

const fn refuse(kind: ErrorType, condition: DefinedCondition) -> Refusal {
    Refusal {
        kind,
        condition,
        pubsub: None,
    }
}

const fn refuse_with(
    kind: ErrorType,
    condition: DefinedCondition,
    pubsub: &'static str,
) -> Refusal {
    Refusal {
        kind,
        condition,
        pubsub: Some(pubsub),
    }
}

const FORBIDDEN: Refusal = refuse(ErrorType::Auth, DefinedCondition::Forbidden);
const NOT_FOUND: Refusal = refuse(ErrorType::Cancel, DefinedCondition::ItemNotFound);
const UNSUPPORTED: Refusal = refuse(ErrorType::Cancel, DefinedCondition::FeatureNotImplemented);
const FULL: Refusal = refuse(ErrorType::Wait, DefinedCondition::ResourceConstraint);
pub(super) const PRECONDITION: Refusal = refuse_with(
    ErrorType::Cancel,
    DefinedCondition::Conflict,
    "precondition-not-met",
);

const fn bad_request(pubsub: &'static str) -> Refusal {
    refuse_with(ErrorType::Modify, DefinedCondition::BadRequest, pubsub)
}

impl Refusal {
    /// The error reply to `iq` (its addresses swapped).
    pub(crate) fn reply(&self, iq: &Element) -> Element {
        let mut reply = xml::result(iq, None);
        xml::set(&mut reply, "type", "error");
        let error = StanzaError {
            type_: self.kind.clone(),
            by: None,
            defined_condition: self.condition.clone(),
            texts: BTreeMap::new(),
            other: self
                .pubsub
                .map(|name| Element::builder(name, ns::PUBSUB_ERRORS).build()),
        };
        reply.append_child(error.into());
        reply
    }
}

impl Shared {
    /// A `pubsub` or `pubsub#owner` iq (get or set) from `from` to `owner`'s bare JID.
    /// Notifications are written before this returns, so they precede the iq's result.
    pub(crate) fn on_pubsub(
        &self,
        now: Now,
        from: &FullJid,
        owner: &BareJid,
        iq: &Element,
    ) -> Result<Option<Element>, Refusal> {
        let own = from.to_bare() == *owner;
        let set = iq.attr("type") == Some("set");
        let Some(payload) = iq.children().next() else {
            return Err(bad_request("invalid-payload"));
        };
        if payload.is("pubsub", ns::PUBSUB_OWNER) {
            let parsed =
                Owner::try_from(payload.clone()).map_err(|_| bad_request("invalid-payload"));
            let (node, delete) = match parsed?.payload {
                owner::Payload::Purge { node } => (node.0, false),
                owner::Payload::Delete { node, .. } => (node.0, true),
                _ => return Err(UNSUPPORTED),
            };
            if !own {
                return Err(FORBIDDEN);
            }
            if !set {
                return Err(bad_request("invalid-payload"));
            }
            self.pep_remove(now, owner, &node, delete)?;
            return Ok(None);
        }
        let parsed = PubSub::try_from(payload.clone()).map_err(|_| bad_request("invalid-payload"));
        match (parsed?, set) {
            (PubSub::Items(request), false) => self.pep_items(&from.to_bare(), owner, request),
            (PubSub::Publish { .. } | PubSub::Retract(_), true) if !own => Err(FORBIDDEN),
            (
                PubSub::Publish {
                    publish,
                    publish_options,
                },
                true,
            ) => {
                let wanted = Wanted::parse(publish_options)?;
                self.pep_publish(now, owner, publish, &wanted).map(Some)
            }
            (PubSub::Retract(retract), true) => {
                self.pep_retract(now, owner, retract).map(|()| None)
            }
            _ => Err(UNSUPPORTED),
        }
    }

    fn pep_publish(
        &self,
        now: Now,
        owner: &BareJid,
        publish: ps::Publish,
        wanted: &Wanted,
    ) -> Result<Element, Refusal> {
        let node = publish.node.0;
        if node.is_empty() {
            return Err(bad_request("nodeid-required"));
        }
        let mut items = publish.items.into_iter();
        let (Some(item), None) = (items.next(), items.next()) else {
            return Err(bad_request("item-required"));
        };
        let Some(payload) = item.payload else {
            return Err(bad_request("payload-required"));
        };
        let id = match item.id.map(|i| i.0).filter(|i| !i.is_empty()) {
            Some(id) => id,
            None => {
                let n = rand_core::Rng::next_u64(&mut *lock(&self.rng));
                format!("{n:016x}")
            }
        };
        let bytes = String::from(&payload).len();
        let audience = self.audience(owner);
        let mut out = Outbox::default();
        {
            let mut state = lock(&self.pep.state);
            let account = state.accounts.entry(owner.clone()).or_default();
            let count = account.nodes.len();
            let node_entry = match account.nodes.get_mut(&node) {
                Some(existing) if !wanted.met_by(&existing.config) => return Err(PRECONDITION),
                Some(existing) => existing,
                None if count >= MAX_NODES => return Err(FULL),
                None => account.nodes.entry(node.clone()).or_insert(Node {
                    config: wanted.config(),
                    items: VecDeque::new(),
                }),
            };
            let item = Item { id, payload, bytes };
            let held: usize = node_entry.items.iter().map(|i| i.bytes).sum();
            if node_entry.config.persist {
                // What the node holds after this item replaces its namesake and the oldest
                // beyond max_items go (XEP-0060 §7.1.2).
                let others: Vec<usize> = node_entry
                    .items
                    .iter()
                    .filter(|i| i.id != item.id)
                    .map(|i| i.bytes)
                    .collect();
                let keep = (node_entry.config.max_items - 1).min(others.len());
                let after = others[others.len() - keep..].iter().sum::<usize>() + bytes;
                if account.bytes - held + after > MAX_ACCOUNT_BYTES {
                    return Err(FULL);
                }
                account.bytes = account.bytes - held + after;
            }
            let (config, event) = (node_entry.config, items_event(&node, Some(&item), vec![]));
            let item_id = item.id.clone();
            if config.persist {
                node_entry.items.retain(|i| i.id != item.id);
                node_entry.items.push_back(item);
                while node_entry.items.len() > config.max_items {
                    node_entry.items.pop_front();
                }
            }
            state.fan_out(&audience, config.access, &event, &mut out);
            let result = PubSub::Publish {
                publish: ps::Publish {
                    node: NodeName(node),
                    items: vec![ps::Item {
                        id: Some(ItemId(item_id)),
                        publisher: None,
                        payload: None,
                    }],
                },
                publish_options: None,
            };
            drop(state);
            self.pep_flush(now, out);
            Ok(result.into())
        }
    }

    fn pep_retract(&self, now: Now, owner: &BareJid, retract: ps::Retract) -> Result<(), Refusal> {
        let ids: Vec<String> = retract
            .items
            .iter()
            .filter_map(|i| i.id.clone())
            .map(|i| i.0)
            .collect();
        if ids.is_empty() || ids.len() != retract.items.len() {
            return Err(bad_request("item-required"));
        }
        let audience = self.audience(owner);
        let mut out = Outbox::default();
        let mut state = lock(&self.pep.state);
        let account = state.accounts.get_mut(owner).ok_or(NOT_FOUND)?;
        let node = account.nodes.get_mut(&retract.node.0).ok_or(NOT_FOUND)?;
        if !ids.iter().all(|id| node.items.iter().any(|i| i.id == *id)) {
            return Err(NOT_FOUND);
        }
        let freed: usize = node
            .items
            .iter()
            .filter(|i| ids.contains(&i.id))
            .map(|i| i.bytes)
            .sum();
        node.items.retain(|i| !ids.contains(&i.id));
        account.bytes -= freed;
        let access = node.config.access;
        // XEP-0060 §7.2.2.1: subscribers are told when the request asks for it.
        if retract.notify {
            let retracted = ids.into_iter().map(ItemId).collect();
            let event = items_event(&retract.node.0, None, retracted);
            state.fan_out(&audience, access, &event, &mut out);
        }
        drop(state);
        self.pep_flush(now, out);
        Ok(())
    }

    /// Purges (XEP-0060 §8.5) or deletes (§8.4) a node, and tells who may see it.
    fn pep_remove(
        &self,
        now: Now,
        owner: &BareJid,
        node: &str,
        delete: bool,
    ) -> Result<(), Refusal> {
        let audience = self.audience(owner);
        let mut out = Outbox::default();
        let mut state = lock(&self.pep.state);
        let account = state.accounts.get_mut(owner).ok_or(NOT_FOUND)?;
        let target = account.nodes.get_mut(node).ok_or(NOT_FOUND)?;
        let (access, held) = (
            target.config.access,
            target.items.iter().map(|i| i.bytes).sum::<usize>(),
        );
        target.items.clear();
        account.bytes -= held;
        let name = NodeName(node.to_owned());
        let payload = if delete {
            account.nodes.remove(node);
            Payload::Delete {
                node: name,
                redirect: None,
            }
        } else {
            Payload::Purge { node: name }
        };
        state.fan_out(&audience, access, &Event { payload }, &mut out);
        drop(state);
        self.pep_flush(now, out);
        Ok(())
    }

    /// Items retrieval (XEP-0060 §6.5): the newest first, all or those asked for by id.
    fn pep_items(
        &self,
        requester: &BareJid,
        owner: &BareJid,
        request: ps::Items,
    ) -> Result<Option<Element>, Refusal> {
        let watcher = lock(&self.rosters).watchers(owner).contains(requester);
        let state = lock(&self.pep.state);
        let node = state
            .accounts
            .get(owner)
            .and_then(|a| a.nodes.get(&request.node.0))
            .ok_or(NOT_FOUND)?;
        let allowed = match node.config.access {
            _ if requester == owner => true,
            Access::Open => true,
            Access::Presence => watcher,
            Access::Whitelist => false,
        };
        if !allowed && node.config.access == Access::Presence {
            let reason = "presence-subscription-required";
            return Err(refuse_with(
                ErrorType::Auth,
                DefinedCondition::NotAuthorized,
                reason,
            ));
        }
        if !allowed {
            return Err(refuse_with(
                ErrorType::Cancel,
                DefinedCondition::NotAllowed,
                "closed-node",
            ));
        }
        let asked: Vec<&str> = request
            .items
            .iter()
            .filter_map(|i| i.id.as_ref())
            .map(|i| i.0.as_str())
            .collect();
        let max = request.max_items.map_or(usize::MAX, |n| n as usize);
        let items = node
            .items
            .iter()
            .rev()
            .filter(|i| asked.is_empty() || asked.contains(&i.id.as_str()))
            .take(max)
            .map(|i| ps::Item {
                id: Some(ItemId(i.id.clone())),
                publisher: None,
                payload: Some(i.payload.clone()),
            })
            .collect();
        let mut reply = ps::Items::new(&request.node.0);
        reply.items = items;
        Ok(Some(PubSub::Items(reply).into()))
    }
}
