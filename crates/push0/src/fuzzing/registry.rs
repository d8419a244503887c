//! The registry target: a [`Registry`] with small bounds, fed commands, answers, triggers and
//! time from the input.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use arbitrary::{Arbitrary, Unstructured};
use jid::{BareJid, FullJid, Jid};
use minidom::Element;
use xmpp_tether_core::{Monotonic, Now};

use super::rng::Rng;
use crate::elements::{AffiliationChange, Disable, Enable, Publish, PublishOptions};
use crate::registry::{
    Backoff, DisableReason, ErrorPolicy, Event, Privacy, Registry, RegistryConfig, Target,
    Transmit, Trigger,
};

const MAX_OPS: usize = 256;
const ACCOUNTS: [&str; 3] = [
    "juliet@capulet.example",
    "romeo@montague.example",
    "nurse@capulet.example",
];
const SERVICES: [&str; 3] = ["push.example", "push.other.example", "capulet.example"];
const CONDITIONS: [&str; 5] = [
    "item-not-found",
    "forbidden",
    "resource-constraint",
    "internal-server-error",
    "not-a-condition",
];
const ERROR_TYPES: [&str; 6] = ["wait", "cancel", "auth", "modify", "continue", "bogus"];

#[derive(Debug, Arbitrary)]
struct Setup {
    max_per_account: u8,
    max_registrations: u8,
    max_pending: u8,
    max_pending_per_account: u8,
    max_hibernating: u8,
    count_errors: Option<u8>,
    attempts: u8,
    retry_disabled: Option<u16>,
    require_node: bool,
    placeholder: bool,
    seed: u64,
}

#[derive(Debug, Arbitrary)]
enum Answer {
    Result,
    Error {
        kind: u8,
        condition: u8,
    },
    /// The right id, from someone else.
    WrongFrom,
    /// An id of a publish that was answered already (or made up).
    Stale(u16),
}

#[derive(Debug, Arbitrary)]
enum Op {
    Enable {
        account: u8,
        resource: u8,
        service: u8,
        node: Option<u8>,
        secret: Option<u8>,
        get: bool,
        /// Sent by another account's session.
        stranger: bool,
    },
    Disable {
        account: u8,
        resource: u8,
        service: u8,
        node: Option<u8>,
    },
    /// A raw stanza (usually not well-formed).
    Raw(String),
    /// Answer the `n`th publish seen (modulo the count).
    Answer(u16, Answer),
    Notify {
        account: u8,
        session: Option<u8>,
        kind: u8,
        body: Option<String>,
    },
    Hibernate {
        account: u8,
        resource: u8,
        timeout_secs: u16,
    },
    Resumed(u8, u8),
    Closed(u8, u8),
    Online(u8),
    Notice {
        account: u8,
        service: u8,
        node: u8,
        revoke: bool,
    },
    RemoveAccount(u8),
    Advance(u16),
    AdvanceSecs(u32),
    /// The wall clock steps (forwards or back) without the monotonic clock moving.
    WallStep(i32),
    Timeout,
    Persist,
}

fn pick<T: Copy>(items: &[T], i: u8) -> T {
    items[usize::from(i) % items.len()]
}

fn account(i: u8) -> BareJid {
    pick(&ACCOUNTS, i).parse().expect("literal JID")
}

fn session(a: u8, r: u8) -> FullJid {
    account(a)
        .with_resource_str(&format!("r{}", r % 3))
        .expect("literal resource")
}

fn service(i: u8) -> Jid {
    pick(&SERVICES, i).parse().expect("literal JID")
}

fn stamp(mut el: Element, name: &'static minidom::rxml::NcNameStr, value: &str) -> Element {
    el.set_attr(minidom::rxml::Namespace::NONE, name.to_owned(), value);
    el
}

struct World {
    registry: Registry,
    rng: Rng,
    now: Now,
    config: RegistryConfig,
    /// Every publish sent: (id, to, seq key = id without attempt).
    sent: Vec<(String, Jid)>,
    /// Publishes (by id without the attempt) sent and not yet finished.
    open: BTreeSet<String>,
    /// Finished publishes: an outcome event was seen for them.
    outcomes: u64,
    firsts: u64,
    registrations: i64,
}

/// Replays an arbitrary list of operations; see the module docs of [`super`].
pub fn registry(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(setup) = Setup::arbitrary(&mut u) else {
        return;
    };
    let config = config(&setup);
    let mut rng = Rng(setup.seed);
    let now = Now::new(
        Monotonic::from_epoch(Duration::from_secs(5)),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    );
    let mut w = World {
        registry: Registry::new(config.clone(), &mut rng),
        rng,
        now,
        config,
        sent: Vec::new(),
        open: BTreeSet::new(),
        outcomes: 0,
        firsts: 0,
        registrations: 0,
    };
    for _ in 0..MAX_OPS {
        // `arbitrary` pads exhausted input with zeros: stop instead of replaying the
        // padding's operation up to the limit (every input cost the full limit).
        if u.is_empty() {
            break;
        }
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        w.apply(op);
        w.drain();
        w.registry.assert_invariants();
        assert_eq!(
            w.registry.registration_count() as i64,
            w.registrations,
            "registrations counted from events"
        );
        assert_eq!(
            w.firsts,
            w.outcomes + w.registry.pending_count() as u64,
            "every publish is pending or finished exactly once"
        );
    }
}

