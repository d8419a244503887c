//! Real server: Debian's Prosody 0.12 with prosody-modules' mod_cloud_notify (XEP-0357) on
//! 127.0.0.1, with a component port. Our app-server side ([`AppServer`]) runs as an XEP-0114
//! component (`push.localhost`, testkit's [`Component`]); the client is slixmpp
//! (`tests/peers/push0/push0_client.py`), which sends the iqs our client builders made; a
//! second account, bob, is our testkit client.
//!
//! - Hibernated: alice enables push with the node and secret our app server issued, her
//!   stream-management session hibernates (the TCP connection drops), bob writes to her: the
//!   component receives Prosody's publish from the server's JID, accepts the secret and sees
//!   the summary (a `type='form'` form: count, sender, body).
//! - Offline: the same after alice logs out cleanly (Prosody's offline-message hook).
//! - Wrong secret: alice enables with a secret the app server never issued; each publish is
//!   answered `forbidden`, and Prosody counts the errors in its log until it disables the
//!   registration (`push_max_errors = 2`), after which no publish comes.
//!
//! The `submit` summary (ejabberd's) is checked to go through the same app-server path.
//!
//! Prosody and the virtualenv are installed by `./scripts/setup-peers.sh`; when they are
//! missing this test fails: it never skips. Set `PUSH0_CAPTURE` to a file name to save the
//! first publish Prosody sent (the source of `crates/push0/tests/fixtures/peers/`).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use jid::{BareJid, Jid};
use minidom::Element;
use xmpp_parsers::data_forms::DataFormType;
use xmpp_parsers::stanza_error::DefinedCondition;
use xmpp_tether::push0::{
    AppEvent, AppServer, AppServerConfig, Enable, Monotonic, NodeCredentials, Now, PublishError,
    Received, client,
};
use xmpp_tether_testkit::client::Connection;
use xmpp_tether_testkit::component::Component;
use xmpp_tether_testkit::process::{free_port, wait_for_port};
use xmpp_tether_testkit::prosody::{DOMAIN, Prosody, ProsodyOptions};
use xmpp_tether_testkit::slixmpp::Script;
use xmpp_tether_testkit::stanza::chat;
use xmpp_tether_testkit::{deadline_in, remaining, system_now};

/// Bound on every single wait; each test stays well under a minute.
const T: Duration = Duration::from_secs(10);
const COMPONENT: &str = "push.localhost";
const COMPONENT_SECRET: &str = "component-secret-for-tests";
const ALICE: &str = "alice@localhost";
const ALICE_PASS: &str = "alice-pass";
const BOB: &str = "bob@localhost";
const BOB_PASS: &str = "bob-pass";

fn now() -> Now {
    // The app server only reads the wall clock.
    Now::new(Monotonic::ZERO, system_now())
}

/// Prosody with mod_cloud_notify and our component attached.
struct Setup {
    prosody: Prosody,
    push: Component,
    app: AppServer,
}

impl Setup {
    fn start(max_errors: u32) -> Self {
        let mut last = String::new();
        // The component port was free a moment ago; if Prosody could not bind it, try again.
        for _ in 0..3 {
            let port = free_port().expect("a free port");
            let extra = format!(
                r#"modules_enabled = {{ "roster", "saslauth", "disco", "ping", "smacks", "cloud_notify" }}
component_ports = {{ {port} }}
push_notification_with_body = true
push_notification_with_sender = true
push_max_errors = {max_errors}

Component "{COMPONENT}"
    component_secret = "{COMPONENT_SECRET}"
"#
            );
            let opts = ProsodyOptions {
                extra_config: extra,
                ..ProsodyOptions::default()
            }
            .account("alice", ALICE_PASS)
            .account("bob", BOB_PASS);
            let prosody = Prosody::start(&opts)
                .unwrap_or_else(|e| panic!("starting prosody (run ./scripts/setup-peers.sh): {e}"));
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            if let Err(e) = wait_for_port(addr, T, || Ok(())) {
                last = format!("{e}\n{}", prosody.log_tail(30));
                continue;
            }
            match Component::connect(addr, COMPONENT, COMPONENT_SECRET, T) {
                Ok(push) => {
                    let app = AppServer::new(jid(COMPONENT), AppServerConfig::default());
                    return Self { prosody, push, app };
                }
                Err(e) => last = format!("{e}\n{}", prosody.log_tail(30)),
            }
        }
        panic!("the component could not attach: {last}");
    }

    fn log(&self) -> String {
        self.prosody.log_tail(60)
    }

    /// alice's slixmpp client, logged in with stream management on.
    fn alice(&self) -> Script {
        let addr = self.prosody.c2s_addr();
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
        script
            .expect_line("SESSION", T)
            .unwrap_or_else(|e| panic!("{e}\n{}", self.log()));
        script
            .expect_line("ENABLED", T)
            .unwrap_or_else(|e| panic!("{e}\n{}", self.log()));
        script
    }

