//! Every example of XEP-0357, in the seed (0.2.1) and the current version (0.4.1), parses to
//! the exact typed value expected, and what parses round-trips; so do the publishes Prosody and
//! ejabberd send.
//!
//! Fixture files live in `tests/fixtures/{xep0357-seed,xep0357-current,peers}/` and begin
//! with a comment naming their source. The XEP's stanzas carry no `xmlns` (they are shown as
//! they appear on a client stream), so the loader reads them in `jabber:client`. Two examples
//! are not well-formed XML as published (`<value>` never closed): they are checked to fail as
//! they are, and read after closing the tag.

mod common;

use std::path::{Path, PathBuf};

use minidom::Element;
use xmpp_parsers::data_forms::DataFormType;
use xmpp_parsers::pubsub::AffiliationAttribute;
use xmpp_push0::{
    AffiliationChange, AppEvent, AppServer, AppServerConfig, Disable, DisableReason, Enable, Event,
    Incoming, NodeStore, Publish, PublishError, PushDisco, PushNode, RegistryConfig, Summary,
    client,
};

use common::{bare, drain, from, jid, registry, t0};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The fixture's text without its leading comment.
fn text(relative: &str) -> String {
    let path = fixture_dir().join(relative);
    let raw = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let rest = raw.trim_start();
    assert!(
        rest.starts_with("<!--"),
        "{relative}: begins with a comment"
    );
    let end = rest.find("-->").expect("comment closed");
    rest[end + 3..].trim().to_owned()
}

/// The fixture as an element, stanzas without `xmlns` read in `jabber:client`.
fn load(relative: &str) -> Result<Element, minidom::Error> {
    let mut t = text(relative);
    for stanza in ["<iq", "<message"] {
        if t.starts_with(stanza) && !t[..t.find('>').unwrap_or(0)].contains("xmlns=") {
            t = t.replacen(stanza, &format!("{stanza} xmlns='jabber:client'"), 1);
        }
    }
    t.parse()
}

fn must(relative: &str) -> Element {
    load(relative).unwrap_or_else(|e| panic!("{relative} does not parse: {e}"))
}

/// `el` without the whitespace-only text nodes of the examples' indentation, for comparing
/// with elements we build.
fn trimmed(el: &Element) -> Element {
    let mut out = Element::bare(el.name(), el.ns());
    for ((_, name), value) in el.attrs().iter() {
        out.set_attr(minidom::rxml::Namespace::NONE, name.clone(), value.clone());
    }
    for node in el.nodes() {
        match node {
            minidom::Node::Element(child) => {
                out.append_child(trimmed(child));
            }
            minidom::Node::Text(t) if !t.trim().is_empty() => out.append_text(t.clone()),
            minidom::Node::Text(_) => {}
        }
    }
    out
}

/// A fixture that is not well-formed as published: it fails, and parses once `<value>` is
/// closed.
fn corrected(relative: &str) -> Element {
    assert!(
        load(relative).is_err(),
        "{relative} is malformed as published"
    );
    let fixed = text(relative).replace("-91<value>", "-91</value>");
    let fixed = fixed.replacen("<iq", "<iq xmlns='jabber:client'", 1);
    fixed
        .parse()
        .unwrap_or_else(|e| panic!("{relative} corrected: {e}"))
}

fn all_fixtures() -> Vec<String> {
    let mut files = Vec::new();
    for dir in ["xep0357-seed", "xep0357-current", "peers"] {
        for entry in std::fs::read_dir(fixture_dir().join(dir)).expect("fixture dir") {
            let name = entry.expect("entry").file_name();
            files.push(format!("{dir}/{}", name.to_string_lossy()));
        }
    }
    files.sort();
    files
}

const NODE: &str = "yxs32uqsflafdk3iuqo";
const SECRET: &str = "eruio234vzxc2kla-91";

fn the_enable(with_secret: bool) -> Enable {
    let e = Enable::new(jid("push-5.client.example"), NODE);
    if with_secret {
        e.with_secret(SECRET)
    } else {
        e
    }
}

fn the_summary() -> Summary {
    Summary::new()
        .with_form_type(None)
        .with_message_count(1)
        .with_last_message_sender(jid("juliet@capulet.example/balcony"))
        .with_last_message_body("Wherefore art thou, Romeo?")
}