fn config(s: &Setup) -> RegistryConfig {
    RegistryConfig {
        max_per_account: usize::from(s.max_per_account % 4),
        max_registrations: usize::from(s.max_registrations % 8),
        max_pending: usize::from(s.max_pending % 16),
        max_pending_per_account: usize::from(s.max_pending_per_account % 8),
        max_hibernating: usize::from(s.max_hibernating % 4),
        max_hibernating_per_account: 2,
        errors: match s.count_errors {
            None => ErrorPolicy::DisableAtFirst,
            Some(n) => ErrorPolicy::Count {
                limit: u32::from(n % 4),
            },
        },
        retry: Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(8),
            attempts: u32::from(s.attempts % 4),
        },
        retry_disabled_after: s
            .retry_disabled
            .map(|d| Duration::from_secs(u64::from(d % 100))),
        require_node: s.require_node,
        response_timeout: Duration::from_secs(30),
        privacy: if s.placeholder {
            Privacy::default()
        } else {
            Privacy::SenderAndBody
        },
        ..RegistryConfig::default()
    }
}

impl World {
    fn apply(&mut self, op: Op) {
        let now = self.now;
        match op {
            Op::Enable {
                account: a,
                resource,
                service: s,
                node,
                secret,
                get,
                stranger,
            } => {
                let mut enable = Enable::new(service(s), format!("n{}", node.unwrap_or(0) % 3));
                if node.is_none() {
                    enable.node = None;
                }
                if let Some(secret) = secret {
                    enable = enable
                        .with_publish_options(PublishOptions::with_secret(&format!("s{secret}")));
                }
                let mut iq = enable.to_iq("e1");
                if get {
                    iq = stamp(iq, minidom::rxml::xml_ncname!("type"), "get");
                }
                let from = if stranger {
                    session((a % 3 + 1) % 3, resource)
                } else {
                    session(a, resource)
                };
                let iq = stamp(iq, minidom::rxml::xml_ncname!("from"), from.as_str());
                let iq = stamp(iq, minidom::rxml::xml_ncname!("to"), account(a).as_str());
                let _ = self.registry.handle_stanza(now, &iq);
            }
            Op::Disable {
                account: a,
                resource,
                service: s,
                node,
            } => {
                let mut disable = Disable::new(service(s));
                if let Some(n) = node {
                    disable = disable.with_node(format!("n{}", n % 3));
                }
                let iq = stamp(
                    disable.to_iq("d1"),
                    minidom::rxml::xml_ncname!("from"),
                    session(a, resource).as_str(),
                );
                let _ = self.registry.handle_stanza(now, &iq);
            }
            Op::Raw(text) => {
                if let Ok(el) = text.parse::<Element>() {
                    let _ = self.registry.handle_stanza(now, &el);
                }
            }
            Op::Answer(n, answer) => self.answer(n, answer),
            Op::Notify {
                account: a,
                session: s,
                kind,
                body,
            } => {
                let sender: Jid = "tybalt@capulet.example/sword".parse().expect("literal JID");
                let trigger = match kind % 4 {
                    0 => Trigger::message(sender, body),
                    1 => Trigger::subscription_request(sender),
                    2 => Trigger::call_proposal(sender),
                    _ => Trigger::other(),
                };
                let target = match s {
                    Some(r) => Target::Session(session(a, r)),
                    None => Target::Account(account(a)),
                };
                let _ = self.registry.notify(now, &target, &trigger);
            }
            Op::Hibernate {
                account: a,
                resource,
                timeout_secs,
            } => {
                let timeout = Duration::from_secs(u64::from(timeout_secs));
                let _ = self
                    .registry
                    .handle_hibernated(now, &session(a, resource), timeout);
            }
            Op::Resumed(a, r) => self.registry.handle_resumed(now, &session(a, r)),
            Op::Closed(a, r) => self.registry.handle_session_closed(now, &session(a, r)),
            Op::Online(a) => self.registry.handle_online(now, &account(a)),
            Op::Notice {
                account: a,
                service: s,
                node,
                revoke,
            } => {
                let mut change =
                    AffiliationChange::revoked(format!("n{}", node % 3), account(a).into());
                if !revoke {
                    change.affiliation = xmpp_parsers::pubsub::AffiliationAttribute::PublishOnly;
                }
                let message = change.to_message(&service(s), &account(a));
                let _ = self.registry.handle_stanza(now, &message);
            }
            Op::RemoveAccount(a) => self.registry.remove_account(now, &account(a)),
            Op::Advance(ms) => self.now = self.now.advance(Duration::from_millis(u64::from(ms))),
            Op::AdvanceSecs(s) => {
                self.now = self
                    .now
                    .advance(Duration::from_secs(u64::from(s % 100_000)));
            }
            Op::WallStep(secs) => {
                let wall = if secs >= 0 {
                    self.now.wall() + Duration::from_secs(u64::from(secs.unsigned_abs()))
                } else {
                    self.now
                        .wall()
                        .checked_sub(Duration::from_secs(u64::from(secs.unsigned_abs())))
                        .unwrap_or(self.now.wall())
                };
                self.now = self.now.with_wall(wall);
            }
            Op::Timeout => {
                if let Some(at) = self.registry.poll_timeout()
                    && at > self.now.monotonic()
                {
                    self.now = self.now.advance(at - self.now.monotonic());
                }
                self.registry.handle_timeout(self.now);
            }
            Op::Persist => self.persist(),
        }
    }

