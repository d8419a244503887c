//! The app server: nodes and secrets, publishes checked and answered, remote disabling, and a
//! bounded, persistent store.

mod common;

use minidom::Element;
use xmpp_parsers::stanza_error::DefinedCondition;
use xmpp_push0::{
    AppEvent, AppIncoming, AppServer, AppServerConfig, Enable, Event, Incoming, NodeCredentials,
    NodeRecord, NodeStore, NodeStoreConfig, Notification, Publish, PublishError, PublishOptions,
    Publishers, PushDisco, RegistryConfig, RestoreError, Summary, Target, Trigger, client,
};

use common::{JULIET, PHONE, SERVICE, bare, deliver, drain, from, jid, registry, rng, t0};

fn app() -> AppServer {
    AppServer::new(jid(SERVICE), AppServerConfig::default())
}

fn publish_iq(node: Option<&str>, secret: Option<&str>, publisher: &str) -> Element {
    let mut p = Publish::new(
        node.unwrap_or("x"),
        Notification::new().with_summary(Summary::new().with_message_count(2)),
    );
    if node.is_none() {
        p.node = None;
    }
    p.publish_options = secret.map(PublishOptions::with_secret);
    p.to_iq(&jid(publisher), &jid(SERVICE), "n12")
}

fn answered(app: &mut AppServer) -> Element {
    let t = app.poll_transmit().expect("an answer");
    assert!(app.poll_transmit().is_none(), "exactly one answer");
    t.element
}

fn condition(reply: &Element) -> Option<DefinedCondition> {
    match client::reply_outcome(reply) {
        Some(Err(Some(e))) => Some(e.defined_condition),
        _ => None,
    }
}

fn issue(app: &mut AppServer) -> NodeCredentials {
    app.create_node(t0(), &mut rng(5), "device-1")
}

#[test]
fn a_publish_with_the_right_secret_is_accepted_from_a_server_or_a_bare_jid() {
    let mut app = app();
    let c = issue(&mut app);
    assert_eq!(c.node.len(), 32);
    assert_eq!(c.secret.as_str().len(), 48);
    for publisher in ["capulet.example", JULIET] {
        let iq = publish_iq(Some(&c.node), Some(c.secret.as_str()), publisher);
        assert_eq!(app.handle_stanza(t0(), &iq), Ok(AppIncoming::Handled));
        let reply = answered(&mut app);
        assert_eq!(reply.attr("type"), Some("result"));
        assert_eq!(reply.attr("to"), Some(publisher));
        assert_eq!(reply.attr("from"), Some(SERVICE));
        assert_eq!(reply.attr("id"), Some("n12"));
        let Some(AppEvent::Notification(n)) = app.poll_event() else {
            panic!("no notification");
        };
        assert_eq!(n.node, c.node);
        assert_eq!(n.owner, "device-1");
        assert_eq!(n.publisher, jid(publisher));
        assert_eq!(n.summary.and_then(|s| s.message_count), Some(2));
        assert_eq!(n.received_at, t0().wall());
    }
    assert_eq!(app.store().get(&c.node).map(|r| r.publishes), Some(2));
}

