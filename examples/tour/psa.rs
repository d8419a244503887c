//! XEP-0310 Presence State Annotations, played out in memory.
//!
//! Romeo's client, on montague.example, shows Juliet as online. Juliet is on capulet.example,
//! so her presence reaches him over the s2s link between the two servers. When that link
//! drops, nothing would tell Romeo that what he sees may be stale: montague.example's tracker
//! does, by re-sending Juliet's presence annotated, and again with an empty annotation when
//! the link is back. Romeo's client keeps a view that marks each contact stale or fresh.
//!
//! Elements from the server to Romeo print as `server ---> Romeo`. Time is virtual.

use std::time::{Duration, SystemTime};

use xmpp_tether::jid::{DomainPart, Jid};
use xmpp_tether::psa::{
    Event, Freshness, LinkLoss, Monotonic, Now, StreamId, Tracker, TrackerConfig, Transmit, View,
    ViewConfig,
};
use xmpp_tether::xmpp_parsers::presence::Presence;

use crate::story::{Result, say, scene, wire};

/// The virtual clock starts at 2023-11-14 22:13:20 UTC, as in the other scenes.
const START: Duration = Duration::from_secs(1_700_000_000);
const ROMEO: &str = "romeo@montague.example/lane";
const JULIET: &str = "juliet@capulet.example/balcony";
const TO_ROMEO: [&str; 2] = ["server ---> Romeo", "server --X  Romeo"];

/// The presence state annotation scenes, in order.
pub(crate) fn run() -> Result {
    let mut w = World::new()?;
    juliet_online(&mut w)?;
    idle_link(&mut w)?;
    link_drops(&mut w)?;
    link_returns(&mut w)
}

fn juliet_online(w: &mut World) -> Result {
    scene("Presence state annotations: Juliet is online, as far as Romeo knows");
    say(
        "Romeo's client advertises urn:xmpp:psa in its entity capabilities; once the server \
         has resolved them, it tells the tracker. An s2s stream to capulet.example is up, and \
         Juliet's presence comes over it. The server hands every presence it delivers to the \
         tracker on its way out, which learns what Romeo holds from whom.",
    );
    w.server.handle_interest(w.now, &w.romeo, true);
    w.server
        .handle_link_established(w.now, &w.capulet, StreamId(1))?;
    let mut juliet = Presence::available()
        .with_from(JULIET.parse::<Jid>()?)
        .with_to(w.romeo.clone());
    juliet.set_status("", "On the balcony");
    let relay = w.server.handle_presence(w.now, &mut juliet);
    wire(
        true,
        TO_ROMEO,
        &xmpp_tether::psa::presence_element(juliet.clone()),
    );
    let _ = w.romeo_view.handle_presence(&juliet);
    say(&format!("  [server] {relay:?}"));
    w.show_juliet();
    w.drain()
}

fn idle_link(w: &mut World) -> Result {
    scene("An idle s2s link closes: not an outage");
    say(
        "Servers close s2s streams nobody uses. The stream to capulet.example closes for \
         idleness: the tracker notes that no stream is open, and does nothing else.",
    );
    w.server
        .handle_link_closed(w.now, &w.capulet, StreamId(1), LinkLoss::Idle)?;
    w.drain()?;
    say("  (nothing to send, no event)");
    w.show_juliet();
    say(
        "Later capulet.example opens a new stream to send Juliet's messages; the link is up \
         again, and again nobody needs telling.",
    );
    w.wait(120)?;
    w.server
        .handle_link_established(w.now, &w.capulet, StreamId(2))?;
    w.drain()
}

fn link_drops(w: &mut World) -> Result {
    scene("The link drops: after a grace, Juliet turns stale");
    say(
        "Now the stream breaks with a network error. That may be an outage, or a NAT dropping \
         a connection: the tracker starts a grace (30 seconds here) and asks the server to try \
         reaching capulet.example meanwhile.",
    );
    w.server
        .handle_link_closed(w.now, &w.capulet, StreamId(2), LinkLoss::Network)?;
    w.drain()?;
    say(
        "The server's connection attempt fails too (DNS answers, TCP does not). The grace goes \
         on: a failure does not extend it.",
    );
    w.wait(10)?;
    w.server
        .handle_link_failed(w.now, &w.capulet, LinkLoss::ConnectFailed)?;
    w.drain()?;
    say(
        "When the timer from poll_timeout fires, capulet.example counts as down. Romeo holds \
         Juliet's presence from it, and asked for annotations: the tracker re-sends that \
         presence annotated <server-unavailable/> by montague.example.",
    );
    w.wait(20)?;
    w.show_juliet();
    Ok(())
}

