//! A minimal PEP service (XEP-0163) on every account's bare JID, whose notifications are
//! fanned out by xmpp-rsnf's recipient-side decision (XEP-0351) over the resources' caps.
//!
//! - The owner publishes items (ids kept, or made when absent), retracts them, purges and
//!   deletes nodes, all with `to` its own bare JID (or no `to`). A node is created by its
//!   first publish (XEP-0163 "Publishing Events": auto-create) with the publish-options' configuration
//!   (XEP-0060 §7.1.5); on an existing node they are preconditions. Supported options:
//!   `pubsub#access_model` (`presence`, XEP-0163's default; `open`; `whitelist`, the owner
//!   alone; not `roster`), `pubsub#max_items` (default 1, the last item; `max` is
//!   [`MAX_ITEMS`]), `pubsub#persist_items` and `pubsub#send_last_published_item`. Anything
//!   else is `precondition-not-met`.
//! - Who may see a node: the owner's own resources and, unless it is `whitelist`, those of
//!   every contact with a subscription to the owner's presence (`from` or `both` on the
//!   owner's roster). They may also retrieve its items (XEP-0060 §6.5); under `open`, so
//!   may any local account.
//! - Which of those resources get a notification (a `headline` message with `pubsub#event`
//!   from the owner's bare JID, to each full JID): [`policy`], xmpp-rsnf's recipient-side
//!   rule over each resource's caps and priority. The caps come from each resource's presence (XEP-0115
//!   `<c/>`) through a [`CapsCache`]: the server asks disco#info (from its domain), the
//!   answer comes back to the server ([`Shared::pep_answer`]), and each distinct caps set is
//!   asked once.
//! - The last item of each node a resource may see is sent to it when its caps first name
//!   the node (XEP-0163 "Sending the Last Published Item": to newly available resources and
//!   new subscribers, unless `send_last_published_item` is `never`), and to a contact's
//!   resources when it gains a subscription to the owner's presence.
//! - Bounded: [`MAX_NODES`] nodes and [`MAX_ACCOUNT_BYTES`] of item XML per account (a
//!   publish beyond either is refused with `resource-constraint`), [`MAX_ITEMS`] items per
//!   node (the oldest goes, XEP-0060 §7.1.2); the caps cache has its own bounds
//!   ([`CapsConfig`](xmpp_tether::rsnf::CapsConfig)). Nodes and the verified caps persist
//!   in `--state`.
//!
//! Not here: explicit subscriptions (so `open` nodes notify presence subscribers only),
//! node configuration forms (`pubsub#owner` configure), the `roster` access model,
//! affiliations, collections, disco#items of the nodes, the XEP-0033 `replyto` address,
//! XEP-0351 towards remote servers (no s2s).

mod iq;
mod node;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use xmpp_tether::Now;
use xmpp_tether::jid::{BareJid, FullJid, Jid};
use xmpp_tether::minidom::Element;
use xmpp_tether::rsnf::{
    CapsCache, CapsEvent, CapsInfo, CapsState, FanOut, Handled, Notification, Policy, PriorityRule,
    Resource,
};
use xmpp_tether::xmpp_parsers::caps::Caps;
use xmpp_tether::xmpp_parsers::ns;
use xmpp_tether::xmpp_parsers::pubsub::event::Event;

pub(crate) use self::node::Saved;
use self::node::{Access, Account, items_event};
use crate::router::priority;
use crate::state::{Shared, lock};
use crate::xml::{self, CLIENT};

/// Nodes per account.
pub(crate) const MAX_NODES: usize = 64;
/// Items per node at most (`pubsub#max_items` `max`).
pub(crate) const MAX_ITEMS: usize = 32;
/// Bytes of item payload XML per account.
pub(crate) const MAX_ACCOUNT_BYTES: usize = 4 * 1024 * 1024;

