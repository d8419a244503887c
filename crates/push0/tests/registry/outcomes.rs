//! XEP-0357 §7.1 and §8: what answers, silence and notices do to registrations.

use std::time::Duration;

use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType};
use xmpp_push0::{
    AbandonReason, AffiliationChange, Backoff, DisableReason, ErrorPolicy, Event, Incoming,
    PushNode, Registry, RegistryConfig, Target, Trigger,
};

use crate::common::*;

fn node() -> PushNode {
    PushNode::new(jid(SERVICE), Some("n1".into()))
}

fn one_publish(r: &mut Registry, now: xmpp_push0::Now) -> xmpp_push0::PublishIq {
    assert_eq!(
        r.notify(now, &Target::Account(bare(JULIET)), &Trigger::other()),
        1
    );
    let mut d = drain(r);
    d.publishes.remove(0)
}

fn setup(config: RegistryConfig) -> Registry {
    let mut r = registry(config);
    let _ = enable(&mut r, t0(), PHONE, SERVICE, "n1");
    r
}

#[test]
fn a_result_is_a_delivery() {
    let mut r = setup(RegistryConfig::default());
    let p = one_publish(&mut r, t0());
    assert_eq!(
        r.poll_timeout(),
        Some(t0().monotonic() + Duration::from_secs(60))
    );
    assert_eq!(
        r.handle_stanza(t0(), &answer(&p, None)),
        Ok(Incoming::Handled)
    );
    let d = drain(&mut r);
    assert_eq!(
        d.events(),
        [&Event::Delivered {
            account: bare(JULIET),
            node: node(),
            attempts: 1,
            first_sent: t0().wall(),
        }]
    );
    assert_eq!(r.pending_count(), 0);
    assert_eq!(r.poll_timeout(), None);
    // A second answer to the same publish is not ours.
    assert_eq!(
        r.handle_stanza(t0(), &answer(&p, None)),
        Ok(Incoming::NotOurs)
    );
}

#[test]
fn prosody_counts_errors_in_a_row_and_a_success_resets_them() {
    let mut r = setup(config!(errors: ErrorPolicy::Count { limit: 3 }));
    for consecutive in 1..=2 {
        let p = one_publish(&mut r, t0());
        let _ = r
            .handle_stanza(t0(), &answer(&p, Some(("cancel", "item-not-found"))))
            .expect("answer");
        let d = drain(&mut r);
        assert!(matches!(
            d.events()[..],
            [Event::PublishFailed { consecutive: c, .. }] if *c == consecutive
        ));
    }
    let p = one_publish(&mut r, t0());
    let _ = r.handle_stanza(t0(), &answer(&p, None)).expect("answer");
    let _ = drain(&mut r);
    for consecutive in 1..=3 {
        let p = one_publish(&mut r, t0());
        let _ = r
            .handle_stanza(t0(), &answer(&p, Some(("auth", "forbidden"))))
            .expect("answer");
        let d = drain(&mut r);
        assert!(matches!(
            d.events()[0],
            Event::PublishFailed { consecutive: c, .. } if *c == consecutive
        ));
        if consecutive == 3 {
            let Event::Disabled {
                reason:
                    DisableReason::Errors {
                        error,
                        count: 3,
                        retry_at: None,
                    },
                ..
            } = d.events()[1]
            else {
                panic!("not disabled: {:?}", d.events);
            };
            assert_eq!(error.defined_condition, DefinedCondition::Forbidden);
        }
    }
    assert_eq!(r.registration_count(), 0);
}

#[test]
fn ejabberd_disables_at_the_first_error_that_is_not_wait() {
    let mut r = setup(config!(errors: ErrorPolicy::DisableAtFirst));
    let p = one_publish(&mut r, t0());
    let _ = r
        .handle_stanza(t0(), &answer(&p, Some(("modify", "bad-request"))))
        .expect("answer");
    let d = drain(&mut r);
    assert!(matches!(
        d.events()[1],
        Event::Disabled {
            reason: DisableReason::Errors { count: 1, .. },
            ..
        }
    ));
    assert_eq!(r.registration_count(), 0);
}

