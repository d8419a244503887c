//! Criterion benches for `xmpp-psa` (XEP-0310 Presence State Annotations).
//!
//! `cargo bench -p tether-benches --bench psa` (add `-- --warm-up-time 1 --measurement-time 3`
//! for a quicker run). Groups:
//! - `link`: a link-down (and the link coming back) for a domain with N tracked presences
//!   among T in all, the annotated presences built and drained: 10,000 among 1,000,000, 1,000
//!   among 1,000,000 and 10,000 among 100,000, in the same run. The cost must follow N, not
//!   T.
//! - `per_annotation`: the baseline, building one annotated `Presence` by hand (clone the
//!   presence, address it, add the annotation element), against which the per-annotation cost
//!   of a link-down is reported.
//! - `relay`: what the tracker adds to each presence the server delivers (an update of a
//!   tracked presence), against parsing that presence from its bytes (`minidom` + xmpp-parsers).
//!
//! At the end the bench prints the ratios from criterion's estimates, then the same ratios
//! measured **interleaved** (alternating batches, median of 41 rounds), which a burst of load
//! from other processes hits on both sides alike: the figures to judge by on a shared machine.
//! Transmits are dropped outside the measurement, as in the baseline (and, interleaved, also
//! one by one as drained, as a server does once it has written each). The link groups, the
//! baseline and the interleaved rounds are timed on this thread's time on a CPU where Linux
//! reports it (`Stopwatch`), not wall time: on a shared machine the waits in the run queue grow
//! with the length of a measurement and would make 10,000 look dearer per presence than 1,000.
//! The tracker's time is virtual.
//!
//! The link goes down the way a real one does: its last stream is lost to a network error
//! (`handle_link_closed`), with a zero grace so the annotations go out at once, and comes back
//! with a stream established. A failed connection attempt (`handle_link_failed`) would not do
//! after the first round: with the stream of the last restore still open, it is no outage.

mod common;

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use minidom::Element;
use xmpp_parsers::presence::{Presence, Show};
use xmpp_tether::jid::{DomainPart, Jid};
use xmpp_tether::psa::{
    Description, LinkLoss, Monotonic, Now, StateAnnotation, StreamId, Tracker, TrackerConfig,
    Transmit,
};

/// Watchers (local accounts) and how many presences each holds.
const WATCHERS: usize = 10_000;
const PER_WATCHER: usize = 100;
/// (presences on the domain that goes down, presences in all).
const CASES: [(usize, usize); 3] = [(10_000, 1_000_000), (1_000, 1_000_000), (10_000, 100_000)];

/// A contact's presence as a server relays it: show, status, XEP-0115 caps, XEP-0153 avatar.
fn contact_presence(from: &str) -> Presence {
    let xml = format!(
        "<presence xmlns='jabber:client' from='{from}'><show>away</show>\
         <status>In the orchard, back soon</status>\
         <c xmlns='http://jabber.org/protocol/caps' hash='sha-1' \
         node='https://conversations.im' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/>\
         <x xmlns='vcard-temp:x:update'><photo>01b87fcd030b72895ff8e88db57ec525450f000d</photo>\
         </x></presence>"
    );
    let element: Element = xml.parse().expect("the bench presence parses");
    Presence::try_from(element).expect("a presence")
}

fn now() -> Now {
    Now::new(
        Monotonic::from_epoch(Duration::from_secs(1)),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    )
}

fn domain(name: &str) -> DomainPart {
    DomainPart::new(name).expect("a domain").into_owned()
}

/// A tracker holding `total` presences, `hot` of them from `hot.lit` (and, in the million,
/// 1,000 from `warm.lit`), each source watched by 100 local accounts.
fn populated(total: usize) -> Tracker {
    let mut config = TrackerConfig::new(domain("montague.lit"));
    config.grace = Duration::ZERO;
    config.probe_on_restore = false;
    config.max_presences = total;
    config.max_parties = total;
    let mut tracker = Tracker::new(config);
    let watchers: Vec<Jid> = (0..WATCHERS)
        .map(|w| format!("u{w}@montague.lit/r").parse().expect("a JID"))
        .collect();
    for watcher in &watchers {
        tracker.handle_interest(now(), watcher, true);
    }
    let sources = total / PER_WATCHER;
    for s in 0..sources {
        // 100 sources on hot.lit, 10 on warm.lit (in the million), then 10 per other domain.
        let host = match s {
            0..100 => "hot.lit".to_owned(),
            100..110 if total == 1_000_000 => "warm.lit".to_owned(),
            _ => format!("d{}.lit", s / 10),
        };
        let presence = contact_presence(&format!("c{s}@{host}/phone"));
        for k in 0..PER_WATCHER {
            let watcher = &watchers[(s % PER_WATCHER) * PER_WATCHER + k];
            let mut relayed = presence.clone();
            relayed.to = Some(watcher.clone());
            let _ = tracker.handle_presence(now(), &mut relayed);
        }
    }
    assert_eq!(tracker.presences(), total, "every presence is tracked");
    while tracker.poll_event().is_some() {}
    tracker
}

