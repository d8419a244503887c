//! Checkpoints of live streams (`Server::checkpoint`, `checkpoint_mark`): a copy of a session
//! whose stream is still open, resumed on another node when the stream's own node cannot
//! hand it over, with an `h` beyond the copy accepted and the gap reported.

use super::*;
#[cfg(feature = "serde")]
use xmpp_sm::HibernatedSession;

/// A client enabled on node one, which sent it `n` stanzas that it read (unacknowledged).
fn pair_with_stanzas(n: u32) -> (World, Client, Server<Wake>) {
    let (world, mut client, mut server) = manual_pair();
    for i in 1..=n {
        server.send(at(1), msg(i)).expect("send");
    }
    let _ = server_to_client(at(1), &mut server, &mut client);
    (world, client, server)
}

/// The node dies: the client's connection is gone, the server machine simply vanishes.
fn node_dies(client: &mut Client, server: Server<Wake>) {
    client.handle_disconnect(at(5));
    assert!(client.can_resume());
    std::mem::forget(server); // no disconnect, no hibernation: nothing more is written
}

#[test]
fn a_checkpoint_lagging_its_stream_resumes_elsewhere_with_the_gap_reported() {
    let (_one, mut client, mut server) = pair_with_stanzas(2);
    let copy = server.checkpoint(at(2)).expect("a resumable live stream");
    assert_eq!(copy.checkpointed_at(), Some(wall(2)));
    assert_eq!(copy.deadline(), wall(302), "as if hibernated at the copy");
    assert_eq!(copy.unacked(), 2);
    assert!(server.is_enabled(), "the stream goes on");
    // After the copy the stream sends a third stanza, which the client reads, then the node
    // dies without handing the session over.
    server.send(at(3), msg(3)).expect("send");
    let _ = server_to_client(at(3), &mut server, &mut client);
    node_dies(&mut client, server);

    let mut two = World::new(manual_server());
    two.store.adopt(at(6), copy).expect("adopted");
    let mut resumed = client_resumes(&mut two, at(6), &mut client);
    let out = sent(&mut resumed);
    assert_eq!(
        out.len(),
        1,
        "<resumed/> only: the client has all three: {out:?}"
    );
    let evs = events(&mut resumed);
    assert!(
        matches!(&evs[..], [
            ServerEvent::Acked { h: 2, .. },
            ServerEvent::ResumedFromCheckpoint { checkpointed_at, acked_beyond: 1, .. },
            ServerEvent::Resumed { retransmitted: 0, .. },
        ] if *checkpointed_at == wall(2)),
        "{evs:?}"
    );
    // Counting goes on from the client's `h`: the next stanza is number 4 on both sides.
    for el in out {
        let _ = client
            .handle_element(at(6), el)
            .expect("client accepts <resumed/>");
    }
    assert!(
        events(&mut client)
            .iter()
            .any(|e| matches!(e, ClientEvent::Resumed { .. }))
    );
    resumed.send(at(7), msg(4)).expect("send");
    resumed.request_ack(at(7));
    let _ = server_to_client(at(7), &mut resumed, &mut client);
    let _ = client_to_server(at(7), &mut client, &mut resumed);
    let evs = events(&mut resumed);
    assert!(
        matches!(&evs[..], [ServerEvent::Acked { h: 4, .. }]),
        "the client's count and the resumed stream's agree: {evs:?}"
    );
    assert_eq!(resumed.unacked(), 0);
}

#[test]
fn stanzas_in_the_checkpoint_the_client_did_not_get_are_retransmitted() {
    let (_one, mut client, server) = manual_pair();
    let mut server = server;
    server.send(at(1), msg(1)).expect("send");
    let _ = server_to_client(at(1), &mut server, &mut client);
    server.send(at(1), msg(2)).expect("send");
    let _ = sent(&mut server); // written, lost in the cut
    let copy = server.checkpoint(at(2)).expect("resumable");
    node_dies(&mut client, server);

    let mut two = World::new(manual_server());
    two.store.adopt(at(6), copy).expect("adopted");
    let mut resumed = client_resumes(&mut two, at(6), &mut client);
    let out = sent(&mut resumed);
    assert_eq!(out.len(), 2, "<resumed/>, then the stanza it missed");
    assert_eq!(out[1], msg(2));
    assert!(
        events(&mut resumed).iter().any(|e| matches!(
            e,
            ServerEvent::ResumedFromCheckpoint {
                acked_beyond: 0,
                ..
            }
        )),
        "the gap is reported even when nothing is beyond the copy"
    );
}

#[test]
fn an_h_beyond_a_hibernated_record_is_still_fatal() {
    // Only a checkpoint may lag: a session that hibernated holds everything its stream sent.
    let (world, mut client, mut server) = pair_with_stanzas(1);
    let id = server.id().cloned().expect("resumable");
    hibernate(at(2), &mut client, &mut server);
    let record = world.store.release(at(3), &id).expect("hibernated");
    assert_eq!(record.checkpointed_at(), None);
    let mut two = World::new(manual_server());
    two.store.adopt(at(4), record).expect("adopted");
    let mut resumed = two.stream("b", juliet());
    let refused = resumed.handle_element(at(4), resume_xml(&id, 5));
    assert!(
        matches!(
            refused,
            Err(Error::Peer(PeerError::HandledCountTooHigh { h: 5, .. }))
        ),
        "{refused:?}"
    );
    assert!(
        !events(&mut resumed)
            .iter()
            .any(|e| matches!(e, ServerEvent::ResumedFromCheckpoint { .. }))
    );
}

