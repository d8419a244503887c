//! Unit tests of the elements: the leniencies real peers need, every error variant, the
//! conversions to and from xmpp-parsers, and proptest round trips of every element. The
//! XEP's own examples (both versions) are fixtures in `tests/fixtures.rs`.

use jid::Jid;
use minidom::Element;
use proptest::prelude::*;
use xmpp_parsers::data_forms::DataFormType;
use xmpp_parsers::pubsub::AffiliationAttribute;

use super::*;
use crate::error::ParseError;

fn xml(text: &str) -> Element {
    text.parse()
        .unwrap_or_else(|e| panic!("test XML {text:?}: {e}"))
}

fn jid(s: &str) -> Jid {
    s.parse().expect("test JID")
}

const PROSODY_SUMMARY: &str = "<x xmlns='jabber:x:data' type='form'>\
    <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:push:summary</value></field>\
    <field var='message-count' type='text-single'><value>1</value></field>\
    <field var='pending-subscription-count' type='text-single'/>\
    <field var='last-message-sender' type='jid-single'><value>bob@localhost/desk</value></field>\
    <field var='last-message-body' type='text-single'><value>hi</value></field></x>";

#[test]
fn prosody_form_summary_reads_with_an_empty_count() {
    let summary = Summary::try_from(&xml(PROSODY_SUMMARY)).expect("Prosody's summary");
    assert_eq!(summary.form_type, Some(DataFormType::Form));
    assert_eq!(summary.message_count, Some(1));
    assert_eq!(summary.pending_subscription_count, None);
    assert_eq!(summary.last_message_sender, Some(jid("bob@localhost/desk")));
    assert_eq!(summary.last_message_body.as_deref(), Some("hi"));
    assert!(summary.other.is_empty());
}

#[test]
fn a_form_without_type_reads_and_is_written_back_without_one() {
    let el = xml(
        "<x xmlns='jabber:x:data'><field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field>\
        <field var='message-count'><value> 7 </value></field></x>",
    );
    // xmpp-parsers refuses it as it is.
    assert!(xmpp_parsers::data_forms::DataForm::try_from(el.clone()).is_err());
    let summary = Summary::try_from(&el).expect("lenient read");
    assert_eq!(summary.form_type, None);
    assert_eq!(summary.message_count, Some(7));
    assert_eq!(Element::from(summary).attr("type"), None);
}

#[test]
fn form_type_in_a_form_form_need_not_be_hidden() {
    // XEP-0068 says a non-hidden FORM_TYPE in a 'form' form is no context indicator;
    // senders that omit the type still mean it.
    let el = xml(
        "<x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field></x>",
    );
    assert_eq!(
        Summary::try_from(&el).map(|s| s.form_type),
        Ok(Some(DataFormType::Form))
    );
}

#[test]
fn summary_errors_are_exact() {
    let bad_count = xml(
        "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field>\
        <field var='message-count'><value>-1</value></field></x>",
    );
    assert_eq!(
        Summary::try_from(&bad_count),
        Err(ParseError::InvalidCount {
            field: "message-count",
            value: "-1".to_owned()
        })
    );
    let bad_sender = xml(
        "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field>\
        <field var='last-message-sender'><value>@@</value></field></x>",
    );
    assert_eq!(
        Summary::try_from(&bad_sender),
        Err(ParseError::InvalidJid {
            element: "field",
            value: "@@".to_owned()
        })
    );
    let other = xml(
        "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:other</value></field></x>",
    );
    assert_eq!(
        Summary::try_from(&other),
        Err(ParseError::WrongFormType {
            expected: crate::ns::SUMMARY,
            found: "urn:other".to_owned()
        })
    );
    let bad_type = xml("<x xmlns='jabber:x:data' type='bogus'/>");
    assert!(matches!(
        Summary::try_from(&bad_type),
        Err(ParseError::InvalidForm { .. })
    ));
    assert_eq!(
        Summary::try_from(&xml("<y xmlns='jabber:x:data'/>")),
        Err(ParseError::Mismatch { expected: "x" })
    );
}

