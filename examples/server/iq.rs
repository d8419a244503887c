//! What the server answers itself: ping (XEP-0199), disco#info (XEP-0030), the roster
//! (RFC 6121 §2), the legacy session request (RFC 3921 §3) and PEP (XEP-0163, in `pep.rs`);
//! anything else is refused.

use xmpp_tether::jid::{BareJid, FullJid};
use xmpp_tether::minidom::Element;
use xmpp_tether::xmpp_parsers::disco::{DiscoInfoResult, Identity};
use xmpp_tether::xmpp_parsers::roster::{Item, Roster};
use xmpp_tether::xmpp_parsers::stanza_error::DefinedCondition;
use xmpp_tether::{Now, push0, push2};

use crate::state::{Shared, lock};
use crate::xml::{self, CLIENT};

const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
const PING: &str = "urn:xmpp:ping";
const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
const PUBSUB_OWNER: &str = "http://jabber.org/protocol/pubsub#owner";
const ROSTER: &str = "jabber:iq:roster";
const SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";

impl Shared {
    /// A stanza for the server itself, or for an account's bare JID that the server answers
    /// on the account's behalf.
    pub(crate) fn on_server_stanza(
        &self,
        now: Now,
        from: &FullJid,
        target: &BareJid,
        stanza: Element,
    ) {
        if stanza.is("iq", CLIENT) && matches!(stanza.attr("type"), Some("result" | "error")) {
            // Answers to what the server asked (the caps cache's disco#info queries).
            return self.pep_answer(now, &stanza);
        }
        if !stanza.is("iq", CLIENT) || !matches!(stanza.attr("type"), Some("get" | "set")) {
            return;
        }
        // Push commands (XEP-0357, Push 2.0), answered by their registries.
        // push0 {
        if self.push0(now, |r| r.handle_stanza(now, &stanza)) != Ok(push0::Incoming::NotOurs) {
            return;
        }
        // push0 }
        let device = self.push2_device(from); // push2
        // push2 {
        if self.push2(now, |r| r.handle_iq(now, &device, &stanza)) != Ok(push2::Incoming::NotOurs) {
            return;
        }
        // push2 }
        let own = *target == from.to_bare();
        let server = target.node().is_none();
        let payload = stanza.children().next();
        let ns = payload.map(Element::ns).unwrap_or_default();
        let reply = match (ns.as_str(), stanza.attr("type")) {
            (PING, Some("get")) => Some(xml::result(&stanza, None)),
            (SESSION, Some("set")) if server => Some(xml::result(&stanza, None)),
            (DISCO_INFO, Some("get")) if server || self.is_local(target) => {
                Some(xml::result(&stanza, Some(self.disco_info(server).into())))
            }
            (PUBSUB | PUBSUB_OWNER, _) if !server => {
                let answer = self.on_pubsub(now, from, target, &stanza);
                Some(answer.map_or_else(|e| e.reply(&stanza), |p| xml::result(&stanza, p)))
            }
            (ROSTER, Some("get")) if own || server => {
                let roster = lock(&self.rosters).roster(&from.to_bare());
                Some(xml::result(&stanza, Some(roster.into())))
            }
            (ROSTER, Some("set")) if own || server => {
                self.roster_set(now, from, &stanza);
                Some(xml::result(&stanza, None))
            }
            _ => None,
        };
        match reply {
            Some(mut reply) => {
                if stanza.attr("to").is_none() {
                    xml::set(&mut reply, "from", from.to_bare().to_string());
                }
                xml::set(&mut reply, "to", from.to_string());
                self.deliver(now, from, reply);
            }
            None => self.bounce(now, &stanza, DefinedCondition::ServiceUnavailable),
        }
    }

    fn disco_info(&self, server: bool) -> DiscoInfoResult {
        let (category, kind) = if server {
            ("server", "im")
        } else {
            ("account", "registered")
        };
        let mut features = vec![DISCO_INFO, PING];
        let mut identities = vec![Identity::new(category, kind, "en", "tether example server")];
        if server {
            features.push(ROSTER);
        } else {
            // The account's PEP service (XEP-0163 §6.1).
            features.extend(crate::pep::FEATURES);
            identities.push(Identity::new("pubsub", "pep", "en", "PEP"));
        }
        let mut info = DiscoInfoResult {
            node: None,
            identities,
            features: features.into_iter().map(str::to_owned).collect(),
            extensions: Vec::new(),
        };
        if !server {
            // XEP-0357 §4.1 and Push 2.0: on the account's bare JID.
            push0::elements::disco::add_account_feature(&mut info); // push0
            self.push2_disco(&mut info); // push2
        }
        info
    }

    fn roster_set(&self, now: Now, from: &FullJid, iq: &Element) {
        let Some(items) = iq
            .get_child("query", ROSTER)
            .and_then(|q| Roster::try_from(q.clone()).ok())
        else {
            return;
        };
        let user = from.to_bare();
        for item in items.items.iter().filter(|i| self.is_local(&i.jid)) {
            let effects = lock(&self.rosters).set(&user, item);
            self.apply(now, effects);
        }
    }

    /// A roster push (RFC 6121 §2.1.6) of `user`'s item for `contact` to each resource.
    pub(crate) fn push_roster(&self, now: Now, user: &BareJid, contact: &BareJid) {
        let item: Item = lock(&self.rosters).item(user, contact);
        for (jid, _) in self.sessions.resources(user) {
            let roster = Roster {
                ver: None,
                items: vec![item.clone()],
            };
            let mut push = Element::builder("iq", CLIENT)
                .attr(xml::name("type"), "set")
                .attr(
                    xml::name("id"),
                    format!("push-{}", now.monotonic().since_epoch().as_nanos()),
                )
                .append(Element::from(roster))
                .build();
            xml::set(&mut push, "to", jid.to_string());
            self.deliver(now, &jid, push);
        }
    }
}