fn link_returns(w: &mut World) -> Result {
    scene("The link comes back: Juliet is fresh again");
    say(
        "Five minutes later capulet.example connects again. The tracker re-sends Juliet's \
         presence with the empty annotation, then a probe from Romeo's account, so that \
         capulet.example answers with what Juliet's presence is now.",
    );
    w.wait(300)?;
    w.server
        .handle_link_established(w.now, &w.capulet, StreamId(3))?;
    w.drain()?;
    w.show_juliet();
    say(
        "Had Juliet gone offline meanwhile, the probe's answer would say so; had Romeo's own \
         session been hibernating, nothing would have been queued for him, and he would have \
         been caught up on resuming.",
    );
    Ok(())
}

/// montague.example's tracker, Romeo's client view, and the virtual clock.
struct World {
    now: Now,
    server: Tracker,
    romeo_view: View,
    romeo: Jid,
    capulet: DomainPart,
}

impl World {
    fn new() -> Result<Self> {
        let montague = DomainPart::new("montague.example")?.into_owned();
        Ok(Self {
            now: Now::new(Monotonic::ZERO, SystemTime::UNIX_EPOCH + START),
            server: Tracker::new(TrackerConfig::new(montague.clone())),
            romeo_view: View::new(ViewConfig::new(montague)),
            romeo: ROMEO.parse()?,
            capulet: DomainPart::new("capulet.example")?.into_owned(),
        })
    }

    /// Lets `secs` pass, firing the tracker's grace timer when it is due.
    fn wait(&mut self, secs: u64) -> Result {
        let until = self.now.advance(Duration::from_secs(secs));
        while let Some(deadline) = self.server.poll_timeout() {
            if deadline > until.monotonic() {
                break;
            }
            self.now = self.now.advance(deadline - self.now.monotonic());
            say("  (the grace timer fires)");
            self.server.handle_timeout(self.now);
            self.drain()?;
        }
        self.now = until;
        Ok(())
    }

    /// The drain contract: transmits first (delivered to Romeo's client, or shown going to
    /// capulet.example), then events.
    fn drain(&mut self) -> Result {
        while let Some(transmit) = self.server.poll_transmit() {
            self.deliver(transmit);
        }
        while let Some(event) = self.server.poll_event() {
            say(&format!("  [server] {}", describe(&event)));
        }
        Ok(())
    }

    fn deliver(&mut self, transmit: Transmit) {
        if transmit.to() == &self.romeo {
            let _ = self.romeo_view.handle_presence(transmit.presence());
            wire(true, TO_ROMEO, &transmit.into_element());
        } else {
            let xml = String::from(&transmit.into_element());
            println!("  server ---> capulet.example   {xml}");
        }
    }

    fn show_juliet(&self) {
        let Ok(juliet) = JULIET.parse::<Jid>() else {
            return;
        };
        let line = match self.romeo_view.freshness(&juliet) {
            None => "Romeo's client shows Juliet: offline".to_owned(),
            Some(Freshness::Fresh) => "Romeo's client shows Juliet: online, fresh".to_owned(),
            Some(Freshness::Stale(stale)) => format!(
                "Romeo's client shows Juliet: online, but STALE ({} by {}: {:?})",
                stale.condition,
                stale
                    .annotator
                    .as_ref()
                    .map_or_else(|| "?".to_owned(), ToString::to_string),
                stale.description.as_ref().map_or("", |d| d.text.as_str()),
            ),
            Some(_) => "Romeo's client shows Juliet: online".to_owned(),
        };
        say(&format!("  [Romeo] {line}"));
    }
}

fn describe(event: &Event) -> String {
    match event {
        Event::LinkLost { domain, reason, .. } => format!(
            "LinkLost {{ {domain}, {reason:?} }}: the grace starts; try reaching {domain} now"
        ),
        Event::LinkDown {
            domain, annotated, ..
        } => format!("LinkDown {{ {domain} }}: {annotated} annotated presence(s) queued"),
        Event::LinkRestored {
            domain,
            restored,
            probes,
        } => format!(
            "LinkRestored {{ {domain} }}: {restored} empty annotation(s), {probes} probe(s)"
        ),
        other => format!("{other:?}"),
    }
}
