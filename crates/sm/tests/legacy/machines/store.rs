//! The session store and resumption (XEP-0198 §5): ownership, expiry, ended sessions,
//! limits, SM-IDs, take-over, and persistence.

use super::*;

#[test]
fn only_the_owner_can_claim_a_session() {
    let (mut client, mut server) = manual_pair();
    let id = server.id().cloned().expect("resumable");
    let mut store = SessionStore::default();
    store.register(id.clone(), juliet());
    hibernate(at(1), &mut client, &mut server, &mut store);
    // Another account learns nothing: the same answer as an unknown id.
    assert_eq!(store.claim(at(2), &id, &romeo()), Claim::Failed { h: None });
    assert_eq!(
        store.claim(at(2), &sm_id("no-such-id"), &juliet()),
        Claim::Failed { h: None }
    );
    assert_eq!(store.hibernated(), 1, "the prober did not disturb it");
    let Claim::Hibernated(session) = store.claim(at(2), &id, &juliet()) else {
        panic!("the owner gets it");
    };
    assert_eq!(session.owner(), &juliet());
    assert_eq!(session.id(), &id);
    assert_eq!(store.claim(at(2), &id, &juliet()), Claim::Live);
    assert_eq!(store.claim(at(2), &id, &romeo()), Claim::Failed { h: None });
}

#[test]
fn expiry_hands_the_stanzas_back_with_their_first_sent_times() {
    let (mut client, mut server) = manual_pair();
    client.send(at(1), msg(100)).expect("send");
    let _ = client_to_server(at(1), &mut client, &mut server);
    server.send(at(1), msg(1)).expect("send");
    server.send(at(2), msg(2)).expect("send");
    let _ = sent(&mut server); // lost
    let id = server.id().cloned().expect("resumable");
    let mut store = SessionStore::default();
    store.register(id.clone(), juliet());
    hibernate(at(3), &mut client, &mut server, &mut store);
    // Default grant: 300 s from the disconnect.
    assert_eq!(store.poll_timeout(), Some(at(303)));
    store.handle_timeout(at(302));
    assert_eq!(store.poll_event(), None);
    store.handle_timeout(at(303));
    assert_eq!(
        store.poll_event(),
        Some(StoreEvent::Expired {
            id: id.clone(),
            owner: juliet(),
            stanzas: vec![unacked(msg(1), at(1)), unacked(msg(2), at(2))],
        })
    );
    assert_eq!(store.poll_event(), None, "fires once");
    assert_eq!(store.hibernated(), 0);
    assert_eq!(store.poll_timeout(), None);
    // Its last h is remembered for a late <resume/>.
    assert_eq!(
        store.claim(at(304), &id, &juliet()),
        Claim::Failed { h: Some(1) }
    );
}

#[test]
fn late_resume_of_an_ended_session_gets_failed_with_h() {
    let (mut client, mut server) = manual_pair();
    let id = server.id().cloned().expect("resumable");
    let mut store = SessionStore::default();
    store.register(id.clone(), juliet());
    for n in 1..=3 {
        client.send(at(1), msg(n)).expect("send");
    }
    let mut wire = sent(&mut client);
    wire.truncate(2); // the third is lost
    for el in wire {
        let _ = server.handle_element(at(1), el).expect("stanza");
    }
    assert_eq!(server.handled(), 2);
    server.close(at(2));
    store.end(&id, server.handled());
    client.handle_disconnect(at(2));

    let mut server = Server::new(manual_server(), juliet());
    let resume = client.resume(at(3)).expect("resume");
    let Ok(Incoming::ResumeRequest(request)) = server.handle_element(at(3), resume) else {
        panic!("a resume request");
    };
    assert_eq!(
        store.claim(at(3), &request.previd, &romeo()),
        Claim::Failed { h: None }
    );
    let Claim::Failed { h } = store.claim(at(3), &request.previd, &juliet()) else {
        panic!("ended");
    };
    assert_eq!(h, Some(2));
    let failed = server.reject_resume(at(3), h).expect("reject");
    assert_eq!(
        typed(&failed),
        Nonza::Failed(Failed::new(Namespace::Sm3, DefinedCondition::ItemNotFound).with_h(2))
    );
    assert_eq!(client.handle_element(at(3), failed), Ok(Incoming::Handled));
    assert_eq!(
        events(&mut client),
        vec![
            Event::Acked { h: 2, count: 2 },
            Event::ResumeFailed {
                condition: Some(DefinedCondition::ItemNotFound),
                h: Some(2)
            },
            Event::HandedBack {
                reason: HandBackReason::ResumeFailed,
                stanzas: vec![unacked(msg(3), at(1))],
            }
        ]
    );
    // §5: the client may bind afresh on this stream.
    server
        .bound(at(4), balcony())
        .expect("bind after a failed resume");
}

