//! Acknowledgements and counting (XEP-0198 §4), the ack policy, limits and counter wrap.

use super::*;

#[test]
fn ack_above_sent_is_handled_count_too_high_and_hands_back_the_rest() {
    let (mut client, mut server) = manual_pair();
    client.send(at(1), msg(1)).expect("send");
    client.send(at(2), msg(2)).expect("send");
    let _ = client_to_server(at(2), &mut client, &mut server);
    assert_eq!(
        client.handle_element(at(3), xml("<a xmlns='urn:xmpp:sm:3' h='1'/>")),
        Ok(Incoming::Handled)
    );
    let err = client
        .handle_element(at(3), xml("<a xmlns='urn:xmpp:sm:3' h='5'/>"))
        .expect_err("too high");
    assert_eq!(
        err,
        Error::Peer(PeerError::HandledCountTooHigh {
            ns: Namespace::Sm3,
            h: 5,
            send_count: 2
        })
    );
    assert!(err.is_fatal());
    let Some(Answer::StreamError(error)) = err.answer() else {
        panic!("a stream error");
    };
    assert_eq!(error.condition, StreamCondition::UndefinedCondition);
    let too_high = HandledCountTooHigh {
        ns: Namespace::Sm3,
        h: 5,
        send_count: 2,
    };
    assert_eq!(error.application_specific, vec![Element::from(too_high)]);
    assert_eq!(error, too_high.to_stream_error());
    assert_eq!(
        events(&mut client),
        vec![
            Event::Acked { h: 1, count: 1 },
            Event::HandedBack {
                reason: HandBackReason::ProtocolError,
                stanzas: vec![unacked(msg(2), at(2))],
            }
        ]
    );
    assert!(!client.is_enabled() && !client.can_resume());
    assert_eq!(client.unacked(), 0);
}

#[test]
fn server_side_ack_above_sent_ends_the_session() {
    let (mut client, mut server) = manual_pair();
    let id = server.id().cloned().expect("resumable");
    server.send(at(1), msg(1)).expect("send");
    let _ = server_to_client(at(1), &mut server, &mut client);
    let err = server
        .handle_element(at(2), xml("<a xmlns='urn:xmpp:sm:3' h='3'/>"))
        .expect_err("too high");
    assert_eq!(
        err,
        Error::Peer(PeerError::HandledCountTooHigh {
            ns: Namespace::Sm3,
            h: 3,
            send_count: 1
        })
    );
    assert_eq!(
        events(&mut server),
        vec![
            Event::HandedBack {
                reason: HandBackReason::ProtocolError,
                stanzas: vec![unacked(msg(1), at(1))],
            },
            Event::SessionEnded { id, handled: 0 },
        ]
    );
    assert!(server.handle_disconnect(at(3)).is_none(), "not resumable");
}

#[test]
fn ack_going_backwards_is_fatal() {
    let (mut client, _server) = manual_pair();
    for n in 1..=3 {
        client.send(at(1), msg(n)).expect("send");
    }
    let _ = sent(&mut client);
    let ack = |h: u32| {
        Element::from(Ack {
            ns: Namespace::Sm3,
            h,
            u: None,
        })
    };
    assert_eq!(client.handle_element(at(2), ack(2)), Ok(Incoming::Handled));
    // Repeating an h is fine and reports nothing new.
    assert_eq!(client.handle_element(at(2), ack(2)), Ok(Incoming::Handled));
    let err = client.handle_element(at(3), ack(1)).expect_err("backwards");
    assert_eq!(
        err,
        Error::Peer(PeerError::AckWentBackwards { h: 1, acked: 2 })
    );
    let Some(Answer::StreamError(error)) = err.answer() else {
        panic!("a stream error");
    };
    assert_eq!(error.condition, StreamCondition::UndefinedCondition);
    assert!(error.application_specific.is_empty());
    assert_eq!(
        events(&mut client),
        vec![
            Event::Acked { h: 2, count: 2 },
            Event::HandedBack {
                reason: HandBackReason::ProtocolError,
                stanzas: vec![unacked(msg(3), at(1))],
            }
        ]
    );
}

#[test]
fn request_is_answered_at_once_with_the_current_h() {
    let (mut client, mut server) = manual_pair();
    for n in 1..=3 {
        server.send(at(1), msg(n)).expect("send");
    }
    server.request_ack(at(1));
    let incoming = server_to_client(at(1), &mut server, &mut client);
    assert_eq!(
        incoming,
        vec![
            Incoming::Stanza(msg(1)),
            Incoming::Stanza(msg(2)),
            Incoming::Stanza(msg(3)),
            Incoming::Handled
        ]
    );
    assert_eq!(
        sent(&mut client),
        vec![xml("<a xmlns='urn:xmpp:sm:3' h='3'/>")]
    );
    // Nothing more from the server until then, and its ack empties the queue.
    assert_eq!(server.unacked(), 3);
    assert_eq!(
        server.handle_element(at(2), xml("<a xmlns='urn:xmpp:sm:3' h='3'/>")),
        Ok(Incoming::Handled)
    );
    assert_eq!(events(&mut server), vec![Event::Acked { h: 3, count: 3 }]);
    assert_eq!(server.unacked(), 0);
}

