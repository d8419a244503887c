//! Snapshot and restore (`serde`): a round trip keeps behaviour, and a tampered snapshot is
//! refused with the exact error.

mod common;

use std::time::Duration;

use common::{available, config, domain, drain, full, jid, t0};
use xmpp_psa::{
    Condition, LinkLoss, LinkStatus, Misuse, RestoreError, Snapshot, StreamId, Tracker,
    TransmitKind,
};

/// Romeo (PSA) holds Juliet's and Benvolio's presence; Benvolio is paused; capulet.lit is
/// down, verona.lit suspected.
fn busy() -> Tracker {
    let mut tracker = Tracker::new(config());
    tracker.handle_interest(t0(), &jid("romeo@montague.lit/lane"), true);
    for from in [
        "juliet@capulet.lit/orchard",
        "benvolio@montague.lit/lane",
        "paris@verona.lit/x",
    ] {
        let mut p = available(from, "romeo@montague.lit/lane", "hi");
        let _ = tracker.handle_presence(t0(), &mut p);
    }
    tracker
        .handle_session_paused(t0(), &full("benvolio@montague.lit/lane"))
        .expect("local");
    tracker
        .handle_link_failed(t0(), &domain("capulet.lit"), LinkLoss::ConnectFailed)
        .expect("remote");
    tracker.handle_timeout(t0().advance(Duration::from_secs(30)));
    tracker
        .handle_link_failed(
            t0().advance(Duration::from_secs(30)),
            &domain("verona.lit"),
            LinkLoss::StreamError(xmpp_parsers::stream_error::DefinedCondition::HostGone),
        )
        .expect("remote");
    let _ = drain(&mut tracker);
    tracker
}

fn json(snapshot: &Snapshot) -> serde_json::Value {
    serde_json::to_value(snapshot).expect("serialises")
}

fn from_json(value: serde_json::Value) -> Snapshot {
    serde_json::from_value(value).expect("deserialises")
}

#[test]
fn a_round_trip_keeps_everything() {
    let tracker = busy();
    let now = t0().advance(Duration::from_secs(31));
    let snapshot = tracker.snapshot(now).expect("drained");
    let text = serde_json::to_string(&snapshot).expect("serialises");
    let mut restored =
        Tracker::restore(config(), serde_json::from_str(&text).expect("parses"), now)
            .expect("valid");
    assert_eq!(restored.snapshot(now).expect("drained"), snapshot);
    assert_eq!(restored.presences(), 3);
    assert!(restored.is_paused(&full("benvolio@montague.lit/lane")));
    assert_eq!(
        restored.annotated(
            &jid("romeo@montague.lit/lane"),
            &jid("juliet@capulet.lit/orchard")
        ),
        Some(Condition::ServerUnavailable)
    );
    assert!(matches!(
        restored.link(&domain("verona.lit")),
        LinkStatus::Suspect { .. }
    ));
    // The restored tracker behaves as the original: capulet.lit comes back, one restore and a
    // probe; Benvolio resumes, one restore; the verona.lit grace still ends on time.
    restored
        .handle_link_established(now, &domain("capulet.lit"), StreamId(1))
        .expect("remote");
    let kinds: Vec<_> = drain(&mut restored)
        .transmits
        .iter()
        .map(|t| t.kind().clone())
        .collect();
    assert_eq!(kinds, vec![TransmitKind::Restored, TransmitKind::Probe]);
    restored
        .handle_session_resumed(now, &full("benvolio@montague.lit/lane"))
        .expect("local");
    assert_eq!(drain(&mut restored).transmits.len(), 1);
    assert_eq!(
        restored.poll_timeout(),
        Some(t0().advance(Duration::from_secs(60)).monotonic())
    );
    restored.handle_timeout(t0().advance(Duration::from_secs(60)));
    assert_eq!(drain(&mut restored).transmits.len(), 1);
}

#[test]
fn a_grace_that_ended_while_away_ends_at_the_first_timeout() {
    let tracker = busy();
    let snapshot = tracker
        .snapshot(t0().advance(Duration::from_secs(31)))
        .expect("drained");
    let much_later = t0().advance(Duration::from_secs(3_600));
    let mut restored = Tracker::restore(config(), snapshot, much_later).expect("valid");
    assert_eq!(restored.poll_timeout(), Some(much_later.monotonic()));
    restored.handle_timeout(much_later);
    assert!(matches!(
        restored.link(&domain("verona.lit")),
        LinkStatus::Down { .. }
    ));
}

