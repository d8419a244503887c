//! XEP-0357 §7: what a trigger publishes, to whom, from whom, and what the summary reveals.

use xmpp_parsers::data_forms::DataFormType;
use xmpp_push0::{
    Privacy, Publish, PublishFrom, RegistryConfig, Summary, Target, Trigger, TriggerKind,
};

use crate::common::*;

fn message(body: &str) -> minidom::Element {
    xml(&format!(
        "<message xmlns='jabber:client' from='romeo@montague.example/garden' to='{JULIET}' \
         type='chat'><body>{body}</body></message>"
    ))
}

fn summary_of(r: &mut xmpp_push0::Registry) -> Summary {
    let d = drain(r);
    d.publishes[0]
        .notification()
        .summary
        .clone()
        .expect("a summary")
}

#[test]
fn every_active_registration_of_the_account_gets_a_publish_from_the_server() {
    let mut r = registry(RegistryConfig::default());
    let _ = enable(&mut r, t0(), PHONE, SERVICE, "n1");
    let _ = enable(&mut r, t0(), TABLET, "other.example", "n2");
    let trigger = Trigger::from_stanza(&message("hi")).expect("pushable");
    assert_eq!(r.notify(t0(), &Target::Account(bare(JULIET)), &trigger), 2);
    let d = drain(&mut r);
    assert_eq!(d.publishes.len(), 2);
    for p in &d.publishes {
        // XEP-0357 0.3+: from the server.
        assert_eq!(p.from(), &jid("capulet.example"));
        assert_eq!(p.account(), &bare(JULIET));
        let publish = Publish::from_iq(&p.to_element()).expect("our publish parses");
        let node = publish.node.as_deref().expect("node");
        assert_eq!(
            publish.publish_options.as_ref().and_then(|o| o.secret()),
            Some(format!("secret-of-{node}").as_str())
        );
    }
    let to: Vec<_> = d
        .publishes
        .iter()
        .map(|p| p.node().service.clone())
        .collect();
    assert_eq!(to, [jid(SERVICE), jid("other.example")]);
    assert_ne!(d.publishes[0].id(), d.publishes[1].id());
}

#[test]
fn the_seed_publishes_from_the_users_bare_jid() {
    let mut r = registry(config!(publish_from: PublishFrom::Account));
    let _ = enable(&mut r, t0(), PHONE, SERVICE, "n1");
    r.notify(t0(), &Target::Account(bare(JULIET)), &Trigger::other());
    assert_eq!(drain(&mut r).publishes[0].from(), &jid(JULIET));
}

#[test]
fn privacy_policies_reveal_what_they_say() {
    let long = "x".repeat(600);
    let cases = [
        (Privacy::CountsOnly, None, None),
        (Privacy::Sender, Some("romeo@montague.example/garden"), None),
        (
            Privacy::SenderAndBody,
            Some("romeo@montague.example/garden"),
            Some("x".repeat(512)),
        ),
        (
            Privacy::Placeholder("New Message!".into()),
            None,
            Some("New Message!".to_owned()),
        ),
    ];
    for (privacy, sender, body) in cases {
        let mut r = registry(config!(privacy: privacy.clone()));
        let _ = enable(&mut r, t0(), PHONE, SERVICE, "n1");
        let trigger = Trigger::from_stanza(&message(&long)).expect("pushable");
        r.notify(t0(), &Target::Account(bare(JULIET)), &trigger);
        let s = summary_of(&mut r);
        assert_eq!(s.message_count, Some(1), "{privacy:?}");
        assert_eq!(s.last_message_sender, sender.map(jid), "{privacy:?}");
        assert_eq!(s.last_message_body, body, "{privacy:?}");
        assert_eq!(s.form_type, Some(DataFormType::Submit));
    }
}

