//! Model-based properties: a user's server and an app server over a lossy link, driven by
//! random sequences of commands, triggers, losses and time.
//!
//! - Nothing lost: once the link stops losing and time runs out every retry, every publish
//!   has ended in exactly one outcome (delivered, failed or abandoned).
//! - Nothing invented: every delivery the server reports was accepted by the app server, and
//!   the app server accepts nothing that was not sent.
//! - The tables' invariants hold after every step.

mod common;

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use minidom::Element;
use proptest::prelude::*;
use xmpp_push0::{
    AppEvent, AppServer, AppServerConfig, Backoff, Disable, Enable, Event, NodeCredentials, Now,
    PublishIq, Registry, RegistryConfig, Target, Trigger,
};

use common::{JULIET, SERVICE, bare, from, full, jid, rng, t0};

#[derive(Debug, Clone)]
enum Op {
    Enable {
        session: u8,
        node: u8,
        wrong_secret: bool,
    },
    Disable {
        node: Option<u8>,
    },
    Notify {
        session: Option<u8>,
    },
    /// Carry the oldest publish on the wire: `lose` it, or lose its answer.
    Carry {
        lose: bool,
        lose_answer: bool,
    },
    Retire(u8),
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..3, 0u8..4, any::<bool>()).prop_map(|(session, node, wrong_secret)| Op::Enable {
            session,
            node,
            wrong_secret
        }),
        proptest::option::of(0u8..4).prop_map(|node| Op::Disable { node }),
        proptest::option::of(0u8..3).prop_map(|session| Op::Notify { session }),
        (any::<bool>(), any::<bool>()).prop_map(|(a, b)| Op::Carry {
            lose: a && b,
            lose_answer: !a && b
        }),
        (0u8..4).prop_map(Op::Retire),
        (0u16..200).prop_map(Op::Advance),
    ]
}

struct Model {
    server: Registry,
    app: AppServer,
    nodes: Vec<NodeCredentials>,
    wire: VecDeque<PublishIq>,
    now: Now,
    /// First-attempt publish ids → outcomes seen.
    outcomes: BTreeMap<String, u32>,
    delivered: u32,
    accepted: u32,
}

impl Model {
    fn new() -> Self {
        let mut config = RegistryConfig::default();
        config.retry = Backoff::new(Duration::from_secs(5), Duration::from_secs(20), 3);
        config.response_timeout = Duration::from_secs(30);
        let mut app = AppServer::new(jid(SERVICE), AppServerConfig::default());
        let mut r = rng(3);
        let nodes = (0..4).map(|_| app.create_node(t0(), &mut r, "d")).collect();
        Self {
            server: Registry::new(config, &mut rng(4)),
            app,
            nodes,
            wire: VecDeque::new(),
            now: t0(),
            outcomes: BTreeMap::new(),
            delivered: 0,
            accepted: 0,
        }
    }

