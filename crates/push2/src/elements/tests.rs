//! Unit tests of the elements: every rule of the parsers, and proptest round trips.

use std::time::Duration;

use jid::Jid;
use minidom::Element;
use proptest::prelude::*;

use super::*;
use crate::error::ParseError;

fn parse(xml: &str) -> Element {
    xml.parse().expect("test XML")
}

const ENABLE: &str = "<enable xmlns='urn:xmpp:push2:0'><service>push.example</service>\
    <client>https://push.example/1</client>";

#[test]
fn enable_needs_service_client_and_a_match() {
    let cases: [(&str, ParseError); 6] = [
        (
            "<enable xmlns='urn:xmpp:push2:0'><client>c</client></enable>",
            ParseError::MissingChild {
                element: "enable",
                child: "service",
            },
        ),
        (
            "<enable xmlns='urn:xmpp:push2:0'><service>p.example</service></enable>",
            ParseError::MissingChild {
                element: "enable",
                child: "client",
            },
        ),
        (
            "<enable xmlns='urn:xmpp:push2:0'><service>p.example</service><client> </client></enable>",
            ParseError::Empty { element: "client" },
        ),
        (
            "<enable xmlns='urn:xmpp:push2:0'><service>p.example</service><client>c</client></enable>",
            ParseError::NoMatch,
        ),
        (
            "<enable xmlns='urn:xmpp:push2:0'><service>@@</service><client>c</client></enable>",
            ParseError::InvalidJid {
                element: "service",
                value: "@@".into(),
            },
        ),
        (
            "<enable xmlns='urn:xmpp:push2:0'><service>a.example</service><service>b.example</service><client>c</client></enable>",
            ParseError::Repeated {
                element: "enable",
                child: "service",
            },
        ),
    ];
    for (xml, want) in cases {
        assert_eq!(Enable::try_from(&parse(xml)), Err(want), "{xml}");
    }
    assert_eq!(
        Enable::try_from(&parse("<enable xmlns='urn:xmpp:push:0'/>")),
        Err(ParseError::Mismatch { expected: "enable" })
    );
}

#[test]
fn a_match_has_exactly_one_send_and_a_numeric_grace() {
    let with = |inner: &str| parse(&format!("{ENABLE}{inner}</enable>"));
    let missing = with("<match profile='urn:xmpp:push2:match:all'/>");
    assert_eq!(
        Enable::try_from(&missing),
        Err(ParseError::MissingChild {
            element: "match",
            child: "send"
        })
    );
    let two = with(
        "<match profile='urn:xmpp:push2:match:all'><send xmlns='urn:xmpp:push2:send:notify-only:0'/><send xmlns='urn:other'/></match>",
    );
    assert_eq!(
        Enable::try_from(&two),
        Err(ParseError::Repeated {
            element: "match",
            child: "send"
        })
    );
    let no_profile = with("<match><send xmlns='urn:xmpp:push2:send:notify-only:0'/></match>");
    assert_eq!(
        Enable::try_from(&no_profile),
        Err(ParseError::MissingAttribute {
            element: "match",
            attribute: "profile"
        })
    );
    let grace = with(
        "<match profile='urn:xmpp:push2:match:all'><grace>1.5</grace><send xmlns='urn:xmpp:push2:send:notify-only:0'/></match>",
    );
    assert_eq!(
        Enable::try_from(&grace),
        Err(ParseError::InvalidGrace {
            value: "1.5".into()
        })
    );
}

#[test]
fn unknown_profiles_and_sends_are_kept() {
    let xml = format!(
        "{ENABLE}<match profile='urn:example:calls'><send xmlns='urn:example:send:1'><x/></send></match></enable>"
    );
    let enable = Enable::try_from(&parse(&xml)).unwrap();
    assert_eq!(
        enable.matches[0].profile,
        MatchProfile::Other("urn:example:calls".into())
    );
    let SendProfile::Unknown(send) = &enable.matches[0].send else {
        panic!("{:?}", enable.matches[0].send)
    };
    assert_eq!(send.ns(), "urn:example:send:1");
    assert!(send.has_child("x", "urn:example:send:1"));
    assert_eq!(enable.matches[0].send.namespace(), "urn:example:send:1");
}

#[test]
fn secrets_stay_out_of_debug() {
    let send = WebPushSend {
        ua_public: "pub".into(),
        auth_secret: "SECRET-AUTH".into(),
        jwt_alg: Some("ES256".into()),
        jwt_key: Some("SECRET-KEY".into()),
        jwt_claims: vec![],
    };
    let printed = format!("{send:?}");
    assert!(!printed.contains("SECRET"), "{printed}");
}

#[test]
fn notification_rules() {
    let n = |inner: &str| {
        Notification::try_from(&parse(&format!(
            "<notification xmlns='urn:xmpp:push2:0'><client>c</client>{inner}</notification>"
        )))
    };
    assert_eq!(n("").unwrap().priority, Priority::Normal);
    assert_eq!(
        n("<priority> high </priority>").unwrap().priority,
        Priority::High
    );
    assert_eq!(
        n("<priority>urgent</priority>"),
        Err(ParseError::InvalidPriority {
            value: "urgent".into()
        })
    );
    assert_eq!(
        n("<encrypted xmlns='urn:xmpp:sce:rfc8291:0'><payload>!!</payload></encrypted>"),
        Err(ParseError::InvalidPayload)
    );
    assert!(matches!(
        n("<jwt key='AAAA'>t</jwt>"),
        Err(ParseError::InvalidJwtKey(_))
    ));
    let other = n("<x xmlns='urn:example'/>").unwrap();
    assert_eq!(other.other.len(), 1);
}

