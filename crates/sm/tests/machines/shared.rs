//! What a store shared by several nodes needs (`SessionStore::checkpoint`, `release`,
//! `ended`, `remember`, `HibernatedSession::push`): a session hibernated on one node moved
//! whole to another, with the stanzas routed to it in between, and ended sessions' `h`.

use super::*;
use xmpp_sm::{EndedSession, HibernatedSession};

#[test]
fn a_released_session_resumes_on_another_node_with_what_was_routed_meanwhile() {
    let (world, mut client, mut server) = manual_pair();
    let id = server.id().cloned().expect("resumable");
    server.send(at(1), msg(1)).expect("send");
    let _ = sent(&mut server); // lost with the connection
    hibernate(at(2), &mut client, &mut server);
    // A checkpoint is a copy: the session stays, with its deadline on the wall clock.
    let copy = world.store.checkpoint(at(3), &id).expect("hibernated");
    assert_eq!(copy.deadline(), wall(302));
    assert_eq!(world.store.hibernated_count(), 1);
    // Released: gone from this node without a hand-back or an ended `h`.
    let mut record = world.store.release(at(3), &id).expect("hibernated");
    assert_eq!(record, copy);
    assert_eq!(world.store.hibernated_count(), 0);
    assert!(world.store.route(&balcony()).is_none());
    assert_eq!(world.store.poll_event(), None);
    assert_eq!(world.store.ended(&id), None);
    assert!(world.store.release(at(3), &id).is_none(), "released once");
    // A stanza routed while the record sits in the shared store, with its first-sent time.
    record.push(msg(2), wall(4), 10).expect("a stanza");
    let refused = record
        .push(xml("<r xmlns='urn:xmpp:sm:3'/>"), wall(4), 10)
        .expect_err("not a stanza");
    assert_eq!(refused.reason(), &Refusal::NotAStanza);
    let full = record.push(msg(3), wall(4), 2).expect_err("at the limit");
    assert_eq!(full.reason(), &Refusal::QueueFull { limit: 2 });
    assert!(record.may_claim(&juliet(), at(5)));
    let mut node = World::new(manual_server());
    node.store.adopt(at(5), record).expect("adopted");
    let mut resumed = client_resumes(&mut node, at(5), &mut client);
    let out = sent(&mut resumed);
    assert_eq!(
        out.len(),
        3,
        "<resumed/>, the lost stanza, the one routed meanwhile"
    );
    assert_eq!((out[1].clone(), out[2].clone()), (msg(1), msg(2)));
}

#[test]
fn an_expired_session_is_neither_checkpointed_nor_released() {
    let (world, mut client, mut server) = manual_pair();
    let id = server.id().cloned().expect("resumable");
    hibernate(at(1), &mut client, &mut server);
    assert!(world.store.checkpoint(at(301), &id).is_none());
    assert!(world.store.release(at(301), &id).is_none());
    // It expired on the spot instead: handed back once, its `h` remembered.
    assert!(matches!(
        world.store.poll_event(),
        Some(StoreEvent::HandedBack {
            reason: HandBackReason::Expired,
            ..
        })
    ));
    assert_eq!(
        world.store.ended(&id),
        Some(EndedSession::new(id.clone(), juliet(), 0))
    );
}

#[test]
fn an_ended_session_learnt_from_elsewhere_answers_failed_with_its_h_to_its_owner_only() {
    let mut world = World::new(manual_server());
    let id = SmId::new("ended-elsewhere").expect("valid");
    assert!(
        world
            .store
            .remember(EndedSession::new(id.clone(), juliet(), 7))
    );
    assert!(
        !world
            .store
            .remember(EndedSession::new(id.clone(), romeo(), 9)),
        "known already: unchanged"
    );
    let mut owner = resume_on(&mut world, juliet(), at(1), resume_xml(&id, 0));
    let mut failed = Failed::new(Namespace::Sm3, DefinedCondition::ItemNotFound);
    failed.h = Some(7);
    assert_eq!(sent(&mut owner), vec![Element::from(failed)]);
    let mut prober = resume_on(&mut world, romeo(), at(1), resume_xml(&id, 0));
    let failed = Failed::new(Namespace::Sm3, DefinedCondition::ItemNotFound);
    assert_eq!(sent(&mut prober), vec![Element::from(failed)]);
}

#[test]
fn a_live_or_hibernated_id_is_not_remembered_as_ended() {
    let (world, mut client, mut server) = manual_pair();
    let id = server.id().cloned().expect("resumable");
    assert!(
        !world
            .store
            .remember(EndedSession::new(id.clone(), juliet(), 1))
    );
    hibernate(at(1), &mut client, &mut server);
    assert!(
        !world
            .store
            .remember(EndedSession::new(id.clone(), juliet(), 1))
    );
    let record = world.store.release(at(2), &id).expect("hibernated");
    assert_eq!(
        EndedSession::from(&record),
        EndedSession::new(id, juliet(), 0)
    );
}

#[cfg(feature = "serde")]
#[test]
fn a_record_from_a_shared_store_is_checked_like_peer_data() {
    let (world, mut client, mut server) = manual_pair();
    let id = server.id().cloned().expect("resumable");
    server.send(at(1), msg(1)).expect("send");
    hibernate(at(2), &mut client, &mut server);
    let record = world.store.release(at(2), &id).expect("hibernated");
    let json = serde_json::to_value(&record).expect("serialises");
    let back: HibernatedSession = serde_json::from_value(json.clone()).expect("round trip");
    assert_eq!(back, record);
    // A record whose queue was tampered with is refused on the way in.
    let mut forged = json.clone();
    forged["queue"][0]["xml"] = "<r xmlns='urn:xmpp:sm:3'/>".into();
    assert!(serde_json::from_value::<HibernatedSession>(forged).is_err());
    let mut forged = json;
    forged["resource"] = "romeo@example.net/orchard".into();
    assert!(serde_json::from_value::<HibernatedSession>(forged).is_err());
    // Beyond this node's limits: adopt refuses it, handing it back.
    let mut small = manual_server();
    small.max_queue = 0;
    let node = World::new(small);
    let refused = node.store.adopt(at(3), back).expect_err("queue too long");
    assert!(matches!(refused.reason(), Refusal::Invalid(_)));
}