#[test]
fn wait_errors_are_retried_with_back_off_then_abandoned() {
    let mut r =
        setup(config!(retry: Backoff::new(Duration::from_secs(10), Duration::from_secs(15), 3)));
    let mut now = t0();
    let mut p = one_publish(&mut r, now);
    for (attempt, delay) in [(1, 10), (2, 15)] {
        let _ = r
            .handle_stanza(now, &answer(&p, Some(("wait", "resource-constraint"))))
            .expect("answer");
        assert!(
            drain(&mut r).events.is_empty(),
            "a wait error is not a failure"
        );
        assert_eq!(
            r.poll_timeout(),
            Some(now.monotonic() + Duration::from_secs(delay))
        );
        // Before the deadline nothing happens.
        r.handle_timeout(now.advance(Duration::from_secs(delay - 1)));
        assert!(drain(&mut r).publishes.is_empty());
        now = now.advance(Duration::from_secs(delay));
        r.handle_timeout(now);
        let mut d = drain(&mut r);
        assert_eq!(d.publishes.len(), 1, "attempt {}", attempt + 1);
        let again = d.publishes.remove(0);
        assert_ne!(again.id(), p.id(), "each attempt has its own id");
        // The old attempt's answer no longer matches.
        assert_eq!(
            r.handle_stanza(now, &answer(&p, None)),
            Ok(Incoming::NotOurs)
        );
        p = again;
    }
    let _ = r
        .handle_stanza(now, &answer(&p, Some(("wait", "resource-constraint"))))
        .expect("answer");
    let d = drain(&mut r);
    let [
        Event::Abandoned {
            reason: AbandonReason::Wait(e),
            attempts: 3,
            first_sent,
            ..
        },
    ] = &d.events()[..]
    else {
        panic!("not abandoned: {:?}", d.events);
    };
    assert_eq!(e.type_, ErrorType::Wait);
    assert_eq!(*first_sent, t0().wall());
    assert_eq!(r.registration_count(), 1, "wait errors never disable");
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn silence_times_out_and_is_retried_like_wait() {
    let mut r =
        setup(config!(retry: Backoff::new(Duration::from_secs(5), Duration::from_secs(5), 2)));
    let _ = one_publish(&mut r, t0());
    let now = t0().advance(Duration::from_secs(60));
    r.handle_timeout(now);
    assert!(drain(&mut r).publishes.is_empty());
    let now = now.advance(Duration::from_secs(5));
    r.handle_timeout(now);
    assert_eq!(drain(&mut r).publishes.len(), 1);
    let now = now.advance(Duration::from_secs(60));
    r.handle_timeout(now);
    let d = drain(&mut r);
    assert!(matches!(
        d.events()[..],
        [Event::Abandoned {
            reason: AbandonReason::TimedOut,
            attempts: 2,
            ..
        }]
    ));
}

#[test]
fn answers_from_someone_else_are_not_ours() {
    let mut r = setup(RegistryConfig::default());
    let p = one_publish(&mut r, t0());
    let forged = set(
        answer(&p, Some(("cancel", "item-not-found"))),
        minidom::rxml::xml_ncname!("from"),
        "mallory@evil.example",
    );
    assert_eq!(r.handle_stanza(t0(), &forged), Ok(Incoming::NotOurs));
    assert_eq!(r.pending_count(), 1);
    assert!(drain(&mut r).events.is_empty());
}

#[test]
fn a_disabled_pair_is_retried_after_the_period_on_probation() {
    let day = Duration::from_secs(86_400);
    let mut r = setup(config!(errors: ErrorPolicy::Count { limit: 2 },
        retry_disabled_after: Some(day)));
    for _ in 0..2 {
        let p = one_publish(&mut r, t0());
        let _ = r
            .handle_stanza(t0(), &answer(&p, Some(("cancel", "gone"))))
            .expect("answer");
    }
    let d = drain(&mut r);
    assert!(d.events().iter().any(|e| matches!(
        e,
        Event::Disabled { reason: DisableReason::Errors { retry_at: Some(at), .. }, .. }
            if *at == t0().wall() + day
    )));
    assert_eq!(r.nodes(&bare(JULIET)), [(node(), false)]);
    assert_eq!(
        r.notify(t0(), &Target::Account(bare(JULIET)), &Trigger::other()),
        0
    );
    assert_eq!(r.poll_timeout(), Some(t0().monotonic() + day));
    let later = t0().advance(day);
    r.handle_timeout(later);
    let d = drain(&mut r);
    assert_eq!(
        d.events(),
        [&Event::Reenabled {
            account: bare(JULIET),
            node: node()
        }]
    );
    // On probation: one error disables again.
    let p = one_publish(&mut r, later);
    let _ = r
        .handle_stanza(later, &answer(&p, Some(("cancel", "gone"))))
        .expect("answer");
    let d = drain(&mut r);
    assert!(matches!(d.events()[1], Event::Disabled { .. }));
}

#[test]
fn a_retry_for_a_pair_disabled_meanwhile_is_abandoned() {
    let mut r = setup(RegistryConfig::default());
    let p = one_publish(&mut r, t0());
    let _ = r
        .handle_stanza(t0(), &answer(&p, Some(("wait", "resource-constraint"))))
        .expect("answer");
    let disable = xmpp_push0::Disable::new(jid(SERVICE)).to_iq("d1");
    let _ = r
        .handle_stanza(t0(), &from(disable, PHONE))
        .expect("disable");
    let _ = drain(&mut r);
    r.handle_timeout(t0().advance(Duration::from_secs(10)));
    let d = drain(&mut r);
    assert!(d.publishes.is_empty());
    assert!(matches!(
        d.events()[..],
        [Event::Abandoned {
            reason: AbandonReason::Disabled,
            ..
        }]
    ));
}

#[test]
fn an_answer_after_the_pair_was_disabled_is_reported_uncounted() {
    let mut r = setup(RegistryConfig::default());
    let p = one_publish(&mut r, t0());
    let disable = xmpp_push0::Disable::new(jid(SERVICE)).to_iq("d1");
    let _ = r
        .handle_stanza(t0(), &from(disable, PHONE))
        .expect("disable");
    let _ = drain(&mut r);
    let _ = r
        .handle_stanza(t0(), &answer(&p, Some(("cancel", "item-not-found"))))
        .expect("answer");
    let d = drain(&mut r);
    assert!(matches!(
        d.events()[..],
        [Event::PublishFailed { consecutive: 0, .. }]
    ));
}

#[test]
fn the_affiliation_notice_disables_remotely() {
    let notice = |from: &str, about: &str, node: &str| {
        AffiliationChange::revoked(node, jid(about)).to_message(&jid(from), &bare(JULIET))
    };
    let mut r = setup(RegistryConfig::default());
    // From another service, for another node, or about someone else: not ours.
    for (f, a, n) in [
        ("other.example", JULIET, "n1"),
        (SERVICE, JULIET, "n2"),
        (SERVICE, "romeo@montague.example", "n1"),
    ] {
        assert_eq!(
            r.handle_stanza(t0(), &notice(f, a, n)),
            Ok(Incoming::NotOurs)
        );
    }
    let mut keep = AffiliationChange::revoked("n1", jid(JULIET));
    keep.affiliation = xmpp_parsers::pubsub::AffiliationAttribute::PublishOnly;
    let keep = keep.to_message(&jid(SERVICE), &bare(JULIET));
    assert_eq!(r.handle_stanza(t0(), &keep), Ok(Incoming::Handled));
    assert_eq!(r.registration_count(), 1);
    // About the server (publishes come from it since 0.3).
    assert_eq!(
        r.handle_stanza(t0(), &notice(SERVICE, "capulet.example", "n1")),
        Ok(Incoming::Handled)
    );
    let d = drain(&mut r);
    assert!(matches!(
        d.events()[..],
        [Event::Disabled {
            reason: DisableReason::Service,
            ..
        }]
    ));
}

#[test]
fn a_wall_clock_step_moves_no_live_timer_and_spurious_timeouts_do_nothing() {
    let mut r = setup(RegistryConfig::default());
    let _ = one_publish(&mut r, t0());
    let deadline = r.poll_timeout().expect("response timer");
    let stepped = t0().with_wall(t0().wall() + Duration::from_secs(86_400 * 365));
    r.handle_timeout(stepped);
    assert!(drain(&mut r).events.is_empty());
    assert_eq!(r.poll_timeout(), Some(deadline));
    r.handle_timeout(t0());
    assert_eq!(r.pending_count(), 1);
}

#[test]
fn answer_deadlines_follow_the_publishes_in_flight_exactly() {
    let mut r = registry(RegistryConfig::default());
    for i in 0..5 {
        let _ = enable(&mut r, t0(), PHONE, SERVICE, &format!("n{i}"));
    }
    let account = Target::Account(bare(JULIET));
    let minute = Duration::from_secs(60);
    assert_eq!(r.notify(t0(), &account, &Trigger::other()), 5);
    let first = drain(&mut r).publishes;
    let later = t0().advance(Duration::from_secs(10));
    assert_eq!(r.notify(later, &account, &Trigger::other()), 5);
    let second = drain(&mut r).publishes;
    assert_eq!(r.poll_timeout(), Some(t0().monotonic() + minute));
    // Answered out of order, all but the oldest: its deadline is still the next.
    for p in first[1..].iter().rev() {
        assert_eq!(
            r.handle_stanza(later, &answer(p, None)),
            Ok(Incoming::Handled)
        );
        r.assert_invariants();
        assert_eq!(r.poll_timeout(), Some(t0().monotonic() + minute));
    }
    // The oldest answered: the next deadline is the second notification's, no wake-up for
    // sends already answered.
    let _ = r.handle_stanza(later, &answer(&first[0], None));
    assert_eq!(r.poll_timeout(), Some(later.monotonic() + minute));
    for p in &second {
        let _ = r.handle_stanza(later, &answer(p, None));
        r.assert_invariants();
    }
    assert_eq!(r.poll_timeout(), None);
    assert_eq!(r.pending_count(), 0);
}

#[test]
fn one_unanswered_publish_among_many_answered_keeps_the_deadlines_bounded() {
    let mut r = registry(RegistryConfig::default());
    for i in 0..5 {
        let _ = enable(&mut r, t0(), PHONE, SERVICE, &format!("n{i}"));
    }
    let account = Target::Account(bare(JULIET));
    assert_eq!(r.notify(t0(), &account, &Trigger::other()), 5);
    let mut publishes = drain(&mut r).publishes;
    let stuck = publishes.remove(0);
    for round in 0..300 {
        for p in &publishes {
            let _ = r.handle_stanza(t0(), &answer(p, None));
        }
        // The invariants bound the deadlines to twice the pending publishes (and a little).
        r.assert_invariants();
        assert_eq!(r.pending_count(), 1, "round {round}");
        assert_eq!(
            r.poll_timeout(),
            Some(t0().monotonic() + Duration::from_secs(60))
        );
        assert_eq!(r.notify(t0(), &account, &Trigger::other()), 5);
        publishes = drain(&mut r).publishes;
    }
    for p in &publishes {
        let _ = r.handle_stanza(t0(), &answer(p, None));
    }
    // The stuck one times out and waits for its retry, which is then the only deadline.
    let timeout = t0().advance(Duration::from_secs(60));
    r.handle_timeout(timeout);
    r.assert_invariants();
    assert_eq!(
        r.poll_timeout(),
        Some(timeout.monotonic() + RegistryConfig::default().retry.delay(1))
    );
    let retry = t0().advance(Duration::from_secs(60) + RegistryConfig::default().retry.delay(1));
    r.handle_timeout(retry);
    let again = drain(&mut r).publishes;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].node(), stuck.node());
    assert_ne!(again[0].id(), stuck.id(), "a new attempt");
    // The first attempt's answer, late, is not ours; the second's is.
    assert_eq!(
        r.handle_stanza(retry, &answer(&stuck, None)),
        Ok(Incoming::NotOurs)
    );
    assert_eq!(
        r.handle_stanza(retry, &answer(&again[0], None)),
        Ok(Incoming::Handled)
    );
    r.assert_invariants();
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn deadlines_due_at_once_run_in_order_within_one_timeout_call() {
    let mut backoff = Backoff::default();
    backoff.first = Duration::ZERO;
    backoff.max = Duration::ZERO;
    backoff.attempts = 3;
    let mut r = setup(config!(response_timeout: Duration::ZERO, retry: backoff));
    let first = one_publish(&mut r, t0());
    assert_eq!(r.poll_timeout(), Some(t0().monotonic()));
    // Timeout, retry, timeout, retry, timeout: all due now, all in this one call.
    r.handle_timeout(t0());
    r.assert_invariants();
    let d = drain(&mut r);
    let ids: Vec<&str> = d.publishes.iter().map(|p| p.id()).collect();
    assert_eq!(ids.len(), 2, "the two retries");
    assert!(ids.iter().all(|id| *id != first.id()));
    assert_eq!(
        d.events(),
        [&Event::Abandoned {
            account: bare(JULIET),
            node: node(),
            reason: AbandonReason::TimedOut,
            attempts: 3,
            first_sent: t0().wall(),
        }]
    );
    assert_eq!(r.poll_timeout(), None);
}
