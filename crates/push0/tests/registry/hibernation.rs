//! The hibernation extension until the first push, and how a caller wires it to its XEP-0198
//! session store.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use jid::FullJid;
use xmpp_push0::{Event, Hibernation, Now, Privacy, Registry, RegistryConfig, Target, Trigger};

use crate::common::*;

const T: Duration = Duration::from_secs(300);
const DAY3: Duration = Duration::from_secs(72 * 3600);

#[test]
fn a_session_that_enabled_push_is_kept_until_its_first_push() {
    let mut r = registry(RegistryConfig::default());
    let _ = enable(&mut r, t0(), PHONE, SERVICE, "n1");
    assert_eq!(
        r.handle_hibernated(t0(), &full(PHONE), T),
        Hibernation::Extended {
            deadline: t0().wall() + DAY3
        }
    );
    // Another session of the account did not enable push.
    assert_eq!(
        r.handle_hibernated(t0(), &full(TABLET), T),
        Hibernation::Unchanged
    );
    // A timeout already longer than the extension stays.
    assert_eq!(
        r.handle_hibernated(t0(), &full(PHONE), DAY3 + T),
        Hibernation::Unchanged
    );
}

#[test]
fn a_deadline_instead_of_a_timeout_is_the_time_left() {
    let mut r = registry(RegistryConfig::default());
    let _ = enable(&mut r, t0(), PHONE, SERVICE, "n1");
    let _ = r.handle_hibernated_until(t0(), &full(PHONE), t0().wall() + T);
    let later = t0().advance(Duration::from_secs(60));
    let message = Trigger::message(jid("romeo@montague.example"), Some("hi".into()));
    assert_eq!(r.notify(later, &Target::Session(full(PHONE)), &message), 1);
    let d = drain(&mut r);
    assert_eq!(
        d.events(),
        [&Event::HibernationDeadline {
            session: full(PHONE),
            deadline: later.wall() + T,
        }]
    );
    // A deadline already past is no timeout at all: still extended until the first push.
    assert_eq!(
        r.handle_hibernated_until(later, &full(PHONE), t0().wall()),
        Hibernation::Extended {
            deadline: later.wall() + DAY3
        }
    );
    // One already beyond the extension stays.
    assert_eq!(
        r.handle_hibernated_until(later, &full(PHONE), later.wall() + DAY3 + T),
        Hibernation::Unchanged
    );
}

#[test]
fn the_first_push_gives_the_session_its_own_timeout_from_now() {
    let mut r = registry(RegistryConfig::default());
    let _ = enable(&mut r, t0(), PHONE, SERVICE, "n1");
    let _ = r.handle_hibernated(t0(), &full(PHONE), T);
    let later = t0().advance(Duration::from_secs(3600));
    let message = Trigger::message(jid("romeo@montague.example"), Some("hi".into()));
    assert_eq!(r.notify(later, &Target::Session(full(PHONE)), &message), 1);
    let d = drain(&mut r);
    assert_eq!(
        d.events(),
        [&Event::HibernationDeadline {
            session: full(PHONE),
            deadline: later.wall() + T,
        }]
    );
    assert!(!r.is_extended(&full(PHONE)));
    r.notify(later, &Target::Session(full(PHONE)), &message);
    assert!(drain(&mut r).events().is_empty(), "fires once");
}

#[test]
fn without_a_placeholder_every_push_ends_an_extension() {
    let r = registry(config!(privacy: Privacy::SenderAndBody));
    assert!(r.ends_extension(&Trigger::other().with_important(false)));
}

#[test]
fn under_a_placeholder_only_an_important_push_counts() {
    let mut r = registry(config!(privacy: Privacy::Placeholder("New".into())));
    let _ = enable(&mut r, t0(), PHONE, SERVICE, "n1");
    let _ = r.handle_hibernated(t0(), &full(PHONE), T);
    assert!(!r.ends_extension(&Trigger::other()));
    r.notify(t0(), &Target::Session(full(PHONE)), &Trigger::other());
    assert!(drain(&mut r).events().is_empty());
    assert!(r.is_extended(&full(PHONE)));
    let call = Trigger::call_proposal(jid("romeo@montague.example"));
    assert!(
        r.ends_extension(&call),
        "what notify does next, told in advance"
    );
    r.notify(
        t0(),
        &Target::Session(full(PHONE)),
        &Trigger::call_proposal(jid("romeo@montague.example")),
    );
    assert!(matches!(
        drain(&mut r).events()[..],
        [Event::HibernationDeadline { .. }]
    ));
}

#[test]
fn disabling_push_gives_the_original_deadline_back() {
    let mut r = registry(RegistryConfig::default());
    let _ = enable(&mut r, t0(), PHONE, SERVICE, "n1");
    let _ = r.handle_hibernated(t0(), &full(PHONE), T);
    let notice = xmpp_push0::AffiliationChange::revoked("n1", jid(JULIET))
        .to_message(&jid(SERVICE), &bare(JULIET));
    let _ = r
        .handle_stanza(t0().advance(Duration::from_secs(5)), &notice)
        .expect("notice");
    let d = drain(&mut r);
    assert!(d.events().contains(&&Event::HibernationDeadline {
        session: full(PHONE),
        deadline: t0().wall() + T,
    }));
}