fn check_disco(version: &str) {
    let query = must(&format!("{version}/01-disco-query.xml"));
    let mut ours = client::disco_request("x13", &bare("user@example.com"));
    ours = from(ours, "user@example.com/mobile");
    assert_eq!(ours, trimmed(&query), "our disco#info request is the XEP's");
    let account = must(&format!("{version}/02-disco-account-result.xml"));
    let d = PushDisco::try_from(&account).expect("account disco");
    assert!(d.supports_push && !d.is_push_service);
    assert_eq!(client::supports_push(&account), Ok(true));
    let service = must(&format!("{version}/03-disco-push-service.xml"));
    let d = PushDisco::try_from(&service).expect("service disco");
    assert!(d.supports_push && d.is_push_service);
}

fn check_commands(version: &str) {
    let iq = must(&format!("{version}/04-enable.xml"));
    assert_eq!(
        Enable::try_from(iq.children().next().expect("payload")),
        Ok(the_enable(false))
    );
    // Our builder makes the same iq.
    assert_eq!(the_enable(false).to_iq("x42"), trimmed(&iq));
    let iq = if version == "xep0357-seed" {
        corrected(&format!("{version}/05-enable-publish-options.xml"))
    } else {
        must(&format!("{version}/05-enable-publish-options.xml"))
    };
    let enable = Enable::try_from(iq.children().next().expect("payload")).expect("enable");
    assert_eq!(enable, the_enable(true));
    assert_eq!(
        Disable::try_from(
            must(&format!("{version}/06-disable-all.xml"))
                .children()
                .next()
                .expect("payload")
        ),
        Ok(Disable::new(jid("push-5.client.example")))
    );
    assert_eq!(
        Disable::try_from(
            must(&format!("{version}/07-disable-node.xml"))
                .children()
                .next()
                .expect("payload")
        ),
        Ok(Disable::new(jid("push-5.client.example")).with_node(NODE))
    );
}

/// The two publish examples: exact values, and an app server holding the node accepts the one
/// with the secret and refuses the one without.
fn check_publishes(version: &str, from_jid: &str) {
    let plain = must(&format!("{version}/08-publish.xml"));
    assert_eq!(plain.attr("from"), Some(from_jid));
    let publish = Publish::from_iq(&plain).expect("publish");
    assert_eq!(publish.node.as_deref(), Some(NODE));
    assert_eq!(publish.notification.summary, Some(the_summary()));
    assert_eq!(publish.notification.payloads.len(), 1);
    assert!(publish.notification.payloads[0].is("additional", "http://example.com/custom"));
    assert_eq!(publish.publish_options, None);
    let with_options = corrected(&format!("{version}/09-publish-options.xml"));
    let publish = Publish::from_iq(&with_options).expect("publish");
    assert_eq!(
        publish.publish_options.as_ref().and_then(|o| o.secret()),
        Some(SECRET)
    );

    let records = serde_json::json!([{
        "node": NODE, "owner": "device-1", "secret": SECRET,
        "created": {"secs_since_epoch": 1_700_000_000u64, "nanos_since_epoch": 0},
        "last_used": {"secs_since_epoch": 1_700_000_000u64, "nanos_since_epoch": 0},
        "publishes": 0
    }]);
    let records = serde_json::from_value(records).expect("node records");
    let store = NodeStore::restore(Default::default(), records).expect("store");
    let mut app = AppServer::with_store(
        jid("push-5.client.example"),
        AppServerConfig::default(),
        store,
    );
    assert_eq!(
        app.handle_stanza(t0(), &plain),
        Err(PublishError::MissingSecret {
            node: NODE.to_owned()
        })
    );
    let reply = app.poll_transmit().expect("an answer").element;
    assert_eq!(reply.attr("type"), Some("error"));
    assert_eq!(app.handle_stanza(t0(), &with_options).map(|_| ()), Ok(()));
    assert_eq!(
        app.poll_transmit().expect("an answer").element.attr("type"),
        Some("result")
    );
    let Some(AppEvent::Notification(n)) = app.poll_event() else {
        panic!("no notification");
    };
    assert_eq!(n.publisher, jid(from_jid));
    assert_eq!(n.summary, Some(the_summary()));
}

