//! Sessions of the example server (`examples/server/`) that outlive their connection:
//!
//! - a take-over with the old stream still open (half-open TCP: the client gave the
//!   connection up, the server does not know): the client resumes on a new connection, the old
//!   connection gets the `conflict` stream error, and every stanza the old stream held —
//!   including the ones routed to it after it went quiet — arrives exactly once on the new
//!   stream (XEP-0198 §5);
//! - persistence across a restart: a session hibernates, a stanza for it is queued, the server
//!   is stopped with SIGTERM (it writes `--state`), started again on the same state file, and
//!   the client resumes and gets the stanza exactly once; a stream that was live at the stop
//!   is hibernated and resumable too;
//! - `--sm-location`: `<enabled/>` names where to resume, for deployments with sticky nodes.
//!
//! The clients are the testkit's `SmDriver` (our `xmpp_sm::Client`, which can abandon a
//! connection and keep it open) and slixmpp 1.17 (`tests/peers/sm_peer.py`).

mod sm_common;

use std::collections::BTreeMap;
use std::time::Duration;

use sm_common::{T, drain_raw, enabled, once, resume};
use xmpp_sm::ClientEvent;
use xmpp_tether_testkit::client::NS_STREAM_ERRORS;
use xmpp_tether_testkit::example_server::{ExampleServer, ServerOptions};
use xmpp_tether_testkit::slixmpp::Script;
use xmpp_tether_testkit::stanza::{body_counts, chat};
use xmpp_tether_testkit::xml::NS_STREAMS;

const ALICE: &str = "alice@localhost/phone";
const BOB: &str = "bob@localhost/desk";

