//! Criterion benches for `xmpp-rsnf` (XEP-0351 recipient-side notification filtering).
//!
//! `cargo bench -p tether-benches --bench rsnf` (add `-- --warm-up-time 1 --measurement-time 3`
//! for a quicker run). One group, `fan_out`, measured in the same run as its baseline:
//! - `minidom_parse`: `minidom` parsing the notification from its bytes, what every server
//!   pays for the message anyway (the baseline);
//! - `classify`: [`Notification::classify`] on the parsed message;
//! - `table_10k`: the fan-out decision for that notification to 10,000 resources of which
//!   50 distinct caps sets are shared (each set names 24 PEP nodes, some with `+events-`
//!   lists), 90% available, a few with negative priority, through the library's
//!   [`ResourceTable`] (built once, as a server keeps it up to date with presence):
//!   decided once per distinct caps set for each notification, then per resource by one
//!   lookup in the table's dense array; the recipients' `&FullJid`s collected;
//! - `recipients_10k`: the same decision through [`Policy::recipients`] over the caller's
//!   own records (JID, availability, priority, caps), memoised per caps set by address;
//! - `walk_10k`: the floor of a fan-out over the caller's records, collecting the JIDs of
//!   the eligible resources with no caps decision;
//! - `recipients_10k_distinct`: `Policy::recipients` with 10,000 distinct caps sets, the worst
//!   case where nothing is shared and every resource costs a full decision.
//!
//! Each fan-out's result is dropped inside the timed loop, as a server drops it after
//! sending (criterion's `iter`); the parse keeps its elements out of the timing
//! (`iter_with_large_drop`). At the end the bench prints the figures per resource and as
//! ratios to the parse (target: under 5 ns per resource), then times the parse and the
//! fan-outs again in turns, round after round, and prints the medians of each and of its
//! ratio to the parse in the same round: on a shared machine, those are the figures to read.

mod common;

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use jid::FullJid;
use minidom::Element;
use xmpp_tether::rsnf::{CapsInfo, CapsState, Notification, Policy, Resource, ResourceTable};

/// A PEP geolocation notification as a recipient's server gets it from a peer (XEP-0080
/// payload, XEP-0351 §3.2 addressing to the bare JID).
const NOTIFICATION: &str = concat!(
    "<message xmlns='jabber:server' from='romeo@montague.example' to='juliet@capulet.example' ",
    "type='headline' id='5c1a9e0b-2f34-4d6e-8a7b-9c0d1e2f3a4b'>",
    "<event xmlns='http://jabber.org/protocol/pubsub#event'>",
    "<items node='http://jabber.org/protocol/geoloc'><item id='d81a52b8-0f9c-11dc-9bf5'>",
    "<geoloc xmlns='http://jabber.org/protocol/geoloc' xml:lang='en'>",
    "<accuracy>20</accuracy><country>Italy</country><lat>45.44</lat><locality>Venice</locality>",
    "<lon>12.33</lon><timestamp>2024-05-01T12:00:00Z</timestamp></geoloc></item></items></event>",
    "</message>",
);
const RESOURCES: usize = 10_000;
const DISTINCT: usize = 50;

/// PEP nodes a client may care about.
const NODES: [&str; 24] = [
    "http://jabber.org/protocol/geoloc",
    "http://jabber.org/protocol/tune",
    "http://jabber.org/protocol/mood",
    "http://jabber.org/protocol/activity",
    "http://jabber.org/protocol/nick",
    "urn:xmpp:avatar:metadata",
    "urn:xmpp:avatar:data",
    "urn:xmpp:bookmarks:1",
    "urn:xmpp:mds:displayed:0",
    "eu.siacs.conversations.axolotl.devicelist",
    "urn:xmpp:omemo:2:devices",
    "urn:xmpp:omemo:2:bundles",
    "storage:bookmarks",
    "urn:xmpp:microblog:0",
    "urn:xmpp:microblog:0:comments",
    "http://jabber.org/protocol/physloc",
    "urn:xmpp:pep-vcard-conversion:0",
    "urn:xmpp:vcard4",
    "urn:xmpp:reach:0",
    "urn:xmpp:spoiler:0",
    "urn:xmpp:gaming:0",
    "http://jabber.org/protocol/waitinglist",
    "urn:xmpp:attention:0",
    "urn:xmpp:ping",
];