#[test]
fn remembered_sessions_are_bounded() {
    let mut config = StoreConfig::default();
    config.max_remembered = 2;
    let mut store = SessionStore::new(config);
    for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
        store.register(sm_id(name), juliet());
        store.end(&sm_id(name), u32::try_from(i).expect("small") + 1);
    }
    assert_eq!(
        store.claim(t0(), &sm_id("a"), &juliet()),
        Claim::Failed { h: None }
    );
    assert_eq!(
        store.claim(t0(), &sm_id("b"), &juliet()),
        Claim::Failed { h: Some(2) }
    );
    assert_eq!(
        store.claim(t0(), &sm_id("c"), &juliet()),
        Claim::Failed { h: Some(3) }
    );
}

#[test]
fn hibernated_sessions_are_bounded_and_evict_the_nearest_deadline() {
    let mut config = StoreConfig::default();
    config.max_hibernated = 1;
    let mut store = SessionStore::new(config);
    let (mut c1, mut s1) = manual_pair();
    let first = s1.id().cloned().expect("resumable");
    s1.send(at(1), msg(1)).expect("send");
    hibernate(at(1), &mut c1, &mut s1, &mut store);
    let mut c2 = Client::new(manual_client());
    let mut s2 = bound_server(manual_server());
    let enable = c2.enable(t0(), Namespace::Sm3).expect("enable");
    let _ = s2.handle_element(t0(), enable).expect("request");
    let enabled = s2.accept_enable(t0(), &mut rng(2)).expect("accept");
    let _ = c2.handle_element(t0(), enabled).expect("enabled");
    hibernate(at(2), &mut c2, &mut s2, &mut store);
    assert_eq!(store.hibernated(), 1);
    assert_eq!(
        store.poll_event(),
        Some(StoreEvent::Expired {
            id: first,
            owner: juliet(),
            stanzas: vec![unacked(msg(1), at(1))],
        })
    );
}

#[test]
fn client_max_is_honoured_up_to_the_cap() {
    for (asked, granted) in [(Some(100), 100), (Some(10_000), 600), (None, 300)] {
        let mut config = manual_client();
        config.max = asked;
        let mut client = Client::new(config);
        let mut server = bound_server(manual_server()); // cap 600, default 300
        let enable = client.enable(t0(), Namespace::Sm3).expect("enable");
        assert_eq!(enable.attr("max"), asked.map(|m| m.to_string()).as_deref());
        let _ = server.handle_element(t0(), enable).expect("request");
        let enabled = server.accept_enable(t0(), &mut rng(1)).expect("accept");
        assert_eq!(enabled.attr("max"), Some(granted.to_string().as_str()));
        let _ = client.handle_element(t0(), enabled).expect("enabled");
        assert!(matches!(
            events(&mut client)[..],
            [Event::Enabled { max: Some(m), resume: true, .. }] if m == granted
        ));
        let session = server.handle_disconnect(t0()).expect("resumable");
        assert_eq!(session.max(), granted);
        assert_eq!(session.deadline(), at(u64::from(granted)));
    }
}

