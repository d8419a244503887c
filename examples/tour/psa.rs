//! XEP-0310 Presence State Annotations, played out in memory.
//!
//! Romeo's client, on montague.example, shows Juliet as online. Juliet is on capulet.example,
//! so her presence reaches him over the s2s link between the two servers. When that link
//! drops, nothing would tell Romeo that what he sees may be stale: montague.example's tracker
//! does, by re-sending Juliet's presence annotated, and again with an empty annotation when
//! the link is back. Romeo's client keeps a view that marks each contact stale or fresh.
//!
//! Then Benvolio, on montague.example too, loses his phone's connection. His session has
//! XEP-0198 stream management: xmpp-sm hibernates it, and the server hands xmpp-sm's events
//! to the tracker as they come (`sm_event`, `store_event`: the whole wiring), so Romeo sees
//! Benvolio paused, then fresh when he resumes, then plainly offline when a second
//! hibernation runs out.
//!
//! Elements from the server to Romeo print as `server ---> Romeo`. Time is virtual.

use std::time::{Duration, SystemTime};

use rand_chacha::ChaCha20Rng;
use xmpp_tether::jid::{BareJid, DomainPart, FullJid, Jid};
use xmpp_tether::psa::{
    Event, Freshness, LinkLoss, Misuse, Monotonic, Now, StreamId, Tracker, TrackerConfig, Transmit,
    View, ViewConfig,
};
use xmpp_tether::rand_core::SeedableRng;
use xmpp_tether::sm::{
    Client, ClientConfig, Namespace, Placement, Server, ServerConfig, ServerEvent, SessionStore,
    StoreEvent,
};
use xmpp_tether::xmpp_parsers::presence::Presence;

use crate::story::{Result, say, scene, wire};

/// The virtual clock starts at 2023-11-14 22:13:20 UTC, as in the other scenes.
const START: Duration = Duration::from_secs(1_700_000_000);
const ROMEO: &str = "romeo@montague.example/lane";
const JULIET: &str = "juliet@capulet.example/balcony";
const BENVOLIO: &str = "benvolio@montague.example/phone";
/// How long montague.example keeps a hibernated session (XEP-0198 `max`), in seconds.
const HIBERNATION: u32 = 120;
const TO_ROMEO: [&str; 2] = ["server ---> Romeo", "server --X  Romeo"];

