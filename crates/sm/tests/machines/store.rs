//! The session store and resumption (XEP-0198 §5): ownership, expiry, ended sessions,
//! limits, SM-IDs, take-over, routing, and persistence.

use super::*;
use xmpp_sm::HibernatedSession;
#[cfg(feature = "serde")]
use xmpp_sm::{StoreSnapshot, elements};

fn failed_item_not_found(h: Option<u32>) -> Element {
    let mut failed = Failed::new(Namespace::Sm3, DefinedCondition::ItemNotFound);
    failed.h = h;
    failed.into()
}

#[test]
fn only_the_owner_can_resume_a_session() {
    let (mut world, mut client, mut server) = manual_pair();
    let id = server.id().cloned().expect("resumable");
    hibernate(at(1), &mut client, &mut server);
    // Another account learns nothing: the same answer as an unknown id.
    let mut prober = resume_on(&mut world, romeo(), at(2), resume_xml(&id, 0));
    assert_eq!(sent(&mut prober), vec![failed_item_not_found(None)]);
    assert_eq!(
        events(&mut prober),
        vec![ServerEvent::ResumeRefused { previd: id.clone() }]
    );
    let unknown = SmId::new("no-such-id").expect("valid");
    let mut other = resume_on(&mut world, juliet(), at(2), resume_xml(&unknown, 0));
    assert_eq!(sent(&mut other), vec![failed_item_not_found(None)]);
    assert_eq!(
        world.store.hibernated_count(),
        1,
        "the prober did not disturb it"
    );
    let owner = resume_on(&mut world, juliet(), at(2), resume_xml(&id, 0));
    assert!(owner.is_resumed());
    assert_eq!(owner.id(), Some(&id));
    assert_eq!(owner.owner(), &juliet());
}

#[test]
fn expiry_hands_the_stanzas_back_with_their_first_sent_times() {
    let (mut world, mut client, mut server) = manual_pair();
    client.send(at(1), msg(100)).expect("send");
    let _ = client_to_server(at(1), &mut client, &mut server);
    server.send(at(1), msg(1)).expect("send");
    server.send(at(2), msg(2)).expect("send");
    let _ = sent(&mut server); // lost
    let id = server.id().cloned().expect("resumable");
    hibernate(at(3), &mut client, &mut server);
    // Default grant: 300 s from the disconnect.
    assert_eq!(world.store.poll_timeout(), Some(at(303).monotonic()));
    world.store.handle_timeout(at(302));
    assert_eq!(world.store.poll_event(), None);
    world.store.handle_timeout(at(303));
    assert_eq!(
        world.store.poll_event(),
        Some(StoreEvent::HandedBack {
            reason: HandBackReason::Expired,
            id: Some(id.clone()),
            owner: juliet(),
            jid: Some(balcony()),
            stanzas: vec![unacked(msg(1), wall(1)), unacked(msg(2), wall(2))],
        })
    );
    assert_eq!(world.store.poll_event(), None, "fires once");
    assert_eq!(world.store.hibernated_count(), 0);
    assert_eq!(world.store.poll_timeout(), None);
    // Its last h is remembered for a late <resume/>.
    let mut late = resume_on(&mut world, juliet(), at(304), resume_xml(&id, 0));
    assert_eq!(sent(&mut late), vec![failed_item_not_found(Some(1))]);
}

#[test]
fn a_resume_after_the_deadline_fails_even_if_the_timer_is_late() {
    let (mut world, mut client, mut server) = manual_pair();
    let id = server.id().cloned().expect("resumable");
    server.send(at(1), msg(1)).expect("send");
    hibernate(at(1), &mut client, &mut server);
    // No handle_timeout: the caller's timer is an hour late.
    let mut late = resume_on(&mut world, juliet(), at(3601), resume_xml(&id, 0));
    assert!(!late.is_resumed());
    assert_eq!(sent(&mut late), vec![failed_item_not_found(Some(0))]);
    assert!(matches!(
        &world.store_events()[..],
        [StoreEvent::HandedBack { reason: HandBackReason::Expired, stanzas, .. }] if stanzas.len() == 1
    ));
}

