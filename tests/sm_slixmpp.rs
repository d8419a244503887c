//! Real client: slixmpp 1.17 (from PyPI, in ./.venv) against the testkit's loopback server,
//! which runs our `xmpp_sm::Server` and `SessionStore` per stream. Enable with resumption,
//! exchange stanzas, drop the TCP connection with stanzas in flight both ways, resume,
//! exactly-once delivery; and a client that acknowledges more than it was sent gets the
//! `handled-count-too-high` stream error.
//!
//! The slixmpp side is `tests/peers/sm_peer.py`, driven line by line on stdin; a second
//! account is our own `Client` through the testkit's `SmDriver`. The virtualenv is made by
//! `./scripts/setup-peers.sh` (`./ci.sh` runs it first); when it is missing this test fails.

use std::collections::BTreeMap;
use std::time::Duration;

use jid::{BareJid, FullJid};
use xmpp_sm::{ClientConfig, Event, HandBackReason, PeerError};
use xmpp_tether_testkit::client::{Connection, SmDriver};
use xmpp_tether_testkit::server::{ServerEvent, TestServer, TestServerConfig};
use xmpp_tether_testkit::slixmpp::Script;
use xmpp_tether_testkit::stanza::{body_counts as bodies, chat as message};

/// Bound on every single wait; each test stays well under a minute.
const T: Duration = Duration::from_secs(15);

const ALICE: &str = "alice@localhost/slix";
const BOB: &str = "bob@localhost/desk";

fn server() -> TestServer {
    TestServer::start(
        TestServerConfig::default()
            .account("alice", "alice-pass")
            .account("bob", "bob-pass"),
    )
    .unwrap()
}

/// slixmpp as alice@localhost/slix.
fn slixmpp(server: &TestServer) -> Script {
    let addr = server.addr();
    Script::spawn(
        "sm_peer.py",
        &[
            addr.ip().to_string(),
            addr.port().to_string(),
            ALICE.to_owned(),
            "alice-pass".to_owned(),
        ],
    )
    .unwrap_or_else(|e| panic!("starting slixmpp (run ./scripts/setup-peers.sh): {e}"))
}

