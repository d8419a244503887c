//! What the [`Registry`](crate::Registry) hands out to write: replies to the user's commands
//! and publish iqs to push services, each addressed.

use std::sync::{Arc, OnceLock};

use jid::{BareJid, Jid};
use minidom::Element;
use minidom::rxml::xml_ncname;

use super::event::PushNode;
use crate::elements::{Notification, PublishOptions};
use crate::{ns, xml};

/// What every publish of one notification shares, built once per trigger: the account, the
/// `from`, and the notification with its XML written (and its element, built by the first
/// publish asked for one, cloned by the others).
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) account: Arc<BareJid>,
    pub(crate) from: Arc<Jid>,
    pub(crate) notification: Notification,
    pub(crate) xml: String,
    element: OnceLock<Element>,
}

impl Batch {
    pub(crate) fn new(account: Arc<BareJid>, from: Arc<Jid>, notification: Notification) -> Self {
        // The fixed part of a summary is under 384 octets; the sender and body come on top.
        let revealed = notification.summary.as_ref().map_or(0, |s| {
            s.last_message_sender
                .as_ref()
                .map_or(0, |j| j.as_str().len())
                + s.last_message_body.as_ref().map_or(0, String::len)
        });
        let mut xml = String::with_capacity(384 + revealed);
        notification.write_xml(&mut xml);
        Self {
            account,
            from,
            notification,
            xml,
            element: OnceLock::new(),
        }
    }

    /// The `<notification/>` element.
    fn element(&self) -> &Element {
        self.element
            .get_or_init(|| Element::from(self.notification.clone()))
    }
}

/// A publish iq's `id`, kept inline: the registry's 14-character prefix, the sequence number
/// and the attempt in hex (at most 39 octets), so that queueing a publish allocates nothing
/// for it.
#[derive(Clone, Copy)]
pub(crate) struct PublishId {
    bytes: [u8; Self::CAPACITY],
    len: u8,
}

impl PublishId {
    const CAPACITY: usize = 40;

