//! The publish iq (XEP-0357 §7): `<pubsub><publish node><item><notification/></item></publish>
//! <publish-options/></pubsub>`, read by the app server and written by the user's server.

use jid::Jid;
use minidom::Element;
use minidom::rxml::xml_ncname;
use xmpp_parsers::pubsub::{self, NodeName, PubSub};

use super::form::{PublishOptions, Summary, element_form_type};
use crate::error::ParseError;
use crate::ns;
use crate::xml;

/// `<notification xmlns='urn:xmpp:push:0'/>`: the item payload of a publish, with the
/// optional summary form and any other payloads (XEP-0357 §7: "Other elements MAY be
/// included").
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Notification {
    /// The `urn:xmpp:push:summary` form.
    pub summary: Option<Summary>,
    /// Every other child, in order (other forms included).
    pub payloads: Vec<Element>,
}

impl Notification {
    /// A notification without summary or payloads (what Prosody sends for a "ping").
    #[must_use]
    pub const fn new() -> Self {
        Self {
            summary: None,
            payloads: Vec::new(),
        }
    }

    /// Sets the summary.
    #[must_use]
    pub fn with_summary(mut self, summary: Summary) -> Self {
        self.summary = Some(summary);
        self
    }

    /// Adds a payload.
    #[must_use]
    pub fn with_payload(mut self, payload: Element) -> Self {
        self.payloads.push(payload);
        self
    }

    /// Appends the element as XML text (the same XML as `Element::from`).
    pub(crate) fn write_xml(&self, out: &mut String) {
        out.push_str("<notification xmlns='urn:xmpp:push:0'>");
        if let Some(summary) = &self.summary {
            summary.write_xml(out);
        }
        for payload in &self.payloads {
            out.push_str(&xml::element_text(payload));
        }
        out.push_str("</notification>");
    }
}

impl TryFrom<&Element> for Notification {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        if !el.is("notification", ns::PUSH) {
            return Err(ParseError::Mismatch {
                expected: "notification",
            });
        }
        let mut summary = None;
        let mut payloads = Vec::new();
        for child in el.children() {
            let is_summary = summary.is_none()
                && child.is("x", ns::DATA_FORMS)
                && element_form_type(child).as_deref() == Some(ns::SUMMARY);
            if is_summary {
                summary = Some(Summary::try_from(child)?);
            } else {
                payloads.push(child.clone());
            }
        }
        Ok(Self { summary, payloads })
    }
}

impl From<Notification> for Element {
    fn from(n: Notification) -> Self {
        let mut el = Self::bare("notification", ns::PUSH);
        if let Some(summary) = n.summary {
            el.append_child(summary.into());
        }
        for payload in n.payloads {
            el.append_child(payload);
        }
        el
    }
}

impl From<Notification> for xmpp_parsers::push::Notification {
    /// A summary without `type` becomes `type='submit'` (xmpp-parsers requires one).
    fn from(n: Notification) -> Self {
        Self {
            form: n.summary.as_ref().map(Into::into),
            payloads: n.payloads,
        }
    }
}

impl TryFrom<xmpp_parsers::push::Notification> for Notification {
    type Error = ParseError;

    /// Fails when the form is not a summary.
    fn try_from(n: xmpp_parsers::push::Notification) -> Result<Self, ParseError> {
        let summary = match n.form {
            None => None,
            Some(form) => {
                let form_type = Some(form.type_.clone());
                Some(Summary::from_form(&form, form_type)?)
            }
        };
        Ok(Self {
            summary,
            payloads: n.payloads,
        })
    }
}

/// The `<pubsub/>` payload of a publish iq (XEP-0357 §7).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Publish {
    /// The node (`None`: the publish names none, which XEP-0060 answers `nodeid-required`).
    pub node: Option<String>,
    /// The item's `id`, if any (XEP-0357 publishes carry none).
    pub item_id: Option<String>,
    /// The notification.
    pub notification: Notification,
    /// The publish options (XEP-0357 §7: the ones given at enable time).
    pub publish_options: Option<PublishOptions>,
}

impl Publish {
    /// A publish of `notification` to `node`.
    #[must_use]
    pub fn new(node: impl Into<String>, notification: Notification) -> Self {
        Self {
            node: Some(node.into()),
            item_id: None,
            notification,
            publish_options: None,
        }
    }

