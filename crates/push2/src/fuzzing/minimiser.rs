//! The minimiser target.

use arbitrary::{Arbitrary, Unstructured};
use minidom::Element;
use minidom::rxml::xml_ncname;
use xmpp_push2_crypto::Envelope;

use crate::minimise::{ArchiveId, Level, minimise};
use crate::{ns, xml};

#[derive(Debug, Arbitrary)]
struct Input {
    body: Option<String>,
    bodies: Vec<(String, String)>,
    payloads: Vec<(u8, String)>,
    from: Option<String>,
    id: Option<String>,
    kind: u8,
    archive: Option<String>,
    budget: u16,
}

const PAYLOAD_NS: [&str; 6] = [
    ns::OMEMO_LEGACY,
    ns::OOB,
    "urn:example:junk",
    ns::JINGLE_MESSAGE,
    ns::SID,
    ns::REPLY,
];

/// A message from the input through the minimiser; checks the module's promises.
pub fn minimiser(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(input) = Input::arbitrary(&mut u) else {
        return;
    };
    let mut message = Element::bare("message", ns::JABBER_CLIENT);
    let types = ["chat", "groupchat", "headline", "normal", "bogus"];
    xml::set(
        &mut message,
        xml_ncname!("type"),
        types[usize::from(input.kind) % types.len()],
    );
    if let Some(from) = &input.from {
        xml::set(&mut message, xml_ncname!("from"), xml::clean_text(from));
    }
    if let Some(id) = &input.id {
        xml::set(&mut message, xml_ncname!("id"), xml::clean_text(id));
    }
    if let Some(body) = &input.body {
        message.append_child(xml::text_element(
            "body",
            ns::JABBER_CLIENT,
            xml::clean_text(body),
        ));
    }
    for (lang, text) in input.bodies.iter().take(4) {
        let mut body = xml::text_element("body", ns::JABBER_CLIENT, xml::clean_text(text));
        if let Ok(name) = minidom::rxml::NcName::try_from("lang") {
            body.set_attr(minidom::rxml::Namespace::XML, name, xml::clean_text(lang));
        }
        message.append_child(body);
    }
    for (n, text) in input.payloads.iter().take(8) {
        let namespace = PAYLOAD_NS[usize::from(*n) % PAYLOAD_NS.len()];
        message.append_child(xml::text_element("x", namespace, xml::clean_text(text)));
    }
    let account: jid::BareJid = "juliet@capulet.example".parse().expect("literal JID");
    let archive_id = input.archive.as_deref().map(xml::clean_text);
    let archive = archive_id
        .as_deref()
        .map(|id| ArchiveId { by: &account, id });
    let budget = usize::from(input.budget) % 4096;
    let Ok(out) = minimise(&message, budget, archive, None) else {
        return;
    };
    assert!(out.len <= budget, "{} > {budget}", out.len);
    let bytes = out.envelope.to_bytes().expect("a measured envelope writes");
    assert_eq!(bytes.len(), out.len);
    let parsed = Envelope::from_bytes(&bytes).expect("our envelope parses");
    if let Some(id) = &archive_id {
        let kept = parsed.forwarded.message.payloads.iter().any(|p| {
            p.is("stanza-id", ns::SID)
                && p.attr("id") == Some(id.as_str())
                && p.attr("by") == Some("juliet@capulet.example")
        });
        assert!(kept, "MAM id lost at {:?}", out.level);
    }
    if out.level == Level::Unchanged && archive.is_none() {
        let original = xmpp_parsers::message::Message::try_from(message.clone());
        assert_eq!(
            original.ok().as_ref(),
            Some(&out.envelope.forwarded.message)
        );
    }
}
