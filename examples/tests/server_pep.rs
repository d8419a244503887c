//! The example server's PEP (`examples/server/pep.rs`) against the Prosody reference scenario
//! of `tests/rsnf_prosody.rs`: the same slixmpp clients (`tests/peers/rsnf/pep_peer.py`), the
//! same caps, the same events, run once against Prosody 0.12's mod_pep and once against the
//! example server, and the deliveries compared event by event.
//!
//! One account (juliet) has eight resources advertising different `+notify` sets through
//! XEP-0115 caps (one with an XEP-0351 `+events-config` list, one with a negative priority,
//! one whose caps name no node, one without caps, one that goes unavailable); a second
//! account (romeo) publishes, retracts, purges and deletes on its PEP service, and juliet
//! publishes on her own.
//!
//! - Prosody delivers what `Policy::legacy()` (XEP-0060 §9.2) picks over the caps, as in the
//!   reference test.
//! - The example server delivers what its policy picks over the same caps, resolved through
//!   its own `CapsCache` from the clients' presences: xmpp-rsnf's XEP-0351 rule,
//!   `Policy::default()`, towards a contact's resources, and the same with every priority
//!   eligible towards the owner's own.
//! - So it delivers what Prosody delivered, but for the differences by design: the resource
//!   whose `+events-config` list for geoloc does not name retractions or purges gets the
//!   geoloc publishes only (XEP-0351), and the negative-priority resource gets nothing from
//!   its contact romeo (XEP-0163 "Number of Notifications": non-negative priorities), though
//!   it gets its own account's event.
//!
//! The service's own behaviour (XEP-0060 requests, the last published item, a restart, and
//! resources whose presence or caps change between two notifications) is checked with the
//! testkit's client.
//!
//! Prosody and the slixmpp venv are installed by `./scripts/setup-peers.sh`; when this test
//! runs and either is missing, it fails: it never skips.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use jid::Jid;
use minidom::Element;
use xmpp_parsers::caps::Caps;
use xmpp_parsers::hashes::{Algo, Hash};
use xmpp_tether::rsnf::{
    CapsCache, CapsEvent, CapsState, EventKind, Handled, Notification, Policy, PriorityRule,
    Resource,
};
use xmpp_tether::{Monotonic, Now};
use xmpp_tether_testkit::example_server::{ExampleServer, ServerOptions};
use xmpp_tether_testkit::prosody::{DOMAIN, Prosody, ProsodyOptions};
use xmpp_tether_testkit::slixmpp::Script;

mod pep_common;
use pep_common::{
    DISCO_INFO, Device, PUBSUB, PUBSUB_EVENT, error, events, ids, is_event, items, publish,
    romeo_subscribes_to_juliet,
};

/// Bound on every single wait; the script itself gives up after 90 s.
const T: Duration = Duration::from_secs(20);
const GEOLOC: &str = "http://jabber.org/protocol/geoloc";
const TUNE: &str = "http://jabber.org/protocol/tune";
const MOOD: &str = "http://jabber.org/protocol/mood";
const NOBODY: &str = "urn:tether:test:nobody";
/// "later" sends unavailable presence before this step.
const UNAVAILABLE_BEFORE: usize = 8;

/// One client of the scenario: (name, account, features, caps, priority, publisher).
struct Client {
    name: &'static str,
    user: &'static str,
    features: Vec<String>,
    caps: bool,
    priority: i8,
    publisher: bool,
}