/// A stopwatch of the time this thread spent on a CPU (`CLOCK_THREAD_CPUTIME_ID`). On a
/// machine shared with other builds, wall time also counts the waits in the run queue, and a
/// long measurement (a 10,000-presence link-down) waits for other processes far more per
/// presence than a short one (1,000) that fits in one time slice.
#[derive(Clone, Copy)]
struct Stopwatch(Duration);

fn on_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

impl Stopwatch {
    fn start() -> Self {
        Self(on_cpu())
    }

    fn elapsed(self) -> Duration {
        on_cpu().saturating_sub(self.0)
    }
}

/// The time a link flip took: the tracker's call alone (deciding and queueing), and with the
/// transmits drained (each annotated presence built).
#[derive(Clone, Copy)]
struct Took {
    call: Duration,
    total: Duration,
}

/// What happens to the transmits drained: held until the clock stops (then dropped), or
/// dropped one by one as drained, as a server does once it has written each.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Drain {
    Held,
    Streamed,
}

/// The link to `name` goes down (its last stream lost to a network error; grace zero: at
/// once), or comes back (stream 1 established).
fn flip(tracker: &mut Tracker, name: &DomainPart, down: bool, expect: usize, drain: Drain) -> Took {
    let mut out: Vec<Transmit> = Vec::with_capacity(if drain == Drain::Held { expect } else { 0 });
    let mut count = 0;
    let start = Stopwatch::start();
    if down {
        tracker
            .handle_link_closed(now(), name, StreamId(1), LinkLoss::Network)
            .expect("a remote domain");
    } else {
        tracker
            .handle_link_established(now(), name, StreamId(1))
            .expect("a remote domain");
    }
    let call = start.elapsed();
    while let Some(transmit) = tracker.poll_transmit() {
        count += 1;
        match drain {
            Drain::Held => out.push(transmit),
            Drain::Streamed => drop(black_box(transmit)),
        }
    }
    let total = start.elapsed();
    assert_eq!(
        count, expect,
        "one presence per tracked presence of the domain"
    );
    while tracker.poll_event().is_some() {}
    drop(black_box(out));
    Took { call, total }
}

/// A down and the following up; returns the down's time, or the up's.
fn flap(tracker: &mut Tracker, name: &DomainPart, n: usize, measure_down: bool) -> Took {
    let down = flip(tracker, name, true, n, Drain::Held);
    let up = flip(tracker, name, false, n, Drain::Held);
    if measure_down { down } else { up }
}

/// The two trackers: a million presences, and 100,000.
struct Trackers {
    million: Tracker,
    hundred_thousand: Tracker,
}

impl Trackers {
    fn new() -> Self {
        Self {
            million: populated(1_000_000),
            hundred_thousand: populated(100_000),
        }
    }

    /// The tracker and the domain of a case.
    fn case(&mut self, n: usize, total: usize) -> (&mut Tracker, DomainPart) {
        let name = domain(if n == 1_000 { "warm.lit" } else { "hot.lit" });
        let tracker = if total == 1_000_000 {
            &mut self.million
        } else {
            &mut self.hundred_thousand
        };
        (tracker, name)
    }
}

fn link(c: &mut Criterion, trackers: &mut Trackers) {
    let mut g = c.benchmark_group("link");
    g.sample_size(20);
    for (n, total) in CASES {
        let (tracker, name) = trackers.case(n, total);
        g.throughput(Throughput::Elements(n as u64));
        let id = format!("{n}_of_{total}");
        for (label, measure_down) in [("down", true), ("up", false)] {
            g.bench_with_input(BenchmarkId::new(label, &id), &n, |b, &n| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| flap(tracker, &name, n, measure_down).total)
                        .sum()
                });
            });
        }
    }
    g.finish();
}

/// The annotation a link-down of `hot.lit` puts in each presence (descriptions on, the default).
fn annotation_element(stale: bool) -> Element {
    let by: Jid = "montague.lit".parse().expect("a JID");
    Element::from(if stale {
        StateAnnotation::server_unavailable(by).with_description(Description::new(
            "The hot.lit server is no longer available",
        ))
    } else {
        StateAnnotation::restored(by)
    })
}

/// The baseline: one annotated presence built by hand (clone the stored presence, address it,
/// add the annotation).
fn build(stored: &Presence, to: &Jid, annotation: &Element) -> Presence {
    let mut presence = stored.clone();
    presence.to = Some(to.clone());
    presence.payloads.push(annotation.clone());
    presence
}

