//! XEP-0357 Push Notifications, played out in memory.
//!
//! Three parties: Juliet's client, her server (a [`Registry`] of push registrations) and the
//! push service of her phone's app (an [`AppServer`], an XMPP component in real life). Every
//! stanza that crosses between them is printed (`client ---> server`, `server ---> push`, ...);
//! between them the story is told in plain sentences. Time is virtual and the random numbers
//! seeded, so every run prints the same.

use std::time::{Duration, SystemTime};

use rand_chacha::ChaCha20Rng;
use xmpp_tether::jid::{BareJid, FullJid, Jid};
use xmpp_tether::minidom::Element;
use xmpp_tether::minidom::rxml::{Namespace, xml_ncname};
use xmpp_tether::push0::{
    AppEvent, AppServer, AppServerConfig, DisableReason, Enable, Event, Hibernation, Monotonic,
    Now, Registry, RegistryConfig, Target, Transmit, Trigger, client,
};
use xmpp_tether::rand_core::SeedableRng;

use crate::story::{Result, message, say, scene, wire};

const JULIET: &str = "juliet@capulet.example";
const PHONE: &str = "juliet@capulet.example/phone";
const PUSH: &str = "push.apps.example";
const C2S: [&str; 2] = ["client ---> server", "client --X  server"];
const S2C: [&str; 2] = ["client <--- server", "client  X-- server"];
const S2P: [&str; 2] = ["server ---> push  ", "server --X  push  "];
const P2S: [&str; 2] = ["server <--- push  ", "server  X-- push  "];

/// The push scenes, in order.
pub(crate) fn run() -> Result {
    let mut w = World::new()?;
    enable(&mut w)?;
    hibernate_and_push(&mut w)?;
    wrong_secret(&mut w)?;
    remote_disable(&mut w)
}

fn enable(w: &mut World) -> Result {
    scene("Push: the phone registers with its app's push service");
    say(
        "Before her phone may sleep, Juliet's client asks its server whether it publishes push \
         notifications (XEP-0357 §4): a disco#info query to her own account.",
    );
    let query = client::disco_request("d1", &w.account);
    wire(true, C2S, &query);
    let answer = w.stanza(&format!(
        "<iq xmlns='jabber:client' type='result' id='d1' from='{JULIET}' to='{PHONE}'>\
         <query xmlns='http://jabber.org/protocol/disco#info'>\
         <identity category='account' type='registered'/><feature var='urn:xmpp:push:0'/>\
         </query></iq>"
    ))?;
    wire(true, S2C, &answer);
    say(&format!(
        "It does (supports_push: {}). Over the app's own channel the phone gets a node and a \
         secret from the push service, which draws both from its random number generator; \
         then the client enables push with them.",
        client::supports_push(&answer)?
    ));
    let credentials = w.push.create_node(w.now, &mut w.rng, "juliet's phone");
    let enable = Enable::new(PUSH.parse()?, credentials.node.clone())
        .with_secret(credentials.secret.as_str())
        .to_iq("e1");
    w.node = credentials.node;
    w.phone_sends(enable)?;
    w.pump()
}

fn hibernate_and_push(w: &mut World) -> Result {
    scene("The phone sleeps; a message wakes it");
    say(
        "Juliet's phone goes to sleep and its connection dies. Her stream management session \
         hibernates with a 5-minute resumption timeout; because push was enabled from this \
         very session, the registry extends its life until the first push, 72 hours at most \
         (what Prosody and ejabberd do).",
    );
    let session: FullJid = PHONE.parse()?;
    let timeout = Duration::from_secs(300);
    if let Hibernation::Extended { deadline } = w.server.handle_hibernated(w.now, &session, timeout)
    {
        let hours = deadline
            .duration_since(w.now.wall())
            .map_or(0, |d| d.as_secs() / 3600);
        say(&format!(
            "  [server] hibernation extended: the session waits {hours} h"
        ));
    }
    w.advance(Duration::from_secs(1800));
    say(
        "Half an hour later Romeo writes. The message goes into the hibernated session's queue, \
         and the server reports it to the registry as a trigger for that session. The default \
         privacy policy reveals neither sender nor body: the app server learns only that \
         something important arrived.",
    );
    let romeo = message(
        Some("romeo@montague.example/orchard"),
        JULIET,
        "Wherefore art thou?",
    )?;
    let trigger = Trigger::from_stanza(&romeo).ok_or("nothing to push")?;
    w.server.notify(w.now, &Target::Session(session), &trigger);
    w.pump()
}