#[test]
fn client_outbound_counts_from_sending_enable_and_server_inbound_from_receiving_it() {
    // XEP-0198 §4 Example 7: a stanza sent right after <enable/> counts.
    let mut client = Client::new(manual_client());
    let mut server = bound_server(manual_server());
    client.send(t0(), msg(0)).expect("send without SM");
    assert_eq!(client.unacked(), 0);
    let before = client.poll_transmit().expect("written straight out");
    assert!(!before.is_stanza(), "not counted");
    assert_eq!(
        server.handle_element(t0(), before.into_element()),
        Ok(Incoming::Stanza(msg(0)))
    );
    assert_eq!(server.handled(), 0);

    let enable = client.enable(t0(), Namespace::Sm3).expect("enable");
    client.send(t0(), msg(1)).expect("send while enabling");
    assert_eq!(client.unacked(), 1);
    assert!(matches!(
        server.handle_element(t0(), enable),
        Ok(Incoming::EnableRequest(_))
    ));
    assert_eq!(
        client_to_server(t0(), &mut client, &mut server),
        vec![Incoming::Stanza(msg(1))]
    );
    assert_eq!(server.handled(), 1, "counted before the caller accepted");
    let enabled = server.accept_enable(t0(), &mut rng(1)).expect("accept");
    let _ = client.handle_element(t0(), enabled).expect("enabled");
    client.request_ack(t0());
    let _ = client_to_server(t0(), &mut client, &mut server);
    assert_eq!(
        sent(&mut server),
        vec![xml("<a xmlns='urn:xmpp:sm:3' h='1'/>")]
    );
}

#[test]
fn server_outbound_counts_from_accepting_and_client_inbound_from_receiving_enabled() {
    let mut client = Client::new(manual_client());
    let mut server = bound_server(manual_server());
    let enable = client.enable(t0(), Namespace::Sm3).expect("enable");
    let _ = server.handle_element(t0(), enable).expect("request");
    server.send(t0(), msg(0)).expect("send before enabled");
    assert_eq!(server.unacked(), 0, "not counted: <enabled/> not sent yet");
    let enabled = server.accept_enable(t0(), &mut rng(1)).expect("accept");
    server.send(t0(), msg(1)).expect("send");
    assert_eq!(server.unacked(), 1);
    // On the wire: msg 0, <enabled/>, msg 1.
    let before = server.poll_transmit().expect("msg 0");
    assert!(!before.is_stanza());
    assert_eq!(
        client.handle_element(t0(), before.into_element()),
        Ok(Incoming::Stanza(msg(0)))
    );
    assert_eq!(client.handle_element(t0(), enabled), Ok(Incoming::Handled));
    assert_eq!(
        server_to_client(t0(), &mut server, &mut client),
        vec![Incoming::Stanza(msg(1))]
    );
    server.request_ack(t0());
    let _ = server_to_client(t0(), &mut server, &mut client);
    assert_eq!(
        sent(&mut client),
        vec![xml("<a xmlns='urn:xmpp:sm:3' h='1'/>")]
    );
}

#[test]
fn request_after_n_stanzas_with_at_most_one_outstanding() {
    let mut config = manual_client();
    config.ack.after_stanzas = Some(3);
    let (mut client, _server) = enabled_pair(config, manual_server(), Namespace::Sm3);
    let r = xml("<r xmlns='urn:xmpp:sm:3'/>");
    client.send(t0(), msg(1)).expect("send");
    client.send(t0(), msg(2)).expect("send");
    assert_eq!(sent(&mut client), vec![msg(1), msg(2)]);
    client.send(t0(), msg(3)).expect("send");
    assert_eq!(sent(&mut client), vec![msg(3), r.clone()]);
    client.send(t0(), msg(4)).expect("send");
    client.request_ack(t0());
    assert_eq!(
        sent(&mut client),
        vec![msg(4)],
        "one <r/> outstanding at most"
    );
    // The answer (to the first <r/>) re-arms the count.
    assert_eq!(
        client.handle_element(t0(), xml("<a xmlns='urn:xmpp:sm:3' h='4'/>")),
        Ok(Incoming::Handled)
    );
    for n in 5..=7 {
        client.send(t0(), msg(n)).expect("send");
    }
    assert_eq!(sent(&mut client), vec![msg(5), msg(6), msg(7), r]);
}

