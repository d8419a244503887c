//! End to end with real parts, for `xmpp-push2`: the user's server's [`Registry`] builds the
//! notifications for a message routed to a hibernated account, the push service's
//! [`PushService`] turns each into a Web Push request, sent with `ureq` over loopback to a
//! small Python Web Push endpoint (`tests/peers/push2/webpush_endpoint.py`, started here) that
//! verifies the VAPID header with PyJWT and decrypts the body with `http_ece`, as a push
//! service and a device would. The decrypted envelope holds the original message. A second
//! registration's endpoint answers 410 Gone: that comes back to the user's server as a
//! `cancel` / `item-not-found` error bounce, which disables that registration and nothing
//! else.
//!
//! No XMPP server is involved: the test moves the stanzas between the registry and the push
//! service itself. The virtualenv comes from `./scripts/setup-peers.sh` (`./ci.sh` runs it);
//! when it is missing the test fails, it does not skip.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use minidom::Element;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::Value;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType};
use xmpp_tether::push2::client::ClientKeys;
use xmpp_tether::push2::{
    Device, DisableReason, DiscardReason, Enable, Event, Incoming, Match, MatchProfile, Monotonic,
    Now, PushService, Registry, RegistryConfig, Routed, SendProfile, ServiceConfig, ServiceEvent,
    ServiceTransmit, SessionState, SessionStatus, Transmit,
};
use xmpp_tether::push2_crypto::Envelope;
use xmpp_tether::push2_crypto::hazmat::b64;