/// The presence state annotation scenes, in order.
pub(crate) fn run() -> Result {
    let mut w = World::new()?;
    juliet_online(&mut w)?;
    idle_link(&mut w)?;
    link_drops(&mut w)?;
    link_returns(&mut w)?;
    benvolio_hibernates(&mut w)?;
    benvolio_resumes(&mut w)?;
    benvolio_expires(&mut w)
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

// ---- xmpp-sm drives the tracker: the wiring a server writes ----

/// A stream's event (after the server's own handling of it): a hibernation pauses the
/// session's presence, a resumption (on the new stream) restores it.
fn sm_event(tracker: &mut Tracker, now: Now, event: &ServerEvent) -> Result<(), Misuse> {
    match event {
        ServerEvent::Hibernated { jid: Some(jid), .. } => tracker.handle_session_paused(now, jid),
        ServerEvent::Resumed { jid: Some(jid), .. } => tracker.handle_session_resumed(now, jid),
        _ => Ok(()),
    }
}

/// A store event: a hibernated session is over (expired, evicted). The tracker forgets it
/// before the server broadcasts the unavailable presence, which so goes out plain.
fn store_event(tracker: &mut Tracker, now: Now, event: &StoreEvent) -> Result<(), Misuse> {
    match event {
        StoreEvent::HandedBack { jid: Some(jid), .. } => tracker.handle_session_ended(now, jid),
        _ => Ok(()),
    }
}

fn benvolio_hibernates(w: &mut World) -> Result {
    scene("Benvolio's phone loses its connection: his session hibernates");
    say(
        "Benvolio is on montague.example too, and Romeo's contact. His phone logs in with \
         XEP-0198 stream management (xmpp-sm; the elements are in the first scenes of this \
         tour), and his presence reaches Romeo through the tracker like any other.",
    );
    w.benvolio_connects()?;
    let mut presence = Presence::available()
        .with_from(BENVOLIO.parse::<Jid>()?)
        .with_to(w.romeo.clone());
    presence.set_status("", "In the square");
    let _ = w.server.handle_presence(w.now, &mut presence);
    w.deliver_presence(presence);
    w.show(BENVOLIO);
    say(
        "The phone goes into a tunnel. The server's read fails; it calls handle_disconnect on \
         Benvolio's stream, which hibernates the session in the store and reports \
         ServerEvent::Hibernated with his full JID. The server passes that event to the \
         tracker (sm_event: handle_session_paused), which re-sends Benvolio's presence to \
         Romeo annotated <connection-paused/>.",
    );
    if let Some(stream) = w.stream.as_mut() {
        stream.handle_disconnect(w.now);
    }
    w.benvolio.handle_disconnect(w.now);
    w.sm_drain()?;
    w.stream = None;
    w.show(BENVOLIO);
    Ok(())
}

fn benvolio_resumes(w: &mut World) -> Result {
    scene("Benvolio resumes: fresh again");
    say(
        "Forty seconds later the phone reconnects and resumes its session on a new stream. \
         That stream reports ServerEvent::Resumed with the same JID; sm_event passes it on \
         (handle_session_resumed), and Romeo gets the empty annotation.",
    );
    w.wait(40)?;
    w.benvolio_resumes()?;
    w.show(BENVOLIO);
    Ok(())
}

fn benvolio_expires(w: &mut World) -> Result {
    scene("Benvolio's phone is gone for good: a plain unavailable");
    say(&format!(
        "The phone drops again and stays away. The session hibernates (annotated again), \
         and after {HIBERNATION} s the store's timer expires it: StoreEvent::HandedBack. \
         store_event has the tracker forget the session (handle_session_ended), and the \
         server broadcasts Benvolio's unavailable presence as it always does. Romeo gets \
         just that: never an empty annotation first (XEP-0310 section 4.2)."
    ));
    if let Some(stream) = w.stream.as_mut() {
        stream.handle_disconnect(w.now);
    }
    w.sm_drain()?;
    w.stream = None;
    w.wait(u64::from(HIBERNATION) + 1)?;
    w.show(BENVOLIO);
    Ok(())
}

/// montague.example's tracker and session store, Romeo's client view, Benvolio's phone, and
/// the virtual clock.
struct World {
    now: Now,
    server: Tracker,
    romeo_view: View,
    romeo: Jid,
    capulet: DomainPart,
    sessions: SessionStore<()>,
    rng: ChaCha20Rng,
    benvolio: Client,
    /// Benvolio's stream, while his phone is connected.
    stream: Option<Server<()>>,
}

impl World {
    fn new() -> Result<Self> {
        let montague = DomainPart::new("montague.example")?.into_owned();
        let mut config = ServerConfig::default();
        config.default_resume = HIBERNATION;
        Ok(Self {
            now: Now::new(Monotonic::ZERO, SystemTime::UNIX_EPOCH + START),
            server: Tracker::new(TrackerConfig::new(montague.clone())),
            romeo_view: View::new(ViewConfig::new(montague)),
            romeo: ROMEO.parse()?,
            capulet: DomainPart::new("capulet.example")?.into_owned(),
            sessions: SessionStore::new(config),
            rng: ChaCha20Rng::seed_from_u64(310),
            benvolio: Client::new(ClientConfig::default()),
            stream: None,
        })
    }

    /// Benvolio's phone connects, binds and enables stream management.
    fn benvolio_connects(&mut self) -> Result {
        let jid: FullJid = BENVOLIO.parse()?;
        let mut stream = self.sessions.stream(jid.to_bare(), (), &mut self.rng);
        stream.handle_bind(self.now, jid)?;
        self.stream = Some(stream);
        self.benvolio
            .enable(self.now, Namespace::Sm3, Placement::TopLevel)?;
        self.sm_drain()
    }

    /// Benvolio's phone reconnects and resumes on a new stream.
    fn benvolio_resumes(&mut self) -> Result {
        let owner: BareJid = "benvolio@montague.example".parse()?;
        self.stream = Some(self.sessions.stream(owner, (), &mut self.rng));
        self.benvolio.resume(self.now, Placement::TopLevel)?;
        self.sm_drain()
    }

    /// Carries the elements between Benvolio's phone and his stream (unprinted: the stream
    /// management scenes show them), then xmpp-sm's events through the wiring to the
    /// tracker, then the tracker's drain.
    fn sm_drain(&mut self) -> Result {
        if let Some(stream) = self.stream.as_mut() {
            loop {
                let mut quiet = true;
                while let Some(out) = self.benvolio.poll_transmit() {
                    quiet = false;
                    let _ = stream.handle_element(self.now, out.into_element())?;
                }
                while let Some(out) = stream.poll_transmit() {
                    quiet = false;
                    let _ = self.benvolio.handle_element(self.now, out.into_element())?;
                }
                if quiet {
                    break;
                }
            }
            while self.benvolio.poll_event().is_some() {}
            while let Some(event) = stream.poll_event() {
                say(&format!("  [sm] {}", describe_sm(&event)));
                sm_event(&mut self.server, self.now, &event)?;
            }
        }
        self.drain()
    }

    /// Lets `secs` pass, firing the tracker's grace timer and the session store's expiry
    /// timer when they are due.
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
        if self
            .sessions
            .poll_timeout()
            .is_some_and(|due| due <= self.now.monotonic())
        {
            say("  (the session store's timer fires)");
            self.sessions.handle_timeout(self.now);
        }
        while let Some(event) = self.sessions.poll_event() {
            say(&format!("  [store] {}", describe_store(&event)));
            store_event(&mut self.server, self.now, &event)?;
            self.drain()?;
            if let StoreEvent::HandedBack { jid: Some(jid), .. } = event {
                // The server's usual part: the resource is gone, its contacts are told.
                let mut gone = Presence::unavailable()
                    .with_from(Jid::from(jid))
                    .with_to(self.romeo.clone());
                let _ = self.server.handle_presence(self.now, &mut gone);
                self.deliver_presence(gone);
            }
        }
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

    /// A presence the server writes to Romeo's stream.
    fn deliver_presence(&mut self, presence: Presence) {
        let _ = self.romeo_view.handle_presence(&presence);
        wire(
            true,
            TO_ROMEO,
            &xmpp_tether::psa::presence_element(presence),
        );
    }

    fn deliver(&mut self, transmit: Transmit) {
        if transmit.to() == &self.romeo {
            self.deliver_presence(transmit.into_presence());
        } else {
            let xml = String::from(&transmit.into_element());
            println!("  server ---> capulet.example   {xml}");
        }
    }

    fn show_juliet(&self) {
        self.show(JULIET);
    }

    /// What Romeo's client shows for a contact's resource.
    fn show(&self, contact: &str) {
        let Ok(jid) = contact.parse::<Jid>() else {
            return;
        };
        // "juliet" -> "Juliet".
        let node = jid.node().map_or("", |n| n.as_str());
        let mut chars = node.chars();
        let name: String = chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_default();
        let line = match self.romeo_view.freshness(&jid) {
            None => format!("Romeo's client shows {name}: offline"),
            Some(Freshness::Fresh) => format!("Romeo's client shows {name}: online, fresh"),
            Some(Freshness::Stale(stale)) => format!(
                "Romeo's client shows {name}: online, but STALE ({} by {}: {:?})",
                stale.condition,
                stale
                    .annotator
                    .as_ref()
                    .map_or_else(|| "?".to_owned(), ToString::to_string),
                stale.description.as_ref().map_or("", |d| d.text.as_str()),
            ),
            Some(_) => format!("Romeo's client shows {name}: online"),
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

fn describe_sm(event: &ServerEvent) -> String {
    match event {
        ServerEvent::Enabled { .. } => "Enabled: the session is resumable".to_owned(),
        ServerEvent::Hibernated { jid, .. } => format!(
            "Hibernated {{ {} }} -> tracker.handle_session_paused",
            jid.as_ref().map_or_else(String::new, ToString::to_string)
        ),
        ServerEvent::Resumed { jid, .. } => format!(
            "Resumed {{ {} }} -> tracker.handle_session_resumed",
            jid.as_ref().map_or_else(String::new, ToString::to_string)
        ),
        other => format!("{other:?}"),
    }
}

fn describe_store(event: &StoreEvent) -> String {
    match event {
        StoreEvent::HandedBack { reason, jid, .. } => format!(
            "HandedBack {{ {reason:?}, {} }} -> tracker.handle_session_ended, then unavailable",
            jid.as_ref().map_or_else(String::new, ToString::to_string)
        ),
        other => format!("{other:?}"),
    }
}