#[test]
fn undrained_outputs_refuse_a_snapshot() {
    let mut tracker = busy();
    tracker
        .handle_link_established(t0(), &domain("capulet.lit"), StreamId(1))
        .expect("remote");
    assert_eq!(
        tracker.snapshot(t0()),
        Err(Misuse::Undrained {
            transmits: 2,
            events: 1
        })
    );
}

type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;

fn tampered(edit: impl FnOnce(&mut serde_json::Value)) -> Result<Tracker, RestoreError> {
    let mut value = json(&busy().snapshot(t0()).expect("drained"));
    edit(&mut value);
    Tracker::restore(config(), from_json(value), t0())
}

#[test]
fn tampered_snapshots_are_refused() {
    let cases: Vec<(Edit, RestoreError)> = vec![
        (
            Box::new(|v| v["entries"][0]["presence"] = 9.into()),
            RestoreError::DanglingPresence {
                index: 0,
                presence: 9,
            },
        ),
        (
            Box::new(|v| v["entries"][0]["source"] = "tybalt@capulet.lit/x".into()),
            RestoreError::Presence {
                index: 0,
                why: "not from the source it is filed under",
            },
        ),
        (
            Box::new(|v| {
                let first = v["entries"][0].clone();
                v["entries"].as_array_mut().expect("a list").push(first);
            }),
            RestoreError::DuplicateEntry { index: 3 },
        ),
        (
            Box::new(|v| v["presences"][0] = "<message xmlns='jabber:client'/>".into()),
            RestoreError::Presence {
                index: 0,
                why: "not a presence",
            },
        ),
        (
            Box::new(|v| v["presences"][0] = "<presence".into()),
            RestoreError::Presence {
                index: 0,
                why: "not XML",
            },
        ),
        (
            Box::new(|v| {
                v["presences"][0] = format!(
                    "<presence xmlns='jabber:client' from='juliet@capulet.lit/orchard'>{}{}</presence>",
                    "<x xmlns='urn:example'>".repeat(20),
                    "</x>".repeat(20)
                )
                .into();
            }),
            RestoreError::Presence {
                index: 0,
                why: "nested too deep",
            },
        ),
        (
            Box::new(|v| v["presences"][0] = "x".repeat(70_000).into()),
            RestoreError::Presence {
                index: 0,
                why: "too large",
            },
        ),
        (
            Box::new(|v| v["domains"][0]["domain"] = "montague.lit".into()),
            RestoreError::Inconsistent {
                index: 0,
                why: "a local domain as a link",
            },
        ),
        (
            Box::new(|v| v["domains"][0]["reason"] = serde_json::json!({"StreamError": "nope"})),
            RestoreError::Inconsistent {
                index: 0,
                why: "not a stream error condition",
            },
        ),
        (
            Box::new(|v| {
                v["parties"]
                    .as_array_mut()
                    .expect("a list")
                    .push(serde_json::json!({
                        "jid": "juliet@capulet.lit/orchard", "interest": "Unknown",
                        "paused": true, "real": null
                    }));
            }),
            RestoreError::Inconsistent {
                index: 2,
                why: "a paused session that is not a local full JID",
            },
        ),
        (
            Box::new(|v| {
                v["entries"][0]["watcher"] = "tybalt@capulet.lit/x".into();
            }),
            RestoreError::Inconsistent {
                index: 0,
                why: "a pair the tracker does not track",
            },
        ),
    ];
    for (edit, expected) in cases {
        assert_eq!(tampered(edit).err(), Some(expected));
    }
    // A domain name that is not one is caught by the format's own validation.
    let mut value = json(&busy().snapshot(t0()).expect("drained"));
    value["domains"][0]["domain"] = "not a domain@".into();
    assert!(serde_json::from_value::<Snapshot>(value).is_err());
}

#[test]
fn a_snapshot_over_the_limits_is_refused() {
    let snapshot = busy().snapshot(t0()).expect("drained");
    let mut small = config();
    small.max_presences = 2;
    assert_eq!(
        Tracker::restore(small, snapshot.clone(), t0()).err(),
        Some(RestoreError::OverLimit {
            what: "presences",
            limit: 2
        })
    );
    let mut small = config();
    small.max_presences_per_account = 2;
    assert_eq!(
        Tracker::restore(small, snapshot.clone(), t0()).err(),
        Some(RestoreError::OverLimit {
            what: "presences per account",
            limit: 2
        })
    );
    let mut small = config();
    small.max_domains = 1;
    assert_eq!(
        Tracker::restore(small, snapshot, t0()).err(),
        Some(RestoreError::OverLimit {
            what: "domains",
            limit: 1
        })
    );
}