/// What an account's disco#info says about its PEP service (XEP-0163 "Determining
/// Support", XEP-0060 §10).
pub(crate) const FEATURES: &[&str] = &[
    "http://jabber.org/protocol/pubsub#access-open",
    "http://jabber.org/protocol/pubsub#access-presence",
    "http://jabber.org/protocol/pubsub#access-whitelist",
    "http://jabber.org/protocol/pubsub#auto-create",
    "http://jabber.org/protocol/pubsub#delete-nodes",
    "http://jabber.org/protocol/pubsub#filtered-notifications",
    "http://jabber.org/protocol/pubsub#last-published",
    "http://jabber.org/protocol/pubsub#persistent-items",
    "http://jabber.org/protocol/pubsub#publish",
    "http://jabber.org/protocol/pubsub#publish-options",
    "http://jabber.org/protocol/pubsub#purge-nodes",
    "http://jabber.org/protocol/pubsub#retract-items",
    "http://jabber.org/protocol/pubsub#retrieve-items",
];

/// The fan-out rule towards the owner's own resources (`own`) or a contact's: xmpp-rsnf's
/// XEP-0351 defaults (`+notify` for new items, `+events-` lists honoured, unknown or
/// resolving caps get nothing). A contact's resources must have a non-negative priority
/// (XEP-0163 "Number of Notifications": each available resource "that have specified
/// non-negative presence priority"); the owner's get them at every available resource
/// (XEP-0163 "Receiving Event Notifications"), whatever its priority.
///
/// Against `Policy::legacy()` (XEP-0060 §9.2, what Prosody's mod_pep does, every priority
/// included) the differences are by design: a node with an `+events-` list gets only the
/// kinds it names (and new items under `+notify`), and a contact's resource with a negative
/// priority gets nothing.
pub(crate) fn policy(own: bool) -> Policy {
    if own {
        Policy::default().with_priority(PriorityRule::Any)
    } else {
        Policy::default()
    }
}

/// The PEP service's state, and the wake-up of its caps timer.
#[derive(Default)]
pub(crate) struct Pep {
    state: Mutex<State>,
    timer: Notify,
}

struct State {
    caps: CapsCache,
    resources: HashMap<FullJid, Tracked>,
    accounts: HashMap<BareJid, Account>,
    next_id: u64,
}

impl Default for State {
    fn default() -> Self {
        Self {
            caps: CapsCache::new(crate::psa::caps_config()), // psa
            resources: HashMap::new(),
            accounts: HashMap::new(),
            next_id: 0,
        }
    }
}

/// One resource's caps, and the caps its last items were sent for.
struct Tracked {
    state: CapsState,
    served: Option<CapsInfo>,
}

/// What a call leaves to do once the state is unlocked.
#[derive(Default)]
struct Outbox {
    stanzas: Vec<(FullJid, Element)>,
    /// Resources whose caps became known or changed: (jid, caps served before, caps now).
    changed: Vec<(FullJid, Option<CapsInfo>, CapsInfo)>,
    log: Vec<String>,
}

impl State {
    /// Sets a resource's caps, tracking it if `track`.
    fn set(&mut self, jid: &FullJid, caps: CapsState, track: bool, out: &mut Outbox) {
        let tracked = match self.resources.get_mut(jid) {
            Some(tracked) => tracked,
            None if track => self.resources.entry(jid.clone()).or_insert(Tracked {
                state: CapsState::Unknown,
                served: None,
            }),
            None => return,
        };
        if let CapsState::Known(info) = &caps
            && tracked.served.as_ref() != Some(info)
        {
            let before = tracked.served.replace(info.clone());
            out.changed.push((jid.clone(), before, info.clone()));
        }
        tracked.state = caps;
    }

    /// After every call on the cache: its queries to write, then its events.
    fn drain(&mut self, domain: &str, out: &mut Outbox) {
        while let Some(query) = self.caps.poll_transmit() {
            // Only full JIDs are handed to the cache, so only full JIDs are asked.
            if let Ok(to) = query.to.clone().try_into_full() {
                let mut iq = query.to_element();
                xml::set(&mut iq, "from", domain);
                out.stanzas.push((to, iq));
            }
        }
        while let Some(event) = self.caps.poll_event() {
            match event {
                CapsEvent::Resolved { jids, info } => {
                    for full in jids.into_iter().filter_map(|j| j.try_into_full().ok()) {
                        self.set(&full, CapsState::Known(info.clone()), false, out);
                    }
                }
                CapsEvent::ResolvedForOne { jid, info, reason } => {
                    out.log
                        .push(format!("caps of {jid} used for it alone: {reason}"));
                    if let Ok(full) = jid.try_into_full() {
                        self.set(&full, CapsState::Known(info), false, out);
                    }
                }
                CapsEvent::Unresolved { jid, reason } => {
                    out.log.push(format!("caps of {jid} unresolved: {reason}"));
                    if let Ok(full) = jid.try_into_full() {
                        self.set(&full, CapsState::Unknown, false, out);
                    }
                }
                _ => {}
            }
        }
    }