fn server() -> ExampleServer {
    let opts = ServerOptions::default()
        .account("alice", "alice-pass")
        .account("bob", "bob-pass");
    ExampleServer::start(&opts).unwrap_or_else(|e| panic!("starting the example server: {e}"))
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn take_over_with_the_old_stream_still_open_conflict_and_nothing_lost() {
    let server = server();
    let mut bob = enabled(&server, "bob", "desk");
    let mut alice = enabled(&server, "alice", "phone");

    // Stanzas routed to alice's stream and handled by her; one of hers to bob.
    bob.send(chat(ALICE, "b1")).unwrap();
    bob.send(chat(ALICE, "b2")).unwrap();
    alice
        .pump_until(T, "b1, b2 at alice", |d| d.stanzas().len() == 2)
        .unwrap();
    alice.send(chat(BOB, "a1")).unwrap();
    bob.pump_until(T, "a1 at bob", |d| d.stanzas().len() == 1)
        .unwrap();
    let mut at_alice = alice.take_stanzas();

    // Alice's client gives the connection up, but it stays open and unread: the server still
    // has a live stream, and writes b3, b4 into it.
    let mut old = alice.abandon().expect("alice had a connection");
    bob.send(chat(ALICE, "b3")).unwrap();
    bob.send(chat(ALICE, "b4")).unwrap();
    server
        .wait_for_trace(T, "b4 written to alice's old stream", |l| {
            l.contains(" S: <message ")
                && l.contains(&format!("to='{ALICE}'"))
                && l.contains("<body>b4</body>")
        })
        .unwrap();

    // She resumes on a new connection: the server takes the session over from the old stream.
    let resumed = resume(&server, "alice", &mut alice);
    assert!(
        matches!(resumed, ClientEvent::Resumed { .. }),
        "{resumed:?}"
    );
    alice
        .pump_until(T, "b3, b4 on the new stream", |d| d.stanzas().len() == 2)
        .unwrap_or_else(|e| panic!("{e}\n{}", server.transcript()));
    at_alice.extend(alice.take_stanzas());

    // The old connection gets `conflict`, then the stream ends. b3 and b4 were written there
    // too, but her client never handled them.
    let (on_old, ended) = drain_raw(&mut old, T);
    assert!(ended, "the old stream did not end: {on_old:?}");
    let error = on_old
        .iter()
        .find(|el| el.is("error", NS_STREAMS))
        .unwrap_or_else(|| panic!("no stream error on the old stream: {on_old:?}"));
    assert!(
        error.has_child("conflict", NS_STREAM_ERRORS),
        "{}",
        String::from(error)
    );
    assert_eq!(body_counts(&on_old), once(&["b3", "b4"]));

    // The resumed stream goes on, both ways.
    bob.send(chat(ALICE, "b5")).unwrap();
    alice.send(chat(BOB, "a2")).unwrap();
    alice
        .pump_until(T, "b5 at alice", |d| d.stanzas().len() == 1)
        .unwrap();
    bob.pump_until(T, "a2 at bob", |d| d.stanzas().len() == 2)
        .unwrap();
    alice.request_ack().unwrap();
    bob.request_ack().unwrap();
    alice
        .pump_until(T, "alice's stanzas acknowledged", |d| d.sm().unacked() == 0)
        .unwrap();
    bob.pump_until(T, "bob's stanzas acknowledged", |d| d.sm().unacked() == 0)
        .unwrap();
    bob.pump_for(Duration::from_millis(200)).unwrap();
    alice.pump_for(Duration::from_millis(200)).unwrap();
    at_alice.extend(alice.take_stanzas());

    assert_eq!(
        body_counts(&at_alice),
        once(&["b1", "b2", "b3", "b4", "b5"]),
        "{}",
        server.transcript()
    );
    assert_eq!(body_counts(&bob.take_stanzas()), once(&["a1", "a2"]));
    for events in [alice.events(), bob.events()] {
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, ClientEvent::HandedBack { .. })),
            "{events:?}"
        );
    }
    old.close();
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
fn hibernated_sessions_survive_a_restart_and_resume_exactly_once() {
    let mut server = server();
    let mut bob = enabled(&server, "bob", "desk");
    let addr = server.addr();
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
    alice.expect_line("ENABLED", T).unwrap();
    let slix = "alice@localhost/slix";

    alice.send_line(&format!("send {BOB} a1")).unwrap();
    bob.pump_until(T, "a1 at bob", |d| d.stanzas().len() == 1)
        .unwrap();
    alice.send_line("settle").unwrap();
    alice.expect_line("SETTLED", T).unwrap();

    // Alice's connection drops; b1 waits for her in the hibernated session.
    alice.send_line("abort").unwrap();
    alice.expect_line("DISCONNECTED", T).unwrap();
    bob.send(chat(slix, "b1")).unwrap();
    bob.request_ack().unwrap();
    bob.pump_until(T, "the server handled b1", |d| d.sm().unacked() == 0)
        .unwrap();

    // A graceful stop: every stream hibernates (bob's too) and the store goes to disk.
    server
        .terminate(T)
        .unwrap_or_else(|e| panic!("stopping the server: {e}"));
    let saved = std::fs::read_to_string(server.state_path()).unwrap();
    assert!(
        saved.contains("<body>b1</body>"),
        "b1 is not in the state file:\n{saved}"
    );
    let bob_gone = bob.pump_until(T, "the end of bob's stream", |_| false);
    assert!(bob_gone.is_err(), "bob's stream outlived the server");

    // The same state file on the next start: both sessions come back.
    server.start_again().unwrap();
    assert_eq!(server.restored(), 2, "{}", server.transcript());
    assert_eq!(server.addr(), addr, "same port, so slixmpp finds it");

    alice.send_line("connect").unwrap();
    alice
        .expect_line("RESUMED", T)
        .unwrap_or_else(|e| panic!("{e}\n{}", server.transcript()));
    alice
        .wait_until(T, "b1 at slixmpp", |l| received(l).len() == 1)
        .unwrap_or_else(|e| panic!("{e}\n{}", server.transcript()));
    let resumed = resume(&server, "bob", &mut bob);
    assert!(
        matches!(resumed, ClientEvent::Resumed { .. }),
        "{resumed:?}"
    );

    // Both resumed streams work after the restart.
    bob.send(chat(slix, "b2")).unwrap();
    alice.send_line(&format!("send {BOB} a2")).unwrap();
    bob.pump_until(T, "a2 at bob", |d| d.stanzas().len() == 2)
        .unwrap_or_else(|e| panic!("{e}\n{}", server.transcript()));
    alice
        .wait_until(T, "b2 at slixmpp", |l| received(l).len() == 2)
        .unwrap();
    alice.send_line("settle").unwrap();
    assert_eq!(alice.expect_line("SETTLED", T).unwrap(), "2 2");
    bob.pump_for(Duration::from_millis(300)).unwrap();
    alice.send_line("quit").unwrap();
    alice.finish(T).unwrap();

    assert_eq!(
        received(alice.seen()),
        once(&["b1", "b2"]),
        "{}",
        alice.transcript()
    );
    assert_eq!(body_counts(&bob.take_stanzas()), once(&["a1", "a2"]));
    assert_eq!(
        alice
            .seen()
            .iter()
            .filter(|l| l.starts_with("RESUMED"))
            .count(),
        1
    );
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn sm_location_is_offered_on_enabled_and_resuming_there_works() {
    let opts = ServerOptions::default()
        .account("alice", "alice-pass")
        .arg("--sm-location")
        .arg("127.0.0.1:5222");
    let server =
        ExampleServer::start(&opts).unwrap_or_else(|e| panic!("starting the example server: {e}"));
    let mut alice = enabled(&server, "alice", "phone");
    let location = alice.events().iter().find_map(|e| match e {
        ClientEvent::Enabled { location, .. } => Some(location.clone()),
        _ => None,
    });
    assert_eq!(
        location,
        Some(Some("127.0.0.1:5222".to_owned())),
        "{}",
        server.transcript()
    );
    alice.cut();
    assert!(matches!(
        resume(&server, "alice", &mut alice),
        ClientEvent::Resumed { .. }
    ));
}