    fn session(i: u8) -> String {
        format!("{JULIET}/s{i}")
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Enable {
                session,
                node,
                wrong_secret,
            } => {
                let c = &self.nodes[usize::from(node)];
                let secret = if wrong_secret {
                    "nope"
                } else {
                    c.secret.as_str()
                };
                let iq = Enable::new(jid(SERVICE), c.node.clone())
                    .with_secret(secret)
                    .to_iq("e");
                let _ = self
                    .server
                    .handle_stanza(self.now, &from(iq, &Self::session(session)));
            }
            Op::Disable { node } => {
                let mut d = Disable::new(jid(SERVICE));
                if let Some(n) = node {
                    d = d.with_node(self.nodes[usize::from(n)].node.clone());
                }
                let _ = self
                    .server
                    .handle_stanza(self.now, &from(d.to_iq("d"), &Self::session(0)));
            }
            Op::Notify { session } => {
                let target = match session {
                    Some(s) => Target::Session(full(&Self::session(s))),
                    None => Target::Account(bare(JULIET)),
                };
                let _ = self.server.notify(self.now, &target, &Trigger::other());
            }
            Op::Carry { lose, lose_answer } => {
                if let Some(p) = self.wire.pop_front()
                    && !lose
                {
                    let _ = self.app.handle_stanza(self.now, &p.to_element());
                    let answers: Vec<Element> = std::iter::from_fn(|| self.app.poll_transmit())
                        .map(|t| t.element)
                        .collect();
                    if !lose_answer {
                        for a in answers {
                            let _ = self.server.handle_stanza(self.now, &a);
                        }
                    }
                }
            }
            Op::Retire(n) => {
                let node = self.nodes[usize::from(n)].node.clone();
                let _ = self.app.retire_node(self.now, &node, Some(&bare(JULIET)));
                let notices: Vec<Element> = std::iter::from_fn(|| self.app.poll_transmit())
                    .map(|t| t.element)
                    .collect();
                for notice in notices {
                    let _ = self.server.handle_stanza(self.now, &notice);
                }
            }
            Op::Advance(secs) => {
                self.now = self.now.advance(Duration::from_secs(u64::from(secs)));
                self.server.handle_timeout(self.now);
            }
        }
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(t) = self.server.poll_transmit() {
            if let xmpp_push0::Transmit::Publish(p) = t {
                let first = p
                    .id()
                    .rsplit_once('.')
                    .map_or(p.id(), |(k, _)| k)
                    .to_owned();
                self.outcomes.entry(first).or_insert(0);
                self.wire.push_back(p);
            }
        }
        while let Some(e) = self.server.poll_event() {
            let ended = match &e {
                Event::Delivered { .. } => {
                    self.delivered += 1;
                    true
                }
                Event::PublishFailed { .. } | Event::Abandoned { .. } => true,
                _ => false,
            };
            if ended {
                // Outcomes carry no id; count them globally and per first send below.
                *self.outcomes.entry("#ended".into()).or_insert(0) += 1;
            }
        }
        while let Some(e) = self.app.poll_event() {
            if let AppEvent::Notification(_) = e {
                self.accepted += 1;
            }
        }
        self.server.assert_invariants();
        self.app.assert_invariants();
        assert!(
            self.delivered <= self.accepted,
            "a delivery the app server never accepted"
        );
    }

    /// Lossless from here on: carry everything, and let every timer run out.
    fn settle(&mut self) {
        for _ in 0..64 {
            while !self.wire.is_empty() {
                self.apply(Op::Carry {
                    lose: false,
                    lose_answer: false,
                });
            }
            match self.server.poll_timeout() {
                Some(at) => {
                    let step = at - self.now.monotonic();
                    self.now = self.now.advance(step);
                    self.server.handle_timeout(self.now);
                    self.drain();
                }
                None if self.wire.is_empty() => return,
                None => {}
            }
        }
    }

    fn firsts(&self) -> u32 {
        u32::try_from(self.outcomes.len().saturating_sub(1)).expect("few publishes")
    }
}

proptest! {
    #![proptest_config(persisted(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256)
    )))]

    #[test]
    fn every_publish_ends_exactly_once(ops in proptest::collection::vec(op(), 1..80)) {
        let mut m = Model::new();
        for op in ops {
            m.apply(op);
        }
        m.settle();
        prop_assert_eq!(m.server.pending_count(), 0, "nothing pending after settling");
        prop_assert_eq!(m.server.poll_timeout(), None, "no timer left");
        let ended = m.outcomes.get("#ended").copied().unwrap_or(0);
        prop_assert_eq!(ended, m.firsts(), "one outcome per publish");
        prop_assert!(m.accepted <= m.firsts() * 3, "at most one acceptance per attempt");
    }
}

/// Saved failures go beside this file (`<name>.proptest-regressions`) and are replayed first:
/// proptest's default looks beside `src/`, which an integration test has not.
fn persisted(config: ProptestConfig) -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..config
    }
}