#[test]
fn request_after_time_and_timeout_fires_once() {
    let mut config = manual_client();
    config.ack.after_time = Some(Duration::from_secs(5));
    config.ack.timeout = Some(Duration::from_secs(30));
    let (mut client, _server) = enabled_pair(config, manual_server(), Namespace::Sm3);
    assert_eq!(client.poll_timeout(), None, "nothing in flight");
    client.send(t0(), msg(1)).expect("send");
    let _ = sent(&mut client);
    assert_eq!(client.poll_timeout(), Some(at(5)));
    client.handle_timeout(at(4));
    assert!(
        sent(&mut client).is_empty(),
        "a spurious timeout is a no-op"
    );
    client.handle_timeout(at(5));
    assert_eq!(sent(&mut client), vec![xml("<r xmlns='urn:xmpp:sm:3'/>")]);
    assert_eq!(client.poll_timeout(), Some(at(35)));
    client.handle_timeout(at(34));
    assert!(events(&mut client).is_empty());
    client.handle_timeout(at(35));
    assert_eq!(
        events(&mut client),
        vec![Event::AckTimeout {
            requested_at: at(5)
        }]
    );
    assert_eq!(client.poll_timeout(), None);
    client.handle_timeout(at(100));
    assert!(events(&mut client).is_empty(), "fires once");
    assert!(
        sent(&mut client).is_empty(),
        "no second <r/> while one is outstanding"
    );
    // A late answer clears everything.
    let _ = client
        .handle_element(at(101), xml("<a xmlns='urn:xmpp:sm:3' h='1'/>"))
        .expect("ack");
    assert_eq!(client.poll_timeout(), None);
}

#[test]
fn server_requests_after_time_too() {
    let mut config = manual_server();
    config.ack.after_time = Some(Duration::from_secs(2));
    let (_client, mut server) = enabled_pair(manual_client(), config, Namespace::Sm3);
    server.send(at(10), msg(1)).expect("send");
    let _ = sent(&mut server);
    assert_eq!(server.poll_timeout(), Some(at(12)));
    server.handle_timeout(at(12));
    assert_eq!(sent(&mut server), vec![xml("<r xmlns='urn:xmpp:sm:3'/>")]);
}

#[test]
fn queue_overflow_hands_everything_back() {
    let mut config = manual_client();
    config.max_queue = 2;
    let (mut client, _server) = enabled_pair(config, manual_server(), Namespace::Sm3);
    client.send(at(1), msg(1)).expect("send");
    client.send(at(2), msg(2)).expect("send");
    let err = client.send(at(3), msg(3)).expect_err("overflow");
    assert_eq!(err, Error::Peer(PeerError::QueueOverflow { limit: 2 }));
    let Some(Answer::StreamError(error)) = err.answer() else {
        panic!("a stream error");
    };
    assert_eq!(error.condition, StreamCondition::ResourceConstraint);
    assert_eq!(
        events(&mut client),
        vec![Event::HandedBack {
            reason: HandBackReason::QueueOverflow,
            stanzas: vec![
                unacked(msg(1), at(1)),
                unacked(msg(2), at(2)),
                unacked(msg(3), at(3))
            ],
        }]
    );
    assert!(!client.is_enabled());
    assert_eq!(client.unacked(), 0);
}

#[test]
fn server_queue_overflow_closes_the_stream() {
    let mut config = manual_server();
    config.max_queue = 1;
    let (_client, mut server) = enabled_pair(manual_client(), config, Namespace::Sm3);
    let id = server.id().cloned().expect("resumable");
    server.send(at(1), msg(1)).expect("send");
    assert_eq!(
        server.send(at(2), msg(2)),
        Err(Error::Peer(PeerError::QueueOverflow { limit: 1 }))
    );
    let handed: Vec<_> = events(&mut server);
    assert_eq!(
        handed,
        vec![
            Event::HandedBack {
                reason: HandBackReason::QueueOverflow,
                stanzas: vec![unacked(msg(1), at(1)), unacked(msg(2), at(2))],
            },
            Event::SessionEnded { id, handled: 0 },
        ]
    );
    assert_eq!(
        server.send(at(3), msg(3)),
        Err(Error::Misuse(Misuse::Closed(Box::new(msg(3)))))
    );
}

