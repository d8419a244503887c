//! Routing stanzas between local accounts (RFC 6120 §10, RFC 6121 §8): to a live stream, into
//! a hibernated session, to an account's resources, or offline.

use std::time::SystemTime;

use xmpp_tether::jid::{BareJid, FullJid, Jid};
use xmpp_tether::minidom::Element;
use xmpp_tether::sm::{Refused, Unacked};
use xmpp_tether::xmpp_parsers::stanza_error::{DefinedCondition, ErrorType};
use xmpp_tether::{Now, push0, push2};

use crate::state::{Shared, lock};
use crate::xml::{self, CLIENT};

impl Shared {
    /// A stanza from the local client `from` (its `from` already stamped).
    pub(crate) fn route(&self, now: Now, from: &FullJid, stanza: Element) {
        let to = match stanza.attr("to").map(str::parse::<Jid>) {
            None => None,
            Some(Ok(jid)) => Some(jid),
            Some(Err(_)) => return self.bounce(now, &stanza, DefinedCondition::JidMalformed),
        };
        if stanza.name() == "message" {
            self.push2_activity(now, from); // push2
        }
        if stanza.name() == "presence" {
            return self.on_presence(now, from, to, stanza);
        }
        let Some(to) = to else {
            // No `to`: for the account itself (RFC 6120 §10.3).
            return self.on_server_stanza(now, from, &from.to_bare(), stanza);
        };
        if lock(&self.components).is_component(to.domain().as_str()) {
            let stanza = xml::renamespace(stanza, CLIENT, "jabber:component:accept");
            return self.to_component(now, to.domain().as_str(), stanza);
        }
        if to.domain().as_str() != self.domain {
            // No server-to-server in this example.
            return self.bounce(now, &stanza, DefinedCondition::RemoteServerNotFound);
        }
        self.push2_routed(now, &to, &stanza); // push2
        match to.try_into_full() {
            Ok(full) => self.deliver(now, &full, stanza),
            Err(bare) if bare.node().is_none() => self.on_server_stanza(now, from, &bare, stanza),
            Err(bare) if stanza.name() == "message" => {
                self.deliver_message(now, &bare, stanza, None)
            }
            // An iq to a bare JID is for the server, on the account's behalf (§8.5.2.1.3).
            Err(bare) => self.on_server_stanza(now, from, &bare, stanza),
        }
    }

    /// A stanza from a component (its `from` checked, already in `jabber:client`): to a local
    /// account, or an answer to something the server asked it.
    pub(crate) fn route_from_component(&self, now: Now, stanza: Element) {
        let Some(to) = stanza.attr("to").and_then(|t| t.parse::<Jid>().ok()) else {
            return;
        };
        if to.domain().as_str() != self.domain {
            return self.bounce(now, &stanza, DefinedCondition::RemoteServerNotFound);
        }
        self.push2_routed(now, &to, &stanza); // push2
        match to.try_into_full() {
            Ok(full) => self.deliver(now, &full, stanza),
            Err(bare) if bare.node().is_none() => self.on_component_answer(now, stanza),
            Err(bare) if stanza.name() == "message" => {
                self.deliver_message(now, &bare, stanza, None);
            }
            Err(bare) if stanza.name() == "presence" => {
                for (jid, _) in self.sessions.resources(&bare) {
                    self.deliver(now, &jid, stanza.clone());
                }
            }
            Err(_) => self.bounce(now, &stanza, DefinedCondition::ServiceUnavailable),
        }
    }

    /// An iq result or error from a component, for the server itself (the push services'
    /// answers to publishes and notifications).
    fn on_component_answer(&self, now: Now, stanza: Element) {
        // push0 {
        if self.push0(now, |r| r.handle_stanza(now, &stanza)) == Ok(push0::Incoming::Handled) {
            return;
        }
        // push0 }
        // push2 {
        let bounce = self.push2(now, |r| {
            r.handle_stanza(now, &mut *lock(&self.rng), &stanza)
        });
        if bounce == push2::Incoming::Handled {
            return;
        }
        // push2 }
        if matches!(stanza.attr("type"), Some("get" | "set")) {
            self.bounce(now, &stanza, DefinedCondition::ServiceUnavailable);
        }
    }

    /// Delivers to one full JID: its live stream, its hibernated session, or (RFC 6121
    /// §8.5.3.2) as for a resource that does not exist.
    pub(crate) fn deliver(&self, now: Now, to: &FullJid, stanza: Element) {
        let stanza = self.psa_deliver(now, stanza); // psa
        let trigger = self.push0_trigger(to, &stanza); // push0
        // sm {
        if let Err(refused) = self.sessions.send(now, to, stanza) {
            self.not_here(now, to, refused);
        }
        // sm }
        self.push0_queued(now, to, trigger); // push0
    }

