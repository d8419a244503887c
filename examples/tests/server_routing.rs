//! Routing between local accounts on the example server (`examples/server/`), through real
//! clients (slixmpp 1.17, `tests/peers/sm_peer.py`): a presence subscription through the
//! roster (RFC 6121 §3: subscribe, the roster pushes, subscribed, the contact's presence
//! coming back), presence broadcast to subscribers only, `unavailable` when a session ends, a
//! subscription request waiting for a contact who is offline, and an offline message
//! delivered at the next login with a XEP-0203 delay stamp.

use std::time::{Duration, SystemTime};

use xmpp_tether_testkit::example_server::{ExampleServer, ServerOptions};
use xmpp_tether_testkit::slixmpp::Script;
use xmpp_tether_testkit::system_now;

/// Bound on every single wait.
const T: Duration = Duration::from_secs(15);

fn server() -> ExampleServer {
    let opts = ServerOptions::default()
        .account("alice", "alice-pass")
        .account("bob", "bob-pass")
        .account("carol", "carol-pass");
    ExampleServer::start(&opts).unwrap_or_else(|e| panic!("starting the example server: {e}"))
}

/// slixmpp as `user@localhost/resource`, in session with initial presence sent.
fn online(server: &ExampleServer, user: &str, resource: &str) -> Script {
    let addr = server.addr();
    let mut peer = Script::spawn(
        "sm_peer.py",
        &[
            addr.ip().to_string(),
            addr.port().to_string(),
            format!("{user}@localhost/{resource}"),
            format!("{user}-pass"),
        ],
    )
    .unwrap_or_else(|e| panic!("starting slixmpp (run ./scripts/setup-peers.sh): {e}"));
    peer.expect_line("SESSION", T).unwrap();
    peer.send_line("presence").unwrap();
    peer
}