#[test]
fn extra_summary_fields_are_kept() {
    let el = xml(
        "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field>\
        <field var='x-priority'><value>high</value></field></x>",
    );
    let summary = Summary::try_from(&el).expect("summary");
    assert_eq!(summary.other.len(), 1);
    assert_eq!(
        Summary::try_from(&Element::from(summary.clone())),
        Ok(summary)
    );
}

#[test]
fn enable_accepts_a_full_jid_and_converts_to_xmpp_parsers_only_when_bare() {
    let el = xml("<enable xmlns='urn:xmpp:push:0' jid='push@apps.example/worker' node='n'/>");
    let enable = Enable::try_from(&el).expect("enable");
    assert_eq!(enable.jid, jid("push@apps.example/worker"));
    assert!(xmpp_parsers::push::Enable::try_from(enable.clone()).is_err());
    let bare = Enable::new(jid("push.example"), "n").with_secret("s");
    let theirs = xmpp_parsers::push::Enable::try_from(bare.clone()).expect("bare converts");
    assert_eq!(Enable::try_from(theirs), Ok(bare));
}

#[test]
fn enable_picks_the_publish_options_form() {
    let el = xml(
        "<enable xmlns='urn:xmpp:push:0' jid='push.example' node='n'>\
        <x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:other</value></field></x>\
        <x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
        <field var='secret'><value>s</value></field></x></enable>",
    );
    let enable = Enable::try_from(&el).expect("enable");
    assert_eq!(
        enable
            .publish_options
            .as_ref()
            .and_then(PublishOptions::secret),
        Some("s")
    );
    // A form without FORM_TYPE is taken as the publish options too (Prosody stores any form).
    let el = xml(
        "<enable xmlns='urn:xmpp:push:0' jid='push.example' node='n'>\
        <x xmlns='jabber:x:data' type='submit'><field var='secret'><value>t</value></field></x></enable>",
    );
    let enable = Enable::try_from(&el).expect("enable");
    assert_eq!(
        enable.publish_options.as_ref().and_then(|o| o.secret()),
        Some("t")
    );
}

#[test]
fn enable_and_disable_errors_are_exact() {
    assert_eq!(
        Enable::try_from(&xml("<enable xmlns='urn:xmpp:push:0' node='n'/>")),
        Err(ParseError::MissingAttribute {
            element: "enable",
            attribute: "jid"
        })
    );
    assert_eq!(
        Disable::try_from(&xml("<disable xmlns='urn:xmpp:push:0' jid='a@@b'/>")),
        Err(ParseError::InvalidJid {
            element: "disable",
            value: "a@@b".to_owned()
        })
    );
    assert_eq!(
        Enable::try_from(&xml("<enable xmlns='urn:xmpp:push:1' jid='a'/>")),
        Err(ParseError::Mismatch { expected: "enable" })
    );
}

#[test]
fn publish_errors_are_exact() {
    let pubsub = |inner: &str| {
        xml(&format!(
            "<pubsub xmlns='http://jabber.org/protocol/pubsub'>{inner}</pubsub>"
        ))
    };
    assert_eq!(
        Publish::try_from(&pubsub("<subscribe node='n' jid='a@b'/>")),
        Err(ParseError::MissingPublish)
    );
    assert_eq!(
        Publish::try_from(&pubsub("<publish node='n'/>")),
        Err(ParseError::MissingItem)
    );
    assert_eq!(
        Publish::try_from(&pubsub(
            "<publish node='n'><item><entry xmlns='urn:a'/></item></publish>"
        )),
        Err(ParseError::MissingNotification)
    );
}

#[test]
fn publish_converts_to_and_from_xmpp_parsers() {
    let publish = Publish::new(
        "n",
        Notification::new().with_summary(Summary::new().with_message_count(2)),
    )
    .with_publish_options(PublishOptions::with_secret("s"));
    let theirs = xmpp_parsers::pubsub::PubSub::try_from(publish.clone()).expect("has a node");
    assert_eq!(Publish::try_from(theirs), Ok(publish.clone()));
    let mut nodeless = publish;
    nodeless.node = None;
    assert!(xmpp_parsers::pubsub::PubSub::try_from(nodeless).is_err());
}

