//! `<enable/>` and `<disable/>` (XEP-0357 §5, §6): the client's commands to its server.

use jid::Jid;
use minidom::Element;
use minidom::rxml::xml_ncname;

use super::form::PublishOptions;
use crate::error::ParseError;
use crate::ns;
use crate::xml;

/// `<enable xmlns='urn:xmpp:push:0' jid='…' node='…'/>`, optionally with publish options.
///
/// `jid` is any JID: xmpp-parsers types it as a bare JID, but a push service may be reached at
/// a full JID, and XEP-0357 only says "the JID of the XMPP Push Service". Conversions to
/// xmpp-parsers' type fail for a full JID.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Enable {
    /// The push service (the app server's XMPP component or account).
    pub jid: Jid,
    /// The node the app server provisioned. XEP-0357 §5 says it SHOULD be present (its 0.2.1
    /// schema says required); Prosody accepts an enable without one, ejabberd refuses it.
    pub node: Option<String>,
    /// Publish options the server copies into every publish (XEP-0357 §5).
    pub publish_options: Option<PublishOptions>,
}

impl Enable {
    /// Enables `node` at `jid`.
    #[must_use]
    pub fn new(jid: Jid, node: impl Into<String>) -> Self {
        Self {
            jid,
            node: Some(node.into()),
            publish_options: None,
        }
    }

    /// Adds publish options.
    #[must_use]
    pub fn with_publish_options(mut self, options: PublishOptions) -> Self {
        self.publish_options = Some(options);
        self
    }

    /// Adds the publish options of XEP-0357 §5: `FORM_TYPE` and `secret`.
    #[must_use]
    pub fn with_secret(self, secret: &str) -> Self {
        self.with_publish_options(PublishOptions::with_secret(secret))
    }

    /// The iq-set a client sends: `<iq type='set' id='…'><enable …/></iq>`, addressed to the
    /// account (no `to`, which means the account's bare JID).
    #[must_use]
    pub fn to_iq(&self, id: &str) -> Element {
        command_iq(id, self.clone().into())
    }
}

/// `<disable xmlns='urn:xmpp:push:0' jid='…'/>`, optionally for one node only.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Disable {
    /// The push service.
    pub jid: Jid,
    /// The node; `None` disables every node of the service (XEP-0357 §6).
    pub node: Option<String>,
}

impl Disable {
    /// Disables every node of `jid`.
    #[must_use]
    pub const fn new(jid: Jid) -> Self {
        Self { jid, node: None }
    }

    /// Disables one node only.
    #[must_use]
    pub fn with_node(mut self, node: impl Into<String>) -> Self {
        self.node = Some(node.into());
        self
    }

    /// The iq-set a client sends.
    #[must_use]
    pub fn to_iq(&self, id: &str) -> Element {
        command_iq(id, self.clone().into())
    }
}

fn command_iq(id: &str, payload: Element) -> Element {
    let mut iq = Element::bare("iq", ns::JABBER_CLIENT);
    xml::set(&mut iq, xml_ncname!("type"), "set");
    xml::set(&mut iq, xml_ncname!("id"), id);
    iq.append_child(payload);
    iq
}

fn jid_attr(el: &Element, element: &'static str) -> Result<Jid, ParseError> {
    let value = el.attr("jid").ok_or(ParseError::MissingAttribute {
        element,
        attribute: "jid",
    })?;
    value.parse().map_err(|_| ParseError::InvalidJid {
        element,
        value: value.to_owned(),
    })
}

impl TryFrom<&Element> for Enable {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        if !el.is("enable", ns::PUSH) {
            return Err(ParseError::Mismatch { expected: "enable" });
        }
        let jid = jid_attr(el, "enable")?;
        // The schema allows several forms; the publish options are the first whose FORM_TYPE
        // is publish-options, or else the first form without FORM_TYPE.
        let forms: Vec<&Element> = el
            .children()
            .filter(|c| c.is("x", ns::DATA_FORMS))
            .collect();
        let chosen = forms
            .iter()
            .find(|f| super::form::element_form_type(f).as_deref() == Some(ns::PUBLISH_OPTIONS))
            .or_else(|| {
                forms
                    .iter()
                    .find(|f| super::form::element_form_type(f).is_none())
            });
        let publish_options = chosen.map(|f| PublishOptions::try_from(*f)).transpose()?;
        Ok(Self {
            jid,
            node: el.attr("node").map(str::to_owned),
            publish_options,
        })
    }
}

impl From<Enable> for Element {
    fn from(e: Enable) -> Self {
        let mut el = Self::bare("enable", ns::PUSH);
        xml::set(&mut el, xml_ncname!("jid"), e.jid.as_str());
        xml::set(&mut el, xml_ncname!("node"), e.node);
        if let Some(options) = e.publish_options {
            el.append_child(options.into());
        }
        el
    }
}

impl TryFrom<&Element> for Disable {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        if !el.is("disable", ns::PUSH) {
            return Err(ParseError::Mismatch {
                expected: "disable",
            });
        }
        Ok(Self {
            jid: jid_attr(el, "disable")?,
            node: el.attr("node").map(str::to_owned),
        })
    }
}

impl From<Disable> for Element {
    fn from(d: Disable) -> Self {
        let mut el = Self::bare("disable", ns::PUSH);
        xml::set(&mut el, xml_ncname!("jid"), d.jid.as_str());
        xml::set(&mut el, xml_ncname!("node"), d.node);
        el
    }
}

impl TryFrom<xmpp_parsers::push::Enable> for Enable {
    type Error = ParseError;

    /// Fails when the form's `FORM_TYPE` is not publish-options.
    fn try_from(e: xmpp_parsers::push::Enable) -> Result<Self, ParseError> {
        Ok(Self {
            jid: e.jid.into(),
            node: e.node,
            publish_options: e.form.map(PublishOptions::from_form).transpose()?,
        })
    }
}

impl TryFrom<Enable> for xmpp_parsers::push::Enable {
    type Error = Enable;

    /// Fails (handing the value back) when the push service's JID is a full JID, which
    /// xmpp-parsers cannot represent.
    fn try_from(e: Enable) -> Result<Self, Enable> {
        if e.jid.is_full() {
            return Err(e);
        }
        Ok(Self {
            jid: e.jid.to_bare(),
            node: e.node,
            form: e.publish_options.map(PublishOptions::into_form),
        })
    }
}

impl From<xmpp_parsers::push::Disable> for Disable {
    fn from(d: xmpp_parsers::push::Disable) -> Self {
        Self {
            jid: d.jid.into(),
            node: d.node,
        }
    }
}

impl TryFrom<Disable> for xmpp_parsers::push::Disable {
    type Error = Disable;

    /// Fails (handing the value back) for a full JID.
    fn try_from(d: Disable) -> Result<Self, Disable> {
        if d.jid.is_full() {
            return Err(d);
        }
        Ok(Self {
            jid: d.jid.to_bare(),
            node: d.node,
        })
    }
}