#[test]
fn the_placeholder_is_for_important_triggers_only() {
    let mut r = registry(RegistryConfig::default());
    let _ = enable(&mut r, t0(), PHONE, SERVICE, "n1");
    let composing = xml(
        "<message xmlns='jabber:client' from='romeo@montague.example/garden' type='chat'>\
        <composing xmlns='http://jabber.org/protocol/chatstates'/></message>",
    );
    let trigger = Trigger::from_stanza(&composing).expect("pushable");
    assert_eq!(trigger.kind, TriggerKind::Other);
    r.notify(t0(), &Target::Account(bare(JULIET)), &trigger);
    let s = summary_of(&mut r);
    assert_eq!(s.last_message_body, None);
    assert_eq!(s.message_count, None, "a chat state is no message");
}

#[test]
fn counts_add_up_until_the_user_is_online_again() {
    let mut r = registry(config!(summary_form_type: Some(DataFormType::Form)));
    let _ = enable(&mut r, t0(), PHONE, SERVICE, "n1");
    let account = Target::Account(bare(JULIET));
    r.notify(
        t0(),
        &account,
        &Trigger::message(jid("romeo@montague.example"), Some("1".into())),
    );
    let _ = drain(&mut r);
    r.notify(
        t0(),
        &account,
        &Trigger::subscription_request(jid("tybalt@capulet.example")),
    );
    let _ = drain(&mut r);
    r.notify(
        t0(),
        &account,
        &Trigger::message(jid("romeo@montague.example"), Some("2".into())),
    );
    let s = summary_of(&mut r);
    assert_eq!(
        (s.message_count, s.pending_subscription_count),
        (Some(2), Some(1))
    );
    assert_eq!(s.form_type, Some(DataFormType::Form));
    r.handle_online(t0(), &bare(JULIET));
    r.notify(
        t0(),
        &account,
        &Trigger::call_proposal(jid("romeo@montague.example")),
    );
    let s = summary_of(&mut r);
    assert_eq!(
        (s.message_count, s.pending_subscription_count),
        (Some(1), None)
    );
}

#[test]
fn a_session_target_reaches_the_registrations_it_enabled() {
    let mut r = registry(RegistryConfig::default());
    let _ = enable(&mut r, t0(), PHONE, SERVICE, "phone-node");
    let _ = enable(&mut r, t0(), TABLET, SERVICE, "tablet-node");
    assert_eq!(
        r.notify(t0(), &Target::Session(full(PHONE)), &Trigger::other()),
        1
    );
    let d = drain(&mut r);
    assert_eq!(d.publishes[0].node().node.as_deref(), Some("phone-node"));
    assert_eq!(
        r.notify(
            t0(),
            &Target::Session(full("juliet@capulet.example/laptop")),
            &Trigger::other()
        ),
        0
    );
    assert_eq!(
        r.notify(
            t0(),
            &Target::Account(bare("nobody@capulet.example")),
            &Trigger::other()
        ),
        0
    );
}

#[test]
fn extra_payloads_travel_in_the_notification() {
    let mut r = registry(RegistryConfig::default());
    let _ = enable(&mut r, t0(), PHONE, SERVICE, "n1");
    let trigger = Trigger::other().with_payload(xml("<hint xmlns='urn:example:hint'>call</hint>"));
    r.notify(t0(), &Target::Account(bare(JULIET)), &trigger);
    let d = drain(&mut r);
    let n = d.publishes[0].notification();
    assert_eq!(n.payloads.len(), 1);
    assert!(n.payloads[0].is("hint", "urn:example:hint"));
}