#[test]
fn sm_id_has_128_bits_from_the_rng() {
    let id_for = |seed: u64| {
        let mut server = bound_server(manual_server());
        let _ = server
            .handle_element(t0(), xml("<enable xmlns='urn:xmpp:sm:3' resume='true'/>"))
            .expect("request");
        let enabled = server.accept_enable(t0(), &mut rng(seed)).expect("accept");
        let id = server.id().cloned().expect("resumable");
        assert_eq!(enabled.attr("id"), Some(id.as_str()));
        id
    };
    let (a, b, again) = (id_for(1), id_for(2), id_for(1));
    for id in [&a, &b] {
        assert_eq!(id.as_str().len(), 32, "{id}");
        assert!(
            id.as_str()
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
            "{id}"
        );
    }
    assert_ne!(a, b, "differs per seed");
    assert_eq!(a, again, "deterministic for a seed");
}

#[test]
fn no_id_without_resumption() {
    let mut client_config = manual_client();
    client_config.resume = false;
    let (client, server) = enabled_pair(client_config, manual_server(), Namespace::Sm3);
    assert_eq!(server.id(), None);
    let mut server = server;
    assert!(server.handle_disconnect(t0()).is_none());
    let mut client = client;
    client.handle_disconnect(t0());
    assert!(!client.can_resume());
}

#[test]
fn take_over_yields_the_conflict_stream_error() {
    let (mut client, mut old) = manual_pair();
    let id = old.id().cloned().expect("resumable");
    let mut store = SessionStore::default();
    store.register(id.clone(), juliet());
    old.send(at(1), msg(1)).expect("send");
    let _ = sent(&mut old); // lost: the client's link died first
    client.handle_disconnect(at(2));

    let mut new = Server::new(manual_server(), juliet());
    let resume = client.resume(at(3)).expect("resume");
    let Ok(Incoming::ResumeRequest(request)) = new.handle_element(at(3), resume) else {
        panic!("a resume request");
    };
    assert_eq!(store.claim(at(3), &request.previd, &juliet()), Claim::Live);
    let (session, error) = old.take_over(at(3)).expect("live session");
    assert_eq!(error.condition, StreamCondition::Conflict);
    assert!(error.application_specific.is_empty());
    assert!(!old.is_enabled());
    assert_eq!(
        old.send(at(3), msg(9)),
        Err(Error::Misuse(Misuse::Closed(Box::new(msg(9)))))
    );
    let resumed = new.accept_resume(at(3), session).expect("resume");
    assert_eq!(client.handle_element(at(3), resumed), Ok(Incoming::Handled));
    assert_eq!(
        server_to_client(at(3), &mut new, &mut client),
        vec![Incoming::Stanza(msg(1))]
    );
    // A stream that is not resumable cannot be taken over.
    let mut plain = bound_server(manual_server());
    assert!(matches!(
        plain.take_over(at(4)),
        Err(Error::Misuse(Misuse::InvalidState {
            operation: "take_over",
            ..
        }))
    ));
}

#[test]
fn wrong_session_is_handed_back_untouched() {
    let (mut client, mut server) = manual_pair();
    let mut store = SessionStore::default();
    let id = server.id().cloned().expect("resumable");
    store.register(id.clone(), juliet());
    hibernate(at(1), &mut client, &mut server, &mut store);
    let Claim::Hibernated(session) = store.claim(at(2), &id, &juliet()) else {
        panic!("hibernated");
    };
    // Romeo's stream asks for juliet's id (the store would have refused; the caller erred).
    let mut romeo_stream = Server::new(manual_server(), romeo());
    let resume = format!("<resume xmlns='urn:xmpp:sm:3' previd='{id}' h='0'/>");
    let _ = romeo_stream
        .handle_element(at(2), xml(&resume))
        .expect("request");
    assert_eq!(
        romeo_stream.accept_resume(at(2), session.clone()),
        Err(Error::Misuse(Misuse::WrongSession(Box::new(session))))
    );
}