#[test]
fn support_reads_disco_features() {
    let support = Support::from_features([
        "urn:xmpp:push2:0",
        "urn:xmpp:push2:match:important",
        "urn:xmpp:push2:send:sce+rfc8291+rfc8292:0",
        "urn:xmpp:push:0",
    ]);
    assert!(support.push2);
    assert!(support.has_match(&MatchProfile::Important));
    assert!(support.has_send(crate::ns::SEND_SCE_RFC8291_RFC8292));
    assert!(!support.has_send(crate::ns::SEND_NOTIFY_ONLY));
    let features = account_features(&crate::NoCustomProfiles);
    assert_eq!(features.len(), 7);
    assert_eq!(
        Support::from_features(features.iter().map(String::as_str))
            .match_profiles
            .len(),
        4
    );
}

// --- proptest round trips ---

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 <>&'\"é+/=._-]{1,24}".prop_map(|s| {
        let t = s.trim().to_owned();
        if t.is_empty() { "x".to_owned() } else { t }
    })
}

fn jid() -> impl Strategy<Value = Jid> {
    prop_oneof![
        Just("push.example"),
        Just("pusher@push.example.com"),
        Just("pusher@push.example.com/res"),
        Just("room@conference.example"),
    ]
    .prop_map(|s| s.parse().expect("literal JID"))
}

fn profile() -> impl Strategy<Value = MatchProfile> {
    prop_oneof![
        Just(MatchProfile::All),
        Just(MatchProfile::Important),
        Just(MatchProfile::Archived),
        Just(MatchProfile::ArchivedWithBody),
        "urn:[a-z]{1,8}:[a-z]{1,8}".prop_map(MatchProfile::Other),
    ]
}

fn send() -> impl Strategy<Value = SendProfile> {
    prop_oneof![
        Just(SendProfile::NotifyOnly),
        (
            text(),
            text(),
            proptest::option::of(text()),
            proptest::option::of("[a-zA-Z0-9 \n]{0,16}"),
            proptest::collection::vec(("[a-z]{1,6}", "[a-z:/.]{0,12}"), 0..3),
        )
            .prop_map(|(ua_public, auth_secret, jwt_alg, jwt_key, jwt_claims)| {
                SendProfile::WebPush(WebPushSend {
                    ua_public,
                    auth_secret,
                    jwt_alg,
                    jwt_key,
                    jwt_claims,
                })
            }),
        "urn:[a-z]{1,8}".prop_map(|ns| SendProfile::Unknown(Box::new(Element::bare("send", ns)))),
    ]
}

fn filter() -> impl Strategy<Value = Filter> {
    (jid(), any::<bool>(), any::<bool>()).prop_map(|(jid, mention, reply)| Filter {
        jid,
        mention,
        reply,
    })
}

fn a_match() -> impl Strategy<Value = Match> {
    (
        profile(),
        proptest::option::of(0u32..100_000),
        proptest::collection::vec(filter(), 0..3),
        send(),
    )
        .prop_map(|(profile, grace, filters, send)| Match {
            profile,
            grace: grace.map(|g| Duration::from_secs(u64::from(g))),
            filters,
            send,
        })
}

fn enable() -> impl Strategy<Value = Enable> {
    (jid(), text(), proptest::collection::vec(a_match(), 1..4)).prop_map(
        |(service, client, matches)| Enable {
            service,
            client,
            matches,
        },
    )
}

fn notification() -> impl Strategy<Value = Notification> {
    (
        text(),
        prop_oneof![Just(Priority::Low), Just(Priority::Normal), Just(Priority::High)],
        any::<bool>(),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
        proptest::option::of("[a-zA-Z0-9._-]{1,40}"),
    )
        .prop_map(|(client, priority, voip, payload, token)| {
            let key = xmpp_push2_crypto::EcPublicKey::from_base64(
                "BA1Hxzyi1RUM1b5wjxsn7nGxAszw2u61m164i3MrAIxHF6YK5h4SDYic-dRuU_RCPCfA5aq9ojSwk5Y2EmClBPs",
            )
            .expect("the RFC 8292 example key");
            Notification {
                client,
                priority,
                voip,
                payload,
                jwt: token.map(|t| Jwt::new(key, t)),
                other: Vec::new(),
            }
        })
}

fn round_trips<T>(
    value: &T,
    parse: impl Fn(&Element) -> Result<T, ParseError>,
) -> Result<(), TestCaseError>
where
    T: Clone + PartialEq + std::fmt::Debug + Into<Element>,
{
    let el: Element = value.clone().into();
    prop_assert_eq!(&parse(&el).expect("our element parses"), value);
    let text = crate::xml::to_text(&el).expect("writable");
    let again: Element = text.parse().expect("our XML parses");
    prop_assert_eq!(
        &parse(&again).expect("our XML parses as the element"),
        value
    );
    Ok(())
}

proptest! {
    #[test]
    fn enables_round_trip(e in enable()) {
        round_trips(&e, |el| Enable::try_from(el))?;
    }

    #[test]
    fn matches_round_trip(m in a_match()) {
        round_trips(&m, |el| Match::try_from(el))?;
    }

    #[test]
    fn filters_round_trip(f in filter()) {
        round_trips(&f, |el| Filter::try_from(el))?;
    }

    #[test]
    fn sends_round_trip(s in send()) {
        round_trips(&s, |el| SendProfile::try_from(el))?;
    }

    #[test]
    fn notifications_round_trip(n in notification()) {
        round_trips(&n, |el| Notification::try_from(el))?;
        let to: Jid = "push.example".parse().expect("literal JID");
        let message = n.to_message(None, &to, Some("id1"));
        prop_assert_eq!(Notification::from_message(&message).expect("parses"), n);
    }

    #[test]
    fn disable_round_trips(_x in 0u8..1) {
        round_trips(&Disable::new(), |el| Disable::try_from(el))?;
    }
}