    /// `prefix`, `seq` and `attempt` in hex, separated by a dot; `prefix` is at most 14
    /// ASCII octets (a longer one is cut, which no registry makes).
    pub(crate) fn new(prefix: &str, seq: u64, attempt: u32) -> Self {
        let mut bytes = [0; Self::CAPACITY];
        let prefix = &prefix.as_bytes()[..prefix.len().min(14)];
        bytes[..prefix.len()].copy_from_slice(prefix);
        let mut len = prefix.len();
        len = push_hex(&mut bytes, len, seq);
        bytes[len] = b'.';
        len = push_hex(&mut bytes, len + 1, u64::from(attempt));
        Self {
            bytes,
            // At most 14 + 16 + 1 + 8 = 39 octets.
            len: u8::try_from(len).unwrap_or(u8::MAX),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII is pushed (the prefix is `p`, hex and `.`; a cut never splits a
        // character of it); the fallback is never taken.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

/// Writes `n` in lower-case hex at `bytes[at..]`; returns the end. `bytes` has room for 16
/// digits after `at` (`at` is at most 31 in a [`PublishId`]).
fn push_hex(bytes: &mut [u8; PublishId::CAPACITY], at: usize, n: u64) -> usize {
    let digits = usize::try_from((64 - n.leading_zeros()).div_ceil(4).max(1)).unwrap_or(16);
    let end = (at + digits).min(bytes.len());
    let mut rest = n;
    for slot in bytes[at..end].iter_mut().rev() {
        // The nibble is below 16: the index is in range.
        *slot = b"0123456789abcdef"[(rest & 15) as usize];
        rest >>= 4;
    }
    end
}

impl std::fmt::Debug for PublishId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Publish options as given at enable time, with their element built and their XML written
/// once (xmpp-parsers' form serialiser is slow next to a clone).
#[derive(Debug, PartialEq)]
pub(crate) struct Options {
    pub(crate) form: PublishOptions,
    pub(crate) element: Element,
    pub(crate) xml: String,
}

impl Options {
    pub(crate) fn new(form: PublishOptions) -> Self {
        let element = Element::from(form.clone());
        let xml = xml::element_text(&element);
        Self { form, element, xml }
    }
}

/// An element to write, in the order `poll_transmit` returns them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Transmit {
    /// The result or error answering an `<enable/>`/`<disable/>` iq, to the session that sent
    /// it.
    Reply {
        /// The session.
        to: Jid,
        /// The iq.
        element: Box<Element>,
    },
    /// A publish iq to a push service.
    Publish(PublishIq),
}

impl Transmit {
    /// Where it goes.
    #[must_use]
    pub fn to(&self) -> &Jid {
        match self {
            Self::Reply { to, .. } => to,
            Self::Publish(p) => &p.node.service,
        }
    }

    /// The element (built on demand for a publish).
    #[must_use]
    pub fn into_element(self) -> Element {
        match self {
            Self::Reply { element, .. } => *element,
            Self::Publish(p) => p.to_element(),
        }
    }

    /// Appends the stanza's XML as it is written inside a stream: without a stanza `xmlns`
    /// for publishes, so it takes the stream's own (`jabber:server` over s2s,
    /// `jabber:component:accept` to a component).
    pub fn write_xml(&self, out: &mut String) {
        match self {
            Self::Reply { element, .. } => out.push_str(&xml::element_text(element)),
            Self::Publish(p) => p.write_xml(out),
        }
    }
}

/// A publish iq (XEP-0357 §7) on its way to a push service: typed, with the parts every
/// publish of one trigger shares written once, so building five of them costs a few string
/// copies. [`PublishIq::write_xml`] writes it; [`PublishIq::to_element`] builds a
/// `minidom::Element` (`jabber:client`).
#[derive(Debug, Clone)]
pub struct PublishIq {
    pub(crate) batch: Arc<Batch>,
    pub(crate) node: Arc<PushNode>,
    pub(crate) id: PublishId,
    pub(crate) options: Option<Arc<Options>>,
}

impl PublishIq {
    /// The account the notification is about.
    #[must_use]
    pub fn account(&self) -> &BareJid {
        &self.batch.account
    }

    /// The `from`: the server (XEP-0357 0.3+) or the account (0.2.1).
    #[must_use]
    pub fn from(&self) -> &Jid {
        &self.batch.from
    }

    /// The registration published to.
    #[must_use]
    pub fn node(&self) -> &PushNode {
        &self.node
    }

    /// The iq `id`.
    #[must_use]
    pub fn id(&self) -> &str {
        self.id.as_str()
    }

    /// The notification.
    #[must_use]
    pub fn notification(&self) -> &Notification {
        &self.batch.notification
    }

    /// The publish options copied from the registration.
    #[must_use]
    pub fn publish_options(&self) -> Option<&PublishOptions> {
        self.options.as_deref().map(|o| &o.form)
    }

    /// Appends the iq as written inside a stream (no stanza `xmlns`).
    pub fn write_xml(&self, out: &mut String) {
        out.push_str("<iq type='set'");
        xml::write_attr(out, "from", self.batch.from.as_str());
        xml::write_attr(out, "to", self.node.service.as_str());
        xml::write_attr(out, "id", self.id.as_str());
        out.push_str("><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish");
        if let Some(node) = &self.node.node {
            xml::write_attr(out, "node", node);
        }
        out.push_str("><item>");
        out.push_str(&self.batch.xml);
        out.push_str("</item></publish>");
        if let Some(options) = &self.options {
            out.push_str("<publish-options>");
            out.push_str(&options.xml);
            out.push_str("</publish-options>");
        }
        out.push_str("</pubsub></iq>");
    }

    /// The iq as a `minidom::Element` in `jabber:client` (the same as
    /// [`Publish::to_iq`](crate::Publish::to_iq) makes, from parts built once).
    #[must_use]
    pub fn to_element(&self) -> Element {
        let mut item = Element::bare("item", ns::PUBSUB);
        item.append_child(self.batch.element().clone());
        let mut publish = Element::bare("publish", ns::PUBSUB);
        xml::set(&mut publish, xml_ncname!("node"), self.node.node.as_deref());
        publish.append_child(item);
        let mut pubsub = Element::bare("pubsub", ns::PUBSUB);
        pubsub.append_child(publish);
        if let Some(options) = &self.options {
            let mut wrapper = Element::bare("publish-options", ns::PUBSUB);
            wrapper.append_child(options.element.clone());
            pubsub.append_child(wrapper);
        }
        let mut iq = Element::bare("iq", ns::JABBER_CLIENT);
        xml::set(&mut iq, xml_ncname!("type"), "set");
        xml::set(&mut iq, xml_ncname!("from"), self.batch.from.as_str());
        xml::set(&mut iq, xml_ncname!("to"), self.node.service.as_str());
        xml::set(&mut iq, xml_ncname!("id"), self.id.as_str());
        iq.append_child(pubsub);
        iq
    }

    /// The XML with an explicit `xmlns` (`ns`), for writing outside a stream or checking.
    #[must_use]
    pub fn to_xml_in(&self, stanza_ns: &str) -> String {
        let mut out = String::with_capacity(512);
        self.write_xml(&mut out);
        let mut head = String::from("<iq xmlns='");
        xml::escape_attr(&mut head, stanza_ns);
        head.push('\'');
        out.replacen("<iq", &head, 1)
    }
}

#[cfg(test)]
mod tests {
    use minidom::rxml::Namespace;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use xmpp_tether_core::{Monotonic, Now};

    use super::*;
    use crate::elements::{Enable, Publish};
    use crate::{Registry, RegistryConfig, Target, Trigger};

    #[test]
    fn the_element_is_the_one_publish_to_iq_makes() {
        let now = Now::new(Monotonic::default(), std::time::SystemTime::UNIX_EPOCH);
        let mut r = Registry::new(
            RegistryConfig::default(),
            &mut ChaCha20Rng::seed_from_u64(1),
        );
        for (node, secret) in [("n1", Some("s3cr3t")), ("n2", None)] {
            let enable = Enable::new("push.example".parse().expect("JID"), node);
            let enable = match secret {
                Some(secret) => enable.with_secret(secret),
                None => enable,
            };
            let mut iq = enable.to_iq("e");
            iq.set_attr(
                Namespace::NONE,
                xml_ncname!("from").to_owned(),
                "juliet@capulet.example/phone",
            );
            assert!(r.handle_stanza(now, &iq).is_ok());
        }
        while r.poll_transmit().is_some() {}
        let target = Target::Account("juliet@capulet.example".parse().expect("JID"));
        let trigger = Trigger::message("romeo@montague.example".parse().expect("JID"), None)
            .with_payload(Element::bare("extra", "urn:example"));
        assert_eq!(r.notify(now, &target, &trigger), 2);
        let mut checked = 0;
        while let Some(Transmit::Publish(p)) = r.poll_transmit() {
            let expected = Publish {
                node: p.node().node.clone(),
                item_id: None,
                notification: p.notification().clone(),
                publish_options: p.publish_options().cloned(),
            }
            .to_iq(p.from(), &p.node().service, p.id());
            assert_eq!(p.to_element(), expected);
            // Twice: the second from the element the first built.
            assert_eq!(p.to_element(), expected);
            checked += 1;
        }
        assert_eq!(checked, 2);
    }
}
