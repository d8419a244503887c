//! XEP-0357 through the example server (`examples/server/push/zero.rs`, xmpp-push0's user's
//! server side) with real parts on both ends: slixmpp 1.17 as the user's phone (it has no
//! XEP-0357 plugin, so the test writes the `<enable/>` and `<disable/>` iqs by hand and
//! `tests/peers/push0/push0_client.py` sends them as they are), our testkit client as the
//! second account, and our own app server (xmpp-push0's `AppServer`, the code path of
//! `examples/push_service`) attached as an XEP-0114 component through the testkit.
//!
//! Cases: a session hibernated through stream management (the TCP link cut) is kept until
//! its first push, which reaches the component with the right secret and summary; an offline
//! account is pushed; registrations survive a restart (`--state`); `<disable/>` stops the
//! publishes; a publish the app server refuses (a wrong secret: `forbidden`) is counted as
//! the crate's default policy says (16 in a row disable), without disabling at the first;
//! a tampered registration in the state file is refused at start.

mod push_common;

use std::time::Duration;

use push_common::{
    ALICE, COMPONENT, T, connect, hibernate, iq, offline, options, push0_enable_iq, rng,
};

use jid::Jid;
use minidom::Element;
use xmpp_tether::push0::{
    AppEvent, AppServer, AppServerConfig, Monotonic, NodeCredentials, Now, PublishError, Received,
    client,
};
use xmpp_tether_testkit::client::Connection;
use xmpp_tether_testkit::component::Component;
use xmpp_tether_testkit::example_server::{DOMAIN, ExampleServer};
use xmpp_tether_testkit::slixmpp::Script;
use xmpp_tether_testkit::stanza::chat;
use xmpp_tether_testkit::{deadline_in, remaining, system_now};

fn now() -> Now {
    // The app server only reads the wall clock.
    Now::new(Monotonic::ZERO, system_now())
}

/// The example server with our app server attached as a component.
struct Setup {
    server: ExampleServer,
    push: Component,
    app: AppServer,
    credentials: NodeCredentials,
}

