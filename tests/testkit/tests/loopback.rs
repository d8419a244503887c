//! The test server and the SM driver against each other over loopback TCP: our `Client` and
//! our `Server` with real sockets in between (no external peer needed).

use std::collections::BTreeMap;
use std::time::Duration;

use jid::BareJid;
use xmpp_sm::{ClientConfig, Event};
use xmpp_tether_testkit::client::{ClientError, Connection, SmDriver};
use xmpp_tether_testkit::server::{ServerEvent, TestServer, TestServerConfig};
use xmpp_tether_testkit::stanza::{body_counts as bodies, chat as message};
use xmpp_tether_testkit::xml::StreamEvent;

const T: Duration = Duration::from_secs(10);

fn server() -> TestServer {
    TestServer::start(
        TestServerConfig::default()
            .account("alice", "a-pass")
            .account("bob", "b-pass"),
    )
    .unwrap()
}

fn jid(user: &str) -> BareJid {
    BareJid::new(&format!("{user}@localhost")).unwrap()
}

/// Logs in, binds and enables SM with resumption.
fn online(server: &TestServer, user: &str, pass: &str) -> SmDriver {
    let (mut conn, features) = Connection::login(server.addr(), &jid(user), pass, T).unwrap();
    conn.bind(Some("test"), T).unwrap();
    let mut driver = SmDriver::new(ClientConfig::default());
    driver.attach(conn);
    let enabled = driver.enable(&features, T).unwrap();
    assert!(
        matches!(enabled, Event::Enabled { resume: true, .. }),
        "{enabled:?}"
    );
    driver
}

#[test]
fn wrong_password_is_refused() {
    let server = server();
    let r = Connection::login(server.addr(), &jid("alice"), "nope", T);
    assert!(matches!(r, Err(ClientError::AuthFailed(_))), "{r:?}");
}

