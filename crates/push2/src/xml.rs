//! Small XML helpers shared by the modules: stanza namespaces, attributes, text children.

use minidom::rxml::{Namespace, NcNameStr};
use minidom::{Element, IntoAttributeValue};
use xmpp_parsers::stanza_error::StanzaError;

use crate::ns;

/// Sets attribute `name` (a literal checked by `xml_ncname!`) to `value`.
pub(crate) fn set(el: &mut Element, name: &'static NcNameStr, value: impl IntoAttributeValue) {
    el.set_attr(Namespace::NONE, name.to_owned(), value);
}

/// Whether `el` is a `<name/>` stanza in one of the stanza namespaces.
pub(crate) fn is_stanza(el: &Element, name: &str) -> bool {
    el.name() == name && ns::STANZA_NAMESPACES.iter().any(|n| el.has_ns(*n))
}

/// Whether `el` is in one of the stanza namespaces.
pub(crate) fn in_stanza_ns(el: &Element) -> bool {
    ns::STANZA_NAMESPACES.iter().any(|n| el.has_ns(*n))
}

/// A child element with text only: `<name xmlns=ns>text</name>`.
pub(crate) fn text_element(name: &str, ns: &str, text: impl Into<String>) -> Element {
    Element::builder(name, ns).append(text.into()).build()
}

/// `el` with every element in a stanza namespace moved to `jabber:client` (what XEP-0297
/// forwards), recursively; elements of other namespaces and their subtrees are kept as they
/// are, apart from stanza-namespace descendants (a `<body/>` under a payload is unusual but
/// legal and moves with it). Iterative, so a deep tree cannot overflow the stack.
pub(crate) fn to_client_ns(el: &Element) -> Element {
    if !needs_client_ns(el) {
        return el.clone();
    }
    rebuild(el)
}

fn needs_client_ns(el: &Element) -> bool {
    let mut stack = vec![el];
    while let Some(e) = stack.pop() {
        if e.has_ns(ns::JABBER_SERVER) || e.has_ns(ns::COMPONENT_ACCEPT) {
            return true;
        }
        stack.extend(e.children());
    }
    false
}

fn rebuild(el: &Element) -> Element {
    let namespace = if in_stanza_ns(el) {
        ns::JABBER_CLIENT.to_owned()
    } else {
        el.ns()
    };
    let mut out = Element::builder(el.name(), namespace).build();
    copy_attrs(el, &mut out);
    for node in el.nodes() {
        match node {
            minidom::Node::Element(child) => {
                out.append_child(rebuild(child));
            }
            minidom::Node::Text(text) => out.append_text_node(text.clone()),
        }
    }
    out
}

/// The `<error/>` of an error stanza, whatever its stanza namespace: xmpp-parsers reads
/// `jabber:client` errors only, so a copy in that namespace is parsed.
pub(crate) fn stanza_error(stanza: &Element) -> Option<StanzaError> {
    let error = stanza
        .children()
        .find(|c| c.name() == "error" && in_stanza_ns(c))?;
    if error.has_ns(ns::JABBER_CLIENT) {
        return StanzaError::try_from(error.clone()).ok();
    }
    StanzaError::try_from(rebuild(error)).ok()
}

/// Whether XML 1.0 allows `c` in character data (§2.2; Rust strings hold no surrogates).
pub(crate) const fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

/// `s` with every character XML cannot carry replaced by U+FFFD.
pub(crate) fn clean_text(s: &str) -> String {
    s.chars()
        .map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' })
        .collect()
}

/// How many octets `c` takes as character data once minidom (rxml) has escaped it.
pub(crate) const fn escaped_text_len(c: char) -> usize {
    match c {
        '<' | '>' => 4,
        '&' | '\r' => 5,
        c => c.len_utf8(),
    }
}

/// The element's text as XML text (`String::from(&Element)` without the panic on
/// unwritable characters: those are reported as `None`).
pub(crate) fn to_text(el: &Element) -> Option<String> {
    if !is_writable(el) {
        return None;
    }
    let mut out = Vec::new();
    el.write_to(&mut out).ok()?;
    String::from_utf8(out).ok()
}

/// Whether every text node and attribute value of `el` holds only characters XML can carry
/// (minidom's writer panics on the others). Iterative.
pub(crate) fn is_writable(el: &Element) -> bool {
    let mut stack = vec![el];
    while let Some(e) = stack.pop() {
        if e.attrs()
            .into_iter()
            .any(|(_, v)| !v.chars().all(is_xml_char))
        {
            return false;
        }
        for node in e.nodes() {
            match node {
                minidom::Node::Element(child) => stack.push(child),
                minidom::Node::Text(text) => {
                    if !text.chars().all(is_xml_char) {
                        return false;
                    }
                }
            }
        }
    }
    true
}

/// Copies every attribute of `from` (namespaced ones included) onto `to`.
pub(crate) fn copy_attrs(from: &Element, to: &mut Element) {
    for ((namespace, name), value) in from.attrs() {
        to.set_attr(namespace.clone(), name.clone(), value.clone());
    }
}

/// The `xml:lang` attribute.
pub(crate) fn lang(el: &Element) -> Option<&str> {
    el.attr_ns(&Namespace::XML, "lang")
}
