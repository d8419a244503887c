//! Real server, as the reference for the legacy rule: Debian's Prosody (mod_pep) with several
//! slixmpp clients, one account with eight resources advertising different `+notify` sets
//! through XEP-0115 caps (one with an XEP-0351 `+events-` list, one with a negative priority,
//! one with caps naming no node, one without caps, one that goes unavailable) and a second
//! account publishing. Items are published, retracted and purged and a node deleted, on the
//! publisher's PEP service and on the recipients' own; the test records which resources
//! Prosody delivered each event to.
//!
//! Our side gets the same caps (the caps and disco#info each slixmpp client advertises,
//! verified by our `CapsCache`) and the same events (each notification Prosody delivered,
//! classified from its XML), and for every event:
//! - `Policy::legacy()` (XEP-0060 §9.2, what Prosody implements) picks exactly the resources
//!   Prosody delivered it to;
//! - `Policy::default()` (XEP-0351) picks the same, except where the two rules differ by
//!   design: the negative-priority resource (RFC 6121 §8.5.2.1.1 for a message to the bare
//!   JID) and the resource whose `+events-config` list does not name the event's kind.
//!
//! Prosody and the slixmpp venv are installed by `./scripts/setup-peers.sh`; when this test
//! runs and either is missing, it fails: it never skips.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use jid::Jid;
use minidom::Element;
use xmpp_parsers::caps::Caps;
use xmpp_parsers::hashes::{Algo, Hash};
use xmpp_tether::rsnf::{
    CapsCache, CapsEvent, CapsKey, CapsState, EventKind, Handled, Notification, Policy, Resource,
};
use xmpp_tether::{Monotonic, Now};
use xmpp_tether_testkit::prosody::{DOMAIN, Prosody, ProsodyOptions};
use xmpp_tether_testkit::slixmpp::Script;

/// Bound on every single wait; the script itself gives up after 90 s.
const T: Duration = Duration::from_secs(20);
const GEOLOC: &str = "http://jabber.org/protocol/geoloc";
const TUNE: &str = "http://jabber.org/protocol/tune";
const MOOD: &str = "http://jabber.org/protocol/mood";
const NOBODY: &str = "urn:tether:test:nobody";

struct Client {
    name: &'static str,
    user: &'static str,
    features: Vec<String>,
    caps: bool,
    priority: i8,
    publisher: bool,
}

fn recipient(name: &'static str, priority: i8, notify: &[&str], extra: &[&str]) -> Client {
    let mut features: Vec<String> = notify.iter().map(|n| format!("{n}+notify")).collect();
    features.extend(extra.iter().map(|f| (*f).to_owned()));
    // A feature of its own, so that every resource advertises a distinct ver and Prosody
    // asks each one (which is what the start-up waits for).
    features.push(format!("urn:tether:test:{name}"));
    Client {
        name,
        user: "juliet",
        features,
        caps: true,
        priority,
        publisher: false,
    }
}

fn clients() -> Vec<Client> {
    vec![
        Client {
            name: "romeo",
            user: "romeo",
            features: Vec::new(),
            caps: false,
            priority: 0,
            publisher: true,
        },
        recipient("all", 5, &[GEOLOC, TUNE, MOOD], &[]),
        recipient("geo", 0, &[GEOLOC], &[]),
        recipient("tune", 1, &[TUNE], &[]),
        recipient(
            "events",
            2,
            &[GEOLOC],
            &[&format!("{GEOLOC}+events-config")],
        ),
        recipient("away", -1, &[GEOLOC, TUNE], &[]),
        recipient("none", 1, &[], &[]),
        Client {
            caps: false,
            ..recipient("nocaps", 1, &[], &[])
        },
        recipient("later", 0, &[GEOLOC], &[]),
    ]
}

