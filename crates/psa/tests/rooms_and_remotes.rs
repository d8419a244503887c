//! XEP-0310 §4.3 (a room of ours annotating its occupants), remote watchers under each
//! policy, and the limits.

mod common;

use std::time::Duration;

use common::{available, config, domain, drain, example, full, jid, t0, unavailable};
use xmpp_psa::{
    Condition, Event, LinkLoss, Relay, RemoteWatchers, StreamId, Tracker, TransmitKind, Untracked,
};

const ROOM_JULIET: &str = "orchard@chats.shakespeare.lit/Juliet";
const JULIET_REAL: &str = "juliet@capulet.lit/balcony";
const ROMEO: &str = "romeo@montague.lit/lane";

fn link_down(tracker: &mut Tracker, remote: &str) {
    tracker
        .handle_link_failed(t0(), &domain(remote), LinkLoss::ConnectFailed)
        .expect("remote");
    tracker.handle_timeout(t0().advance(Duration::from_secs(30)));
}

fn link_up(tracker: &mut Tracker, remote: &str, stream: u64) {
    tracker
        .handle_link_established(
            t0().advance(Duration::from_secs(60)),
            &domain(remote),
            StreamId(stream),
        )
        .expect("remote");
}

/// Romeo and Juliet are in orchard@chats.shakespeare.lit; Romeo received Juliet's occupant
/// presence (Example 8).
fn in_the_orchard() -> Tracker {
    let mut tracker = Tracker::new(config());
    tracker.handle_interest(t0(), &jid(ROMEO), true);
    tracker
        .handle_occupant_joined(t0(), &full(ROOM_JULIET), &jid(JULIET_REAL))
        .expect("a room of ours");
    let mut presence = available(ROOM_JULIET, ROMEO, "Ay me!");
    assert_eq!(tracker.handle_presence(t0(), &mut presence), Relay::Tracked);
    assert!(drain(&mut tracker).transmits.is_empty());
    tracker
}

#[test]
fn room_annotates_an_unreachable_occupant_examples_9_and_10() {
    let mut tracker = in_the_orchard();
    link_down(&mut tracker, "capulet.lit");
    let out = drain(&mut tracker);
    assert_eq!(out.transmits.len(), 1);
    assert_eq!(out.transmits[0].presence(), &example(EXAMPLE_9));
    link_up(&mut tracker, "capulet.lit", 1);
    let out = drain(&mut tracker);
    assert_eq!(out.transmits.len(), 2);
    assert_eq!(out.transmits[0].presence(), &example(EXAMPLE_10));
    // XEP-0310 §5: "may send a probe to see if remote client is still online".
    assert_eq!(out.transmits[1].kind(), &TransmitKind::Probe);
    assert_eq!(
        out.transmits[1].presence().from,
        Some(jid("orchard@chats.shakespeare.lit"))
    );
    assert_eq!(out.transmits[1].to(), &jid(JULIET_REAL));
}

#[test]
fn an_ejected_occupant_gets_no_empty_annotation() {
    let mut tracker = in_the_orchard();
    link_down(&mut tracker, "capulet.lit");
    assert_eq!(drain(&mut tracker).transmits.len(), 1);
    tracker
        .handle_occupant_left(t0(), &full(ROOM_JULIET))
        .expect("a room of ours");
    assert!(matches!(
        &drain(&mut tracker).events[..],
        [Event::Forgotten { presences: 1, .. }]
    ));
    // The room's own unavailable for the ejection goes to Romeo as usual.
    let mut ejected = unavailable(ROOM_JULIET, ROMEO);
    assert_eq!(tracker.handle_presence(t0(), &mut ejected), Relay::Cleared);
    link_up(&mut tracker, "capulet.lit", 1);
    let out = drain(&mut tracker);
    assert!(out.transmits.is_empty(), "{:?}", out.transmits);
}

#[test]
fn a_paused_local_occupant_is_annotated_by_the_room() {
    let mut tracker = Tracker::new(config());
    tracker.handle_interest(t0(), &jid(ROMEO), true);
    let benvolio = "benvolio@montague.lit/lane";
    let room_benvolio = "orchard@chats.shakespeare.lit/Benvolio";
    tracker
        .handle_occupant_joined(t0(), &full(room_benvolio), &jid(benvolio))
        .expect("a room of ours");
    let mut presence = available(room_benvolio, ROMEO, "here");
    let _ = tracker.handle_presence(t0(), &mut presence);
    tracker
        .handle_session_paused(t0(), &full(benvolio))
        .expect("local");
    let out = drain(&mut tracker);
    assert_eq!(out.transmits.len(), 1);
    let annotation = xmpp_psa::StateAnnotation::of(out.transmits[0].presence())
        .expect("annotated")
        .expect("valid");
    assert_eq!(annotation.from, Some(jid("chats.shakespeare.lit")));
    assert_eq!(annotation.condition, Some(Condition::ConnectionPaused));
}

