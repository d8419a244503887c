//! Criterion benches for `xmpp-push0` (XEP-0357 Push Notifications).
//!
//! `cargo bench -p tether-benches --bench push0` (add `-- --warm-up-time 1 --measurement-time 3`
//! for a quicker run). One group, `per_trigger`: what it costs the user's server to turn one
//! incoming message for an offline user with 5 registrations into 5 publish iqs, measured in
//! the same run as the baseline every server pays anyway, `minidom` parsing the same 665-byte
//! chat message from its bytes. At the end the bench prints the ratios (target: at most 10%).
//!
//! Each notification is the whole path a server takes: classify the parsed stanza
//! ([`Trigger::from_stanza_for`] the registry's privacy policy, as `examples/server` does),
//! `notify` (the summary under the policy, 5 ids, 5 pending entries and answer deadlines),
//! and drain the 5 publishes.
//!
//! - `notify_warm`: on a registry that has pushed before, the state a server is in: rounds
//!   of 4 notifications timed together (20 publishes in flight at most, within the default
//!   bound of 32 per account), the push services' results handed in after each round, untimed.
//!   The default policy (a placeholder body for important messages, Prosody's).
//! - `notify_warm_body`: the same under [`Privacy::SenderAndBody`]: the sender's JID parsed
//!   (stringprep, IDNA) and the body copied, cleaned and written into the summary.
//! - `notify`: one notification on a registry built just before (outside the measurement),
//!   its tables allocated and its memory touched for the first time.
//! - `notify_write`: the same, and each publish written as bytes for the socket
//!   ([`Transmit::write_xml`] into a reused buffer): the whole cost up to the wire.
//! - `notify_elements`: the same, each publish built as a `minidom::Element` instead (for
//!   servers whose writer takes elements).
//!
//! The interleaved report also shows the default policy classified with
//! [`Trigger::from_stanza`] (the sender parsed and the body copied, though the placeholder
//! publish carries neither): what a server that does not pass its policy pays.
//!
//! What an iteration returns is dropped outside the measurement; the vectors the publishes
//! are drained into are made before it.
//!
//! After criterion's own report the bench prints the ratios measured **interleaved**
//! (alternating batches of parses and of notifications, median of 41 rounds), which a burst
//! of load from other processes hits on both sides alike: the figures the target is judged by.

mod common;

use std::cell::Cell;
use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{BatchSize, Criterion, Throughput};
use minidom::Element;
use minidom::rxml::{Namespace, xml_ncname};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xmpp_tether::push0::{
    Enable, Monotonic, Now, Privacy, Registry, RegistryConfig, Target, Transmit, Trigger,
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
/// Notifications per timed round on a warm registry (their publishes are answered after).
const WARM_BATCH: usize = 4;

fn now() -> Now {
    Now::new(
        Monotonic::from_epoch(Duration::from_secs(10)),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    )
}

/// Romeo's registry: 5 registrations (5 devices, each its own app server node and secret),
/// the default configuration.
fn registry() -> Registry {
    registry_with(Privacy::default())
}

/// [`registry`] under another privacy policy.
fn registry_with(privacy: Privacy) -> Registry {
    let mut config = RegistryConfig::default();
    config.privacy = privacy;
    let mut r = Registry::new(config, &mut ChaCha20Rng::seed_from_u64(1));
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
    let placeholder = Privacy::default();
    // Check once that the bench does what it says: 5 publishes, with the summary each policy
    // allows, the same as from a trigger that kept everything.
    for privacy in [Privacy::default(), Privacy::SenderAndBody] {
        let mut r = registry_with(privacy.clone());
        let trigger = Trigger::from_stanza_for(&chat, &privacy).expect("a message");
        assert_eq!(r.notify(now(), &target, &trigger), REGISTRATIONS);
        let mut full = registry_with(privacy.clone());
        let everything = Trigger::from_stanza(&chat).expect("a message");
        assert_eq!(full.notify(now(), &target, &everything), REGISTRATIONS);
        for _ in 0..REGISTRATIONS {
            let (a, b) = (r.poll_transmit(), full.poll_transmit());
            let (Some(Transmit::Publish(a)), Some(Transmit::Publish(b))) = (a, b) else {
                panic!("5 publishes each");
            };
            assert_eq!(a.notification(), b.notification(), "the same summary");
            let summary = a.notification().summary.as_ref().expect("a summary");
            let revealed = summary.last_message_body.as_deref().expect("a body");
            if privacy == Privacy::SenderAndBody {
                assert!(revealed.starts_with("But, soft!"), "the message's body");
                assert!(summary.last_message_sender.is_some(), "the sender");
            } else {
                assert_eq!(revealed, "New Message!", "the placeholder");
            }
        }
    }
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
            fresh,
            |(mut r, mut out)| {
                let n = notify(&mut r, &chat, &placeholder, &target, &mut out);
                (r, n, out)
            },
            BatchSize::SmallInput,
        );
    });
    for (bit, name, privacy) in [
        (16, "notify_warm", Privacy::default()),
        (32, "notify_warm_body", Privacy::SenderAndBody),
    ] {
        g.bench_function(name, |b| {
            ran.set(ran.get() | bit);
            let mut warm = Warm::new(privacy.clone());
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let k = (iters - done).min(WARM_BATCH as u64);
                    total += warm.round(&chat, &target, k as usize);
                    done += k;
                }
                total
            });
        });
    }
    g.bench_function("notify_write", |b| {
        ran.set(ran.get() | 4);
        let mut buf = String::with_capacity(8 * 1024);
        b.iter_batched(
            registry,
            |mut r| {
                let trigger =
                    Trigger::from_stanza_for(black_box(&chat), &placeholder).expect("a message");
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
            || (registry(), Vec::with_capacity(REGISTRATIONS)),
            |(mut r, mut elements): (Registry, Vec<Element>)| {
                let trigger =
                    Trigger::from_stanza_for(black_box(&chat), &placeholder).expect("a message");
                let n = r.notify(now(), &target, &trigger);
                elements
                    .extend(std::iter::from_fn(|| r.poll_transmit()).map(Transmit::into_element));
                (r, n, elements)
            },
            BatchSize::SmallInput,
        );
    });
    g.finish();
    c.final_summary();
    let measured = std::env::args().all(|a| {
        !a.starts_with("--test") && !a.starts_with("--list") && !a.starts_with("--profile-time")
    });
    if measured && ran.get() == 0b11_1111 {
        report_ratios();
    }
    if measured {
        interleaved(&chat, &target);
    }
}

