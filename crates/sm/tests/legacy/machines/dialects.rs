//! Dialects (sm:1, sm:2) and inline use in SASL2 and Bind2 (XEP-0198 §9, XEP-0386/0388).

use super::*;

#[test]
fn sm2_requests_are_answered_in_sm2() {
    let (client, mut server) = enabled_pair(manual_client(), manual_server(), Namespace::Sm2);
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
fn sm1_requests_carry_u_and_their_h_acknowledges() {
    let (mut client, mut server) = enabled_pair(manual_client(), manual_server(), Namespace::Sm1);
    client.send(t0(), msg(1)).expect("send");
    client.send(t0(), msg(2)).expect("send");
    client.request_ack(t0());
    let wire = sent(&mut client);
    assert_eq!(
        typed(&wire[2]),
        Nonza::Request(Request {
            ns: Namespace::Sm1,
            u: Some(2),
            h: None
        })
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
    assert_eq!(events(&mut client), vec![Event::Acked { h: 2, count: 2 }]);
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
    let server = Server::new(config, juliet());
    assert_eq!(
        server.features(),
        vec![
            xml("<sm xmlns='urn:xmpp:sm:1' max='600'/>"),
            xml("<sm xmlns='urn:xmpp:sm:3'/>")
        ]
    );
}

fn wrap(outer: &str, ns: &str, inner: Element, before: &str) -> Element {
    let text = format!(
        "<{outer} xmlns='{ns}'>{before}{}</{outer}>",
        String::from(&inner)
    );
    xml(&text)
}

#[test]
fn sasl2_inline_resume_round_trip_and_never_bound() {
    let (mut client, mut server) = manual_pair();
    let id = server.id().cloned().expect("resumable");
    let mut store = SessionStore::default();
    store.register(id.clone(), juliet());
    client.send(at(1), msg(1)).expect("send");
    let _ = sent(&mut client); // lost
    hibernate(at(2), &mut client, &mut server, &mut store);

    // Client: <resume/> inside <authenticate/>.
    let resume = client.resume(at(3)).expect("resume");
    let authenticate = wrap(
        "authenticate",
        ns::SASL2,
        resume,
        "<initial-response>AGp1bGlldABwYXNz</initial-response>",
    );
    // Server: finds it, resumes, answers inside <success/>.
    let mut server = Server::new(manual_server(), juliet());
    let found = inline::resume_in_authenticate(&authenticate)
        .cloned()
        .expect("inline resume");
    let Ok(Incoming::ResumeRequest(request)) = server.handle_element(at(3), found) else {
        panic!("a resume request");
    };
    let Claim::Hibernated(session) = store.claim(at(3), &request.previd, &juliet()) else {
        panic!("hibernated");
    };
    let resumed = server.accept_resume(at(3), session).expect("resume");
    let success = wrap(
        "success",
        ns::SASL2,
        resumed,
        "<authorization-identifier>juliet@example.com/balcony</authorization-identifier>",
    );
    // Client: finds the reply, then retransmits.
    let reply = inline::reply_in_success(&success)
        .cloned()
        .expect("inline reply");
    assert_eq!(client.handle_element(at(3), reply), Ok(Incoming::Handled));
    assert_eq!(
        events(&mut client),
        vec![Event::Resumed {
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
    assert!(matches!(
        server.bound(at(4), balcony()),
        Err(Error::Misuse(Misuse::InvalidState {
            operation: "bound",
            ..
        }))
    ));
    assert_eq!(
        server.handle_element(at(4), xml("<enable xmlns='urn:xmpp:sm:3'/>")),
        Err(Error::Peer(PeerError::EnableTwice { ns: Namespace::Sm3 }))
    );
    assert!(matches!(
        client.enable(at(4), Namespace::Sm3),
        Err(Error::Misuse(Misuse::InvalidState { .. }))
    ));
}

#[test]
fn bind2_inline_enable_round_trip() {
    let mut client = Client::new(manual_client());
    let enable = client.enable(t0(), Namespace::Sm3).expect("enable");
    let bind = wrap("bind", ns::BIND2, enable, "<tag>AwesomeXMPP</tag>");
    let authenticate = wrap("authenticate", ns::SASL2, bind, "");

    // Server: authentication succeeded; Bind2 binds, then the inline <enable/> is processed.
    let mut server = Server::new(manual_server(), juliet());
    let bind = authenticate.get_child("bind", ns::BIND2).expect("bind");
    server.bound(t0(), balcony()).expect("bind");
    let found = inline::enable_in_bind(bind)
        .cloned()
        .expect("inline enable");
    assert!(matches!(
        server.handle_element(t0(), found),
        Ok(Incoming::EnableRequest(_))
    ));
    let enabled = server.accept_enable(t0(), &mut rng(3)).expect("accept");
    let bound = wrap("bound", ns::BIND2, enabled, "");
    let success = wrap(
        "success",
        ns::SASL2,
        bound,
        "<authorization-identifier>juliet@example.com/balcony</authorization-identifier>",
    );

    let bound = success.get_child("bound", ns::BIND2).expect("bound");
    let reply = inline::reply_in_bound(bound)
        .cloned()
        .expect("inline reply");
    assert_eq!(client.handle_element(t0(), reply), Ok(Incoming::Handled));
    let id = server.id().cloned();
    assert!(id.is_some());
    assert_eq!(
        events(&mut client),
        vec![Event::Enabled {
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
    let mut client = Client::new(manual_client());
    let mut server = bound_server(manual_server());
    let enable = client.enable(t0(), Namespace::Sm3).expect("enable");
    let _ = server.handle_element(t0(), enable).expect("request");
    client.send(t0(), msg(1)).expect("send while enabling");
    let _ = sent(&mut client);
    let failed = server
        .reject_enable(t0(), DefinedCondition::InternalServerError)
        .expect("reject");
    let bound = wrap(
        "bound",
        ns::BIND2,
        failed,
        "<latest-id>0312a1b8</latest-id>",
    );
    let reply = inline::reply_in_bound(&bound)
        .cloned()
        .expect("inline reply");
    assert_eq!(client.handle_element(t0(), reply), Ok(Incoming::Handled));
    assert_eq!(
        events(&mut client),
        vec![
            Event::EnableFailed {
                condition: Some(DefinedCondition::InternalServerError)
            },
            Event::HandedBack {
                reason: HandBackReason::EnableFailed,
                stanzas: vec![unacked(msg(1), t0())],
            }
        ]
    );
    assert!(!server.is_enabled());
}