impl Setup {
    fn start() -> Self {
        let opts = options();
        let server = ExampleServer::start(&opts)
            .unwrap_or_else(|e| panic!("starting the example server: {e}"));
        let push = connect(&server);
        let mut app = AppServer::new(jid(COMPONENT), AppServerConfig::default());
        let credentials = app.create_node(now(), &mut rng(), "alice's phone");
        Self {
            server,
            push,
            app,
            credentials,
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

    /// Serves the component until a publish arrives and is answered by the app server;
    /// returns the publish and what the app server made of it. `None` when nothing comes
    /// within `wait`.
    fn next_publish(
        &mut self,
        wait: Duration,
    ) -> Option<(Element, Result<Option<Received>, PublishError>)> {
        let deadline = deadline_in(wait);
        while let Some(left) = remaining(deadline) {
            let Some(stanza) = self.push.recv(left).expect("the component stream") else {
                continue;
            };
            let outcome = self.app.handle_stanza(now(), &stanza);
            while let Some(answer) = self.app.poll_transmit() {
                self.push.send(&answer.element).expect("answer the publish");
            }
            if stanza
                .get_child("pubsub", "http://jabber.org/protocol/pubsub")
                .is_none()
            {
                continue;
            }
            let received = self.app.poll_event().and_then(|e| match e {
                AppEvent::Notification(n) => Some(n),
                _ => None,
            });
            return Some((stanza, outcome.map(|_| received)));
        }
        None
    }

    fn wait_for_trace(&self, what: &str) -> String {
        self.server
            .wait_for_trace(T, what, |l| l.contains(what))
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

fn jid(s: &str) -> Jid {
    s.parse().expect("test JID")
}

/// Sends an iq (XML on one line) through slixmpp; returns the reply's type and the reply.
/// Sends an iq through slixmpp; returns the reply's type and the reply, parsed.
fn iq_parsed(script: &mut Script, xml: &str) -> (String, Element) {
    let (kind, xml) = iq(script, xml);
    // slixmpp writes the stanza in its stream's default namespace, without `xmlns`.
    let head = &xml[..xml.find('>').unwrap_or(0)];
    let xml = if head.contains("xmlns=") {
        xml.clone()
    } else {
        xml.replacen("<iq", "<iq xmlns='jabber:client'", 1)
    };
    let reply = xml
        .parse()
        .unwrap_or_else(|e| panic!("reply XML {xml:?}: {e}"));
    (kind, reply)
}

/// alice checks for push support on her account and enables it with `secret`, the node's
/// own when `None`.
fn enable(setup: &Setup, alice: &mut Script, secret: Option<&str>) {
    let secret = secret.unwrap_or(setup.credentials.secret.as_str());
    let disco = format!(
        "<iq xmlns='jabber:client' type='get' id='disco1' to='{ALICE}'>\
         <query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
    );
    let (kind, reply) = iq_parsed(alice, &disco);
    assert_eq!(kind, "result", "{}", setup.log());
    assert_eq!(
        client::supports_push(&reply),
        Ok(true),
        "the account advertises urn:xmpp:push:0: {reply:?}"
    );
    let (kind, reply) = iq_parsed(alice, &push0_enable_iq(&setup.credentials.node, secret));
    assert_eq!(kind, "result", "enable refused: {reply:?}\n{}", setup.log());
}

/// The next publish is accepted by the app server, from the server's JID, with the
/// summary the server's privacy policy allows (counts and a placeholder body: Prosody's
/// default, the crate's).
fn check_accepted(setup: &mut Setup, count: u32) -> Element {
    let (publish, outcome) = setup
        .next_publish(T)
        .unwrap_or_else(|| panic!("no publish reached the component\n{}", setup.log()));
    // XEP-0357 0.3+: from the server's JID.
    assert_eq!(publish.attr("from"), Some(DOMAIN), "{publish:?}");
    let received = outcome
        .unwrap_or_else(|e| panic!("publish refused: {e}\n{publish:?}"))
        .expect("a notification");
    assert_eq!(received.node, setup.credentials.node);
    assert_eq!(received.publisher, jid(DOMAIN));
    let summary = received.summary.expect("a summary");
    assert_eq!(summary.message_count, Some(count));
    assert_eq!(
        summary.last_message_sender, None,
        "not under the placeholder"
    );
    assert_eq!(summary.last_message_body.as_deref(), Some("New Message!"));
    publish
}

fn message(bob: &mut Connection, body: &str) {
    bob.send(&chat(ALICE, body)).expect("bob sends");
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn a_hibernated_session_is_kept_until_its_first_push_which_carries_the_secret() {
    let mut setup = Setup::start();
    let mut alice = setup.alice();
    enable(&setup, &mut alice, None);
    // While alice's session is live she gets the message itself, and nothing is published.
    let mut bob = setup.bob();
    message(&mut bob, "while live");
    let early = setup.next_publish(Duration::from_secs(2));
    assert!(early.is_none(), "published while live: {early:?}");

    hibernate(&mut alice);
    setup.wait_for_trace("push0: alice@localhost/phone hibernated, kept until its first push");

    message(&mut bob, "wherefore art thou");
    let publish = check_accepted(&mut setup, 1);
    // The secret travels in the publish-options (XEP-0357 §7), and the app server checked
    // it in constant time before accepting.
    assert!(
        String::from(&publish).contains(setup.credentials.secret.as_str()),
        "{publish:?}"
    );
    setup.wait_for_trace("push0: alice@localhost/phone pushed, back to its own timeout");
    setup.wait_for_trace("Delivered");

    // A second message: still pushed (the session is still hibernated), counted.
    message(&mut bob, "are you there");
    let _ = check_accepted(&mut setup, 2);
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn an_offline_account_is_pushed_and_its_registration_survives_a_restart() {
    let mut setup = Setup::start();
    let mut alice = setup.alice();
    enable(&setup, &mut alice, None);
    offline(&mut alice);

    let mut bob = setup.bob();
    message(&mut bob, "offline one");
    let _ = check_accepted(&mut setup, 1);
    bob.close();

    // The registration (and the count) is in --state.
    setup
        .server
        .terminate(T)
        .unwrap_or_else(|e| panic!("stopping: {e}"));
    let state = std::fs::read_to_string(setup.server.state_path()).expect("the state file");
    assert!(state.contains(&setup.credentials.node), "{state}");
    setup
        .server
        .start_again()
        .unwrap_or_else(|e| panic!("restarting: {e}"));
    setup.push = connect(&setup.server);
    let mut bob = setup.bob();
    message(&mut bob, "after the restart");
    let _ = check_accepted(&mut setup, 2);
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn disable_stops_the_publishes() {
    let mut setup = Setup::start();
    let mut alice = setup.alice();
    enable(&setup, &mut alice, None);
    let disable = format!(
        "<iq xmlns='jabber:client' type='set' id='disable1'>\
         <disable xmlns='urn:xmpp:push:0' jid='{COMPONENT}' node='{}'/></iq>",
        setup.credentials.node
    );
    let (kind, reply) = iq_parsed(&mut alice, &disable);
    assert_eq!(kind, "result", "{reply:?}");
    offline(&mut alice);

    let mut bob = setup.bob();
    message(&mut bob, "nobody is told");
    let publish = setup.next_publish(Duration::from_secs(3));
    assert!(publish.is_none(), "published after disable: {publish:?}");
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn a_refused_publish_is_counted_without_disabling_at_the_first() {
    let mut setup = Setup::start();
    let mut alice = setup.alice();
    enable(&setup, &mut alice, Some("not-the-secret"));
    offline(&mut alice);

    let mut bob = setup.bob();
    for (n, body) in [(1, "first"), (2, "second")] {
        message(&mut bob, body);
        let (publish, outcome) = setup
            .next_publish(T)
            .unwrap_or_else(|| panic!("no publish\n{}", setup.log()));
        assert!(
            matches!(outcome, Err(PublishError::WrongSecret { .. })),
            "{outcome:?} for {publish:?}"
        );
        // The crate's default policy (Prosody's): errors in a row are counted, 16 disable.
        setup.wait_for_trace(&format!("consecutive: {n}"));
    }
    let disabled = setup
        .server
        .trace()
        .into_iter()
        .find(|l| l.contains("push0: Disabled"));
    assert_eq!(disabled, None, "disabled before the limit");
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn a_tampered_registration_in_the_state_file_is_refused() {
    let mut setup = Setup::start();
    let mut alice = setup.alice();
    enable(&setup, &mut alice, None);
    offline(&mut alice);
    setup
        .server
        .terminate(T)
        .unwrap_or_else(|e| panic!("stopping: {e}"));
    let text = std::fs::read_to_string(setup.server.state_path()).expect("the state file");
    let mut state: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    // Read back like peer data: the same (service, node) twice does not hold together.
    let registrations = &mut state["push"]["push0"]["accounts"][0]["registrations"];
    let first = registrations[0].clone();
    registrations
        .as_array_mut()
        .expect("alice's registrations")
        .push(first);
    let tampered = setup.server.state_path().with_extension("tampered.json");
    std::fs::write(&tampered, serde_json::to_vec(&state).expect("JSON")).expect("write");

    let binary = xmpp_tether_testkit::example_server::binary().expect("the server binary");
    let mut cmd = std::process::Command::new(binary);
    cmd.arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--state")
        .arg(&tampered)
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
    assert!(err.contains("push0"), "{err}");
}
