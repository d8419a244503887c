//! Criterion benches for `xmpp-push0` (XEP-0357 Push Notifications).
//!
//! `cargo bench -p tether-benches --bench push0` (add `-- --warm-up-time 1 --measurement-time 3`
//! for a quicker run). One group, `per_trigger`: what it costs the user's server to turn one
//! incoming message for an offline user with 5 registrations into 5 publish iqs, measured in
//! the same run as the baseline every server pays anyway, `minidom` parsing the same 665-byte
//! chat message from its bytes. At the end the bench prints the ratios (target: at most 10%).
//!
//! - `notify`: classify the parsed stanza ([`Trigger::from_stanza`]), `notify` (summary under
//!   the privacy policy, 5 ids, 5 pending entries and timers), and drain the 5 publishes.
//! - `notify_write`: the same, and each publish written as bytes for the socket
//!   ([`Transmit::write_xml`] into a reused buffer): the whole cost up to the wire.
//! - `notify_elements`: the same, each publish built as a `minidom::Element` instead (for
//!   servers whose writer takes elements).
//!
//! Every iteration runs on a registry of its own (built outside the measurement), so the
//! pending table does not fill up; what the iteration returns is dropped outside it too.
//!
//! After criterion's own report the bench prints the ratios measured **interleaved**
//! (alternating batches of parses and of notifications, median of 41 rounds), which a burst
//! of load from other processes hits on both sides alike: the figures the target is judged by.

use std::cell::Cell;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use criterion::{BatchSize, Criterion, Throughput};
use minidom::Element;
use minidom::rxml::{Namespace, xml_ncname};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xmpp_tether::push0::{
    Enable, Monotonic, Now, Registry, RegistryConfig, Target, Transmit, Trigger,
};

/// The same realistic one-to-one chat message as the sm bench, 665 bytes.
const CHAT: &str = concat!(
    "<message xmlns='jabber:client' from='juliet@capulet.example/balcony' ",
    "to='romeo@montague.example' type='chat' id='0b3c6f7e-5d2a-4c41-9e8f-7a1b2c3d4e5f' ",
    "xml:lang='en'><body>But, soft! what light through yonder window breaks? It is the east, ",
    "and Juliet is the sun. Arise, fair sun, and kill the envious moon, who is already sick and ",
    "pale with grief, that thou her maid art far more fair than she. Be not her maid, since she ",
    "is so envious...</body><origin-id xmlns='urn:xmpp:sid:0' ",
    "id='0b3c6f7e-5d2a-4c41-9e8f-7a1b2c3d4e5f'/><request xmlns='urn:xmpp:receipts'/>",
    "<markable xmlns='urn:xmpp:chat-markers:0'/>",
    "<active xmlns='http://jabber.org/protocol/chatstates'/></message>",
);
const CHAT_LEN: usize = 665;
const REGISTRATIONS: usize = 5;

fn now() -> Now {
    Now::new(
        Monotonic::from_epoch(Duration::from_secs(10)),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    )
}

/// Romeo's registry: 5 registrations (5 devices, each its own app server node and secret).
fn registry() -> Registry {
    let mut r = Registry::new(
        RegistryConfig::default(),
        &mut ChaCha20Rng::seed_from_u64(1),
    );
    for i in 0..REGISTRATIONS {
        let mut iq = Enable::new(
            format!("push{i}.example").parse().expect("JID"),
            format!("node-{i}-yxs32uqsflafdk3iuqo"),
        )
        .with_secret(&format!("eruio234vzxc2kla-91-{i}"))
        .to_iq("e");
        iq.set_attr(
            Namespace::NONE,
            xml_ncname!("from").to_owned(),
            format!("romeo@montague.example/device{i}"),
        );
        let _ = r.handle_stanza(now(), &iq).expect("enable");
    }
    while r.poll_transmit().is_some() {}
    while r.poll_event().is_some() {}
    r
}

