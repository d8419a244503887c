//! Outcomes: silence, error bounces, `wait` retries with back-off, the failure clock.

use std::time::{Duration, SystemTime};

use minidom::Element;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};
use xmpp_push2::service::error_reply;
use xmpp_push2::{
    Backoff, Bound, Delivery, DisableReason, DiscardReason, Event, Incoming, MatchProfile,
    OutgoingNotification, Registry, RegistryConfig, Routed,
};

use super::common::*;

fn send(registry: &mut Registry, body: &str) -> Vec<OutgoingNotification> {
    let mut rng = rng();
    let account = juliet();
    let chat = message(body);
    let _ = registry.handle_routed(t0(), &mut rng, &Routed::new(&account, &chat));
    drain(registry).notifications
}

fn bounce(n: &OutgoingNotification, type_: ErrorType, condition: DefinedCondition) -> Element {
    let mut reply = error_reply(
        &n.to_element(),
        StanzaError::new(type_, condition, "en", "test"),
    );
    // The push service answers from its own JID, the notification's `to`.
    reply.set_attr(
        minidom::rxml::Namespace::NONE,
        minidom::rxml::xml_ncname!("from").to_owned(),
        n.to.to_string(),
    );
    reply
}

fn two_registrations(config: RegistryConfig) -> Registry {
    registry_with(
        config,
        vec![
            notify_only(MatchProfile::Important),
            notify_only(MatchProfile::Important),
        ],
    )
}

#[test]
fn silence_past_the_window_is_delivery() {
    let mut registry = registry_with(
        RegistryConfig::default(),
        vec![notify_only(MatchProfile::Important)],
    );
    let sent = send(&mut registry, "hi");
    assert_eq!(
        registry.poll_timeout(),
        Some(t0().monotonic() + Duration::from_secs(60))
    );
    // A wall-clock step fires nothing; a spurious timeout neither.
    let stepped = t0().with_wall(SystemTime::UNIX_EPOCH + Duration::from_secs(T0 + 86_400));
    registry.handle_timeout(stepped);
    registry.handle_timeout(t0().advance(Duration::from_secs(59)));
    assert!(drain(&mut registry).events.is_empty());
    registry.handle_timeout(t0().advance(Duration::from_secs(60)));
    let d = drain(&mut registry);
    assert!(matches!(&d.events[..],
        [Event::Delivered { acknowledged: false, attempts: 1, id, .. }] if *id == sent[0].id));
    assert_eq!(registry.pending_count(), 0);
    assert_eq!(registry.poll_timeout(), None);
}

#[test]
fn a_reported_delivery_is_acknowledged() {
    let mut registry = registry_with(
        RegistryConfig::default(),
        vec![notify_only(MatchProfile::Important)],
    );
    let sent = send(&mut registry, "hi");
    let mut rng = rng();
    assert_eq!(
        registry.handle_delivery(t0(), &mut rng, &sent[0].id, Delivery::Delivered),
        Incoming::Handled
    );
    assert!(matches!(
        &drain(&mut registry).events[..],
        [Event::Delivered {
            acknowledged: true,
            ..
        }]
    ));
    assert_eq!(
        registry.handle_delivery(t0(), &mut rng, &sent[0].id, Delivery::Delivered),
        Incoming::NotOurs
    );
}

