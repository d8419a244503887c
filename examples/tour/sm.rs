//! XEP-0198 Stream Management, played out in memory.
//!
//! Juliet's client and her server talk over a pretend connection that prints every element
//! crossing it (`client ---> server` and `client <--- server`, or `--X` when the connection is
//! dead and the element is lost). Between the elements, the story is told in plain sentences.
//! Nothing here touches the network or reads the real clock: time is virtual, starts at a fixed
//! moment and only moves when a scene says so, so every run prints exactly the same thing.
//!
//! Each scene is one function taking the [`World`]; to add one, write
//! `fn my_scene(w: &mut World) -> Result` (start it with [`scene`]) and call it from [`run`].

use std::time::{Duration, SystemTime};

use rand_chacha::ChaCha20Rng;
use xmpp_tether::jid::BareJid;
use xmpp_tether::minidom::Element;
use xmpp_tether::rand_core::SeedableRng;
use xmpp_tether::sm::{
    Client, ClientConfig, ClientEvent, HandBackReason, Incoming, Namespace, Placement, Server,
    ServerConfig, ServerEvent, SessionStore, StoreEvent, Unacked, elements::features_of,
};
use xmpp_tether::{Monotonic, Now};

use crate::story::{Result, message, say, scene, stanza, summary, wire};

/// The virtual clock starts at 2023-11-14 22:13:20 UTC (Unix time 1,700,000,000).
const START: Duration = Duration::from_secs(1_700_000_000);
const JULIET: &str = "juliet@capulet.example";
const ROMEO: &str = "romeo@montague.example";
const BOUND_JID: &str = "juliet@capulet.example/balcony";
const FEATURES: &str = "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>\
    <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>";
const BIND_REQUEST: &str = "<iq xmlns='jabber:client' type='set' id='b1'>\
    <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>balcony</resource></bind></iq>";
const BIND_RESULT: &str = "<iq xmlns='jabber:client' type='result' id='b1'><bind \
    xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>juliet@capulet.example/balcony</jid></bind></iq>";
/// How the connection shows an element from each side: delivered, or lost.
const C2S: [&str; 2] = ["client ---> server", "client --X  server"];
const S2C: [&str; 2] = ["client <--- server", "client  X-- server"];

/// The stream management scenes, in order.
pub(crate) fn run() -> Result {
    let mut w = World::new()?;
    connect(&mut w)?;
    chat(&mut w)?;
    connection_drops(&mut w)?;
    resume(&mut w)?;
    too_late(&mut w)
}

fn connect(w: &mut World) -> Result {
    scene("Connecting: stream features, resource binding, enabling stream management");
    say(
        "Juliet's client has connected, negotiated TLS and authenticated: the caller's business. \
         The tour starts when the server offers its stream features: resource binding and \
         stream management (<sm/>) in two dialects.",
    );
    let mut features = stanza(FEATURES)?;
    for sm in w.server.features() {
        features.append_child(sm);
    }
    let Some(Incoming::NotOurs(features)) = w.s2c(features)? else {
        return Err("stream features are for the client's application".into());
    };
    let offered: Vec<Namespace> = features_of(&features).iter().map(|f| f.ns).collect();
    let ns = Namespace::choose(&offered, &[Namespace::Sm3, Namespace::Sm2]).ok_or("no dialect")?;
    say(&format!(
        "The client picks the newest dialect both sides speak, {ns}. Stream \
         management is still off, so stanzas go straight out, uncounted: the client binds a \
         resource."
    ));
    w.client.send(w.now, stanza(BIND_REQUEST)?)?;
    w.pump()?;
    w.server.handle_bind(w.now, BOUND_JID.parse()?)?;
    w.server.send(w.now, stanza(BIND_RESULT)?)?;
    w.pump()?;

    say(
        "Now the client asks for stream management, with resumption. From here on each side \
         counts the stanzas it sends and the stanzas it handles. The server answers on its \
         own: the SM-ID naming the session was drawn from the server's random number generator \
         when the stream was made, and the session is registered in the server's store.",
    );
    w.client.enable(w.now, ns, Placement::TopLevel)?;
    w.pump()
}

