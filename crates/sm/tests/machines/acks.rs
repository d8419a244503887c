//! Acknowledgements and counting (XEP-0198 §4), the ack policy, limits and counter wrap.

use super::*;

#[test]
fn an_ack_hands_back_the_queued_stanzas_themselves_copied_only_while_shared() {
    let (_world, mut client, _server) = manual_pair();
    client.send(at(1), msg(1)).expect("send");
    client.send(at(1), msg(2)).expect("send");
    // The first is still being written when the ack arrives; the second went out.
    let writing = client.poll_transmit().expect("msg 1");
    drop(client.poll_transmit());
    assert_eq!(
        client.handle_element(at(2), xml("<a xmlns='urn:xmpp:sm:3' h='2'/>")),
        Ok(Incoming::Handled)
    );
    let Some(ClientEvent::Acked { h: 2, stanzas }) = client.poll_event() else {
        panic!("an Acked event");
    };
    assert_eq!((stanzas.len(), stanzas.is_empty()), (2, false));
    assert_eq!(stanzas, AckedStanzas::from(vec![msg(1), msg(2)]));
    // No copy: the very stanza being written.
    let first = stanzas.iter().next().expect("two");
    assert!(std::ptr::eq(first, &*writing));
    assert_eq!(stanzas.iter().rev().collect::<Vec<_>>(), [&msg(2), &msg(1)]);
    // Taking them copies the one still shared and unwraps the other.
    assert_eq!(stanzas.into_iter().collect::<Vec<_>>(), [msg(1), msg(2)]);
    assert_eq!(writing.into_element(), msg(1));
    assert_eq!(Vec::<Element>::from(AckedStanzas::default()), []);
}

#[test]
fn ack_above_sent_is_handled_count_too_high_and_hands_back_the_rest() {
    let (_world, mut client, mut server) = manual_pair();
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
    let peer = PeerError::HandledCountTooHigh {
        ns: Namespace::Sm3,
        h: 5,
        send_count: 2,
    };
    assert_eq!(err, Error::Peer(peer.clone()));
    assert!(err.is_fatal());
    let Answer::StreamError(error) = peer.answer(Placement::TopLevel) else {
        panic!("a stream error");
    };
    assert_eq!(error.condition, StreamCondition::UndefinedCondition);
    let too_high = HandledCountTooHigh::new(Namespace::Sm3, 5, 2);
    assert_eq!(error.application_specific, vec![Element::from(too_high)]);
    assert_eq!(error, too_high.to_stream_error());
    assert_eq!(sent(&mut client), vec![Element::from(error)]);
    assert_eq!(
        events(&mut client),
        vec![
            ClientEvent::Acked {
                h: 1,
                stanzas: vec![msg(1)].into()
            },
            ClientEvent::HandedBack {
                reason: HandBackReason::ProtocolError,
                stanzas: vec![unacked(msg(2), wall(2))],
            }
        ]
    );
    assert!(!client.is_enabled() && !client.can_resume());
    assert_eq!(client.unacked(), 0);
    // A loop keyed on "is this fatal" ends: the stream has failed.
    let again = client.handle_element(at(4), xml("<a xmlns='urn:xmpp:sm:3' h='1'/>"));
    assert!(matches!(&again, Err(e @ Error::Closed(_)) if e.is_fatal()));
}

#[test]
fn server_side_ack_above_sent_ends_the_session() {
    let (mut world, mut client, mut server) = manual_pair();
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
        vec![ServerEvent::HandedBack {
            reason: HandBackReason::ProtocolError,
            stanzas: vec![unacked(msg(1), wall(1))],
        }]
    );
    assert!(server.is_closed());
    // The session ended; its last h (nothing handled) is remembered.
    let mut late = resume_on(&mut world, juliet(), at(3), resume_xml(&id, 0));
    assert_eq!(
        sent(&mut late),
        vec![Element::from(
            Failed::new(Namespace::Sm3, DefinedCondition::ItemNotFound).with_h(0)
        )]
    );
}