#[test]
fn the_xml_writer_and_the_element_agree_and_fit_any_stream() {
    let mut r = registry(config!(privacy: Privacy::SenderAndBody));
    let _ = enable(&mut r, t0(), PHONE, SERVICE, "n'1&<");
    let trigger = Trigger::message(
        jid("romeo@montague.example"),
        Some("a <b> & 'c' \"d\"\u{1}".into()),
    );
    r.notify(t0(), &Target::Account(bare(JULIET)), &trigger);
    let d = drain(&mut r);
    let p = &d.publishes[0];
    let mut inside = String::new();
    xmpp_push0::Transmit::Publish(p.clone()).write_xml(&mut inside);
    assert!(
        inside.starts_with("<iq type='set'"),
        "no stanza xmlns: {inside}"
    );
    for ns in ["jabber:client", "jabber:server", "jabber:component:accept"] {
        let parsed = xml(&p.to_xml_in(ns));
        assert_eq!(parsed.ns(), ns);
        assert_eq!(Publish::from_iq(&parsed), Publish::from_iq(&p.to_element()));
    }
    assert_eq!(xml(&p.to_xml_in("jabber:client")), p.to_element());
    // A control character the caller passed cannot reach the wire.
    let body = p
        .notification()
        .summary
        .as_ref()
        .and_then(|s| s.last_message_body.clone());
    assert_eq!(body.as_deref(), Some("a <b> & 'c' \"d\"\u{FFFD}"));
}

#[test]
fn triggers_follow_prosodys_rules() {
    let t = |x: &str| Trigger::from_stanza(&xml(x));
    let m = |inner: &str, attrs: &str| {
        format!(
            "<message xmlns='jabber:client' from='romeo@montague.example/garden' {attrs}>{inner}</message>"
        )
    };
    let chat = t(&m("<body>hi</body>", "type='chat'")).expect("message");
    assert_eq!((chat.kind, chat.important), (TriggerKind::Message, true));
    assert_eq!(chat.sender, Some(jid("romeo@montague.example/garden")));
    let headline = t(&m("<body>news</body>", "type='headline'")).expect("headline");
    assert_eq!(
        (headline.kind, headline.important),
        (TriggerKind::Message, false)
    );
    let subject = t(&m("<subject>s</subject><body>s</body>", "type='groupchat'")).expect("subject");
    assert!(!subject.important);
    let omemo = t(&m(
        "<encrypted xmlns='eu.siacs.conversations.axolotl'/>",
        "type='chat'",
    ))
    .expect("omemo");
    assert_eq!(
        (omemo.kind, omemo.important, omemo.body),
        (TriggerKind::Message, true, None)
    );
    let call = t(&m(
        "<propose xmlns='urn:xmpp:jingle-message:0' id='c'/>",
        "",
    ))
    .expect("call");
    assert_eq!(
        (call.kind, call.important),
        (TriggerKind::CallProposal, true)
    );
    let receipt = t(&m("<received xmlns='urn:xmpp:receipts' id='r'/>", "")).expect("receipt");
    assert_eq!(
        (receipt.kind, receipt.important),
        (TriggerKind::Other, false)
    );
    let carbon_in = t(&m(
        "<received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>\
         <message xmlns='jabber:client' from='tybalt@capulet.example/sword' type='chat'><body>x</body></message>\
         </forwarded></received>",
        "",
    ))
    .expect("carbon");
    assert_eq!(carbon_in.sender, Some(jid("tybalt@capulet.example/sword")));
    assert!(carbon_in.important);
    let carbon_out = t(&m(
        "<sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>\
         <message xmlns='jabber:client' to='tybalt@capulet.example' type='chat'><body>x</body></message>\
         </forwarded></sent>",
        "",
    ))
    .expect("carbon");
    assert_eq!(
        (carbon_out.kind, carbon_out.important),
        (TriggerKind::Other, false)
    );
    let subscribe =
        t("<presence xmlns='jabber:server' from='tybalt@capulet.example' type='subscribe'/>")
            .expect("subscription");
    assert_eq!(subscribe.kind, TriggerKind::SubscriptionRequest);
    assert_eq!(t("<presence xmlns='jabber:client' from='a@b'/>"), None);
    assert_eq!(t("<iq xmlns='jabber:client' type='get' id='1'/>"), None);
}

