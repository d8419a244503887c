//! The XEP-0310 use cases played through the tracker, with the XEP's examples as the expected
//! output, and the ordering rules of the issue each in a test.

mod common;

use std::time::Duration;

use common::{available, config, domain, drain, example, full, jid, t0, unavailable};
use xmpp_parsers::stream_error::DefinedCondition;
use xmpp_psa::{
    Condition, Event, LinkLoss, LinkStatus, Relay, StreamId, Tracker, TransmitKind, Untracked,
};

const CAPULET: &str = "capulet.lit";
const JULIET: &str = "juliet@capulet.lit/orchard";
const ROMEO: &str = "romeo@montague.lit/lane";
const BENVOLIO: &str = "benvolio@montague.lit/lane";

fn capulet() -> jid::DomainPart {
    domain(CAPULET)
}

/// Romeo (who asked for annotations) holds Juliet's presence (XEP-0310 Example 1), and the
/// s2s stream that brought it is up.
fn romeo_holds_juliet() -> Tracker {
    let mut tracker = Tracker::new(config());
    tracker.handle_interest(t0(), &jid(ROMEO), true);
    tracker
        .handle_link_established(t0(), &capulet(), StreamId(1))
        .expect("a remote domain");
    let mut presence = available(JULIET, ROMEO, "Available");
    assert_eq!(tracker.handle_presence(t0(), &mut presence), Relay::Tracked);
    assert!(drain(&mut tracker).transmits.is_empty());
    tracker
}

#[test]
fn remote_server_unavailable_examples_2_and_3_then_a_probe() {
    let mut tracker = romeo_holds_juliet();
    let lost = t0();
    tracker
        .handle_link_closed(lost, &capulet(), StreamId(1), LinkLoss::Network)
        .expect("remote");
    let out = drain(&mut tracker);
    assert!(out.transmits.is_empty(), "the grace debounces");
    let deadline = lost.monotonic() + Duration::from_secs(30);
    assert_eq!(
        out.events,
        vec![Event::LinkLost {
            domain: capulet(),
            reason: LinkLoss::Network,
            deadline
        }]
    );
    assert_eq!(tracker.poll_timeout(), Some(deadline));

    // The grace runs out: Example 2, byte for byte.
    let later = lost.advance(Duration::from_secs(30));
    tracker.handle_timeout(later);
    let mut out = drain(&mut tracker);
    assert_eq!(out.transmits.len(), 1);
    let down = out.transmits.remove(0);
    assert_eq!(
        down.kind(),
        &TransmitKind::Annotated(Condition::ServerUnavailable)
    );
    assert_eq!(down.presence(), &example(EXAMPLE_2));
    assert_eq!(
        String::from(&down.into_element()),
        "<presence xmlns='jabber:client' from='juliet@capulet.lit/orchard' \
         to='romeo@montague.lit/lane'><status>Available</status><state-annotation \
         xmlns='urn:xmpp:psa' from='montague.lit'><server-unavailable/><description>The \
         capulet.lit server is no longer available</description></state-annotation></presence>"
    );
    assert!(matches!(
        &out.events[..],
        [Event::LinkDown { annotated: 1, .. }]
    ));
    assert!(matches!(tracker.link(&capulet()), LinkStatus::Down { .. }));
    assert_eq!(
        tracker.annotated(&jid(ROMEO), &jid(JULIET)),
        Some(Condition::ServerUnavailable)
    );

    // The link comes back: Example 3, then a probe from Romeo's account to Juliet's.
    tracker
        .handle_link_established(later, &capulet(), StreamId(2))
        .expect("remote");
    let out = drain(&mut tracker);
    assert_eq!(out.transmits.len(), 2);
    assert_eq!(out.transmits[0].kind(), &TransmitKind::Restored);
    assert_eq!(out.transmits[0].presence(), &example(EXAMPLE_3));
    assert_eq!(out.transmits[1].kind(), &TransmitKind::Probe);
    assert_eq!(
        String::from(&out.transmits[1].clone().into_element()),
        "<presence xmlns='jabber:client' from='romeo@montague.lit' to='juliet@capulet.lit' \
         type='probe'/>"
    );
    assert_eq!(
        out.events,
        vec![Event::LinkRestored {
            domain: capulet(),
            restored: 1,
            probes: 1
        }]
    );
    assert_eq!(tracker.annotated(&jid(ROMEO), &jid(JULIET)), None);
}