#[test]
fn resumption_forgets_the_extension_and_resets_the_counts() {
    let mut r = registry(RegistryConfig::default());
    let _ = enable(&mut r, t0(), PHONE, SERVICE, "n1");
    let _ = r.handle_hibernated(t0(), &full(PHONE), T);
    r.notify(
        t0(),
        &Target::Account(bare(JULIET)),
        &Trigger::other().with_important(false),
    );
    let _ = drain(&mut r);
    r.handle_resumed(t0(), &full(PHONE));
    assert!(!r.is_extended(&full(PHONE)));
    let m = Trigger::message(jid("romeo@montague.example"), None);
    r.notify(t0(), &Target::Account(bare(JULIET)), &m);
    let d = drain(&mut r);
    let s = d.publishes[0]
        .notification()
        .summary
        .clone()
        .expect("summary");
    assert_eq!(s.message_count, Some(1));
    let _ = r.handle_hibernated(t0(), &full(PHONE), T);
    r.handle_session_closed(t0(), &full(PHONE));
    assert!(!r.is_extended(&full(PHONE)));
    assert!(drain(&mut r).events().is_empty());
}

/// A stand-in for a XEP-0198 session store (xmpp-sm's, or any other): hibernated sessions
/// with a wall-clock deadline that can be changed, expiring when it passes.
#[derive(Default)]
struct SessionStore {
    deadlines: HashMap<FullJid, SystemTime>,
    queued: HashMap<FullJid, usize>,
}

impl SessionStore {
    fn hibernate(&mut self, now: Now, session: &FullJid, timeout: Duration) -> SystemTime {
        let deadline = now.wall() + timeout;
        self.deadlines.insert(session.clone(), deadline);
        deadline
    }
    fn set_deadline(&mut self, session: &FullJid, deadline: SystemTime) {
        if let Some(d) = self.deadlines.get_mut(session) {
            *d = deadline;
        }
    }
    fn expire(&mut self, now: Now) -> Vec<FullJid> {
        let gone: Vec<FullJid> = self
            .deadlines
            .iter()
            .filter(|(_, d)| **d <= now.wall())
            .map(|(s, _)| s.clone())
            .collect();
        for s in &gone {
            self.deadlines.remove(s);
        }
        gone
    }
}

/// The wiring of `Registry` docs' hibernation section, end to end: hibernate, extend, queue
/// stanzas (pushing them), shorten at the first push, expire at the session's own timeout.
#[test]
fn wiring_a_session_store_to_the_registry() {
    let mut registry = registry(RegistryConfig::default());
    let mut store = SessionStore::default();
    let phone = full(PHONE);
    let _ = enable(&mut registry, t0(), PHONE, SERVICE, "n1");

    let apply = |registry: &mut Registry, store: &mut SessionStore| {
        while let Some(event) = registry.poll_event() {
            if let Event::HibernationDeadline { session, deadline } = event {
                store.set_deadline(&session, deadline);
            }
        }
        while registry.poll_transmit().is_some() {}
    };

    // 1. The stream breaks: the session hibernates with its own 5-minute timeout, extended.
    let own = store.hibernate(t0(), &phone, T);
    if let Hibernation::Extended { deadline } = registry.handle_hibernated(t0(), &phone, T) {
        store.set_deadline(&phone, deadline);
    }
    assert_eq!(store.deadlines[&phone], t0().wall() + DAY3);
    assert!(store.deadlines[&phone] > own);

    // An hour passes with nothing for the user: the session is still there.
    let now = t0().advance(Duration::from_secs(3600));
    assert!(store.expire(now).is_empty());

    // 2. A message is queued into the hibernated session: it is pushed...
    *store.queued.entry(phone.clone()).or_default() += 1;
    let message = xml(
        "<message xmlns='jabber:client' from='romeo@montague.example/garden' \
        to='juliet@capulet.example/phone' type='chat'><body>up?</body></message>",
    );
    let trigger = Trigger::from_stanza(&message).expect("pushable");
    assert_eq!(
        registry.notify(now, &Target::Session(phone.clone()), &trigger),
        1
    );
    // 3. ... and the first push brings the session's own timeout back, from now.
    apply(&mut registry, &mut store);
    assert_eq!(store.deadlines[&phone], now.wall() + T);

    // The user does not come back: the session expires 5 minutes after the push.
    assert!(
        store
            .expire(now.advance(T - Duration::from_secs(1)))
            .is_empty()
    );
    let expired = store.expire(now.advance(T));
    assert_eq!(expired, std::slice::from_ref(&phone));
    // 4. The caller tells the registry.
    for session in expired {
        registry.handle_session_closed(now.advance(T), &session);
    }
    assert!(!registry.is_extended(&phone));
}
