//! XEP-0357 §5 and §6: enable and disable, answered and applied.

use minidom::rxml::xml_ncname;
use xmpp_parsers::stanza_error::DefinedCondition;
use xmpp_push0::{
    Disable, DisableReason, Enable, EnableError, Event, Incoming, ParseError, PushNode,
    RegistryConfig, Target, Trigger, client,
};

use crate::common::*;

fn condition(reply: &minidom::Element) -> Option<DefinedCondition> {
    match client::reply_outcome(reply) {
        Some(Err(Some(e))) => Some(e.defined_condition),
        _ => None,
    }
}

#[test]
fn enable_is_answered_to_the_session_and_recorded() {
    let mut r = registry(RegistryConfig::default());
    let d = enable(&mut r, t0(), PHONE, SERVICE, "n1");
    assert_eq!(d.replies[0].attr("to"), Some(PHONE));
    assert_eq!(d.replies[0].attr("from"), Some(JULIET));
    assert_eq!(d.replies[0].attr("id"), Some("e1"));
    assert_eq!(
        d.events(),
        [&Event::Enabled {
            account: bare(JULIET),
            node: PushNode::new(jid(SERVICE), Some("n1".into())),
            by: Some(full(PHONE)),
            replaced: false,
        }]
    );
    assert!(matches!(d.events.last(), Some(Event::Changed { .. })));
    assert_eq!(
        r.nodes(&bare(JULIET)),
        [(PushNode::new(jid(SERVICE), Some("n1".into())), true)]
    );
}

#[test]
fn enabling_the_same_pair_again_replaces_its_options() {
    let mut r = registry(RegistryConfig::default());
    let _ = enable(&mut r, t0(), PHONE, SERVICE, "n1");
    let again = Enable::new(jid(SERVICE), "n1")
        .with_secret("new-secret")
        .to_iq("e2");
    assert_eq!(
        r.handle_stanza(t0(), &from(again, TABLET)),
        Ok(Incoming::Handled)
    );
    let d = drain(&mut r);
    assert!(matches!(
        d.events()[..],
        [Event::Enabled { replaced: true, .. }]
    ));
    assert_eq!(r.registration_count(), 1);
    r.notify(t0(), &Target::Account(bare(JULIET)), &Trigger::other());
    let d = drain(&mut r);
    assert_eq!(
        d.publishes[0].publish_options().and_then(|o| o.secret()),
        Some("new-secret")
    );
}

#[test]
fn disable_with_a_node_removes_that_pair_and_without_every_node_of_the_service() {
    let mut r = registry(RegistryConfig::default());
    let _ = enable(&mut r, t0(), PHONE, SERVICE, "n1");
    let _ = enable(&mut r, t0(), PHONE, SERVICE, "n2");
    let _ = enable(&mut r, t0(), PHONE, "other.example", "n1");
    let one = Disable::new(jid(SERVICE)).with_node("n1").to_iq("d1");
    assert_eq!(
        r.handle_stanza(t0(), &from(one, PHONE)),
        Ok(Incoming::Handled)
    );
    let d = drain(&mut r);
    assert_eq!(d.replies[0].attr("type"), Some("result"));
    assert_eq!(
        d.events(),
        [&Event::Disabled {
            account: bare(JULIET),
            node: PushNode::new(jid(SERVICE), Some("n1".into())),
            reason: DisableReason::User { by: jid(PHONE) },
        }]
    );
    let all = Disable::new(jid(SERVICE)).to_iq("d2");
    assert_eq!(
        r.handle_stanza(t0(), &from(all, PHONE)),
        Ok(Incoming::Handled)
    );
    let d = drain(&mut r);
    assert_eq!(d.events().len(), 1);
    assert_eq!(
        r.nodes(&bare(JULIET)),
        [(PushNode::new(jid("other.example"), Some("n1".into())), true)]
    );
}

#[test]
fn disabling_nothing_is_still_a_result() {
    let mut r = registry(RegistryConfig::default());
    let iq = Disable::new(jid(SERVICE)).to_iq("d1");
    assert_eq!(
        r.handle_stanza(t0(), &from(iq, PHONE)),
        Ok(Incoming::Handled)
    );
    let d = drain(&mut r);
    assert_eq!(d.replies[0].attr("type"), Some("result"));
    assert!(d.events.is_empty());
}

#[test]
fn another_account_is_forbidden() {
    let mut r = registry(RegistryConfig::default());
    let iq = set(
        Enable::new(jid(SERVICE), "n").to_iq("e1"),
        xml_ncname!("to"),
        JULIET,
    );
    let err = r.handle_stanza(t0(), &from(iq, "tybalt@capulet.example/sword"));
    assert_eq!(
        err,
        Err(EnableError::Forbidden {
            from: jid("tybalt@capulet.example/sword"),
            account: bare(JULIET)
        })
    );
    let d = drain(&mut r);
    assert_eq!(condition(&d.replies[0]), Some(DefinedCondition::Forbidden));
    assert_eq!(
        d.replies[0].attr("to"),
        Some("tybalt@capulet.example/sword")
    );
    assert_eq!(r.registration_count(), 0);
}