fn chat(w: &mut World) -> Result {
    scene("Chatting: messages both ways, <r/> and <a/>");
    say(
        "Juliet writes twice. Her client asks for an acknowledgement (<r/>) once 2 stanzas are \
         unacknowledged; the server answers with the number it has handled (<a h/>), and the \
         client drops what is acknowledged from its retransmission queue.",
    );
    w.juliet("Romeo, Romeo, wherefore art thou Romeo?")?;
    w.juliet("Deny thy father and refuse thy name.")?;
    say(
        "Romeo answers. The server asks for an acknowledgement after 5 stanzas or 5 seconds, \
         whichever comes first: here the 5 seconds, on a timer from poll_timeout.",
    );
    w.romeo("I take thee at thy word.")?;
    w.wait(5)
}

fn connection_drops(w: &mut World) -> Result {
    scene("The connection drops with stanzas in flight");
    w.juliet("What man art thou?")?;
    say(
        "That one arrived, but nobody asked for an acknowledgement yet. Now Juliet's train \
         enters a tunnel: the connection is dead, and neither side knows it yet.",
    );
    w.link_up = false;
    w.wait(1)?;
    w.juliet("Art thou not Romeo,")?;
    w.juliet("and a Montague?")?;
    w.romeo("Neither, fair saint.")?;
    w.both_notice()
}

fn resume(w: &mut World) -> Result {
    scene("A new connection resumes the session");
    w.wait(20)?;
    w.reconnect(
        "Out of the tunnel, Juliet's phone connects and authenticates again. Instead of \
         binding a resource, the client asks to resume; its h says how many of the server's \
         stanzas it handled.",
    );
    say(
        "The server's stream claims the session from the store (only the account that owns an \
         SM-ID may resume it) and answers with its own h. Then both sides retransmit exactly \
         what the other has not handled, in order, before anything new.",
    );
    w.client.resume(w.now, Placement::TopLevel)?;
    w.pump()?;
    say(
        "The server's h told the client that \"What man art thou?\" had arrived, so only the \
         two lost lines went out again, in order; the client's h told the server that \"Neither, \
         fair saint.\" never arrived. The client's policy already asked for an acknowledgement of \
         its two; the server asks for one of its own.",
    );
    w.server.request_ack(w.now);
    w.pump()?;
    let (client, server) = (w.client.unacked(), w.server.unacked());
    say(&format!(
        "Unacknowledged now: {client} at the client, {server} at the server."
    ));
    Ok(())
}

fn too_late(w: &mut World) -> Result {
    scene("A second drop, and the client waits too long");
    w.juliet("How cam'st thou hither?")?;
    w.link_up = false;
    w.wait(2)?;
    w.juliet("The orchard walls are high.")?;
    w.romeo("With love's light wings.")?;
    w.both_notice()?;
    say(
        "This time Juliet's phone stays offline for ten minutes. The server's timer follows the \
         store's poll_timeout; when it fires, handle_timeout expires the session and hands its \
         unacknowledged stanzas back to the server's application, which would store them \
         offline or bounce them.",
    );
    w.wait(600)?;
    w.reconnect(
        "Juliet's phone finally connects again and asks to resume. The session is gone, but \
         the store remembers how many stanzas it had handled: the server answers <failed/> \
         with item-not-found and that h. The client applies h first, so only what the server \
         never handled comes back to Juliet's application.",
    );
    w.client.resume(w.now, Placement::TopLevel)?;
    w.pump()?;
    say(
        "From here the client would bind a resource and enable stream management afresh, and \
         Juliet would decide whether to send \"The orchard walls are high.\" again.",
    );
    Ok(())
}

/// Everything the tour plays with: both state machines, the server's session store, the
/// pretend connection and the virtual clock.
struct World {
    now: Now,
    rng: ChaCha20Rng,
    account: BareJid,
    client: Client,
    /// The server's store: every stream comes from it, hibernated sessions wait in it. The
    /// tour has one stream at a time, so its streams need no wake-up handle: `()`.
    store: SessionStore<()>,
    /// The server's end of the current connection (a new one per connection).
    server: Server<()>,
    /// Whether elements written now reach the other side.
    link_up: bool,
}

