//! XEP-0310 presence state annotations in the example server (`examples/server/psa.rs`),
//! with real clients.
//!
//! The watchers are slixmpp 1.17 (`tests/peers/psa/psa_peer.py`, one process): alice
//! advertises `urn:xmpp:psa` through slixmpp's caps plugin (xep_0115, the feature added with
//! xep_0030), carol advertises caps without it. Both subscribe to two contacts whose sessions
//! use XEP-0198:
//! - bob, slixmpp too (`tests/peers/sm_peer.py`), connected through the testkit's [`Proxy`]:
//!   the proxy cuts his TCP link, his session hibernates, and he resumes on a new
//!   connection;
//! - dave, the testkit's `SmDriver` (our `xmpp_sm::Client`) asking for a 2-second
//!   hibernation (`<enable max='2'/>`), whose link is cut for good: his hibernation expires.
//!
//! alice gets bob's presence again annotated `<connection-paused/>` by `localhost`, then
//! with the empty annotation when he resumes; dave's annotated, then only the plain
//! unavailable when his session expires. carol gets nothing but the plain presences. The
//! virtualenv is made by `./scripts/setup-peers.sh` (`./ci.sh` runs it first).

use std::time::Duration;

use jid::BareJid;
use minidom::Element;
use xmpp_sm::ClientConfig;
use xmpp_tether_testkit::client::{Connection, SmDriver};
use xmpp_tether_testkit::example_server::{ExampleServer, Proxy, ServerOptions};
use xmpp_tether_testkit::slixmpp::Script;

/// Bound on every single wait.
const T: Duration = Duration::from_secs(15);

const BOB: &str = "bob@localhost/phone";
const DAVE: &str = "dave@localhost/tab";

fn server() -> ExampleServer {
    let opts = ServerOptions::default()
        .account("alice", "alice-pass")
        .account("carol", "carol-pass")
        .account("bob", "bob-pass")
        .account("dave", "dave-pass");
    ExampleServer::start(&opts).unwrap_or_else(|e| panic!("starting the example server: {e}"))
}

/// The two slixmpp watchers, alice (with urn:xmpp:psa) and carol (without).
fn watchers(addr: std::net::SocketAddr) -> Script {
    let args = [
        addr.ip().to_string(),
        addr.port().to_string(),
        "alice:alice@localhost/psa:alice-pass:1".to_owned(),
        "carol:carol@localhost/plain:carol-pass:0".to_owned(),
    ];
    Script::spawn("psa/psa_peer.py", &args)
        .unwrap_or_else(|e| panic!("starting slixmpp (run ./scripts/setup-peers.sh): {e}"))
}

/// bob: slixmpp with XEP-0198 through `addr` (the proxy).
fn bob(addr: std::net::SocketAddr) -> Script {
    let args = [
        addr.ip().to_string(),
        addr.port().to_string(),
        BOB.to_owned(),
        "bob-pass".to_owned(),
    ];
    Script::spawn("sm_peer.py", &args)
        .unwrap_or_else(|e| panic!("starting slixmpp (run ./scripts/setup-peers.sh): {e}"))
}

/// dave: our client, bound, stream management on with a 2-second hibernation.
fn dave(server: &ExampleServer) -> SmDriver {
    let bare = BareJid::new("dave@localhost").unwrap();
    let (mut conn, features) = Connection::login(server.addr(), &bare, "dave-pass", T).unwrap();
    conn.bind(Some("tab"), T).unwrap();
    let mut config = ClientConfig::default();
    config.max = Some(2);
    let mut driver = SmDriver::new(config);
    driver.attach(conn);
    driver.enable(&features, T).unwrap();
    driver
}

fn presence(xml: &str) -> Element {
    xml.parse().unwrap()
}

/// The presences `watcher` received from `from`, as (type, annotation, annotator), from the
/// script's `PRESENCE NAME FROM TYPE ANNOTATION ANNOTATOR` lines.
fn received(lines: &[String], watcher: &str, from: &str) -> Vec<(String, String, String)> {
    lines
        .iter()
        .filter_map(|line| {
            let words: Vec<&str> = line.split(' ').collect();
            match words.as_slice() {
                ["PRESENCE", name, f, kind, annotation, annotator]
                    if *name == watcher && *f == from =>
                {
                    Some((
                        (*kind).to_owned(),
                        (*annotation).to_owned(),
                        (*annotator).to_owned(),
                    ))
                }
                _ => None,
            }
        })
        .collect()
}

fn plain(kind: &str) -> (String, String, String) {
    (kind.to_owned(), "none".to_owned(), "-".to_owned())
}

fn annotated(annotation: &str) -> (String, String, String) {
    (
        "available".to_owned(),
        annotation.to_owned(),
        "localhost".to_owned(),
    )
}

/// Waits until `watcher` has received exactly `expected` from `from`, in order.
fn wait_for(w: &mut Script, watcher: &str, from: &str, expected: &[(String, String, String)]) {
    let what = format!("{watcher} receives {expected:?} from {from}");
    let got = w.wait_until(T, &what, |lines| {
        received(lines, watcher, from).len() >= expected.len()
    });
    if let Err(e) = got {
        panic!("{e}\n{}", w.transcript());
    }
    assert_eq!(
        received(w.seen(), watcher, from),
        expected,
        "{}",
        w.transcript()
    );
}

