//! The tracker fed arbitrary operations, with its invariants checked after each.

use std::time::{Duration, SystemTime};

use arbitrary::{Arbitrary, Unstructured};
use jid::{DomainPart, FullJid, Jid};
use minidom::Element;
use xmpp_parsers::presence::{Presence, Type};
use xmpp_parsers::stream_error::DefinedCondition;
use xmpp_tether_core::{Monotonic, Now};

use crate::elements::{self, Condition, StateAnnotation};
use crate::{LinkLoss, RemoteWatchers, StreamId, Tracker, TrackerConfig, TransmitKind};

/// The most operations one input replays.
const MAX_OPS: usize = 256;

const JIDS: &[&str] = &[
    "romeo@montague.lit/lane",
    "romeo@montague.lit/home",
    "benvolio@montague.lit/lane",
    "mercutio@montague.lit",
    "montague.lit",
    "juliet@capulet.lit/orchard",
    "juliet@capulet.lit",
    "tybalt@capulet.lit/x",
    "paris@verona.lit/p",
    "verona.lit",
    "orchard@chats.shakespeare.lit/Juliet",
    "orchard@chats.shakespeare.lit/Romeo",
    "orchard@chats.shakespeare.lit",
];

const DOMAINS: &[&str] = &["capulet.lit", "verona.lit", "padua.lit", "montague.lit"];

const ANNOTATORS: &[&str] = &[
    "montague.lit",
    "capulet.lit",
    "chats.shakespeare.lit",
    "juliet@capulet.lit",
];

/// The fixed start of virtual time.
pub(crate) fn start() -> Now {
    Now::new(
        Monotonic::from_epoch(Duration::from_secs(1)),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    )
}

#[derive(Debug, Arbitrary)]
enum Kind {
    Available,
    Unavailable,
    Error,
    Subscribe,
    Probe,
}

#[derive(Debug, Arbitrary)]
enum Loss {
    Idle,
    Closed,
    Replaced,
    Network,
    Timeout,
    ConnectFailed,
    ConnectionTimeout,
    HostGone,
    SeeOtherHost,
}

impl Loss {
    fn into_loss(self) -> LinkLoss {
        match self {
            Self::Idle => LinkLoss::Idle,
            Self::Closed => LinkLoss::Closed,
            Self::Replaced => LinkLoss::Replaced,
            Self::Network => LinkLoss::Network,
            Self::Timeout => LinkLoss::Timeout,
            Self::ConnectFailed => LinkLoss::ConnectFailed,
            Self::ConnectionTimeout => LinkLoss::StreamError(DefinedCondition::ConnectionTimeout),
            Self::HostGone => LinkLoss::StreamError(DefinedCondition::HostGone),
            Self::SeeOtherHost => {
                LinkLoss::StreamError(DefinedCondition::SeeOtherHost("other.lit".into()))
            }
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Op {
    Presence {
        from: u8,
        to: u8,
        kind: Kind,
        status: u8,
        /// An annotation the presence already carries: (annotator, condition).
        annotated: Option<(u8, u8)>,
    },
    /// Raw XML, read as a presence if it is one.
    Raw(String),
    Interest {
        who: u8,
        wants: bool,
    },
    Established {
        domain: u8,
        stream: u8,
    },
    Closed {
        domain: u8,
        stream: u8,
        reason: Loss,
    },
    Failed {
        domain: u8,
        reason: Loss,
    },
    Pause(u8),
    Resume(u8),
    End(u8),
    Join {
        occupant: u8,
        real: u8,
    },
    Leave(u8),
    /// Time passes (seconds), with the timer fired when due or not.
    Wait {
        secs: u16,
        fire: bool,
    },
    /// The wall clock steps (the monotonic clock does not).
    Step(i32),
    Persist,
}

fn pick<'a>(list: &[&'a str], i: u8) -> &'a str {
    list[usize::from(i) % list.len()]
}

fn jid(i: u8) -> Option<Jid> {
    pick(JIDS, i).parse().ok()
}

fn full(i: u8) -> Option<FullJid> {
    pick(JIDS, i).parse().ok()
}

