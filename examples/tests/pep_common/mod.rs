//! The example server's PEP service as the service tests of `server_pep.rs` use it: a
//! client device that answers the server's disco#info queries from its caps, the PubSub
//! requests, and what to read from the answers and notifications.

use std::time::Duration;

use jid::Jid;
use minidom::Element;
use xmpp_parsers::hashes::Algo;
use xmpp_tether_testkit::prosody::DOMAIN;

use super::T;

pub(crate) const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
pub(crate) const PUBSUB_EVENT: &str = "http://jabber.org/protocol/pubsub#event";
pub(crate) const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";

/// One client connection that answers the server's disco#info queries from its features.
pub(crate) struct Device {
    pub(crate) conn: xmpp_tether_testkit::client::Connection,
    disco: Option<xmpp_parsers::disco::DiscoInfoResult>,
    /// disco#info queries the server asked (and we answered).
    pub(crate) queries: Vec<Element>,
    /// Stanzas read while waiting for something else.
    pub(crate) inbox: Vec<Element>,
    next_id: u32,
}

impl Device {
    /// `user@localhost/resource`, bound, with initial presence (with caps for `features`).
    pub(crate) fn online(
        addr: std::net::SocketAddr,
        user: &str,
        resource: &str,
        features: &[&str],
    ) -> Self {
        let bare = jid::BareJid::new(&format!("{user}@{DOMAIN}")).expect("a JID");
        let password = format!("{user}-pass");
        let (mut conn, _) =
            xmpp_tether_testkit::client::Connection::login(addr, &bare, &password, T)
                .unwrap_or_else(|e| panic!("{user} logging in: {e}"));
        conn.bind(Some(resource), T).expect("bind");
        let mut device = Self {
            conn,
            disco: None,
            queries: Vec::new(),
            inbox: Vec::new(),
            next_id: 0,
        };
        device.presence(0, Some(features));
        device
    }

    /// Available presence with `priority` and, for `Some(features)`, the caps of those
    /// features (none if empty), which the disco#info answers follow from now on; `None`
    /// sends no `<c/>` (the caps unchanged, XEP-0115 §8.4).
    pub(crate) fn presence(&mut self, priority: i8, features: Option<&[&str]>) {
        use xmpp_parsers::disco::{DiscoInfoResult, Identity};
        let mut presence = Element::builder("presence", "jabber:client")
            .append(Element::builder("priority", "jabber:client").append(priority.to_string()))
            .build();
        if let Some(features) = features {
            self.disco = (!features.is_empty()).then(|| DiscoInfoResult {
                node: None,
                identities: vec![Identity::new("client", "phone", "en", "tether test")],
                features: features.iter().map(|f| (*f).to_owned()).collect(),
                extensions: vec![],
            });
            if let Some(disco) = &self.disco {
                let caps =
                    xmpp_tether::rsnf::caps_for("https://tether.example/test", disco, Algo::Sha_1)
                        .expect("sha-1 caps");
                presence.append_child(caps.into());
            }
        }
        self.conn.send(&presence).expect("presence");
    }

    /// Reads one element (answering disco#info queries) into the inbox; false on timeout.
    pub(crate) fn read(&mut self, timeout: Duration) -> bool {
        let event = self.conn.recv(timeout).expect("the stream");
        let Some(xmpp_tether_testkit::xml::StreamEvent::Element(el)) = event else {
            return false;
        };
        let query = el.get_child("query", DISCO_INFO);
        match (&self.disco, query, el.attr("type")) {
            (Some(disco), Some(query), Some("get")) => {
                let mut answer = disco.clone();
                answer.node = query.attr("node").map(str::to_owned);
                let id = el.attr("id").unwrap_or_default().to_owned();
                let to: Jid = el.attr("from").expect("from").parse().expect("a JID");
                let iq = xmpp_parsers::iq::Iq::from_result(id, Some(answer)).with_to(to);
                self.conn.send(&iq.into()).expect("disco#info result");
                self.queries.push(el);
            }
            _ => self.inbox.push(el),
        }
        true
    }

    /// Waits for a stanza that `pred` accepts, and takes it from the inbox.
    pub(crate) fn wait(&mut self, what: &str, pred: impl Fn(&Element) -> bool) -> Element {
        let deadline = xmpp_tether_testkit::deadline_in(T);
        loop {
            if let Some(at) = self.inbox.iter().position(&pred) {
                return self.inbox.remove(at);
            }
            let left = xmpp_tether_testkit::remaining(deadline)
                .unwrap_or_else(|| panic!("{what}: not within {T:?}; inbox {:?}", self.inbox));
            self.read(left);
        }
    }

    /// Reads for `duration`, answering queries.
    pub(crate) fn settle(&mut self, duration: Duration) {
        let deadline = xmpp_tether_testkit::deadline_in(duration);
        while let Some(left) = xmpp_tether_testkit::remaining(deadline) {
            self.read(left);
        }
    }

