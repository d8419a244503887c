//! Push 2.0 through the example server (`examples/server/push/two.rs`, xmpp-push2's user's
//! server side) with real parts on both ends: slixmpp 1.17 as the user's phone (no Push 2.0
//! plugin: the test writes the `<enable/>` iq by hand, filling in keys made with
//! xmpp-push2's client, and `tests/peers/push0/push0_client.py` sends it as it is), the
//! testkit's SASL2 client for the `<enable/>` inline in Bind2, our testkit client as the
//! second account, and a push service attached as an XEP-0114 component through the testkit
//! that runs `examples/push_service`'s code path: xmpp-push2's `PushService` turns each
//! `<notification/>` into the Web Push request, the phone's keys decrypt its body back into
//! the message, and an HTTP answer from the endpoint becomes the error it bounces.
//!
//! Cases: a hibernated session (the TCP link cut) and an offline account each get an
//! encrypted notification holding the message; the registration survives a restart
//! (`--state`); the Bind2 inline enable is answered inside `<bound/>` and its session,
//! hibernated, is notified; a `410 Gone` from the endpoint, bounced as `item-not-found`,
//! disables the registration as the crate says (nothing more is sent), and so does
//! `<disable/>`; no notification within a `<grace/>` period after the user's other session
//! sent a message; a tampered registration in the state file is refused at start.

mod push_common;

use std::time::Duration;

use push_common::{
    ALICE, ALICE_PASS, BOB, ENDPOINT, T, bare, connect, hibernate, iq, offline, options,
    push2_enable_iq, rng,
};

use jid::FullJid;
use minidom::Element;
use xmpp_tether::push2::client::{self, ClientKeys};
use xmpp_tether::push2::http::StatusCode;
use xmpp_tether::push2::service::{PushService, ServiceConfig, ServiceTransmit};
use xmpp_tether::push2::{Monotonic, Now, ns};
use xmpp_tether_testkit::client::{Connection, NS_BIND2, NS_SASL2, Sasl2Login, Sasl2Offer};
use xmpp_tether_testkit::component::Component;
use xmpp_tether_testkit::example_server::{DOMAIN, ExampleServer};
use xmpp_tether_testkit::slixmpp::Script;
use xmpp_tether_testkit::stanza::chat;
use xmpp_tether_testkit::{deadline_in, remaining, system_now};

fn now() -> Now {
    Now::new(Monotonic::ZERO, system_now())
}

/// The example server with a Push 2.0 push service attached as a component.
struct Setup {
    server: ExampleServer,
    push: Component,
    service: PushService,
    keys: ClientKeys,
}

/// A notification as the push service received it, and the request it made of it.
struct Delivered {
    /// The `<message/>` the server sent.
    stanza: Element,
    /// The Web Push request's id, to report the endpoint's answer.
    id: xmpp_tether::push2::service::RequestId,
    /// The endpoint it goes to.
    uri: String,
    /// The decrypted body of the message it carries.
    body: String,
}

impl Setup {
    fn start() -> Self {
        let opts = options();
        let server = ExampleServer::start(&opts)
            .unwrap_or_else(|e| panic!("starting the example server: {e}"));
        let push = connect(&server);
        let keys = ClientKeys::generate(&mut rng()).expect("client keys");
        Self {
            server,
            push,
            service: PushService::new(ServiceConfig::default()),
            keys,
        }
    }

    /// Nothing reaches the push service within `wait` (`what`: when it would be wrong).
    fn expect_no_notification(&mut self, wait: Duration, what: &str) {
        if let Some(d) = self.next_notification(wait) {
            panic!("{what}: {:?}", d.stanza);
        }
    }

    fn log(&self) -> String {
        self.server.transcript()
    }

    fn alice(&self) -> Script {
        push_common::alice(&self.server)
    }

    fn bob(&self) -> Connection {
        push_common::bob(&self.server)
    }