#[test]
fn ack_going_backwards_is_fatal() {
    let (_world, mut client, _server) = manual_pair();
    for n in 1..=3 {
        client.send(at(1), msg(n)).expect("send");
    }
    let _ = sent(&mut client);
    let ack = |h: u32| Element::from(Ack::new(Namespace::Sm3, h));
    assert_eq!(client.handle_element(at(2), ack(2)), Ok(Incoming::Handled));
    // Repeating an h is fine and reports nothing new.
    assert_eq!(client.handle_element(at(2), ack(2)), Ok(Incoming::Handled));
    let err = client.handle_element(at(3), ack(1)).expect_err("backwards");
    let peer = PeerError::AckWentBackwards { h: 1, acked: 2 };
    assert_eq!(err, Error::Peer(peer.clone()));
    let Answer::StreamError(error) = peer.answer(Placement::TopLevel) else {
        panic!("a stream error");
    };
    assert_eq!(error.condition, StreamCondition::UndefinedCondition);
    assert!(error.application_specific.is_empty());
    assert_eq!(
        events(&mut client),
        vec![
            ClientEvent::Acked {
                h: 2,
                stanzas: vec![msg(1), msg(2)].into()
            },
            ClientEvent::HandedBack {
                reason: HandBackReason::ProtocolError,
                stanzas: vec![unacked(msg(3), wall(1))],
            }
        ]
    );
}

#[test]
fn request_is_answered_at_once_with_the_current_h() {
    let (_world, mut client, mut server) = manual_pair();
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
    // The ack empties the server's queue, and hands the stanzas to the application.
    assert_eq!(server.unacked(), 3);
    assert_eq!(
        server.handle_element(at(2), xml("<a xmlns='urn:xmpp:sm:3' h='3'/>")),
        Ok(Incoming::Handled)
    );
    assert_eq!(
        events(&mut server),
        vec![ServerEvent::Acked {
            h: 3,
            stanzas: vec![msg(1), msg(2), msg(3)].into()
        }]
    );
    assert_eq!(server.unacked(), 0);
}

#[test]
fn client_outbound_counts_from_sending_enable_and_server_inbound_from_receiving_it() {
    // XEP-0198 §4 Example 7: a stanza sent right after <enable/> counts.
    let mut config = manual_server();
    config.enable = EnablePolicy::Ask;
    let mut world = World::new(config);
    let mut client = Client::new(manual_client());
    let mut server = world.bound("a");
    client.send(t0(), msg(0)).expect("send without SM");
    assert_eq!(client.unacked(), 0);
    let before = client.poll_transmit().expect("written straight out");
    assert!(!before.is_counted(), "not counted");
    assert_eq!(
        server.handle_element(t0(), before.into_element()),
        Ok(Incoming::Stanza(msg(0)))
    );
    assert_eq!(server.handled(), 0);

    client
        .enable(t0(), Namespace::Sm3, Placement::TopLevel)
        .expect("enable");
    client.send(t0(), msg(1)).expect("send while enabling");
    assert_eq!(client.unacked(), 1);
    assert_eq!(
        client_to_server(t0(), &mut client, &mut server),
        vec![Incoming::Handled, Incoming::Stanza(msg(1))]
    );
    assert_eq!(server.handled(), 1, "counted before the caller accepted");
    server.accept_enable(t0()).expect("a pending request");
    let _ = server_to_client(t0(), &mut server, &mut client);
    client.request_ack(t0());
    let _ = client_to_server(t0(), &mut client, &mut server);
    assert_eq!(
        sent(&mut server),
        vec![xml("<a xmlns='urn:xmpp:sm:3' h='1'/>")]
    );
}