#[test]
fn counters_wrap_at_two_to_the_32() {
    let (mut client, mut server) = manual_pair();
    client.__shift_counters(u32::MAX - 1, 0);
    server.__shift_counters(0, u32::MAX - 1);
    for n in 1..=3 {
        client.send(t0(), msg(n)).expect("send");
    }
    client.request_ack(t0());
    let _ = client_to_server(t0(), &mut client, &mut server);
    assert_eq!(server.handled(), 1, "u32::MAX - 1 + 3 wraps to 1");
    assert_eq!(
        sent(&mut server),
        vec![xml("<a xmlns='urn:xmpp:sm:3' h='1'/>")]
    );
    assert_eq!(
        client.handle_element(t0(), xml("<a xmlns='urn:xmpp:sm:3' h='1'/>")),
        Ok(Incoming::Handled)
    );
    assert_eq!(events(&mut client), vec![Event::Acked { h: 1, count: 3 }]);
    // An h just before the wrap is now backwards.
    assert_eq!(
        client.handle_element(t0(), xml("<a xmlns='urn:xmpp:sm:3' h='4294967295'/>")),
        Err(Error::Peer(PeerError::AckWentBackwards {
            h: u32::MAX,
            acked: 1
        }))
    );
}

#[test]
fn stanzas_for_a_hibernated_session_follow_the_retransmissions() {
    let mut config = manual_server();
    config.max_queue = 2;
    let (mut client, mut server) = enabled_pair(manual_client(), config, Namespace::Sm3);
    let id = server.id().cloned().expect("resumable");
    let mut store = SessionStore::default();
    store.register(id.clone(), juliet());
    server.send(at(1), msg(1)).expect("send");
    let _ = sent(&mut server); // lost
    hibernate(at(2), &mut client, &mut server, &mut store);
    store.push(at(3), &id, msg(2)).expect("room for one more");
    let Err(xmpp_sm::StoreError::QueueFull(full)) = store.push(at(4), &id, msg(3)) else {
        panic!("the session's queue is full");
    };
    assert_eq!((full.limit, *full.stanza), (2, msg(3)));
    assert!(matches!(
        store.push(at(4), &sm_id("nope"), msg(4)),
        Err(xmpp_sm::StoreError::UnknownSession { .. })
    ));

    let mut server = Server::new(manual_server(), juliet());
    let resume = client.resume(at(5)).expect("resume");
    let _ = server.handle_element(at(5), resume).expect("request");
    let Claim::Hibernated(session) = store.claim(at(5), &id, &juliet()) else {
        panic!("hibernated");
    };
    let resumed = server.accept_resume(at(5), session).expect("resume");
    let _ = client.handle_element(at(5), resumed).expect("resumed");
    assert_eq!(
        server_to_client(at(5), &mut server, &mut client),
        vec![Incoming::Stanza(msg(1)), Incoming::Stanza(msg(2))]
    );
    assert_eq!(
        events(&mut server),
        vec![Event::Resumed {
            previd: id,
            retransmitted: 2
        }]
    );
}

#[test]
fn resume_with_h_above_what_was_sent_is_fatal_for_the_new_stream() {
    let (mut client, mut server) = manual_pair();
    let id = server.id().cloned().expect("resumable");
    let mut store = SessionStore::default();
    store.register(id.clone(), juliet());
    server.send(at(1), msg(1)).expect("send");
    hibernate(at(2), &mut client, &mut server, &mut store);
    let mut server = Server::new(manual_server(), juliet());
    let resume = format!("<resume xmlns='urn:xmpp:sm:3' previd='{id}' h='5'/>");
    let _ = server.handle_element(at(3), xml(&resume)).expect("request");
    let Claim::Hibernated(session) = store.claim(at(3), &id, &juliet()) else {
        panic!("hibernated");
    };
    let err = server.accept_resume(at(3), session).expect_err("too high");
    assert_eq!(
        err,
        Error::Peer(PeerError::HandledCountTooHigh {
            ns: Namespace::Sm3,
            h: 5,
            send_count: 1
        })
    );
    assert_eq!(
        events(&mut server),
        vec![
            Event::HandedBack {
                reason: HandBackReason::ProtocolError,
                stanzas: vec![unacked(msg(1), at(1))],
            },
            Event::SessionEnded { id, handled: 0 },
        ]
    );
}

#[test]
fn stanzas_sent_while_enabling_trigger_the_count_policy_once_enabled() {
    // AckPolicy::after_stanzas: "send <r/> as soon as this many stanzas are unacknowledged".
    // A stanza sent between <enable/> and <enabled/> is counted (§4), so once <enabled/>
    // arrives the policy is met and an <r/> is due.
    let mut config = manual_client();
    config.ack.after_stanzas = Some(1);
    let mut client = Client::new(config);
    let mut server = bound_server(manual_server());
    let enable = client.enable(t0(), Namespace::Sm3).expect("enable");
    client.send(t0(), msg(1)).expect("send while enabling");
    assert_eq!(sent(&mut client), vec![msg(1)]);
    let _ = server.handle_element(t0(), enable).expect("request");
    let enabled = server.accept_enable(t0(), &mut rng(1)).expect("accept");
    let _ = client.handle_element(t0(), enabled).expect("enabled");
    assert_eq!(sent(&mut client), vec![xml("<r xmlns='urn:xmpp:sm:3'/>")]);
}