#[test]
fn idle_links_close_and_reconnects_within_the_grace_send_nothing() {
    let mut tracker = romeo_holds_juliet();
    for reason in [
        LinkLoss::Idle,
        LinkLoss::Closed,
        LinkLoss::StreamError(DefinedCondition::ConnectionTimeout),
    ] {
        tracker
            .handle_link_established(t0(), &capulet(), StreamId(1))
            .expect("remote");
        tracker
            .handle_link_closed(t0(), &capulet(), StreamId(1), reason)
            .expect("remote");
        let out = drain(&mut tracker);
        assert!(out.transmits.is_empty() && out.events.is_empty());
    }
    // An outage-class loss, then a reconnect within the grace.
    tracker
        .handle_link_failed(t0(), &capulet(), LinkLoss::ConnectFailed)
        .expect("remote");
    tracker
        .handle_link_established(
            t0().advance(Duration::from_secs(5)),
            &capulet(),
            StreamId(7),
        )
        .expect("remote");
    let out = drain(&mut tracker);
    assert!(out.transmits.is_empty());
    assert!(matches!(
        &out.events[..],
        [Event::LinkLost { .. }, Event::LinkRecovered { .. }]
    ));
    assert_eq!(tracker.poll_timeout(), None);
    tracker.handle_timeout(t0().advance(Duration::from_secs(60)));
    assert!(drain(&mut tracker).transmits.is_empty());
}

#[test]
fn another_open_stream_keeps_the_domain_up() {
    let mut tracker = romeo_holds_juliet();
    tracker
        .handle_link_established(t0(), &capulet(), StreamId(2))
        .expect("remote");
    tracker
        .handle_link_closed(t0(), &capulet(), StreamId(1), LinkLoss::Network)
        .expect("remote");
    let out = drain(&mut tracker);
    assert!(out.events.is_empty());
    assert_eq!(tracker.link(&capulet()), LinkStatus::Up { streams: 1 });
}

#[test]
fn a_wall_clock_step_fires_no_grace_and_spurious_timeouts_do_nothing() {
    let mut tracker = romeo_holds_juliet();
    tracker
        .handle_link_closed(t0(), &capulet(), StreamId(1), LinkLoss::Timeout)
        .expect("remote");
    let _ = drain(&mut tracker);
    let stepped = t0().with_wall(t0().wall() + Duration::from_secs(86_400));
    tracker.handle_timeout(stepped);
    tracker.handle_timeout(t0().advance(Duration::from_secs(29)));
    let out = drain(&mut tracker);
    assert!(out.transmits.is_empty() && out.events.is_empty());
    assert!(matches!(
        tracker.link(&capulet()),
        LinkStatus::Suspect { .. }
    ));
}

/// Romeo holds Benvolio's presence (Example 4); both are local.
fn romeo_holds_benvolio(describe: bool) -> Tracker {
    let mut config = config();
    config.describe = describe;
    let mut tracker = Tracker::new(config);
    tracker.handle_interest(t0(), &jid(ROMEO), true);
    let mut presence = available(
        BENVOLIO,
        ROMEO,
        "He ran this way, and leap'd this orchard wall",
    );
    assert_eq!(tracker.handle_presence(t0(), &mut presence), Relay::Tracked);
    tracker
}

