//! Service discovery (XEP-0357 §4): the account advertises `urn:xmpp:push:0`; a push service
//! identifies as `pubsub/push`.

use jid::Jid;
use minidom::Element;
use minidom::rxml::xml_ncname;
use xmpp_parsers::disco::{DiscoInfoResult, Identity};

use crate::error::ParseError;
use crate::ns;
use crate::xml;

/// What a disco#info result says about push (XEP-0357 §4).
///
/// Read leniently from the `<query/>` (or an iq holding one): only `<feature var/>` and
/// `<identity category type/>` are looked at, so results with content xmpp-parsers'
/// [`DiscoInfoResult`] refuses (such as the literal `...` of the XEP's examples) still read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PushDisco {
    /// The feature `urn:xmpp:push:0`: on an account, the server publishes notifications for it
    /// (§4.1); a push service lists it too (§4.2).
    pub supports_push: bool,
    /// The identity `pubsub/push`: the entity is an XMPP Push Service (§4.2).
    pub is_push_service: bool,
}

impl TryFrom<&Element> for PushDisco {
    type Error = ParseError;

    /// Reads `<query xmlns='http://jabber.org/protocol/disco#info'/>`, or the result iq that
    /// holds it.
    fn try_from(el: &Element) -> Result<Self, ParseError> {
        let query = if el.is("query", ns::DISCO_INFO) {
            el
        } else if xml::is_stanza(el, "iq") {
            el.get_child("query", ns::DISCO_INFO)
                .ok_or(ParseError::Mismatch { expected: "query" })?
        } else {
            return Err(ParseError::Mismatch { expected: "query" });
        };
        let mut disco = Self::default();
        for child in query.children() {
            if child.is("feature", ns::DISCO_INFO) && child.attr("var") == Some(ns::PUSH) {
                disco.supports_push = true;
            }
            if child.is("identity", ns::DISCO_INFO)
                && child.attr("category") == Some("pubsub")
                && child.attr("type") == Some("push")
            {
                disco.is_push_service = true;
            }
        }
        Ok(disco)
    }
}

impl From<&DiscoInfoResult> for PushDisco {
    fn from(info: &DiscoInfoResult) -> Self {
        Self {
            supports_push: info.features.contains(ns::PUSH),
            is_push_service: info
                .identities
                .iter()
                .any(|i| i.category == "pubsub" && i.type_ == "push"),
        }
    }
}

/// Adds the account feature `urn:xmpp:push:0` to a disco#info result about an account
/// (XEP-0357 §4.1: when "the account is provisioned to allow" push).
pub fn add_account_feature(info: &mut DiscoInfoResult) {
    info.features.insert(ns::PUSH.to_owned());
}

/// The disco#info of an XMPP Push Service (XEP-0357 §4.2): identity `pubsub/push`, features
/// disco#info and `urn:xmpp:push:0`.
#[must_use]
pub fn push_service_info() -> DiscoInfoResult {
    DiscoInfoResult {
        node: None,
        identities: vec![Identity {
            category: "pubsub".to_owned(),
            type_: "push".to_owned(),
            lang: None,
            name: None,
        }],
        features: [ns::DISCO_INFO, ns::PUSH]
            .into_iter()
            .map(str::to_owned)
            .collect(),
        extensions: Vec::new(),
    }
}

/// The disco#info request a client sends to its own account (XEP-0357 §4.1).
#[must_use]
pub fn info_request(id: &str, to: &Jid) -> Element {
    let mut iq = Element::bare("iq", ns::JABBER_CLIENT);
    xml::set(&mut iq, xml_ncname!("type"), "get");
    xml::set(&mut iq, xml_ncname!("id"), id);
    xml::set(&mut iq, xml_ncname!("to"), to.as_str());
    iq.append_child(Element::bare("query", ns::DISCO_INFO));
    iq
}