fn spec_json(clients: &[Client]) -> String {
    let items: Vec<String> = clients
        .iter()
        .map(|c| {
            let features: Vec<String> = c.features.iter().map(|f| format!("{f:?}")).collect();
            format!(
                "{{\"name\":{:?},\"jid\":\"{}@{DOMAIN}/{}\",\"password\":\"{}-pass\",\
                 \"features\":[{}],\"caps\":{},\"priority\":{},\"role\":\"{}\"}}",
                c.name,
                c.user,
                c.name,
                c.user,
                features.join(","),
                c.caps,
                c.priority,
                if c.publisher {
                    "publisher"
                } else {
                    "recipient"
                }
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// One step of the scenario: the command, and the notification it should produce.
struct Step {
    command: String,
    publisher: &'static str,
    expected: Notification,
    item: Option<String>,
}

fn step(command: &str, publisher: &'static str, node: &str, kind: EventKind) -> Step {
    let item = command
        .split_whitespace()
        .nth(3)
        .map(str::to_owned)
        .filter(|_| matches!(kind, EventKind::Publish | EventKind::Retract));
    let mut expected = Notification::new(node, kind.clone());
    if kind == EventKind::Publish {
        expected = expected.with_payload_ns(node);
    }
    Step {
        command: command.to_owned(),
        publisher,
        expected,
        item,
    }
}

fn steps() -> Vec<Step> {
    use EventKind::{Delete, Publish, Purge, Retract};
    vec![
        step(
            &format!("publish romeo {GEOLOC} g1"),
            "romeo",
            GEOLOC,
            Publish,
        ),
        step(&format!("publish romeo {TUNE} t1"), "romeo", TUNE, Publish),
        step(&format!("publish romeo {MOOD} m1"), "romeo", MOOD, Publish),
        step(
            &format!("retract romeo {GEOLOC} g1"),
            "romeo",
            GEOLOC,
            Retract,
        ),
        step(
            &format!("publish romeo {GEOLOC} g2"),
            "romeo",
            GEOLOC,
            Publish,
        ),
        step(&format!("purge romeo {GEOLOC}"), "romeo", GEOLOC, Purge),
        step(&format!("delete romeo {TUNE}"), "romeo", TUNE, Delete),
        // On the recipients' own PEP service: Prosody notifies their own resources.
        step(
            &format!("publish all {GEOLOC} j1"),
            "juliet",
            GEOLOC,
            Publish,
        ),
        // After "later" goes unavailable (see UNAVAILABLE_BEFORE).
        step(
            &format!("publish romeo {GEOLOC} g3"),
            "romeo",
            GEOLOC,
            Publish,
        ),
        step(
            &format!("publish romeo {NOBODY} n1"),
            "romeo",
            NOBODY,
            Publish,
        ),
    ]
}

/// "later" sends unavailable presence before this step.
const UNAVAILABLE_BEFORE: usize = 8;

/// What identifies an event: the publishing account, the notification, the item id.
type Key = (String, Notification, Option<String>);

fn unhex(hex: &str) -> String {
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes).expect("the script prints UTF-8")
}

fn item_id(message: &Element) -> Option<String> {
    let event = message.get_child("event", "http://jabber.org/protocol/pubsub#event")?;
    let items = event.get_child("items", "http://jabber.org/protocol/pubsub#event")?;
    items
        .children()
        .find_map(|c| c.attr("id").map(str::to_owned))
}

fn now() -> Now {
    Now::new(Monotonic::ZERO, SystemTime::UNIX_EPOCH)
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn prosody_pep_delivers_what_our_decision_picks() {
    let clients = clients();
    let prosody = Prosody::start(&ProsodyOptions {
        extra_config: "-- mod_pep for PEP notifications, on top of the launcher's list.\n\
            modules_enabled = { \"roster\", \"saslauth\", \"disco\", \"ping\", \"smacks\", \"pep\" }"
            .into(),
        ..ProsodyOptions::default()
            .account("juliet", "juliet-pass")
            .account("romeo", "romeo-pass")
    })
    .unwrap_or_else(|e| panic!("starting prosody (run ./scripts/setup-peers.sh): {e}"));
    let addr = prosody.c2s_addr();
    let args = [
        addr.ip().to_string(),
        addr.port().to_string(),
        spec_json(&clients),
    ];
    let mut script = Script::spawn("rsnf/pep_peer.py", &args)
        .unwrap_or_else(|e| panic!("starting the slixmpp clients: {e}"));
    let fail = |what: &str, script: &Script| -> ! {
        panic!("{what}\n{}\n{}", script.transcript(), prosody.log_tail(60))
    };
    if let Err(e) = script.expect_line("READY", T) {
        fail(&format!("start-up: {e}"), &script);
    }

    // Our side: the same caps, through our cache.
    let mut cache = CapsCache::default();
    let mut states: BTreeMap<&str, CapsState> = BTreeMap::new();
    for line in script.seen().to_vec() {
        let Some(rest) = line.strip_prefix("CAPS ") else {
            continue;
        };
        let [name, hash, node, ver, disco] = rest.split(' ').collect::<Vec<_>>()[..] else {
            fail(&format!("bad CAPS line {line:?}"), &script);
        };
        let name = clients
            .iter()
            .map(|c| c.name)
            .find(|n| *n == name)
            .unwrap_or_else(|| fail(&format!("unknown client {name}"), &script));
        let jid: Jid = format!("juliet@{DOMAIN}/{name}").parse().expect("a JID");
        let algo: Algo = hash.parse().expect("a hash algorithm");
        let caps = Caps::new(node, Hash::from_base64(algo, ver).expect("a base64 ver"));
        assert_eq!(cache.handle_caps(now(), &jid, &caps), CapsState::Resolving);
        let query = cache.poll_transmit().expect("one query per distinct ver");
        let mut answer = Element::builder("iq", "jabber:client")
            .attr("type".try_into().expect("a name"), "result")
            .attr("id".try_into().expect("a name"), query.id.clone())
            .attr("from".try_into().expect("a name"), jid.to_string())
            .build();
        answer.append_child(unhex(disco).parse().expect("the disco#info XML parses"));
        assert_eq!(cache.handle_iq(now(), &answer), Handled::Ours);
        match cache.poll_event() {
            Some(CapsEvent::Resolved { info, .. }) => {
                states.insert(name, CapsState::Known(info));
            }
            other => fail(
                &format!(
                    "slixmpp's caps for {name} did not verify ({:?}): {other:?}",
                    CapsKey::of(&caps)
                ),
                &script,
            ),
        }
    }
    let caps_count = clients.iter().filter(|c| c.caps).count();
    assert_eq!(
        states.len(),
        caps_count,
        "every caps'd client printed its caps"
    );
    states.insert("nocaps", CapsState::Unknown);

    // The scenario.
    let steps = steps();
    for (i, step) in steps.iter().enumerate() {
        if i == UNAVAILABLE_BEFORE {
            script.send_line("unavailable later").expect("stdin");
            if let Err(e) = script.expect_line("DONE", T) {
                fail(&format!("unavailable: {e}"), &script);
            }
        }
        script.send_line(&step.command).expect("stdin");
        if let Err(e) = script.expect_line("DONE", T) {
            fail(&format!("{}: {e}", step.command), &script);
        }
        script.send_line(&format!("sync {i}")).expect("stdin");
        if let Err(e) = script.expect_line(&format!("SYNCED {i}"), T) {
            fail(&format!("sync after {}: {e}", step.command), &script);
        }
    }
    script.send_line("quit").expect("stdin");
    if let Err(e) = script.finish(T) {
        fail(&format!("the clients did not exit cleanly: {e}"), &script);
    }

    // What Prosody delivered, event by event.
    let mut delivered: HashMap<Key, BTreeSet<String>> = HashMap::new();
    for line in script.seen() {
        let Some(rest) = line.strip_prefix("EVENT ") else {
            continue;
        };
        let (name, xml) = rest.split_once(' ').expect("EVENT NAME HEX");
        let xml = unhex(xml);
        let message: Element = xml
            .parse()
            .unwrap_or_else(|e| panic!("Prosody's message does not parse ({e}): {xml}"));
        let notification = Notification::classify(&message)
            .expect("Prosody's notification classifies")
            .expect("a notification");
        let from = message.attr("from").unwrap_or_default();
        let publisher = from.split('@').next().unwrap_or_default().to_owned();
        let key = (publisher, notification, item_id(&message));
        let fresh = delivered.entry(key).or_default().insert(name.to_owned());
        assert!(fresh, "{name} got the same event twice: {line}");
    }
    let keys: HashSet<Key> = steps
        .iter()
        .map(|s| (s.publisher.to_owned(), s.expected.clone(), s.item.clone()))
        .collect();
    for key in delivered.keys() {
        assert!(
            keys.contains(key),
            "Prosody delivered an event no step made: {key:?}"
        );
    }

    // Our decisions, step by step.
    let recipients: Vec<&Client> = clients.iter().filter(|c| !c.publisher).collect();
    for (i, step) in steps.iter().enumerate() {
        let key = (
            step.publisher.to_owned(),
            step.expected.clone(),
            step.item.clone(),
        );
        let prosody_set: Vec<&str> = delivered
            .get(&key)
            .map(|s| s.iter().map(String::as_str).collect())
            .unwrap_or_default();
        let resources = || {
            recipients.iter().map(|c| {
                Resource::new(c.name, &states[c.name])
                    .with_priority(c.priority)
                    .with_available(!(c.name == "later" && i >= UNAVAILABLE_BEFORE))
            })
        };
        println!("{:<55} Prosody delivered to {prosody_set:?}", step.command);
        let mut legacy = Policy::legacy().recipients(&step.expected, resources());
        legacy.sort_unstable();
        assert_eq!(
            legacy, prosody_set,
            "{}: Policy::legacy() against what Prosody delivered",
            step.command
        );
        let mut ours = Policy::default().recipients(&step.expected, resources());
        ours.sort_unstable();
        let differs_by_design = |name: &str| {
            name == "away" || (name == "events" && *step.expected.kind() != EventKind::Publish)
        };
        let expected: Vec<&str> = prosody_set
            .iter()
            .copied()
            .filter(|n| !differs_by_design(n))
            .collect();
        assert_eq!(
            ours, expected,
            "{}: Policy::default() against Prosody, but for the documented differences",
            step.command
        );
    }

    // The scenario exercised what it claims to.
    let first = (
        "romeo".to_owned(),
        steps[0].expected.clone(),
        steps[0].item.clone(),
    );
    assert_eq!(
        delivered.get(&first).map(BTreeSet::len),
        Some(5),
        "g1 reached all, geo, events, away, later"
    );
    let nobody = &steps[steps.len() - 1];
    assert!(!delivered.contains_key(&(
        "romeo".to_owned(),
        nobody.expected.clone(),
        nobody.item.clone()
    )));
}
