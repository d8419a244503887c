//! The registry target: a [`Registry`] with small bounds, fed commands, stanzas, outcomes and
//! time from the input.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use arbitrary::{Arbitrary, Unstructured};
use jid::{BareJid, FullJid, Jid};
use minidom::Element;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};
use xmpp_tether_core::{Monotonic, Now};

use super::rng::Rng;
use crate::client::ClientKeys;
use crate::elements::{Enable, Filter, Match, MatchProfile, SendProfile, WebPushSend};
use crate::registry::{
    Backoff, Delivery, Event, NoCustomProfiles, NotificationId, Registry, RegistryConfig,
    SizeBudget, Transmit,
};
use crate::service::error_reply;
use crate::stanza::{Device, Routed, SessionState, SessionStatus};

const MAX_OPS: usize = 96;
const ACCOUNTS: [&str; 3] = [
    "juliet@capulet.example",
    "romeo@montague.example",
    "nurse@capulet.example",
];
const SERVICES: [&str; 3] = [
    "push.example",
    "up@push.example/x",
    "juliet@capulet.example",
];

#[derive(Debug, Arbitrary)]
struct Setup {
    max_per_account: u8,
    max_registrations: u8,
    max_pending: u8,
    max_pending_per_account: u8,
    attempts: u8,
    disable_on_gone: bool,
    budget: u16,
    seed: u64,
}

#[derive(Debug, Arbitrary)]
enum Op {
    Enable {
        account: u8,
        device: u8,
        service: u8,
        profile: u8,
        send: u8,
        grace: Option<u8>,
        filter: Option<u8>,
        inline: bool,
        stranger: bool,
        get: bool,
    },
    Disable {
        account: u8,
        device: u8,
    },
    Raw(u8, String),
    Routed {
        account: u8,
        kind: u8,
        archived: bool,
        sessions: u8,
        activity: Option<u16>,
    },
    Bounce {
        n: u16,
        error_type: u8,
        condition: u8,
        wrong_from: bool,
    },
    Deliver {
        n: u16,
        ok: bool,
        error_type: u8,
    },
    RemoveAccount(u8),
    Advance(u16),
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

/// Devices 0-2 log in without SASL2 (keyed by resource), 3-5 with a user-agent id.
fn device(a: u8, d: u8) -> Device {
    let d = d % 6;
    let jid: FullJid = account(a)
        .with_resource_str(&format!("r{}", d % 3))
        .expect("literal resource");
    let device = Device::new(jid);
    if d >= 3 {
        device.with_user_agent(format!("ua-{d}"))
    } else {
        device
    }
}

fn keys() -> &'static [ClientKeys; 2] {
    static KEYS: OnceLock<[ClientKeys; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = Rng(42);
        let mut make = || ClientKeys::generate(&mut rng).expect("keys from a working RNG");
        [make(), make()]
    })
}

fn stanza_error(error_type: u8, condition: u8) -> StanzaError {
    let types = [
        ErrorType::Wait,
        ErrorType::Cancel,
        ErrorType::Auth,
        ErrorType::Modify,
    ];
    let conditions = [
        DefinedCondition::ItemNotFound,
        DefinedCondition::ResourceConstraint,
        DefinedCondition::Forbidden,
        DefinedCondition::InternalServerError,
    ];
    StanzaError::new(
        types[usize::from(error_type) % types.len()].clone(),
        conditions[usize::from(condition) % conditions.len()].clone(),
        "en",
        "fuzz",
    )
}

struct World {
    registry: Registry,
    rng: Rng,
    now: Now,
    config: RegistryConfig,
    /// Every notification send: (id, to, the message).
    sent: Vec<(String, Jid, Element)>,
    firsts: u64,
    outcomes: u64,
    registrations: i64,
}

/// Replays an arbitrary list of operations; see the module docs of [`super`].
pub fn registry(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(setup) = Setup::arbitrary(&mut u) else {
        return;
    };
    let config = RegistryConfig {
        max_per_account: usize::from(setup.max_per_account % 4),
        max_registrations: usize::from(setup.max_registrations % 8),
        max_pending: usize::from(setup.max_pending % 8),
        max_pending_per_account: usize::from(setup.max_pending_per_account % 4),
        retry: Backoff::new(
            Duration::from_secs(1),
            Duration::from_secs(8),
            u32::from(setup.attempts % 4),
        ),
        disable_on_gone: setup.disable_on_gone,
        disable_after: Duration::from_secs(600),
        budget: SizeBudget::Octets(usize::from(setup.budget) % 4000),
        ..RegistryConfig::default()
    };
    let mut rng = Rng(setup.seed);
    let mut w = World {
        registry: Registry::new(config.clone(), &mut rng),
        rng,
        now: Now::new(
            Monotonic::from_epoch(Duration::from_secs(5)),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        ),
        config,
        sent: Vec::new(),
        firsts: 0,
        outcomes: 0,
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
            i64::try_from(w.registry.registration_count()).ok(),
            Some(w.registrations),
            "registrations counted from events"
        );
        assert_eq!(
            w.firsts,
            w.outcomes + w.registry.pending_count() as u64,
            "every notification is pending or settled exactly once"
        );
    }
}

