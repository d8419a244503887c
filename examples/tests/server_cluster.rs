//! The example server's cluster mode (`--redis URL --node NAME`, `examples/server/cluster.rs`):
//! a redis-server started here on 127.0.0.1 (a free port, a temporary directory, killed by
//! pid) and two server nodes on loopback sharing it.
//!
//! - exactly-once in both directions across nodes: sessions hibernated on one node, resumed
//!   on the other, stanzas routed to them meanwhile from either node (slixmpp 1.17, and the
//!   testkit's `SmDriver` with a stanza lost in the cut and retransmitted);
//! - a node SIGKILLed while the client is away: the other node resumes the session;
//! - a racing claim: two `<resume/>`s of one SM-ID at both nodes at once, exactly one wins,
//!   the other gets `<failed><item-not-found/></failed>` as for an unknown id;
//! - expiry once, on one node, with the stanzas stored offline there;
//! - live streams on both nodes talking, and a take-over of a stream still open on the
//!   other node (`conflict` there, its unacknowledged stanzas handed over);
//! - the resume latency on the other node against a same-node resume, in the same run.

mod cluster_common;
mod sm_common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cluster_common::{alice_away_on_a, cluster, enabled_for, messages_at_login, sm_id};
use minidom::Element;
use sm_common::{T, drain_raw, enabled, login, once, resume};
use xmpp_sm::elements::{Nonza, Resume};
use xmpp_sm::{ClientEvent, Namespace, SmId};
use xmpp_tether_testkit::client::{Connection, SmDriver};
use xmpp_tether_testkit::example_server::ExampleServer;
use xmpp_tether_testkit::slixmpp::Script;
use xmpp_tether_testkit::stanza::{body_counts, chat};
use xmpp_tether_testkit::xml::StreamEvent;
use xmpp_tether_testkit::{deadline_in, remaining};

const ALICE: &str = "alice@localhost/phone";
const BOB: &str = "bob@localhost/desk";

