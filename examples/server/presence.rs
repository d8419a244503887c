//! Presence (RFC 6121 §4): broadcast to the account's resources and subscribers, probes on
//! initial presence, directed presence, and the subscription handshake.

use xmpp_tether::Now;
use xmpp_tether::jid::{BareJid, FullJid, Jid};
use xmpp_tether::minidom::Element;

use crate::roster::Effect;
use crate::state::{Shared, lock};
use crate::xml::{self, CLIENT};

impl Shared {
    pub(crate) fn on_presence(&self, now: Now, from: &FullJid, to: Option<Jid>, presence: Element) {
        let kind = presence.attr("type").unwrap_or("available").to_owned();
        let user = from.to_bare();
        match (kind.as_str(), to) {
            ("available" | "unavailable", None) => self.broadcast(now, from, presence),
            ("subscribe" | "subscribed" | "unsubscribe" | "unsubscribed", Some(to)) => {
                let contact = to.to_bare();
                if !self.is_local(&contact) {
                    return;
                }
                // Subscription stanzas travel from the bare JID (RFC 6121 §3.1.2).
                let mut stanza = presence;
                xml::set(&mut stanza, "from", user.to_string());
                xml::set(&mut stanza, "to", contact.to_string());
                let effects = {
                    let mut rosters = lock(&self.rosters);
                    match kind.as_str() {
                        "subscribe" => rosters.subscribe(&user, &contact, &stanza),
                        "subscribed" => rosters.subscribed(&user, &contact, &stanza),
                        "unsubscribe" => rosters.unsubscribe(&user, &contact),
                        _ => rosters.unsubscribed(&user, &contact),
                    }
                };
                self.apply(now, effects);
            }
            ("probe", _) | (_, None) => {}
            // Directed presence, or a presence error: delivered as it is.
            (_, Some(to)) => match to.try_into_full() {
                Ok(full) => self.deliver(now, &full, presence),
                Err(bare) => self.to_resources(now, &bare, &presence),
            },
        }
    }

    /// A resource's broadcast presence: kept, sent to its account's other resources and to
    /// every contact subscribed to it. The first available one is initial presence (§4.2):
    /// contacts' presences come back, offline messages and pending requests are delivered.
    fn broadcast(&self, now: Now, from: &FullJid, presence: Element) {
        let user = from.to_bare();
        let available = presence.attr("type").is_none();
        let initial = {
            let mut map = lock(&self.presence);
            if available {
                map.insert(from.clone(), presence.clone()).is_none()
            } else {
                map.remove(from);
                false
            }
        };
        #[cfg(feature = "cluster")] // cluster
        self.cluster_presence(from, available.then_some(&presence)); // cluster
        self.pep_presence(now, from, &presence);
        let watchers = lock(&self.rosters).watchers(&user);
        for to in std::iter::once(user.clone()).chain(watchers) {
            let mut copy = presence.clone();
            xml::set(&mut copy, "to", to.to_string());
            self.to_resources_except(now, &to, &copy, Some(from));
        }
        if initial {
            let watched = lock(&self.rosters).watched(&user);
            for contact in watched {
                self.presences_of(now, &contact, from);
            }
            for message in lock(&self.offline).take(&user) {
                self.deliver(now, from, message);
            }
            let pending = lock(&self.rosters).pending_for(&user);
            let limits = xmpp_tether::framing::Limits::default();
            for xml in pending {
                if let Ok(request) = xmpp_tether::framing::parse_element(xml.as_bytes(), &limits) {
                    self.deliver(now, from, request);
                }
            }
        }
    }

    /// A resource's session ended for good (closed, failed, or expired while hibernated):
    /// its contacts get `unavailable` on its behalf (RFC 6121 §4.5.2).
    pub(crate) fn session_ended(&self, now: Now, jid: &FullJid) {
        self.psa_ended(now, jid); // psa
        if lock(&self.presence).contains_key(jid) {
            let mut gone = Element::builder("presence", CLIENT)
                .attr(xml::name("type"), "unavailable")
                .build();
            xml::set(&mut gone, "from", jid.to_string());
            self.broadcast(now, jid, gone);
        }
    }

    /// A resource whose session is over (expired, evicted, or dropped): what it never got
    /// acknowledged is handed back, and its contacts get `unavailable`.
    pub(crate) fn resource_gone(
        &self,
        now: Now,
        jid: Option<&FullJid>,
        stanzas: Vec<xmpp_tether::sm::Unacked>,
    ) {
        self.hand_back(now, jid, stanzas);
        if let Some(jid) = jid {
            self.session_ended(now, jid);
        }
    }

    /// Sends `to` the current presence of each available resource of `contact`.
    fn presences_of(&self, now: Now, contact: &BareJid, to: &FullJid) {
        let current: Vec<Element> = lock(&self.presence)
            .iter()
            .filter(|(jid, _)| jid.to_bare() == *contact)
            .map(|(_, p)| p.clone())
            .collect();
        for mut presence in current {
            xml::set(&mut presence, "to", to.to_string());
            self.deliver(now, to, presence);
        }
    }

    fn to_resources(&self, now: Now, account: &BareJid, stanza: &Element) {
        self.to_resources_except(now, account, stanza, None);
    }

    /// To every resource of `account` that sent available presence, but `except`.
    fn to_resources_except(
        &self,
        now: Now,
        account: &BareJid,
        stanza: &Element,
        except: Option<&FullJid>,
    ) {
        let targets: Vec<FullJid> = lock(&self.presence)
            .keys()
            .filter(|jid| jid.to_bare() == *account && Some(*jid) != except)
            .cloned()
            .collect();
        for jid in targets {
            self.deliver(now, &jid, stanza.clone());
        }
    }

    /// Carries out what a roster change asks for.
    pub(crate) fn apply(&self, now: Now, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Deliver(to, presence) => {
                    let online = lock(&self.presence).keys().any(|j| j.to_bare() == to);
                    // Requests also wait in the roster until answered, for the next login.
                    if online {
                        self.to_resources(now, &to, &presence);
                    }
                }
                Effect::Push(user, contact) => self.push_roster(now, &user, &contact),
                Effect::StartPresence { from, to } => {
                    self.pep_subscribed(now, &from, &to);
                    let targets: Vec<FullJid> = lock(&self.presence)
                        .keys()
                        .filter(|j| j.to_bare() == to)
                        .cloned()
                        .collect();
                    for target in targets {
                        self.presences_of(now, &from, &target);
                    }
                }
                Effect::StopPresence { from, to } => {
                    let gone: Vec<FullJid> = lock(&self.presence)
                        .keys()
                        .filter(|j| j.to_bare() == from)
                        .cloned()
                        .collect();
                    for jid in gone {
                        let mut unavailable = Element::builder("presence", CLIENT)
                            .attr(xml::name("type"), "unavailable")
                            .build();
                        xml::set(&mut unavailable, "from", jid.to_string());
                        xml::set(&mut unavailable, "to", to.to_string());
                        self.to_resources(now, &to, &unavailable);
                    }
                }
            }
        }
    }
}