    /// Adds publish options.
    #[must_use]
    pub fn with_publish_options(mut self, options: PublishOptions) -> Self {
        self.publish_options = Some(options);
        self
    }

    /// Reads the `<pubsub/>` child of an iq (in any stanza namespace).
    pub fn from_iq(iq: &Element) -> Result<Self, ParseError> {
        let pubsub = iq
            .get_child("pubsub", ns::PUBSUB)
            .ok_or(ParseError::Mismatch { expected: "pubsub" })?;
        Self::try_from(pubsub)
    }

    /// The iq-set carrying this publish.
    #[must_use]
    pub fn to_iq(self, from: &Jid, to: &Jid, id: &str) -> Element {
        let mut iq = Element::bare("iq", ns::JABBER_CLIENT);
        xml::set(&mut iq, xml_ncname!("type"), "set");
        xml::set(&mut iq, xml_ncname!("from"), from.as_str());
        xml::set(&mut iq, xml_ncname!("to"), to.as_str());
        xml::set(&mut iq, xml_ncname!("id"), id);
        iq.append_child(self.into());
        iq
    }
}

impl TryFrom<&Element> for Publish {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        if !el.is("pubsub", ns::PUBSUB) {
            return Err(ParseError::Mismatch { expected: "pubsub" });
        }
        let publish = el
            .get_child("publish", ns::PUBSUB)
            .ok_or(ParseError::MissingPublish)?;
        let item = publish
            .get_child("item", ns::PUBSUB)
            .ok_or(ParseError::MissingItem)?;
        let notification = item
            .get_child("notification", ns::PUSH)
            .ok_or(ParseError::MissingNotification)?;
        let publish_options = el
            .get_child("publish-options", ns::PUBSUB)
            .and_then(|o| o.get_child("x", ns::DATA_FORMS))
            .map(PublishOptions::try_from)
            .transpose()?;
        Ok(Self {
            node: publish.attr("node").map(str::to_owned),
            item_id: item.attr("id").map(str::to_owned),
            notification: Notification::try_from(notification)?,
            publish_options,
        })
    }
}

impl From<Publish> for Element {
    fn from(p: Publish) -> Self {
        let mut item = Self::bare("item", ns::PUBSUB);
        xml::set(&mut item, xml_ncname!("id"), p.item_id);
        item.append_child(p.notification.into());
        let mut publish = Self::bare("publish", ns::PUBSUB);
        xml::set(&mut publish, xml_ncname!("node"), p.node);
        publish.append_child(item);
        let mut pubsub = Self::bare("pubsub", ns::PUBSUB);
        pubsub.append_child(publish);
        if let Some(options) = p.publish_options {
            let mut wrapper = Self::bare("publish-options", ns::PUBSUB);
            wrapper.append_child(options.into());
            pubsub.append_child(wrapper);
        }
        pubsub
    }
}

impl TryFrom<Publish> for PubSub {
    type Error = Publish;

    /// Fails (handing the value back) when the publish has no node: xmpp-parsers requires one.
    fn try_from(p: Publish) -> Result<Self, Publish> {
        let Some(node) = p.node.clone() else {
            return Err(p);
        };
        let item = pubsub::pubsub::Item {
            id: p.item_id.map(pubsub::ItemId),
            publisher: None,
            payload: Some(p.notification.into()),
        };
        Ok(Self::Publish {
            publish: pubsub::pubsub::Publish {
                node: NodeName(node),
                items: vec![item],
            },
            publish_options: p.publish_options.map(|o| pubsub::pubsub::PublishOptions {
                form: Some(o.into_form()),
            }),
        })
    }
}

impl TryFrom<PubSub> for Publish {
    type Error = ParseError;

    fn try_from(p: PubSub) -> Result<Self, ParseError> {
        let PubSub::Publish {
            publish,
            publish_options,
        } = p
        else {
            return Err(ParseError::MissingPublish);
        };
        let item = publish
            .items
            .into_iter()
            .next()
            .ok_or(ParseError::MissingItem)?;
        let payload = item.payload.ok_or(ParseError::MissingNotification)?;
        let notification =
            Notification::try_from(&payload).map_err(|_| ParseError::MissingNotification)?;
        Ok(Self {
            node: Some(publish.node.0),
            item_id: item.id.map(|i| i.0),
            notification,
            publish_options: publish_options
                .and_then(|o| o.form)
                .map(PublishOptions::from_form)
                .transpose()?,
        })
    }
}
