//! Dialects (sm:1, sm:2) and inline use in SASL2 and Bind2 (XEP-0198 §9, XEP-0386/0388).

use super::*;
use xmpp_sm::elements::inline;

#[test]
fn sm2_requests_are_answered_in_sm2() {
    let (_world, client, mut server) =
        enabled_pair(manual_client(), manual_server(), Namespace::Sm2);
    assert_eq!(client.namespace(), Namespace::Sm2);
    assert_eq!(
        server.handle_element(t0(), xml("<r xmlns='urn:xmpp:sm:2'/>")),
        Ok(Incoming::Handled)
    );
    assert_eq!(
        sent(&mut server),
        vec![xml("<a xmlns='urn:xmpp:sm:2' h='0'/>")]
    );
    server.request_ack(t0());
    assert_eq!(sent(&mut server), vec![xml("<r xmlns='urn:xmpp:sm:2'/>")]);
}

#[test]
fn a_server_offers_sm2_and_sm3_and_answers_each_in_its_own() {
    let world = World::new(ServerConfig::default());
    assert_eq!(
        world.store.features(),
        vec![
            xml("<sm xmlns='urn:xmpp:sm:2'/>"),
            xml("<sm xmlns='urn:xmpp:sm:3'/>")
        ]
    );
    for ns in [Namespace::Sm2, Namespace::Sm3] {
        let mut world = World::new(ServerConfig::default());
        let mut server = world.bound("a");
        let enable = Enable::new(ns).with_resume();
        let _ = server.handle_element(t0(), enable.into());
        let enabled = sent(&mut server).pop().expect("<enabled/>");
        assert_eq!(Namespace::of(&enabled), Some(ns));
    }
}

#[test]
fn sm1_requests_carry_u_and_their_h_acknowledges() {
    let (_world, mut client, mut server) =
        enabled_pair(manual_client(), manual_server(), Namespace::Sm1);
    client.send(t0(), msg(1)).expect("send");
    client.send(t0(), msg(2)).expect("send");
    client.request_ack(t0());
    let wire = sent(&mut client);
    assert_eq!(
        typed(&wire[2]),
        Nonza::Request(Request::new(Namespace::Sm1).with_u(2))
    );
    for el in wire {
        let _ = server.handle_element(t0(), el).expect("server");
    }
    assert_eq!(
        sent(&mut server),
        vec![xml("<a xmlns='urn:xmpp:sm:1' h='2'/>")]
    );
    // The seed's <r u h/>: the h acknowledges, and the request is answered.
    assert_eq!(
        client.handle_element(t0(), xml("<r xmlns='urn:xmpp:sm:1' u='0' h='2'/>")),
        Ok(Incoming::Handled)
    );
    assert_eq!(
        events(&mut client),
        vec![ClientEvent::Acked {
            h: 2,
            stanzas: vec![msg(1), msg(2)].into()
        }]
    );
    assert_eq!(
        sent(&mut client),
        vec![xml("<a xmlns='urn:xmpp:sm:1' h='0'/>")]
    );
    assert_eq!(client.unacked(), 0);
}

#[test]
fn sm1_feature_advertises_max() {
    let mut config = manual_server();
    config.namespaces = vec![Namespace::Sm1, Namespace::Sm3];
    let mut world = World::new(config);
    let server = world.stream("a", juliet());
    let features = vec![
        xml("<sm xmlns='urn:xmpp:sm:1' max='600'/>"),
        xml("<sm xmlns='urn:xmpp:sm:3'/>"),
    ];
    assert_eq!(server.features(), features);
    assert_eq!(world.store.features(), features);
}

#[test]
fn unoffered_dialects_are_not_ours() {
    let mut world = World::new(manual_server());
    let mut server = world.bound("a");
    let enable = xml("<enable xmlns='urn:xmpp:sm:1'/>");
    assert_eq!(
        server.handle_element(t0(), enable.clone()),
        Ok(Incoming::NotOurs(enable))
    );
}

fn wrap(outer: &str, ns: &str, inner: &[Element], before: &str) -> Element {
    let inner: String = inner.iter().map(String::from).collect();
    xml(&format!("<{outer} xmlns='{ns}'>{before}{inner}</{outer}>"))
}