#[test]
fn wait_errors_back_off_with_jitter_then_give_up() {
    let config = {
        let mut c = RegistryConfig::default();
        c.retry = Backoff::new(Duration::from_secs(10), Duration::from_secs(25), 3);
        c
    };
    let mut registry = registry_with(config, vec![notify_only(MatchProfile::Important)]);
    let mut rng = rng();
    let mut n = send(&mut registry, "hi").remove(0);
    let mut now = t0();
    for (attempt, ceiling) in [(1u32, 10u64), (2, 20)] {
        let b = bounce(&n, ErrorType::Wait, DefinedCondition::ResourceConstraint);
        assert_eq!(registry.handle_stanza(now, &mut rng, &b), Incoming::Handled);
        let d = drain(&mut registry);
        let [
            Event::Retrying {
                attempt: a, delay, ..
            },
        ] = &d.events[..]
        else {
            panic!("{:?}", d.events)
        };
        assert_eq!(*a, attempt);
        assert!(
            *delay >= Duration::from_secs(ceiling) / 2 && *delay <= Duration::from_secs(ceiling),
            "{delay:?}"
        );
        assert_eq!(registry.poll_timeout(), Some(now.monotonic() + *delay));
        // A second bounce of the same send changes nothing.
        assert_eq!(registry.handle_stanza(now, &mut rng, &b), Incoming::NotOurs);
        now = now.advance(*delay);
        registry.handle_timeout(now);
        let d = drain(&mut registry);
        assert_eq!(d.notifications.len(), 1);
        let again = d.notifications[0].clone();
        assert_eq!(again.attempt, attempt + 1);
        assert_ne!(again.id, n.id);
        assert_eq!(again.notification, n.notification);
        n = again;
    }
    let b = bounce(&n, ErrorType::Wait, DefinedCondition::ResourceConstraint);
    assert_eq!(registry.handle_stanza(now, &mut rng, &b), Incoming::Handled);
    let d = drain(&mut registry);
    assert!(matches!(
        &d.events[0],
        Event::Discarded {
            reason: DiscardReason::RetriesExhausted(_),
            attempts: 3,
            ..
        }
    ));
    assert!(matches!(&d.events[1], Event::Changed { .. }));
    assert_eq!(
        registry.registrations(&juliet())[0].failing_since,
        Some(now.wall())
    );
    assert_eq!(registry.pending_count(), 0);
}

#[test]
fn other_errors_are_never_retried() {
    let mut registry = registry_with(
        RegistryConfig::default(),
        vec![notify_only(MatchProfile::Important)],
    );
    let mut rng = rng();
    let n = send(&mut registry, "hi").remove(0);
    let b = bounce(&n, ErrorType::Auth, DefinedCondition::NotAuthorized);
    assert_eq!(
        registry.handle_stanza(t0(), &mut rng, &b),
        Incoming::Handled
    );
    let d = drain(&mut registry);
    assert!(
        matches!(&d.events[0], Event::Discarded { reason: DiscardReason::Error(e), .. } if e.type_ == ErrorType::Auth)
    );
    assert_eq!(registry.poll_timeout(), None);
    registry.handle_timeout(t0().advance(Duration::from_secs(3600)));
    assert!(drain(&mut registry).notifications.is_empty());
    assert_eq!(registry.registration_count(), 1);
}

#[test]
fn a_bounce_from_elsewhere_or_for_an_unknown_id_is_not_ours() {
    let mut registry = registry_with(
        RegistryConfig::default(),
        vec![notify_only(MatchProfile::Important)],
    );
    let mut rng = rng();
    let n = send(&mut registry, "hi").remove(0);
    let mut b = bounce(&n, ErrorType::Cancel, DefinedCondition::ItemNotFound);
    b.set_attr(
        minidom::rxml::Namespace::NONE,
        minidom::rxml::xml_ncname!("from").to_owned(),
        "evil.example",
    );
    assert_eq!(
        registry.handle_stanza(t0(), &mut rng, &b),
        Incoming::NotOurs
    );
    let made_up = stanza(
        "<message xmlns='jabber:client' type='error' id='p2.000000000000.1.1' from='push.example'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
    );
    assert_eq!(
        registry.handle_stanza(t0(), &mut rng, &made_up),
        Incoming::NotOurs
    );
    assert_eq!(registry.pending_count(), 1);
}

#[test]
fn gone_disables_that_registration_only() {
    let mut registry = two_registrations(RegistryConfig::default());
    let mut rng = rng();
    let sent = send(&mut registry, "hi");
    assert_eq!(sent.len(), 2);
    let b = bounce(&sent[0], ErrorType::Cancel, DefinedCondition::ItemNotFound);
    assert_eq!(
        registry.handle_stanza(t0(), &mut rng, &b),
        Incoming::Handled
    );
    let d = drain(&mut registry);
    assert!(matches!(
        &d.events[0],
        Event::Discarded {
            reason: DiscardReason::Error(_),
            ..
        }
    ));
    assert!(
        matches!(&d.events[1], Event::Disabled { reason: DisableReason::Gone { .. }, key, .. } if *key == sent[0].key)
    );
    assert_eq!(registry.registration_count(), 1);
    assert_eq!(registry.registrations(&juliet())[0].key, sent[1].key);
    // The other notification is still pending and settles normally.
    registry.handle_timeout(t0().advance(Duration::from_secs(60)));
    assert!(
        matches!(&drain(&mut registry).events[..], [Event::Delivered { key, .. }] if *key == sent[1].key)
    );
}