#[test]
fn every_way_a_publish_can_be_wrong_has_its_answer() {
    let mut app = app();
    let c = issue(&mut app);
    let cases = [
        (
            publish_iq(Some(&c.node), Some("wrong"), "capulet.example"),
            PublishError::WrongSecret {
                node: c.node.clone(),
            },
            DefinedCondition::Forbidden,
        ),
        (
            publish_iq(Some(&c.node), None, "capulet.example"),
            PublishError::MissingSecret {
                node: c.node.clone(),
            },
            DefinedCondition::Forbidden,
        ),
        (
            publish_iq(Some("unknown"), Some(c.secret.as_str()), "capulet.example"),
            PublishError::UnknownNode {
                node: "unknown".into(),
            },
            DefinedCondition::ItemNotFound,
        ),
        (
            publish_iq(None, Some(c.secret.as_str()), "capulet.example"),
            PublishError::NodeRequired,
            DefinedCondition::BadRequest,
        ),
        (
            publish_iq(Some(&c.node), Some(c.secret.as_str()), PHONE),
            PublishError::PublisherNotAllowed { from: jid(PHONE) },
            DefinedCondition::Forbidden,
        ),
        (
            common::xml(
                "<iq xmlns='jabber:server' type='set' id='n12' from='capulet.example'>\
                <pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='x'/></pubsub></iq>",
            ),
            PublishError::Malformed(xmpp_push0::ParseError::MissingItem),
            DefinedCondition::BadRequest,
        ),
    ];
    for (iq, error, cond) in cases {
        assert_eq!(app.handle_stanza(t0(), &iq), Err(error.clone()));
        let reply = answered(&mut app);
        assert_eq!(condition(&reply), Some(cond), "{error}");
        if error == PublishError::NodeRequired {
            let e = reply.get_child("error", "jabber:client").expect("error");
            assert!(e.has_child(
                "nodeid-required",
                "http://jabber.org/protocol/pubsub#errors"
            ));
        }
        assert!(app.poll_event().is_none(), "{error}: nothing accepted");
    }
}

#[test]
fn publishers_anyone_accepts_a_full_jid() {
    let mut config = AppServerConfig::default();
    config.publishers = Publishers::Anyone;
    let mut app = AppServer::new(jid(SERVICE), config);
    let c = issue(&mut app);
    let iq = publish_iq(Some(&c.node), Some(c.secret.as_str()), PHONE);
    assert_eq!(app.handle_stanza(t0(), &iq), Ok(AppIncoming::Handled));
}

#[test]
fn disco_says_pubsub_push_and_the_rest_is_not_ours() {
    let mut app = app();
    let query = from(
        xmpp_push0::elements::disco::info_request("d1", &jid(SERVICE)),
        PHONE,
    );
    assert_eq!(app.handle_stanza(t0(), &query), Ok(AppIncoming::Handled));
    let reply = answered(&mut app);
    let d = PushDisco::try_from(&reply).expect("disco");
    assert!(d.is_push_service && d.supports_push);
    for other in [
        "<iq xmlns='jabber:client' type='get' id='1' from='a@b/c'><ping xmlns='urn:xmpp:ping'/></iq>",
        "<iq xmlns='jabber:client' type='set' id='2' from='a@b/c'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='n' jid='a@b'/></pubsub></iq>",
        "<message xmlns='jabber:client' from='a@b/c'><body>hi</body></message>",
        "<iq xmlns='jabber:client' type='result' id='3' from='a@b/c'/>",
    ] {
        assert_eq!(
            app.handle_stanza(t0(), &common::xml(other)),
            Ok(AppIncoming::NotOurs)
        );
    }
    assert!(app.poll_transmit().is_none());
}

#[test]
fn retiring_a_node_refuses_it_and_can_tell_the_users_server() {
    let mut app = app();
    let mut server = registry(RegistryConfig::default());
    let c = issue(&mut app);
    let enable = Enable::new(jid(SERVICE), c.node.clone())
        .with_secret(c.secret.as_str())
        .to_iq("e1");
    let _ = server
        .handle_stanza(t0(), &from(enable, PHONE))
        .expect("enable");
    let _ = drain(&mut server);
    assert!(app.retire_node(t0(), &c.node, Some(&bare(JULIET))));
    let notice = app.poll_transmit().expect("the notice");
    assert_eq!(notice.to, jid(JULIET));
    assert_eq!(
        server.handle_stanza(t0(), &notice.element),
        Ok(Incoming::Handled)
    );
    assert_eq!(server.registration_count(), 0);
    assert!(!app.retire_node(t0(), &c.node, None));
    let iq = publish_iq(Some(&c.node), Some(c.secret.as_str()), "capulet.example");
    assert_eq!(
        app.handle_stanza(t0(), &iq),
        Err(PublishError::UnknownNode { node: c.node })
    );
}