impl World {
    fn apply(&mut self, op: Op) {
        let now = self.now;
        match op {
            Op::Enable {
                account: a,
                device: d,
                service,
                profile,
                send,
                grace,
                filter,
                inline,
                stranger,
                get,
            } => {
                let device = device(a, d);
                let enable = self.enable(service, profile, send, grace, filter);
                if inline {
                    let mut bind = Element::bare("bind", crate::ns::BIND2);
                    bind.append_child(enable.into());
                    let _ = self.registry.handle_bind2(now, &device, &bind);
                } else {
                    let mut iq = enable.to_iq("e");
                    if get {
                        crate::xml::set(&mut iq, minidom::rxml::xml_ncname!("type"), "get");
                    }
                    if stranger {
                        let other = account(a.wrapping_add(1)).to_string();
                        crate::xml::set(&mut iq, minidom::rxml::xml_ncname!("to"), other);
                    }
                    let _ = self.registry.handle_iq(now, &device, &iq);
                }
            }
            Op::Disable {
                account: a,
                device: d,
            } => {
                let iq = crate::Disable::new().to_iq("d");
                let _ = self.registry.handle_iq(now, &device(a, d), &iq);
            }
            Op::Raw(d, text) => {
                if let Ok(el) = text.parse::<Element>() {
                    let _ = self.registry.handle_iq(now, &device(d, d / 3), &el);
                    let _ = self.registry.handle_stanza(now, &mut self.rng, &el);
                }
            }
            Op::Routed {
                account: a,
                kind,
                archived,
                sessions,
                activity,
            } => self.routed(a, kind, archived, sessions, activity),
            Op::Bounce {
                n,
                error_type,
                condition,
                wrong_from,
            } => {
                let Some((_, to, message)) = self.nth(n) else {
                    return;
                };
                let mut bounce = error_reply(&message, stanza_error(error_type, condition));
                if wrong_from {
                    crate::xml::set(
                        &mut bounce,
                        minidom::rxml::xml_ncname!("from"),
                        "evil.example",
                    );
                } else {
                    crate::xml::set(
                        &mut bounce,
                        minidom::rxml::xml_ncname!("from"),
                        to.to_string(),
                    );
                }
                let _ = self.registry.handle_stanza(now, &mut self.rng, &bounce);
            }
            Op::Deliver { n, ok, error_type } => {
                let Some((id, _, _)) = self.nth(n) else {
                    return;
                };
                let delivery = if ok {
                    Delivery::Delivered
                } else {
                    Delivery::Failed(Box::new(stanza_error(error_type, 1)))
                };
                let _ = self.registry.handle_delivery(
                    now,
                    &mut self.rng,
                    &NotificationId::new(id),
                    delivery,
                );
            }
            Op::RemoveAccount(a) => self.registry.remove_account(now, &account(a)),
            Op::Advance(secs) => {
                self.now = now.advance(Duration::from_secs(u64::from(secs % 2000)));
                self.registry.handle_timeout(self.now);
            }
            Op::WallStep(secs) => {
                let wall = if secs >= 0 {
                    now.wall() + Duration::from_secs(secs.unsigned_abs().into())
                } else {
                    now.wall() - Duration::from_secs(secs.unsigned_abs().into())
                };
                self.now = now.with_wall(wall);
                self.registry.handle_timeout(self.now);
            }
            Op::Timeout => self.registry.handle_timeout(now),
            Op::Persist => {
                let snapshot = self.registry.snapshot();
                let restored = Registry::restore(
                    self.config.clone(),
                    NoCustomProfiles,
                    snapshot.clone(),
                    &mut self.rng,
                    now,
                );
                let restored = restored.expect("our own snapshot restores");
                assert_eq!(restored.snapshot(), snapshot, "snapshot round trip");
                self.drain();
                // Notifications in flight are not persisted.
                self.firsts = self.outcomes;
                self.registry = restored;
            }
        }
    }

    fn nth(&self, n: u16) -> Option<(String, Jid, Element)> {
        if self.sent.is_empty() {
            return None;
        }
        self.sent.get(usize::from(n) % self.sent.len()).cloned()
    }

