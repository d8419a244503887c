//! slixmpp 1.17 (from PyPI, in ./.venv) against the example server, `examples/server/`:
//! XEP-0198 enable with resumption, stanzas both ways with a second account, a cut with
//! stanzas lost and in flight in both directions, one resumption, and every message delivered
//! exactly once (counted by the clients); a client that acknowledges more than it was sent
//! gets `handled-count-too-high`; and SCRAM-SHA-1 logins (slixmpp prefers SCRAM when it may
//! use it over plain TCP).
//!
//! slixmpp is `tests/peers/sm_peer.py`, driven line by line on stdin. The second account is
//! the testkit's `SmDriver` (our `xmpp_sm::Client`). slixmpp connects through the testkit's
//! [`Proxy`], which holds either direction of its link and then cuts it: that is how bytes are
//! lost on the way without touching either program. The virtualenv is made by
//! `./scripts/setup-peers.sh` (`./ci.sh` runs it first); when it is missing the test fails.

use std::collections::BTreeMap;
use std::time::Duration;

use jid::BareJid;
use xmpp_sm::{ClientConfig, ClientEvent};
use xmpp_tether_testkit::client::{Connection, SmDriver};
use xmpp_tether_testkit::example_server::{Direction, ExampleServer, Proxy, ServerOptions};
use xmpp_tether_testkit::slixmpp::Script;
use xmpp_tether_testkit::stanza::{body_counts, chat};

/// Bound on every single wait.
const T: Duration = Duration::from_secs(15);

const ALICE: &str = "alice@localhost/slix";
const BOB: &str = "bob@localhost/desk";

fn server() -> ExampleServer {
    let opts = ServerOptions::default()
        .account("alice", "alice-pass")
        .account("bob", "bob-pass");
    ExampleServer::start(&opts).unwrap_or_else(|e| panic!("starting the example server: {e}"))
}

/// slixmpp as `jid` against `addr`, with `mechanism` only when given.
fn slixmpp(
    addr: std::net::SocketAddr,
    jid: &str,
    password: &str,
    mechanism: Option<&str>,
) -> Script {
    let mut args = vec![
        addr.ip().to_string(),
        addr.port().to_string(),
        jid.to_owned(),
        password.to_owned(),
    ];
    args.extend(mechanism.map(str::to_owned));
    Script::spawn("sm_peer.py", &args)
        .unwrap_or_else(|e| panic!("starting slixmpp (run ./scripts/setup-peers.sh): {e}"))
}