fn domain(i: u8) -> Option<DomainPart> {
    DomainPart::new(pick(DOMAINS, i))
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// Replays `data` as operations on a tracker with small limits.
pub fn tracker(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(setup) = <(u8, u8, bool)>::arbitrary(&mut u) else {
        return;
    };
    let (Some(montague), Some(chats)) = (domain(3), DomainPart::new("chats.shakespeare.lit").ok())
    else {
        return;
    };
    let mut config = TrackerConfig::new(montague).with_domain(chats.into_owned());
    config.grace = Duration::from_secs(u64::from(setup.0 % 40));
    config.remote_watchers = match setup.1 % 3 {
        0 => RemoteWatchers::Advertised,
        1 => RemoteWatchers::All,
        _ => RemoteWatchers::Never,
    };
    config.probe_on_restore = setup.2;
    config.max_presences = 12;
    config.max_presences_per_account = 5;
    config.max_parties = 10;
    config.max_domains = 2;
    let mut tracker = Tracker::new(config);
    let mut now = start();
    for _ in 0..MAX_OPS {
        // `arbitrary` pads exhausted input with zeros: stop instead of replaying the
        // padding's operation up to the limit (every input cost the full limit).
        if u.is_empty() {
            break;
        }
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        apply(&mut tracker, &mut now, op);
        check(&mut tracker);
    }
}

fn apply(tracker: &mut Tracker, now: &mut Now, op: Op) {
    let at = *now;
    match op {
        Op::Presence {
            from,
            to,
            kind,
            status,
            annotated,
        } => {
            let (Some(from), Some(to)) = (jid(from), jid(to)) else {
                return;
            };
            let mut presence = Presence::new(match kind {
                Kind::Available => Type::None,
                Kind::Unavailable => Type::Unavailable,
                Kind::Error => Type::Error,
                Kind::Subscribe => Type::Subscribe,
                Kind::Probe => Type::Probe,
            })
            .with_from(from)
            .with_to(to);
            presence.set_status("", format!("s{}", status % 4));
            if let Some((by, condition)) = annotated
                && let Ok(by) = pick(ANNOTATORS, by).parse::<Jid>()
            {
                let condition = match condition % 3 {
                    0 => None,
                    1 => Some(Condition::ServerUnavailable),
                    _ => Some(Condition::ConnectionPaused),
                };
                StateAnnotation::new(by, condition).attach(&mut presence);
            }
            let _ = tracker.handle_presence(at, &mut presence);
        }
        Op::Raw(xml) => {
            if let Ok(element) = xml.parse::<Element>()
                && let Ok(mut presence) = Presence::try_from(element)
            {
                let _ = tracker.handle_presence(at, &mut presence);
            }
        }
        Op::Interest { who, wants } => {
            if let Some(who) = jid(who) {
                tracker.handle_interest(at, &who, wants);
            }
        }
        Op::Established { domain: d, stream } => {
            if let Some(d) = domain(d) {
                let _ = tracker.handle_link_established(at, &d, StreamId(u64::from(stream % 3)));
            }
        }
        Op::Closed {
            domain: d,
            stream,
            reason,
        } => {
            if let Some(d) = domain(d) {
                let stream = StreamId(u64::from(stream % 3));
                let _ = tracker.handle_link_closed(at, &d, stream, reason.into_loss());
            }
        }
        Op::Failed { domain: d, reason } => {
            if let Some(d) = domain(d) {
                let _ = tracker.handle_link_failed(at, &d, reason.into_loss());
            }
        }
        Op::Pause(who) => {
            if let Some(who) = full(who) {
                let _ = tracker.handle_session_paused(at, &who);
            }
        }
        Op::Resume(who) => {
            if let Some(who) = full(who) {
                let _ = tracker.handle_session_resumed(at, &who);
            }
        }
        Op::End(who) => {
            if let Some(who) = full(who) {
                let _ = tracker.handle_session_ended(at, &who);
                let ended = drained(tracker);
                assert!(
                    ended.is_empty(),
                    "an ended session sends nothing: {ended:?}"
                );
            }
        }
        Op::Join { occupant, real } => {
            if let (Some(occupant), Some(real)) = (full(occupant), jid(real)) {
                let _ = tracker.handle_occupant_joined(at, &occupant, &real);
            }
        }
        Op::Leave(who) => {
            if let Some(who) = full(who) {
                let _ = tracker.handle_occupant_left(at, &who);
                let left = drained(tracker);
                assert!(left.is_empty(), "a left occupant sends nothing: {left:?}");
            }
        }
        Op::Wait { secs, fire } => {
            *now = now.advance(Duration::from_secs(u64::from(secs)));
            let due = tracker.poll_timeout().is_some_and(|d| d <= now.monotonic());
            if fire || due {
                tracker.handle_timeout(*now);
            }
        }
        Op::Step(secs) => {
            let wall = if secs >= 0 {
                now.wall()
                    .checked_add(Duration::from_secs(secs.unsigned_abs().into()))
            } else {
                now.wall()
                    .checked_sub(Duration::from_secs(secs.unsigned_abs().into()))
            };
            if let Some(wall) = wall {
                *now = now.with_wall(wall);
            }
            let before = tracker.poll_timeout();
            tracker.handle_timeout(*now);
            if before.is_some_and(|d| d > now.monotonic()) {
                assert_eq!(tracker.poll_timeout(), before, "a wall step moved a grace");
            }
        }
        Op::Persist => persist(tracker, *now),
    }
}

#[cfg(feature = "serde")]
fn persist(tracker: &mut Tracker, now: Now) {
    let _ = drained(tracker);
    let Ok(snapshot) = tracker.snapshot(now) else {
        panic!("a drained tracker snapshots");
    };
    let restored = Tracker::restore(tracker.config().clone(), snapshot.clone(), now);
    let Ok(restored) = restored else {
        panic!("our own snapshot restores: {restored:?}");
    };
    assert_eq!(
        restored.snapshot(now).ok(),
        Some(snapshot),
        "restore changed the snapshot"
    );
    *tracker = restored;
}

#[cfg(not(feature = "serde"))]
fn persist(tracker: &mut Tracker, now: Now) {
    let _ = (tracker, now);
}

fn drained(tracker: &mut Tracker) -> Vec<crate::Transmit> {
    let mut out = Vec::new();
    while let Some(t) = tracker.poll_transmit() {
        out.push(t);
    }
    out
}

/// The invariants, after every operation.
fn check(tracker: &mut Tracker) {
    if let Err(broken) = tracker.check_invariants() {
        panic!("invariant broken: {broken}");
    }
    let config = tracker.config().clone();
    assert!(tracker.presences() <= config.max_presences);
    for transmit in drained(tracker) {
        let presence = transmit.presence();
        assert_eq!(presence.to.as_ref(), Some(transmit.to()), "addressed");
        let Some(from) = presence.from.clone() else {
            panic!("a transmit without from: {transmit:?}");
        };
        let annotation = StateAnnotation::of(presence);
        let count = presence
            .payloads
            .iter()
            .filter(|p| elements::is_annotation(p))
            .count();
        match transmit.kind() {
            TransmitKind::Annotated(condition) => {
                assert_eq!(count, 1, "one annotation");
                let Some(Ok(annotation)) = annotation else {
                    panic!("unparsable annotation in {transmit:?}");
                };
                assert_eq!(annotation.condition.as_ref(), Some(condition));
                assert!(annotation.from.is_some());
                assert!(
                    tracker.holds(transmit.to(), &from),
                    "annotation after unavailable"
                );
                assert_eq!(
                    tracker.annotated(transmit.to(), &from).as_ref(),
                    Some(condition)
                );
            }
            TransmitKind::Restored => {
                assert_eq!(count, 1, "one annotation");
                assert!(
                    tracker.holds(transmit.to(), &from),
                    "restore after unavailable"
                );
                assert_eq!(tracker.annotated(transmit.to(), &from), None);
            }
            TransmitKind::Probe => {
                assert_eq!(presence.type_, Type::Probe);
                assert_eq!(count, 0);
            }
        }
        let _ = crate::presence_element(transmit.into_presence());
    }
    while tracker.poll_event().is_some() {}
}
