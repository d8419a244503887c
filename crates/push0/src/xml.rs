//! Small XML helpers: stanza namespaces, escaping for the direct writers, and stanza errors
//! read from any stanza namespace.

use minidom::rxml::{Namespace, NcNameStr};
use minidom::{Element, IntoAttributeValue};
use xmpp_parsers::stanza_error::StanzaError;

use crate::ns;

/// Sets attribute `name` (a literal checked by `xml_ncname!`) to `value`; `None` sets nothing.
pub(crate) fn set(el: &mut Element, name: &'static NcNameStr, value: impl IntoAttributeValue) {
    el.set_attr(Namespace::NONE, name.to_owned(), value);
}

/// Whether `el` is a `<name/>` stanza in one of the stanza namespaces (client, server or
/// component stream: the push service may be reached over any of them).
pub(crate) fn is_stanza(el: &Element, name: &str) -> bool {
    el.name() == name && ns::STANZA_NAMESPACES.iter().any(|n| el.has_ns(*n))
}

/// The stanza namespace `el` is in, defaulting to `jabber:client`.
pub(crate) fn stanza_ns(el: &Element) -> &'static str {
    ns::STANZA_NAMESPACES
        .iter()
        .copied()
        .find(|n| el.has_ns(*n))
        .unwrap_or(ns::JABBER_CLIENT)
}

/// The `<error/>` of an error stanza, whatever its stanza namespace: xmpp-parsers reads
/// `jabber:client` errors only, so a copy in that namespace is parsed.
pub(crate) fn stanza_error(stanza: &Element) -> Option<StanzaError> {
    let error = stanza
        .children()
        .find(|c| c.name() == "error" && ns::STANZA_NAMESPACES.iter().any(|n| c.has_ns(*n)))?;
    if error.has_ns(ns::JABBER_CLIENT) {
        return StanzaError::try_from(error.clone()).ok();
    }
    let mut copy = Element::bare("error", ns::JABBER_CLIENT);
    for name in ["type", "by"] {
        if let Some(value) = error.attr(name) {
            let name = match name {
                "type" => minidom::rxml::xml_ncname!("type"),
                _ => minidom::rxml::xml_ncname!("by"),
            };
            set(&mut copy, name, value);
        }
    }
    for child in error.children() {
        copy.append_child(child.clone());
    }
    StanzaError::try_from(copy).ok()
}

/// Whether XML 1.0 allows `c` in character data (§2.2; Rust strings hold no surrogates).
pub(crate) const fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

/// `s` with every character XML cannot carry replaced by U+FFFD, so text a caller passes in
/// (a trigger's body) always makes well-formed XML.
pub(crate) fn clean_text(s: &str) -> std::borrow::Cow<'_, str> {
    // The common case, checked on bytes without decoding: no control character other than
    // tab, newline and return, and no 0xEF lead byte (U+FFFE and U+FFFF start with it; a
    // string that has one is checked character by character). Branch-free, so it vectorises.
    let suspect = s.bytes().fold(false, |found, b| {
        found | (b < 0x20 && b != b'\t' && b != b'\n' && b != b'\r') | (b == 0xEF)
    });
    if !suspect || s.chars().all(is_xml_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    std::borrow::Cow::Owned(
        s.chars()
            .map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' })
            .collect(),
    )
}

/// Appends `s` escaped for a single-quoted attribute value.
pub(crate) fn escape_attr(out: &mut String, s: &str) {
    escape(out, s, true);
}

/// Appends `s` escaped as character data.
pub(crate) fn escape_text(out: &mut String, s: &str) {
    escape(out, s, false);
}