    /// bob, logged in and bound, as our own testkit client.
    fn bob(&self) -> Connection {
        let (mut conn, _) = Connection::login(self.prosody.c2s_addr(), &bare(BOB), BOB_PASS, T)
            .unwrap_or_else(|e| panic!("bob's login: {e}\n{}", self.log()));
        conn.bind(Some("desk"), T).expect("bob binds");
        conn
    }

    /// Serves the component until a publish arrives and is answered; returns the publish as
    /// received and what the app server made of it. `None` when nothing comes within `wait`.
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
            let is_publish = stanza
                .get_child("pubsub", "http://jabber.org/protocol/pubsub")
                .is_some();
            if !is_publish {
                continue;
            }
            let received = self.app.poll_event().and_then(|e| match e {
                AppEvent::Notification(n) => Some(n),
                _ => None,
            });
            if let Ok(Some(path)) =
                std::env::var("PUSH0_CAPTURE").map(|p| Some(p).filter(|p| !p.is_empty()))
            {
                let _ = std::fs::write(path, String::from(&stanza));
            }
            return Some((stanza, outcome.map(|_| received)));
        }
        None
    }
}

/// The app server's RNG, seeded from the OS: node names and secrets are real secrets here.
fn rng() -> rand_chacha::ChaCha20Rng {
    let mut seed = [0; 32];
    getrandom::fill(&mut seed).expect("the OS random source");
    rand_core::SeedableRng::from_seed(seed)
}

fn jid(s: &str) -> Jid {
    s.parse().expect("test JID")
}

fn bare(s: &str) -> BareJid {
    s.parse().expect("test JID")
}

/// Sends an iq through slixmpp; returns the reply's type and XML.
fn iq(script: &mut Script, iq: &Element) -> (String, Element) {
    script
        .send_line(&format!("iq {}", String::from(iq)))
        .expect("write to slixmpp");
    let line = script.expect_line("REPLY", T).expect("an answer");
    let mut parts = line.splitn(3, ' ');
    let kind = parts.next().unwrap_or_default().to_owned();
    let _id = parts.next();
    let xml = parts.next().unwrap_or_default();
    // slixmpp writes the stanza in its stream's default namespace, without `xmlns`.
    let head = &xml[..xml.find('>').unwrap_or(0)];
    let xml = if head.contains("xmlns=") {
        xml.to_owned()
    } else {
        xml.replacen("<iq", "<iq xmlns='jabber:client'", 1)
    };
    (
        kind,
        xml.parse()
            .unwrap_or_else(|e| panic!("reply XML {xml:?}: {e}")),
    )
}

/// alice checks for push support and enables it with `secret`.
fn enable(setup: &Setup, alice: &mut Script, credentials: &NodeCredentials, secret: &str) {
    let (kind, reply) = iq(alice, &client::disco_request("d1", &bare(ALICE)));
    assert_eq!(kind, "result", "{}", setup.log());
    assert_eq!(
        client::supports_push(&reply),
        Ok(true),
        "Prosody advertises urn:xmpp:push:0"
    );
    let enable = Enable::new(jid(COMPONENT), credentials.node.clone())
        .with_secret(secret)
        .to_iq("e1");
    let (kind, reply) = iq(alice, &enable);
    assert_eq!(kind, "result", "enable refused: {reply:?}\n{}", setup.log());
    assert_eq!(client::reply_outcome(&reply), Some(Ok(())));
}