/// Our client as bob@localhost/desk, bound and enabled.
fn bob(server: &TestServer) -> SmDriver {
    let bare = BareJid::new("bob@localhost").unwrap();
    let (mut conn, features) = Connection::login(server.addr(), &bare, "bob-pass", T).unwrap();
    conn.bind(Some("desk"), T).unwrap();
    let mut driver = SmDriver::new(ClientConfig::default());
    driver.attach(conn);
    driver.enable(&features, T).unwrap();
    driver
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

fn exactly_once(prefix: &str, range: std::ops::RangeInclusive<u32>) -> BTreeMap<String, usize> {
    range.map(|i| (format!("{prefix}{i}"), 1)).collect()
}

fn count(lines: &[String], word: &str) -> usize {
    lines
        .iter()
        .filter(|l| l.split(' ').next() == Some(word))
        .count()
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn slixmpp_enable_exchange_cut_resume_exactly_once() {
    let server = server();
    let mut alice = slixmpp(&server);
    alice.expect_line("ENABLED", T).unwrap();
    let mut bob = bob(&server);
    let alice_bare = BareJid::new("alice@localhost").unwrap();
    let _: FullJid = ALICE.parse().unwrap();

    // 1. Stanzas both ways, acknowledged.
    alice.send_line(&format!("sendn {BOB} a 1 3")).unwrap();
    for i in 1..=3 {
        bob.send(message(ALICE, &format!("b{i}"))).unwrap();
    }
    bob.pump_until(T, "a1..a3 at bob", |d| bodies(d.stanzas()).len() == 3)
        .unwrap();
    alice
        .wait_until(T, "b1..b3 at slixmpp", |l| received(l).len() == 3)
        .unwrap();
    alice.send_line("settle").unwrap();
    let settled = alice.expect_line("SETTLED", T).unwrap();
    assert_eq!(
        settled, "3 3",
        "slixmpp: 3 sent, 3 acknowledged by our Server"
    );
    bob.request_ack().unwrap();
    bob.pump_until(T, "bob's ack", |d| d.sm().unacked() == 0)
        .unwrap();

    // 2. In flight both ways, then the server side drops alice's TCP connection. The server
    //    stops reading alice's socket first, so a4..a6, written by slixmpp, are lost with the
    //    connection and slixmpp must retransmit them; b4, b5 are written to alice before the
    //    cut but never acknowledged, so her <resume h/> must tell the server she has them.
    assert_eq!(server.pause(&alice_bare), 1, "one live stream for alice");
    alice.send_line(&format!("sendn {BOB} a 4 3")).unwrap();
    alice.send_line("flush").unwrap();
    alice.expect_line("FLUSHED", T).unwrap();
    bob.send(message(ALICE, "b4")).unwrap();
    bob.send(message(ALICE, "b5")).unwrap();
    bob.request_ack().unwrap();
    bob.pump_until(T, "b4, b5 handled by the server", |d| d.sm().unacked() == 0)
        .unwrap();
    alice
        .wait_until(T, "b4, b5 at slixmpp", |l| received(l).len() == 5)
        .unwrap();
    assert_eq!(server.cut(&alice_bare), 1);
    alice.expect_line("DISCONNECTED", T).unwrap();
    server
        .wait_for(T, |log| {
            log.iter()
                .any(|e| matches!(e, ServerEvent::Hibernated { .. }))
        })
        .unwrap_or_else(|log| panic!("alice's stream never hibernated: {log:#?}"));
    // b6 arrives while alice is away: it waits in her hibernated session.
    bob.send(message(ALICE, "b6")).unwrap();
    server
        .wait_for(T, |log| {
            log.iter().any(|e| matches!(e, ServerEvent::Queued { .. }))
        })
        .unwrap_or_else(|log| panic!("b6 was not queued: {log:#?}"));

    // 3. slixmpp reconnects and resumes.
    alice.send_line("connect").unwrap();
    alice.expect_line("RESUMED", T).unwrap();
    server
        .wait_for(T, |log| {
            log.iter().any(|e| matches!(e, ServerEvent::Resumed { .. }))
        })
        .unwrap();

    // 4. Everything arrives, exactly once.
    alice
        .wait_until(T, "b1..b6 at slixmpp", |l| received(l).len() == 6)
        .unwrap();
    bob.pump_until(T, "a1..a6 at bob", |d| bodies(d.stanzas()).len() == 6)
        .unwrap_or_else(|e| panic!("{e}: {:?}", bodies(bob.stanzas())));
    alice.send_line("settle").unwrap();
    let settled = alice.expect_line("SETTLED", T).unwrap();
    assert_eq!(settled, "6 6", "slixmpp: 6 sent, 6 acknowledged");
    // Let duplicates show up, if any.
    bob.pump_for(Duration::from_millis(500)).unwrap();
    alice.send_line("state").unwrap();
    alice.expect_line("STATE", T).unwrap();
    alice.send_line("quit").unwrap();
    alice.finish(T).unwrap();

    let at_alice = received(alice.seen());
    let at_bob = bodies(&bob.take_stanzas());
    assert_eq!(at_alice, exactly_once("b", 1..=6), "{}", alice.transcript());
    assert_eq!(at_bob, exactly_once("a", 1..=6));
    assert_eq!(count(alice.seen(), "RESUMED"), 1);
    assert_eq!(
        count(alice.seen(), "ENABLED"),
        1,
        "resumed, not enabled afresh"
    );
    assert!(
        !bob.events()
            .iter()
            .any(|e| matches!(e, Event::HandedBack { .. }))
    );
    let log = server.log();
    assert!(
        !log.iter()
            .any(|e| matches!(e, ServerEvent::PeerError { .. })),
        "{log:#?}"
    );
    // slixmpp acknowledges only when asked, so when it closes the stream the server may hold
    // stanzas it delivered but never saw acknowledged; it hands them back (for offline
    // storage) rather than dropping them. Only those may be there, and only after the close.
    let handed_back = bodies(&server.undeliverable());
    assert!(
        handed_back.keys().all(|b| at_alice.contains_key(b)),
        "handed back but never delivered: {handed_back:?}\n{log:#?}"
    );
    assert!(
        log.iter().all(|e| !matches!(
            e,
            ServerEvent::HandedBack { reason: Some(r), .. } if *r != HandBackReason::StreamClosed
        )),
        "{log:#?}"
    );
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn slixmpp_acking_more_than_it_was_sent_gets_handled_count_too_high() {
    let server = server();
    let mut bob = bob(&server);
    let mut alice = slixmpp(&server);
    alice.expect_line("ENABLED", T).unwrap();
    // Two stanzas reach slixmpp, so the server has sent two.
    bob.send(message(ALICE, "b1")).unwrap();
    bob.send(message(ALICE, "b2")).unwrap();
    alice
        .wait_until(T, "b1, b2 at slixmpp", |l| received(l).len() == 2)
        .unwrap();

    alice
        .send_line("raw <a xmlns='urn:xmpp:sm:3' h='999'/>")
        .unwrap();
    let error = alice.expect_line("STREAM_ERROR", T).unwrap();
    assert_eq!(
        error,
        "undefined-condition handled-count-too-high h=999 send-count=2",
        "{}",
        alice.transcript()
    );
    alice.expect_line("DISCONNECTED", T).unwrap();
    let log = server
        .wait_for(T, |log| {
            log.iter()
                .any(|e| matches!(e, ServerEvent::PeerError { .. }))
        })
        .unwrap();
    let peer_error = log
        .iter()
        .find_map(|e| match e {
            ServerEvent::PeerError { error, .. } => Some(error.clone()),
            _ => None,
        })
        .unwrap();
    let expected = PeerError::HandledCountTooHigh {
        ns: xmpp_sm::Namespace::Sm3,
        h: 999,
        send_count: 2,
    }
    .to_string();
    assert_eq!(peer_error, expected);
    alice.send_line("quit").unwrap();
    alice.finish(T).unwrap();
}