    /// An iq with `payload` (XML), and its answer.
    pub(crate) fn iq(&mut self, kind: &str, to: Option<&str>, payload: &str) -> Element {
        self.next_id += 1;
        let id = format!("t{}", self.next_id);
        let to = to.map(|t| format!(" to='{t}'")).unwrap_or_default();
        let iq: Element =
            format!("<iq xmlns='jabber:client' type='{kind}' id='{id}'{to}>{payload}</iq>")
                .parse()
                .expect("the test's iq parses");
        self.conn.send(&iq).expect("iq");
        self.wait(&format!("the answer to {payload}"), |el| {
            el.is("iq", "jabber:client") && el.attr("id") == Some(id.as_str())
        })
    }

    /// A ping to the server, and its answer: what this device sent before it was handled.
    pub(crate) fn sync(&mut self) {
        let pong = self.iq("get", Some(DOMAIN), "<ping xmlns='urn:xmpp:ping'/>");
        assert_eq!(pong.attr("type"), Some("result"), "{}", String::from(&pong));
    }

    pub(crate) fn send(&mut self, xml: &str) {
        let el: Element = xml.parse().expect("the test's stanza parses");
        self.conn.send(&el).expect("send");
    }
}

pub(crate) fn publish(
    node: &str,
    id: Option<&str>,
    value: &str,
    options: &[(&str, &str)],
) -> String {
    let id = id.map(|i| format!(" id='{i}'")).unwrap_or_default();
    let options = if options.is_empty() {
        String::new()
    } else {
        let fields: String = options
            .iter()
            .map(|(var, value)| format!("<field var='{var}'><value>{value}</value></field>"))
            .collect();
        format!(
            "<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' \
             type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value>\
             </field>{fields}</x></publish-options>"
        )
    };
    format!(
        "<pubsub xmlns='{PUBSUB}'><publish node='{node}'><item{id}><value xmlns='{node}'>{value}\
         </value></item></publish>{options}</pubsub>"
    )
}

pub(crate) fn items(node: &str) -> String {
    format!("<pubsub xmlns='{PUBSUB}'><items node='{node}'/></pubsub>")
}

/// The ids of the items in a result or a notification, in order.
pub(crate) fn ids(el: &Element) -> Vec<String> {
    let holder = el
        .get_child("pubsub", PUBSUB)
        .or_else(|| el.get_child("event", PUBSUB_EVENT))
        .and_then(|p| p.children().next())
        .expect("a pubsub or event payload");
    holder
        .children()
        .filter_map(|c| c.attr("id").map(str::to_owned))
        .collect()
}

/// An error reply's defined condition and pubsub#errors condition.
pub(crate) fn error(el: &Element) -> (String, Option<String>) {
    assert_eq!(el.attr("type"), Some("error"), "{}", String::from(el));
    let error = el.get_child("error", "jabber:client").expect("<error/>");
    let mut condition = None;
    let mut pubsub = None;
    for child in error.children() {
        if child.ns() == "urn:ietf:params:xml:ns:xmpp-stanzas" {
            condition = Some(child.name().to_owned());
        } else if child.ns() == "http://jabber.org/protocol/pubsub#errors" {
            pubsub = Some(child.name().to_owned());
        }
    }
    (condition.expect("a defined condition"), pubsub)
}

/// `romeo` asks for `juliet`'s presence, and she approves: a contact of hers for PEP.
pub(crate) fn romeo_subscribes_to_juliet(romeo: &mut Device, juliet: &mut Device) {
    let is = |kind: &'static str| {
        move |p: &Element| p.is("presence", "jabber:client") && p.attr("type") == Some(kind)
    };
    romeo.send(&format!(
        "<presence xmlns='jabber:client' type='subscribe' to='juliet@{DOMAIN}'/>"
    ));
    juliet.wait("romeo's request", is("subscribe"));
    juliet.send(&format!(
        "<presence xmlns='jabber:client' type='subscribed' to='romeo@{DOMAIN}'/>"
    ));
    romeo.wait("juliet's approval", is("subscribed"));
}

/// The notifications `device` got within `settle`, as "node id,id", taken from its inbox.
pub(crate) fn events(device: &mut Device, settle: Duration) -> Vec<String> {
    device.settle(settle);
    let mut got = Vec::new();
    device.inbox.retain(|el| {
        let Some(event) = el.get_child("event", PUBSUB_EVENT) else {
            return true;
        };
        let node = event.children().next().and_then(|c| c.attr("node"));
        got.push(format!(
            "{} {}",
            node.unwrap_or_default(),
            ids(el).join(",")
        ));
        false
    });
    got
}

pub(crate) fn is_event(el: &Element, kind: &str) -> bool {
    el.is("message", "jabber:client")
        && el.attr("type") == Some("headline")
        && el
            .get_child("event", PUBSUB_EVENT)
            .and_then(|e| e.children().next())
            .is_some_and(|c| {
                let retract = c.has_child("retract", PUBSUB_EVENT);
                match kind {
                    "publish" => c.name() == "items" && !retract,
                    "retract" => c.name() == "items" && retract,
                    other => c.name() == other,
                }
            })
}