    /// Serves the component until a notification arrives; the push service makes its Web
    /// Push request, and the phone's keys open the body. `None` when nothing comes within
    /// `wait`.
    fn next_notification(&mut self, wait: Duration) -> Option<Delivered> {
        let deadline = deadline_in(wait);
        while let Some(left) = remaining(deadline) {
            let Some(stanza) = self.push.recv(left).expect("the component stream") else {
                continue;
            };
            let _ = self
                .service
                .handle_stanza(now(), &stanza)
                .unwrap_or_else(|e| panic!("a notification the service refused: {e}"));
            match self.service.poll_transmit() {
                Some(ServiceTransmit::Request { id, request }) => {
                    let envelope = client::open_body(&self.keys.ua, request.body())
                        .unwrap_or_else(|e| panic!("the phone cannot open it: {e}"));
                    let body = envelope
                        .forwarded
                        .message
                        .bodies
                        .values()
                        .next()
                        .cloned()
                        .unwrap_or_default();
                    return Some(Delivered {
                        stanza,
                        id,
                        uri: request.uri().to_string(),
                        body,
                    });
                }
                None => {} // not a notification
                Some(other) => panic!("the service answered at once: {other:?}"),
            }
        }
        None
    }

    /// Reports the endpoint's HTTP answer; what the push service bounces goes back to the
    /// server.
    fn answer(&mut self, delivered: &Delivered, status: StatusCode) {
        let _ = self.service.handle_response(now(), delivered.id, status);
        while let Some(t) = self.service.poll_transmit() {
            if let ServiceTransmit::Stanza(stanza) = t {
                self.push.send(&stanza).expect("bounce to the server");
            }
        }
    }