fn wrong_secret(w: &mut World) -> Result {
    scene("A registration with the wrong secret");
    say(
        "A buggy build of the app enables the same node again, with a secret the push service \
         never issued: the registration keeps its place and takes the new publish options. The \
         push service answers its publishes with <forbidden/>; the registry counts errors in a row (Prosody's policy: 16 disable the registration, a success \
         resets the count).",
    );
    let enable = Enable::new(PUSH.parse()?, w.node.clone()).with_secret("not-the-secret");
    // The same pair again: it replaces the options of the first registration.
    w.phone_sends(enable.to_iq("e2"))?;
    w.pump()?;
    w.server.notify(
        w.now,
        &Target::Account(w.account.clone()),
        &Trigger::other(),
    );
    w.pump()
}

fn remote_disable(w: &mut World) -> Result {
    scene("The push service retires the node");
    say(
        "The app is uninstalled; its push service retires the node and tells Juliet's server \
         with an affiliation change notice (XEP-0357 §8). The registry drops the registration: \
         no more publishes will be sent there.",
    );
    let node = w.node.clone();
    let account = w.account.clone();
    w.push.retire_node(w.now, &node, Some(&account));
    w.pump()?;
    say(&format!(
        "Registrations left for Juliet: {}.",
        w.server.nodes(&w.account).len()
    ));
    Ok(())
}

/// The three parties, the virtual clock and the randomness.
struct World {
    now: Now,
    rng: ChaCha20Rng,
    account: BareJid,
    server: Registry,
    push: AppServer,
    node: String,
}

impl World {
    fn new() -> Result<Self> {
        let mut rng = ChaCha20Rng::seed_from_u64(357);
        let now = Now::new(
            Monotonic::ZERO,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        );
        Ok(Self {
            now,
            server: Registry::new(RegistryConfig::default(), &mut rng),
            push: AppServer::new(PUSH.parse::<Jid>()?, AppServerConfig::default()),
            rng,
            account: JULIET.parse()?,
            node: String::new(),
        })
    }

    fn stanza(&self, xml: &str) -> Result<Element> {
        Ok(xml.parse()?)
    }

    fn advance(&mut self, d: Duration) {
        self.now = self.now.advance(d);
        self.server.handle_timeout(self.now);
    }

    /// The phone sends an iq; routing stamps its full JID as `from`.
    fn phone_sends(&mut self, mut iq: Element) -> Result {
        wire(true, C2S, &iq);
        iq.set_attr(Namespace::NONE, xml_ncname!("from").to_owned(), PHONE);
        let _ = self.server.handle_stanza(self.now, &iq);
        Ok(())
    }

    /// Delivers everything each side wrote until nobody has anything left, printing events.
    fn pump(&mut self) -> Result {
        loop {
            let mut moved = false;
            while let Some(t) = self.server.poll_transmit() {
                moved = true;
                match t {
                    Transmit::Publish(p) => {
                        let el = p.to_element();
                        wire(true, S2P, &el);
                        if let Err(e) = self.push.handle_stanza(self.now, &el) {
                            say(&format!("  [push] refused: {e}"));
                        }
                    }
                    other => wire(true, S2C, &other.into_element()),
                }
            }
            while let Some(t) = self.push.poll_transmit() {
                moved = true;
                wire(true, P2S, &t.element);
                let _ = self.server.handle_stanza(self.now, &t.element);
            }
            while let Some(e) = self.push.poll_event() {
                if let AppEvent::Notification(n) = e {
                    let s = n.summary.unwrap_or_default();
                    say(&format!(
                        "  [push] notification for {:?} from {}: {} message(s), body {:?}: \
                         wake the phone through its platform's push channel",
                        n.owner,
                        n.publisher,
                        s.message_count.unwrap_or(0),
                        s.last_message_body.as_deref().unwrap_or("-")
                    ));
                }
            }
            while let Some(e) = self.server.poll_event() {
                report(&e);
            }
            if !moved {
                return Ok(());
            }
        }
    }
}

fn report(e: &Event) {
    let text = match e {
        Event::Enabled { node, replaced, .. } => {
            format!(
                "push enabled for {node}{}",
                if *replaced { " (options replaced)" } else { "" }
            )
        }
        Event::Delivered { attempts, .. } => format!("publish accepted after {attempts} send(s)"),
        Event::PublishFailed {
            error, consecutive, ..
        } => format!(
            "publish refused ({:?}), {consecutive} error(s) in a row",
            error.defined_condition
        ),
        Event::HibernationDeadline { session, .. } => {
            format!("first push for {session}: its own 5-minute timeout runs from now")
        }
        Event::Disabled { node, reason, .. } => match reason {
            DisableReason::Service => format!("{node} disabled by the push service"),
            other => format!("{node} disabled: {other:?}"),
        },
        Event::Changed { .. } => return,
        other => format!("{other:?}"),
    };
    say(&format!("  [server] {text}"));
}