/// Benvolio's presence went to a remote contact's bare JID.
fn benvolio_broadcast(policy: RemoteWatchers, advertise: bool) -> Tracker {
    let mut config = config();
    config.remote_watchers = policy;
    let mut tracker = Tracker::new(config);
    if advertise {
        tracker.handle_interest(t0(), &jid("tybalt@capulet.lit"), true);
    }
    let mut presence = available("benvolio@montague.lit/lane", "tybalt@capulet.lit", "hi");
    let _ = tracker.handle_presence(t0(), &mut presence);
    tracker
        .handle_session_paused(t0(), &full("benvolio@montague.lit/lane"))
        .expect("local");
    tracker
}

#[test]
fn remote_watchers_follow_the_policy() {
    let mut all = benvolio_broadcast(RemoteWatchers::All, false);
    let out = drain(&mut all);
    assert_eq!(out.transmits.len(), 1);
    assert_eq!(out.transmits[0].to(), &jid("tybalt@capulet.lit"));
    assert_eq!(
        out.transmits[0].kind(),
        &TransmitKind::Annotated(Condition::ConnectionPaused)
    );

    let mut advertised = benvolio_broadcast(RemoteWatchers::Advertised, false);
    assert!(drain(&mut advertised).transmits.is_empty());
    let mut advertised = benvolio_broadcast(RemoteWatchers::Advertised, true);
    assert_eq!(drain(&mut advertised).transmits.len(), 1);

    let mut never = benvolio_broadcast(RemoteWatchers::Never, true);
    assert!(drain(&mut never).transmits.is_empty());
}

#[test]
fn a_remote_watcher_behind_a_down_link_is_caught_up_when_it_returns() {
    let mut config = config();
    config.remote_watchers = RemoteWatchers::All;
    let mut tracker = Tracker::new(config);
    let mut presence = available("benvolio@montague.lit/lane", "tybalt@capulet.lit", "hi");
    let _ = tracker.handle_presence(t0(), &mut presence);
    link_down(&mut tracker, "capulet.lit");
    tracker
        .handle_session_paused(t0(), &full("benvolio@montague.lit/lane"))
        .expect("local");
    assert!(drain(&mut tracker).transmits.is_empty());
    link_up(&mut tracker, "capulet.lit", 1);
    let out = drain(&mut tracker);
    assert_eq!(out.transmits.len(), 1);
    assert_eq!(
        out.transmits[0].kind(),
        &TransmitKind::Annotated(Condition::ConnectionPaused)
    );
    assert!(matches!(
        out.events.last(),
        Some(Event::LinkRestored {
            restored: 1,
            probes: 0,
            ..
        })
    ));
}

#[test]
fn a_remote_sender_to_a_remote_watcher_is_not_ours() {
    let mut config = config();
    config.remote_watchers = RemoteWatchers::All;
    let mut tracker = Tracker::new(config);
    let mut presence = available("juliet@capulet.lit/orchard", "tybalt@capulet.lit", "x");
    assert_eq!(
        tracker.handle_presence(t0(), &mut presence),
        Relay::Untracked(Untracked::NeverStale)
    );
}

#[test]
fn the_per_account_limit_evicts_that_accounts_oldest() {
    let mut config = config();
    config.max_presences_per_account = 2;
    let mut tracker = Tracker::new(config);
    for n in 0..3 {
        let mut p = available(&format!("c{n}@capulet.lit/r"), ROMEO, "x");
        assert_eq!(tracker.handle_presence(t0(), &mut p), Relay::Tracked);
    }
    assert_eq!(tracker.presences(), 2);
    assert_eq!(
        drain(&mut tracker).events,
        vec![Event::Evicted {
            watcher: jid(ROMEO),
            source: jid("c0@capulet.lit/r")
        }]
    );
    // Updating one makes it the most recent: the next eviction takes the other.
    let mut p = available("c1@capulet.lit/r", ROMEO, "again");
    let _ = tracker.handle_presence(t0(), &mut p);
    let mut p = available("c3@capulet.lit/r", ROMEO, "x");
    let _ = tracker.handle_presence(t0(), &mut p);
    assert_eq!(
        drain(&mut tracker).events,
        vec![Event::Evicted {
            watcher: jid(ROMEO),
            source: jid("c2@capulet.lit/r")
        }]
    );
    assert!(tracker.holds(&jid(ROMEO), &jid("c1@capulet.lit/r")));
}