#[test]
fn notification_converts_to_and_from_xmpp_parsers() {
    let n = Notification::new()
        .with_summary(Summary::new().with_last_message_body("b"))
        .with_payload(xml("<a xmlns='urn:a'/>"));
    let theirs = xmpp_parsers::push::Notification::from(n.clone());
    assert_eq!(Notification::try_from(theirs), Ok(n));
}

#[test]
fn affiliation_notices_read_in_both_shapes() {
    let xep0357 = xml(
        "<pubsub xmlns='http://jabber.org/protocol/pubsub' node='n'>\
        <affiliation jid='user@example.com' affiliation='none'/></pubsub>",
    );
    let xep0060 = xml(
        "<pubsub xmlns='http://jabber.org/protocol/pubsub'><affiliations node='n'>\
        <affiliation jid='user@example.com' affiliation='none'/></affiliations></pubsub>",
    );
    let expected = AffiliationChange::revoked("n", jid("user@example.com"));
    assert_eq!(AffiliationChange::try_from(&xep0357), Ok(expected.clone()));
    assert_eq!(AffiliationChange::try_from(&xep0060), Ok(expected.clone()));
    assert!(expected.revokes_publishing());
    // xmpp-parsers' PubSub refuses the XEP-0357 shape (an attribute on <pubsub/>).
    assert!(xmpp_parsers::pubsub::PubSub::try_from(xep0357).is_err());
    let bad = xml(
        "<pubsub xmlns='http://jabber.org/protocol/pubsub' node='n'>\
        <affiliation jid='user@example.com' affiliation='king'/></pubsub>",
    );
    assert_eq!(
        AffiliationChange::try_from(&bad),
        Err(ParseError::InvalidAffiliation {
            value: "king".to_owned()
        })
    );
    let mut change = expected;
    change.affiliation = AffiliationAttribute::PublishOnly;
    assert!(!change.revokes_publishing());
}

#[test]
fn disco_reads_leniently_and_agrees_with_xmpp_parsers() {
    let info = disco::push_service_info();
    let el = Element::from(info.clone());
    let lenient = PushDisco::try_from(&el).expect("disco");
    assert_eq!(lenient, PushDisco::from(&info));
    assert!(lenient.is_push_service && lenient.supports_push);
    let mut account = xmpp_parsers::disco::DiscoInfoResult {
        node: None,
        identities: Vec::new(),
        features: Default::default(),
        extensions: Vec::new(),
    };
    disco::add_account_feature(&mut account);
    assert!(PushDisco::from(&account).supports_push);
    assert_eq!(
        PushDisco::try_from(&xml("<query xmlns='urn:other'/>")),
        Err(ParseError::Mismatch { expected: "query" })
    );
}

#[test]
fn publish_options_debug_hides_the_secret() {
    let o = PublishOptions::with_secret("hunter2");
    assert!(!format!("{o:?}").contains("hunter2"));
    assert_eq!(o.secret(), Some("hunter2"));
    assert_eq!(
        PublishOptions::try_from(&xml(
            "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:other</value></field></x>"
        )),
        Err(ParseError::WrongFormType {
            expected: crate::ns::PUBLISH_OPTIONS,
            found: "urn:other".to_owned()
        })
    );
}

// --- proptest round trips ---

fn arb_jid() -> impl Strategy<Value = Jid> {
    (
        proptest::option::of("[a-z][a-z0-9]{0,7}"),
        "[a-z]{1,8}\\.example",
        proptest::option::of("[A-Za-z0-9]{1,8}"),
    )
        .prop_map(|(node, domain, resource)| {
            let mut s = String::new();
            if let Some(n) = node {
                s.push_str(&n);
                s.push('@');
            }
            s.push_str(&domain);
            if let Some(r) = resource {
                s.push('/');
                s.push_str(&r);
            }
            s.parse().expect("generated JID")
        })
}