#[test]
fn a_trigger_for_the_policy_publishes_what_a_full_one_does_and_keeps_nothing_more() {
    let carbon = |wrapper: &str| {
        xml(&format!(
            "<message xmlns='jabber:client' from='{JULIET}' to='{PHONE}'>\
             <{wrapper} xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>\
             <message xmlns='jabber:client' from='romeo@montague.example/garden' \
             to='{JULIET}' type='chat'><body>carried</body></message></forwarded>\
             </{wrapper}></message>"
        ))
    };
    let stanzas = [
        message("hi &amp; bye"),
        message(""),
        xml(&format!(
            "<message xmlns='jabber:client' from='romeo@montague.example/garden' to='{JULIET}' \
             type='headline'><body>news</body></message>"
        )),
        xml(&format!(
            "<message xmlns='jabber:client' from='room@muc.example/romeo' to='{JULIET}' \
             type='groupchat'><subject>topic</subject><body>topic</body></message>"
        )),
        xml(&format!(
            "<message xmlns='jabber:client' from='romeo@montague.example/garden' to='{JULIET}'>\
             <encrypted xmlns='eu.siacs.conversations.axolotl'/></message>"
        )),
        xml(&format!(
            "<message xmlns='jabber:client' from='romeo@montague.example/garden' to='{JULIET}'>\
             <active xmlns='http://jabber.org/protocol/chatstates'/></message>"
        )),
        xml(&format!(
            "<message xmlns='jabber:client' from='romeo@montague.example/garden' to='{JULIET}'>\
             <propose xmlns='urn:xmpp:jingle-message:0' id='c1'/></message>"
        )),
        carbon("received"),
        carbon("sent"),
        xml(&format!(
            "<presence xmlns='jabber:client' from='romeo@montague.example' to='{JULIET}' \
             type='subscribe'/>"
        )),
        xml(&format!(
            "<message xmlns='jabber:client' from='not a jid@' to='{JULIET}'><body>x</body>\
             </message>"
        )),
        xml(&format!(
            "<iq xmlns='jabber:client' from='romeo@montague.example/garden' to='{JULIET}' \
             type='get' id='1'/>"
        )),
    ];
    let policies = [
        Privacy::CountsOnly,
        Privacy::Sender,
        Privacy::SenderAndBody,
        Privacy::Placeholder("New Message!".into()),
    ];
    for privacy in policies {
        let mut full = registry(config!(privacy: privacy.clone()));
        let mut kept = registry(config!(privacy: privacy.clone()));
        for r in [&mut full, &mut kept] {
            let _ = enable(r, t0(), PHONE, SERVICE, "n1");
            let _ = enable(r, t0(), TABLET, "other.example", "n2");
        }
        for stanza in &stanzas {
            let everything = Trigger::from_stanza(stanza);
            let trigger = Trigger::from_stanza_for(stanza, &privacy);
            let (Some(everything), Some(trigger)) = (everything.clone(), trigger.clone()) else {
                assert_eq!(everything.is_none(), trigger.is_none(), "{stanza:?}");
                continue;
            };
            assert_eq!(trigger.kind, everything.kind);
            assert_eq!(trigger.important, everything.important);
            if !privacy.reveals_sender() {
                assert_eq!(trigger.sender, None, "{privacy:?} keeps no sender");
            }
            if !privacy.reveals_body() {
                assert_eq!(trigger.body, None, "{privacy:?} keeps no body");
            }
            let target = Target::Account(bare(JULIET));
            assert_eq!(
                kept.notify(t0(), &target, &trigger),
                full.notify(t0(), &target, &everything)
            );
            let written = |r: &mut xmpp_push0::Registry| -> Vec<String> {
                drain(r)
                    .publishes
                    .iter()
                    .map(|p| p.to_xml_in("jabber:server"))
                    .collect()
            };
            assert_eq!(
                written(&mut kept),
                written(&mut full),
                "{privacy:?} {stanza:?}"
            );
        }
    }
}
