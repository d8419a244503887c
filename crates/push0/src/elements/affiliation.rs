//! Remote disabling (XEP-0357 §8): the push service tells the user's server that it no longer
//! accepts publishes for a node.

use jid::{BareJid, Jid};
use minidom::Element;
use minidom::rxml::xml_ncname;
use xmpp_parsers::pubsub::AffiliationAttribute;

use crate::error::ParseError;
use crate::ns;
use crate::xml;

/// The affiliation change notice of XEP-0357 §8:
/// `<pubsub node='…'><affiliation jid='…' affiliation='none'/></pubsub>` inside a message.
///
/// xmpp-parsers cannot read it: its `<pubsub/>` allows no attributes and its `<affiliation/>`
/// has a required `node` and no `jid`. The XEP-0060 §8.9.4 form,
/// `<pubsub><affiliations node='…'><affiliation jid affiliation/></affiliations></pubsub>`, is
/// read as well.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AffiliationChange {
    /// The node.
    pub node: String,
    /// Whose affiliation changed (the user's bare JID, or the server's).
    pub jid: Jid,
    /// The new affiliation; `none` (or `outcast`) ends publishing.
    pub affiliation: AffiliationAttribute,
}

impl AffiliationChange {
    /// The notice that `jid` may no longer publish to `node`.
    #[must_use]
    pub fn revoked(node: impl Into<String>, jid: Jid) -> Self {
        Self {
            node: node.into(),
            jid,
            affiliation: AffiliationAttribute::None,
        }
    }

    /// Whether the change ends publishing: any affiliation but `owner`, `publisher` and
    /// `publish-only`.
    #[must_use]
    pub const fn revokes_publishing(&self) -> bool {
        !matches!(
            self.affiliation,
            AffiliationAttribute::Owner
                | AffiliationAttribute::Publisher
                | AffiliationAttribute::PublishOnly
        )
    }

    /// Reads the `<pubsub/>` child of a message (in any stanza namespace).
    pub fn from_message(message: &Element) -> Result<Self, ParseError> {
        let pubsub = message
            .get_child("pubsub", ns::PUBSUB)
            .ok_or(ParseError::Mismatch { expected: "pubsub" })?;
        Self::try_from(pubsub)
    }

    /// The message a push service sends: from the service to the user's bare JID.
    #[must_use]
    pub fn to_message(&self, from: &Jid, to: &BareJid) -> Element {
        let mut message = Element::bare("message", ns::JABBER_CLIENT);
        xml::set(&mut message, xml_ncname!("from"), from.as_str());
        xml::set(&mut message, xml_ncname!("to"), to.as_str());
        message.append_child(self.clone().into());
        message
    }
}

impl TryFrom<&Element> for AffiliationChange {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        if !el.is("pubsub", ns::PUBSUB) {
            return Err(ParseError::Mismatch { expected: "pubsub" });
        }
        let (holder, affiliation) = match el.get_child("affiliation", ns::PUBSUB) {
            Some(a) => (el, a),
            None => {
                let list =
                    el.get_child("affiliations", ns::PUBSUB)
                        .ok_or(ParseError::Mismatch {
                            expected: "affiliation",
                        })?;
                let a = list
                    .get_child("affiliation", ns::PUBSUB)
                    .ok_or(ParseError::Mismatch {
                        expected: "affiliation",
                    })?;
                (list, a)
            }
        };
        let node = holder.attr("node").ok_or(ParseError::MissingAttribute {
            element: "pubsub",
            attribute: "node",
        })?;
        let jid = affiliation
            .attr("jid")
            .ok_or(ParseError::MissingAttribute {
                element: "affiliation",
                attribute: "jid",
            })?;
        let jid = jid.parse().map_err(|_| ParseError::InvalidJid {
            element: "affiliation",
            value: jid.to_owned(),
        })?;
        let value = affiliation
            .attr("affiliation")
            .ok_or(ParseError::MissingAttribute {
                element: "affiliation",
                attribute: "affiliation",
            })?;
        let affiliation = value.parse().map_err(|_| ParseError::InvalidAffiliation {
            value: value.to_owned(),
        })?;
        Ok(Self {
            node: node.to_owned(),
            jid,
            affiliation,
        })
    }
}

impl From<AffiliationChange> for Element {
    fn from(a: AffiliationChange) -> Self {
        let mut affiliation = Self::bare("affiliation", ns::PUBSUB);
        xml::set(&mut affiliation, xml_ncname!("jid"), a.jid.as_str());
        xml::set(
            &mut affiliation,
            xml_ncname!("affiliation"),
            a.affiliation.to_string(),
        );
        let mut pubsub = Self::bare("pubsub", ns::PUBSUB);
        xml::set(&mut pubsub, xml_ncname!("node"), a.node);
        pubsub.append_child(affiliation);
        pubsub
    }
}