#[test]
fn sasl2_inline_resume_round_trip_and_never_bound() {
    let (mut world, mut client, mut server) = manual_pair();
    let id = server.id().cloned().expect("resumable");
    client.send(at(1), msg(1)).expect("send");
    let _ = sent(&mut client); // lost
    hibernate(at(2), &mut client, &mut server);

    // Client: <resume/> inside <authenticate/>.
    client.resume(at(3), Placement::Sasl2).expect("resume");
    let resume = client.poll_transmit().expect("<resume/>");
    assert_eq!(resume.placement(), Placement::Sasl2);
    let authenticate = wrap(
        "authenticate",
        ns::SASL2,
        &[resume.into_element()],
        "<initial-response>AGp1bGlldABwYXNz</initial-response>",
    );
    // Server: finds it, resumes, answers inside <success/>.
    let mut server = world.stream("b", juliet());
    let found = inline::resume_in_authenticate(&authenticate)
        .cloned()
        .expect("inline resume");
    assert_eq!(
        server.handle_inline(at(3), found, Placement::Sasl2),
        Ok(Incoming::Handled)
    );
    let resumed = server.poll_transmit().expect("<resumed/>");
    assert_eq!(resumed.placement(), Placement::Sasl2);
    let success = wrap(
        "success",
        ns::SASL2,
        &[resumed.into_element()],
        "<authorization-identifier>juliet@example.com/balcony</authorization-identifier>",
    );
    // Client: takes the reply from <success/>, then retransmits.
    client.handle_success(at(3), &success).expect("resumed");
    assert_eq!(
        events(&mut client),
        vec![ClientEvent::Resumed {
            previd: id.clone(),
            retransmitted: 1
        }]
    );
    assert_eq!(
        client_to_server(at(3), &mut client, &mut server),
        vec![Incoming::Stanza(msg(1))]
    );
    assert_eq!(server.handled(), 1);
    assert_eq!(
        server.resource(),
        Some(&balcony()),
        "restored by the resumption"
    );
    // Never both resumed and bound; never enabled again.
    assert!(server.is_resumed());
    let refused = server.handle_bind(at(4), balcony()).expect_err("resumed");
    assert_eq!(refused.reason(), &Refusal::Resumed);
    assert_eq!(
        server.handle_element(at(4), xml("<enable xmlns='urn:xmpp:sm:3'/>")),
        Err(Error::Peer(PeerError::EnableTwice { ns: Namespace::Sm3 }))
    );
    assert!(matches!(
        client.enable(at(4), Namespace::Sm3, Placement::TopLevel),
        Err(Misuse {
            operation: "enable",
            ..
        })
    ));
}

#[test]
fn bind2_inline_enable_round_trip() {
    let mut world = World::new(manual_server());
    let mut client = Client::new(manual_client());
    client
        .enable(t0(), Namespace::Sm3, Placement::Bind2)
        .expect("enable");
    let enable = client.poll_transmit().expect("<enable/>");
    assert_eq!(enable.placement(), Placement::Bind2);
    let bind = wrap(
        "bind",
        ns::BIND2,
        &[enable.into_element()],
        "<tag>AwesomeXMPP</tag>",
    );
    let authenticate = wrap("authenticate", ns::SASL2, &[bind], "");

    // Server: authentication succeeded; Bind2 binds, then the inline <enable/> is processed.
    let mut server = world.stream("a", juliet());
    let bind = authenticate.get_child("bind", ns::BIND2).expect("bind");
    server.handle_bind(t0(), balcony()).expect("bind");
    let found = inline::enable_in_bind(bind)
        .cloned()
        .expect("inline enable");
    assert_eq!(
        server.handle_inline(t0(), found, Placement::Bind2),
        Ok(Incoming::Handled)
    );
    let enabled = server.poll_transmit().expect("<enabled/>");
    assert_eq!(enabled.placement(), Placement::Bind2);
    let bound = wrap("bound", ns::BIND2, &[enabled.into_element()], "");
    let success = wrap(
        "success",
        ns::SASL2,
        &[bound],
        "<authorization-identifier>juliet@example.com/balcony</authorization-identifier>",
    );

    client.handle_success(t0(), &success).expect("enabled");
    let id = server.id().cloned();
    assert!(id.is_some());
    assert_eq!(
        events(&mut client),
        vec![ClientEvent::Enabled {
            id,
            resume: true,
            max: Some(300),
            location: None
        }]
    );
    assert!(client.is_enabled() && server.is_enabled());
    // Counting works as after a top-level enable.
    client.send(t0(), msg(1)).expect("send");
    client.request_ack(t0());
    let _ = client_to_server(t0(), &mut client, &mut server);
    assert_eq!(
        sent(&mut server),
        vec![xml("<a xmlns='urn:xmpp:sm:3' h='1'/>")]
    );
}