#[test]
fn the_global_limit_evicts_from_the_account_holding_the_most() {
    let mut config = config();
    config.max_presences = 4;
    let mut tracker = Tracker::new(config);
    // Romeo holds three (over two resources), Mercutio one.
    for (from, to) in [
        ("c0@capulet.lit/r", ROMEO),
        ("c1@capulet.lit/r", "romeo@montague.lit/home"),
        ("c2@capulet.lit/r", ROMEO),
        ("c0@capulet.lit/r", "mercutio@montague.lit/square"),
    ] {
        let mut p = available(from, to, "x");
        let _ = tracker.handle_presence(t0(), &mut p);
    }
    let mut p = available("c9@capulet.lit/r", "mercutio@montague.lit/square", "x");
    let _ = tracker.handle_presence(t0(), &mut p);
    assert_eq!(tracker.presences(), 4);
    assert_eq!(
        drain(&mut tracker).events,
        vec![Event::Evicted {
            watcher: jid(ROMEO),
            source: jid("c0@capulet.lit/r")
        }]
    );
    assert!(tracker.holds(
        &jid("mercutio@montague.lit/square"),
        &jid("c0@capulet.lit/r")
    ));
}

#[test]
fn full_tables_refuse_and_report() {
    let mut config = config();
    config.max_parties = 2;
    config.max_domains = 1;
    let mut tracker = Tracker::new(config);
    let mut p = available("c0@capulet.lit/r", ROMEO, "x");
    assert_eq!(tracker.handle_presence(t0(), &mut p), Relay::Tracked);
    let mut p = available("c1@capulet.lit/r", ROMEO, "x");
    assert_eq!(
        tracker.handle_presence(t0(), &mut p),
        Relay::Untracked(Untracked::Limit)
    );
    tracker
        .handle_link_failed(t0(), &domain("verona.lit"), LinkLoss::ConnectFailed)
        .expect("remote");
    assert!(matches!(
        &drain(&mut tracker).events[..],
        [Event::Refused {
            table: xmpp_psa::Table::Domains,
            ..
        }]
    ));
    tracker
        .handle_session_paused(t0(), &full("benvolio@montague.lit/lane"))
        .expect("local");
    assert!(matches!(
        &drain(&mut tracker).events[..],
        [Event::Refused {
            table: xmpp_psa::Table::Parties,
            ..
        }]
    ));
}

#[test]
fn an_unavailable_sender_stops_being_a_watcher() {
    let mut tracker = Tracker::new(config());
    tracker.handle_interest(t0(), &jid(ROMEO), true);
    let mut p = available("juliet@capulet.lit/orchard", ROMEO, "x");
    let _ = tracker.handle_presence(t0(), &mut p);
    // Romeo goes unavailable; his unavailable reaches Benvolio.
    let mut gone = unavailable(ROMEO, "benvolio@montague.lit/lane");
    assert_eq!(tracker.handle_presence(t0(), &mut gone), Relay::Cleared);
    assert!(!tracker.holds(&jid(ROMEO), &jid("juliet@capulet.lit/orchard")));
    link_down(&mut tracker, "capulet.lit");
    assert!(drain(&mut tracker).transmits.is_empty());
}

#[test]
fn a_bare_unavailable_clears_every_resource() {
    let mut tracker = Tracker::new(config());
    for resource in ["a", "b"] {
        let mut p = available(&format!("juliet@capulet.lit/{resource}"), ROMEO, "x");
        let _ = tracker.handle_presence(t0(), &mut p);
    }
    assert_eq!(tracker.presences(), 2);
    let mut gone = unavailable("juliet@capulet.lit", ROMEO);
    assert_eq!(tracker.handle_presence(t0(), &mut gone), Relay::Cleared);
    assert_eq!(tracker.presences(), 0);
}

const EXAMPLE_9: &str = r#"<presence
from='orchard@chats.shakespeare.lit/Juliet'
to='romeo@montague.lit/lane'>
<state-annotation xmlns="urn:xmpp:psa" from="chats.shakespeare.lit">
<server-unavailable/>
<description>The user's server is no longer reachable</description>
</state-annotation>
<status>Ay me!</status>
</presence>"#;

const EXAMPLE_10: &str = r#"<presence
from='orchard@chats.shakespeare.lit/Juliet'
to='romeo@montague.lit/lane'>
<state-annotation xmlns="urn:xmpp:psa" from="chats.shakespeare.lit"/>
<status>Ay me!</status>
</presence>"#;

#[test]
fn under_all_a_remote_watcher_can_still_say_no() {
    let mut config = config();
    config.remote_watchers = RemoteWatchers::All;
    let mut tracker = Tracker::new(config);
    tracker.handle_interest(t0(), &jid("tybalt@capulet.lit"), false);
    let mut presence = available("benvolio@montague.lit/lane", "tybalt@capulet.lit", "hi");
    assert_eq!(
        tracker.handle_presence(t0(), &mut presence),
        Relay::Untracked(Untracked::NotInterested)
    );
    tracker
        .handle_session_paused(t0(), &full("benvolio@montague.lit/lane"))
        .expect("local");
    assert!(drain(&mut tracker).transmits.is_empty());
}
