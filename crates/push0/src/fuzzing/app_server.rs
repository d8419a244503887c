//! The app server target: an [`AppServer`] with a small store, fed publishes and raw stanzas.

use std::time::{Duration, SystemTime};

use arbitrary::{Arbitrary, Unstructured};
use jid::Jid;
use minidom::Element;
use xmpp_tether_core::{Monotonic, Now};

use super::rng::Rng;
use crate::app_server::{AppEvent, AppServer, AppServerConfig, NodeStore, NodeStoreConfig};
use crate::elements::{Notification, Publish, PublishOptions, Summary};

const MAX_OPS: usize = 256;
const PUBLISHERS: [&str; 4] = [
    "capulet.example",
    "juliet@capulet.example",
    "juliet@capulet.example/phone",
    "mallory@evil.example",
];

#[derive(Debug, Arbitrary)]
enum SecretChoice {
    Right,
    Wrong(String),
    Missing,
}

#[derive(Debug, Arbitrary)]
enum Op {
    Create(u8),
    Retire(u8, bool),
    Publish {
        node: Option<u8>,
        secret: SecretChoice,
        publisher: u8,
        count: Option<u32>,
        body: Option<String>,
    },
    Disco(u8),
    Raw(String),
    Advance(u16),
    Persist,
}

/// Replays an arbitrary list of operations; see the module docs of [`super`].
pub fn app_server(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let (Ok(seed), Ok(max_nodes), Ok(per_owner)) = (
        u64::arbitrary(&mut u),
        u8::arbitrary(&mut u),
        u8::arbitrary(&mut u),
    ) else {
        return;
    };
    let mut rng = Rng(seed);
    let config = AppServerConfig {
        store: NodeStoreConfig {
            max_nodes: usize::from(max_nodes % 8),
            max_nodes_per_owner: usize::from(per_owner % 4),
        },
        ..AppServerConfig::default()
    };
    let service: Jid = "push.example".parse().expect("literal JID");
    let mut app = AppServer::new(service.clone(), config);
    let mut now = Now::new(
        Monotonic::ZERO,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    );
    let mut issued: Vec<(String, String)> = Vec::new();
    for _ in 0..MAX_OPS {
        // `arbitrary` pads exhausted input with zeros: stop instead of replaying the
        // padding's operation up to the limit (every input cost the full limit).
        if u.is_empty() {
            break;
        }
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        let mut expect_answer = false;
        match op {
            Op::Create(owner) => {
                let c = app.create_node(now, &mut rng, &format!("owner{}", owner % 3));
                assert!(app.store().get(&c.node).is_some(), "a new node is held");
                issued.push((c.node, c.secret.as_str().to_owned()));
            }
            Op::Retire(i, notify) => {
                if let Some((node, _)) = pick(&issued, i) {
                    let user = "juliet@capulet.example".parse().expect("literal JID");
                    let _ = app.retire_node(now, &node, notify.then_some(&user));
                }
            }
            Op::Publish {
                node,
                secret,
                publisher,
                count,
                body,
            } => {
                let target = node.and_then(|i| pick(&issued, i));
                let mut summary = Summary::new();
                summary.message_count = count;
                summary.last_message_body = body;
                let mut publish = Publish::new(
                    target.as_ref().map_or("unknown", |(n, _)| n.as_str()),
                    Notification::new().with_summary(summary),
                );
                if node.is_none() {
                    publish.node = None;
                }
                publish.publish_options = match secret {
                    SecretChoice::Right => {
                        target.as_ref().map(|(_, s)| PublishOptions::with_secret(s))
                    }
                    SecretChoice::Wrong(s) => Some(PublishOptions::with_secret(&s)),
                    SecretChoice::Missing => None,
                };
                let from: Jid = PUBLISHERS[usize::from(publisher) % PUBLISHERS.len()]
                    .parse()
                    .expect("literal JID");
                let iq = publish.to_iq(&from, &service, "p1");
                let _ = app.handle_stanza(now, &iq);
                expect_answer = true;
            }
            Op::Disco(publisher) => {
                let from = PUBLISHERS[usize::from(publisher) % PUBLISHERS.len()];
                let mut iq = crate::elements::disco::info_request("d1", &service);
                iq.set_attr(
                    minidom::rxml::Namespace::NONE,
                    minidom::rxml::xml_ncname!("from").to_owned(),
                    from,
                );
                let _ = app.handle_stanza(now, &iq);
                expect_answer = true;
            }
            Op::Raw(text) => {
                if let Ok(el) = text.parse::<Element>() {
                    let _ = app.handle_stanza(now, &el);
                }
            }
            Op::Advance(s) => now = now.advance(Duration::from_secs(u64::from(s))),
            Op::Persist => {
                let records = app.store().records();
                let store = NodeStore::restore(config.store, records.clone());
                let store = match store {
                    Ok(s) => s,
                    Err(e) => panic!("our own records do not restore: {e}"),
                };
                assert_eq!(store.records(), records);
                app = AppServer::with_store(service.clone(), config, store);
            }
        }
        app.assert_invariants();
        let mut answers = 0;
        while let Some(t) = app.poll_transmit() {
            if t.element.name() == "iq" {
                answers += 1;
                assert!(matches!(t.element.attr("type"), Some("result" | "error")));
            }
        }
        if expect_answer {
            assert_eq!(
                answers, 1,
                "a publish or disco query is answered exactly once"
            );
        }
        while let Some(event) = app.poll_event() {
            if let AppEvent::Notification(n) = event {
                assert!(
                    app.store().get(&n.node).is_some(),
                    "accepted for a held node"
                );
            }
        }
    }
}

fn pick(issued: &[(String, String)], i: u8) -> Option<(String, String)> {
    if issued.is_empty() {
        return None;
    }
    issued.get(usize::from(i) % issued.len()).cloned()
}