fn recipient(name: &'static str, priority: i8, notify: &[&str], extra: &[String]) -> Client {
    let mut features: Vec<String> = notify.iter().map(|n| format!("{n}+notify")).collect();
    features.extend(extra.iter().cloned());
    // A feature of its own: every resource advertises a distinct ver and is asked.
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

/// The reference test's clients, exactly.
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
        recipient("events", 2, &[GEOLOC], &[format!("{GEOLOC}+events-config")]),
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
            let role = if c.publisher {
                "publisher"
            } else {
                "recipient"
            };
            format!(
                "{{\"name\":{:?},\"jid\":\"{}@{DOMAIN}/{}\",\"password\":\"{}-pass\",\
                 \"features\":[{}],\"caps\":{},\"priority\":{},\"role\":\"{role}\"}}",
                c.name,
                c.user,
                c.name,
                c.user,
                features.join(","),
                c.caps,
                c.priority,
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// One step: the command, who publishes, the notification it makes and its item id.
struct Step {
    command: String,
    publisher: &'static str,
    expected: Notification,
    item: Option<String>,
}

fn step(command: String, publisher: &'static str, node: &str, kind: EventKind) -> Step {
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
        command,
        publisher,
        expected,
        item,
    }
}

/// The reference test's steps, exactly.
fn steps() -> Vec<Step> {
    use EventKind::{Delete, Publish, Purge, Retract};
    vec![
        step(
            format!("publish romeo {GEOLOC} g1"),
            "romeo",
            GEOLOC,
            Publish,
        ),
        step(format!("publish romeo {TUNE} t1"), "romeo", TUNE, Publish),
        step(format!("publish romeo {MOOD} m1"), "romeo", MOOD, Publish),
        step(
            format!("retract romeo {GEOLOC} g1"),
            "romeo",
            GEOLOC,
            Retract,
        ),
        step(
            format!("publish romeo {GEOLOC} g2"),
            "romeo",
            GEOLOC,
            Publish,
        ),
        step(format!("purge romeo {GEOLOC}"), "romeo", GEOLOC, Purge),
        step(format!("delete romeo {TUNE}"), "romeo", TUNE, Delete),
        step(
            format!("publish all {GEOLOC} j1"),
            "juliet",
            GEOLOC,
            Publish,
        ),
        step(
            format!("publish romeo {GEOLOC} g3"),
            "romeo",
            GEOLOC,
            Publish,
        ),
        step(
            format!("publish romeo {NOBODY} n1"),
            "romeo",
            NOBODY,
            Publish,
        ),
    ]
}

/// What identifies an event: the publishing account, the notification, the item id.
type Key = (String, Notification, Option<String>);

/// One run of the scenario against a server.
struct Run {
    /// Each caps'd client's caps, resolved through our `CapsCache` from its CAPS line.
    caps: BTreeMap<String, CapsState>,
    /// Who got each event.
    delivered: HashMap<Key, BTreeSet<String>>,
}

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

/// Runs the scenario against the server at `addr`; `context` is its log, for failures.
fn run(addr: std::net::SocketAddr, context: &dyn Fn() -> String) -> Run {
    let clients = clients();
    let args = [
        addr.ip().to_string(),
        addr.port().to_string(),
        spec_json(&clients),
    ];
    let mut script = Script::spawn("rsnf/pep_peer.py", &args)
        .unwrap_or_else(|e| panic!("starting the slixmpp clients: {e}"));
    let fail = |what: &str, script: &Script| -> ! {
        panic!("{what}\n{}\n{}", script.transcript(), context())
    };
    if let Err(e) = script.expect_line("READY", T) {
        fail(&format!("start-up: {e}"), &script);
    }
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
    if let Some(error) = script.seen().iter().find(|l| l.starts_with("ERROR ")) {
        fail(&format!("a command failed: {error}"), &script);
    }

    let mut cache = CapsCache::default();
    let mut caps = BTreeMap::new();
    let mut delivered: HashMap<Key, BTreeSet<String>> = HashMap::new();
    for line in script.seen() {
        if let Some(rest) = line.strip_prefix("CAPS ") {
            let [name, hash, node, ver, disco] = rest.split(' ').collect::<Vec<_>>()[..] else {
                fail(&format!("bad CAPS line {line:?}"), &script);
            };
            let jid: Jid = format!("juliet@{DOMAIN}/{name}").parse().expect("a JID");
            let algo: Algo = hash.parse().expect("a hash algorithm");
            let advertised = Caps::new(node, Hash::from_base64(algo, ver).expect("a base64 ver"));
            assert_eq!(
                cache.handle_caps(now(), &jid, &advertised),
                CapsState::Resolving
            );
            let query = cache.poll_transmit().expect("one query per distinct ver");
            let mut answer = Element::builder("iq", "jabber:client")
                .attr("type".try_into().expect("a name"), "result")
                .attr("id".try_into().expect("a name"), query.id.clone())
                .attr("from".try_into().expect("a name"), jid.to_string())
                .build();
            answer.append_child(unhex(disco).parse().expect("the disco#info XML parses"));
            assert_eq!(cache.handle_iq(now(), &answer), Handled::Ours);
            let Some(CapsEvent::Resolved { info, .. }) = cache.poll_event() else {
                fail(&format!("{name}'s caps did not verify"), &script);
            };
            caps.insert(name.to_owned(), CapsState::Known(info));
        } else if let Some(rest) = line.strip_prefix("EVENT ") {
            let (name, xml) = rest.split_once(' ').expect("EVENT NAME HEX");
            let message: Element = unhex(xml).parse().expect("the notification parses");
            let notification = Notification::classify(&message)
                .expect("the notification classifies")
                .expect("a notification");
            assert_eq!(message.attr("type"), Some("headline"), "{line}");
            let from = message.attr("from").unwrap_or_default();
            let publisher = from.split('@').next().unwrap_or_default().to_owned();
            assert_eq!(
                from,
                format!("{publisher}@{DOMAIN}"),
                "from the owner's bare JID"
            );
            let key = (publisher, notification, item_id(&message));
            let fresh = delivered.entry(key).or_default().insert(name.to_owned());
            assert!(fresh, "{name} got the same event twice: {line}");
        }
    }
    let with_caps = clients.iter().filter(|c| c.caps).count();
    assert_eq!(
        caps.len(),
        with_caps,
        "every caps'd client printed its caps"
    );
    caps.insert("nocaps".to_owned(), CapsState::Unknown);
    Run { caps, delivered }
}

/// What `policy` (given whether the recipient is the publisher's own resource) picks for
/// `step` (the `i`th) over a run's caps.
fn picks(policy: impl Fn(bool) -> Policy, run: &Run, i: usize, step: &Step) -> BTreeSet<String> {
    let clients = clients();
    let mut picked = BTreeSet::new();
    for own in [true, false] {
        let resources = clients
            .iter()
            .filter(|c| !c.publisher && (c.user == step.publisher) == own)
            .map(|c| {
                Resource::new(c.name, &run.caps[c.name])
                    .with_priority(c.priority)
                    .with_available(!(c.name == "later" && i >= UNAVAILABLE_BEFORE))
            });
        let to = policy(own).recipients(&step.expected, resources);
        picked.extend(to.into_iter().map(str::to_owned));
    }
    picked
}

fn key(step: &Step) -> Key {
    (
        step.publisher.to_owned(),
        step.expected.clone(),
        step.item.clone(),
    )
}

#[test]
#[ignore = "real peers: run by ./ci.sh"]
fn example_server_pep_delivers_what_prosody_does_but_where_xep_0351_and_0163_differ() {
    let prosody = Prosody::start(&ProsodyOptions {
        extra_config: "-- mod_pep for PEP notifications, on top of the launcher's list.\n\
            modules_enabled = { \"roster\", \"saslauth\", \"disco\", \"ping\", \"smacks\", \"pep\" }"
            .into(),
        ..ProsodyOptions::default()
            .account("juliet", "juliet-pass")
            .account("romeo", "romeo-pass")
    })
    .unwrap_or_else(|e| panic!("starting prosody (run ./scripts/setup-peers.sh): {e}"));
    let reference = run(prosody.c2s_addr(), &|| prosody.log_tail(60));
    drop(prosody);

    let opts = ServerOptions::default()
        .account("juliet", "juliet-pass")
        .account("romeo", "romeo-pass");
    let server =
        ExampleServer::start(&opts).unwrap_or_else(|e| panic!("starting the example server: {e}"));
    let ours = run(server.addr(), &|| server.transcript());
    drop(server);

    let steps = steps();
    for key in ours.delivered.keys() {
        assert!(
            steps.iter().any(|s| self::key(s) == *key),
            "the example server delivered an event no step made: {key:?}"
        );
    }
    // The example server's rule (examples/server/pep.rs `policy`).
    let pep_policy = |own: bool| {
        let policy = Policy::default();
        if own {
            policy.with_priority(PriorityRule::Any)
        } else {
            policy
        }
    };
    for (i, step) in steps.iter().enumerate() {
        let empty = BTreeSet::new();
        let prosody_got = reference.delivered.get(&key(step)).unwrap_or(&empty);
        let we_got = ours.delivered.get(&key(step)).unwrap_or(&empty);
        println!(
            "{:<55} Prosody {prosody_got:?}, example server {we_got:?}",
            step.command
        );
        assert_eq!(
            *prosody_got,
            picks(|_| Policy::legacy(), &reference, i, step),
            "{}: Prosody against Policy::legacy() (the reference)",
            step.command
        );
        assert_eq!(
            *we_got,
            picks(pep_policy, &ours, i, step),
            "{}: the example server against its policy over the same caps",
            step.command
        );
        // The differences by design: an +events- list names the kinds it wants; a contact's
        // resource with a negative priority gets nothing.
        let filtered = *step.expected.kind() != EventKind::Publish;
        let from_contact = step.publisher != "juliet";
        let expected: BTreeSet<String> = prosody_got
            .iter()
            .filter(|name| !(filtered && *name == "events"))
            .filter(|name| !(from_contact && *name == "away"))
            .cloned()
            .collect();
        assert_eq!(
            *we_got, expected,
            "{}: the example server against what Prosody delivered, but by design",
            step.command
        );
    }

    // The scenario exercised what it claims to, on both servers.
    let set =
        |names: &[&str]| -> BTreeSet<String> { names.iter().map(|n| (*n).to_owned()).collect() };
    let first = key(&steps[0]);
    let prosody_first = set(&["all", "away", "events", "geo", "later"]);
    assert_eq!(reference.delivered.get(&first), Some(&prosody_first));
    let ours_first = set(&["all", "events", "geo", "later"]);
    assert_eq!(ours.delivered.get(&first), Some(&ours_first));
    let retract = key(&steps[3]);
    assert!(reference.delivered[&retract].contains("events"));
    assert_eq!(
        ours.delivered.get(&retract),
        Some(&set(&["all", "geo", "later"]))
    );
    let own = key(&steps[7]);
    assert_eq!(
        ours.delivered.get(&own),
        Some(&prosody_first),
        "juliet's own event"
    );
    let nobody = key(&steps[steps.len() - 1]);
    assert!(!ours.delivered.contains_key(&nobody));
}

// The service's own behaviour, with the testkit's client (no stream management, in
// `pep_common/`): what the reference scenario does not reach.

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn pep_service_follows_xep_0060_and_keeps_its_nodes_across_a_restart() {
    let opts = ServerOptions::default()
        .account("juliet", "juliet-pass")
        .account("romeo", "romeo-pass");
    let mut server =
        ExampleServer::start(&opts).unwrap_or_else(|e| panic!("starting the example server: {e}"));
    let addr = server.addr();
    let juliet = format!("juliet@{DOMAIN}");
    let geo_notify = format!("{GEOLOC}+notify");
    let mut phone = Device::online(addr, "juliet", "phone", &[DISCO_INFO, &geo_notify]);
    let deadline = xmpp_tether_testkit::deadline_in(T);
    while phone.queries.is_empty() {
        let left = xmpp_tether_testkit::remaining(deadline).expect("the server's caps query");
        phone.read(left);
    }
    phone.settle(Duration::from_millis(200));
    assert_eq!(phone.queries.len(), 1, "the server asks the caps once");
    assert_eq!(phone.queries[0].attr("from"), Some(DOMAIN));

    // The account advertises its PEP service (XEP-0163: identity pubsub/pep).
    let info = phone.iq(
        "get",
        Some(&juliet),
        &format!("<query xmlns='{DISCO_INFO}'/>"),
    );
    let query = info.get_child("query", DISCO_INFO).expect("disco#info");
    let has = |attr: &str, value: &str| query.children().any(|c| c.attr(attr) == Some(value));
    assert!(has("type", "pep") && has("var", &format!("{PUBSUB}#publish")));

    // Publish with an id (no `to`: the account itself), then without one: the server makes it.
    let result = phone.iq("set", None, &publish(GEOLOC, Some("g1"), "here", &[]));
    assert_eq!(
        (result.attr("type"), ids(&result)),
        (Some("result"), vec!["g1".into()])
    );
    let own = phone.wait("the phone's own notification", |m| is_event(m, "publish"));
    assert_eq!(own.attr("from"), Some(juliet.as_str()));
    assert_eq!(ids(&own), ["g1"]);
    let result = phone.iq("set", Some(&juliet), &publish(GEOLOC, None, "there", &[]));
    let made = ids(&result).pop().expect("an id made by the server");
    assert!(!made.is_empty() && made != "g1");
    let own = phone.wait("the second notification", |m| is_event(m, "publish"));
    assert_eq!(ids(&own), [made.as_str()]);

    // Publish-options on an existing node are preconditions (XEP-0060 §7.1.5).
    let open = [("pubsub#access_model", "open")];
    let refused = phone.iq("set", None, &publish(GEOLOC, Some("g3"), "x", &open));
    assert_eq!(
        error(&refused),
        ("conflict".into(), Some("precondition-not-met".into()))
    );
    let unknown = [("pubsub#made_up", "1")];
    let refused = phone.iq("set", None, &publish(TUNE, Some("t1"), "x", &unknown));
    assert_eq!(
        error(&refused),
        ("conflict".into(), Some("precondition-not-met".into()))
    );

    // Romeo may neither publish on Juliet's service nor, without a subscription, read it.
    let mut desk = Device::online(addr, "romeo", "desk", &[]);
    let refused = desk.iq("set", Some(&juliet), &publish(GEOLOC, Some("r1"), "x", &[]));
    assert_eq!(error(&refused).0, "forbidden");
    let refused = desk.iq("get", Some(&juliet), &items(GEOLOC));
    assert_eq!(
        error(&refused),
        (
            "not-authorized".into(),
            Some("presence-subscription-required".into())
        )
    );

    // Juliet approves Romeo's subscription: now he reads the last item (max_items 1).
    romeo_subscribes_to_juliet(&mut desk, &mut phone);
    let got = desk.iq("get", Some(&juliet), &items(GEOLOC));
    assert_eq!(ids(&got), [made.as_str()]);
    let refused = desk.iq("get", Some(&juliet), &items(MOOD));
    assert_eq!(error(&refused).0, "item-not-found");

    // A second resource with the same caps: known from the cache without a query, and the
    // last item of the node it names arrives at once (XEP-0163's last published item).
    let mut tablet = Device::online(addr, "juliet", "tablet", &[DISCO_INFO, &geo_notify]);
    let last = tablet.wait("the last item", |m| is_event(m, "publish"));
    assert_eq!(ids(&last), [made.as_str()]);
    assert!(
        tablet.queries.is_empty(),
        "the caps were shared, not asked again"
    );

    // Retraction with notify: both resources hear of it; an unknown id is item-not-found.
    let retract = format!(
        "<pubsub xmlns='{PUBSUB}'><retract node='{GEOLOC}' notify='true'><item id='{made}'/></retract></pubsub>"
    );
    assert_eq!(phone.iq("set", None, &retract).attr("type"), Some("result"));
    for device in [&mut phone, &mut tablet] {
        let gone = device.wait("the retraction", |m| is_event(m, "retract"));
        assert_eq!(ids(&gone), [made.as_str()]);
    }
    assert_eq!(error(&phone.iq("set", None, &retract)).0, "item-not-found");

    // An open node keeping every item, for the restart.
    let open_max = [("pubsub#access_model", "open"), ("pubsub#max_items", "max")];
    for id in ["m1", "m2"] {
        let result = phone.iq("set", None, &publish(MOOD, Some(id), "happy", &open_max));
        assert_eq!(
            result.attr("type"),
            Some("result"),
            "{}",
            String::from(&result)
        );
    }
    // Romeo has no caps: he was never notified of anything.
    desk.settle(Duration::from_millis(300));
    assert!(
        !desk
            .inbox
            .iter()
            .any(|m| m.has_child("event", PUBSUB_EVENT)),
        "{:?}",
        desk.inbox
    );
    for device in [&mut phone, &mut tablet, &mut desk] {
        device.conn.close();
    }

    server
        .terminate(T)
        .unwrap_or_else(|e| panic!("stopping the example server: {e}"));
    server
        .start_again()
        .unwrap_or_else(|e| panic!("restarting the example server: {e}"));
    let mut desk = Device::online(server.addr(), "romeo", "desk", &[]);
    assert_eq!(
        ids(&desk.iq("get", Some(&juliet), &items(MOOD))),
        ["m2", "m1"]
    );
    assert!(ids(&desk.iq("get", Some(&juliet), &items(GEOLOC))).is_empty());
    // The verified caps came back too: a known caps set is not asked again.
    let mut phone = Device::online(server.addr(), "juliet", "phone", &[DISCO_INFO, &geo_notify]);
    phone.settle(Duration::from_millis(300));
    assert!(phone.queries.is_empty(), "{:?}", phone.queries);
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn a_resource_whose_presence_or_caps_change_between_two_notifications_gets_the_new_decision() {
    let opts = ServerOptions::default()
        .account("juliet", "juliet-pass")
        .account("romeo", "romeo-pass");
    let server =
        ExampleServer::start(&opts).unwrap_or_else(|e| panic!("starting the example server: {e}"));
    let (geo, tune) = (format!("{GEOLOC}+notify"), format!("{TUNE}+notify"));
    let (geo_caps, tune_caps) = ([DISCO_INFO, geo.as_str()], [DISCO_INFO, tune.as_str()]);
    // Juliet's own phone (every priority gets her events) and her contact Romeo's laptop
    // (non-negative priorities only, XEP-0163).
    let mut phone = Device::online(server.addr(), "juliet", "phone", &geo_caps);
    let mut laptop = Device::online(server.addr(), "romeo", "laptop", &geo_caps);
    romeo_subscribes_to_juliet(&mut laptop, &mut phone);
    let settle = Duration::from_millis(250);
    // Each change below is handled before the next publish: `sync` waits for a ping's answer
    // after it. Juliet publishes on `node`: what each device got (each exactly once, or not at all).
    let publish_on = |node: &str, id: &str, phone: &mut Device, laptop: &mut Device| {
        let result = phone.iq("set", None, &publish(node, Some(id), "x", &[]));
        assert_eq!(
            result.attr("type"),
            Some("result"),
            "{}",
            String::from(&result)
        );
        (events(phone, settle), events(laptop, settle))
    };
    let one = |node: &str, id: &str| vec![format!("{node} {id}")];
    let (none, geo_only) = (Vec::<String>::new, |id: &str| one(GEOLOC, id));
    assert_eq!(
        publish_on(GEOLOC, "g1", &mut phone, &mut laptop),
        (geo_only("g1"), geo_only("g1"))
    );

    // A negative priority, the caps unchanged (no <c/>): the contact's resource gets
    // nothing; the owner's, too, goes negative and still gets her own events.
    laptop.presence(-1, None);
    laptop.sync();
    assert_eq!(
        publish_on(GEOLOC, "g2", &mut phone, &mut laptop),
        (geo_only("g2"), none())
    );
    phone.presence(-1, None);
    phone.sync();
    assert_eq!(
        publish_on(GEOLOC, "g3", &mut phone, &mut laptop),
        (geo_only("g3"), none())
    );
    laptop.presence(1, None);
    laptop.sync();
    assert_eq!(
        publish_on(GEOLOC, "g4", &mut phone, &mut laptop),
        (geo_only("g4"), geo_only("g4"))
    );

    // New caps (a new ver, asked and answered): tune, no longer geoloc.
    let asked = laptop.queries.len();
    laptop.presence(1, Some(&tune_caps));
    let deadline = xmpp_tether_testkit::deadline_in(T);
    while laptop.queries.len() == asked {
        let left = xmpp_tether_testkit::remaining(deadline).expect("the new caps asked");
        laptop.read(left);
    }
    laptop.sync();
    assert_eq!(
        events(&mut laptop, settle),
        none(),
        "no tune item to send yet"
    );
    assert_eq!(
        publish_on(GEOLOC, "g5", &mut phone, &mut laptop),
        (geo_only("g5"), none())
    );
    assert_eq!(
        publish_on(TUNE, "t1", &mut phone, &mut laptop),
        (none(), one(TUNE, "t1"))
    );
    // Back to the first caps, known without a query: the last geoloc item at once (its caps
    // name the node again), then the next one.
    laptop.presence(1, Some(&geo_caps));
    laptop.sync();
    assert_eq!(events(&mut laptop, settle), geo_only("g5"));
    assert_eq!(laptop.queries.len(), asked + 1);
    assert_eq!(
        publish_on(GEOLOC, "g6", &mut phone, &mut laptop),
        (geo_only("g6"), geo_only("g6"))
    );

    // Unavailable (still connected): nothing; available again: the last item, then the next.
    laptop.send("<presence xmlns='jabber:client' type='unavailable'/>");
    laptop.sync();
    assert_eq!(
        publish_on(GEOLOC, "g7", &mut phone, &mut laptop),
        (geo_only("g7"), none())
    );
    laptop.presence(0, Some(&geo_caps));
    laptop.sync();
    assert_eq!(events(&mut laptop, settle), geo_only("g7"));
    assert_eq!(
        publish_on(GEOLOC, "g8", &mut phone, &mut laptop),
        (geo_only("g8"), geo_only("g8"))
    );
}