fn main() {
    let chat: Element = CHAT.parse().expect("the bench stanza parses");
    assert_eq!(CHAT.len(), CHAT_LEN, "the bench stanza is 665 bytes");
    let target = Target::Account("romeo@montague.example".parse().expect("JID"));
    // The default privacy policy (a placeholder for important messages) is what a deployment
    // runs; check once that the bench does what it says.
    let mut r = registry();
    let trigger = Trigger::from_stanza(&chat).expect("a message");
    assert_eq!(r.notify(now(), &target, &trigger), REGISTRATIONS);
    let mut c = Criterion::default().configure_from_args();
    let ran = Cell::new(0u8);
    let mut g = c.benchmark_group("per_trigger");
    g.throughput(Throughput::Elements(1));
    g.bench_function("minidom_parse", |b| {
        ran.set(ran.get() | 1);
        b.iter_with_large_drop(|| Element::from_reader(black_box(CHAT.as_bytes())));
    });
    g.bench_function("notify", |b| {
        ran.set(ran.get() | 2);
        b.iter_batched(
            registry,
            |mut r| {
                let trigger = Trigger::from_stanza(black_box(&chat)).expect("a message");
                let n = r.notify(now(), &target, &trigger);
                let out: Vec<Transmit> = std::iter::from_fn(|| r.poll_transmit()).collect();
                (r, n, out)
            },
            BatchSize::SmallInput,
        );
    });
    g.bench_function("notify_warm", |b| {
        ran.set(ran.get() | 16);
        let mut r = registry();
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (elapsed, out) = timed_notify(&mut r, &chat, &target);
                total += elapsed;
                answer(&mut r, out);
            }
            total
        });
    });
    g.bench_function("notify_write", |b| {
        ran.set(ran.get() | 4);
        let mut buf = String::with_capacity(8 * 1024);
        b.iter_batched(
            registry,
            |mut r| {
                let trigger = Trigger::from_stanza(black_box(&chat)).expect("a message");
                let n = r.notify(now(), &target, &trigger);
                buf.clear();
                while let Some(t) = r.poll_transmit() {
                    t.write_xml(&mut buf);
                }
                black_box(buf.len());
                (r, n)
            },
            BatchSize::SmallInput,
        );
    });
    g.bench_function("notify_elements", |b| {
        ran.set(ran.get() | 8);
        b.iter_batched(
            registry,
            |mut r| {
                let trigger = Trigger::from_stanza(black_box(&chat)).expect("a message");
                let n = r.notify(now(), &target, &trigger);
                let out: Vec<Element> = std::iter::from_fn(|| r.poll_transmit())
                    .map(Transmit::into_element)
                    .collect();
                (r, n, out)
            },
            BatchSize::SmallInput,
        );
    });
    g.finish();
    c.final_summary();
    let measured = std::env::args().all(|a| {
        !a.starts_with("--test") && !a.starts_with("--list") && !a.starts_with("--profile-time")
    });
    if measured && ran.get() == 0b1_1111 {
        report_ratios();
    }
    if measured {
        interleaved(&chat, &target);
    }
}