/// A registry built just before, and a vector with room for its 5 publishes.
fn fresh() -> (Registry, Vec<Transmit>) {
    (registry(), Vec::with_capacity(REGISTRATIONS))
}

/// One notification as a server makes it: classify the stanza under the registry's policy,
/// notify, drain the publishes into `out`. Returns how many were queued.
fn notify(
    r: &mut Registry,
    chat: &Element,
    privacy: &Privacy,
    target: &Target,
    out: &mut Vec<Transmit>,
) -> usize {
    notify_with(r, chat, Some(privacy), target, out)
}

/// [`notify`], classifying with [`Trigger::from_stanza`] (everything kept) when `privacy` is
/// `None`.
fn notify_with(
    r: &mut Registry,
    chat: &Element,
    privacy: Option<&Privacy>,
    target: &Target,
    out: &mut Vec<Transmit>,
) -> usize {
    let trigger = match privacy {
        Some(privacy) => Trigger::from_stanza_for(black_box(chat), privacy),
        None => Trigger::from_stanza(black_box(chat)),
    }
    .expect("a message");
    let n = r.notify(now(), target, &trigger);
    out.extend(std::iter::from_fn(|| r.poll_transmit()));
    n
}

/// A registry that has pushed before: each round's publishes are answered (untimed) before the
/// next, so its tables stay at their steady state.
struct Warm {
    registry: Registry,
    privacy: Privacy,
    /// Classify with [`Trigger::from_stanza`] rather than for the policy.
    keep_everything: bool,
    out: Vec<Transmit>,
}

impl Warm {
    fn new(privacy: Privacy) -> Self {
        Self::classifying(privacy, false)
    }

    fn classifying(privacy: Privacy, keep_everything: bool) -> Self {
        let mut warm = Self {
            registry: registry_with(privacy.clone()),
            privacy,
            keep_everything,
            out: Vec::with_capacity(WARM_BATCH * REGISTRATIONS),
        };
        let chat: Element = CHAT.parse().expect("the bench stanza parses");
        let target = Target::Account("romeo@montague.example".parse().expect("JID"));
        for _ in 0..4 {
            let _ = warm.round(&chat, &target, WARM_BATCH);
        }
        warm
    }

    /// `k` notifications (at most [`WARM_BATCH`]), timed together; then the answers, untimed.
    #[expect(clippy::disallowed_methods, reason = "a bench owns the real clock")]
    fn round(&mut self, chat: &Element, target: &Target, k: usize) -> Duration {
        let start = std::time::Instant::now();
        for _ in 0..k {
            let privacy = (!self.keep_everything).then_some(&self.privacy);
            black_box(notify_with(
                &mut self.registry,
                chat,
                privacy,
                target,
                &mut self.out,
            ));
        }
        let elapsed = start.elapsed();
        answer(&mut self.registry, &mut self.out);
        elapsed
    }
}

