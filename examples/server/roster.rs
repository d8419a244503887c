//! Rosters and presence subscriptions between local accounts (RFC 6121 §2, §3), kept small:
//! items with a name, the subscription state, a pending outbound request, and stored inbound
//! requests that are delivered again at the next login until answered.

use std::collections::{BTreeMap, HashMap};

use xmpp_tether::jid::BareJid;
use xmpp_tether::minidom::Element;
use xmpp_tether::xmpp_parsers::roster::{Ask, Item, Roster, Subscription};

/// One contact on one account's roster.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Contact {
    name: Option<String>,
    /// They receive our presence.
    from: bool,
    /// We receive theirs.
    to: bool,
    /// We asked for theirs and wait.
    asked: bool,
    /// They asked for ours and wait (the request, as XML, to deliver again).
    pending_in: Option<String>,
}

/// What a roster change asks the router to do.
#[derive(Debug)]
pub(crate) enum Effect {
    /// Deliver this presence (subscription management) to this account.
    Deliver(BareJid, Element),
    /// Push this account's item for `contact` to its interested resources (RFC 6121 §2.1.6).
    Push(BareJid, BareJid),
    /// `from` now sends its presence to `to` (send its available resources' presences).
    StartPresence { from: BareJid, to: BareJid },
    /// `from` no longer does (send unavailable from its resources).
    StopPresence { from: BareJid, to: BareJid },
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Rosters {
    accounts: HashMap<BareJid, BTreeMap<BareJid, Contact>>,
}

impl Rosters {
    fn contact(&mut self, user: &BareJid, contact: &BareJid) -> &mut Contact {
        self.accounts
            .entry(user.clone())
            .or_default()
            .entry(contact.clone())
            .or_default()
    }

    /// `user`'s roster (RFC 6121 §2.1.3).
    pub(crate) fn roster(&self, user: &BareJid) -> Roster {
        let items = self
            .accounts
            .get(user)
            .map(|r| r.iter().map(|(jid, c)| item(jid, c)).collect())
            .unwrap_or_default();
        Roster { ver: None, items }
    }

    /// `user`'s item for `contact`, as pushed.
    pub(crate) fn item(&self, user: &BareJid, contact: &BareJid) -> Item {
        let none = Contact::default();
        let c = self
            .accounts
            .get(user)
            .and_then(|r| r.get(contact))
            .unwrap_or(&none);
        let mut i = item(contact, c);
        if !self
            .accounts
            .get(user)
            .is_some_and(|r| r.contains_key(contact))
        {
            i.subscription = Subscription::Remove;
        }
        i
    }

    /// Contacts that receive `user`'s presence (subscription from or both).
    pub(crate) fn watchers(&self, user: &BareJid) -> Vec<BareJid> {
        self.select(user, |c| c.from)
    }

    /// Contacts whose presence `user` receives (subscription to or both).
    pub(crate) fn watched(&self, user: &BareJid) -> Vec<BareJid> {
        self.select(user, |c| c.to)
    }

