//! Small helpers for building and answering stanzas.

use xmpp_tether::minidom::rxml::{Namespace, NcName};
use xmpp_tether::minidom::{Element, Node};
use xmpp_tether::xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

pub(crate) const CLIENT: &str = "jabber:client";

/// An attribute name known at compile time.
pub(crate) fn name(s: &'static str) -> NcName {
    #[expect(
        clippy::expect_used,
        reason = "literal attribute names are valid NCNames"
    )]
    NcName::try_from(s).expect("a literal attribute name is a valid NCName")
}

/// Sets (or replaces) an unqualified attribute.
pub(crate) fn set(el: &mut Element, attr: &'static str, value: impl Into<String>) {
    el.set_attr(Namespace::none().clone(), name(attr), value.into());
}

/// An `<iq type='result'/>` answering `iq` (RFC 6120 §8.2.3), with an optional payload.
pub(crate) fn result(iq: &Element, payload: Option<Element>) -> Element {
    let mut reply = Element::builder("iq", CLIENT)
        .attr(name("type"), "result")
        .attr(name("id"), iq.attr("id").unwrap_or_default())
        .build();
    swap_addresses(iq, &mut reply);
    if let Some(payload) = payload {
        reply.append_child(payload);
    }
    reply
}

/// The error reply to `stanza` (RFC 6120 §8.3), or `None` for a stanza that must never be
/// answered with an error (an error, an iq result).
pub(crate) fn error(
    stanza: &Element,
    kind: ErrorType,
    condition: DefinedCondition,
) -> Option<Element> {
    if matches!(stanza.attr("type"), Some("error" | "result")) {
        return None;
    }
    let mut reply = Element::builder(stanza.name(), CLIENT)
        .attr(name("type"), "error")
        .build();
    if let Some(id) = stanza.attr("id") {
        set(&mut reply, "id", id);
    }
    swap_addresses(stanza, &mut reply);
    let error = StanzaError {
        type_: kind,
        by: None,
        defined_condition: condition,
        texts: std::collections::BTreeMap::new(),
        other: None,
    };
    reply.append_child(error.into());
    Some(reply)
}

fn swap_addresses(request: &Element, reply: &mut Element) {
    if let Some(from) = request.attr("from") {
        set(reply, "to", from);
    }
    if let Some(to) = request.attr("to") {
        set(reply, "from", to);
    }
}

/// `element` with every element in namespace `from` moved to `to` (a stanza crossing
/// between `jabber:client` and a component's `jabber:component:accept`, XEP-0114 §3).
/// Depth is bounded by the framing limits, so the recursion is too.
pub(crate) fn renamespace(mut element: Element, from: &str, to: &str) -> Element {
    let ns = if element.ns() == from {
        to.to_owned()
    } else {
        element.ns()
    };
    let mut moved = Element::builder(element.name(), ns).build();
    *moved.attrs_mut() = element.attrs().clone();
    for node in element.take_nodes() {
        match node {
            Node::Element(child) => {
                moved.append_child(renamespace(child, from, to));
            }
            text => moved.append_node(text),
        }
    }
    moved
}