#[test]
fn hibernated_session_survives_json() {
    let (mut client, mut server) = manual_pair();
    client.send(at(1), msg(100)).expect("send");
    let _ = client_to_server(at(1), &mut client, &mut server);
    server.send(at(1), msg(1)).expect("send");
    server.send(at(2), msg(2)).expect("send");
    let _ = sent(&mut server); // lost
    client.handle_disconnect(at(3));
    let session = server.handle_disconnect(at(3)).expect("resumable");
    let id = session.id().clone();
    let json = serde_json::to_string(&session).expect("serialises");
    drop(session);
    drop(server);

    let session: HibernatedSession = serde_json::from_str(&json).expect("deserialises");
    assert_eq!(session.id(), &id);
    assert_eq!(session.owner(), &juliet());
    assert_eq!(session.unacked(), 2);
    assert_eq!(session.handled(), 1);
    let mut server = Server::new(manual_server(), juliet());
    let resume = client.resume(at(4)).expect("resume");
    let _ = server.handle_element(at(4), resume).expect("request");
    let resumed = server.accept_resume(at(4), session).expect("resume");
    assert_eq!(
        typed(&resumed),
        Nonza::Resumed(elements::Resumed {
            ns: Namespace::Sm3,
            previd: id,
            h: Some(1)
        })
    );
    assert_eq!(client.handle_element(at(4), resumed), Ok(Incoming::Handled));
    assert_eq!(
        server_to_client(at(4), &mut server, &mut client),
        vec![Incoming::Stanza(msg(1)), Incoming::Stanza(msg(2))]
    );
    client.request_ack(at(5));
    let _ = client_to_server(at(5), &mut client, &mut server);
    assert_eq!(
        sent(&mut server),
        vec![xml("<a xmlns='urn:xmpp:sm:3' h='1'/>")]
    );
    assert_eq!(
        server_to_client(at(5), &mut server, &mut client),
        Vec::<Incoming>::new()
    );
    server.request_ack(at(5));
    let _ = server_to_client(at(5), &mut server, &mut client);
    assert_eq!(
        sent(&mut client),
        vec![xml("<a xmlns='urn:xmpp:sm:3' h='2'/>")]
    );
}

#[test]
fn session_store_survives_json() {
    let (mut client, mut server) = manual_pair();
    let id = server.id().cloned().expect("resumable");
    let mut store = SessionStore::default();
    store.register(id.clone(), juliet());
    server.send(at(1), msg(1)).expect("send");
    hibernate(at(2), &mut client, &mut server, &mut store);
    let json = serde_json::to_string(&store).expect("serialises");
    drop(store);
    let mut store: SessionStore = serde_json::from_str(&json).expect("deserialises");
    assert_eq!(store.poll_timeout(), Some(at(302)));
    let Claim::Hibernated(session) = store.claim(at(3), &id, &juliet()) else {
        panic!("still hibernated");
    };
    assert_eq!(session.into_unacked(), vec![unacked(msg(1), at(1))]);
}

#[test]
fn conflict_error_is_the_spec_example() {
    // XEP-0198 §5 Example 15, compared on what matters: condition and no app element.
    let (_client, mut server) = manual_pair();
    let (_, error) = server.take_over(t0()).expect("resumable");
    let spec = StreamError::try_from(xml("<error xmlns='http://etherx.jabber.org/streams'>\
         <conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></error>"))
    .expect("stream error");
    assert_eq!(error.condition, spec.condition);
    assert_eq!(error.application_specific, spec.application_specific);
}

#[test]
fn accept_resume_without_a_request_hands_the_session_back() {
    // DESIGN.md promise 2: nothing is dropped silently. A caller that passes a session to a
    // stream with no resume request pending must get it back, as with a wrong session.
    let (mut client, mut server) = manual_pair();
    let id = server.id().cloned().expect("resumable");
    let mut store = SessionStore::default();
    store.register(id.clone(), juliet());
    server.send(at(1), msg(1)).expect("send");
    hibernate(at(2), &mut client, &mut server, &mut store);
    let Claim::Hibernated(session) = store.claim(at(3), &id, &juliet()) else {
        panic!("hibernated");
    };
    let mut stream = Server::new(manual_server(), juliet()); // no <resume/> received
    match stream.accept_resume(at(3), session.clone()) {
        Err(Error::Misuse(Misuse::WrongSession(back))) => assert_eq!(*back, session),
        other => panic!("the session's stanzas were not handed back: {other:?}"),
    }
}

