//! Stanzas the interop tests and examples send, and how they count what arrived.

use std::collections::BTreeMap;
use std::fmt::Display;

use minidom::Element;
use minidom::rxml::NcName;

use crate::xml::NS_CLIENT;

fn name(s: &'static str) -> NcName {
    // Invariant: only called with the literal attribute names below.
    NcName::try_from(s).expect("literal attribute name is a valid NCName")
}

/// A `<message type='chat'/>` to `to` with `body` (escaped as needed).
#[must_use]
pub fn chat(to: impl Display, body: &str) -> Element {
    Element::builder("message", NS_CLIENT)
        .attr(name("to"), to.to_string())
        .attr(name("type"), "chat")
        .append(Element::builder("body", NS_CLIENT).append(body).build())
        .build()
}

/// How often each message body occurs among `stanzas`: exactly-once checks compare this with
/// the bodies sent.
#[must_use]
pub fn body_counts<'a>(stanzas: impl IntoIterator<Item = &'a Element>) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for stanza in stanzas {
        if let Some(body) = stanza.get_child("body", NS_CLIENT) {
            *seen.entry(body.text()).or_insert(0) += 1;
        }
    }
    seen
}