#[test]
fn bind2_inline_enable_failure_goes_inside_bound() {
    let mut config = manual_server();
    config.enable = EnablePolicy::Ask;
    let mut world = World::new(config);
    let mut client = Client::new(manual_client());
    let mut server = world.bound("a");
    client
        .enable(t0(), Namespace::Sm3, Placement::Bind2)
        .expect("enable");
    let enable = client.poll_transmit().expect("<enable/>").into_element();
    let _ = server
        .handle_inline(t0(), enable, Placement::Bind2)
        .expect("request");
    client.send(t0(), msg(1)).expect("send while enabling");
    let _ = sent(&mut client);
    server
        .reject_enable(t0(), DefinedCondition::InternalServerError)
        .expect("reject");
    let failed = server.poll_transmit().expect("<failed/>");
    assert_eq!(failed.placement(), Placement::Bind2);
    let bound = wrap(
        "bound",
        ns::BIND2,
        &[failed.into_element()],
        "<latest-id>0312a1b8</latest-id>",
    );
    let success = wrap("success", ns::SASL2, &[bound], "");
    client.handle_success(t0(), &success).expect("failed");
    assert_eq!(
        events(&mut client),
        vec![
            ClientEvent::EnableFailed {
                condition: Some(DefinedCondition::InternalServerError)
            },
            ClientEvent::HandedBack {
                reason: HandBackReason::EnableFailed,
                stanzas: vec![unacked(msg(1), wall(0))],
            }
        ]
    );
    assert!(!server.is_enabled());
}

/// XEP-0198 §9.2.1 (Examples 28 to 31): `<resume/>` in `<authenticate/>` and `<enable/>` in
/// its `<bind/>`. If the resumption fails the fallback enable takes effect; if it succeeds
/// the enable is ignored, so a stream is never both resumed and bound.
#[test]
fn inline_resume_with_a_bind2_enable_fallback() {
    for resumable in [false, true] {
        let (mut world, mut client, mut server) = manual_pair();
        client.send(at(1), msg(1)).expect("send");
        let _ = sent(&mut client); // lost
        if resumable {
            hibernate(at(2), &mut client, &mut server);
        } else {
            client.handle_disconnect(at(2));
            server.close(at(2)); // ended: nothing to resume
        }
        client.resume(at(3), Placement::Sasl2).expect("resume");
        client
            .enable(at(3), Namespace::Sm3, Placement::Bind2)
            .expect("a fallback enable while resuming");
        let resume = client.poll_transmit().expect("<resume/>");
        let enable = client.poll_transmit().expect("<enable/>");
        assert_eq!(
            (resume.placement(), enable.placement()),
            (Placement::Sasl2, Placement::Bind2)
        );

        let mut stream = world.stream("b", juliet());
        let _ = stream.handle_inline(at(3), resume.into_element(), Placement::Sasl2);
        let mut success = Vec::new();
        let mut bound = Vec::new();
        if !stream.is_resumed() {
            // Resumption failed: bind, then the inline enable.
            stream.handle_bind(at(3), balcony()).expect("bind");
            let _ = stream.handle_inline(at(3), enable.into_element(), Placement::Bind2);
        }
        while let Some(t) = stream.poll_transmit() {
            match t.placement() {
                Placement::Sasl2 => success.push(t.into_element()),
                Placement::Bind2 => bound.push(t.into_element()),
                _ => {}
            }
        }
        if !bound.is_empty() {
            success.push(wrap("bound", ns::BIND2, &bound, ""));
        }
        let success = wrap("success", ns::SASL2, &success, "");
        client.handle_success(at(3), &success).expect("answers");
        let events = events(&mut client);
        if resumable {
            assert!(matches!(
                events[..],
                [ClientEvent::Resumed {
                    retransmitted: 1,
                    ..
                }]
            ));
            assert!(stream.is_resumed() && client.is_enabled());
        } else {
            assert!(
                matches!(
                    &events[..],
                    [
                        ClientEvent::ResumeFailed { .. },
                        ClientEvent::HandedBack { .. },
                        ClientEvent::Enabled { .. }
                    ]
                ),
                "{events:?}"
            );
            assert!(client.is_enabled() && stream.is_enabled() && !stream.is_resumed());
        }
    }
}
