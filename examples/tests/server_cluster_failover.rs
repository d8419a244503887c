//! The cluster mode when a node fails with streams still open (`cluster/checkpoint.rs`):
//! redis-server and two nodes on loopback, as in `server_cluster.rs`.
//!
//! - node `a` SIGKILLed with Alice's stream open and stanzas on it she did not acknowledge:
//!   her `<resume/>` on node `b` falls back to `a`'s last checkpoint, every stanza arrives
//!   exactly once, and `b` reports the gap;
//! - node `a` hung (SIGSTOP) in the middle of the take-over: `b` waits the hand-over time,
//!   falls back, and when `a` wakes up its old stream is fenced: `conflict`, and nothing it
//!   held is lost (handed back there);
//! - node `a` killed and Alice never back: its checkpoint is found orphaned by `b`,
//!   hibernates there, and expires once, with its stanza stored offline.

#[allow(dead_code, reason = "these tests use part of the shared helpers")]
mod cluster_common;
#[allow(dead_code, reason = "these tests use part of the shared helpers")]
mod sm_common;

use std::process::Command;
use std::time::Duration;

use cluster_common::{alice_away_on_a, cluster, enabled_for, messages_at_login, sm_id};
use sm_common::{T, drain_raw, enabled, once, resume};
use xmpp_sm::ClientEvent;
use xmpp_tether_testkit::client::NS_STREAM_ERRORS;
use xmpp_tether_testkit::example_server::ExampleServer;
use xmpp_tether_testkit::stanza::{body_counts, chat};

const ALICE: &str = "alice@localhost/phone";
const BOB: &str = "bob@localhost/desk";

/// Sends a signal (`STOP`, `CONT`) to the node's process.
fn signal(node: &ExampleServer, name: &str) {
    let pid = node.pid().expect("the node runs");
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("kill(1)");
    assert!(status.success(), "kill -{name} {pid}");
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn a_node_killed_with_the_stream_open_resumes_from_its_checkpoint_exactly_once() {
    let mut c = cluster();
    let (mut bob, mut alice, mut at_alice, old) = alice_away_on_a(&c, &["b2", "b3"]);
    c.a.kill(); // SIGKILL: nothing more is written by node a
    drop(old);
    let resumed = resume(&c.b, "alice", &mut alice);
    assert!(
        matches!(resumed, ClientEvent::Resumed { .. }),
        "{resumed:?}"
    );
    alice
        .pump_until(T, "b2, b3 on the new stream", |d| d.stanzas().len() == 2)
        .unwrap_or_else(|e| panic!("{e}\n{}", c.b.transcript()));
    at_alice.extend(alice.take_stanzas());
    // The gap is reported, not hidden.
    c.b.wait_for_trace(T, "the gap report", |l| {
        l.contains("resumed from a checkpoint") && l.contains("acknowledged 0 stanza(s)")
    })
    .unwrap();
    // The fence that the fall-back left is this node's: its own stream's first checkpoint
    // of the session is not refused.
    assert!(
        !c.b.trace().iter().any(|l| l.contains("this stream ends")),
        "{}",
        c.b.transcript()
    );
    alice.send(chat(BOB, "a2")).unwrap();
    bob.pump_until(T, "a2 at bob", |d| d.stanzas().len() == 2)
        .unwrap_or_else(|e| panic!("{e}\n{}", c.b.transcript()));
    alice.pump_for(Duration::from_millis(300)).unwrap();
    at_alice.extend(alice.take_stanzas());
    assert_eq!(body_counts(&at_alice), once(&["b1", "b2", "b3"]));
    assert_eq!(body_counts(&bob.take_stanzas()), once(&["a1", "a2"]));
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn a_node_hung_in_the_take_over_is_fenced_and_nothing_is_lost() {
    let c = cluster();
    let (mut bob, mut alice, mut at_alice, mut old) = alice_away_on_a(&c, &["b2"]);
    signal(&c.a, "STOP");
    let resumed = resume(&c.b, "alice", &mut alice);
    assert!(
        matches!(resumed, ClientEvent::Resumed { .. }),
        "{resumed:?}\n{}",
        c.b.transcript()
    );
    assert!(
        c.b.trace()
            .iter()
            .any(|l| l.contains("did not hand") || l.contains("checkpoint hibernates")),
        "resumed without a fall-back?\n{}",
        c.b.transcript()
    );
    c.b.wait_for_trace(T, "the gap report", |l| {
        l.contains("resumed from a checkpoint")
    })
    .unwrap();
    alice
        .pump_until(T, "b2 on the new stream", |d| d.stanzas().len() == 1)
        .unwrap_or_else(|e| panic!("{e}\n{}", c.b.transcript()));
    at_alice.extend(alice.take_stanzas());

    // Node a wakes up: its stream of the session is fenced, ends with `conflict`, and what it
    // held is handed back there rather than hibernated a second time.
    signal(&c.a, "CONT");
    c.a.wait_for_trace(T, "the fence", |l| {
        l.contains("was taken over from its checkpoint")
    })
    .unwrap();
    let (on_old, ended) = drain_raw(&mut old, T);
    assert!(ended, "the old stream did not end: {on_old:?}");
    assert!(
        on_old
            .iter()
            .any(|el| el.name() == "error" && el.has_child("conflict", NS_STREAM_ERRORS)),
        "no conflict on the old stream: {on_old:?}"
    );
    // The session lives on at node b.
    bob.send(chat(ALICE, "b3")).unwrap();
    alice
        .pump_until(T, "b3 at alice", |d| d.stanzas().len() == 1)
        .unwrap_or_else(|e| panic!("{e}\n{}", c.b.transcript()));
    alice.pump_for(Duration::from_millis(300)).unwrap();
    at_alice.extend(alice.take_stanzas());
    assert_eq!(body_counts(&at_alice), once(&["b1", "b2", "b3"]));
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn a_dead_nodes_session_expires_once_elsewhere_with_its_stanzas_offline() {
    let mut c = cluster();
    let mut alice = enabled_for(&c.a, "alice", "phone", 2);
    let id = sm_id(&alice);
    let mut bob = enabled(&c.b, "bob", "desk");
    let _old = alice.abandon().expect("alice had a connection");
    bob.send(chat(ALICE, "kept")).unwrap();
    c.a.wait_for_trace(T, "kept written to alice's stream", |l| {
        l.contains(" S: <message ") && l.contains("<body>kept</body>")
    })
    .unwrap();
    c.a.kill();
    // Node a's `alive:` key lives 5 s; then b's sweep hibernates the checkpoint, which
    // expires 2 s later.
    let expired = format!("{id} expired in redis");
    c.b.wait_for_trace(Duration::from_secs(30), "the orphan's expiry", |l| {
        l.contains(&expired)
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(2500)); // two more sweeps
    let count = c.b.trace().iter().filter(|l| l.contains(&expired)).count();
    assert_eq!(count, 1, "expired once");
    // The stanza waits offline on node b.
    let got = messages_at_login(&c.b, "alice", "laptop", Duration::from_secs(3));
    assert_eq!(body_counts(&got), once(&["kept"]));
}