fn per_annotation(c: &mut Criterion) {
    let stored = contact_presence("c0@hot.lit/phone");
    let to: Jid = "u0@montague.lit/r".parse().expect("a JID");
    let annotation = annotation_element(true);
    let mut g = c.benchmark_group("per_annotation");
    g.throughput(Throughput::Elements(1));
    g.bench_function("build_annotated_presence", |b| {
        // On the same clock as the link-downs; the presences are dropped after it stops.
        b.iter_custom(|iters| {
            let mut out = Vec::with_capacity(usize::try_from(iters).unwrap_or(0));
            let start = Stopwatch::start();
            for _ in 0..iters {
                out.push(build(black_box(&stored), black_box(&to), &annotation));
            }
            let took = start.elapsed();
            drop(black_box(out));
            took
        });
    });
    g.finish();
}

fn relay(c: &mut Criterion) {
    let mut tracker = populated(100_000);
    let presence = contact_presence("c500@d50.lit/phone");
    let to: Jid = "u0@montague.lit/r".parse().expect("a JID");
    let mut addressed = presence.clone();
    addressed.to = Some(to);
    addressed.show = Some(Show::Away);
    let bytes = String::from(&Element::from(addressed.clone()));
    let mut g = c.benchmark_group("relay");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_presence", |b| {
        b.iter_with_large_drop(|| {
            let element = Element::from_reader(black_box(bytes.as_bytes())).expect("XML");
            Presence::try_from(element).expect("a presence")
        });
    });
    g.bench_function("handle_presence", |b| {
        b.iter_batched(
            || addressed.clone(),
            |mut p| {
                let relay = tracker.handle_presence(now(), &mut p);
                (p, relay)
            },
            BatchSize::SmallInput,
        );
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    per_annotation(&mut c);
    relay(&mut c);
    let mut trackers = Trackers::new();
    link(&mut c, &mut trackers);
    c.final_summary();
    let measured = std::env::args().all(|a| {
        !a.starts_with("--test") && !a.starts_with("--list") && !a.starts_with("--profile-time")
    });
    if measured {
        report();
        interleaved(&mut trackers);
    }
}

/// One side's times in one round: a link-down (the call alone, and with the transmits
/// drained) and the link coming back (drained); for the baseline, building as many annotated
/// presences, and as many with the empty annotation.
#[derive(Clone, Copy)]
struct Round {
    down_call: Duration,
    down: Duration,
    up: Duration,
}

/// 41 rounds of `a` and `b`, in alternating order, so that load from other processes on a
/// shared machine hits both alike.
fn interleave(mut a: impl FnMut() -> Round, mut b: impl FnMut() -> Round) -> Vec<(Round, Round)> {
    const ROUNDS: usize = 41;
    (0..ROUNDS)
        .map(|round| {
            if round % 2 == 0 {
                let ra = a();
                (ra, b())
            } else {
                let rb = b();
                (a(), rb)
            }
        })
        .collect()
}

/// The median over the rounds of `ratio(a, b)`.
fn median(rounds: &[(Round, Round)], ratio: impl Fn(&Round, &Round) -> f64) -> f64 {
    let mut ratios: Vec<f64> = rounds.iter().map(|(a, b)| ratio(a, b)).collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

fn secs(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

/// A round of a case: the link down, then up.
fn case_round(trackers: &mut Trackers, n: usize, total: usize, drain: Drain) -> Round {
    let (tracker, name) = trackers.case(n, total);
    let down = flip(tracker, &name, true, n, drain);
    let up = flip(tracker, &name, false, n, drain);
    Round {
        down_call: down.call,
        down: down.total,
        up: up.total,
    }
}

/// A round of the baseline: an annotated presence built by hand for each of `to` (watchers
/// of `hot.lit`, each from one of its contacts, as the tracker's are), then one with the empty
/// annotation for each.
fn baseline_round(
    stored: &[Presence],
    to: &[Jid],
    annotations: &(Element, Element),
    drain: Drain,
) -> Round {
    let time = |annotation: &Element| {
        let mut out = Vec::with_capacity(if drain == Drain::Held { to.len() } else { 0 });
        let start = Stopwatch::start();
        for (w, jid) in to.iter().enumerate() {
            let presence = build(&stored[w / PER_WATCHER], jid, annotation);
            match drain {
                Drain::Held => out.push(presence),
                Drain::Streamed => drop(black_box(presence)),
            }
        }
        let took = start.elapsed();
        drop(black_box(out));
        took
    };
    let down = time(&annotations.0);
    Round {
        down_call: Duration::ZERO,
        down,
        up: time(&annotations.1),
    }
}

/// The ratios the figures are judged by, measured interleaved.
fn interleaved(trackers: &mut Trackers) {
    println!("\ninterleaved medians (41 alternating rounds, robust to other load):");
    let trackers = std::cell::RefCell::new(trackers);
    let round = |n, total, drain| case_round(&mut trackers.borrow_mut(), n, total, drain);
    let stored: Vec<Presence> = (0..100)
        .map(|s| contact_presence(&format!("c{s}@hot.lit/phone")))
        .collect();
    let to: Vec<Jid> = (0..WATCHERS)
        .map(|w| format!("u{w}@montague.lit/r").parse().expect("a JID"))
        .collect();
    let annotations = (annotation_element(true), annotation_element(false));
    let build = |n: usize, drain| baseline_round(&stored, &to[..n], &annotations, drain);
    let down_up = |rounds: &[(Round, Round)]| {
        format!(
            "down {:.2}x (the call alone {:.2}x), up {:.2}x",
            median(rounds, |a, b| secs(a.down, b.down)),
            median(rounds, |a, b| secs(a.down_call, b.down_call)),
            median(rounds, |a, b| secs(a.up, b.up)),
        )
    };
    for drain in [Drain::Held, Drain::Streamed] {
        println!(
            "  transmits {}:",
            if drain == Drain::Held {
                "held until the clock stops"
            } else {
                "dropped one by one as drained"
            }
        );
        let rounds = interleave(
            || round(10_000, 1_000_000, drain),
            || round(1_000, 1_000_000, drain),
        );
        println!(
            "    10,000 vs 1,000 among a million: {} (proportional: 10x)",
            down_up(&rounds)
        );
        let rounds = interleave(|| build(10_000, drain), || build(1_000, drain));
        println!(
            "    baseline, building 10,000 vs 1,000 annotated presences: {:.2}x, empty-annotated {:.2}x",
            median(&rounds, |a, b| secs(a.down, b.down)),
            median(&rounds, |a, b| secs(a.up, b.up)),
        );
        if drain == Drain::Held {
            let rounds = interleave(
                || round(10_000, 1_000_000, drain),
                || round(10_000, 100_000, drain),
            );
            println!(
                "    10,000 among a million vs among 100,000: {} (independent: 1x)",
                down_up(&rounds)
            );
        }
        let rounds = interleave(|| round(10_000, 1_000_000, drain), || build(10_000, drain));
        let per = |d: Duration| d.as_secs_f64() * 1e9 / 10_000.0;
        println!(
            "    per annotation, 10,000 among a million / building the same presences by hand: \
             down {:.2}x (the call alone {:.2}x), up {:.2}x; baseline {:.0} ns, {:.0} ns each",
            median(&rounds, |a, b| secs(a.down, b.down)),
            median(&rounds, |a, b| secs(a.down_call, b.down)),
            median(&rounds, |a, b| secs(a.up, b.up)),
            median(&rounds, |_, b| per(b.down)),
            median(&rounds, |_, b| per(b.up)),
        );
    }
}

/// Prints the scaling and per-annotation ratios from the estimates criterion saved.
fn report() {
    let down =
        |n: usize, total: usize| common::estimate_ns(&["link", "down", &format!("{n}_of_{total}")]);
    let up =
        |n: usize, total: usize| common::estimate_ns(&["link", "up", &format!("{n}_of_{total}")]);
    let baseline = common::estimate_ns(&["per_annotation", "build_annotated_presence"]);
    println!("\nxmpp-psa link-down, annotated presences built and drained:");
    for (n, total) in CASES {
        if let (Some(d), Some(u)) = (down(n, total), up(n, total)) {
            println!(
                "  {n:>6} of {total:>9}: down {:>8.2} ms ({:>6.0} ns each), up {:>8.2} ms",
                d / 1e6,
                d / n as f64,
                u / 1e6
            );
        }
    }
    if let (Some(a), Some(b), Some(c)) = (
        down(10_000, 1_000_000),
        down(1_000, 1_000_000),
        down(10_000, 100_000),
    ) {
        println!(
            "  10,000 vs 1,000 among a million: {:.2}x (proportional: 10x)",
            a / b
        );
        println!(
            "  10,000 among a million vs among 100,000: {:.2}x (independent: 1x)",
            a / c
        );
    }
    if let (Some(a), Some(base)) = (down(10_000, 1_000_000), baseline) {
        println!(
            "  per annotation {:.0} ns = {:.2}x building one annotated Presence ({:.0} ns)",
            a / 10_000.0,
            a / 10_000.0 / base,
            base
        );
    }
    if let (Some(p), Some(h)) = (
        common::estimate_ns(&["relay", "parse_presence"]),
        common::estimate_ns(&["relay", "handle_presence"]),
    ) {
        println!(
            "  handle_presence {h:.0} ns = {:.1}% of parsing the presence ({p:.0} ns)",
            100.0 * h / p
        );
    }
}