#[test]
fn the_mark_changes_with_what_a_resumption_depends_on_and_only_then() {
    let mut world = World::new(manual_server());
    let mut client = Client::new(manual_client());
    let mut server = world.bound("a");
    assert_eq!(server.checkpoint_mark(), None, "stream management off");
    assert!(server.checkpoint(at(0)).is_none());
    client
        .enable(t0(), Namespace::Sm3, Placement::TopLevel)
        .expect("enable");
    let _ = client_to_server(t0(), &mut client, &mut server);
    let _ = server_to_client(t0(), &mut server, &mut client);
    let enabled = server.checkpoint_mark().expect("resumable");
    assert_eq!(server.checkpoint_mark(), Some(enabled), "stable");
    server.send(at(1), msg(1)).expect("send");
    let sent_one = server.checkpoint_mark().expect("resumable");
    assert_ne!(sent_one, enabled, "a stanza sent");
    let _ = server_to_client(at(1), &mut server, &mut client);
    assert_eq!(
        server.checkpoint_mark(),
        Some(sent_one),
        "writing changes nothing"
    );
    client.send(at(2), msg(9)).expect("send");
    let _ = client_to_server(at(2), &mut client, &mut server);
    let handled = server.checkpoint_mark().expect("resumable");
    assert_ne!(handled, sent_one, "a stanza handled");
    client.request_ack(at(3));
    let _ = client_to_server(at(3), &mut client, &mut server);
    let _ = server_to_client(at(3), &mut server, &mut client);
    assert_eq!(
        server.checkpoint_mark(),
        Some(handled),
        "answering <r/> changes nothing"
    );
    server.request_ack(at(4));
    let _ = server_to_client(at(4), &mut server, &mut client);
    let _ = client_to_server(at(4), &mut client, &mut server);
    assert_ne!(
        server.checkpoint_mark(),
        Some(handled),
        "an acknowledgement"
    );
    server.handle_disconnect(at(5));
    assert_eq!(server.checkpoint_mark(), None, "hibernated: no longer live");
    assert!(server.checkpoint(at(5)).is_none());
}

#[cfg(feature = "serde")]
#[test]
fn a_checkpoint_keeps_its_mark_through_serde_and_older_records_read_as_hibernated() {
    let (_one, _client, server) = pair_with_stanzas(1);
    let copy = server.checkpoint(at(2)).expect("resumable");
    let json = serde_json::to_string(&copy).expect("serialises");
    let back: HibernatedSession = serde_json::from_str(&json).expect("reads back");
    assert_eq!(back, copy);
    assert_eq!(back.checkpointed_at(), Some(wall(2)));
    let mut value: serde_json::Value = serde_json::from_str(&json).expect("json");
    value
        .as_object_mut()
        .expect("an object")
        .remove("checkpointed");
    let older: HibernatedSession = serde_json::from_value(value).expect("reads back");
    assert_eq!(older.checkpointed_at(), None);
}

#[test]
fn a_stream_handed_over_elsewhere_hibernates_then_gets_conflict() {
    let (world, _client, mut server) = pair_with_stanzas(1);
    let id = server.id().cloned().expect("resumable");
    server.send(at(2), msg(2)).expect("send"); // queued, not yet written
    server.hand_over_elsewhere(at(3));
    assert!(server.is_closed());
    let out = sent(&mut server);
    assert_eq!(out.len(), 1, "only the stream error: {out:?}");
    let conflict: StreamError = out[0].clone().try_into().expect("a stream error");
    assert_eq!(conflict.condition, StreamCondition::Conflict);
    assert!(
        matches!(&events(&mut server)[..], [ServerEvent::Hibernated { id: h, .. }] if *h == id)
    );
    // Both stanzas are in the session, for the other node.
    let record = world.store.release(at(3), &id).expect("hibernated");
    assert_eq!(record.unacked(), 2);
    server.hand_over_elsewhere(at(4));
    assert!(sent(&mut server).is_empty(), "once");
}

#[test]
fn stanzas_routed_to_a_waiting_checkpoint_are_numbered_after_the_clients_h() {
    // Node one's stream wrote two stanzas, the client read them, then the copy was taken;
    // the stream wrote a third (read too) and died. While the copy waits in the shared
    // store, a fourth is routed to it.
    let (_one, mut client, mut server) = pair_with_stanzas(2);
    let mut copy = server.checkpoint(at(2)).expect("resumable");
    server.send(at(3), msg(3)).expect("send");
    let _ = server_to_client(at(3), &mut server, &mut client);
    node_dies(&mut client, server);
    copy.push(msg(4), wall(5), 10).expect("a stanza");

    let mut two = World::new(manual_server());
    two.store.adopt(at(6), copy).expect("adopted");
    let mut resumed = client_resumes(&mut two, at(6), &mut client);
    let evs = events(&mut resumed);
    assert!(
        evs.iter().any(|e| matches!(
            e,
            ServerEvent::ResumedFromCheckpoint {
                acked_beyond: 1,
                ..
            }
        )),
        "{evs:?}"
    );
    assert!(
        evs.iter().any(|e| matches!(
            e,
            ServerEvent::Resumed {
                retransmitted: 1,
                ..
            }
        )),
        "the routed stanza goes out: {evs:?}"
    );
    let out = sent(&mut resumed);
    assert_eq!(out[1], msg(4));
    for el in out {
        let _ = client.handle_element(at(6), el).expect("client accepts");
    }
    // The client counts it as its fourth; so does the resumed stream.
    resumed.request_ack(at(7));
    let _ = server_to_client(at(7), &mut resumed, &mut client);
    let _ = client_to_server(at(7), &mut client, &mut resumed);
    let evs = events(&mut resumed);
    assert!(
        matches!(&evs[..], [ServerEvent::Acked { h: 4, stanzas }] if stanzas.len() == 1),
        "{evs:?}"
    );
    assert_eq!(resumed.unacked(), 0);
}