#[test]
fn seventy_two_hours_of_failure_disable_and_a_success_resets() {
    let mut registry = registry_with(
        RegistryConfig::default(),
        vec![notify_only(MatchProfile::Important)],
    );
    let mut rng = rng();
    let fail = |registry: &mut Registry, at: xmpp_push2::Now, rng: &mut _| {
        let chat = message("hi");
        let account = juliet();
        let _ = registry.handle_routed(at, rng, &Routed::new(&account, &chat));
        let n = drain(registry).notifications.remove(0);
        let b = bounce(&n, ErrorType::Cancel, DefinedCondition::InternalServerError);
        let _ = registry.handle_stanza(at, rng, &b);
        drain(registry).events
    };
    let _ = fail(&mut registry, t0(), &mut rng);
    let since = registry.registrations(&juliet())[0].failing_since;
    assert_eq!(since, Some(t0().wall()));
    let _ = fail(
        &mut registry,
        t0().advance(Duration::from_secs(71 * 3600)),
        &mut rng,
    );
    assert_eq!(registry.registration_count(), 1);
    // A success resets the clock.
    let later = t0().advance(Duration::from_secs(72 * 3600));
    let chat = message("ok");
    let account = juliet();
    let _ = registry.handle_routed(later, &mut rng, &Routed::new(&account, &chat));
    let n = drain(&mut registry).notifications.remove(0);
    let _ = registry.handle_delivery(later, &mut rng, &n.id, Delivery::Delivered);
    let d = drain(&mut registry);
    assert!(matches!(
        &d.events[..],
        [Event::Delivered { .. }, Event::Changed { .. }]
    ));
    assert_eq!(registry.registrations(&juliet())[0].failing_since, None);
    // Failing again from here: disabled only after another 72 hours.
    let start = later.advance(Duration::from_secs(1));
    let _ = fail(&mut registry, start, &mut rng);
    let events = fail(
        &mut registry,
        start.advance(Duration::from_secs(72 * 3600)),
        &mut rng,
    );
    assert!(events.iter().any(|e| matches!(e,
        Event::Disabled { reason: DisableReason::Failing { since, .. }, .. } if *since == start.wall())));
    assert_eq!(registry.registration_count(), 0);
}

#[test]
fn disabling_discards_what_waits_for_a_retry() {
    let mut registry = registry_with(
        RegistryConfig::default(),
        vec![notify_only(MatchProfile::Important)],
    );
    let mut rng = rng();
    let n = send(&mut registry, "hi").remove(0);
    let _ = registry.handle_stanza(
        t0(),
        &mut rng,
        &bounce(&n, ErrorType::Wait, DefinedCondition::ServiceUnavailable),
    );
    let _ = drain(&mut registry);
    assert!(registry.disable(t0(), &device("r0")));
    let d = drain(&mut registry);
    assert!(matches!(
        &d.events[0],
        Event::Discarded {
            reason: DiscardReason::Disabled,
            ..
        }
    ));
    assert!(matches!(&d.events[1], Event::Disabled { .. }));
    assert_eq!(registry.poll_timeout(), None);
}

#[test]
fn the_pending_bound_discards_the_oldest() {
    let config = {
        let mut c = RegistryConfig::default();
        c.max_pending_per_account = 2;
        c
    };
    let mut registry = registry_with(config, vec![notify_only(MatchProfile::Important)]);
    let first = send(&mut registry, "1").remove(0);
    let _ = send(&mut registry, "2");
    let mut rng = rng();
    let account = juliet();
    let chat = message("3");
    let _ = registry.handle_routed(t0(), &mut rng, &Routed::new(&account, &chat));
    let d = drain(&mut registry);
    assert!(matches!(&d.events[0],
        Event::Discarded { reason: DiscardReason::Evicted(Bound::Account), id, .. } if *id == first.id));
    assert_eq!(registry.pending_count(), 2);
}