    fn message(&mut self, owner: &BareJid, to: &FullJid, event: &Event) -> Element {
        self.next_id += 1;
        let mut message = Element::builder("message", CLIENT)
            .attr(xml::name("type"), "headline")
            .attr(xml::name("id"), format!("pep-{}", self.next_id))
            .append(Element::from(event.clone()))
            .build();
        xml::set(&mut message, "from", owner.to_string());
        xml::set(&mut message, "to", to.to_string());
        message
    }

    /// The last item of each of `owners`' nodes that `to` (of presence `priority`) may see,
    /// wants with caps `now` and did not want with caps `before` (XEP-0163 "Sending the Last
    /// Published Item").
    fn last_items(
        &mut self,
        owners: &[BareJid],
        to: &FullJid,
        priority: i8,
        before: Option<&CapsInfo>,
        now: &CapsInfo,
        out: &mut Outbox,
    ) {
        let user = to.to_bare();
        let mut events = Vec::new();
        for owner in owners {
            let policy = policy(*owner == user);
            let wants = |caps: &CapsInfo, notification: &Notification| {
                let caps = CapsState::Known(caps.clone());
                FanOut::new(&policy, notification).delivers(true, priority, &caps)
            };
            let Some(account) = self.accounts.get(owner) else {
                continue;
            };
            for (name, node) in &account.nodes {
                let visible = node.config.access != Access::Whitelist || *owner == user;
                let Some(last) = node
                    .items
                    .back()
                    .filter(|_| visible && node.config.send_last)
                else {
                    continue;
                };
                let event = items_event(name, Some(last), Vec::new());
                let notification = Notification::from_event(&event);
                if wants(now, &notification) && !before.is_some_and(|b| wants(b, &notification)) {
                    events.push((owner.clone(), event));
                }
            }
        }
        for (owner, event) in events {
            let message = self.message(&owner, to, &event);
            out.stanzas.push((to.clone(), message));
        }
    }
}

/// Who may see `owner`'s nodes, and their available resources with their priorities.
struct Audience {
    owner: BareJid,
    /// The owner's and its presence subscribers' available resources, sorted.
    resources: Vec<(FullJid, i8)>,
}

impl Audience {
    fn to(&self, access: Access) -> impl Iterator<Item = &(FullJid, i8)> {
        self.resources
            .iter()
            .filter(move |(jid, _)| access != Access::Whitelist || jid.to_bare() == self.owner)
    }
}

impl Shared {
    /// A local resource's broadcast presence (available or unavailable): its caps.
    pub(crate) fn pep_presence(&self, now: Now, from: &FullJid, presence: &Element) {
        let mut out = Outbox::default();
        {
            let mut state = lock(&self.pep.state);
            let jid = Jid::from(from.clone());
            match presence.attr("type") {
                None => {
                    // No (or unreadable) caps: unchanged, XEP-0115 §8.4.
                    let Some(caps) = presence
                        .get_child("c", ns::CAPS)
                        .and_then(|c| Caps::try_from(c.clone()).ok())
                    else {
                        return;
                    };
                    let caps = state.caps.handle_caps(now, &jid, &caps);
                    state.set(from, caps, true, &mut out);
                }
                Some("unavailable") => {
                    state.resources.remove(from);
                    state.caps.handle_unavailable(now, &jid);
                }
                Some(_) => return,
            }
            state.drain(&self.domain, &mut out);
        }
        self.pep_flush(now, out);
    }

    /// An iq result or error addressed to the server: the caps cache's, or nobody's.
    pub(crate) fn pep_answer(&self, now: Now, iq: &Element) {
        let mut out = Outbox::default();
        {
            let mut state = lock(&self.pep.state);
            if state.caps.handle_iq(now, iq) == Handled::NotOurs {
                return;
            }
            state.drain(&self.domain, &mut out);
        }
        self.pep_flush(now, out);
    }

