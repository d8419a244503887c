//! The README's quick example, kept compiling and running.

use std::time::{Duration, SystemTime};
use xmpp_parsers::presence::Presence;
use xmpp_psa::{LinkLoss, Monotonic, Now, StreamId, Tracker, TrackerConfig, TransmitKind};

#[test]
fn the_readme_example_runs() -> Result<(), Box<dyn std::error::Error>> {
    let now = Now::new(
        Monotonic::ZERO,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    );
    let capulet = jid::DomainPart::new("capulet.lit")?.into_owned();
    let mut config = TrackerConfig::new(jid::DomainPart::new("montague.lit")?.into_owned());
    config.grace = Duration::ZERO; // annotate at once (the default waits 30 s)
    let mut tracker = Tracker::new(config);

    // Romeo's caps list urn:xmpp:psa; Juliet's presence reaches him over s2s.
    let romeo: jid::Jid = "romeo@montague.lit/lane".parse()?;
    tracker.handle_interest(now, &romeo, true);
    let mut presence = Presence::available()
        .with_from("juliet@capulet.lit/orchard".parse::<jid::Jid>()?)
        .with_to(romeo.clone());
    let _ = tracker.handle_presence(now, &mut presence); // then deliver it as usual

    // The s2s link fails for real: Juliet's presence goes back to Romeo, annotated.
    tracker.handle_link_failed(now, &capulet, LinkLoss::ConnectFailed)?;
    let transmit = tracker.poll_transmit().ok_or("an annotated presence")?;
    assert!(matches!(transmit.kind(), TransmitKind::Annotated(_)));
    assert_eq!(transmit.to(), &romeo);
    let _xml = String::from(&transmit.into_element()); // write it to Romeo's stream

    // It comes back: the empty annotation, then a probe.
    tracker.handle_link_established(now, &capulet, StreamId(1))?;
    assert_eq!(
        tracker.poll_transmit().map(|t| t.kind().clone()),
        Some(TransmitKind::Restored)
    );
    Ok(())
}