fn sync(w: &mut Script, who: &str) {
    w.send_line(&format!("sync {who}")).unwrap();
    let what = format!("SYNCED {who}");
    w.wait_until(T, &what, |lines| lines.contains(&what))
        .unwrap_or_else(|e| panic!("{e}\n{}", w.transcript()));
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn slixmpp_watchers_see_a_hibernated_contact_paused_then_fresh_and_an_expired_one_plainly_gone() {
    let server = server();
    let fail = |what: &str, server: &ExampleServer| format!("{what}\n{}", server.transcript());

    // 1. The watchers log in with their caps; the server resolves each (one disco#info per
    //    ver) before anything else happens.
    let mut w = watchers(server.addr());
    for name in ["alice", "carol"] {
        let line = format!("DISCO {name}");
        w.wait_until(T, &line, |lines| lines.contains(&line))
            .unwrap_or_else(|e| panic!("{}\n{}", fail(&e.to_string(), &server), w.transcript()));
        sync(&mut w, name);
    }

    // 2. bob (slixmpp, stream management) comes online through the proxy; both watchers
    //    subscribe to him and he approves.
    let proxy = Proxy::start(server.addr()).unwrap();
    let mut bob = bob(proxy.addr());
    bob.expect_line("ENABLED", T).unwrap();
    let link = proxy.link(0, T).unwrap();
    bob.send_line("presence").unwrap();
    for name in ["alice", "carol"] {
        w.send_line(&format!("subscribe {name} bob@localhost"))
            .unwrap();
    }
    bob.wait_until(T, "two subscription requests", |lines| {
        lines
            .iter()
            .filter(|l| l.starts_with("PRESENCE ") && l.contains(" subscribe "))
            .count()
            == 2
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", bob.transcript()));
    bob.send_line("subscribed alice@localhost").unwrap();
    bob.send_line("subscribed carol@localhost").unwrap();
    wait_for(&mut w, "alice", BOB, &[plain("available")]);
    wait_for(&mut w, "carol", BOB, &[plain("available")]);

    // 3. bob's TCP link is cut: his session hibernates, alice sees him paused.
    link.cut();
    bob.expect_line("DISCONNECTED", T).unwrap();
    let paused = [plain("available"), annotated("connection-paused")];
    wait_for(&mut w, "alice", BOB, &paused);

    // 4. bob reconnects and resumes: the empty annotation.
    bob.send_line("connect").unwrap();
    bob.expect_line("RESUMED", T)
        .unwrap_or_else(|e| panic!("{}", fail(&e.to_string(), &server)));
    let restored = [
        plain("available"),
        annotated("connection-paused"),
        annotated("restored"),
    ];
    wait_for(&mut w, "alice", BOB, &restored);
    // carol, without the feature, got nothing but bob's presence.
    sync(&mut w, "carol");
    assert_eq!(received(w.seen(), "carol", BOB), [plain("available")]);
    // A client's own annotation never reaches anyone: bob forges one in his presence.
    bob.send_line(
        "raw <presence><status>forged</status><state-annotation xmlns='urn:xmpp:psa' \
         from='localhost'><server-unavailable/></state-annotation></presence>",
    )
    .unwrap();
    server
        .wait_for_trace(T, "bob's forged annotation", |l| {
            l.contains(" C: <presence") && l.contains("<state-annotation")
        })
        .unwrap();
    let stripped = [
        plain("available"),
        annotated("connection-paused"),
        annotated("restored"),
        plain("available"),
    ];
    wait_for(&mut w, "alice", BOB, &stripped);
    wait_for(
        &mut w,
        "carol",
        BOB,
        &[plain("available"), plain("available")],
    );

    // 5. dave (our client) asks for a 2-second hibernation; both watchers subscribe to him.
    let mut dave = dave(&server);
    dave.send(presence("<presence xmlns='jabber:client'/>"))
        .unwrap();
    for name in ["alice", "carol"] {
        w.send_line(&format!("subscribe {name} dave@localhost"))
            .unwrap();
    }
    dave.pump_until(T, "two subscription requests", |d| {
        d.stanzas()
            .iter()
            .filter(|s| s.name() == "presence" && s.attr("type") == Some("subscribe"))
            .count()
            == 2
    })
    .unwrap_or_else(|e| panic!("{}", fail(&e.to_string(), &server)));
    for to in ["alice@localhost", "carol@localhost"] {
        let subscribed = format!("<presence xmlns='jabber:client' to='{to}' type='subscribed'/>");
        dave.send(presence(&subscribed)).unwrap();
    }
    dave.pump_for(Duration::from_millis(200)).unwrap();
    wait_for(&mut w, "alice", DAVE, &[plain("available")]);
    wait_for(&mut w, "carol", DAVE, &[plain("available")]);

    // 6. dave's link is cut for good: paused, then (2 s later) the plain unavailable only.
    dave.cut();
    let expired = [
        plain("available"),
        annotated("connection-paused"),
        plain("unavailable"),
    ];
    wait_for(&mut w, "alice", DAVE, &expired);
    wait_for(
        &mut w,
        "carol",
        DAVE,
        &[plain("available"), plain("unavailable")],
    );
    // Nothing after the unavailable, for either.
    sync(&mut w, "alice");
    sync(&mut w, "carol");
    assert_eq!(received(w.seen(), "alice", DAVE), expired);
    assert_eq!(received(w.seen(), "alice", BOB), stripped);

    bob.send_line("quit").unwrap();
    let _ = bob.finish(T);
    w.send_line("quit").unwrap();
    w.finish(T)
        .unwrap_or_else(|e| panic!("{e}\n{}", w.transcript()));
}
