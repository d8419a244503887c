//! Presence shared between the cluster's nodes (`examples/server/cluster/presence.rs`):
//! redis-server and two nodes on loopback, as in `server_cluster.rs`.
//!
//! - a message to a bare JID taken on node `b` reaches the account's resource on node `a`,
//!   also after `b` restarts (it loads the shared presence);
//! - while that resource's session is hibernated in Redis, a message to the bare JID joins
//!   its queue (as on one node), and comes out once when it resumes on the other node;
//! - a resource whose session ended leaves every node's map: a message to the bare JID then
//!   waits offline;
//! - a node that dies: the resources it had shared go unavailable on the others.

#[allow(dead_code, reason = "these tests use part of the shared helpers")]
mod cluster_common;
#[allow(dead_code, reason = "these tests use part of the shared helpers")]
mod sm_common;

use std::time::Duration;

use cluster_common::{cluster, messages_at_login, sm_id};
use minidom::Element;
use sm_common::{T, enabled, login, once, resume};
use xmpp_sm::ClientEvent;
use xmpp_tether_testkit::client::SmDriver;
use xmpp_tether_testkit::example_server::ExampleServer;
use xmpp_tether_testkit::stanza::{body_counts, chat};

const ALICE: &str = "alice@localhost";

fn presence() -> Element {
    Element::builder("presence", "jabber:client").build()
}

/// Waits until `node` took `what` about `jid` from another node.
fn learns(node: &ExampleServer, jid: &str, what: &str) {
    let line = format!("{jid} {what} on another node");
    node.wait_for_trace(T, &line, |l| l.contains(&line))
        .unwrap();
}

/// Alice on node `a` with initial presence, known to node `b`.
fn alice_available_on_a(a: &ExampleServer, b: &ExampleServer) -> SmDriver {
    let mut alice = enabled(a, "alice", "phone");
    alice.send(presence()).unwrap();
    learns(b, "alice@localhost/phone", "available");
    alice
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn a_message_to_a_bare_jid_reaches_the_resource_on_the_other_node() {
    let mut c = cluster();
    let mut alice = alice_available_on_a(&c.a, &c.b);
    let mut bob = enabled(&c.b, "bob", "desk");
    bob.send(chat(ALICE, "m1")).unwrap();
    alice
        .pump_until(T, "m1 at alice", |d| {
            body_counts(d.stanzas()).contains_key("m1")
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", c.b.transcript()));
    // A node started later loads what the others shared.
    drop(bob);
    c.b.terminate(T).unwrap();
    c.b.start_again().unwrap();
    let mut bob = enabled(&c.b, "bob", "desk");
    bob.send(chat(ALICE, "m2")).unwrap();
    alice
        .pump_until(T, "m2 at alice", |d| {
            body_counts(d.stanzas()).contains_key("m2")
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", c.b.transcript()));
    alice.pump_for(Duration::from_millis(300)).unwrap();
    assert_eq!(body_counts(&alice.take_stanzas()), once(&["m1", "m2"]));
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn a_bare_jid_message_joins_the_session_hibernated_in_redis_and_leaves_with_it() {
    let c = cluster();
    let mut alice = alice_available_on_a(&c.a, &c.b);
    let id = sm_id(&alice);
    let line = format!("{id} hibernated into redis");
    alice.cut();
    c.a.wait_for_trace(T, &line, |l| l.contains(&line)).unwrap();
    let mut bob = enabled(&c.b, "bob", "desk");
    bob.send(chat(ALICE, "while away")).unwrap();
    c.b.wait_for_trace(T, "appended in redis", |l| {
        l.contains("a stanza for alice@localhost/phone appended in redis")
    })
    .unwrap();
    let resumed = resume(&c.b, "alice", &mut alice);
    assert!(
        matches!(resumed, ClientEvent::Resumed { .. }),
        "{resumed:?}"
    );
    alice
        .pump_until(T, "the message", |d| !d.stanzas().is_empty())
        .unwrap_or_else(|e| panic!("{e}\n{}", c.b.transcript()));
    alice.pump_for(Duration::from_millis(300)).unwrap();
    assert_eq!(body_counts(&alice.take_stanzas()), once(&["while away"]));

    // Her session ends on node b: node a forgets the resource too, and a message to the
    // bare JID taken there waits offline.
    alice.close().unwrap();
    learns(&c.a, "alice@localhost/phone", "unavailable");
    let mut carol = enabled(&c.a, "bob", "laptop");
    carol.send(chat(ALICE, "offline")).unwrap();
    carol.request_ack().unwrap();
    carol
        .pump_until(T, "node a handled it", |d| d.sm().unacked() == 0)
        .unwrap();
    let got = messages_at_login(&c.a, "alice", "laptop", Duration::from_secs(2));
    assert_eq!(body_counts(&got), once(&["offline"]));
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn a_dead_nodes_resources_go_unavailable_everywhere() {
    let mut c = cluster();
    // Alice's laptop, without stream management, available on node a.
    let (mut laptop, _) = login(&c.a, "alice");
    laptop.bind(Some("laptop"), T).unwrap();
    laptop.send(&presence()).unwrap();
    learns(&c.b, "alice@localhost/laptop", "available");
    c.a.kill();
    drop(laptop);
    // Node b's sweep finds node a's instance dead (its `alive:` key lives 5 s).
    c.b.wait_for_trace(Duration::from_secs(20), "the dead node's resource", |l| {
        l.contains("alice@localhost/laptop's node is gone: unavailable")
    })
    .unwrap();
    // A message to the bare JID now waits offline, and the laptop's next login on node b is
    // initial presence again, which delivers it (a stale entry would have hidden both).
    let mut bob = enabled(&c.b, "bob", "desk");
    bob.send(chat(ALICE, "later")).unwrap();
    bob.request_ack().unwrap();
    bob.pump_until(T, "node b handled it", |d| d.sm().unacked() == 0)
        .unwrap();
    let got = messages_at_login(&c.b, "alice", "laptop", Duration::from_secs(2));
    assert_eq!(body_counts(&got), once(&["later"]));
}
