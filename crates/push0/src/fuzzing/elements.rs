//! The parser target.

use minidom::Element;

use crate::elements::{
    AffiliationChange, Disable, Enable, Notification, Publish, PublishOptions, PushDisco, Summary,
};
use crate::registry::Trigger;

/// How deep the walk looks for XEP-0357 elements.
const MAX_DEPTH: usize = 12;

/// Inputs the smoke test starts from (the XEP's shapes, and the leniencies).
#[cfg(test)]
pub(crate) const SEEDS: &[&str] = &[
    "<enable xmlns='urn:xmpp:push:0' jid='push-5.client.example' node='yxs32uqsflafdk3iuqo'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='secret'><value>eruio234vzxc2kla-91</value></field></x></enable>",
    "<disable xmlns='urn:xmpp:push:0' jid='push-5.client.example' node='n'/>",
    "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n'><item><notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data'><field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field><field var='message-count'><value>1</value></field><field var='pending-subscription-count'/></x><a xmlns='urn:a'/></notification></item></publish><publish-options><x xmlns='jabber:x:data'><field var='secret'><value>s</value></field></x></publish-options></pubsub>",
    "<message xmlns='jabber:client' from='push.example' to='u@example.com'><pubsub xmlns='http://jabber.org/protocol/pubsub' node='n'><affiliation jid='u@example.com' affiliation='none'/></pubsub></message>",
    "<query xmlns='http://jabber.org/protocol/disco#info'><identity category='pubsub' type='push'/><feature var='urn:xmpp:push:0'/>...</query>",
    "<message xmlns='jabber:client' from='a@b/c' type='chat'><body>x</body><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='d@e'><body>y</body></message></forwarded></received></message>",
];

/// Parses `data` as UTF-8 XML; every element of it that parses with one of the typed parsers
/// must round-trip to the same value.
pub fn elements(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(root) = text.parse::<Element>() else {
        return;
    };
    let mut stack = vec![(&root, 0usize)];
    while let Some((el, depth)) = stack.pop() {
        check(el);
        if depth < MAX_DEPTH {
            stack.extend(el.children().map(|c| (c, depth + 1)));
        }
    }
}

fn check(el: &Element) {
    round_trip(el, |e| Enable::try_from(e).ok());
    round_trip(el, |e| Disable::try_from(e).ok());
    round_trip(el, |e| Notification::try_from(e).ok());
    round_trip(el, |e| Summary::try_from(e).ok());
    round_trip(el, |e| PublishOptions::try_from(e).ok());
    round_trip(el, |e| Publish::try_from(e).ok());
    round_trip(el, |e| AffiliationChange::try_from(e).ok());
    let _ = PushDisco::try_from(el);
    let _ = Publish::from_iq(el);
    let _ = AffiliationChange::from_message(el);
    let trigger = Trigger::from_stanza(el);
    if let Some(trigger) = &trigger {
        // An important trigger is never "other".
        assert!(!(trigger.important && trigger.kind == crate::TriggerKind::Other));
    }
    // A trigger for a policy is the full one less what the policy does not reveal.
    for privacy in [
        crate::Privacy::CountsOnly,
        crate::Privacy::Sender,
        crate::Privacy::SenderAndBody,
        crate::Privacy::default(),
    ] {
        let kept = Trigger::from_stanza_for(el, &privacy);
        assert_eq!(kept.is_some(), trigger.is_some());
        if let (Some(kept), Some(full)) = (kept, &trigger) {
            assert_eq!((kept.kind, kept.important), (full.kind, full.important));
            let sender = full.sender.clone().filter(|_| privacy.reveals_sender());
            assert_eq!(kept.sender, sender);
            let body = full.body.clone().filter(|_| privacy.reveals_body());
            assert_eq!(kept.body, body);
        }
    }
    if let Ok(summary) = Summary::try_from(el) {
        // The text writer and the element builder agree.
        let mut text = String::new();
        summary.write_xml(&mut text);
        let parsed = text.parse::<Element>();
        assert!(parsed.is_ok(), "summary XML does not parse: {text:?}");
        if let Ok(parsed) = parsed {
            assert_eq!(Summary::try_from(&parsed).ok(), Some(summary));
        }
    }
}

/// Parses `el`, serialises the value, and parses it again directly and through XML text: all
/// three values must be equal.
fn round_trip<T, F>(el: &Element, parse: F)
where
    T: Clone + PartialEq + std::fmt::Debug + Into<Element>,
    F: Fn(&Element) -> Option<T>,
{
    let Some(value) = parse(el) else {
        return;
    };
    let built: Element = value.clone().into();
    assert_eq!(
        parse(&built).as_ref(),
        Some(&value),
        "element round trip of {el:?}"
    );
    let text = String::from(&built);
    let reparsed = text.parse::<Element>();
    assert!(reparsed.is_ok(), "our XML does not parse: {text:?}");
    if let Ok(reparsed) = reparsed {
        assert_eq!(parse(&reparsed), Some(value), "text round trip of {text:?}");
    }
}