#[test]
fn cut_and_resume_delivers_in_flight_stanzas_exactly_once() {
    let server = server();
    let mut alice = online(&server, "alice", "a-pass");
    let mut bob = online(&server, "bob", "b-pass");

    // Before the cut: a round trip each way, acknowledged.
    alice.send(message("bob@localhost", "a1")).unwrap();
    bob.pump_until(T, "a1", |d| !d.stanzas().is_empty())
        .unwrap();
    bob.send(message("alice@localhost", "b1")).unwrap();
    alice
        .pump_until(T, "b1", |d| !d.stanzas().is_empty())
        .unwrap();
    alice.request_ack().unwrap();
    alice
        .pump_until(T, "alice acked", |d| d.sm().unacked() == 0)
        .unwrap();

    // In flight both ways: alice's a2, a3 are written and the line dies before any ack;
    // bob's b2, b3 reach the server while alice is gone and wait in her session.
    alice.send(message("bob@localhost", "a2")).unwrap();
    alice.send(message("bob@localhost", "a3")).unwrap();
    alice.cut();
    server
        .wait_for(T, |log| {
            log.iter()
                .any(|e| matches!(e, ServerEvent::Hibernated { .. }))
        })
        .unwrap();
    bob.send(message("alice@localhost", "b2")).unwrap();
    bob.send(message("alice@localhost", "b3")).unwrap();
    server
        .wait_for(T, |log| {
            log.iter()
                .filter(|e| matches!(e, ServerEvent::Queued { .. }))
                .count()
                == 2
        })
        .unwrap();
    alice.send(message("bob@localhost", "a4")).unwrap(); // queued while disconnected

    let (conn, _features) = Connection::login(server.addr(), &jid("alice"), "a-pass", T).unwrap();
    alice.attach(conn);
    let resumed = alice.resume(T).unwrap();
    assert!(matches!(resumed, Event::Resumed { .. }), "{resumed:?}");

    alice
        .pump_until(T, "b2, b3", |d| {
            bodies(&d.stanzas().iter().cloned().collect::<Vec<_>>()).len() >= 3
        })
        .unwrap();
    bob.pump_until(T, "a2..a4", |d| d.stanzas().len() >= 4)
        .unwrap();
    // Let any duplicate show up.
    alice.request_ack().unwrap();
    bob.request_ack().unwrap();
    alice.pump_for(Duration::from_millis(300)).unwrap();
    bob.pump_for(Duration::from_millis(300)).unwrap();

    let a = bodies(&alice.take_stanzas());
    let b = bodies(&bob.take_stanzas());
    let once = |names: &[&str]| {
        names
            .iter()
            .map(|n| ((*n).to_owned(), 1))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(a, once(&["b1", "b2", "b3"]), "alice got");
    assert_eq!(b, once(&["a1", "a2", "a3", "a4"]), "bob got");
    assert_eq!(alice.sm().unacked(), 0, "alice: everything acknowledged");
    assert!(
        server.undeliverable().is_empty(),
        "{:?}",
        server.undeliverable()
    );
}

#[test]
fn ack_above_sent_count_is_handled_count_too_high() {
    let server = server();
    let (mut conn, features) =
        Connection::login(server.addr(), &jid("alice"), "a-pass", T).unwrap();
    assert!(features.has_child("sm", "urn:xmpp:sm:3"));
    conn.bind(None, T).unwrap();
    conn.send_raw(b"<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
        .unwrap();
    let enabled = conn.recv_element(T, "<enabled/>").unwrap();
    assert!(enabled.is("enabled", "urn:xmpp:sm:3"), "{enabled:?}");
    conn.send_raw(b"<a xmlns='urn:xmpp:sm:3' h='999'/>")
        .unwrap();
    let error = loop {
        match conn.recv(T).unwrap() {
            Some(StreamEvent::Element(el)) if el.name() == "error" => break el,
            Some(StreamEvent::Element(_)) => {}
            other => panic!("expected a stream error, got {other:?}"),
        }
    };
    let too_high = error
        .get_child("handled-count-too-high", "urn:xmpp:sm:3")
        .unwrap_or_else(|| panic!("no handled-count-too-high in {error:?}"));
    assert_eq!(too_high.attr("h"), Some("999"));
    assert_eq!(too_high.attr("send-count"), Some("0"));
    assert!(error.has_child("undefined-condition", "urn:ietf:params:xml:ns:xmpp-streams"));
    // The server closes the stream after the error.
    assert!(matches!(conn.recv(T), Ok(Some(StreamEvent::End)) | Err(_)));
}

#[test]
fn resuming_a_stream_the_server_thinks_is_open_takes_it_over() {
    let server = server();
    let mut alice = online(&server, "alice", "a-pass");
    let mut bob = online(&server, "bob", "b-pass");
    // alice's link dies silently: the server still thinks her stream is open.
    alice.send(message("bob@localhost", "a1")).unwrap();
    let mut old = alice.abandon().unwrap();
    bob.pump_until(T, "a1", |d| !d.stanzas().is_empty())
        .unwrap();
    bob.send(message("alice@localhost/test", "b1")).unwrap();
    server
        .wait_for(T, |log| {
            log.iter()
                .any(|e| matches!(e, ServerEvent::Routed { to, .. } if to.starts_with("alice")))
        })
        .unwrap();

    let (conn, _) = Connection::login(server.addr(), &jid("alice"), "a-pass", T).unwrap();
    alice.attach(conn);
    let resumed = alice.resume(T).unwrap();
    assert!(matches!(resumed, Event::Resumed { .. }), "{resumed:?}");
    // The old stream got `conflict` (XEP-0198 §5) and was closed.
    let error = loop {
        match old.recv(T) {
            Ok(Some(StreamEvent::Element(el))) if el.name() == "error" => break el,
            Ok(Some(_)) => {}
            other => panic!("expected conflict on the old stream, got {other:?}"),
        }
    };
    assert!(
        error.has_child("conflict", "urn:ietf:params:xml:ns:xmpp-streams"),
        "{error:?}"
    );
    assert!(
        server
            .log()
            .iter()
            .any(|e| matches!(e, ServerEvent::TakenOver { .. })),
        "{:?}",
        server.log()
    );
    // b1, written to the dead link, comes again on the resumed stream; a1 was handled once.
    alice
        .pump_until(T, "b1", |d| !d.stanzas().is_empty())
        .unwrap();
    alice.request_ack().unwrap();
    alice
        .pump_until(T, "acks", |d| d.sm().unacked() == 0)
        .unwrap();
    bob.pump_for(Duration::from_millis(200)).unwrap();
    assert_eq!(
        bodies(&alice.take_stanzas()),
        BTreeMap::from([("b1".to_owned(), 1)])
    );
    assert_eq!(
        bodies(&bob.take_stanzas()),
        BTreeMap::from([("a1".to_owned(), 1)])
    );
}

#[test]
fn resuming_an_unknown_session_is_refused_with_item_not_found() {
    let first = server();
    let other = server();
    let mut alice = online(&first, "alice", "a-pass");
    alice.send(message("alice@localhost/test", "lost")).unwrap();
    alice.cut();
    // Another server never heard of this SM-ID.
    let (conn, _) = Connection::login(other.addr(), &jid("alice"), "a-pass", T).unwrap();
    alice.attach(conn);
    let refused = alice.resume(T);
    let Err(xmpp_tether_testkit::client::SmError::Refused(event)) = refused else {
        panic!("expected a refusal, got {refused:?}");
    };
    assert!(
        matches!(*event, Event::ResumeFailed { h: None, .. }),
        "{event:?}"
    );
    // The message is handed back, not lost.
    assert!(alice.events().iter().any(|e| matches!(
        e,
        Event::HandedBack { stanzas, .. } if stanzas.len() == 1
    )));
}