/// Cuts the driver's connection and waits until `server` has put the session in Redis.
fn cut_into_redis(server: &ExampleServer, driver: &mut SmDriver) {
    let line = format!("{} hibernated into redis", sm_id(driver));
    let count = || server.trace().iter().filter(|l| l.contains(&line)).count();
    let before = count();
    driver.cut();
    let deadline = deadline_in(T);
    while count() == before {
        assert!(
            remaining(deadline).is_some(),
            "{line}: not in the trace\n{}",
            server.transcript()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How often each body arrived at slixmpp (its `RECV <from> <body>` lines).
fn received(lines: &[String]) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for line in lines {
        if let Some(rest) = line.strip_prefix("RECV ") {
            let body = rest.split_once(' ').map_or("", |(_, b)| b);
            *seen.entry(body.to_owned()).or_insert(0) += 1;
        }
    }
    seen
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn slixmpp_cut_on_one_node_resumes_on_the_other_exactly_once() {
    let c = cluster();
    let addr = c.a.addr();
    let mut alice = Script::spawn(
        "sm_peer.py",
        &[
            addr.ip().to_string(),
            addr.port().to_string(),
            "alice@localhost/slix".to_owned(),
            "alice-pass".to_owned(),
        ],
    )
    .unwrap_or_else(|e| panic!("starting slixmpp (run ./scripts/setup-peers.sh): {e}"));
    let enabled_line = alice.expect_line("ENABLED", T).unwrap();
    let id = enabled_line.trim().to_owned();
    let slix = "alice@localhost/slix";

    // Her connection drops on node a; the session goes to Redis.
    alice.send_line("abort").unwrap();
    alice.expect_line("DISCONNECTED", T).unwrap();
    c.a.wait_for_trace(T, "alice's session in redis", |l| {
        l.contains(&format!("{id} hibernated into redis"))
    })
    .unwrap_or_else(|e| panic!("{e}"));

    // Bob, on node b, writes to her: appended to the record in Redis.
    let mut bob = enabled(&c.b, "bob", "desk");
    bob.send(chat(slix, "b1")).unwrap();
    bob.send(chat(slix, "b2")).unwrap();
    bob.request_ack().unwrap();
    bob.pump_until(T, "node b handled b1, b2", |d| d.sm().unacked() == 0)
        .unwrap();

    // She reconnects to node b and resumes there: b1 and b2 once, then both ways live.
    let b = c.b.addr();
    alice
        .send_line(&format!("connect {} {}", b.ip(), b.port()))
        .unwrap();
    alice
        .expect_line("RESUMED", T)
        .unwrap_or_else(|e| panic!("{e}\n{}", c.b.transcript()));
    alice
        .wait_until(T, "b1, b2 at slixmpp", |l| received(l).len() == 2)
        .unwrap_or_else(|e| panic!("{e}\n{}", c.b.transcript()));
    alice.send_line(&format!("send {BOB} a1")).unwrap();
    bob.pump_until(T, "a1 at bob", |d| d.stanzas().len() == 1)
        .unwrap_or_else(|e| panic!("{e}\n{}", c.b.transcript()));
    bob.send(chat(slix, "b3")).unwrap();
    alice
        .wait_until(T, "b3 at slixmpp", |l| received(l).len() == 3)
        .unwrap();
    alice.send_line("settle").unwrap();
    alice.expect_line("SETTLED", T).unwrap();
    bob.pump_for(Duration::from_millis(300)).unwrap();
    alice.send_line("quit").unwrap();
    alice.finish(T).unwrap();

    assert_eq!(
        received(alice.seen()),
        once(&["b1", "b2", "b3"]),
        "{}",
        alice.transcript()
    );
    assert_eq!(body_counts(&bob.take_stanzas()), once(&["a1"]));
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn both_directions_exactly_once_with_sessions_moving_between_nodes() {
    let c = cluster();
    // Bob enables on b and drops: his session is in Redis.
    let mut bob = enabled(&c.b, "bob", "desk");
    cut_into_redis(&c.b, &mut bob);

    // Alice on a: a1 reaches the server (appended to bob's record from node a); a2 is lost
    // on the wire when her connection dies, so only her client has it.
    let mut alice = enabled(&c.a, "alice", "phone");
    alice.send(chat(BOB, "a1")).unwrap();
    alice.request_ack().unwrap();
    alice
        .pump_until(T, "node a handled a1", |d| d.sm().unacked() == 0)
        .unwrap();
    alice.send_lost(chat(BOB, "a2")).unwrap();
    cut_into_redis(&c.a, &mut alice);

    // Bob resumes on a (hibernated on b): a1 once. He writes b1 to alice (in Redis), drops.
    let resumed = resume(&c.a, "bob", &mut bob);
    assert!(
        matches!(resumed, ClientEvent::Resumed { .. }),
        "{resumed:?}"
    );
    bob.pump_until(T, "a1 at bob", |d| d.stanzas().len() == 1)
        .unwrap_or_else(|e| panic!("{e}\n{}", c.a.transcript()));
    bob.send(chat(ALICE, "b1")).unwrap();
    bob.request_ack().unwrap();
    bob.pump_until(T, "node a handled b1", |d| d.sm().unacked() == 0)
        .unwrap();
    let mut at_bob = bob.take_stanzas();
    cut_into_redis(&c.a, &mut bob);

    // Alice resumes on b: b1 once, and her client retransmits a2, which node b appends to
    // bob's record.
    let resumed = resume(&c.b, "alice", &mut alice);
    assert!(
        matches!(
            resumed,
            ClientEvent::Resumed {
                retransmitted: 1,
                ..
            }
        ),
        "{resumed:?}"
    );
    alice
        .pump_until(T, "b1 at alice", |d| d.stanzas().len() == 1)
        .unwrap_or_else(|e| panic!("{e}\n{}", c.b.transcript()));
    alice.request_ack().unwrap();
    alice
        .pump_until(T, "node b handled a2", |d| d.sm().unacked() == 0)
        .unwrap();

    // Bob resumes on b: a2 once.
    let resumed = resume(&c.b, "bob", &mut bob);
    assert!(
        matches!(resumed, ClientEvent::Resumed { .. }),
        "{resumed:?}"
    );
    bob.pump_until(T, "a2 at bob", |d| d.stanzas().len() == 1)
        .unwrap_or_else(|e| panic!("{e}\n{}", c.b.transcript()));
    bob.pump_for(Duration::from_millis(300)).unwrap();
    alice.pump_for(Duration::from_millis(300)).unwrap();
    at_bob.extend(bob.take_stanzas());
    assert_eq!(body_counts(&at_bob), once(&["a1", "a2"]));
    assert_eq!(body_counts(&alice.take_stanzas()), once(&["b1"]));
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn a_node_killed_while_the_client_is_away_its_session_resumes_on_the_other() {
    let mut c = cluster();
    let mut alice = enabled(&c.a, "alice", "phone");
    let mut bob = enabled(&c.b, "bob", "desk");
    cut_into_redis(&c.a, &mut alice);
    c.a.kill(); // SIGKILL: node a writes nothing
    bob.send(chat(ALICE, "b1")).unwrap();
    bob.request_ack().unwrap();
    bob.pump_until(T, "node b handled b1", |d| d.sm().unacked() == 0)
        .unwrap();
    let resumed = resume(&c.b, "alice", &mut alice);
    assert!(
        matches!(resumed, ClientEvent::Resumed { .. }),
        "{resumed:?}"
    );
    alice
        .pump_until(T, "b1 at alice", |d| {
            body_counts(d.stanzas()).contains_key("b1")
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", c.b.transcript()));
    alice.pump_for(Duration::from_millis(300)).unwrap();
    assert_eq!(body_counts(&alice.take_stanzas()), once(&["b1"]));
}

/// Writes a raw `<resume/>` for `id` on an authenticated connection.
fn raw_resume(conn: &mut Connection, id: &SmId) {
    let resume: Element = Resume::new(Namespace::Sm3, id.clone(), Some(0)).into();
    conn.send(&resume).unwrap();
}

/// The first stream-management answer on `conn`: `<resumed/>` or `<failed/>`.
fn sm_answer(conn: &mut Connection) -> Nonza {
    let deadline = deadline_in(T);
    while let Some(left) = remaining(deadline) {
        match conn.recv(left) {
            Ok(Some(StreamEvent::Element(el))) => {
                if let Ok(nonza) = Nonza::try_from(&el) {
                    return nonza;
                }
            }
            Ok(_) => {}
            Err(e) => panic!("reading the answer: {e}"),
        }
    }
    panic!("no answer to <resume/>");
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn a_racing_claim_at_both_nodes_has_exactly_one_winner() {
    let c = cluster();
    for round in 0..5 {
        let mut alice = enabled(&c.a, "alice", &format!("phone{round}"));
        let id = sm_id(&alice);
        cut_into_redis(&c.a, &mut alice);
        let (mut on_a, _) = login(&c.a, "alice");
        let (mut on_b, _) = login(&c.b, "alice");
        raw_resume(&mut on_a, &id);
        raw_resume(&mut on_b, &id);
        let answers = [sm_answer(&mut on_a), sm_answer(&mut on_b)];
        let won = answers
            .iter()
            .filter(|a| matches!(a, Nonza::Resumed(_)))
            .count();
        assert_eq!(won, 1, "round {round}: {answers:?}");
        let failed = answers
            .iter()
            .find_map(|a| match a {
                Nonza::Failed(f) => Some(f.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("round {round}: {answers:?}"));
        // As for an unknown SM-ID: item-not-found, and no `h`.
        assert_eq!(
            failed,
            xmpp_sm::elements::Failed::new(
                Namespace::Sm3,
                xmpp_parsers::stanza_error::DefinedCondition::ItemNotFound
            ),
            "round {round}"
        );
        on_a.close();
        on_b.close();
    }
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn an_expired_session_is_handed_back_once_on_one_node() {
    let c = cluster();
    let mut alice = enabled_for(&c.a, "alice", "phone", 2);
    let id = sm_id(&alice);
    cut_into_redis(&c.a, &mut alice);
    let mut bob = enabled(&c.b, "bob", "desk");
    bob.send(chat(ALICE, "late")).unwrap();
    bob.request_ack().unwrap();
    bob.pump_until(T, "node b handled it", |d| d.sm().unacked() == 0)
        .unwrap();
    // Both nodes sweep every second; one of them takes the expired record.
    let expired = format!("{id} expired in redis");
    let deadline = deadline_in(T);
    let mut at = Vec::new();
    while remaining(deadline).is_some() && at.is_empty() {
        std::thread::sleep(Duration::from_millis(200));
        at = [("a", &c.a), ("b", &c.b)]
            .into_iter()
            .filter(|(_, n)| n.trace().iter().any(|l| l.contains(&expired)))
            .map(|(name, _)| name)
            .collect();
    }
    std::thread::sleep(Duration::from_millis(2500)); // two more sweeps each
    let count = |n: &ExampleServer| n.trace().iter().filter(|l| l.contains(&expired)).count();
    assert_eq!(count(&c.a) + count(&c.b), 1, "expired on {at:?}");
    // A late resume anywhere fails, with the `h` the session ended with.
    let (mut late, _) = login(&c.b, "alice");
    raw_resume(&mut late, &id);
    let Nonza::Failed(failed) = sm_answer(&mut late) else {
        panic!("a late resume succeeded");
    };
    assert_eq!(failed.h, Some(0));
    late.close();
    // The stanza waits offline on the node that expired it.
    let node = if at == ["a"] { &c.a } else { &c.b };
    let got = messages_at_login(node, "alice", "laptop", Duration::from_secs(3));
    assert_eq!(body_counts(&got), once(&["late"]));
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn resume_latency_on_the_other_node_against_the_same_node() {
    let c = cluster();
    let rounds = 20;
    let mut same = Vec::new();
    let mut other = Vec::new();
    let mut alice = enabled(&c.a, "alice", "phone");
    for round in 0..rounds * 2 {
        // Alternate, so both kinds see the same machine load.
        let cross = round % 2 == 1;
        cut_into_redis(&c.a, &mut alice);
        let node = if cross { &c.b } else { &c.a };
        let (conn, _) = login(node, "alice");
        alice.attach(conn);
        let started = stopwatch();
        let resumed = alice.resume(T).unwrap();
        let took = started.elapsed();
        assert!(
            matches!(resumed, ClientEvent::Resumed { .. }),
            "{resumed:?}"
        );
        if cross {
            other.push(took);
            // Back to node a for the next round.
            cut_into_redis(&c.b, &mut alice);
            let (conn, _) = login(&c.a, "alice");
            alice.attach(conn);
            let _ = alice.resume(T).unwrap();
        } else {
            same.push(took);
        }
    }
    same.sort();
    other.sort();
    let (s, o) = (same[same.len() / 2], other[other.len() / 2]);
    println!(
        "resume latency (median of {rounds}): same node {s:?}, other node {o:?}, ratio {:.2}",
        o.as_secs_f64() / s.as_secs_f64()
    );
}

#[expect(
    clippy::disallowed_methods,
    reason = "a test measures how long a real resume takes"
)]
fn stopwatch() -> Instant {
    Instant::now()
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn live_streams_on_two_nodes_talk_and_a_take_over_across_nodes_loses_nothing() {
    let c = cluster();
    // Live on different nodes: published to the other node's channel, both ways. Then
    // Alice's client gives the connection up, but it stays open: node a still has a live
    // stream and writes b2, b3 into it.
    let (mut bob, mut alice, mut at_alice, mut old) = alice_away_on_a(&c, &["b2", "b3"]);

    // She resumes on node b: node a hands the session over through Redis.
    let resumed = resume(&c.b, "alice", &mut alice);
    assert!(
        matches!(resumed, ClientEvent::Resumed { .. }),
        "{resumed:?}"
    );
    alice
        .pump_until(T, "b2, b3 on the new stream", |d| d.stanzas().len() == 2)
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", c.b.transcript(), c.a.transcript()));
    at_alice.extend(alice.take_stanzas());
    let (on_old, ended) = drain_raw(&mut old, T);
    assert!(ended, "the old stream did not end: {on_old:?}");
    let conflict = on_old.iter().any(|el| {
        el.name() == "error"
            && el.has_child("conflict", xmpp_tether_testkit::client::NS_STREAM_ERRORS)
    });
    assert!(conflict, "no conflict on the old stream: {on_old:?}");

    // Both on node b now.
    alice.send(chat(BOB, "a2")).unwrap();
    bob.pump_until(T, "a2 at bob", |d| d.stanzas().len() == 2)
        .unwrap_or_else(|e| panic!("{e}\n{}", c.b.transcript()));
    bob.send(chat(ALICE, "b4")).unwrap();
    alice
        .pump_until(T, "b4 at alice", |d| d.stanzas().len() == 1)
        .unwrap();
    at_alice.extend(alice.take_stanzas());
    bob.pump_for(Duration::from_millis(300)).unwrap();
    assert_eq!(body_counts(&at_alice), once(&["b1", "b2", "b3", "b4"]));
    assert_eq!(body_counts(&bob.take_stanzas()), once(&["a1", "a2"]));
}