    fn answer(&mut self, n: u16, answer: Answer) {
        if self.sent.is_empty() {
            return;
        }
        let (id, to) = self.sent[usize::from(n) % self.sent.len()].clone();
        let (kind, from, id) = match answer {
            Answer::Result => ("result", to, id),
            Answer::Error { .. } => ("error", to, id),
            Answer::WrongFrom => ("result", service(1).clone(), id),
            Answer::Stale(k) => ("result", to, format!("{id}{k}")),
        };
        let mut iq = Element::bare("iq", crate::ns::JABBER_COMPONENT);
        iq = stamp(iq, minidom::rxml::xml_ncname!("type"), kind);
        iq = stamp(iq, minidom::rxml::xml_ncname!("id"), &id);
        iq = stamp(iq, minidom::rxml::xml_ncname!("from"), from.as_str());
        if let Answer::Error { kind: t, condition } = answer {
            let mut error = Element::bare("error", crate::ns::JABBER_COMPONENT);
            error = stamp(
                error,
                minidom::rxml::xml_ncname!("type"),
                pick(&ERROR_TYPES, t),
            );
            error.append_child(Element::bare(
                pick(&CONDITIONS, condition),
                crate::ns::STANZAS,
            ));
            iq.append_child(error);
        }
        let _ = self.registry.handle_stanza(self.now, &iq);
    }

    fn persist(&mut self) {
        let snapshot = self.registry.snapshot();
        // Records agree with the snapshot.
        for record in &snapshot.accounts {
            assert_eq!(self.registry.record(&record.account).as_ref(), Some(record));
        }
        let restored = Registry::restore(
            self.config.clone(),
            &mut self.rng,
            snapshot.clone(),
            self.now,
        );
        let restored = match restored {
            Ok(r) => r,
            Err(e) => panic!("our own snapshot does not restore: {e}"),
        };
        assert_eq!(restored.snapshot().accounts, snapshot.accounts);
        // In-flight publishes are not persisted: they end here.
        self.registry = restored;
        self.outcomes = 0;
        self.firsts = 0;
        self.open.clear();
        self.sent.clear();
        self.registrations = self.registry.registration_count() as i64;
    }

    fn drain(&mut self) {
        while let Some(t) = self.registry.poll_transmit() {
            match &t {
                Transmit::Reply { element, .. } => {
                    assert!(crate::xml::is_stanza(element, "iq"));
                    assert!(matches!(element.attr("type"), Some("result" | "error")));
                }
                Transmit::Publish(p) => {
                    let el = p.to_element();
                    let text = p.to_xml_in(crate::ns::JABBER_CLIENT);
                    let parsed = text.parse::<Element>();
                    assert!(parsed.is_ok(), "publish XML does not parse: {text}");
                    if let Ok(parsed) = parsed {
                        assert_eq!(parsed, el, "write_xml and to_element agree");
                    }
                    let publish = Publish::from_iq(&el);
                    assert!(publish.is_ok(), "our publish does not parse: {publish:?}");
                    let key = p
                        .id()
                        .rsplit_once('.')
                        .map_or(p.id(), |(k, _)| k)
                        .to_owned();
                    if p.id().ends_with(".1") && self.open.insert(key) {
                        self.firsts += 1;
                    }
                    self.sent
                        .push((p.id().to_owned(), p.node().service.clone()));
                    if self.sent.len() > 64 {
                        self.sent.remove(0);
                    }
                }
            }
        }
        while let Some(event) = self.registry.poll_event() {
            match event {
                Event::Enabled {
                    replaced: false, ..
                } => self.registrations += 1,
                Event::Disabled { reason, .. } => {
                    let suspended = matches!(
                        reason,
                        DisableReason::Errors {
                            retry_at: Some(_),
                            ..
                        }
                    );
                    if !suspended {
                        self.registrations -= 1;
                    }
                }
                Event::Delivered { .. } | Event::Abandoned { .. } => self.outcomes += 1,
                Event::PublishFailed { .. } => self.outcomes += 1,
                _ => {}
            }
        }
    }
}
