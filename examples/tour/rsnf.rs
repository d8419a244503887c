//! XEP-0351 recipient-side PubSub notification filtering, played out in memory.
//!
//! Juliet has three devices on her server: a phone that wants Romeo's geolocation and only
//! its new items and configuration changes, a desk client that wants geolocation and tune with
//! no filter at all, and a watch that wants nothing. Each says so through the `+notify` and
//! `+events-` features of its XEP-0115 caps; the server's caps cache asks each distinct caps
//! set once (`server ---> phone` lines are the disco#info queries, `server <--- phone` the
//! answers). Then Romeo's server, which sees that Juliet's speaks XEP-0351, sends every
//! notification unfiltered to her bare JID, and her server decides which devices get each.
//!
//! Each scene is one function taking the [`World`]; to add one, write
//! `fn my_scene(w: &mut World) -> Result` (start it with [`scene`]) and call it from [`run`].

use std::time::{Duration, SystemTime};

use xmpp_tether::jid::Jid;
use xmpp_tether::minidom::Element;
use xmpp_tether::rsnf::{
    CapsCache, CapsEvent, CapsInfo, CapsState, Delivery, EventSet, EventToken, Filter, Handled,
    NS_RSF, Notification, Policy, Query, Resource, Sender, SenderConfig, caps_for,
};
use xmpp_tether::xmpp_parsers::caps::Caps;
use xmpp_tether::xmpp_parsers::disco::{DiscoInfoResult, Identity};
use xmpp_tether::xmpp_parsers::hashes::Algo;
use xmpp_tether::xmpp_parsers::iq::Iq;
use xmpp_tether::{Monotonic, Now};

use crate::story::{Result, say, scene, stanza};

const GEOLOC: &str = "http://jabber.org/protocol/geoloc";
const TUNE: &str = "http://jabber.org/protocol/tune";
const APP: &str = "https://tether.example/tour";
/// Romeo's server's notifications, as they reach Juliet's server over s2s.
const GEOLOC_ITEM: &str = "<message xmlns='jabber:server' from='romeo@montague.example' \
    to='juliet@capulet.example' type='headline'><event \
    xmlns='http://jabber.org/protocol/pubsub#event'><items \
    node='http://jabber.org/protocol/geoloc'><item id='verona'><geoloc \
    xmlns='http://jabber.org/protocol/geoloc'><locality>Verona</locality></geoloc></item>\
    </items></event></message>";
const GEOLOC_RETRACT: &str = "<message xmlns='jabber:server' from='romeo@montague.example' \
    to='juliet@capulet.example' type='headline'><event \
    xmlns='http://jabber.org/protocol/pubsub#event'><items \
    node='http://jabber.org/protocol/geoloc'><retract id='verona'/></items></event></message>";
const TUNE_ITEM: &str = "<message xmlns='jabber:server' from='romeo@montague.example' \
    to='juliet@capulet.example' type='headline'><event \
    xmlns='http://jabber.org/protocol/pubsub#event'><items \
    node='http://jabber.org/protocol/tune'><item id='t1'><tune \
    xmlns='http://jabber.org/protocol/tune'><title>Greensleeves</title></tune></item>\
    </items></event></message>";

pub(crate) fn run() -> Result {
    let mut w = World::new()?;
    advertise(&mut w)?;
    fan_out(&mut w)?;
    sender_side()
}

/// One of Juliet's devices, as her server keeps it.
struct Device {
    name: &'static str,
    jid: Jid,
    priority: i8,
    /// What the device wants, and the disco#info it answers with.
    disco: DiscoInfoResult,
    caps: Caps,
    /// What the server knows of its caps.
    state: CapsState,
}

struct World {
    now: Now,
    cache: CapsCache,
    devices: Vec<Device>,
}