/// Caps set `i` of `n`: every node but one (which one depends on `i`) with `+notify`, a
/// third of them with an `+events-` list, and the usual non-filter features.
fn caps_set(i: usize) -> CapsInfo {
    let mut features = vec![
        "http://jabber.org/protocol/caps".to_owned(),
        "http://jabber.org/protocol/disco#info".to_owned(),
        "urn:xmpp:ping".to_owned(),
        format!("urn:example:client:{i}"),
    ];
    for (n, node) in NODES.iter().enumerate() {
        if (n + i).is_multiple_of(NODES.len()) {
            continue;
        }
        features.push(format!("{node}+notify"));
        match (n + i) % 6 {
            0 => features.push(format!("{node}+events-config-retract")),
            3 => features.push(format!("{node}+events-sub")),
            _ => {}
        }
    }
    CapsInfo::from_features(features)
}

struct Account {
    jid: FullJid,
    available: bool,
    priority: i8,
    caps: CapsState,
}

fn accounts(distinct: usize) -> Vec<Account> {
    let sets: Vec<CapsState> = (0..distinct)
        .map(|i| CapsState::Known(caps_set(i)))
        .collect();
    (0..RESOURCES)
        .map(|i| Account {
            jid: FullJid::new(&format!("juliet@capulet.example/r{i}")).expect("a full JID"),
            available: i % 10 != 9,
            priority: if i % 50 == 7 { -1 } else { (i % 5) as i8 },
            caps: sets[i % distinct].clone(),
        })
        .collect()
}

fn main() {
    let message: Element = NOTIFICATION.parse().expect("the bench notification parses");
    let notification = Notification::classify(&message)
        .expect("it classifies")
        .expect("it is a notification");
    let policy = Policy::default();
    let shared = accounts(DISTINCT);
    let distinct = accounts(RESOURCES);
    let table = table(&shared);
    let delivered = fan_out(&policy, &notification, &shared).len();
    assert_eq!(
        table_fan_out(&policy, &notification, &table),
        fan_out(&policy, &notification, &shared),
        "the table picks the same recipients"
    );
    assert!(
        delivered > RESOURCES / 2,
        "most resources get it ({delivered})"
    );

    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("fan_out");
    g.bench_function("minidom_parse", |b| {
        b.iter_with_large_drop(|| Element::from_reader(black_box(NOTIFICATION.as_bytes())));
    });
    g.bench_function("classify", |b| {
        b.iter(|| Notification::classify(black_box(&message)));
    });
    g.throughput(Throughput::Elements(RESOURCES as u64));
    g.bench_function("walk_10k", |b| {
        b.iter(|| walk(black_box(&shared)));
    });
    g.bench_function("recipients_10k", |b| {
        b.iter(|| fan_out(&policy, black_box(&notification), &shared));
    });
    g.bench_function("table_10k", |b| {
        b.iter(|| table_fan_out(&policy, black_box(&notification), &table));
    });
    g.bench_function("recipients_10k_distinct", |b| {
        b.iter(|| fan_out(&policy, black_box(&notification), &distinct));
    });
    g.finish();
    c.final_summary();
    let measured = std::env::args().all(|a| {
        !a.starts_with("--test") && !a.starts_with("--list") && !a.starts_with("--profile-time")
    });
    if measured {
        report(delivered);
        interleaved(&policy, &notification, &shared, &table);
    }
}

/// One of [`interleaved`]'s measurements: seconds per call.
type Contender<'a> = Box<dyn FnMut() -> f64 + 'a>;