    fn wait_for_trace(&self, what: &str) -> String {
        self.server
            .wait_for_trace(T, what, |l| l.contains(what))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The `<enable/>` by hand (the seed's example, with this phone's keys).
    fn enable_iq(&self) -> String {
        self.enable_iq_with("")
    }

    /// The `<enable/>` by hand, with `extra` inside its `<match/>` (a `<grace/>`).
    fn enable_iq_with(&self, extra: &str) -> String {
        push2_enable_iq(&self.keys, extra)
    }
}

/// alice sees Push 2.0 on her account's disco#info and enables it.
fn enable(setup: &Setup, alice: &mut Script) {
    let disco = format!(
        "<iq xmlns='jabber:client' type='get' id='disco1' to='{ALICE}'>\
         <query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
    );
    let (kind, reply) = iq(alice, &disco);
    assert_eq!(kind, "result", "{}", setup.log());
    for feature in [ns::PUSH2, ns::MATCH_IMPORTANT, ns::SEND_SCE_RFC8291_RFC8292] {
        assert!(reply.contains(feature), "{feature} not advertised: {reply}");
    }
    let (kind, reply) = iq(alice, &setup.enable_iq());
    assert_eq!(kind, "result", "enable refused: {reply}\n{}", setup.log());
}

fn check_notified(setup: &mut Setup, body: &str) -> Delivered {
    let delivered = setup
        .next_notification(T)
        .unwrap_or_else(|| panic!("no notification reached the component\n{}", setup.log()));
    assert_eq!(delivered.stanza.attr("from"), Some(DOMAIN));
    assert_eq!(delivered.uri, ENDPOINT);
    assert_eq!(
        delivered.body, body,
        "the decrypted envelope holds the message"
    );
    delivered
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn a_hibernated_session_is_notified_with_the_encrypted_message() {
    let mut setup = Setup::start();
    let mut alice = setup.alice();
    enable(&setup, &mut alice);
    // While alice's session is live she gets the message itself, and no notification.
    let mut bob = setup.bob();
    bob.send(&chat(ALICE, "while live")).expect("bob sends");
    setup.expect_no_notification(Duration::from_secs(2), "notified while live");

    hibernate(&mut alice);
    // The server sees the reset at once on loopback; leave it a moment to hibernate.
    std::thread::sleep(Duration::from_millis(500));
    bob.send(&chat(ALICE, "wherefore art thou"))
        .expect("bob sends");
    let delivered = check_notified(&mut setup, "wherefore art thou");
    setup.answer(&delivered, StatusCode::CREATED);
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn an_offline_account_is_notified_and_its_registration_survives_a_restart() {
    let mut setup = Setup::start();
    let mut alice = setup.alice();
    enable(&setup, &mut alice);
    offline(&mut alice);

    let mut bob = setup.bob();
    bob.send(&chat(ALICE, "offline one")).expect("bob sends");
    let _ = check_notified(&mut setup, "offline one");
    bob.close();

    setup
        .server
        .terminate(T)
        .unwrap_or_else(|e| panic!("stopping: {e}"));
    let state = std::fs::read_to_string(setup.server.state_path()).expect("the state file");
    assert!(state.contains(ENDPOINT), "{state}");
    setup
        .server
        .start_again()
        .unwrap_or_else(|e| panic!("restarting: {e}"));
    setup.push = connect(&setup.server);
    let mut bob = setup.bob();
    bob.send(&chat(ALICE, "after the restart"))
        .expect("bob sends");
    let _ = check_notified(&mut setup, "after the restart");
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn no_notification_within_the_grace_period_of_another_active_session() {
    let mut setup = Setup::start();
    let mut alice = setup.alice();
    let (kind, reply) = iq(&mut alice, &setup.enable_iq_with("<grace>120</grace>"));
    assert_eq!(kind, "result", "enable refused: {reply}");
    hibernate(&mut alice);
    std::thread::sleep(Duration::from_millis(500));

    // alice is busy at her desk: she just sent a message from there.
    let (mut desk, _) = Connection::login(setup.server.addr(), &bare(ALICE), ALICE_PASS, T)
        .unwrap_or_else(|e| panic!("alice's desk: {e}"));
    desk.bind(Some("desk"), T).expect("the desk binds");
    desk.send(&chat(BOB, "brb")).expect("the desk sends");
    let mut bob = setup.bob();
    bob.send(&chat(ALICE, "back?")).expect("bob sends");
    setup.expect_no_notification(Duration::from_secs(3), "notified within the grace period");
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn disable_stops_the_notifications() {
    let mut setup = Setup::start();
    let mut alice = setup.alice();
    enable(&setup, &mut alice);
    let disable = "<iq xmlns='jabber:client' type='set' id='push2-2'>\
                   <disable xmlns='urn:xmpp:push2:0'/></iq>";
    let (kind, reply) = iq(&mut alice, disable);
    assert_eq!(kind, "result", "{reply}");
    offline(&mut alice);

    let mut bob = setup.bob();
    bob.send(&chat(ALICE, "nobody is told")).expect("bob sends");
    setup.expect_no_notification(Duration::from_secs(3), "notified after disable");
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn a_gone_endpoint_disables_the_registration() {
    let mut setup = Setup::start();
    let mut alice = setup.alice();
    enable(&setup, &mut alice);
    offline(&mut alice);

    let mut bob = setup.bob();
    bob.send(&chat(ALICE, "to a dead phone"))
        .expect("bob sends");
    let delivered = check_notified(&mut setup, "to a dead phone");
    // RFC 8030 §7.3: the subscription is gone; the push service bounces item-not-found and
    // the registry disables the registration (RegistryConfig::disable_on_gone).
    setup.answer(&delivered, StatusCode::GONE);
    let line = setup.wait_for_trace("push2: Disabled");
    assert!(line.contains("Gone"), "{line}");

    bob.send(&chat(ALICE, "nobody is told")).expect("bob sends");
    setup.expect_no_notification(Duration::from_secs(3), "notified after the disable");
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn the_bind2_inline_enable_is_answered_in_bound_and_its_hibernated_session_notified() {
    let mut setup = Setup::start();
    let (mut conn, features) = Connection::open(setup.server.addr(), DOMAIN, T)
        .unwrap_or_else(|e| panic!("connecting: {e}"));
    let offer = Sasl2Offer::from_features(&features).expect("SASL2 offered");
    let inline = offer.bind2.clone().unwrap_or_default();
    assert!(
        inline.iter().any(|f| f == ns::PUSH2),
        "Bind2's <inline/> names urn:xmpp:push2:0: {inline:?}"
    );
    let enable: Element = setup
        .enable_iq()
        .parse::<Element>()
        .expect("the enable iq")
        .get_child("enable", ns::PUSH2)
        .cloned()
        .expect("its <enable/>");
    let sm: Element = "<enable xmlns='urn:xmpp:sm:3' resume='true'/>"
        .parse()
        .expect("sm enable");
    let login = Sasl2Login::new("5a7e1c2f-2f6b-4b8e-9a43-phone").with_bind2(Some("phone"));
    let authenticate = login
        .authenticate_plain(&bare(ALICE), ALICE_PASS, Vec::new(), vec![sm, enable])
        .expect("Bind2 is on");
    conn.send(&authenticate).expect("authenticate");
    let success = conn.recv_element(T, "<success/>").expect("an answer");
    assert!(success.is("success", NS_SASL2), "{success:?}");
    let bound = success.get_child("bound", NS_BIND2).expect("<bound/>");
    assert_eq!(
        client::bind2_answer(bound),
        Some(Ok(())),
        "<enabled/> inside <bound/>: {bound:?}"
    );
    assert!(bound.has_child("enabled", "urn:xmpp:sm:3"), "{bound:?}");
    let alice: FullJid = success
        .get_child("authorization-identifier", NS_SASL2)
        .map(Element::text)
        .and_then(|j| j.parse().ok())
        .expect("the bound full JID");

    conn.cut();
    std::thread::sleep(Duration::from_millis(500));
    let mut bob = setup.bob();
    bob.send(&chat(&alice, "ring ring")).expect("bob sends");
    let delivered = check_notified(&mut setup, "ring ring");
    setup.answer(&delivered, StatusCode::CREATED);
}

/// Runs the server on `state` and expects it to refuse the file: it exits unsuccessfully at
/// once, saying why on stderr (returned).
fn refused(state: &std::path::Path) -> String {
    let binary = xmpp_tether_testkit::example_server::binary().expect("the server binary");
    let mut cmd = std::process::Command::new(binary);
    cmd.arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--state")
        .arg(state)
        .arg("--user")
        .arg(format!("alice:{ALICE_PASS}"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = xmpp_tether_testkit::process::ChildGuard::spawn("example server", &mut cmd)
        .expect("start the server");
    let status = child.wait_timeout(T).expect("the server exits");
    assert!(!status.success(), "a tampered state file was accepted");
    let mut err = String::new();
    if let Some(mut pipe) = child.child_mut().stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut err);
    }
    err
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn a_tampered_registration_in_the_state_file_is_refused() {
    let mut setup = Setup::start();
    let mut alice = setup.alice();
    enable(&setup, &mut alice);
    offline(&mut alice);
    setup
        .server
        .terminate(T)
        .unwrap_or_else(|e| panic!("stopping: {e}"));
    let text = std::fs::read_to_string(setup.server.state_path()).expect("the state file");
    let mut state: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    // The stored <enable/> is read back like a client's: a key that does not parse is refused.
    let enable = &mut state["push"]["push2"]["accounts"][0]["registrations"][0]["enable"];
    let xml = enable.as_str().expect("the stored <enable/>").to_owned();
    let key = setup.keys.send_profile(None).expect("keys").ua_public;
    assert!(xml.contains(&key), "{xml}");
    *enable = serde_json::Value::String(xml.replace(&key, "not-a-key"));
    let tampered = setup.server.state_path().with_extension("tampered.json");
    std::fs::write(&tampered, serde_json::to_vec(&state).expect("JSON")).expect("write");
    let err = refused(&tampered);
    assert!(err.contains("push2"), "{err}");
}