#[test]
fn late_resume_of_an_ended_session_gets_failed_with_h() {
    let (mut world, mut client, mut server) = manual_pair();
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
    client.handle_disconnect(at(2));

    let mut server = client_resumes(&mut world, at(3), &mut client);
    let failed = sent(&mut server);
    assert_eq!(failed, vec![failed_item_not_found(Some(2))]);
    let failed = failed.into_iter().next().expect("one");
    assert_eq!(client.handle_element(at(3), failed), Ok(Incoming::Handled));
    assert_eq!(
        events(&mut client),
        vec![
            ClientEvent::Acked {
                h: 2,
                stanzas: vec![msg(1), msg(2)].into()
            },
            ClientEvent::ResumeFailed {
                condition: Some(DefinedCondition::ItemNotFound),
                h: Some(2)
            },
            ClientEvent::HandedBack {
                reason: HandBackReason::ResumeFailed,
                stanzas: vec![unacked(msg(3), wall(1))],
            }
        ]
    );
    // §5: the client may bind afresh on this stream.
    server
        .handle_bind(at(4), balcony())
        .expect("bind after a failed resume");
}

#[test]
fn remembered_sessions_are_bounded() {
    let mut config = manual_server();
    config.store.max_remembered = 2;
    let mut world = World::new(config);
    let mut ids = Vec::new();
    for handled in 1..=3 {
        let (mut client, mut server) = enable_on(&mut world, manual_client(), Namespace::Sm3);
        for n in 0..handled {
            client.send(t0(), msg(n)).expect("send");
        }
        let _ = client_to_server(t0(), &mut client, &mut server);
        ids.push(server.id().cloned().expect("resumable"));
        server.close(t0());
    }
    let answers: Vec<Vec<Element>> = ids
        .iter()
        .map(|id| {
            sent(&mut resume_on(
                &mut world,
                juliet(),
                at(1),
                resume_xml(id, 0),
            ))
        })
        .collect();
    assert_eq!(
        answers,
        [
            vec![failed_item_not_found(None)],
            vec![failed_item_not_found(Some(2))],
            vec![failed_item_not_found(Some(3))]
        ]
    );
}

#[test]
fn hibernated_sessions_are_bounded_and_evict_the_nearest_deadline() {
    let mut config = manual_server();
    config.store.max_hibernated = 1;
    let mut world = World::new(config);
    let (mut c1, mut s1) = enable_on(&mut world, manual_client(), Namespace::Sm3);
    let first = s1.id().cloned().expect("resumable");
    s1.send(at(1), msg(1)).expect("send");
    hibernate(at(1), &mut c1, &mut s1);
    let mut c2 = Client::new(manual_client());
    let mut s2 = world.stream("c", juliet());
    s2.handle_bind(t0(), "juliet@example.com/garden".parse().expect("jid"))
        .expect("bind");
    c2.enable(t0(), Namespace::Sm3, Placement::TopLevel)
        .expect("enable");
    let _ = client_to_server(t0(), &mut c2, &mut s2);
    let _ = server_to_client(t0(), &mut s2, &mut c2);
    hibernate(at(2), &mut c2, &mut s2);
    assert_eq!(world.store.hibernated_count(), 1);
    assert_eq!(
        world.store_events(),
        vec![StoreEvent::HandedBack {
            reason: HandBackReason::Evicted,
            id: Some(first.clone()),
            owner: juliet(),
            jid: Some(balcony()),
            stanzas: vec![unacked(msg(1), wall(1))],
        }]
    );
    // An evicted session is over: a late resume gets its last h.
    let mut late = resume_on(&mut world, juliet(), at(3), resume_xml(&first, 0));
    assert_eq!(sent(&mut late), vec![failed_item_not_found(Some(0))]);
}