#[test]
fn find_tracks_the_hibernated_session_of_a_full_jid() {
    let (mut client, mut server) = manual_pair();
    let id = server.id().cloned().expect("resumable");
    let mut store = SessionStore::default();
    store.register(id.clone(), juliet());
    assert_eq!(store.find(&balcony()), None, "live, not hibernated");
    hibernate(at(1), &mut client, &mut server, &mut store);
    assert_eq!(store.find(&balcony()), Some(&id));
    let other: FullJid = "juliet@example.com/garden".parse().expect("valid JID");
    assert_eq!(store.find(&other), None);
    let Claim::Hibernated(session) = store.claim(at(2), &id, &juliet()) else {
        panic!("hibernated");
    };
    assert_eq!(store.find(&balcony()), None, "claimed");
    store.hibernate(at(3), session);
    assert_eq!(store.find(&balcony()), Some(&id));
    store.handle_timeout(at(3 + 300));
    assert!(matches!(
        store.poll_event(),
        Some(StoreEvent::Expired { .. })
    ));
    assert_eq!(store.find(&balcony()), None, "expired");
}

#[test]
fn stale_resume_h_below_the_last_ack_acknowledges_nothing() {
    // A <resume/> from a connection the client abandoned may carry an older h; it loses
    // nothing (the client holds those stanzas), so the session resumes.
    let (mut client, mut server) = manual_pair();
    let id = server.id().cloned().expect("resumable");
    let mut store = SessionStore::default();
    store.register(id.clone(), juliet());
    for n in 1..=3 {
        server.send(at(1), msg(n)).expect("send");
    }
    let _ = server_to_client(at(1), &mut server, &mut client);
    let _ = server
        .handle_element(at(2), xml("<a xmlns='urn:xmpp:sm:3' h='2'/>"))
        .expect("ack");
    let _ = events(&mut server);
    hibernate(at(3), &mut client, &mut server, &mut store);

    let mut server = Server::new(manual_server(), juliet());
    let resume = format!("<resume xmlns='urn:xmpp:sm:3' previd='{id}' h='1'/>");
    let _ = server.handle_element(at(4), xml(&resume)).expect("request");
    let Claim::Hibernated(session) = store.claim(at(4), &id, &juliet()) else {
        panic!("hibernated");
    };
    let resumed = server.accept_resume(at(4), session).expect("resumes");
    assert!(resumed.is("resumed", ns::SM3));
    assert_eq!(
        events(&mut server),
        vec![Event::Resumed {
            previd: id,
            retransmitted: 1
        }]
    );
    assert_eq!(sent(&mut server), vec![msg(3)]);
}

#[test]
fn undrained_expiry_events_survive_json() {
    // Persisting the store between an expiry and draining its event must not lose the
    // stanzas the event hands back.
    let (mut client, mut server) = manual_pair();
    let id = server.id().cloned().expect("resumable");
    let mut store = SessionStore::default();
    store.register(id.clone(), juliet());
    server.send(at(1), msg(1)).expect("send");
    let _ = sent(&mut server); // lost
    hibernate(at(2), &mut client, &mut server, &mut store);
    store.handle_timeout(at(302));
    let json = serde_json::to_string(&store).expect("serialises");
    drop(store);
    let mut store: SessionStore = serde_json::from_str(&json).expect("deserialises");
    assert_eq!(
        store.poll_event(),
        Some(StoreEvent::Expired {
            id,
            owner: juliet(),
            stanzas: vec![unacked(msg(1), at(1))],
        })
    );
}

#[test]
fn only_stanzas_are_queued_for_a_hibernated_session() {
    let (mut client, mut server) = manual_pair();
    let id = server.id().cloned().expect("resumable");
    let mut store = SessionStore::default();
    store.register(id.clone(), juliet());
    hibernate(at(2), &mut client, &mut server, &mut store);
    let nonza = xml("<r xmlns='urn:xmpp:sm:3'/>");
    assert_eq!(
        store.push(at(3), &id, nonza.clone()),
        Err(xmpp_sm::StoreError::NotAStanza(Box::new(nonza)))
    );
}
