//! Push registrations in the example server's cluster mode (`examples/server/cluster/push.rs`):
//! a redis-server started here on 127.0.0.1 (killed by pid) and two nodes sharing it, the push
//! service (our `xmpp_push0::AppServer`) attached as a component to node `b` only.
//!
//! alice enables XEP-0357 on node `a` and goes offline; bob, on node `b`, writes to her: node
//! `b` never saw the enable, and pushes. alice then disables on node `a`, and node `b` stops.
//! The same with Push 2.0 (xmpp-push2's `PushService` as the component, the phone's keys
//! opening what node `b` encrypted for a registration it learnt from Redis). And a session
//! hibernated into Redis by node `a`: a message for it routed at node `b` is appended to its
//! record there, pushed by node `b` to the registration enabled from that session, and
//! delivered once on resumption.

#[allow(dead_code, reason = "these tests use part of the shared helpers")]
mod cluster_common;
#[allow(dead_code, reason = "these tests use part of the shared helpers")]
mod push_common;
#[allow(dead_code, reason = "these tests use part of the shared helpers")]
mod sm_common;

use std::time::Duration;

use cluster_common::{Cluster, cluster_with};
use jid::{BareJid, Jid};
use minidom::Element;
use push_common::{COMPONENT, COMPONENT_SECRET, push0_enable_iq, push2_enable_iq};
use sm_common::{T, enabled, resume};
use xmpp_sm::ClientEvent;
use xmpp_tether::push0::{AppEvent, AppServer, AppServerConfig, Monotonic, Now};
use xmpp_tether::push2::client::{self as push2_client, ClientKeys};
use xmpp_tether::push2::service::{PushService, ServiceConfig, ServiceTransmit};
use xmpp_tether_testkit::client::Connection;
use xmpp_tether_testkit::component::Component;
use xmpp_tether_testkit::example_server::ExampleServer;
use xmpp_tether_testkit::stanza::chat;
use xmpp_tether_testkit::{deadline_in, remaining, system_now};

const ALICE: &str = "alice@localhost";

fn now() -> Now {
    // The app server only reads the wall clock.
    Now::new(Monotonic::ZERO, system_now())
}

fn rng() -> rand_chacha::ChaCha20Rng {
    let mut seed = [0; 32];
    getrandom::fill(&mut seed).expect("the OS random source");
    rand_core::SeedableRng::from_seed(seed)
}

/// `user` logged in on `node` and bound to `resource`.
fn client(node: &ExampleServer, user: &str, resource: &str) -> Connection {
    let bare: BareJid = format!("{user}@localhost").parse().expect("a JID");
    let (mut conn, _) = Connection::login(node.addr(), &bare, &format!("{user}-pass"), T)
        .unwrap_or_else(|e| panic!("{user}'s login: {e}\n{}", node.transcript()));
    conn.bind(Some(resource), T).expect("bound");
    conn
}

/// Sends the iq and waits for its answer's type.
fn iq(conn: &mut Connection, node: &ExampleServer, xml: &str) -> String {
    let iq: Element = xml.parse().expect("test XML");
    let id = iq.attr("id").unwrap_or_default().to_owned();
    conn.send(&iq).expect("sent");
    let deadline = deadline_in(T);
    while remaining(deadline).is_some() {
        let el = conn.recv_element(T, "the iq's answer").expect("an answer");
        if el.name() == "iq" && el.attr("id") == Some(&id) {
            return el.attr("type").unwrap_or_default().to_owned();
        }
    }
    panic!("no answer to {xml}\n{}", node.transcript())
}

/// How many lines of `node`'s trace contain `what`.
fn count(node: &ExampleServer, what: &str) -> usize {
    node.trace().iter().filter(|l| l.contains(what)).count()
}