#[test]
fn client_max_is_honoured_up_to_the_cap() {
    for (asked, granted) in [(Some(100), 100), (Some(10_000), 600), (None, 300)] {
        let mut config = manual_client();
        config.max = asked;
        let mut world = World::new(manual_server()); // cap 600, default 300
        let mut client = Client::new(config);
        let mut server = world.bound("a");
        client
            .enable(t0(), Namespace::Sm3, Placement::TopLevel)
            .expect("enable");
        let enable = sent(&mut client).pop().expect("<enable/>");
        assert_eq!(enable.attr("max"), asked.map(|m| m.to_string()).as_deref());
        let _ = server.handle_element(t0(), enable).expect("request");
        let enabled = sent(&mut server).pop().expect("<enabled/>");
        assert_eq!(enabled.attr("max"), Some(granted.to_string().as_str()));
        let _ = client.handle_element(t0(), enabled).expect("enabled");
        assert!(matches!(
            events(&mut client)[..],
            [ClientEvent::Enabled { max: Some(m), resume: true, .. }] if m == granted
        ));
        server.handle_disconnect(t0());
        let snapshot = world.store.snapshot(t0());
        let session = &snapshot.sessions[0];
        assert_eq!(session.max(), granted);
        assert_eq!(session.deadline(), wall(u64::from(granted)));
    }
}