#[test]
fn refusals_name_their_conditions() {
    let cases: Vec<(minidom::Element, EnableError, DefinedCondition)> = vec![
        (
            set(
                Enable::new(jid(SERVICE), "n").to_iq("1"),
                xml_ncname!("type"),
                "get",
            ),
            EnableError::NotSet,
            DefinedCondition::NotAllowed,
        ),
        (
            xml(
                "<iq xmlns='jabber:client' type='set' id='2'><enable xmlns='urn:xmpp:push:0' node='n'/></iq>",
            ),
            EnableError::Malformed(ParseError::MissingAttribute {
                element: "enable",
                attribute: "jid",
            }),
            DefinedCondition::BadRequest,
        ),
        (
            Enable::new(jid(JULIET), "n").to_iq("3"),
            EnableError::OwnJid,
            DefinedCondition::BadRequest,
        ),
        (
            xml(
                "<iq xmlns='jabber:client' type='set' id='4'><enable xmlns='urn:xmpp:push:0' jid='push.example'/></iq>",
            ),
            EnableError::NodeRequired,
            DefinedCondition::FeatureNotImplemented,
        ),
        (
            Enable::new(jid(SERVICE), "n")
                .with_secret(&"x".repeat(5000))
                .to_iq("5"),
            EnableError::Malformed(ParseError::TooLarge {
                what: "publish options",
                limit: 4096,
            }),
            DefinedCondition::NotAcceptable,
        ),
    ];
    for (iq, error, cond) in cases {
        let mut r = registry(RegistryConfig::default());
        assert_eq!(r.handle_stanza(t0(), &from(iq, PHONE)), Err(error.clone()));
        assert_eq!(error.condition(), cond);
        let d = drain(&mut r);
        assert_eq!(condition(&d.replies[0]), Some(cond), "{error}");
        assert_eq!(r.registration_count(), 0);
    }
}

#[test]
fn without_require_node_a_nodeless_registration_publishes_without_node() {
    let mut r = registry(config!(require_node: false));
    let iq = xml(
        "<iq xmlns='jabber:client' type='set' id='4'><enable xmlns='urn:xmpp:push:0' jid='push.example'/></iq>",
    );
    assert_eq!(
        r.handle_stanza(t0(), &from(iq, PHONE)),
        Ok(Incoming::Handled)
    );
    let _ = drain(&mut r);
    r.notify(t0(), &Target::Account(bare(JULIET)), &Trigger::other());
    let d = drain(&mut r);
    let el = d.publishes[0].to_element();
    let publish = el
        .get_child("pubsub", "http://jabber.org/protocol/pubsub")
        .and_then(|p| p.get_child("publish", "http://jabber.org/protocol/pubsub"))
        .expect("publish");
    assert_eq!(publish.attr("node"), None);
}

#[test]
fn what_is_not_a_command_to_an_account_is_not_ours() {
    let mut r = registry(RegistryConfig::default());
    let to_session = set(
        Enable::new(jid(SERVICE), "n").to_iq("1"),
        xml_ncname!("to"),
        TABLET,
    );
    assert_eq!(
        r.handle_stanza(t0(), &from(to_session, PHONE)),
        Ok(Incoming::NotOurs)
    );
    let unstamped = Enable::new(jid(SERVICE), "n").to_iq("2");
    assert_eq!(r.handle_stanza(t0(), &unstamped), Ok(Incoming::NotOurs));
    let ping = xml(
        "<iq xmlns='jabber:client' type='get' id='3' from='juliet@capulet.example/phone'><ping xmlns='urn:xmpp:ping'/></iq>",
    );
    assert_eq!(r.handle_stanza(t0(), &ping), Ok(Incoming::NotOurs));
    let presence = xml("<presence xmlns='jabber:client' from='juliet@capulet.example/phone'/>");
    assert_eq!(r.handle_stanza(t0(), &presence), Ok(Incoming::NotOurs));
    let unknown_answer =
        xml("<iq xmlns='jabber:client' type='result' id='someone-else' from='push.example'/>");
    assert_eq!(
        r.handle_stanza(t0(), &unknown_answer),
        Ok(Incoming::NotOurs)
    );
    assert!(drain(&mut r).replies.is_empty());
}

#[test]
fn commands_to_the_server_or_the_bare_jid_are_the_senders_own() {
    for to in [JULIET, "capulet.example"] {
        let mut r = registry(RegistryConfig::default());
        let iq = set(
            Enable::new(jid(SERVICE), "n").to_iq("1"),
            xml_ncname!("to"),
            to,
        );
        assert_eq!(
            r.handle_stanza(t0(), &from(iq, PHONE)),
            Ok(Incoming::Handled),
            "to {to}"
        );
        assert_eq!(r.registration_count(), 1);
    }
}