/// Our client as bob@localhost/desk, bound and enabled.
fn bob(server: &ExampleServer) -> SmDriver {
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
fn slixmpp_enable_exchange_cut_with_stanzas_lost_both_ways_resume_exactly_once() {
    let server = server();
    let proxy = Proxy::start(server.addr()).unwrap();
    let mut alice = slixmpp(proxy.addr(), ALICE, "alice-pass", None);
    alice.expect_line("ENABLED", T).unwrap();
    let link = proxy.link(0, T).unwrap();
    let mut bob = bob(&server);
    let fail = |what: &str, server: &ExampleServer| format!("{what}\n{}", server.transcript());

    // 1. Stanzas both ways, acknowledged both ways.
    alice.send_line(&format!("sendn {BOB} a 1 3")).unwrap();
    for i in 1..=3 {
        bob.send(chat(ALICE, &format!("b{i}"))).unwrap();
    }
    bob.pump_until(T, "a1..a3 at bob", |d| body_counts(d.stanzas()).len() == 3)
        .unwrap();
    alice
        .wait_until(T, "b1..b3 at slixmpp", |l| received(l).len() == 3)
        .unwrap();
    alice.send_line("settle").unwrap();
    let settled = alice.expect_line("SETTLED", T).unwrap();
    assert_eq!(
        settled, "3 3",
        "slixmpp: 3 sent, 3 acknowledged by the server"
    );
    bob.request_ack().unwrap();
    bob.pump_until(T, "bob's ack", |d| d.sm().unacked() == 0)
        .unwrap();

    // 2. Lost on the way to the server: a4..a6 are written by slixmpp and held by the proxy.
    link.hold(Direction::ToServer);
    alice.send_line(&format!("sendn {BOB} a 4 3")).unwrap();
    alice.send_line("flush").unwrap();
    alice.expect_line("FLUSHED", T).unwrap();
    link.wait_held(Direction::ToServer, "<body>a6</body>", T)
        .unwrap();
    //    Delivered but never acknowledged: b4, b5 reach slixmpp (its acks cannot get out).
    bob.send(chat(ALICE, "b4")).unwrap();
    bob.send(chat(ALICE, "b5")).unwrap();
    alice
        .wait_until(T, "b4, b5 at slixmpp", |l| received(l).len() == 5)
        .unwrap();
    //    Lost on the way to the client: the server writes b6, the proxy holds it.
    link.hold(Direction::ToClient);
    bob.send(chat(ALICE, "b6")).unwrap();
    link.wait_held(Direction::ToClient, "<body>b6</body>", T)
        .unwrap_or_else(|e| panic!("{}", fail(&e.to_string(), &server)));
    link.cut();
    alice.expect_line("DISCONNECTED", T).unwrap();
    // b7 comes while alice is away: into her hibernated session (or, if the server has not
    // noticed the loss yet, onto the dead stream, which hibernates with it).
    bob.send(chat(ALICE, "b7")).unwrap();
    bob.request_ack().unwrap();
    bob.pump_until(T, "the server handled b4..b7", |d| d.sm().unacked() == 0)
        .unwrap();

    // 3. slixmpp reconnects (through the proxy again) and resumes: the server has seen 3 of
    //    its stanzas, slixmpp has handled 5 of the server's.
    alice.send_line("connect").unwrap();
    let resumed = alice.expect_line("RESUMED", T).unwrap();
    assert_eq!(
        resumed, "3",
        "the server acknowledges a1..a3 in <resumed h/>"
    );
    server
        .wait_for_trace(T, "alice's <resume h='5'/>", |l| {
            l.contains(" C: <resume ") && l.contains("h='5'")
        })
        .unwrap();

    // 4. Everything arrives, exactly once.
    alice
        .wait_until(T, "b1..b7 at slixmpp", |l| received(l).len() == 7)
        .unwrap_or_else(|e| panic!("{}", fail(&e.to_string(), &server)));
    bob.pump_until(T, "a1..a6 at bob", |d| body_counts(d.stanzas()).len() == 6)
        .unwrap_or_else(|e| panic!("{e}: {:?}", body_counts(bob.stanzas())));
    alice.send_line("settle").unwrap();
    let settled = alice.expect_line("SETTLED", T).unwrap();
    assert_eq!(settled, "6 6", "slixmpp: 6 sent, 6 acknowledged");
    // Let duplicates show up, if any.
    bob.pump_for(Duration::from_millis(300)).unwrap();
    alice.send_line("state").unwrap();
    let state = alice.expect_line("STATE", T).unwrap();
    assert!(state.starts_with("handled=7 "), "{state}");
    alice.send_line("quit").unwrap();
    alice.finish(T).unwrap();

    let at_alice = received(alice.seen());
    let at_bob = body_counts(&bob.take_stanzas());
    assert_eq!(at_alice, exactly_once("b", 1..=7), "{}", alice.transcript());
    assert_eq!(at_bob, exactly_once("a", 1..=6));
    assert_eq!(count(alice.seen(), "RESUMED"), 1);
    assert_eq!(
        count(alice.seen(), "ENABLED"),
        1,
        "resumed, not enabled afresh"
    );
    assert_eq!(
        proxy.link_count(),
        2,
        "one connection before the cut, one after"
    );
    assert!(
        !bob.events()
            .iter()
            .any(|e| matches!(e, ClientEvent::HandedBack { .. })),
        "{:?}",
        bob.events()
    );
    // Retransmitted by the server after <resumed/>: exactly b6 and b7, the ones slixmpp never
    // handled (b4 and b5 were acknowledged by the `h` of its <resume/>).
    let resumed_at = server
        .trace()
        .iter()
        .position(|l| l.contains(" S: <resumed "))
        .unwrap();
    let again: Vec<String> = server.trace()[resumed_at..]
        .iter()
        .filter(|l| l.contains(" S: <message ") && l.contains("to='alice@localhost/slix'"))
        .filter_map(|l| {
            l.split("<body>")
                .nth(1)?
                .split("</body>")
                .next()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(again, ["b6", "b7"], "{}", server.transcript());
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn slixmpp_acking_more_than_it_was_sent_gets_handled_count_too_high() {
    let server = server();
    let mut bob = bob(&server);
    let mut alice = slixmpp(server.addr(), ALICE, "alice-pass", None);
    alice.expect_line("ENABLED", T).unwrap();
    // Two stanzas reach slixmpp, so the server has sent two.
    bob.send(chat(ALICE, "b1")).unwrap();
    bob.send(chat(ALICE, "b2")).unwrap();
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
    alice.send_line("quit").unwrap();
    alice.finish(T).unwrap();

    // The server goes on serving everyone else.
    bob.send(chat(BOB, "still here")).unwrap();
    bob.pump_until(T, "bob's own message", |d| {
        body_counts(d.stanzas()).contains_key("still here")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", server.transcript()));
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn slixmpp_scram_sha1_login_and_a_wrong_password_refused() {
    let server = server();
    let mut alice = slixmpp(server.addr(), ALICE, "alice-pass", Some("SCRAM-SHA-1"));
    assert_eq!(
        alice.expect_line("AUTHENTICATED", T).unwrap(),
        "SCRAM-SHA-1"
    );
    alice.expect_line("ENABLED", T).unwrap();
    server
        .wait_for_trace(T, "a SCRAM-SHA-1 <auth/>", |l| {
            l.contains(" C: <auth ") && l.contains("mechanism='SCRAM-SHA-1'")
        })
        .unwrap();
    // slixmpp checked the server's signature (RFC 5802 §3, `v=` in <success/>) and goes on.
    alice.send_line(&format!("send {ALICE} hello")).unwrap();
    alice
        .wait_until(T, "hello, to herself", |l| received(l).len() == 1)
        .unwrap();
    alice.send_line("quit").unwrap();
    alice.finish(T).unwrap();

    let mut mallory = slixmpp(server.addr(), ALICE, "wrong", Some("SCRAM-SHA-1"));
    let failed = mallory.expect_line("AUTH_FAILED", T).unwrap();
    assert_eq!(failed, "not-authorized", "{}", mallory.transcript());
    assert_eq!(count(mallory.seen(), "SESSION"), 0);
    mallory.send_line("quit").unwrap();
    let _ = mallory.finish(T);
}