#[test]
fn the_store_evicts_the_least_recently_used_node_of_the_owner_holding_the_most() {
    let mut config = AppServerConfig::default();
    config.store = NodeStoreConfig::new(3, 2);
    let mut app = AppServer::new(jid(SERVICE), config);
    let mut r = rng(1);
    let a1 = app.create_node(t0(), &mut r, "a");
    let a2 = app.create_node(t0(), &mut r, "a");
    // A publish makes a1 the most recently used of "a".
    let iq = publish_iq(Some(&a1.node), Some(a1.secret.as_str()), "capulet.example");
    let _ = app.handle_stanza(t0(), &iq).expect("publish");
    while app.poll_transmit().is_some() {}
    while app.poll_event().is_some() {}
    let _a3 = app.create_node(t0(), &mut r, "a");
    let Some(AppEvent::NodeEvicted(gone)) = app.poll_event() else {
        panic!("no eviction");
    };
    assert_eq!(gone.node, a2.node);
    let _b1 = app.create_node(t0(), &mut r, "b");
    assert!(app.poll_event().is_none(), "three nodes fit");
    let _b2 = app.create_node(t0(), &mut r, "b");
    // Global bound: "a" holds the most and gives up its least recently used, a1.
    let Some(AppEvent::NodeEvicted(gone)) = app.poll_event() else {
        panic!("no eviction");
    };
    assert_eq!(gone.node, a1.node);
    assert_eq!(app.store().len(), 3);
}

#[test]
fn the_store_round_trips_and_is_checked_when_read_back() {
    let mut app = app();
    let mut r = rng(2);
    for owner in ["a", "a", "b"] {
        let _ = app.create_node(t0(), &mut r, owner);
    }
    let records = app.store().records();
    let json = serde_json::to_string(&records).expect("serialise");
    assert!(
        !format!("{records:?}").contains(records[0].secret.as_str()),
        "Debug hides secrets"
    );
    let back: Vec<NodeRecord> = serde_json::from_str(&json).expect("deserialise");
    let store = NodeStore::restore(NodeStoreConfig::default(), back.clone()).expect("restore");
    assert_eq!(store.records(), records);
    assert_eq!(store.nodes_of("a").len(), 2);

    let mut twice = back.clone();
    twice.push(back[0].clone());
    assert!(matches!(
        NodeStore::restore(NodeStoreConfig::default(), twice),
        Err(RestoreError::DuplicateNode { .. })
    ));
    assert!(matches!(
        NodeStore::restore(NodeStoreConfig::new(2, 16), back.clone()),
        Err(RestoreError::TooMany { count: 3, limit: 2 })
    ));
    assert!(matches!(
        NodeStore::restore(NodeStoreConfig::new(10, 1), back.clone()),
        Err(RestoreError::InvalidNode { .. })
    ));
    let mut value = serde_json::to_value(&back).expect("json");
    value[0]["secret"] = serde_json::json!("");
    let empty: Vec<NodeRecord> = serde_json::from_value(value).expect("records");
    assert!(matches!(
        NodeStore::restore(NodeStoreConfig::default(), empty),
        Err(RestoreError::InvalidNode { .. })
    ));
}

/// The three roles together, through the facade types a server would use.
#[test]
fn the_users_server_and_the_app_server_agree() {
    let mut app = app();
    let mut server = registry(RegistryConfig::default());
    let c = issue(&mut app);
    let enable = Enable::new(jid(SERVICE), c.node.clone())
        .with_secret(c.secret.as_str())
        .to_iq("e1");
    let _ = server
        .handle_stanza(t0(), &from(enable, PHONE))
        .expect("enable");
    let _ = drain(&mut server);
    server.notify(
        t0(),
        &Target::Account(bare(JULIET)),
        &Trigger::call_proposal(jid("romeo@montague.example")),
    );
    let publishes = drain(&mut server).publishes;
    deliver(&mut server, &mut app, t0(), &publishes);
    assert!(matches!(
        drain(&mut server).events()[..],
        [Event::Delivered { .. }]
    ));
    let Some(AppEvent::Notification(n)) = app.poll_event() else {
        panic!("no notification");
    };
    assert_eq!(n.publisher, jid("capulet.example"));
    assert_eq!(
        n.summary.and_then(|s| s.last_message_body),
        Some("New Message!".to_owned())
    );
}