    /// `contact` now receives `owner`'s presence: its resources get the last items.
    pub(crate) fn pep_subscribed(&self, now: Now, owner: &BareJid, contact: &BareJid) {
        let jids: Vec<(FullJid, i8)> = lock(&self.presence)
            .iter()
            .filter(|(j, _)| j.to_bare() == *contact)
            .map(|(j, p)| (j.clone(), priority(p)))
            .collect();
        let mut out = Outbox::default();
        {
            let mut state = lock(&self.pep.state);
            for (jid, priority) in jids {
                let Some(info) = state.resources.get(&jid).and_then(|t| t.state.info()) else {
                    continue;
                };
                let info = info.clone();
                let owners = [owner.clone()];
                state.last_items(&owners, &jid, priority, None, &info, &mut out);
            }
        }
        self.pep_flush(now, out);
    }

    fn pep_timeout(&self, now: Now) {
        let mut out = Outbox::default();
        {
            let mut state = lock(&self.pep.state);
            state.caps.handle_timeout(now);
            state.drain(&self.domain, &mut out);
        }
        self.pep_flush(now, out);
    }

    /// Writes what a call left, sends last items for changed caps, re-arms the timer.
    fn pep_flush(&self, now: Now, out: Outbox) {
        self.pep.timer.notify_one();
        for line in &out.log {
            eprintln!("pep: {line}");
        }
        for (to, stanza) in out.stanzas {
            self.deliver(now, &to, stanza);
        }
        for (jid, before, caps) in out.changed {
            self.psa_caps(now, &jid, &caps); // psa
            let user = jid.to_bare();
            let Some(priority) = lock(&self.presence).get(&jid).map(priority) else {
                continue;
            };
            let mut owners = vec![user.clone()];
            owners.extend(lock(&self.rosters).watched(&user));
            let mut more = Outbox::default();
            let mut state = lock(&self.pep.state);
            let before = before.as_ref();
            state.last_items(&owners, &jid, priority, before, &caps, &mut more);
            drop(state);
            for (to, stanza) in more.stanzas {
                self.deliver(now, &to, stanza);
            }
        }
    }

    fn audience(&self, owner: &BareJid) -> Audience {
        let mut accounts = vec![owner.clone()];
        accounts.extend(lock(&self.rosters).watchers(owner));
        let mut resources: Vec<(FullJid, i8)> = lock(&self.presence)
            .iter()
            .filter(|(jid, _)| accounts.contains(&jid.to_bare()))
            .map(|(jid, p)| (jid.clone(), priority(p)))
            .collect();
        resources.sort_by_key(|(jid, _)| jid.to_string());
        Audience {
            owner: owner.clone(),
            resources,
        }
    }
}

impl State {
    /// Queues `event` for every resource in `audience` that may see a node with `access` and
    /// that the policy picks from its caps.
    fn fan_out(&mut self, audience: &Audience, access: Access, event: &Event, out: &mut Outbox) {
        let notification = Notification::from_event(event);
        let unknown = CapsState::Unknown;
        let mut to: Vec<FullJid> = Vec::new();
        // The owner's resources, then the contacts': each under its rule.
        for own in [true, false] {
            let resources = audience
                .to(access)
                .filter(|(jid, _)| (jid.to_bare() == audience.owner) == own)
                .map(|(jid, priority)| {
                    let caps = self.resources.get(jid).map_or(&unknown, |t| &t.state);
                    Resource::new(jid, caps).with_priority(*priority)
                });
            to.extend(
                policy(own)
                    .recipients(&notification, resources)
                    .into_iter()
                    .cloned(),
            );
        }
        for jid in to {
            let message = self.message(&audience.owner, &jid, event);
            out.stanzas.push((jid, message));
        }
    }
}

/// The caps cache's timer: sleeps until its deadline, or until a call may have moved it.
pub(crate) async fn caps_timer(shared: Arc<Shared>) {
    loop {
        let deadline = lock(&shared.pep.state).caps.poll_timeout();
        let deadline = deadline.map(|d| shared.instant(d));
        tokio::select! {
            () = crate::conn::sleep_until(deadline) => shared.pep_timeout(shared.now()),
            () = shared.pep.timer.notified() => {}
        }
    }
}
