//! What the two push tests (`server_push0.rs`, `server_push2.rs`) share: the example server
//! with two accounts and a push service component, alice's slixmpp phone, bob's client.

use std::time::Duration;

use jid::BareJid;
use xmpp_tether_testkit::client::Connection;
use xmpp_tether_testkit::component::Component;
use xmpp_tether_testkit::example_server::{ExampleServer, ServerOptions};
use xmpp_tether_testkit::slixmpp::Script;

/// Bound on every single wait.
pub(crate) const T: Duration = Duration::from_secs(10);
pub(crate) const COMPONENT: &str = "push.localhost";
const COMPONENT_SECRET: &str = "component-secret-for-tests";
pub(crate) const ALICE: &str = "alice@localhost";
pub(crate) const ALICE_PASS: &str = "alice-pass";
pub(crate) const BOB: &str = "bob@localhost";
const BOB_PASS: &str = "bob-pass";

/// The example server's options: alice, bob, and the push service's component port.
pub(crate) fn options() -> ServerOptions {
    ServerOptions::default()
        .account("alice", ALICE_PASS)
        .account("bob", BOB_PASS)
        .component(COMPONENT, COMPONENT_SECRET)
}

/// The push service attached to `server` as its component.
pub(crate) fn connect(server: &ExampleServer) -> Component {
    let addr = server.component_addr().expect("the component port");
    Component::connect(addr, COMPONENT, COMPONENT_SECRET, T)
        .unwrap_or_else(|e| panic!("the component could not attach: {e}"))
}

/// An RNG seeded from the OS: node names, secrets and keys are real secrets here.
pub(crate) fn rng() -> rand_chacha::ChaCha20Rng {
    let mut seed = [0; 32];
    getrandom::fill(&mut seed).expect("the OS random source");
    rand_core::SeedableRng::from_seed(seed)
}

pub(crate) fn bare(s: &str) -> BareJid {
    s.parse().expect("test JID")
}

/// alice's slixmpp client, logged in with stream management on and available.
pub(crate) fn alice(server: &ExampleServer) -> Script {
    let addr = server.addr();
    let mut script = Script::spawn(
        "push0/push0_client.py",
        &[
            addr.ip().to_string(),
            addr.port().to_string(),
            format!("{ALICE}/phone"),
            ALICE_PASS.to_owned(),
        ],
    )
    .unwrap_or_else(|e| panic!("starting slixmpp (run ./scripts/setup-peers.sh): {e}"));
    for line in ["SESSION", "ENABLED"] {
        script
            .expect_line(line, T)
            .unwrap_or_else(|e| panic!("{e}\n{}", server.transcript()));
    }
    script
}

/// bob, logged in and bound, as our own testkit client.
pub(crate) fn bob(server: &ExampleServer) -> Connection {
    let (mut conn, _) = Connection::login(server.addr(), &bare(BOB), BOB_PASS, T)
        .unwrap_or_else(|e| panic!("bob's login: {e}\n{}", server.transcript()));
    conn.bind(Some("desk"), T).expect("bob binds");
    conn
}

/// Sends an iq (XML on one line) through slixmpp; returns the reply's type and its XML as
/// slixmpp wrote it.
pub(crate) fn iq(script: &mut Script, xml: &str) -> (String, String) {
    script
        .send_line(&format!("iq {xml}"))
        .expect("write to slixmpp");
    let line = script.expect_line("REPLY", T).expect("an answer");
    let mut parts = line.splitn(3, ' ');
    let kind = parts.next().unwrap_or_default().to_owned();
    let _id = parts.next();
    (kind, parts.next().unwrap_or_default().to_owned())
}

/// alice's phone closes its stream: she is offline.
pub(crate) fn offline(alice: &mut Script) {
    alice.send_line("offline").expect("write to slixmpp");
    alice.expect_line("OFFLINE", T).expect("closed");
}

/// alice's phone loses its link: her session hibernates.
pub(crate) fn hibernate(alice: &mut Script) {
    alice.send_line("hibernate").expect("write to slixmpp");
    alice.expect_line("HIBERNATED", T).expect("cut");
}
