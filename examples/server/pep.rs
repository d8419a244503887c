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
//!   rule over each resource's caps and priority, decided by a [`ResourceTable`] per account
//!   (once per distinct caps set, then a lookup per resource), as xmpp-rsnf's README tells a
//!   server to. Each table holds the account's available resources, kept up to date as their
//!   presence comes and goes ([`Shared::pep_presence`]: priority, and caps when the presence
//!   has a `<c/>`) and as the caps cache resolves their caps. The caps come from each
//!   resource's presence (XEP-0115 `<c/>`) through a [`CapsCache`]: the server asks
//!   disco#info (from its domain), the answer comes back to the server
//!   ([`Shared::pep_answer`]), and each distinct caps set is asked once.
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
    Resource, ResourceTable,
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
    /// Each account's available resources (its priority, its caps), in the form the fan-out
    /// decides over; an account with none has no table.
    tables: HashMap<BareJid, ResourceTable<FullJid>>,
    /// The caps each resource's last items were sent for.
    served: HashMap<FullJid, CapsInfo>,
    accounts: HashMap<BareJid, Account>,
    next_id: u64,
}

impl Default for State {
    fn default() -> Self {
        Self {
            caps: CapsCache::new(crate::psa::caps_config()), // psa
            tables: HashMap::new(),
            served: HashMap::new(),
            accounts: HashMap::new(),
            next_id: 0,
        }
    }
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
    /// The resource `jid`, if its account's table holds it.
    fn resource(&self, jid: &FullJid) -> Option<Resource<'_, &FullJid>> {
        self.tables.get(&jid.to_bare())?.get(jid)
    }

    /// An available presence from `jid`: its priority, and its caps if the presence named
    /// some (`None`: unchanged, XEP-0115 §8.4; unknown for a resource new to the table).
    fn available(
        &mut self,
        jid: &FullJid,
        priority: i8,
        caps: Option<CapsState>,
        out: &mut Outbox,
    ) {
        let table = self.tables.entry(jid.to_bare()).or_default();
        let caps = match caps {
            Some(caps) => caps,
            None if table.set_presence(jid, true, priority) => return,
            None => CapsState::Unknown,
        };
        table.insert(Resource::new(jid.clone(), &caps).with_priority(priority));
        self.caps_changed(jid, out);
    }

    /// `jid` is unavailable, or its stream is gone: out of its account's table.
    fn unavailable(&mut self, jid: &FullJid) {
        let account = jid.to_bare();
        if let Some(table) = self.tables.get_mut(&account) {
            table.remove(jid);
            if table.is_empty() {
                self.tables.remove(&account);
            }
        }
        self.served.remove(jid);
    }

    /// After `jid`'s caps may have changed: if they are known and not those its last items
    /// were sent for, it is owed the last items its new caps want.
    fn caps_changed(&mut self, jid: &FullJid, out: &mut Outbox) {
        let Some(CapsState::Known(info)) = self.resource(jid).map(|r| r.caps) else {
            return;
        };
        if self.served.get(jid) != Some(info) {
            let info = info.clone();
            let before = self.served.insert(jid.clone(), info.clone());
            out.changed.push((jid.clone(), before, info));
        }
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
            match &event {
                CapsEvent::ResolvedForOne { jid, reason, .. } => out
                    .log
                    .push(format!("caps of {jid} used for it alone: {reason}")),
                CapsEvent::Unresolved { jid, reason } => {
                    out.log.push(format!("caps of {jid} unresolved: {reason}"));
                }
                _ => {}
            }
            // Each table the event concerns applies it once (to the resources it holds).
            let jids: Vec<&FullJid> = event
                .jids()
                .iter()
                .filter_map(|j| j.try_as_full().ok())
                .collect();
            let mut accounts: Vec<BareJid> = jids.iter().map(|j| j.to_bare()).collect();
            accounts.sort();
            accounts.dedup();
            for account in &accounts {
                if let Some(table) = self.tables.get_mut(account) {
                    table.apply(&event);
                }
            }
            for jid in jids {
                self.caps_changed(jid, out);
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

/// Who may see `owner`'s nodes: the owner, and the accounts subscribed to its presence.
struct Audience {
    owner: BareJid,
    /// The owner's presence subscribers, each once, the owner not among them.
    contacts: Vec<BareJid>,
}

impl Audience {
    /// The accounts that may see a node with `access`, each with whether it is the owner.
    fn to(&self, access: Access) -> impl Iterator<Item = (&BareJid, bool)> {
        let contacts = if access == Access::Whitelist {
            &[][..]
        } else {
            &self.contacts[..]
        };
        std::iter::once((&self.owner, true)).chain(contacts.iter().map(|c| (c, false)))
    }
}

impl Shared {
    /// A local resource's broadcast presence (available or unavailable): its caps.
    pub(crate) fn pep_presence(&self, now: Now, from: &FullJid, presence: &Element) {
        let mut out = Outbox::default();
        {
            let mut state = lock(&self.pep.state);
            let jid = Jid::from(from.clone());
            if presence.attr("type").is_none() {
                // No (or unreadable) caps: unchanged, XEP-0115 §8.4.
                let caps = presence
                    .get_child("c", ns::CAPS)
                    .and_then(|c| Caps::try_from(c.clone()).ok())
                    .map(|caps| state.caps.handle_caps(now, &jid, &caps));
                state.available(from, priority(presence), caps, &mut out);
            } else {
                // Unavailable (the broadcast takes any other type for it, too).
                state.unavailable(from);
                state.caps.handle_unavailable(now, &jid);
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
        let mut out = Outbox::default();
        {
            let mut state = lock(&self.pep.state);
            // The contact's available resources whose caps are known.
            let known: Vec<(FullJid, i8, CapsInfo)> = state
                .tables
                .get(contact)
                .into_iter()
                .flat_map(ResourceTable::iter)
                .filter_map(|r| Some((r.key.clone(), r.priority, r.caps.info()?.clone())))
                .collect();
            let owners = [owner.clone()];
            for (jid, priority, info) in known {
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
            let mut owners = vec![user.clone()];
            owners.extend(lock(&self.rosters).watched(&user));
            let mut more = Outbox::default();
            let mut state = lock(&self.pep.state);
            // Gone since: nothing is owed.
            let Some(priority) = state.resource(&jid).map(|r| r.priority) else {
                continue;
            };
            let before = before.as_ref();
            state.last_items(&owners, &jid, priority, before, &caps, &mut more);
            drop(state);
            for (to, stanza) in more.stanzas {
                self.deliver(now, &to, stanza);
            }
        }
    }

    fn audience(&self, owner: &BareJid) -> Audience {
        let mut contacts = lock(&self.rosters).watchers(owner);
        contacts.retain(|c| c != owner);
        contacts.sort();
        contacts.dedup();
        Audience {
            owner: owner.clone(),
            contacts,
        }
    }
}

impl State {
    /// Queues `event` for every available resource of the accounts in `audience` that may
    /// see a node with `access` and that the policy picks from its caps and priority.
    fn fan_out(&mut self, audience: &Audience, access: Access, event: &Event, out: &mut Outbox) {
        let notification = Notification::from_event(event);
        let mut to: Vec<FullJid> = Vec::new();
        let (owner, contact) = (policy(true), policy(false));
        // The owner's resources, then each contact's: each under its rule.
        for (account, own) in audience.to(access) {
            let rule = if own { &owner } else { &contact };
            if let Some(table) = self.tables.get(account) {
                to.extend(table.recipients(rule, &notification).cloned());
            }
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