fn arb_text() -> impl Strategy<Value = String> {
    // Non-empty (an empty value reads as absent) and free of control characters.
    "[^\\p{C}]{1,24}"
}

fn arb_summary() -> impl Strategy<Value = Summary> {
    (
        prop_oneof![
            Just(None),
            Just(Some(DataFormType::Form)),
            Just(Some(DataFormType::Submit)),
            Just(Some(DataFormType::Result_)),
        ],
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(arb_jid()),
        proptest::option::of(arb_text()),
    )
        .prop_map(|(form_type, m, p, sender, body)| Summary {
            form_type,
            message_count: m,
            pending_subscription_count: p,
            last_message_sender: sender,
            last_message_body: body,
            other: Vec::new(),
        })
}

fn arb_options() -> impl Strategy<Value = PublishOptions> {
    (arb_text(), proptest::option::of(arb_text())).prop_map(|(secret, extra)| {
        let o = PublishOptions::with_secret(&secret);
        match extra {
            Some(v) => o.with_field("x-extra", &v),
            None => o,
        }
    })
}

fn arb_notification() -> impl Strategy<Value = Notification> {
    (proptest::option::of(arb_summary()), 0usize..3).prop_map(|(summary, payloads)| {
        let mut n = Notification::new();
        n.summary = summary;
        for i in 0..payloads {
            n = n.with_payload(xml(&format!("<p{i} xmlns='urn:payload'>{i}</p{i}>")));
        }
        n
    })
}

fn round_trips<T, F>(value: &T, parse: F)
where
    T: Clone + PartialEq + std::fmt::Debug + Into<Element>,
    F: Fn(&Element) -> Result<T, ParseError>,
{
    let el: Element = value.clone().into();
    assert_eq!(parse(&el).as_ref(), Ok(value));
    let text = String::from(&el);
    assert_eq!(parse(&xml(&text)).as_ref(), Ok(value), "via {text}");
}

proptest! {
    #[test]
    fn summary_round_trips(s in arb_summary()) {
        round_trips(&s, |e| Summary::try_from(e));
        let mut text = String::new();
        s.write_xml(&mut text);
        prop_assert_eq!(Summary::try_from(&xml(&text)), Ok(s));
    }

    #[test]
    fn enable_round_trips(j in arb_jid(), node in proptest::option::of(arb_text()), o in proptest::option::of(arb_options())) {
        let e = Enable { jid: j, node, publish_options: o };
        round_trips(&e, |el| Enable::try_from(el));
        let iq = e.to_iq("id");
        prop_assert_eq!(iq.children().next().map(Enable::try_from), Some(Ok(e)));
    }

    #[test]
    fn disable_round_trips(j in arb_jid(), node in proptest::option::of(arb_text())) {
        round_trips(&Disable { jid: j, node }, |el| Disable::try_from(el));
    }

    #[test]
    fn notification_round_trips(n in arb_notification()) {
        round_trips(&n, |e| Notification::try_from(e));
    }

    #[test]
    fn publish_round_trips(
        node in proptest::option::of(arb_text()),
        item in proptest::option::of("[a-z0-9]{1,8}"),
        n in arb_notification(),
        o in proptest::option::of(arb_options()),
        from in arb_jid(),
        to in arb_jid(),
    ) {
        let p = Publish { node, item_id: item, notification: n, publish_options: o };
        round_trips(&p, |e| Publish::try_from(e));
        let iq = p.clone().to_iq(&from, &to, "n12");
        prop_assert_eq!(Publish::from_iq(&iq), Ok(p));
    }

    #[test]
    fn affiliation_round_trips(node in arb_text(), j in arb_jid(), revoked in any::<bool>()) {
        let mut a = AffiliationChange::revoked(node, j);
        if !revoked {
            a.affiliation = AffiliationAttribute::Publisher;
        }
        round_trips(&a, |e| AffiliationChange::try_from(e));
    }

    #[test]
    fn publish_options_round_trip(o in arb_options()) {
        round_trips(&o, |e| PublishOptions::try_from(e));
    }
}
