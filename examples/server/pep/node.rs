//! The PEP service's data: nodes, their configuration from publish-options, their items,
//! and how they persist.

use std::collections::{BTreeMap, VecDeque};

use xmpp_tether::jid::BareJid;
use xmpp_tether::minidom::Element;
use xmpp_tether::rsnf::{CapsCache, CapsSnapshot};
use xmpp_tether::xmpp_parsers::pubsub::event::{self, Event, Payload};
use xmpp_tether::xmpp_parsers::pubsub::pubsub::PublishOptions;
use xmpp_tether::xmpp_parsers::pubsub::{ItemId, NodeName};

use super::iq::{PRECONDITION, Refusal};
use super::{MAX_ACCOUNT_BYTES, MAX_ITEMS, MAX_NODES, Pep};
use crate::state::lock;

#[derive(Default)]
pub(super) struct Account {
    pub(super) nodes: BTreeMap<String, Node>,
    /// Bytes of item payload XML held.
    pub(super) bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Access {
    Presence,
    Open,
    Whitelist,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct Config {
    pub(super) access: Access,
    pub(super) max_items: usize,
    /// Items are kept (`pubsub#persist_items`); if not, they are only notified.
    pub(super) persist: bool,
    /// The last item goes to new recipients (`pubsub#send_last_published_item`).
    pub(super) send_last: bool,
}

const DEFAULT_CONFIG: Config = Config {
    access: Access::Presence,
    max_items: 1,
    persist: true,
    send_last: true,
};

pub(super) struct Node {
    pub(super) config: Config,
    /// Oldest first.
    pub(super) items: VecDeque<Item>,
}

pub(super) struct Item {
    pub(super) id: String,
    pub(super) payload: Element,
    /// Its length as XML.
    pub(super) bytes: usize,
}

/// The PEP part of `--state`.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Saved {
    nodes: Vec<(BareJid, Vec<SavedNode>)>,
    caps: Option<CapsSnapshot>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SavedNode {
    node: String,
    config: Config,
    /// (id, payload XML), oldest first.
    items: Vec<(String, String)>,
}

/// An `<items/>` event: one item published, or ids retracted.
pub(super) fn items_event(node: &str, item: Option<&Item>, retracted: Vec<ItemId>) -> Event {
    Event {
        payload: Payload::Items {
            node: NodeName(node.to_owned()),
            published: item
                .map(|i| event::Item {
                    id: Some(ItemId(i.id.clone())),
                    publisher: None,
                    payload: Some(i.payload.clone()),
                })
                .into_iter()
                .collect(),
            retracted,
        },
    }
}

/// What publish-options ask for (XEP-0060 §7.1.5), each field optional.
#[derive(Default)]
pub(super) struct Wanted {
    access: Option<Access>,
    max_items: Option<usize>,
    persist: Option<bool>,
    send_last: Option<bool>,
}

impl Wanted {
    pub(super) fn parse(options: Option<PublishOptions>) -> Result<Self, Refusal> {
        let mut wanted = Self::default();
        let Some(form) = options.and_then(|o| o.form) else {
            return Ok(wanted);
        };
        for field in &form.fields {
            let value = field.values.first().map(String::as_str).unwrap_or_default();
            match field.var.as_deref() {
                Some("FORM_TYPE") | None => {}
                Some("pubsub#access_model") => {
                    wanted.access = Some(match value {
                        "presence" => Access::Presence,
                        "open" => Access::Open,
                        "whitelist" => Access::Whitelist,
                        _ => return Err(PRECONDITION),
                    });
                }
                Some("pubsub#max_items") => {
                    let n = match value {
                        "max" => MAX_ITEMS,
                        n => n.parse().map_err(|_| PRECONDITION)?,
                    };
                    if !(1..=MAX_ITEMS).contains(&n) {
                        return Err(PRECONDITION);
                    }
                    wanted.max_items = Some(n);
                }
                Some("pubsub#persist_items") => wanted.persist = Some(boolean(value)?),
                Some("pubsub#send_last_published_item") => {
                    wanted.send_last = Some(match value {
                        "never" => false,
                        "on_sub" | "on_sub_and_presence" => true,
                        _ => return Err(PRECONDITION),
                    });
                }
                Some(_) => return Err(PRECONDITION),
            }
        }
        Ok(wanted)
    }

    /// A new node's configuration.
    pub(super) fn config(&self) -> Config {
        Config {
            access: self.access.unwrap_or(DEFAULT_CONFIG.access),
            max_items: self.max_items.unwrap_or(DEFAULT_CONFIG.max_items),
            persist: self.persist.unwrap_or(DEFAULT_CONFIG.persist),
            send_last: self.send_last.unwrap_or(DEFAULT_CONFIG.send_last),
        }
    }

    /// Whether an existing node's configuration meets these preconditions.
    pub(super) fn met_by(&self, config: &Config) -> bool {
        self.access.is_none_or(|a| a == config.access)
            && self.max_items.is_none_or(|n| n == config.max_items)
            && self.persist.is_none_or(|p| p == config.persist)
            && self.send_last.is_none_or(|s| s == config.send_last)
    }
}

fn boolean(value: &str) -> Result<bool, Refusal> {
    match value {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(PRECONDITION),
    }
}

impl Pep {
    /// For `--state`.
    pub(crate) fn to_saved(&self) -> Saved {
        let state = lock(&self.state);
        let nodes = state
            .accounts
            .iter()
            .map(|(owner, account)| {
                let nodes = account
                    .nodes
                    .iter()
                    .filter(|(_, node)| node.config.persist)
                    .map(|(name, node)| SavedNode {
                        node: name.clone(),
                        config: node.config,
                        items: node
                            .items
                            .iter()
                            .map(|i| (i.id.clone(), String::from(&i.payload)))
                            .collect(),
                    })
                    .collect();
                (owner.clone(), nodes)
            })
            .collect();
        Saved {
            nodes,
            caps: Some(state.caps.snapshot()),
        }
    }

    /// Back from `--state`, checked like peer data: nodes and items beyond the bounds, or
    /// items that do not parse within the framing limits, are skipped and counted; a caps
    /// snapshot that does not restore is dropped (the caps are asked again).
    pub(crate) fn restore(&self, saved: Saved) -> usize {
        let mut state = lock(&self.state);
        let mut skipped = 0;
        if let Some(snapshot) = saved.caps {
            let config = crate::psa::caps_config(); // psa
            match CapsCache::restore(config, snapshot) {
                Ok(cache) => state.caps = cache,
                Err(_) => skipped += 1,
            }
        }
        let limits = xmpp_tether::framing::Limits::default();
        for (owner, nodes) in saved.nodes {
            let account = state.accounts.entry(owner).or_default();
            for saved in nodes {
                let config = saved.config;
                let fits = (1..=MAX_ITEMS).contains(&config.max_items);
                if !fits
                    || account.nodes.len() >= MAX_NODES
                    || account.nodes.contains_key(&saved.node)
                {
                    skipped += 1;
                    continue;
                }
                let mut node = Node {
                    config,
                    items: VecDeque::new(),
                };
                for (id, xml) in saved.items {
                    let Ok(payload) = xmpp_tether::framing::parse_element(xml.as_bytes(), &limits)
                    else {
                        skipped += 1;
                        continue;
                    };
                    let bytes = String::from(&payload).len();
                    let fits = node.items.len() < config.max_items
                        && account.bytes + bytes <= MAX_ACCOUNT_BYTES
                        && !id.is_empty()
                        && !node.items.iter().any(|i| i.id == id);
                    if fits {
                        account.bytes += bytes;
                        node.items.push_back(Item { id, payload, bytes });
                    } else {
                        skipped += 1;
                    }
                }
                account.nodes.insert(saved.node, node);
            }
        }
        skipped
    }
}