fn check_notice(version: &str) {
    let message = must(&format!("{version}/10-affiliation-notice.xml"));
    let change = AffiliationChange::from_message(&message).expect("notice");
    assert_eq!(
        change,
        AffiliationChange::revoked(NODE, jid("user@example.com"))
    );
    assert_eq!(change.affiliation, AffiliationAttribute::None);
    // A registry holding that registration removes it.
    let mut r = registry(RegistryConfig::default());
    let enable = the_enable(true).to_iq("e1");
    let _ = r
        .handle_stanza(t0(), &from(enable, "user@example.com/mobile"))
        .expect("enable");
    let _ = drain(&mut r);
    assert_eq!(r.handle_stanza(t0(), &message), Ok(Incoming::Handled));
    let d = drain(&mut r);
    assert!(d.events().iter().any(|e| matches!(
        e,
        Event::Disabled { node, reason: DisableReason::Service, .. }
            if *node == PushNode::new(jid("push-5.client.example"), Some(NODE.to_owned()))
    )));
    assert_eq!(r.registration_count(), 0);
}

#[test]
fn seed_examples() {
    check_disco("xep0357-seed");
    check_commands("xep0357-seed");
    // 0.2.1 §7: the publish comes from the user's bare JID.
    check_publishes("xep0357-seed", "user@example.com");
    check_notice("xep0357-seed");
}

#[test]
fn current_examples() {
    check_disco("xep0357-current");
    check_commands("xep0357-current");
    // 0.3+ §7: the publish comes from the server.
    check_publishes("xep0357-current", "example.com");
    check_notice("xep0357-current");
}

#[test]
fn prosody_publishes_a_form_summary() {
    let iq = must("peers/prosody-publish-form.xml");
    let publish = Publish::from_iq(&iq).expect("Prosody's publish");
    let summary = publish.notification.summary.expect("summary");
    assert_eq!(summary.form_type, Some(DataFormType::Form));
    assert_eq!(summary.message_count, Some(1));
    assert_eq!(summary.pending_subscription_count, None);
    assert_eq!(summary.last_message_sender, Some(jid("bob@localhost/desk")));
    assert_eq!(
        summary.last_message_body.as_deref(),
        Some("see you offline")
    );
    assert!(
        publish
            .publish_options
            .and_then(|o| o.secret().map(str::to_owned))
            .is_some()
    );
}

#[test]
fn ejabberd_publishes_a_submit_summary() {
    let iq = must("peers/ejabberd-publish-submit.xml");
    let summary = Publish::from_iq(&iq)
        .expect("ejabberd's publish")
        .notification
        .summary
        .expect("summary");
    assert_eq!(summary.form_type, Some(DataFormType::Submit));
    assert_eq!(summary.message_count, None);
    assert_eq!(
        summary.last_message_sender,
        Some(jid("romeo@example.net/orchard"))
    );
    assert_eq!(summary.last_message_body.as_deref(), Some("New message"));
    let empty = Publish::from_iq(&must("peers/ejabberd-publish-no-summary.xml")).expect("publish");
    assert_eq!(empty.notification.summary, None);
}

/// Whatever parses round-trips, for every fixture.
#[test]
fn every_fixture_round_trips() {
    let files = all_fixtures();
    assert!(files.len() >= 23, "fixtures found: {files:?}");
    for f in files {
        let Ok(el) = load(&f) else { continue };
        let mut stack = vec![&el];
        while let Some(e) = stack.pop() {
            if let Ok(v) = Publish::try_from(e) {
                assert_eq!(Publish::try_from(&Element::from(v.clone())), Ok(v), "{f}");
            }
            if let Ok(v) = Enable::try_from(e) {
                assert_eq!(Enable::try_from(&Element::from(v.clone())), Ok(v), "{f}");
            }
            if let Ok(v) = Disable::try_from(e) {
                assert_eq!(Disable::try_from(&Element::from(v.clone())), Ok(v), "{f}");
            }
            if let Ok(v) = AffiliationChange::try_from(e) {
                assert_eq!(
                    AffiliationChange::try_from(&Element::from(v.clone())),
                    Ok(v),
                    "{f}"
                );
            }
            stack.extend(e.children());
        }
    }
}