impl World {
    fn new() -> Result<Self> {
        let account: BareJid = JULIET.parse()?;
        let mut config = ClientConfig::default();
        config.ack.after_stanzas = Some(2);
        say(
            "Welcome to tether. This tour plays XEP-0198 Stream Management between Juliet's \
             client and her server, in memory, with a virtual clock. Lines with arrows are the \
             XML crossing the connection; [client], [server] and [store] lines are the events \
             each side's application sees.",
        );
        // Any CSPRNG will do; a fixed seed makes every run print the same SM-IDs.
        let mut rng = ChaCha20Rng::seed_from_u64(1597);
        let store = SessionStore::new(ServerConfig::default());
        Ok(Self {
            now: Now::new(Monotonic::ZERO, SystemTime::UNIX_EPOCH + START),
            server: store.stream(account.clone(), (), &mut rng),
            rng,
            account,
            client: Client::new(config),
            store,
            link_up: true,
        })
    }

    /// Writes one element from the client. `None` if it was lost on a dead connection.
    fn c2s(&mut self, element: Element) -> Result<Option<Incoming>> {
        // The client's requests may travel inline at login; in this tour all go at top level.
        wire(self.link_up, C2S, &element);
        if !self.link_up {
            return Ok(None);
        }
        Ok(Some(self.server.handle_element(self.now, element)?))
    }

    /// Writes one element from the server. `None` if it was lost on a dead connection.
    fn s2c(&mut self, element: Element) -> Result<Option<Incoming>> {
        wire(self.link_up, S2C, &element);
        if !self.link_up {
            return Ok(None);
        }
        Ok(Some(self.client.handle_element(self.now, element)?))
    }

    /// The drain contract: after every call, write what a side has to send and report its
    /// events; here each element crossing the link is one call on the receiving side, so its
    /// events are reported right after it, in the order they happened.
    fn pump(&mut self) -> Result {
        self.report_events();
        loop {
            let mut quiet = true;
            // Only stanzas and <r/>/<a/> come out of poll_transmit; stanzas are for the
            // application (routing them is its job, not the library's).
            while let Some(out) = self.client.poll_transmit() {
                quiet = false;
                if let Some(Incoming::Stanza(stanza)) = self.c2s(out.into_element())? {
                    say(&format!("  [server] receives {}", summary(&stanza)));
                }
                self.report_events();
            }
            while let Some(out) = self.server.poll_transmit() {
                quiet = false;
                if let Some(Incoming::Stanza(stanza)) = self.s2c(out.into_element())? {
                    say(&format!("  [client] receives {}", summary(&stanza)));
                }
                self.report_events();
            }
            if quiet {
                return Ok(());
            }
        }
    }

    fn report_events(&mut self) {
        while let Some(event) = self.client.poll_event() {
            report(&event);
        }
        while let Some(event) = self.server.poll_event() {
            report_server(&event);
        }
        while let Some(event) = self.store.poll_event() {
            if let StoreEvent::HandedBack {
                reason: HandBackReason::Expired,
                stanzas,
                ..
            } = event
            {
                say("  [store] the session expired, handing back:");
                list(&stanzas);
            }
        }
    }