#[test]
fn sm_id_has_128_bits_from_the_rng() {
    let id_for = |seed: u64| {
        let mut world = World::new(manual_server());
        world.rng = ChaCha20Rng::seed_from_u64(seed);
        let mut server = world.bound("a");
        let _ = server
            .handle_element(t0(), xml("<enable xmlns='urn:xmpp:sm:3' resume='true'/>"))
            .expect("request");
        let enabled = sent(&mut server).pop().expect("<enabled/>");
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
    let (world, mut client, mut server) =
        enabled_pair(client_config, manual_server(), Namespace::Sm3);
    assert_eq!(server.id(), None);
    server.send(at(1), msg(1)).expect("send");
    server.handle_disconnect(at(2));
    assert_eq!(
        events(&mut server),
        vec![ServerEvent::HandedBack {
            reason: HandBackReason::StreamClosed,
            stanzas: vec![unacked(msg(1), wall(1))],
        }]
    );
    assert_eq!(world.store.hibernated_count(), 0);
    client.handle_disconnect(t0());
    assert!(!client.can_resume());
}

#[test]
fn take_over_yields_the_conflict_stream_error_of_the_spec() {
    let (mut world, mut client, mut old) = manual_pair();
    old.send(at(1), msg(1)).expect("send");
    let _ = sent(&mut old); // lost: the client's link died first
    client.handle_disconnect(at(2));

    let mut new = client_resumes(&mut world, at(3), &mut client);
    assert!(new.is_resume_pending());
    assert_eq!(world.woken(), ["a"]);
    old.handle_wake(at(3));
    // XEP-0198 §5 Example 15, compared on what matters: condition and no app element.
    let spec = StreamError::try_from(xml("<error xmlns='http://etherx.jabber.org/streams'>\
         <conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></error>"))
    .expect("stream error");
    let error = StreamError::try_from(sent(&mut old).pop().expect("conflict")).expect("error");
    assert_eq!(error.condition, spec.condition);
    assert_eq!(error.application_specific, spec.application_specific);
    assert!(old.is_closed());
    let refused = old.send(at(3), msg(9)).expect_err("closed");
    assert_eq!(refused.reason(), &Refusal::Closed);
    assert_eq!(world.woken(), ["b"]);
    new.handle_wake(at(3));
    let _ = server_to_client(at(3), &mut new, &mut client);
    assert!(client.is_enabled());
    assert!(matches!(
        events(&mut client)[..],
        [ClientEvent::Resumed {
            retransmitted: 0,
            ..
        }]
    ));
}

#[test]
fn a_take_over_that_never_comes_is_refused_at_the_handover_timeout() {
    let (mut world, mut client, _old) = manual_pair();
    client.handle_disconnect(at(1));
    let mut new = client_resumes(&mut world, at(2), &mut client);
    let deadline = new.poll_timeout().expect("waiting for the take-over");
    assert_eq!(deadline, at(12).monotonic(), "the default handover timeout");
    new.handle_timeout(at(11));
    assert!(new.is_resume_pending(), "a spurious timeout is a no-op");
    new.handle_timeout(at(12));
    assert_eq!(sent(&mut new), vec![failed_item_not_found(None)]);
    assert!(!new.is_resume_pending() && !new.is_closed());
}

#[test]
fn route_follows_the_session_from_stream_to_store_and_back() {
    let (mut world, mut client, mut server) = manual_pair();
    let id = server.id().cloned().expect("resumable");
    assert!(matches!(world.store.route(&balcony()), Some(Route::Live(h)) if h.name == "a"));
    let other: FullJid = "juliet@example.com/garden".parse().expect("valid JID");
    assert!(world.store.route(&other).is_none());
    hibernate(at(1), &mut client, &mut server);
    assert!(matches!(world.store.route(&balcony()), Some(Route::Hibernated(h)) if h == id));
    assert_eq!(
        world.store.hibernated(&juliet()),
        vec![(id.clone(), Some(balcony()))]
    );
    let resources = world.store.resources(&juliet());
    assert_eq!(resources.len(), 1);
    let mut server = client_resumes(&mut world, at(2), &mut client);
    assert!(server.is_resumed());
    assert!(matches!(world.store.route(&balcony()), Some(Route::Live(h)) if h.name == "b"));
    assert!(world.store.hibernated(&juliet()).is_empty());
    hibernate(at(3), &mut client, &mut server);
    world.store.handle_timeout(at(3 + 300));
    assert!(matches!(
        &world.store_events()[..],
        [StoreEvent::HandedBack {
            reason: HandBackReason::Expired,
            ..
        }]
    ));
    assert!(world.store.route(&balcony()).is_none(), "expired");
    assert!(world.store.resources(&juliet()).is_empty());
}

#[test]
fn hibernated_lists_an_accounts_sessions_soonest_deadline_first() {
    let mut world = World::new(manual_server());
    let mut ids = Vec::new();
    for (resource, max) in [("late", 500), ("soon", 100), ("middle", 300)] {
        let mut server = world.stream("x", juliet());
        let jid = juliet().with_resource_str(resource).expect("jid");
        server.handle_bind(t0(), jid.clone()).expect("bind");
        let enable = Enable::new(Namespace::Sm3).with_resume().with_max(max);
        let _ = server.handle_element(t0(), enable.into());
        ids.push((max, server.id().cloned().expect("resumable"), jid));
        server.handle_disconnect(t0());
    }
    ids.sort();
    let listed: Vec<(SmId, Option<FullJid>)> = ids
        .into_iter()
        .map(|(_, id, jid)| (id, Some(jid)))
        .collect();
    assert_eq!(world.store.hibernated(&juliet()), listed);
    assert!(world.store.hibernated(&romeo()).is_empty());
}

#[test]
fn extend_moves_a_deadline_later_never_earlier() {
    let (world, mut client, mut server) = manual_pair();
    let id = server.id().cloned().expect("resumable");
    hibernate(at(0), &mut client, &mut server);
    assert_eq!(world.store.poll_timeout(), Some(at(300).monotonic()));
    assert!(world.store.extend(at(1), &id, wall(1000)));
    assert_eq!(world.store.poll_timeout(), Some(at(1000).monotonic()));
    assert!(world.store.extend(at(2), &id, wall(10)), "still there");
    assert_eq!(world.store.poll_timeout(), Some(at(1000).monotonic()));
    let unknown = SmId::new("nope").expect("valid");
    assert!(!world.store.extend(at(3), &unknown, wall(2000)));
}

#[test]
fn set_deadline_moves_a_deadline_either_way_and_expires_a_past_one() {
    let (world, mut client, mut server) = manual_pair();
    let id = server.id().cloned().expect("resumable");
    hibernate(at(0), &mut client, &mut server);
    assert_eq!(world.store.deadline(&id), Some(wall(300)));
    assert!(world.store.extend(at(1), &id, wall(1000)));
    assert!(world.store.set_deadline(at(2), &id, wall(400)), "earlier");
    assert_eq!(world.store.deadline(&id), Some(wall(400)));
    assert_eq!(world.store.poll_timeout(), Some(at(400).monotonic()));
    assert!(
        world.store.set_deadline(at(3), &id, wall(2)),
        "already past"
    );
    assert_eq!(world.store.deadline(&id), None);
    assert!(matches!(
        world.store.poll_event(),
        Some(StoreEvent::HandedBack {
            reason: HandBackReason::Expired,
            ..
        })
    ));
    let unknown = SmId::new("nope").expect("valid");
    assert!(!world.store.set_deadline(at(4), &unknown, wall(2000)));
    assert_eq!(world.store.deadline(&unknown), None);
}

#[test]
fn stale_resume_h_below_the_last_ack_acknowledges_nothing() {
    // A <resume/> from a connection the client abandoned may carry an older h; it loses
    // nothing (the client holds those stanzas), so the session resumes.
    let (mut world, mut client, mut server) = manual_pair();
    let id = server.id().cloned().expect("resumable");
    for n in 1..=3 {
        server.send(at(1), msg(n)).expect("send");
    }
    let _ = server_to_client(at(1), &mut server, &mut client);
    let _ = server
        .handle_element(at(2), xml("<a xmlns='urn:xmpp:sm:3' h='2'/>"))
        .expect("ack");
    let _ = events(&mut server);
    hibernate(at(3), &mut client, &mut server);

    let mut server = resume_on(&mut world, juliet(), at(4), resume_xml(&id, 1));
    let out = sent(&mut server);
    assert!(out[0].is("resumed", ns::SM3));
    assert_eq!(out[1..], [msg(3)]);
    assert_eq!(
        events(&mut server),
        vec![ServerEvent::Resumed {
            previd: id,
            jid: Some(balcony()),
            retransmitted: 1
        }]
    );
}

#[test]
fn only_stanzas_are_queued_for_a_hibernated_session() {
    let (world, mut client, mut server) = manual_pair();
    hibernate(at(2), &mut client, &mut server);
    let nonza = xml("<r xmlns='urn:xmpp:sm:3'/>");
    let refused = world
        .store
        .push(at(3), &balcony(), nonza.clone())
        .expect_err("not a stanza");
    assert_eq!(refused.reason(), &Refusal::NotAStanza);
    assert_eq!(refused.into_inner(), nonza);
}

#[test]
fn a_snapshot_restores_sessions_ended_ids_and_undrained_events() {
    let (world, mut client, mut server) = manual_pair();
    let id = server.id().cloned().expect("resumable");
    server.send(at(1), msg(1)).expect("send");
    hibernate(at(2), &mut client, &mut server);
    let snapshot = world.store.snapshot(at(2));
    assert_eq!(snapshot.sessions.len(), 1);
    let restored: SessionStore<Wake> =
        SessionStore::restore(manual_server(), snapshot, at(2)).expect("restores");
    assert_eq!(restored.poll_timeout(), Some(at(302).monotonic()));
    assert!(matches!(restored.route(&balcony()), Some(Route::Hibernated(h)) if h == id));
    // Expired but not drained: the event survives the next snapshot.
    restored.handle_timeout(at(302));
    let snapshot = restored.snapshot(at(302));
    assert!(snapshot.sessions.is_empty());
    assert_eq!(snapshot.ended.len(), 1);
    let again: SessionStore<Wake> =
        SessionStore::restore(manual_server(), snapshot, at(303)).expect("restores");
    assert_eq!(
        again.poll_event(),
        Some(StoreEvent::HandedBack {
            reason: HandBackReason::Expired,
            id: Some(id),
            owner: juliet(),
            jid: Some(balcony()),
            stanzas: vec![unacked(msg(1), wall(1))],
        })
    );
}

#[test]
fn adopt_takes_in_a_session_from_elsewhere_and_refuses_a_known_id() {
    let (world, mut client, mut server) = manual_pair();
    let id = server.id().cloned().expect("resumable");
    server.send(at(1), msg(1)).expect("send");
    hibernate(at(2), &mut client, &mut server);
    let record: HibernatedSession = world.store.snapshot(at(2)).sessions.remove(0);
    assert!(record.may_claim(&juliet(), at(3)));
    assert!(!record.may_claim(&romeo(), at(3)));
    assert!(!record.may_claim(&juliet(), at(302)));
    // Another node takes it in, and resumes it there.
    let mut node = World::new(manual_server());
    node.store.adopt(at(3), record.clone()).expect("adopted");
    assert_eq!(node.store.hibernated_count(), 1);
    let mut resumed = client_resumes(&mut node, at(4), &mut client);
    assert_eq!(sent(&mut resumed).len(), 2, "<resumed/> and the stanza");
    // The first node still has it: adopting it there again is a duplicate, handed back.
    let refused = world
        .store
        .adopt(at(5), record.clone())
        .expect_err("known id");
    assert_eq!(refused.reason(), &Refusal::DuplicateId(id));
    assert_eq!(refused.into_inner(), record);
}

#[cfg(feature = "serde")]
#[test]
fn a_hibernated_session_survives_json_and_resumes_elsewhere() {
    let (world, mut client, mut server) = manual_pair();
    client.send(at(1), msg(100)).expect("send");
    let _ = client_to_server(at(1), &mut client, &mut server);
    server.send(at(1), msg(1)).expect("send");
    server.send(at(2), msg(2)).expect("send");
    let _ = sent(&mut server); // lost
    hibernate(at(3), &mut client, &mut server);
    let record = world.store.snapshot(at(3)).sessions.remove(0);
    let id = record.id().clone();
    let json = serde_json::to_string(&record).expect("serialises");
    let record: HibernatedSession = serde_json::from_str(&json).expect("deserialises");
    assert_eq!(
        (
            record.id(),
            record.owner(),
            record.unacked(),
            record.handled()
        ),
        (&id, &juliet(), 2, 1)
    );
    let mut node = World::new(manual_server());
    node.store.adopt(at(4), record).expect("adopted");
    let mut server = client_resumes(&mut node, at(4), &mut client);
    let out = sent(&mut server);
    assert_eq!(
        typed(&out[0]),
        Nonza::Resumed(elements::Resumed::new(Namespace::Sm3, id, Some(1)))
    );
    let incoming: Vec<Incoming> = out
        .into_iter()
        .map(|el| client.handle_element(at(4), el).expect("ok"))
        .collect();
    assert_eq!(
        incoming,
        vec![
            Incoming::Handled,
            Incoming::Stanza(msg(1)),
            Incoming::Stanza(msg(2))
        ]
    );
}

#[cfg(feature = "serde")]
#[test]
fn a_store_snapshot_survives_json() {
    let (world, mut client, mut server) = manual_pair();
    let id = server.id().cloned().expect("resumable");
    server.send(at(1), msg(1)).expect("send");
    hibernate(at(2), &mut client, &mut server);
    let json = serde_json::to_string(&world.store.snapshot(at(2))).expect("serialises");
    let snapshot: StoreSnapshot = serde_json::from_str(&json).expect("deserialises");
    let mut node = World {
        store: SessionStore::restore(manual_server(), snapshot, at(2)).expect("restores"),
        rng: ChaCha20Rng::seed_from_u64(9),
        log: Rc::default(),
    };
    assert_eq!(node.store.poll_timeout(), Some(at(302).monotonic()));
    let mut resumed = resume_on(&mut node, juliet(), at(3), resume_xml(&id, 0));
    assert_eq!(sent(&mut resumed)[1..], [msg(1)]);
}