#[test]
fn local_user_paused_examples_5_and_6() {
    let mut tracker = romeo_holds_benvolio(true);
    tracker
        .handle_session_paused(t0(), &full(BENVOLIO))
        .expect("local");
    let out = drain(&mut tracker);
    assert_eq!(out.transmits.len(), 1);
    // Example 5 but for the description: we do not know it is BOSH.
    let mut expected = example(EXAMPLE_5);
    expected.payloads = vec![common::element(
        "<state-annotation xmlns='urn:xmpp:psa' from='montague.lit'><connection-paused/>\
         <description>benvolio's session has been paused</description></state-annotation>",
    )];
    assert_eq!(out.transmits[0].presence(), &expected);
    assert_eq!(
        out.events,
        vec![Event::Paused {
            jid: full(BENVOLIO),
            annotated: 1
        }]
    );
    assert!(tracker.is_paused(&full(BENVOLIO)));

    tracker
        .handle_session_resumed(t0(), &full(BENVOLIO))
        .expect("local");
    let out = drain(&mut tracker);
    assert_eq!(out.transmits.len(), 1);
    assert_eq!(out.transmits[0].presence(), &example(EXAMPLE_6));
    assert!(matches!(
        &out.events[..],
        [Event::Resumed {
            restored: 1,
            caught_up: 0,
            ..
        }]
    ));
}

#[test]
fn a_paused_session_that_times_out_gets_a_plain_unavailable_only() {
    let mut tracker = romeo_holds_benvolio(false);
    tracker
        .handle_session_paused(t0(), &full(BENVOLIO))
        .expect("local");
    let _ = drain(&mut tracker);
    // The hibernation expires (xmpp-sm's expiry, Prosody's resource-unbind).
    tracker
        .handle_session_ended(t0(), &full(BENVOLIO))
        .expect("local");
    let out = drain(&mut tracker);
    assert!(
        out.transmits.is_empty(),
        "no empty annotation before the unavailable"
    );
    assert!(matches!(
        &out.events[..],
        [Event::Forgotten { presences: 1, .. }]
    ));
    // The server's own unavailable (Example 7) passes through untouched.
    let mut gone = example(EXAMPLE_7);
    let before = gone.clone();
    assert_eq!(tracker.handle_presence(t0(), &mut gone), Relay::Cleared);
    assert_eq!(gone, before);
    // A late resume of the ended session sends nothing either.
    tracker
        .handle_session_resumed(t0(), &full(BENVOLIO))
        .expect("local");
    assert!(drain(&mut tracker).transmits.is_empty());
    assert_eq!(tracker.presences(), 0);
}

#[test]
fn a_watcher_already_sent_unavailable_gets_nothing() {
    let mut tracker = romeo_holds_juliet();
    let mut gone = unavailable(JULIET, ROMEO);
    assert_eq!(tracker.handle_presence(t0(), &mut gone), Relay::Cleared);
    tracker
        .handle_link_failed(t0(), &capulet(), LinkLoss::ConnectFailed)
        .expect("remote");
    tracker
        .handle_link_closed(t0(), &capulet(), StreamId(1), LinkLoss::Network)
        .expect("remote");
    tracker.handle_timeout(t0().advance(Duration::from_secs(30)));
    tracker
        .handle_link_established(
            t0().advance(Duration::from_secs(40)),
            &capulet(),
            StreamId(3),
        )
        .expect("remote");
    let out = drain(&mut tracker);
    assert!(out.transmits.is_empty(), "{:?}", out.transmits);
}

#[test]
fn while_stale_a_relayed_presence_keeps_the_annotation() {
    let mut tracker = romeo_holds_benvolio(false);
    tracker
        .handle_session_paused(t0(), &full(BENVOLIO))
        .expect("local");
    let _ = drain(&mut tracker);
    // Mercutio asks for annotations and comes online; the server answers his probe with
    // Benvolio's last presence.
    let mercutio = "mercutio@montague.lit/square";
    tracker.handle_interest(t0(), &jid(mercutio), true);
    let mut relayed = available(BENVOLIO, mercutio, "He ran this way");
    assert_eq!(
        tracker.handle_presence(t0(), &mut relayed),
        Relay::Annotated(Condition::ConnectionPaused)
    );
    assert_eq!(
        xmpp_psa::StateAnnotation::of(&relayed),
        Some(Ok(xmpp_psa::StateAnnotation::connection_paused(jid(
            "montague.lit"
        ))))
    );
    // On resume Mercutio gets exactly one empty annotation, as Romeo does.
    tracker
        .handle_session_resumed(t0(), &full(BENVOLIO))
        .expect("local");
    let out = drain(&mut tracker);
    let mut to: Vec<String> = out.transmits.iter().map(|t| t.to().to_string()).collect();
    to.sort();
    assert_eq!(to, vec![mercutio.to_owned(), ROMEO.to_owned()]);
    assert!(
        out.transmits
            .iter()
            .all(|t| t.kind() == &TransmitKind::Restored)
    );
}

