//! What the two push tests (`server_push0.rs`, `server_push2.rs`) share: the example server
//! with two accounts and a push service component, alice's slixmpp phone, bob's client.

use std::time::Duration;

use jid::BareJid;
use xmpp_tether::push2::client::ClientKeys;
use xmpp_tether_testkit::client::Connection;
use xmpp_tether_testkit::component::Component;
use xmpp_tether_testkit::example_server::{ExampleServer, ServerOptions};
use xmpp_tether_testkit::slixmpp::Script;

/// Bound on every single wait.
pub(crate) const T: Duration = Duration::from_secs(10);
pub(crate) const COMPONENT: &str = "push.localhost";
pub(crate) const COMPONENT_SECRET: &str = "component-secret-for-tests";
pub(crate) const ALICE: &str = "alice@localhost";
pub(crate) const ALICE_PASS: &str = "alice-pass";
pub(crate) const BOB: &str = "bob@localhost";
/// alice's phone's Web Push endpoint (Push 2.0).
pub(crate) const ENDPOINT: &str = "https://push.example/wpush/v2/alice";
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

/// XEP-0357 §5, example 9, by hand: enable `node` of the push service with `secret` as the
/// publish-options form.
#[allow(dead_code, reason = "the Push 2.0 test uses the other")]
pub(crate) fn push0_enable_iq(node: &str, secret: &str) -> String {
    format!(
        "<iq xmlns='jabber:client' type='set' id='enable1'>\
         <enable xmlns='urn:xmpp:push:0' jid='{COMPONENT}' node='{node}'>\
         <x xmlns='jabber:x:data' type='submit'>\
         <field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
         <field var='secret'><value>{secret}</value></field>\
         </x></enable></iq>"
    )
}

/// The Push 2.0 `<enable/>` by hand (the seed's example) with the phone's `keys`, and `extra`
/// inside its `<match/>` (a `<grace/>`).
#[allow(dead_code, reason = "the XEP-0357 test uses the other")]
pub(crate) fn push2_enable_iq(keys: &ClientKeys, extra: &str) -> String {
    let send = keys.send_profile(None).expect("the send profile");
    format!(
        "<iq xmlns='jabber:client' type='set' id='push2-1'><enable xmlns='urn:xmpp:push2:0'>\
         <service>{COMPONENT}</service><client>{ENDPOINT}</client>\
         <match profile='urn:xmpp:push2:match:important'>{extra}\
         <send xmlns='urn:xmpp:push2:send:sce+rfc8291+rfc8292:0'>\
         <ua-public>{}</ua-public><auth-secret>{}</auth-secret>\
         <jwt-alg>ES256</jwt-alg><jwt-key>{}</jwt-key>\
         <jwt-claim name='aud'>https://push.example</jwt-claim>\
         </send></match></enable></iq>",
        send.ua_public,
        send.auth_secret,
        send.jwt_key.unwrap_or_default(),
    )
}