fn check_accepted(setup: &mut Setup, body: &str) -> Element {
    let (publish, outcome) = setup
        .next_publish(T)
        .unwrap_or_else(|| panic!("no publish reached the component\n{}", setup.log()));
    // XEP-0357 0.3+: from the server's JID.
    assert_eq!(publish.attr("from"), Some(DOMAIN), "{publish:?}");
    let received = outcome
        .unwrap_or_else(|e| panic!("publish refused: {e}\n{publish:?}"))
        .expect("a notification");
    assert_eq!(received.publisher, jid(DOMAIN));
    let summary = received.summary.expect("a summary");
    assert_eq!(
        summary.form_type,
        Some(DataFormType::Form),
        "Prosody sends type='form'"
    );
    assert_eq!(summary.message_count, Some(1));
    assert_eq!(
        summary.pending_subscription_count, None,
        "sent empty by Prosody"
    );
    assert_eq!(
        summary.last_message_sender,
        Some(jid(&format!("{BOB}/desk")))
    );
    assert_eq!(summary.last_message_body.as_deref(), Some(body));
    publish
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn a_hibernated_session_is_pushed_through_our_component() {
    let mut setup = Setup::start(16);
    let credentials = setup.app.create_node(now(), &mut rng(), "alice's phone");
    let mut alice = setup.alice();
    enable(
        &setup,
        &mut alice,
        &credentials,
        credentials.secret.as_str(),
    );
    alice.send_line("hibernate").expect("write to slixmpp");
    alice.expect_line("HIBERNATED", T).expect("cut");
    // Prosody notices the dead connection and hibernates the session.
    std::thread::sleep(Duration::from_millis(300));
    let mut bob = setup.bob();
    bob.send(&chat(ALICE, "are you there?"))
        .expect("bob writes");
    let publish = check_accepted(&mut setup, "are you there?");
    let log = std::fs::read_to_string(setup.prosody.log_path()).unwrap_or_default();
    assert!(
        log.contains("hibernat"),
        "the session hibernated:\n{}",
        setup.log()
    );
    // The publish carries the secret the app server issued, as publish options.
    let options = xmpp_tether::push0::Publish::from_iq(&publish)
        .expect("publish")
        .publish_options
        .expect("publish options");
    assert_eq!(options.secret(), Some(credentials.secret.as_str()));
    alice.send_line("quit").ok();
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn an_offline_account_is_pushed_through_our_component() {
    let mut setup = Setup::start(16);
    let credentials = setup.app.create_node(now(), &mut rng(), "alice's phone");
    let mut alice = setup.alice();
    enable(
        &setup,
        &mut alice,
        &credentials,
        credentials.secret.as_str(),
    );
    alice.send_line("offline").expect("write to slixmpp");
    alice.expect_line("OFFLINE", T).expect("logged out");
    std::thread::sleep(Duration::from_millis(300));
    let mut bob = setup.bob();
    bob.send(&chat(ALICE, "see you offline"))
        .expect("bob writes");
    let _ = check_accepted(&mut setup, "see you offline");
    // ejabberd's type='submit' summary goes through the same app-server path.
    let submit = include_str!("../crates/push0/tests/fixtures/peers/ejabberd-publish-submit.xml");
    let submit = submit.split_once("-->").map_or(submit, |(_, x)| x).trim();
    let submit = submit
        .replace("to='push.example.net'", &format!("to='{COMPONENT}'"))
        .replace("node='n0d3'", &format!("node='{}'", credentials.node))
        .replace(
            "<value>s3cr3t</value>",
            &format!("<value>{}</value>", credentials.secret.as_str()),
        );
    let submit: Element = submit.parse().expect("fixture");
    assert!(setup.app.handle_stanza(now(), &submit).is_ok());
    let Some(AppEvent::Notification(n)) = setup.app.poll_event() else {
        panic!("the submit summary was not accepted");
    };
    assert_eq!(
        n.summary.and_then(|s| s.form_type),
        Some(DataFormType::Submit)
    );
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn a_wrong_secret_is_forbidden_and_prosody_counts_it() {
    let mut setup = Setup::start(2);
    let credentials = setup.app.create_node(now(), &mut rng(), "alice's phone");
    let mut alice = setup.alice();
    enable(&setup, &mut alice, &credentials, "not-the-secret");
    alice.send_line("offline").expect("write to slixmpp");
    alice.expect_line("OFFLINE", T).expect("logged out");
    std::thread::sleep(Duration::from_millis(300));
    let mut bob = setup.bob();
    for (n, body) in ["one", "two"].into_iter().enumerate() {
        bob.send(&chat(ALICE, body)).expect("bob writes");
        let (_, outcome) = setup
            .next_publish(T)
            .unwrap_or_else(|| panic!("no publish for {body:?}\n{}", setup.log()));
        assert_eq!(
            outcome,
            Err(PublishError::WrongSecret {
                node: credentials.node.clone()
            })
        );
        assert_eq!(
            PublishError::WrongSecret {
                node: String::new()
            }
            .condition(),
            DefinedCondition::Forbidden
        );
        let counted = format!("error count for this identifier is now at {}", n + 1);
        wait_for_log(&setup, &counted);
    }
    wait_for_log(&setup, "Disabling push notifications for identifier");
    bob.send(&chat(ALICE, "three")).expect("bob writes");
    assert!(
        setup.next_publish(Duration::from_secs(3)).is_none(),
        "Prosody disabled the registration after 2 errors\n{}",
        setup.log()
    );
}

/// Waits for `text` in Prosody's debug log.
fn wait_for_log(setup: &Setup, text: &str) {
    let deadline = deadline_in(T);
    while remaining(deadline).is_some() {
        let log = std::fs::read_to_string(setup.prosody.log_path()).unwrap_or_default();
        if log.contains(text) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{text:?} not in Prosody's log\n{}", setup.log());
}