    /// Lets `seconds` of virtual time pass, firing every timer that falls due on the way:
    /// the loop a real program runs around `poll_timeout` and `handle_timeout`.
    fn wait(&mut self, seconds: u64) -> Result {
        let until = self.now.advance(Duration::from_secs(seconds));
        say(&format!("({seconds} s pass.)"));
        while let Some(due) = [
            self.client.poll_timeout(),
            self.server.poll_timeout(),
            self.store.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .filter(|due| *due <= until.monotonic())
        .min()
        {
            if due > self.now.monotonic() {
                self.now = self.now.advance(due - self.now.monotonic());
            }
            say(&format!("At {} a timer fires.", clock(self.now)));
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
            self.store.handle_timeout(self.now);
            self.pump()?;
        }
        self.now = until;
        Ok(())
    }

    /// Juliet's client sends a message to Romeo, and the link carries what it can.
    fn juliet(&mut self, body: &str) -> Result {
        self.client.send(self.now, message(None, ROMEO, body)?)?;
        self.pump()
    }

    /// The server sends Juliet a message from Romeo, and the link carries what it can.
    fn romeo(&mut self, body: &str) -> Result {
        self.server
            .send(self.now, message(Some(ROMEO), JULIET, body)?)?;
        self.pump()
    }

    /// Both ends notice that the connection is dead; the server hibernates the session.
    fn both_notice(&mut self) -> Result {
        say(
            "Both sides notice (a read error, or an unanswered <r/>). The client keeps its \
             session and every unacknowledged stanza, waiting for a new connection.",
        );
        self.client.handle_disconnect(self.now);
        let (unacked, handled) = (self.server.unacked(), self.server.handled());
        self.server.handle_disconnect(self.now);
        let (id, jid) = self
            .store
            .hibernated(&self.account)
            .into_iter()
            .next()
            .ok_or("the session should be hibernated")?;
        say(&format!(
            "The client holds {} unacknowledged stanza(s). The server's stream hibernates the \
             session {id} in its store: {unacked} unacknowledged stanza(s), {handled} handled \
             from the client. Stanzas for {} now wait in the store.",
            self.client.unacked(),
            jid.map_or_else(|| "it".to_owned(), |j| j.to_string()),
        ));
        self.pump()
    }

    /// A new connection, authenticated as the same account: a new stream from the store.
    fn reconnect(&mut self, story: &str) {
        self.link_up = true;
        self.server = self.store.stream(self.account.clone(), (), &mut self.rng);
        say(&format!("At {}: {story}", clock(self.now)));
    }
}

/// Tells what a client event means, in a sentence.
fn report(event: &ClientEvent) {
    let text = match event {
        ClientEvent::Enabled {
            id: Some(id),
            max: Some(max),
            ..
        } => {
            format!("stream management is on, resumable for {max} s as {id}")
        }
        ClientEvent::Acked { h, stanzas } => {
            format!("the server acknowledged {} more (h = {h})", stanzas.len())
        }
        ClientEvent::Resumed { retransmitted, .. } => {
            format!("resumed; retransmitting {retransmitted} unacknowledged stanza(s)")
        }
        ClientEvent::ResumeFailed {
            condition: Some(condition),
            h: Some(h),
        } => {
            format!("the server refused to resume: {condition:?}, h = {h}")
        }
        ClientEvent::HandedBack { reason, stanzas } => {
            say(&format!("  [client] stanzas handed back ({reason:?}):"));
            list(stanzas);
            return;
        }
        other => format!("{other:?}"),
    };
    say(&format!("  [client] {text}"));
}

/// Tells what a server event means, in a sentence.
fn report_server(event: &ServerEvent) {
    let text = match event {
        ServerEvent::Enabled { id: Some(id) } => {
            format!("stream management is on, resumable as {id} (registered in the store)")
        }
        ServerEvent::Acked { h, stanzas } => {
            format!("the client acknowledged {} more (h = {h})", stanzas.len())
        }
        ServerEvent::Resumed {
            previd,
            retransmitted,
            ..
        } => {
            format!("{previd} resumed; retransmitting {retransmitted} unacknowledged stanza(s)")
        }
        ServerEvent::ResumeRefused { previd } => format!("no session {previd} to resume"),
        ServerEvent::Hibernated { id, .. } => format!("{id} hibernates in the store"),
        ServerEvent::HandedBack { reason, stanzas } => {
            say(&format!("  [server] stanzas handed back ({reason:?}):"));
            list(stanzas);
            return;
        }
        other => format!("{other:?}"),
    };
    say(&format!("  [server] {text}"));
}

/// Lists stanzas handed back, with when each was first sent.
fn list(stanzas: &[Unacked]) {
    for unacked in stanzas {
        let first = wall_clock(unacked.first_sent);
        println!(
            "      - {}, first sent at {first}",
            summary(&unacked.stanza)
        );
    }
}

/// Virtual time as seconds since the tour started.
fn clock(t: Now) -> String {
    format!("t+{} s", t.monotonic().since_epoch().as_secs())
}

/// A wall-clock time (a stanza's first-sent time) as seconds since the tour started.
fn wall_clock(t: SystemTime) -> String {
    let since = t
        .duration_since(SystemTime::UNIX_EPOCH + START)
        .unwrap_or_default();
    format!("t+{} s", since.as_secs())
}