#[test]
fn foreign_annotations_are_stripped_unless_the_sender_domain_annotates() {
    let mut tracker = romeo_holds_juliet();
    let mut spoofed = available(JULIET, ROMEO, "Available");
    xmpp_psa::StateAnnotation::server_unavailable(jid("montague.lit")).attach(&mut spoofed);
    assert_eq!(tracker.handle_presence(t0(), &mut spoofed), Relay::Tracked);
    assert_eq!(xmpp_psa::StateAnnotation::of(&spoofed), None);
    assert!(matches!(
        &drain(&mut tracker).events[..],
        [Event::Stripped { count: 1, .. }]
    ));
    // capulet.lit may annotate its own user (its session paused).
    let mut own = available(JULIET, ROMEO, "Available");
    xmpp_psa::StateAnnotation::connection_paused(jid(CAPULET)).attach(&mut own);
    assert_eq!(tracker.handle_presence(t0(), &mut own), Relay::Tracked);
    assert!(xmpp_psa::StateAnnotation::of(&own).is_some());
    assert!(drain(&mut tracker).events.is_empty());
    // A local client may not annotate its own presence.
    let mut local = available(BENVOLIO, ROMEO, "x");
    xmpp_psa::StateAnnotation::connection_paused(jid("montague.lit")).attach(&mut local);
    let _ = tracker.handle_presence(t0(), &mut local);
    assert_eq!(xmpp_psa::StateAnnotation::of(&local), None);
}

#[test]
fn nothing_is_queued_for_a_hibernating_watcher_and_it_is_caught_up_on_resume() {
    let mut tracker = romeo_holds_juliet();
    tracker
        .handle_session_paused(t0(), &full(ROMEO))
        .expect("local");
    tracker
        .handle_link_closed(t0(), &capulet(), StreamId(1), LinkLoss::Network)
        .expect("remote");
    tracker.handle_timeout(t0().advance(Duration::from_secs(30)));
    let out = drain(&mut tracker);
    assert!(out.transmits.is_empty());
    assert!(matches!(
        out.events.last(),
        Some(Event::LinkDown { annotated: 0, .. })
    ));
    tracker
        .handle_session_resumed(t0(), &full(ROMEO))
        .expect("local");
    let out = drain(&mut tracker);
    assert_eq!(out.transmits.len(), 1);
    assert_eq!(
        out.transmits[0].kind(),
        &TransmitKind::Annotated(Condition::ServerUnavailable)
    );
    // Had the link come back while he slept, there would be nothing to catch up on.
    let mut tracker = romeo_holds_juliet();
    tracker
        .handle_session_paused(t0(), &full(ROMEO))
        .expect("local");
    tracker
        .handle_link_closed(t0(), &capulet(), StreamId(1), LinkLoss::Network)
        .expect("remote");
    tracker.handle_timeout(t0().advance(Duration::from_secs(30)));
    tracker
        .handle_link_established(
            t0().advance(Duration::from_secs(50)),
            &capulet(),
            StreamId(2),
        )
        .expect("remote");
    tracker
        .handle_session_resumed(t0(), &full(ROMEO))
        .expect("local");
    let out = drain(&mut tracker);
    assert!(
        out.transmits
            .iter()
            .all(|t| t.kind() == &TransmitKind::Probe)
    );
}