    fn enable(
        &self,
        service: u8,
        profile: u8,
        send: u8,
        grace: Option<u8>,
        filter: Option<u8>,
    ) -> Enable {
        let profiles = [
            MatchProfile::All,
            MatchProfile::Important,
            MatchProfile::Archived,
            MatchProfile::ArchivedWithBody,
            MatchProfile::Other("urn:example:unknown".into()),
        ];
        let keys = keys();
        let send = match send % 6 {
            0 | 1 => SendProfile::NotifyOnly,
            2 | 3 => {
                let k = &keys[usize::from(send % 2)];
                SendProfile::WebPush(
                    k.send_profile(Some("https://push.example"))
                        .expect("exportable key"),
                )
            }
            4 => SendProfile::WebPush(WebPushSend::new(&keys[0].ua)),
            _ => {
                let mut bad = WebPushSend::new(&keys[0].ua);
                bad.ua_public = "AAAA".into();
                SendProfile::WebPush(bad)
            }
        };
        let mut m = Match::new(
            profiles[usize::from(profile) % profiles.len()].clone(),
            send,
        );
        if let Some(g) = grace {
            m = m.with_grace(Duration::from_secs(u64::from(g % 8)));
        }
        if let Some(f) = filter {
            let jid: Jid = pick(
                &["romeo@montague.example", "room@muc.example", "muc.example"],
                f,
            )
            .parse()
            .expect("literal JID");
            let mut filter = Filter::muted(jid);
            filter.mention = f & 4 != 0;
            filter.reply = f & 8 != 0;
            m = m.with_filter(filter);
        }
        Enable::new(
            pick(&SERVICES, service).parse().expect("literal JID"),
            "https://push.example/wpush/1",
        )
        .with_match(m)
    }

    fn routed(&mut self, a: u8, kind: u8, archived: bool, sessions: u8, activity: Option<u16>) {
        let account = account(a);
        let stanzas = [
            "<message xmlns='jabber:client' type='chat' from='romeo@montague.example/o' id='1'><body>Juliet?</body></message>",
            "<message xmlns='jabber:client' type='groupchat' from='room@muc.example/juliet'><body>me</body></message>",
            "<message xmlns='jabber:client' type='groupchat' from='room@muc.example/nurse'><body>hey juliet</body><reply xmlns='urn:xmpp:reply:0' to='room@muc.example/juliet' id='x'/></message>",
            "<message xmlns='jabber:client' from='romeo@montague.example/o'><received xmlns='urn:xmpp:receipts' id='1'/></message>",
            "<message xmlns='jabber:client' from='romeo@montague.example/o'><propose xmlns='urn:xmpp:jingle-message:0' id='c'/></message>",
            "<presence xmlns='jabber:client' from='romeo@montague.example' type='subscribe'/>",
            "<message xmlns='jabber:client' from='juliet@capulet.example/r1'><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' to='romeo@montague.example'><body>sent</body></message></forwarded></sent></message>",
        ];
        let Ok(stanza) = pick(&stanzas, kind).parse::<Element>() else {
            return;
        };
        let states: Vec<SessionState> = (0..6u8)
            .filter(|d| sessions & (1 << d) != 0)
            .map(|d| {
                let status = if sessions & 0x40 != 0 {
                    SessionStatus::Live
                } else {
                    SessionStatus::Hibernated
                };
                let mut s = SessionState::new(device(a, d).key(), status);
                if let Some(ms) = activity {
                    let back = Duration::from_millis(u64::from(ms) * 10);
                    let at = Monotonic::from_epoch(
                        self.now.monotonic().since_epoch().saturating_sub(back),
                    );
                    s = s.with_last_activity(at);
                }
                s
            })
            .collect();
        let mut routed = Routed::new(&account, &stanza)
            .with_sessions(&states)
            .with_room_nick("juliet");
        if archived {
            routed = routed.with_archive_id("mam-1");
        }
        let sent = self
            .registry
            .handle_routed(self.now, &mut self.rng, &routed);
        assert!(sent <= self.config.max_per_account.max(1));
    }

    fn drain(&mut self) {
        while let Some(t) = self.registry.poll_transmit() {
            match t {
                Transmit::Notification(n) => {
                    if n.attempt == 1 {
                        self.firsts += 1;
                    }
                    let message = n.to_element();
                    assert!(
                        message
                            .get_child("notification", crate::ns::PUSH2)
                            .is_some()
                    );
                    let parsed = crate::Notification::from_message(&message);
                    assert!(parsed.is_ok(), "our notification parses: {parsed:?}");
                    self.sent.push((n.id.to_string(), n.to.clone(), message));
                    if self.sent.len() > 64 {
                        self.sent.remove(0);
                    }
                }
                Transmit::Reply { element, .. } => {
                    assert!(element.attr("type").is_some());
                }
                Transmit::Bind2 { element, .. } => {
                    assert!(element.has_ns(crate::ns::PUSH2));
                }
            }
        }
        while let Some(event) = self.registry.poll_event() {
            match event {
                Event::Enabled {
                    replaced: false, ..
                } => self.registrations += 1,
                Event::Disabled { .. } => self.registrations -= 1,
                Event::Delivered { .. } | Event::Discarded { .. } => self.outcomes += 1,
                _ => {}
            }
        }
    }
}
