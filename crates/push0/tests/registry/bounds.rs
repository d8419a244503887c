//! Every table is bounded per account and in total; at a bound the least recently used entry
//! of the account holding the most goes, reported.

use std::time::Duration;

use xmpp_push0::{AbandonReason, Bound, DisableReason, Event, PushNode, Target, Trigger};

use crate::common::*;

#[test]
fn the_least_recently_enabled_registration_of_the_account_is_evicted() {
    let mut r = registry(config!(max_per_account: 3));
    for n in ["a", "b", "c"] {
        let _ = enable(&mut r, t0(), PHONE, SERVICE, n);
    }
    // Re-enabling "a" makes it the most recent: "b" goes next.
    let _ = enable(&mut r, t0(), PHONE, SERVICE, "a");
    let d = enable(&mut r, t0(), PHONE, SERVICE, "d");
    assert_eq!(
        d.events()[0],
        &Event::Disabled {
            account: bare(JULIET),
            node: PushNode::new(jid(SERVICE), Some("b".into())),
            reason: DisableReason::Evicted {
                bound: Bound::Account
            },
        }
    );
    let nodes: Vec<_> = r
        .nodes(&bare(JULIET))
        .into_iter()
        .map(|(n, _)| n.node.expect("node"))
        .collect();
    assert_eq!(nodes, ["c", "a", "d"]);
}

#[test]
fn at_the_global_bound_the_account_holding_the_most_gives_one_up() {
    let mut r = registry(config!(max_registrations: 3));
    let _ = enable(&mut r, t0(), PHONE, SERVICE, "j1");
    let _ = enable(&mut r, t0(), PHONE, SERVICE, "j2");
    let _ = enable(&mut r, t0(), "romeo@montague.example/phone", SERVICE, "r1");
    let d = enable(&mut r, t0(), "nurse@capulet.example/phone", SERVICE, "n1");
    assert!(matches!(
        d.events()[0],
        Event::Disabled { account, node, reason: DisableReason::Evicted { bound: Bound::Global } }
            if *account == bare(JULIET) && node.node.as_deref() == Some("j1")
    ));
    assert_eq!(r.registration_count(), 3);
}

#[test]
fn pending_publishes_are_bounded_per_account_and_in_total() {
    let mut r = registry(config!(max_pending_per_account: 2,
        max_pending: 3));
    let _ = enable(&mut r, t0(), PHONE, SERVICE, "j");
    let _ = enable(&mut r, t0(), "romeo@montague.example/phone", SERVICE, "r");
    let juliet = Target::Account(bare(JULIET));
    let romeo = Target::Account(bare("romeo@montague.example"));
    for _ in 0..3 {
        r.notify(t0(), &juliet, &Trigger::other());
    }
    let d = drain(&mut r);
    assert_eq!(d.publishes.len(), 3);
    assert!(matches!(
        d.events()[..],
        [Event::Abandoned {
            reason: AbandonReason::Evicted(Bound::Account),
            ..
        }]
    ));
    assert_eq!(r.pending_count(), 2);
    r.notify(t0(), &romeo, &Trigger::other());
    r.notify(t0(), &romeo, &Trigger::other());
    let d = drain(&mut r);
    assert!(matches!(
        d.events()[..],
        [Event::Abandoned { account, reason: AbandonReason::Evicted(Bound::Global), .. }]
            if *account == bare(JULIET)
    ));
    assert_eq!(r.pending_count(), 3);
}

#[test]
fn extended_hibernations_are_bounded() {
    let mut r = registry(config!(max_hibernating_per_account: 1));
    let _ = enable(&mut r, t0(), PHONE, SERVICE, "p");
    let _ = enable(&mut r, t0(), TABLET, SERVICE, "t");
    let timeout = Duration::from_secs(300);
    assert!(matches!(
        r.handle_hibernated(t0(), &full(PHONE), timeout),
        xmpp_push0::Hibernation::Extended { .. }
    ));
    let later = t0().advance(Duration::from_secs(1));
    let _ = r.handle_hibernated(later, &full(TABLET), timeout);
    let d = drain(&mut r);
    assert_eq!(
        d.events(),
        [&Event::HibernationDeadline {
            session: full(PHONE),
            deadline: t0().wall() + timeout,
        }]
    );
    assert!(!r.is_extended(&full(PHONE)));
    assert!(r.is_extended(&full(TABLET)));
}