/// The parse, the walk and both fan-outs measured in turns, round after round (the order
/// rotating), so that load from other processes hits them alike; the medians of each one's
/// time and of its ratio to the parse in the same round.
fn interleaved(
    policy: &Policy,
    notification: &Notification,
    shared: &[Account],
    table: &ResourceTable<FullJid>,
) {
    const BATCH: usize = 100;
    const ROUNDS: usize = 3 * common::ROUNDS;
    let mut parsed = Vec::with_capacity(BATCH);
    // Each: seconds per call. The parse keeps its elements until the batch is timed, as
    // criterion's `iter_with_large_drop` does for the baseline above.
    let mut kept: Vec<Vec<&FullJid>> = Vec::with_capacity(BATCH);
    let mut kept_table: Vec<Vec<&FullJid>> = Vec::with_capacity(BATCH);
    let mut contenders: [(&str, Contender<'_>); 6] = [
        (
            "minidom parse",
            Box::new(|| {
                parsed.clear();
                let t = common::time_batch(BATCH, &mut || {
                    parsed.push(Element::from_reader(black_box(NOTIFICATION.as_bytes())));
                });
                t / BATCH as f64
            }),
        ),
        (
            "fan-out, ResourceTable",
            Box::new(|| {
                common::time_batch(BATCH, &mut || {
                    black_box(table_fan_out(policy, black_box(notification), table));
                }) / BATCH as f64
            }),
        ),
        (
            "fan-out, caller's records",
            Box::new(|| {
                common::time_batch(BATCH, &mut || {
                    black_box(fan_out(policy, black_box(notification), shared));
                }) / BATCH as f64
            }),
        ),
        (
            "walk, no decision",
            Box::new(|| {
                common::time_batch(BATCH, &mut || {
                    black_box(walk(black_box(shared)));
                }) / BATCH as f64
            }),
        ),
        // The two fan-outs as the first version of this bench timed them (criterion's
        // `iter_with_large_drop`): every result of a batch kept until the batch is timed, so
        // each writes fresh pages (the kernel's page faults are most of the difference).
        (
            "  the same, results kept",
            Box::new(|| {
                kept_table.clear();
                common::time_batch(BATCH, &mut || {
                    kept_table.push(table_fan_out(policy, black_box(notification), table));
                }) / BATCH as f64
            }),
        ),
        (
            "  caller's, results kept",
            Box::new(|| {
                kept.clear();
                common::time_batch(BATCH, &mut || {
                    kept.push(fan_out(policy, black_box(notification), shared));
                }) / BATCH as f64
            }),
        ),
    ];
    let n = contenders.len();
    let mut times = vec![Vec::with_capacity(ROUNDS); n];
    for round in 0..ROUNDS {
        let mut this = vec![0.0; n];
        for k in 0..n {
            let at = (round + k) % n;
            this[at] = (contenders[at].1)();
        }
        for (t, x) in times.iter_mut().zip(this) {
            t.push(x);
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "\ninterleaved, {ROUNDS} rounds of {BATCH} calls each (medians; ratio: to the parse of \
         the same round):"
    );
    for (at, (name, _)) in contenders.iter().enumerate() {
        let time = median(times[at].clone());
        let ratio = median(
            times[at]
                .iter()
                .zip(&times[0])
                .map(|(t, p)| t / p)
                .collect(),
        );
        if at == 0 {
            println!("  {name:<26} {:>8.2} us", time * 1e6);
        } else {
            println!(
                "  {name:<26} {:>8.2} us = {ratio:.2}x the parse; {:.2} ns per resource",
                time * 1e6,
                time * 1e9 / RESOURCES as f64
            );
        }
    }
}

/// What a server's PEP fan-out is: the recipients' full JIDs.
fn fan_out<'a>(policy: &Policy, n: &Notification, accounts: &'a [Account]) -> Vec<&'a FullJid> {
    policy.recipients(
        n,
        accounts.iter().map(|a| {
            Resource::new(&a.jid, &a.caps)
                .with_available(a.available)
                .with_priority(a.priority)
        }),
    )
}

/// The same through the library's own dense table, kept up to date as presence changes.
fn table_fan_out<'a>(
    policy: &Policy,
    n: &Notification,
    table: &'a ResourceTable<FullJid>,
) -> Vec<&'a FullJid> {
    let mut to = Vec::with_capacity(table.len());
    to.extend(table.recipients(policy, n));
    to
}

fn table(accounts: &[Account]) -> ResourceTable<FullJid> {
    let mut table = ResourceTable::new();
    for a in accounts {
        table.insert(
            Resource::new(a.jid.clone(), &a.caps)
                .with_available(a.available)
                .with_priority(a.priority),
        );
    }
    table
}

/// The floor of any fan-out: walking the same table and collecting the available resources'
/// JIDs, with no caps decision at all.
fn walk(accounts: &[Account]) -> Vec<&FullJid> {
    let mut to = Vec::with_capacity(accounts.len());
    for a in accounts {
        if a.available && a.priority >= 0 {
            to.push(&a.jid);
        }
    }
    to
}

fn report(delivered: usize) {
    let Some(parse) = estimate_ns("minidom_parse") else {
        return;
    };
    println!(
        "\nxmpp-rsnf fan-out of one {}-byte notification to {RESOURCES} resources with \
         {DISTINCT} caps sets ({delivered} delivered), against minidom parsing it:",
        NOTIFICATION.len()
    );
    println!("  minidom parse              {:>9.2} us", parse / 1000.0);
    if let Some(classify) = estimate_ns("classify") {
        println!(
            "  classify                   {:>9.2} us = {:.1}% of the parse",
            classify / 1000.0,
            100.0 * classify / parse
        );
    }
    let line = |name: &str, bench: &str, note: &str| {
        if let Some(t) = estimate_ns(bench) {
            println!(
                "  {name:<26} {:>9.2} us = {:.2}x the parse; {:.2} ns per resource{note}",
                t / 1000.0,
                t / parse,
                t / RESOURCES as f64
            );
        }
    };
    line("ResourceTable", "table_10k", " (target: < 5 ns)");
    line("caller's records", "recipients_10k", "");
    line("walk, no decision", "walk_10k", "");
    line("caller's, 10k caps sets", "recipients_10k_distinct", "");
}

fn estimate_ns(bench: &str) -> Option<f64> {
    common::estimate_ns(&["fan_out", bench])
}