/// Median ratio of `a` to `b`, timed in alternating batches of `batch` runs so that load from
/// other processes on a shared machine hits both alike. `a` runs on inputs `setup` makes
/// before its batch is timed; what it returns is dropped after.
#[expect(clippy::disallowed_methods, reason = "a bench owns the real clock")]
fn ratio<I, O>(
    batch: usize,
    mut setup: impl FnMut() -> I,
    mut a: impl FnMut(I) -> O,
    mut b: impl FnMut(),
) -> f64 {
    const ROUNDS: usize = 41;
    let mut time_a = || {
        let inputs: Vec<I> = (0..batch).map(|_| setup()).collect();
        let mut outputs = Vec::with_capacity(batch);
        let start = std::time::Instant::now();
        for input in inputs {
            outputs.push(a(input));
        }
        let elapsed = start.elapsed().as_secs_f64();
        drop(black_box(outputs));
        elapsed
    };
    let mut time_b = || {
        let start = std::time::Instant::now();
        for _ in 0..batch {
            b();
        }
        start.elapsed().as_secs_f64()
    };
    let mut ratios: Vec<f64> = (0..ROUNDS)
        .map(|round| {
            if round % 2 == 0 {
                let ta = time_a();
                ta / time_b()
            } else {
                let tb = time_b();
                time_a() / tb
            }
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ROUNDS / 2]
}

/// As [`ratio`], for notifications on one registry that has pushed before (its publishes
/// answered between notifications, untimed), against parses.
#[expect(clippy::disallowed_methods, reason = "a bench owns the real clock")]
fn warm_ratio(batch: usize, chat: &Element, target: &Target) -> f64 {
    const ROUNDS: usize = 41;
    let mut r = registry();
    let mut time_a = || {
        let mut total = Duration::ZERO;
        for _ in 0..batch {
            let (elapsed, out) = timed_notify(&mut r, chat, target);
            total += elapsed;
            answer(&mut r, out);
        }
        total.as_secs_f64()
    };
    let time_b = || {
        let start = std::time::Instant::now();
        for _ in 0..batch {
            drop(black_box(Element::from_reader(black_box(CHAT.as_bytes()))));
        }
        start.elapsed().as_secs_f64()
    };
    let mut ratios: Vec<f64> = (0..ROUNDS)
        .map(|round| {
            if round % 2 == 0 {
                let ta = time_a();
                ta / time_b()
            } else {
                let tb = time_b();
                time_a() / tb
            }
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ROUNDS / 2]
}

fn interleaved(chat: &Element, target: &Target) {
    println!("\ninterleaved medians (alternating batches, robust to other load):");
    let parse = || drop(black_box(Element::from_reader(black_box(CHAT.as_bytes()))));
    let notify = ratio(
        64,
        registry,
        |mut r| {
            let trigger = Trigger::from_stanza(black_box(chat)).expect("a message");
            let n = r.notify(now(), target, &trigger);
            let out: Vec<Transmit> = std::iter::from_fn(|| r.poll_transmit()).collect();
            (r, n, out)
        },
        parse,
    );
    println!(
        "  5 publish iqs, fresh registry / minidom parse of the stanza: {:.1}% (target <= 10%)",
        notify * 100.0
    );
    let warm = warm_ratio(64, chat, target);
    println!(
        "  5 publish iqs, warm registry / minidom parse of the stanza: {:.1}% (target <= 10%)",
        warm * 100.0
    );
    let mut buf = String::with_capacity(8 * 1024);
    let written = ratio(
        64,
        registry,
        |mut r| {
            let trigger = Trigger::from_stanza(black_box(chat)).expect("a message");
            let n = r.notify(now(), target, &trigger);
            buf.clear();
            while let Some(t) = r.poll_transmit() {
                t.write_xml(&mut buf);
            }
            black_box(buf.len());
            (r, n)
        },
        parse,
    );
    println!(
        "  ... and written as bytes / minidom parse: {:.1}%",
        written * 100.0
    );
}

/// One notification on a registry that has pushed before, timed: classify, notify, drain.
#[expect(clippy::disallowed_methods, reason = "a bench owns the real clock")]
fn timed_notify(r: &mut Registry, chat: &Element, target: &Target) -> (Duration, Vec<Transmit>) {
    let start = std::time::Instant::now();
    let trigger = Trigger::from_stanza(black_box(chat)).expect("a message");
    let n = r.notify(now(), target, &trigger);
    let out: Vec<Transmit> = std::iter::from_fn(|| r.poll_transmit()).collect();
    let elapsed = start.elapsed();
    black_box(n);
    (elapsed, out)
}

/// The push services' results for `out` (not timed), so the registry's pending table stays
/// at its steady state.
fn answer(r: &mut Registry, out: Vec<Transmit>) {
    for t in out {
        if let Transmit::Publish(p) = t {
            let iq = Element::builder("iq", "jabber:client")
                .attr(xml_ncname!("type").to_owned(), "result")
                .attr(xml_ncname!("from").to_owned(), p.node().service.to_string())
                .attr(xml_ncname!("id").to_owned(), p.id())
                .build();
            let _ = r.handle_stanza(now(), &iq).expect("an answer");
        }
    }
    while r.poll_event().is_some() {}
}

fn report_ratios() {
    let Some(parse) = estimate_ns("per_trigger", "minidom_parse") else {
        return;
    };
    println!(
        "\nxmpp-push0, one message to an offline user with {REGISTRATIONS} registrations, \
         against minidom parsing the same {CHAT_LEN}-byte stanza:"
    );
    println!("  minidom parse      {:>9.2} us", parse / 1000.0);
    for (name, label) in [
        ("notify", "5 publish iqs"),
        ("notify_warm", "... warm registry"),
        ("notify_write", "... written"),
        ("notify_elements", "... as Elements"),
    ] {
        if let Some(ns) = estimate_ns("per_trigger", name) {
            let share = 100.0 * ns / parse;
            println!("  {label:<18} {ns:>9.1} ns = {share:.1}% of the parse (target: at most 10%)");
        }
    }
}

/// Criterion's headline estimate (the slope when it has one, else the mean) for a bench,
/// read back from where criterion saved it.
fn estimate_ns(group: &str, bench: &str) -> Option<f64> {
    let home = std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR").map(|t| PathBuf::from(t).join("criterion"))
        })
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion"));
    let path = home.join(group).join(bench).join("new/estimates.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let estimate = json
        .get("slope")
        .filter(|s| !s.is_null())
        .or_else(|| json.get("mean"))?;
    estimate.get("point_estimate")?.as_f64()
}