fn escape(out: &mut String, s: &str, attr: bool) {
    let needs = if attr { &ESCAPE_ATTR } else { &ESCAPE_TEXT };
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        if !needs[usize::from(b)] {
            continue;
        }
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'\'' => "&apos;",
            b'"' => "&quot;",
            // Whitespace other than space would be normalised away in an attribute value.
            b'\t' => "&#9;",
            b'\n' => "&#10;",
            b'\r' => "&#13;",
            // Other control characters cannot appear in XML at all.
            _ => "\u{FFFD}",
        };
        out.push_str(&s[start..i]);
        out.push_str(rep);
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// The octets [`escape`] replaces in character data: markup, return, and the control
/// characters XML cannot carry (tab and newline pass).
static ESCAPE_TEXT: [bool; 256] = escape_table(false);
/// The same in an attribute value: quotes, tab and newline too.
static ESCAPE_ATTR: [bool; 256] = escape_table(true);

const fn escape_table(attr: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'\t' as usize] = attr;
    table[b'\n' as usize] = attr;
    table[b'&' as usize] = true;
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[b'\'' as usize] = attr;
    table[b'"' as usize] = attr;
    table
}

/// Appends ` name='value'` (escaped).
pub(crate) fn write_attr(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("='");
    escape_attr(out, value);
    out.push('\'');
}

/// Serialises an element on its own (with its namespace declaration).
pub(crate) fn element_text(el: &Element) -> String {
    String::from(el)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_round_trips_through_the_parser() {
        let nasty = "a&b<c>d'e\"f\tg\nh\ri";
        let mut xml = String::from("<t xmlns='urn:t'");
        write_attr(&mut xml, "v", nasty);
        xml.push('>');
        escape_text(&mut xml, nasty);
        xml.push_str("</t>");
        let el: Element = xml.parse().expect("escaped XML parses");
        assert_eq!(el.attr("v"), Some(nasty));
        assert_eq!(el.text(), nasty);
    }

    #[test]
    fn every_octet_is_escaped_as_the_rules_say() {
        for b in 0u8..0x80 {
            let s = char::from(b).to_string();
            let (mut text, mut attr) = (String::new(), String::new());
            escape_text(&mut text, &s);
            escape_attr(&mut attr, &s);
            let expected = |attr_mode: bool| match b {
                b'&' => "&amp;".to_owned(),
                b'<' => "&lt;".to_owned(),
                b'>' => "&gt;".to_owned(),
                b'\'' if attr_mode => "&apos;".to_owned(),
                b'"' if attr_mode => "&quot;".to_owned(),
                b'\t' if attr_mode => "&#9;".to_owned(),
                b'\n' if attr_mode => "&#10;".to_owned(),
                b'\r' => "&#13;".to_owned(),
                b'\t' | b'\n' => s.clone(),
                0..0x20 => "\u{FFFD}".to_owned(),
                _ => s.clone(),
            };
            assert_eq!(text, expected(false), "text {b:#x}");
            assert_eq!(attr, expected(true), "attribute {b:#x}");
        }
        let mut out = String::new();
        escape_text(&mut out, "é<€>𝄞");
        assert_eq!(out, "é&lt;€&gt;𝄞");
    }

    #[test]
    fn clean_text_replaces_only_what_xml_cannot_carry() {
        let fine = "tab\tline\nreturn\r é \u{F000} \u{FFFD} 𝄞";
        assert!(matches!(clean_text(fine), std::borrow::Cow::Borrowed(_)));
        assert_eq!(
            clean_text("a\u{1}b\u{FFFE}c\u{FFFF}d"),
            "a\u{FFFD}b\u{FFFD}c\u{FFFD}d"
        );
        assert_eq!(clean_text("\u{7f}\u{0}"), "\u{7f}\u{FFFD}");
    }

    #[test]
    fn errors_are_read_from_component_streams() {
        let iq: Element = "<iq xmlns='jabber:component:accept' type='error' id='1'>\
            <error type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
            </error></iq>"
            .parse()
            .expect("test XML");
        let error = stanza_error(&iq).expect("an error");
        assert_eq!(error.type_, xmpp_parsers::stanza_error::ErrorType::Wait);
    }
}