    fn select(&self, user: &BareJid, keep: impl Fn(&Contact) -> bool) -> Vec<BareJid> {
        self.accounts
            .get(user)
            .map(|r| {
                r.iter()
                    .filter(|(_, c)| keep(c))
                    .map(|(j, _)| j.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Subscription requests waiting for `user`'s answer, to deliver at login.
    pub(crate) fn pending_for(&self, user: &BareJid) -> Vec<String> {
        self.accounts
            .get(user)
            .map(|r| r.values().filter_map(|c| c.pending_in.clone()).collect())
            .unwrap_or_default()
    }

    /// A roster set (RFC 6121 §2.3–2.5): add or update `item`, or remove it.
    pub(crate) fn set(&mut self, user: &BareJid, item: &Item) -> Vec<Effect> {
        let contact = item.jid.clone();
        if item.subscription == Subscription::Remove {
            let mut effects = self.unsubscribe(user, &contact);
            effects.extend(self.unsubscribed(user, &contact));
            if let Some(roster) = self.accounts.get_mut(user) {
                roster.remove(&contact);
            }
            effects.push(Effect::Push(user.clone(), contact));
            return effects;
        }
        self.contact(user, &contact).name.clone_from(&item.name);
        vec![Effect::Push(user.clone(), contact)]
    }

    /// `user` sent `<presence type='subscribe'/>` to `contact` (RFC 6121 §3.1).
    pub(crate) fn subscribe(
        &mut self,
        user: &BareJid,
        contact: &BareJid,
        request: &Element,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        if self.contact(user, contact).to {
            // Already subscribed: the contact's server answers for it (§3.1.3).
            effects.push(Effect::StartPresence {
                from: contact.clone(),
                to: user.clone(),
            });
            return effects;
        }
        self.contact(user, contact).asked = true;
        self.contact(contact, user).pending_in = Some(String::from(request));
        effects.push(Effect::Push(user.clone(), contact.clone()));
        effects.push(Effect::Deliver(contact.clone(), request.clone()));
        effects
    }

    /// `contact` sent `<presence type='subscribed'/>` to `user`: `user` may now see it.
    pub(crate) fn subscribed(
        &mut self,
        contact: &BareJid,
        user: &BareJid,
        answer: &Element,
    ) -> Vec<Effect> {
        let pending = self
            .accounts
            .get(contact)
            .and_then(|r| r.get(user))
            .is_some_and(|c| c.pending_in.is_some());
        let asked = self
            .accounts
            .get(user)
            .and_then(|r| r.get(contact))
            .is_some_and(|c| c.asked);
        if !pending && !asked {
            // Nothing to approve (RFC 6121 §3.1.5: ignore, pre-approval aside).
            return Vec::new();
        }
        let theirs = self.contact(contact, user);
        theirs.pending_in = None;
        theirs.from = true;
        let ours = self.contact(user, contact);
        ours.asked = false;
        ours.to = true;
        vec![
            Effect::Push(contact.clone(), user.clone()),
            Effect::Push(user.clone(), contact.clone()),
            Effect::Deliver(user.clone(), answer.clone()),
            Effect::StartPresence {
                from: contact.clone(),
                to: user.clone(),
            },
        ]
    }

    /// `user` no longer wants `contact`'s presence (RFC 6121 §3.3).
    pub(crate) fn unsubscribe(&mut self, user: &BareJid, contact: &BareJid) -> Vec<Effect> {
        let ours = self.contact(user, contact);
        let had = ours.to || ours.asked;
        ours.to = false;
        ours.asked = false;
        let theirs = self.contact(contact, user);
        theirs.from = false;
        theirs.pending_in = None;
        if !had {
            return Vec::new();
        }
        let request = subscription_presence("unsubscribe", user, contact);
        vec![
            Effect::Push(user.clone(), contact.clone()),
            Effect::Push(contact.clone(), user.clone()),
            Effect::Deliver(contact.clone(), request),
            Effect::StopPresence {
                from: contact.clone(),
                to: user.clone(),
            },
        ]
    }

    /// `contact` cancels (or refuses) `user`'s subscription to its presence (RFC 6121 §3.2).
    pub(crate) fn unsubscribed(&mut self, contact: &BareJid, user: &BareJid) -> Vec<Effect> {
        let theirs = self.contact(contact, user);
        let had = theirs.from || theirs.pending_in.is_some();
        theirs.from = false;
        theirs.pending_in = None;
        let ours = self.contact(user, contact);
        ours.to = false;
        ours.asked = false;
        if !had {
            return Vec::new();
        }
        let answer = subscription_presence("unsubscribed", contact, user);
        vec![
            Effect::Push(contact.clone(), user.clone()),
            Effect::Push(user.clone(), contact.clone()),
            Effect::Deliver(user.clone(), answer),
            Effect::StopPresence {
                from: contact.clone(),
                to: user.clone(),
            },
        ]
    }
}

fn item(jid: &BareJid, c: &Contact) -> Item {
    Item {
        jid: jid.clone(),
        name: c.name.clone(),
        subscription: match (c.from, c.to) {
            (true, true) => Subscription::Both,
            (true, false) => Subscription::From,
            (false, true) => Subscription::To,
            (false, false) => Subscription::None,
        },
        ask: if c.asked { Ask::Subscribe } else { Ask::None },
        groups: Vec::new(),
        approved: None,
    }
}

fn subscription_presence(kind: &str, from: &BareJid, to: &BareJid) -> Element {
    Element::builder("presence", "jabber:client")
        .attr(crate::xml::name("type"), kind)
        .attr(crate::xml::name("from"), from.to_string())
        .attr(crate::xml::name("to"), to.to_string())
        .build()
}