    /// A stanza for a full JID this node holds no stream or session for: in cluster mode,
    /// into the session hibernated on it in Redis, else as for a resource that does not exist.
    fn not_here(&self, now: Now, to: &FullJid, refused: Refused<Element>) {
        #[cfg(feature = "cluster")] // cluster
        let stanza = self.cluster_deliver(now, to, refused); // cluster
        #[cfg(not(feature = "cluster"))] // cluster
        let stanza = Some(refused.into_inner()); // cluster
        if let Some(stanza) = stanza {
            self.undeliverable(now, &to.to_bare(), stanza, now.wall());
        }
    }

    /// A message to a bare JID (RFC 6121 §8.5.2.1.1): every available resource with a
    /// non-negative priority but `except`, or offline storage when there is none.
    pub(crate) fn deliver_message(
        &self,
        now: Now,
        to: &BareJid,
        stanza: Element,
        except: Option<&FullJid>,
    ) {
        if !self.is_local(to) {
            return self.bounce(now, &stanza, DefinedCondition::ServiceUnavailable);
        }
        let targets: Vec<FullJid> = lock(&self.presence)
            .iter()
            .filter(|(jid, p)| jid.to_bare() == *to && Some(*jid) != except && priority(p) >= 0)
            .map(|(jid, _)| jid.clone())
            .collect();
        if targets.is_empty() || stanza.attr("type") == Some("groupchat") {
            return self.undeliverable(now, to, stanza, now.wall());
        }
        for jid in &targets {
            let mut copy = stanza.clone();
            xml::set(&mut copy, "to", jid.to_string());
            self.deliver(now, jid, copy);
        }
    }

    /// Stanzas a session handed back (never acknowledged): messages go to the account's
    /// other resources or offline, with their first-sent time; iqs are answered with an
    /// error; presence is state, not worth keeping.
    pub(crate) fn hand_back(&self, now: Now, from: Option<&FullJid>, stanzas: Vec<Unacked>) {
        for Unacked {
            stanza, first_sent, ..
        } in stanzas
        {
            let to = stanza.attr("to").and_then(|t| t.parse::<Jid>().ok());
            match (stanza.name(), to) {
                ("message", Some(to)) => {
                    let bare = to.to_bare();
                    let has_others = lock(&self.presence)
                        .keys()
                        .any(|j| j.to_bare() == bare && Some(j) != from);
                    if has_others {
                        self.deliver_message(now, &bare, stanza, from);
                    } else {
                        self.undeliverable(now, &bare, stanza, first_sent);
                    }
                }
                ("iq", _) => self.bounce(now, &stanza, DefinedCondition::ServiceUnavailable),
                _ => {}
            }
        }
    }

    /// A stanza no resource can take now: a chat or normal message waits offline, an iq is
    /// answered with an error, anything else is dropped (RFC 6121 §8.5.2.1, §8.5.3.2).
    fn undeliverable(&self, now: Now, to: &BareJid, stanza: Element, first_sent: SystemTime) {
        let keep = stanza.is("message", CLIENT)
            && matches!(stanza.attr("type"), None | Some("chat" | "normal"));
        if !keep {
            if stanza.name() == "iq" {
                self.bounce(now, &stanza, DefinedCondition::ServiceUnavailable);
            }
            return;
        }
        let trigger = crate::push::worth_a_push(&stanza); // push0
        let stored = lock(&self.offline).store(to.clone(), stanza, first_sent, &self.domain);
        match stored {
            Ok(()) => self.push0_offline(now, to, trigger), // push0
            Err(stanza) => self.bounce(now, &stanza, DefinedCondition::ResourceConstraint),
        }
    }

    /// Answers `stanza` with an error from the server, to its sender.
    pub(crate) fn bounce(&self, now: Now, stanza: &Element, condition: DefinedCondition) {
        let Some(reply) = xml::error(stanza, ErrorType::Cancel, condition) else {
            return;
        };
        let mut reply = reply;
        if stanza.attr("to").is_none() {
            xml::set(&mut reply, "from", self.domain.clone());
        }
        if let Some(sender) = stanza.attr("from").and_then(|f| f.parse::<FullJid>().ok()) {
            self.deliver(now, &sender, reply);
        } else if stanza.attr("from") == Some(self.domain.as_str()) {
            // The server's own stanza (a push to an unreachable service): its error comes
            // back to the server, as the service's own would.
            self.on_component_answer(now, reply);
        }
    }
}

/// A presence's priority (RFC 6121 §4.7.2.3), 0 when absent or malformed.
pub(crate) fn priority(presence: &Element) -> i8 {
    presence
        .get_child("priority", CLIENT)
        .and_then(|p| p.text().trim().parse().ok())
        .unwrap_or(0)
}