/// The push services' results for `out` (drained), so the registry's pending table goes back
/// to empty.
fn answer(r: &mut Registry, out: &mut Vec<Transmit>) {
    for t in out.drain(..) {
        if let Transmit::Publish(p) = t {
            let iq = Element::builder("iq", "jabber:client")
                .attr(xml_ncname!("type").to_owned(), "result")
                .attr(xml_ncname!("from").to_owned(), p.node().service.to_string())
                .attr(xml_ncname!("id").to_owned(), p.id())
                .build();
            let _ = r.handle_stanza(now(), &iq).expect("an answer");
        }
    }
    assert_eq!(r.pending_count(), 0, "every publish answered");
    while r.poll_event().is_some() {}
}

/// The seconds `batch` parses of the stanza take.
fn parses(batch: usize) -> f64 {
    common::time_batch(batch, &mut || {
        drop(black_box(Element::from_reader(black_box(CHAT.as_bytes()))));
    })
}

/// The seconds `batch` notifications on fresh registries take (the registries made before,
/// what they return dropped after).
#[expect(clippy::disallowed_methods, reason = "a bench owns the real clock")]
fn fresh_notifications<O>(batch: usize, mut a: impl FnMut(Registry, Vec<Transmit>) -> O) -> f64 {
    let inputs: Vec<(Registry, Vec<Transmit>)> = (0..batch).map(|_| fresh()).collect();
    let mut outputs = Vec::with_capacity(batch);
    let start = std::time::Instant::now();
    for (r, out) in inputs {
        outputs.push(a(r, out));
    }
    let elapsed = start.elapsed().as_secs_f64();
    drop(black_box(outputs));
    elapsed
}

fn interleaved(chat: &Element, target: &Target) {
    const BATCH: usize = 64;
    println!("\ninterleaved medians (alternating batches, robust to other load):");
    let placeholder = Privacy::default();
    for (label, privacy, keep_everything) in [
        ("default policy (placeholder)", Privacy::default(), false),
        ("sender and body", Privacy::SenderAndBody, false),
        (
            "default policy, Trigger::from_stanza",
            Privacy::default(),
            true,
        ),
    ] {
        let mut warm = Warm::classifying(privacy, keep_everything);
        let ratio = common::median_ratio(
            || {
                let rounds = BATCH / WARM_BATCH;
                (0..rounds)
                    .map(|_| warm.round(chat, target, WARM_BATCH).as_secs_f64())
                    .sum()
            },
            || parses(BATCH),
        );
        println!(
            "  5 publish iqs, warm registry, {label} / minidom parse of the stanza: {:.1}% \
             (target <= 10%)",
            ratio * 100.0
        );
    }
    let fresh = common::median_ratio(
        || {
            fresh_notifications(BATCH, |mut r, mut out| {
                let n = notify(&mut r, chat, &placeholder, target, &mut out);
                (r, n, out)
            })
        },
        || parses(BATCH),
    );
    println!(
        "  5 publish iqs, fresh registry / minidom parse of the stanza: {:.1}%",
        fresh * 100.0
    );
    let mut buf = String::with_capacity(8 * 1024);
    let written = common::median_ratio(
        || {
            fresh_notifications(BATCH, |mut r, _| {
                let trigger =
                    Trigger::from_stanza_for(black_box(chat), &placeholder).expect("a message");
                let n = r.notify(now(), target, &trigger);
                buf.clear();
                while let Some(t) = r.poll_transmit() {
                    t.write_xml(&mut buf);
                }
                black_box(buf.len());
                (r, n)
            })
        },
        || parses(BATCH),
    );
    println!(
        "  ... fresh registry, written as bytes / minidom parse: {:.1}%",
        written * 100.0
    );
}

fn report_ratios() {
    let Some(parse) = common::estimate_ns(&["per_trigger", "minidom_parse"]) else {
        return;
    };
    println!(
        "\nxmpp-push0, one message to an offline user with {REGISTRATIONS} registrations, \
         against minidom parsing the same {CHAT_LEN}-byte stanza:"
    );
    println!("  minidom parse      {:>9.2} us", parse / 1000.0);
    for (name, label) in [
        ("notify_warm", "5 publish iqs"),
        ("notify_warm_body", "... sender and body"),
        ("notify", "... fresh registry"),
        ("notify_write", "... written"),
        ("notify_elements", "... as Elements"),
    ] {
        if let Some(ns) = common::estimate_ns(&["per_trigger", name]) {
            let share = 100.0 * ns / parse;
            println!("  {label:<20} {ns:>9.1} ns = {share:.1}% of the parse (target: at most 10%)");
        }
    }
}