/// Waits until the server has read `n` presence stanzas from clients.
fn wait_presences(server: &ExampleServer, n: usize) {
    let count = || {
        server
            .trace()
            .iter()
            .filter(|l| l.contains(" C: <presence "))
            .count()
    };
    let deadline = xmpp_tether_testkit::deadline_in(T);
    while count() < n {
        assert!(
            xmpp_tether_testkit::remaining(deadline).is_some(),
            "{n} presences from clients\n{}",
            server.transcript()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a line equal to `line`.
fn expect(peer: &mut Script, server: &ExampleServer, line: &str) {
    peer.wait_until(T, line, |seen| seen.iter().any(|l| l == line))
        .unwrap_or_else(|e| panic!("{e}\n{}", server.transcript()));
}

/// The lines of `peer` that start with `prefix`.
fn lines<'a>(peer: &'a Script, prefix: &str) -> Vec<&'a str> {
    peer.seen()
        .iter()
        .filter(|l| l.starts_with(prefix))
        .map(String::as_str)
        .collect()
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn subscription_through_the_roster_then_presence_to_subscribers_only() {
    let server = server();
    let mut alice = online(&server, "alice", "slix");
    let mut bob = online(&server, "bob", "slix");
    // Both initial presences reach the server before the subscription starts.
    wait_presences(&server, 2);

    // Alice asks; bob is asked, alice's roster shows the pending request.
    alice.send_line("subscribe bob@localhost").unwrap();
    expect(&mut bob, &server, "PRESENCE alice@localhost subscribe -");
    expect(
        &mut alice,
        &server,
        "ROSTER_PUSH bob@localhost none subscribe",
    );

    // Bob approves: alice is told, both rosters change, and bob's presence reaches alice.
    bob.send_line("subscribed alice@localhost").unwrap();
    expect(&mut alice, &server, "PRESENCE bob@localhost subscribed -");
    expect(&mut alice, &server, "ROSTER_PUSH bob@localhost to -");
    expect(&mut bob, &server, "ROSTER_PUSH alice@localhost from -");
    expect(
        &mut alice,
        &server,
        "PRESENCE bob@localhost/slix available -",
    );
    alice.send_line("roster").unwrap();
    expect(&mut alice, &server, "ROSTER_END 1");
    assert_eq!(lines(&alice, "ROSTER "), ["ROSTER bob@localhost to -"]);
    bob.send_line("roster").unwrap();
    expect(&mut bob, &server, "ROSTER_END 1");
    assert_eq!(lines(&bob, "ROSTER "), ["ROSTER alice@localhost from -"]);

    // Broadcast: bob's change reaches his subscriber; alice's does not reach bob, who is not
    // subscribed to her.
    bob.send_line("presence away").unwrap();
    expect(&mut alice, &server, "PRESENCE bob@localhost/slix away away");
    alice.send_line("presence dnd").unwrap();
    server
        .wait_for_trace(T, "alice's dnd presence", |l| {
            l.contains(" C: <presence ") && l.contains("<show>dnd</show>")
        })
        .unwrap();
    // A round trip of bob's after it: anything routed to him for alice's change is there.
    bob.send_line("roster").unwrap();
    bob.wait_until(T, "bob's second roster", |seen| {
        seen.iter().filter(|l| l.starts_with("ROSTER_END")).count() == 2
    })
    .unwrap();
    bob.send_line("presence xa").unwrap();
    expect(&mut alice, &server, "PRESENCE bob@localhost/slix xa xa");
    assert!(
        lines(&bob, "PRESENCE alice@localhost/").is_empty(),
        "{}",
        bob.transcript()
    );

    // Bob's session ends: alice gets `unavailable` on his behalf.
    bob.send_line("quit").unwrap();
    bob.finish(T).unwrap();
    expect(
        &mut alice,
        &server,
        "PRESENCE bob@localhost/slix unavailable -",
    );
    alice.send_line("quit").unwrap();
    alice.finish(T).unwrap();
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn offline_message_and_subscription_request_wait_for_the_next_login() {
    let server = server();
    let mut alice = online(&server, "alice", "slix");
    let sent_at = system_now();

    // Neither bob nor carol is online: the message to bob's bare JID waits offline, the
    // request to carol waits in her roster.
    alice
        .send_line("send bob@localhost hello-while-away")
        .unwrap();
    alice.send_line("subscribe carol@localhost").unwrap();
    expect(
        &mut alice,
        &server,
        "ROSTER_PUSH carol@localhost none subscribe",
    );

    // At bob's login (initial presence) the message comes, stamped by the server.
    let mut bob = online(&server, "bob", "laptop");
    expect(
        &mut bob,
        &server,
        "RECV alice@localhost/slix hello-while-away",
    );
    // slixmpp prints the delay right after the message.
    bob.wait_until(T, "the delay stamp", |seen| {
        seen.iter().any(|l| l.starts_with("DELAYED "))
    })
    .unwrap();
    let delayed = lines(&bob, "DELAYED ");
    assert_eq!(delayed.len(), 1, "{}", bob.transcript());
    let fields: Vec<&str> = delayed[0].split(' ').collect();
    assert_eq!(
        (fields[1], fields[3]),
        ("hello-while-away", "localhost"),
        "{delayed:?}"
    );
    let stamp = chrono::DateTime::parse_from_rfc3339(fields[2])
        .unwrap_or_else(|e| panic!("XEP-0082 stamp {:?}: {e}", fields[2]));
    let stamp = SystemTime::from(stamp);
    let early = sent_at - Duration::from_secs(2);
    assert!(
        stamp >= early && stamp <= system_now(),
        "the stamp says when alice sent it: {stamp:?} vs {sent_at:?}"
    );

    // Carol's login: the request is delivered then; she approves.
    wait_presences(&server, 2);
    let mut carol = online(&server, "carol", "tablet");
    expect(&mut carol, &server, "PRESENCE alice@localhost subscribe -");
    carol.send_line("subscribed alice@localhost").unwrap();
    expect(&mut alice, &server, "PRESENCE carol@localhost subscribed -");
    expect(
        &mut alice,
        &server,
        "PRESENCE carol@localhost/tablet available -",
    );

    // Delivered once: a second login of bob's gets nothing more. (Bob acknowledges first:
    // slixmpp does not before it closes, and a server hands what was never acknowledged back
    // to offline storage.)
    bob.send_line("ack").unwrap();
    bob.send_line("quit").unwrap();
    bob.finish(T).unwrap();
    let mut again = online(&server, "bob", "laptop");
    again.send_line("send bob@localhost/laptop marker").unwrap();
    expect(&mut again, &server, "RECV bob@localhost/laptop marker");
    assert_eq!(lines(&again, "RECV "), ["RECV bob@localhost/laptop marker"]);
    for peer in [&mut alice, &mut carol, &mut again] {
        peer.send_line("quit").unwrap();
        peer.finish(T).unwrap();
    }
}