impl World {
    fn new() -> Result<Self> {
        say(
            "XEP-0351 moves PubSub notification filtering to the recipient's server. Juliet's \
             devices tell her server what they want through their caps; her server's \
             xmpp-rsnf cache resolves each distinct caps set once, and its policy picks the \
             devices that get each notification.",
        );
        let phone = Filter::new()
            .with_notify(GEOLOC)
            .with_events(GEOLOC, EventSet::new().with(EventToken::Config));
        let desk = Filter::new().with_notify(GEOLOC).with_notify(TUNE);
        let watch = Filter::new();
        let devices = vec![
            device("phone", 5, &phone)?,
            device("desk", 1, &desk)?,
            device("watch", 0, &watch)?,
            device("tablet", 0, &phone)?,
        ];
        Ok(Self {
            now: Now::new(
                Monotonic::ZERO,
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            ),
            cache: CapsCache::default(),
            devices,
        })
    }

    /// The drain contract: write every query (each device answers at once), feed each answer
    /// back, and update the devices from the events.
    fn pump(&mut self) -> Result {
        while let Some(query) = self.cache.poll_transmit() {
            let iq = query.to_element();
            let name = self.name_of(&query.to);
            println!("  server ---> {name:<6} {}", String::from(&iq));
            let answer = self.answer(&query)?;
            println!("  server <--- {name:<6} {}", String::from(&answer));
            if self.cache.handle_iq(self.now, &answer) != Handled::Ours {
                return Err("the answer should be the cache's".into());
            }
            while let Some(event) = self.cache.poll_event() {
                self.apply(event);
            }
        }
        Ok(())
    }

    fn answer(&self, query: &Query) -> Result<Element> {
        let device = self
            .devices
            .iter()
            .find(|d| d.jid == query.to)
            .ok_or("a query to a device we know")?;
        let mut disco = device.disco.clone();
        disco.node = Some(query.node.clone());
        Ok(Iq::from_result(query.id.clone(), Some(disco))
            .with_from(device.jid.clone())
            .into())
    }

    fn apply(&mut self, event: CapsEvent) {
        match event {
            CapsEvent::Resolved { jids, info } => {
                let names: Vec<&str> = jids.iter().map(|j| self.name_of(j)).collect();
                say(&format!(
                    "  [cache] verified; now known for {}: {}",
                    names.join(", "),
                    describe(&info)
                ));
                for device in &mut self.devices {
                    if jids.contains(&device.jid) {
                        device.state = CapsState::Known(info.clone());
                    }
                }
            }
            other => say(&format!("  [cache] {other:?}")),
        }
    }

    fn name_of(&self, jid: &Jid) -> &'static str {
        self.devices
            .iter()
            .find(|d| d.jid == *jid)
            .map_or("?", |d| d.name)
    }
}

/// A device whose caps advertise `wants`.
fn device(name: &'static str, priority: i8, wants: &Filter) -> Result<Device> {
    let mut features: Vec<String> = wants.features();
    features.push("http://jabber.org/protocol/caps".into());
    features.push("http://jabber.org/protocol/disco#info".into());
    let disco = DiscoInfoResult {
        node: None,
        identities: vec![Identity {
            category: "client".into(),
            type_: "phone".into(),
            lang: None,
            name: None,
        }],
        features: features.into_iter().collect(),
        extensions: Vec::new(),
    };
    let caps = caps_for(APP, &disco, Algo::Sha_1).ok_or("sha-1 caps")?;
    Ok(Device {
        name,
        jid: format!("juliet@capulet.example/{name}").parse()?,
        priority,
        disco,
        caps,
        state: CapsState::Unknown,
    })
}

fn describe(info: &CapsInfo) -> String {
    let features = info.features();
    if features.is_empty() {
        "no notifications".into()
    } else {
        features.join(", ")
    }
}