#[test]
fn server_outbound_counts_from_accepting_and_client_inbound_from_receiving_enabled() {
    let mut config = manual_server();
    config.enable = EnablePolicy::Ask;
    let mut world = World::new(config);
    let mut client = Client::new(manual_client());
    let mut server = world.bound("a");
    client
        .enable(t0(), Namespace::Sm3, Placement::TopLevel)
        .expect("enable");
    let _ = client_to_server(t0(), &mut client, &mut server);
    server.send(t0(), msg(0)).expect("send before enabled");
    assert_eq!(server.unacked(), 0, "not counted: <enabled/> not sent yet");
    server.accept_enable(t0()).expect("a pending request");
    server.send(t0(), msg(1)).expect("send");
    assert_eq!(server.unacked(), 1);
    // On the wire: msg 0 (uncounted), <enabled/>, msg 1 (counted).
    let wire: Vec<Transmit> = std::iter::from_fn(|| server.poll_transmit()).collect();
    let counted: Vec<bool> = wire.iter().map(Transmit::is_counted).collect();
    assert_eq!(counted, [false, false, true]);
    let incoming: Vec<Incoming> = wire
        .into_iter()
        .map(|t| client.handle_element(t0(), t.into_element()).expect("ok"))
        .collect();
    assert_eq!(
        incoming,
        vec![
            Incoming::Stanza(msg(0)),
            Incoming::Handled,
            Incoming::Stanza(msg(1))
        ]
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
    let (_world, mut client, _server) = enabled_pair(config, manual_server(), Namespace::Sm3);
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
    let (_world, mut client, _server) = enabled_pair(config, manual_server(), Namespace::Sm3);
    let mono = |secs| at(secs).monotonic();
    assert_eq!(client.poll_timeout(), None, "nothing in flight");
    client.send(t0(), msg(1)).expect("send");
    let _ = sent(&mut client);
    assert_eq!(client.poll_timeout(), Some(mono(5)));
    client.handle_timeout(at(4));
    assert!(
        sent(&mut client).is_empty(),
        "a spurious timeout is a no-op"
    );
    client.handle_timeout(at(5));
    assert_eq!(sent(&mut client), vec![xml("<r xmlns='urn:xmpp:sm:3'/>")]);
    assert_eq!(client.poll_timeout(), Some(mono(35)));
    client.handle_timeout(at(34));
    assert!(events(&mut client).is_empty());
    client.handle_timeout(at(35));
    assert_eq!(
        events(&mut client),
        vec![ClientEvent::AckTimeout {
            requested_at: mono(5)
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
    let (_world, _client, mut server) = enabled_pair(manual_client(), config, Namespace::Sm3);
    server.send(at(10), msg(1)).expect("send");
    let _ = sent(&mut server);
    assert_eq!(server.poll_timeout(), Some(at(12).monotonic()));
    server.handle_timeout(at(12));
    assert_eq!(sent(&mut server), vec![xml("<r xmlns='urn:xmpp:sm:3'/>")]);
}

#[test]
fn a_wall_clock_step_neither_fires_nor_stalls_ack_timers() {
    let mut config = manual_client();
    config.ack.after_time = Some(Duration::from_secs(5));
    let (_world, mut client, _server) = enabled_pair(config, manual_server(), Namespace::Sm3);
    client.send(t0(), msg(1)).expect("send");
    let _ = sent(&mut client);
    // A day forwards on the wall clock, one second on the monotonic one: nothing fires.
    let ahead = at(1).with_wall(wall(86_400));
    client.handle_timeout(ahead);
    assert!(sent(&mut client).is_empty());
    // A day backwards: the request still goes out at 5 s of monotonic time.
    let behind = at(5).with_wall(wall(0) - Duration::from_secs(86_400));
    client.handle_timeout(behind);
    assert_eq!(sent(&mut client), vec![xml("<r xmlns='urn:xmpp:sm:3'/>")]);
}

#[test]
fn queue_overflow_hands_everything_back() {
    let mut config = manual_client();
    config.max_queue = 2;
    let (_world, mut client, _server) = enabled_pair(config, manual_server(), Namespace::Sm3);
    client.send(at(1), msg(1)).expect("send");
    client.send(at(2), msg(2)).expect("send");
    let _ = sent(&mut client);
    let refused = client.send(at(3), msg(3)).expect_err("overflow");
    assert_eq!(refused.reason(), &Refusal::QueueFull { limit: 2 });
    assert_eq!(refused.into_inner(), msg(3), "handed back by the refusal");
    let wire = sent(&mut client);
    let error = StreamError::try_from(wire[0].clone()).expect("a stream error");
    assert_eq!(error.condition, StreamCondition::ResourceConstraint);
    assert_eq!(
        events(&mut client),
        vec![ClientEvent::HandedBack {
            reason: HandBackReason::QueueOverflow,
            stanzas: vec![unacked(msg(1), wall(1)), unacked(msg(2), wall(2))],
        }]
    );
    assert!(!client.is_enabled());
    assert_eq!(client.unacked(), 0);
    let closed = client.send(at(4), msg(4)).expect_err("the stream failed");
    assert_eq!(closed.reason(), &Refusal::Closed);
}

#[test]
fn a_disconnected_client_overflowing_gives_the_session_up() {
    let mut config = manual_client();
    config.max_queue = 1;
    let (_world, mut client, _server) = enabled_pair(config, manual_server(), Namespace::Sm3);
    client.handle_disconnect(at(1));
    client.send(at(2), msg(1)).expect("held for the resumption");
    let refused = client.send(at(3), msg(2)).expect_err("overflow");
    assert_eq!(refused.reason(), &Refusal::QueueFull { limit: 1 });
    assert!(
        sent(&mut client).is_empty(),
        "no stream to write an error to"
    );
    assert_eq!(
        events(&mut client),
        vec![ClientEvent::HandedBack {
            reason: HandBackReason::QueueOverflow,
            stanzas: vec![unacked(msg(1), wall(2))],
        }]
    );
    assert!(!client.can_resume());
}

#[test]
fn server_queue_overflow_closes_the_stream() {
    let mut config = manual_server();
    config.max_queue = 1;
    let (mut world, _client, mut server) = enabled_pair(manual_client(), config, Namespace::Sm3);
    let id = server.id().cloned().expect("resumable");
    server.send(at(1), msg(1)).expect("send");
    let refused = server.send(at(2), msg(2)).expect_err("overflow");
    assert_eq!(refused.reason(), &Refusal::QueueFull { limit: 1 });
    assert_eq!(refused.into_inner(), msg(2));
    assert_eq!(
        events(&mut server),
        vec![ServerEvent::HandedBack {
            reason: HandBackReason::QueueOverflow,
            stanzas: vec![unacked(msg(1), wall(1))],
        }]
    );
    assert!(server.is_closed());
    let closed = server.send(at(3), msg(3)).expect_err("closed");
    assert_eq!(
        (closed.reason(), closed.value()),
        (&Refusal::Closed, &msg(3))
    );
    assert!(
        world.store.route(&balcony()).is_none(),
        "no live entry left"
    );
    let mut late = resume_on(&mut world, juliet(), at(4), resume_xml(&id, 0));
    assert!(
        typed(&sent(&mut late)[0])
            == Nonza::Failed(Failed::new(Namespace::Sm3, DefinedCondition::ItemNotFound).with_h(0))
    );
}

#[test]
fn counters_wrap_at_two_to_the_32() {
    let (_world, mut client, mut server) = manual_pair();
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
    assert_eq!(
        events(&mut client),
        vec![ClientEvent::Acked {
            h: 1,
            stanzas: vec![msg(1), msg(2), msg(3)].into()
        }]
    );
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
    let (mut world, mut client, mut server) = enabled_pair(manual_client(), config, Namespace::Sm3);
    let id = server.id().cloned().expect("resumable");
    server.send(at(1), msg(1)).expect("send");
    let _ = sent(&mut server); // lost
    hibernate(at(2), &mut client, &mut server);
    assert!(matches!(world.store.route(&balcony()), Some(Route::Hibernated(h)) if h == id));
    world
        .store
        .push(at(3), &balcony(), msg(2))
        .expect("room for one more");
    let full = world
        .store
        .push(at(4), &balcony(), msg(3))
        .expect_err("full");
    assert_eq!(full.reason(), &Refusal::QueueFull { limit: 2 });
    assert_eq!(full.into_inner(), msg(3));
    let elsewhere: FullJid = "juliet@example.com/garden".parse().expect("jid");
    let unknown = world
        .store
        .push(at(4), &elsewhere, msg(4))
        .expect_err("no session there");
    assert_eq!(unknown.reason(), &Refusal::UnknownSession);

    let mut server = client_resumes(&mut world, at(5), &mut client);
    let _ = server_to_client(at(5), &mut server, &mut client);
    assert_eq!(
        events(&mut server),
        vec![ServerEvent::Resumed {
            previd: id,
            jid: Some(balcony()),
            retransmitted: 2
        }]
    );
    assert_eq!(client.handled_for_test(), 2);
}

/// Reads the client's inbound count through its next `<a/>`.
trait HandledForTest {
    fn handled_for_test(&mut self) -> u32;
}

impl HandledForTest for Client {
    fn handled_for_test(&mut self) -> u32 {
        let _ = self.handle_element(t0(), xml("<r xmlns='urn:xmpp:sm:3'/>"));
        let a = sent(self).pop().expect("an <a/>");
        match typed(&a) {
            Nonza::Ack(ack) => ack.h,
            other => panic!("expected <a/>, got {other:?}"),
        }
    }
}

#[test]
fn stanzas_sent_while_enabling_trigger_the_count_policy_once_enabled() {
    // AckPolicy::after_stanzas: "send <r/> as soon as this many stanzas are unacknowledged".
    // A stanza sent between <enable/> and <enabled/> is counted (§4), so once <enabled/>
    // arrives the policy is met and an <r/> is due.
    let mut config = manual_client();
    config.ack.after_stanzas = Some(1);
    let mut world = World::new(manual_server());
    let mut client = Client::new(config);
    let mut server = world.bound("a");
    client
        .enable(t0(), Namespace::Sm3, Placement::TopLevel)
        .expect("enable");
    client.send(t0(), msg(1)).expect("send while enabling");
    let _ = client_to_server(t0(), &mut client, &mut server);
    let _ = server_to_client(t0(), &mut server, &mut client);
    assert_eq!(sent(&mut client), vec![xml("<r xmlns='urn:xmpp:sm:3'/>")]);
}

#[test]
fn an_acked_event_hands_over_exactly_the_acknowledged_stanzas() {
    let (_world, mut client, _server) = manual_pair();
    for n in 1..=5 {
        client.send(at(1), msg(n)).expect("send");
    }
    let _ = sent(&mut client);
    let _ = client.handle_element(at(2), Element::from(Ack::new(Namespace::Sm3, 2)));
    let _ = client.handle_element(at(2), Element::from(Ack::new(Namespace::Sm3, 5)));
    assert_eq!(
        events(&mut client),
        vec![
            ClientEvent::Acked {
                h: 2,
                stanzas: vec![msg(1), msg(2)].into()
            },
            ClientEvent::Acked {
                h: 5,
                stanzas: vec![msg(3), msg(4), msg(5)].into()
            },
        ]
    );
    let request = Request::new(Namespace::Sm3);
    assert_eq!(
        client.handle_element(at(3), Element::from(request)),
        Ok(Incoming::Handled)
    );
}

/// Acks in the stream's own dialect are read without the general parser; anything unusual
/// about one (a bad or missing `h`, another offered dialect) must come out exactly as the
/// general parser has it, in both roles.
#[test]
fn unusual_acks_take_the_general_parser_in_both_roles() {
    for bad in [
        "<a xmlns='urn:xmpp:sm:3' h='one'/>",
        "<a xmlns='urn:xmpp:sm:3'/>",
        "<a xmlns='urn:xmpp:sm:3' h='-1'/>",
    ] {
        let (_world, mut client, mut server) = manual_pair();
        for err in [
            client.handle_element(at(1), xml(bad)).expect_err(bad),
            server.handle_element(at(1), xml(bad)).expect_err(bad),
        ] {
            assert!(
                matches!(err, Error::Peer(PeerError::Malformed(_))),
                "{bad}: {err:?}"
            );
            assert!(err.is_fatal(), "{bad}");
        }
        // Both answered with `bad-format` and closed.
        for answer in [sent(&mut client), sent(&mut server)] {
            let text = format!("{answer:?}");
            assert!(text.contains("bad-format"), "{bad}: {text}");
        }
    }
    // An sm:2 `<a/>` on an sm:3 stream is still an ack (as before the fast path).
    let (_world, mut client, _server) = manual_pair();
    client.send(at(1), msg(1)).expect("send");
    let _ = sent(&mut client);
    assert_eq!(
        client.handle_element(at(2), xml("<a xmlns='urn:xmpp:sm:2' h='1'/>")),
        Ok(Incoming::Handled)
    );
    assert!(matches!(
        client.poll_event(),
        Some(ClientEvent::Acked { h: 1, .. })
    ));
    // An `<a/>` in no stream management namespace is the caller's.
    let foreign = xml("<a xmlns='urn:example:a' h='1'/>");
    assert_eq!(
        client.handle_element(at(2), foreign.clone()),
        Ok(Incoming::NotOurs(foreign))
    );
}
