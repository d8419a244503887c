//! The parser target.

use minidom::Element;

use crate::client::bind2_answer;
use crate::elements::{Disable, Enable, Filter, Match, Notification, SendProfile};
use crate::stanza::{Classification, Routed};

/// How deep the walk looks for Push 2.0 elements.
const MAX_DEPTH: usize = 12;

/// Inputs the smoke test starts from.
#[cfg(test)]
pub(crate) const SEEDS: &[&str] = &[
    "<enable xmlns='urn:xmpp:push2:0'><service>pusher@push.example.com</service><client>https://push.example.com/adlfkjadafdasf</client><match profile='urn:xmpp:push2:match:archived-with-body'><grace>144</grace><filter jid='somemuc@conference.example.com'><mention/></filter><send xmlns='urn:xmpp:push2:send:notify-only:0'/></match></enable>",
    "<enable xmlns='urn:xmpp:push2:0'><service>p.example</service><client>c</client><match profile='urn:x'><send xmlns='urn:xmpp:push2:send:sce+rfc8291+rfc8292:0'><ua-public>AAAA</ua-public><auth-secret>BBBB</auth-secret><jwt-alg>ES256</jwt-alg><jwt-key>CCCC</jwt-key><jwt-claim name='aud'>https://push.example.com</jwt-claim></send></match><match profile='x'><send xmlns='urn:other'/></match></enable>",
    "<disable xmlns='urn:xmpp:push2:0'/>",
    "<message xmlns='jabber:client' to='pusher@push.example.net'><notification xmlns='urn:xmpp:push2:0'><client>https://push.example.com/adlfkjadafdasf</client><priority>normal</priority><voip/><encrypted xmlns='urn:xmpp:sce:rfc8291:0'><payload>AAAA</payload></encrypted><jwt key='BA1Hxzyi1RUM1b5wjxsn7nGxAszw2u61m164i3MrAIxHF6YK5h4SDYic-dRuU_RCPCfA5aq9ojSwk5Y2EmClBPs'>a.b.c</jwt><x xmlns='urn:x'/></notification></message>",
    "<bound xmlns='urn:xmpp:bind:0'><failed xmlns='urn:xmpp:push2:0' type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed></bound>",
    "<message xmlns='jabber:client' from='a@b/c' type='groupchat'><body>x</body><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='d@e'><propose xmlns='urn:xmpp:jingle-message:0' id='c'/></message></forwarded></received></message>",
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
    let account: jid::BareJid = "juliet@capulet.example".parse().expect("literal JID");
    let mut stack = vec![(&root, 0usize)];
    while let Some((el, depth)) = stack.pop() {
        round_trip(el, |e| Enable::try_from(e).ok());
        round_trip(el, |e| Disable::try_from(e).ok());
        round_trip(el, |e| Match::try_from(e).ok());
        round_trip(el, |e| Filter::try_from(e).ok());
        round_trip(el, |e| SendProfile::try_from(e).ok());
        round_trip(el, |e| Notification::try_from(e).ok());
        let _ = Notification::from_message(el);
        let _ = bind2_answer(el);
        let routed = Routed::new(&account, el).with_room_nick("juliet");
        let c = Classification::of(&routed);
        // A call is always important; an important stanza is a message.
        assert!(!c.is_call() || c.is_important());
        assert!(!c.is_important() || c.kind == crate::StanzaKind::Message);
        if depth < MAX_DEPTH {
            stack.extend(el.children().map(|c| (c, depth + 1)));
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
    let Some(text) = crate::xml::to_text(&built) else {
        return;
    };
    let reparsed = text.parse::<Element>();
    assert!(reparsed.is_ok(), "our XML does not parse: {text:?}");
    if let Ok(reparsed) = reparsed {
        assert_eq!(parse(&reparsed), Some(value), "text round trip of {text:?}");
    }
}