fn advertise(w: &mut World) -> Result {
    scene("Caps that say which notifications a device wants");
    say(
        "The phone wants new geolocation items and configuration changes only \
         (geoloc+notify, geoloc+events-config); the desk wants geolocation and tune, \
         unfiltered (+notify alone); the watch wants nothing; the tablet runs the phone's app. \
         Each device's presence carries its XEP-0115 caps: a hash of its disco features.",
    );
    for i in 0..w.devices.len() {
        let (name, jid, caps) = {
            let d = &w.devices[i];
            (d.name, d.jid.clone(), d.caps.clone())
        };
        say(&format!(
            "The {name}'s presence arrives with caps ver {}.",
            xmpp_tether::rsnf::CapsKey::of(&caps).ver_base64()
        ));
        let state = w.cache.handle_caps(w.now, &jid, &caps);
        match &state {
            CapsState::Known(info) => say(&format!(
                "  [cache] already verified, no query: {}",
                describe(info)
            )),
            CapsState::Resolving => say("  [cache] unknown caps: one disco#info query"),
            _ => say(&format!("  [cache] {state:?}")),
        }
        w.devices[i].state = state;
        w.pump()?;
    }
    say(&format!(
        "Four devices, three distinct caps sets, three queries: the tablet shares the phone's \
         verified entry. The cache holds {} entries.",
        w.cache.len()
    ));
    Ok(())
}

fn fan_out(w: &mut World) -> Result {
    scene("Romeo publishes; Juliet's server decides which devices get each notification");
    let policy = Policy::default();
    for (what, xml) in [
        ("a new geolocation item", GEOLOC_ITEM),
        ("the retraction of that item", GEOLOC_RETRACT),
        ("a new tune", TUNE_ITEM),
    ] {
        let message = stanza(xml)?;
        let notification = Notification::classify(&message)?.ok_or("a notification")?;
        let to = policy.recipients(
            &notification,
            w.devices
                .iter()
                .map(|d| Resource::new(d.name, &d.state).with_priority(d.priority)),
        );
        say(&format!(
            "Romeo's server sends {what} to juliet@capulet.example ({:?} on node {}). It goes \
             to: {}.",
            notification.kind(),
            notification.node(),
            if to.is_empty() {
                "nobody".to_owned()
            } else {
                to.join(", ")
            }
        ));
    }
    say(
        "The retraction reached only the desk: the phone and tablet listed config, not \
         retract, and XEP-0351 drops what is not listed. New items come with +notify.",
    );
    say(
        "The tablet now goes idle with a negative priority: a notification to the bare JID \
         skips it (RFC 6121), though its caps still want geolocation.",
    );
    let message = stanza(GEOLOC_ITEM)?;
    let notification = Notification::classify(&message)?.ok_or("a notification")?;
    let to = policy.recipients(
        &notification,
        w.devices.iter().map(|d| {
            let priority = if d.name == "tablet" { -1 } else { d.priority };
            Resource::new(d.name, &d.state).with_priority(priority)
        }),
    );
    say(&format!(
        "  The next geolocation item goes to: {}.",
        to.join(", ")
    ));
    Ok(())
}

fn sender_side() -> Result {
    scene("The sender's side: filter here, or let the recipient's server do it?");
    let rsf = CapsInfo::from_features([NS_RSF, "http://jabber.org/protocol/disco#info"]);
    let plain = CapsInfo::from_features(["http://jabber.org/protocol/disco#info"]);
    let sender = Sender::new(SenderConfig::default().with_legacy_domain("liar.example"));
    for (peer, caps, story) in [
        ("capulet.example", Some(&rsf), "advertises urn:xmpp:rsf:0"),
        (
            "old.example",
            Some(&plain),
            "does not advertise urn:xmpp:rsf:0",
        ),
        (
            "quiet.example",
            None,
            "sends no caps in its stream features",
        ),
        (
            "liar.example",
            Some(&rsf),
            "advertises urn:xmpp:rsf:0 but is known not to filter",
        ),
    ] {
        let mode = match sender.delivery(peer, caps) {
            Delivery::Rsf => "RSF: every notification to the bare JID, unfiltered",
            Delivery::Legacy => "legacy: filtered here, per remote resource's +notify",
            _ => "?",
        };
        say(&format!("  {peer} {story}: {mode}."));
    }
    say(
        "The mode is decided afresh on every stream, from that stream's features. Read on in \
         crates/rsnf/README.md and `cargo doc -p xmpp-rsnf --open`.",
    );
    Ok(())
}
