//! Properties of the minimiser: the output always meets the budget, keeps the MAM id, is
//! UTF-8 and well-formed XML, and is the stanza itself when it already fits.

use minidom::Element;
use proptest::prelude::*;
use xmpp_parsers::message::Message;
use xmpp_push2::minimise::{ArchiveId, Level, minimise};
use xmpp_push2_crypto::Envelope;

fn message() -> impl Strategy<Value = Element> {
    (
        proptest::option::of("\\PC{0,3000}"),
        proptest::collection::vec((0usize..5, "[a-zA-Z0-9 <>&]{0,900}"), 0..5),
        proptest::option::of("[a-z]{1,12}"),
    )
        .prop_map(|(body, payloads, id)| {
            let namespaces = [
                "urn:example:junk",
                "eu.siacs.conversations.axolotl",
                "jabber:x:oob",
                "urn:xmpp:jingle-message:0",
                "http://jabber.org/protocol/chatstates",
            ];
            let mut m = Element::builder("message", "jabber:client")
                .attr(minidom::rxml::xml_ncname!("type").into(), "chat")
                .attr(
                    minidom::rxml::xml_ncname!("from").into(),
                    "romeo@montague.example/garden",
                )
                .build();
            if let Some(id) = id {
                m.set_attr(
                    minidom::rxml::Namespace::NONE,
                    minidom::rxml::xml_ncname!("id").to_owned(),
                    id,
                );
            }
            if let Some(body) = body {
                let clean: String = body
                    .chars()
                    .filter(|c| !c.is_control() || *c == '\n')
                    .collect();
                m.append_child(
                    Element::builder("body", "jabber:client")
                        .append(clean)
                        .build(),
                );
            }
            for (n, text) in payloads {
                m.append_child(Element::builder("x", namespaces[n]).append(text).build());
            }
            m
        })
}

proptest! {
    #![proptest_config(persisted(ProptestConfig::with_cases(256)))]

    #[test]
    fn the_output_meets_the_budget_and_keeps_the_mam_id(
        m in message(),
        budget in 600usize..4000,
        mam in "[a-zA-Z0-9-]{1,40}",
    ) {
        let account: jid::BareJid = "juliet@capulet.example".parse().unwrap();
        let out = minimise(&m, budget, Some(ArchiveId { by: &account, id: &mam }), None)
            .expect("600 octets always hold the MAM id");
        prop_assert!(out.len <= budget);
        let bytes = out.envelope.to_bytes().unwrap();
        prop_assert_eq!(bytes.len(), out.len);
        let text = std::str::from_utf8(&bytes);
        prop_assert!(text.is_ok());
        let parsed = Envelope::from_bytes(&bytes).expect("well-formed, a valid envelope");
        let kept = parsed.forwarded.message.payloads.iter().any(|p| {
            p.is("stanza-id", "urn:xmpp:sid:0")
                && p.attr("id") == Some(mam.as_str())
                && p.attr("by") == Some("juliet@capulet.example")
        });
        prop_assert!(kept, "MAM id lost at {:?}", out.level);
    }

    #[test]
    fn a_stanza_that_fits_is_unchanged(m in message()) {
        let out = minimise(&m, 3993, None, None).unwrap();
        let original = Message::try_from(m.clone()).unwrap();
        let bytes = Envelope::new(xmpp_parsers::forwarding::Forwarded { delay: None, message: original.clone() })
            .to_bytes()
            .unwrap();
        if bytes.len() <= 3993 {
            prop_assert_eq!(out.level, Level::Unchanged);
            prop_assert_eq!(out.envelope.forwarded.message, original);
        } else {
            prop_assert!(out.level > Level::Unchanged);
        }
    }
}

/// Saved failures go beside this file (`<name>.proptest-regressions`) and are replayed first:
/// proptest's default looks beside `src/`, which an integration test has not.
fn persisted(config: ProptestConfig) -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..config
    }
}