#[test]
fn caps_learned_late_catch_the_watcher_up_and_caps_without_psa_forget_it() {
    let mut tracker = Tracker::new(config());
    let mut presence = available(JULIET, ROMEO, "Available");
    assert_eq!(tracker.handle_presence(t0(), &mut presence), Relay::Tracked);
    tracker
        .handle_link_failed(t0(), &capulet(), LinkLoss::ConnectFailed)
        .expect("remote");
    tracker.handle_timeout(t0().advance(Duration::from_secs(30)));
    assert!(
        drain(&mut tracker).transmits.is_empty(),
        "interest still unknown"
    );
    tracker.handle_interest(t0(), &jid(ROMEO), true);
    assert_eq!(drain(&mut tracker).transmits.len(), 1);

    let mut tracker = Tracker::new(config());
    let mut presence = available(JULIET, ROMEO, "Available");
    let _ = tracker.handle_presence(t0(), &mut presence);
    tracker.handle_interest(t0(), &jid(ROMEO), false);
    assert!(matches!(
        &drain(&mut tracker).events[..],
        [Event::Forgotten { presences: 1, .. }]
    ));
    let mut presence = available(JULIET, ROMEO, "Available");
    assert_eq!(
        tracker.handle_presence(t0(), &mut presence),
        Relay::Untracked(Untracked::NotInterested)
    );
}

#[test]
fn subscriptions_and_probes_are_excluded_and_errors_clear() {
    let mut tracker = romeo_holds_juliet();
    for mut p in [
        xmpp_parsers::presence::Presence::subscribe()
            .with_from(jid(JULIET))
            .with_to(jid(ROMEO)),
        xmpp_parsers::presence::Presence::probe()
            .with_from(jid(JULIET))
            .with_to(jid(ROMEO)),
    ] {
        assert_eq!(
            tracker.handle_presence(t0(), &mut p),
            Relay::Untracked(Untracked::Excluded)
        );
    }
    assert!(tracker.holds(&jid(ROMEO), &jid(JULIET)));
    let mut error = xmpp_parsers::presence::Presence::error()
        .with_from(jid(JULIET))
        .with_to(jid(ROMEO));
    assert_eq!(tracker.handle_presence(t0(), &mut error), Relay::Cleared);
    assert!(!tracker.holds(&jid(ROMEO), &jid(JULIET)));
}

#[test]
fn misuse_is_reported() {
    let mut tracker = Tracker::new(config());
    assert!(matches!(
        tracker.handle_session_paused(t0(), &full(JULIET)),
        Err(xmpp_psa::Misuse::NotLocal { .. })
    ));
    assert!(matches!(
        tracker.handle_link_established(t0(), &domain("montague.lit"), StreamId(1)),
        Err(xmpp_psa::Misuse::LocalDomain { .. })
    ));
}

const EXAMPLE_2: &str = r#"<presence
from='juliet@capulet.lit/orchard'
to='romeo@montague.lit/lane'>
<status>Available</status>
<state-annotation xmlns="urn:xmpp:psa" from="montague.lit">
<server-unavailable/>
<description>The capulet.lit server is no longer available</description>
</state-annotation>
</presence>"#;

const EXAMPLE_3: &str = r#"<presence
from='juliet@capulet.lit/orchard'
to='romeo@montague.lit/lane'>
<status>Available</status>
<state-annotation xmlns="urn:xmpp:psa" from="montague.lit"/>
</presence>"#;

const EXAMPLE_5: &str = r#"<presence
from='benvolio@montague.lit/lane'
to='romeo@montague.lit/lane'>
<state-annotation xmlns="urn:xmpp:psa" from="montague.lit">
<connection-paused/>
<description>benvolio's BOSH session has been paused</description>
</state-annotation>
<status>He ran this way, and leap'd this orchard wall</status>
</presence>"#;

const EXAMPLE_6: &str = r#"<presence
from='benvolio@montague.lit/lane'
to='romeo@montague.lit/lane'>
<state-annotation xmlns="urn:xmpp:psa" from="montague.lit"/>
<status>He ran this way, and leap'd this orchard wall</status>
</presence>"#;

const EXAMPLE_7: &str = r#"<presence
from='benvolio@montague.lit/lane'
to='romeo@montague.lit/lane' type='unavailable'/>"#;