/// Waits until `node`'s trace has `n` lines containing `what`.
fn wait_for(node: &ExampleServer, what: &str, n: usize) {
    let deadline = deadline_in(T);
    while count(node, what) < n {
        assert!(
            remaining(deadline).is_some(),
            "{what:?} not {n} times\n{}",
            node.transcript()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Serves the component until a publish arrives, answering through the app server;
/// returns the publish's node. `None` when none comes within `wait`.
fn next_publish(push: &mut Component, app: &mut AppServer, wait: Duration) -> Option<String> {
    let deadline = deadline_in(wait);
    while let Some(left) = remaining(deadline) {
        let Some(stanza) = push.recv(left).expect("the component stream") else {
            continue;
        };
        let _ = app.handle_stanza(now(), &stanza);
        while let Some(answer) = app.poll_transmit() {
            push.send(&answer.element).expect("answer the publish");
        }
        while let Some(event) = app.poll_event() {
            if let AppEvent::Notification(n) = event {
                return Some(n.node);
            }
        }
    }
    None
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn a_node_that_did_not_see_the_enable_pushes_and_stops_after_a_disable_elsewhere() {
    let c = cluster_with(&["alice", "bob"], |o| {
        o.component(COMPONENT, COMPONENT_SECRET)
    });
    let addr = c.b.component_addr().expect("node b's component port");
    let mut push = Component::connect(addr, COMPONENT, COMPONENT_SECRET, T)
        .unwrap_or_else(|e| panic!("the component could not attach: {e}"));
    let component: Jid = COMPONENT.parse().expect("a JID");
    let mut app = AppServer::new(component, AppServerConfig::default());
    let node = app.create_node(now(), &mut rng(), "alice's phone");
    let secret = node.secret.as_str();

    let shared = "alice@localhost's push0 registrations from another node";
    let mut alice = client(&c.a, "alice", "phone");
    let enable = push0_enable_iq(&node.node, secret);
    assert_eq!(iq(&mut alice, &c.a, &enable), "result");
    wait_for(&c.b, shared, 1);
    alice.close();

    let mut bob = client(&c.b, "bob", "desk");
    bob.send(&chat(ALICE, "are you there?")).expect("bob sends");
    let pushed = next_publish(&mut push, &mut app, T);
    assert_eq!(
        pushed.as_deref(),
        Some(node.node.as_str()),
        "node b pushes for a registration made on node a\n{}",
        c.b.transcript()
    );

    // Disabled on node a: node b learns it, and the next message is not pushed.
    let mut alice = client(&c.a, "alice", "phone");
    let disable = format!(
        "<iq xmlns='jabber:client' type='set' id='disable1'>\
         <disable xmlns='urn:xmpp:push:0' jid='{COMPONENT}' node='{}'/></iq>",
        node.node
    );
    assert_eq!(iq(&mut alice, &c.a, &disable), "result");
    wait_for(&c.b, shared, 2);
    alice.close();
    bob.send(&chat(ALICE, "still there?")).expect("bob sends");
    assert_eq!(
        next_publish(&mut push, &mut app, Duration::from_secs(2)),
        None,
        "no push after the disable\n{}",
        c.b.transcript()
    );
}

/// Serves the component as a Push 2.0 push service until a notification arrives; returns
/// the message body the phone's keys decrypt from it. `None` when none comes within `wait`.
fn next_notification(
    push: &mut Component,
    service: &mut PushService,
    keys: &ClientKeys,
    wait: Duration,
) -> Option<String> {
    let deadline = deadline_in(wait);
    while let Some(left) = remaining(deadline) {
        let Some(stanza) = push.recv(left).expect("the component stream") else {
            continue;
        };
        let _ = service
            .handle_stanza(now(), &stanza)
            .unwrap_or_else(|e| panic!("a notification the service refused: {e}"));
        if let Some(ServiceTransmit::Request { request, .. }) = service.poll_transmit() {
            let envelope = push2_client::open_body(&keys.ua, request.body())
                .unwrap_or_else(|e| panic!("the phone cannot open it: {e}"));
            return envelope.forwarded.message.bodies.values().next().cloned();
        }
    }
    None
}

/// Two nodes with alice and bob, a Push 2.0 service attached to node b as a component, and
/// the keys of alice's client.
fn push2_on_b() -> (Cluster, Component, PushService, ClientKeys) {
    let c = cluster_with(&["alice", "bob"], |o| {
        o.component(COMPONENT, COMPONENT_SECRET)
    });
    let addr = c.b.component_addr().expect("node b's component port");
    let push = Component::connect(addr, COMPONENT, COMPONENT_SECRET, T)
        .unwrap_or_else(|e| panic!("the component could not attach: {e}"));
    let service = PushService::new(ServiceConfig::default());
    let keys = ClientKeys::generate(&mut rng()).expect("client keys");
    (c, push, service, keys)
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn push2_a_node_that_did_not_see_the_enable_notifies_and_stops_after_a_disable_elsewhere() {
    let (c, mut push, mut service, keys) = push2_on_b();

    let shared = "alice@localhost's push2 registrations from another node";
    let mut alice = client(&c.a, "alice", "phone");
    let enable = push2_enable_iq(&keys, "");
    assert_eq!(iq(&mut alice, &c.a, &enable), "result");
    wait_for(&c.b, shared, 1);
    alice.close();

    let mut bob = client(&c.b, "bob", "desk");
    bob.send(&chat(ALICE, "are you there?")).expect("bob sends");
    assert_eq!(
        next_notification(&mut push, &mut service, &keys, T).as_deref(),
        Some("are you there?"),
        "node b notifies for a registration made on node a\n{}",
        c.b.transcript()
    );

    let mut alice = client(&c.a, "alice", "phone");
    let disable = "<iq xmlns='jabber:client' type='set' id='push2-2'>\
                   <disable xmlns='urn:xmpp:push2:0'/></iq>";
    assert_eq!(iq(&mut alice, &c.a, disable), "result");
    wait_for(&c.b, shared, 2);
    alice.close();
    bob.send(&chat(ALICE, "still there?")).expect("bob sends");
    assert_eq!(
        next_notification(&mut push, &mut service, &keys, Duration::from_secs(2)),
        None,
        "no notification after the disable\n{}",
        c.b.transcript()
    );
}

/// Push 2.0 on node b sees alice's session on node a (from the shared presence and the
/// `live:` key): while she is live there, a message routed through b is not pushed; once her
/// session ended, it is.
#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn push2_a_user_live_on_another_node_is_not_notified() {
    let (c, mut push, mut service, keys) = push2_on_b();

    let mut alice = client(&c.a, "alice", "phone");
    let enable = push2_enable_iq(&keys, "");
    assert_eq!(iq(&mut alice, &c.a, &enable), "result");
    wait_for(
        &c.b,
        "alice@localhost's push2 registrations from another node",
        1,
    );
    let presence = Element::builder("presence", "jabber:client").build();
    alice.send(&presence).expect("sent");
    wait_for(&c.b, "alice@localhost/phone available on another node", 1);

    let mut bob = client(&c.b, "bob", "desk");
    bob.send(&chat(ALICE, "live elsewhere")).expect("bob sends");
    let got = alice
        .recv_element(T, "bob's message")
        .unwrap_or_else(|e| panic!("{e}\n{}", c.b.transcript()));
    assert!(got.is("message", "jabber:client"), "{got:?}");
    assert_eq!(
        next_notification(&mut push, &mut service, &keys, Duration::from_secs(2)),
        None,
        "node b pushed to a user live on node a\n{}",
        c.b.transcript()
    );

    alice.close();
    wait_for(&c.b, "alice@localhost/phone unavailable on another node", 1);
    bob.send(&chat(ALICE, "gone now")).expect("bob sends");
    assert_eq!(
        next_notification(&mut push, &mut service, &keys, T).as_deref(),
        Some("gone now"),
        "offline everywhere: pushed\n{}",
        c.b.transcript()
    );
}

/// A node other than the one that hibernated the session appends to it and pushes, and its
/// push ends the extended hibernation in Redis, though the extension is in the other node's
/// registry.
#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn a_session_hibernated_in_redis_is_pushed_by_the_node_that_appends_to_it() {
    hibernated_and_pushed(false);
}

/// The node that hibernated the session pushes too, and its first push ends the session's
/// extended hibernation (XEP-0357 practice) in Redis.
#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn the_first_push_ends_the_extended_hibernation_held_in_redis() {
    hibernated_and_pushed(true);
}

/// alice's phone enables push on node a and is cut (its session goes to Redis, extended
/// until its first push); bob writes to it on node a (`same_node`) or b, where the push
/// service is attached; the phone resumes on node b and gets the message once.
fn hibernated_and_pushed(same_node: bool) {
    let c = cluster_with(&["alice", "bob"], |o| {
        o.component(COMPONENT, COMPONENT_SECRET)
    });
    let pusher = if same_node { &c.a } else { &c.b };
    let addr = pusher.component_addr().expect("the component port");
    let mut push = Component::connect(addr, COMPONENT, COMPONENT_SECRET, T)
        .unwrap_or_else(|e| panic!("the component could not attach: {e}"));
    let component: Jid = COMPONENT.parse().expect("a JID");
    let mut app = AppServer::new(component, AppServerConfig::default());
    let node = app.create_node(now(), &mut rng(), "alice's phone");

    // alice's phone, with stream management, enables push from its session on node a.
    let mut alice = enabled(&c.a, "alice", "phone");
    let enable: Element = push0_enable_iq(&node.node, node.secret.as_str())
        .parse()
        .expect("test XML");
    alice.send(enable).expect("sent");
    alice
        .pump_until(T, "the enable's result", |d| {
            d.stanzas().iter().any(|s| s.attr("id") == Some("enable1"))
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", c.a.transcript()));
    wait_for(
        &c.b,
        "alice@localhost's push0 registrations from another node",
        1,
    );
    let _ = alice.take_stanzas();
    // Cut: node a hibernates the session into Redis (kept until its first push).
    alice.cut();
    wait_for(&c.a, "hibernated into redis", 1);
    wait_for(
        &c.a,
        "alice@localhost/phone hibernated, kept until its first push",
        1,
    );

    let mut bob = client(pusher, "bob", "desk");
    bob.send(&chat("alice@localhost/phone", "wake up"))
        .expect("bob sends");
    wait_for(
        pusher,
        "a stanza for alice@localhost/phone appended in redis",
        1,
    );
    assert_eq!(
        next_publish(&mut push, &mut app, T).as_deref(),
        Some(node.node.as_str()),
        "the node that appended pushes\n{}",
        pusher.transcript()
    );
    // The push ended the extension in Redis, whichever node sent it.
    wait_for(pusher, "alice@localhost/phone's deadline moved in redis", 1);

    // The phone wakes up and resumes on node b: the message, once.
    assert!(matches!(
        resume(&c.b, "alice", &mut alice),
        ClientEvent::Resumed { .. }
    ));
    alice
        .pump_until(T, "the message", |d| !d.stanzas().is_empty())
        .unwrap_or_else(|e| panic!("{e}\n{}", c.b.transcript()));
    alice.pump_for(Duration::from_millis(300)).expect("pumped");
    let bodies: Vec<String> = alice
        .take_stanzas()
        .iter()
        .filter_map(|s| s.get_child("body", "jabber:client").map(Element::text))
        .collect();
    assert_eq!(bodies, ["wake up"]);
}