/// Bound on each wait for the Python endpoint.
const TIMEOUT: Duration = Duration::from_secs(30);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The endpoint process: killed by pid when the test ends, however it ends.
struct Endpoint {
    child: Child,
    _stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    port: u16,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Endpoint {
    fn start(subscriptions: &[(&str, &ClientKeys)]) -> Self {
        let python = root().join(".venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run ./scripts/setup-peers.sh (./ci.sh does)",
            python.display()
        );
        let mut command = Command::new(&python);
        command
            .arg(root().join("tests/peers/push2/webpush_endpoint.py"))
            .args(["--for", "120"]);
        for (name, keys) in subscriptions {
            let private = b64::encode_url(keys.ua.key_pair.private_bytes());
            let auth = b64::encode_url(keys.ua.auth_secret.as_bytes());
            command.arg(format!("{name}={private}:{auth}"));
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", python.display()));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines.recv_timeout(TIMEOUT).expect("the endpoint starts");
        let port = first
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        Self {
            child,
            _stdin: stdin,
            lines,
            port,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    fn report(&self) -> Value {
        let line = self
            .lines
            .recv_timeout(TIMEOUT)
            .expect("a report per request");
        serde_json::from_str(&line).expect("a JSON report")
    }
}

#[expect(
    clippy::disallowed_methods,
    reason = "a real-peer test runs in real time"
)]
fn now() -> Now {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(std::time::Instant::now);
    Now::new(
        Monotonic::from_instant(epoch, std::time::Instant::now()),
        SystemTime::now(),
    )
}

fn enable(endpoint: String, keys: &ClientKeys) -> Enable {
    // No aud claim: the server derives the origin of the endpoint, which the Python side
    // requires.
    let send = keys.send_profile(None).unwrap();
    Enable::new("push.capulet.example".parse().unwrap(), endpoint).with_match(Match::new(
        MatchProfile::Important,
        SendProfile::WebPush(send),
    ))
}

#[test]
fn a_message_reaches_the_python_endpoint_and_a_gone_endpoint_disables_only_its_registration() {
    let mut rng = ChaCha20Rng::seed_from_u64(2026);
    let phone_keys = ClientKeys::generate(&mut rng).unwrap();
    let tablet_keys = ClientKeys::generate(&mut rng).unwrap();
    let endpoint = Endpoint::start(&[("phone", &phone_keys), ("tablet", &tablet_keys)]);

    // The user's server: two devices of Juliet's register.
    let mut registry = Registry::new(RegistryConfig::default(), &mut rng);
    let phone = Device::new("juliet@capulet.example/phone".parse().unwrap());
    let tablet =
        Device::new("juliet@capulet.example/tablet".parse().unwrap()).with_user_agent("9c2f");
    let at = now();
    assert_eq!(
        registry.handle_iq(
            at,
            &phone,
            &enable(endpoint.url("sub/phone"), &phone_keys).to_iq("e1")
        ),
        Ok(Incoming::Handled)
    );
    assert_eq!(
        registry.handle_iq(
            at,
            &tablet,
            &enable(endpoint.url("gone/tablet"), &tablet_keys).to_iq("e2")
        ),
        Ok(Incoming::Handled)
    );
    while registry.poll_transmit().is_some() {}
    while registry.poll_event().is_some() {}

    // Both sessions hibernated; Romeo's message is archived and routed to Juliet.
    let message: Element = "<message xmlns='jabber:client' type='chat' id='r1' \
        from='romeo@montague.example/orchard' to='juliet@capulet.example'>\
        <body>Wherefore art thou, Juliet? &lt;3 &amp; more</body></message>"
        .parse()
        .unwrap();
    let juliet = phone.jid.to_bare();
    let sessions = [
        SessionState::new(phone.key(), SessionStatus::Hibernated),
        SessionState::new(tablet.key(), SessionStatus::Hibernated),
    ];
    let routed = Routed::new(&juliet, &message)
        .with_archive_id("mam-42")
        .with_sessions(&sessions);
    assert_eq!(registry.handle_routed(now(), &mut rng, &routed), 2);

    // The push service delivers each notification over HTTP.
    let mut service = PushService::new(ServiceConfig::default());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(TIMEOUT))
        .build()
        .into();
    let mut bounces = Vec::new();
    while let Some(t) = registry.poll_transmit() {
        let Transmit::Notification(n) = t else {
            panic!("unexpected {t:?}")
        };
        assert_eq!(n.to.to_string(), "push.capulet.example");
        assert_eq!(
            service.handle_stanza(now(), &n.to_element()),
            Ok(Incoming::Handled)
        );
        while let Some(out) = service.poll_transmit() {
            match out {
                ServiceTransmit::Request { id, request } => {
                    let response = agent.run(request).expect("the endpoint answers");
                    let _ = service.handle_response(now(), id, response.status());
                }
                ServiceTransmit::Stanza(reply) => bounces.push(*reply),
                other => panic!("unexpected {other:?}"),
            }
        }
        while let Some(out) = service.poll_transmit() {
            if let ServiceTransmit::Stanza(reply) = out {
                bounces.push(*reply);
            }
        }
    }
    let mut delivered = 0;
    while let Some(event) = service.poll_event() {
        if matches!(event, ServiceEvent::Delivered { .. }) {
            delivered += 1;
        }
    }
    assert_eq!(delivered, 1);

    // What the endpoint saw: the phone's request verified and decrypted to the message.
    let mut reports: Vec<Value> = (0..2).map(|_| endpoint.report()).collect();
    reports.sort_by_key(|r| r["path"].as_str().unwrap_or_default().to_owned());
    let (gone, ok) = (&reports[0], &reports[1]);
    assert_eq!(ok["path"], "/sub/phone");
    assert_eq!(ok["status"], 201, "{ok}");
    assert_eq!(ok["headers"]["urgency"], "normal");
    assert_eq!(ok["headers"]["ttl"], "86400");
    assert_eq!(ok["claims"]["sub"], "xmpp:capulet.example");
    assert_eq!(
        ok["claims"]["aud"],
        format!("http://127.0.0.1:{}", endpoint.port)
    );
    let plaintext = b64::decode(ok["plaintext"].as_str().unwrap()).unwrap();
    assert_eq!(plaintext.len(), 2847, "padded to the budget");
    let envelope = Envelope::from_bytes(&plaintext).unwrap();
    let forwarded = &envelope.forwarded.message;
    assert_eq!(
        forwarded.bodies[""],
        "Wherefore art thou, Juliet? <3 & more"
    );
    assert_eq!(
        forwarded.from.as_ref().unwrap().to_string(),
        "romeo@montague.example/orchard"
    );
    assert!(
        forwarded
            .payloads
            .iter()
            .any(|p| p.is("stanza-id", "urn:xmpp:sid:0")
                && p.attr("id") == Some("mam-42")
                && p.attr("by") == Some("juliet@capulet.example"))
    );
    assert_eq!(gone["path"], "/gone/tablet");
    assert_eq!(gone["status"], 410);

    // The 410 came back as a cancel / item-not-found bounce; the registry disables the
    // tablet's registration, and only that one.
    assert_eq!(bounces.len(), 1);
    let error = bounces[0].get_child("error", "jabber:client").unwrap();
    let error = xmpp_parsers::stanza_error::StanzaError::try_from(error.clone()).unwrap();
    assert_eq!(
        (error.type_, error.defined_condition),
        (ErrorType::Cancel, DefinedCondition::ItemNotFound)
    );
    assert_eq!(
        registry.handle_stanza(now(), &mut rng, &bounces[0]),
        Incoming::Handled
    );
    let events: Vec<Event> = std::iter::from_fn(|| registry.poll_event()).collect();
    assert!(
        matches!(&events[0], Event::Discarded { key, reason: DiscardReason::Error(_), .. } if *key == tablet.key()),
        "{events:?}"
    );
    assert!(
        matches!(&events[1], Event::Disabled { key, reason: DisableReason::Gone { .. }, .. } if *key == tablet.key()),
        "{events:?}"
    );
    let left = registry.registrations(&juliet);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].key, phone.key());
    // The phone's notification had no error: delivered once the outcome window passes.
    registry.handle_timeout(now().advance(Duration::from_secs(61)));
    let events: Vec<Event> = std::iter::from_fn(|| registry.poll_event()).collect();
    assert!(
        matches!(&events[..], [Event::Delivered { key, .. }] if *key == phone.key()),
        "{events:?}"
    );
}
