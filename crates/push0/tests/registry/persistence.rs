//! What a server persists, and that what comes back is checked like peer data.

use std::time::Duration;

use serde_json::{Value, json};
use xmpp_push0::{
    AccountRecord, ErrorPolicy, Event, ParseError, Registry, RegistryConfig, RestoreError,
    Snapshot, Target, Trigger,
};

use crate::common::*;

fn populated() -> Registry {
    let mut r = registry(persisted_config());
    let _ = enable(&mut r, t0(), PHONE, SERVICE, "n1");
    let _ = enable(&mut r, t0(), TABLET, "other.example", "n2");
    let _ = enable(&mut r, t0(), "romeo@montague.example/phone", SERVICE, "r1");
    // Suspend one registration.
    r.notify(t0(), &Target::Session(full(TABLET)), &Trigger::other());
    let p = drain(&mut r).publishes.remove(0);
    let _ = r
        .handle_stanza(t0(), &answer(&p, Some(("cancel", "gone"))))
        .expect("answer");
    let _ = r.handle_hibernated(t0(), &full(PHONE), Duration::from_secs(300));
    let _ = drain(&mut r);
    r
}

fn persisted_config() -> RegistryConfig {
    config!(
        errors: ErrorPolicy::DisableAtFirst,
        retry_disabled_after: Some(Duration::from_secs(3600)),
    )
}

#[test]
fn snapshots_round_trip_through_json_and_keep_their_timers() {
    let r = populated();
    let snapshot = r.snapshot();
    assert_eq!(snapshot.accounts.len(), 2);
    assert_eq!(snapshot.hibernating.len(), 1);
    let text = serde_json::to_string(&snapshot).expect("serialise");
    let back: Snapshot = serde_json::from_str(&text).expect("deserialise");
    assert_eq!(back, snapshot);
    // Restored on another node, half an hour later on a fresh monotonic clock.
    let later = xmpp_push0::Now::new(
        xmpp_push0::Monotonic::ZERO,
        t0().wall() + Duration::from_secs(1800),
    );
    let mut restored =
        Registry::restore(persisted_config(), &mut rng(9), back, later).expect("restore");
    assert_eq!(restored.snapshot(), snapshot);
    assert!(restored.is_extended(&full(PHONE)));
    // The suspension ends when it would have: an hour after it began.
    assert_eq!(
        restored.poll_timeout(),
        Some(xmpp_push0::Monotonic::ZERO + Duration::from_secs(1800))
    );
    restored.handle_timeout(later.advance(Duration::from_secs(1800)));
    assert!(matches!(
        drain(&mut restored).events()[..],
        [Event::Reenabled { .. }]
    ));
    // Records agree with the snapshot and go through JSON too.
    let record = restored.record(&bare(JULIET)).expect("juliet's record");
    let back: AccountRecord =
        serde_json::from_str(&serde_json::to_string(&record).expect("ser")).expect("de");
    assert_eq!(back, record);
    assert_eq!(restored.record(&bare("nobody@capulet.example")), None);
}

fn juliet_record(r: &Registry) -> Value {
    serde_json::to_value(r.record(&bare(JULIET)).expect("record")).expect("json")
}

fn restore_one(record: Value) -> Result<(), RestoreError> {
    let mut r = registry(config!(max_per_account: 2));
    let record: AccountRecord = serde_json::from_value(record).expect("well-typed record");
    r.restore_account(t0(), record)
}

#[test]
fn restored_records_are_checked_like_peer_data() {
    let r = populated();
    let good = juliet_record(&r);
    assert_eq!(restore_one(good.clone()), Ok(()));

    let mut too_many = good.clone();
    let regs = too_many["registrations"].as_array_mut().expect("array");
    let mut third = regs[0].clone();
    third["node"]["node"] = json!("n3");
    regs.push(third);
    assert!(matches!(
        restore_one(too_many),
        Err(RestoreError::TooManyForAccount {
            count: 3,
            limit: 2,
            ..
        })
    ));

    let mut duplicate = good.clone();
    let first = duplicate["registrations"][0].clone();
    duplicate["registrations"][1] = first;
    assert!(matches!(
        restore_one(duplicate),
        Err(RestoreError::DuplicateRegistration { .. })
    ));

    let mut own = good.clone();
    own["registrations"][0]["node"]["service"] = json!(JULIET);
    assert!(matches!(restore_one(own), Err(RestoreError::OwnJid { .. })));

    let mut stranger = good.clone();
    stranger["registrations"][0]["enabled_by"] = json!("romeo@montague.example/phone");
    assert!(matches!(
        restore_one(stranger),
        Err(RestoreError::WrongOwner { .. })
    ));

    let mut broken = good.clone();
    broken["registrations"][0]["publish_options"] = json!("<x xmlns='jabber:x:data'");
    assert!(matches!(
        restore_one(broken),
        Err(RestoreError::InvalidOptions {
            error: ParseError::InvalidForm { .. },
            ..
        })
    ));

    let mut deep = good.clone();
    let nested = format!("{}{}", "<a xmlns='u'>".repeat(20), "</a>".repeat(20));
    deep["registrations"][0]["publish_options"] = json!(format!(
        "<x xmlns='jabber:x:data' type='submit'>{nested}</x>"
    ));
    assert!(matches!(
        restore_one(deep),
        Err(RestoreError::InvalidOptions {
            error: ParseError::InvalidForm { .. },
            ..
        })
    ));

    let mut huge = good;
    huge["registrations"][0]["publish_options"] = json!("x".repeat(5000));
    assert!(matches!(
        restore_one(huge),
        Err(RestoreError::InvalidOptions {
            error: ParseError::TooLarge { .. },
            ..
        })
    ));
}

#[test]
fn snapshots_are_checked_as_a_whole() {
    let snapshot = populated().snapshot();
    let mut twice = snapshot.clone();
    twice.accounts.push(twice.accounts[0].clone());
    assert!(matches!(
        Registry::restore(persisted_config(), &mut rng(2), twice, t0()),
        Err(RestoreError::DuplicateAccount { .. })
    ));
    let small = {
        let mut c = persisted_config();
        c.max_registrations = 2;
        c
    };
    assert!(matches!(
        Registry::restore(small, &mut rng(2), snapshot.clone(), t0()),
        Err(RestoreError::TooMany { count: 3, limit: 2 })
    ));
    let mut sessions = snapshot;
    sessions.hibernating.push(sessions.hibernating[0].clone());
    assert!(matches!(
        Registry::restore(persisted_config(), &mut rng(2), sessions, t0()),
        Err(RestoreError::DuplicateSession { .. })
    ));
}

#[test]
fn a_restored_hibernation_without_its_registration_ends_at_once() {
    let mut snapshot = populated().snapshot();
    snapshot.accounts.retain(|a| a.account != bare(JULIET));
    let mut r =
        Registry::restore(persisted_config(), &mut rng(3), snapshot, t0()).expect("restore");
    let d = drain(&mut r);
    assert!(matches!(
        d.events()[..],
        [Event::HibernationDeadline { .. }]
    ));
    assert!(!r.is_extended(&full(PHONE)));
}

#[test]
fn restoring_an_account_replaces_what_the_registry_held() {
    let source = populated();
    let record = source.record(&bare(JULIET)).expect("record");
    let mut r = registry(persisted_config());
    let _ = enable(&mut r, t0(), PHONE, "elsewhere.example", "x");
    r.restore_account(t0(), record.clone()).expect("restore");
    assert_eq!(r.record(&bare(JULIET)), Some(record));
    assert_eq!(r.registration_count(), 2);
}
