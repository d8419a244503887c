//! Criterion benches for `xmpp-sm` (XEP-0198 Stream Management).
//!
//! `cargo bench -p tether-benches --bench sm` (add `-- --warm-up-time 1 --measurement-time 3`
//! for a quicker run). Three groups:
//! - `per_stanza`: what stream management adds to each stanza, measured in the same run as the
//!   baseline every server and client pays anyway, `minidom` parsing the same 665-byte chat
//!   message from its bytes. At the end the bench prints the ratios (targets: send + ack at
//!   most 2% of the parse, receive + count at most 1%).
//! - `ack`: acknowledging is O(newly acknowledged), not O(queue): acking 1 stanza stays flat as
//!   the queue grows from 100 to 10,000, acking all N grows linearly (the bench prints the
//!   per-stanza cost at 10,000 against 1,000).
//! - `resume`: resuming a hibernated session with N unacknowledged stanzas (a new stream reads
//!   `<resume/>`, then the N retransmissions are drained) is linear in N.
//!
//! After criterion's own report the bench prints the ratios measured **interleaved**
//! (alternating batches of the library and of its baseline, median of 41 rounds), which a burst
//! of load from other processes hits on both sides alike: the figures the targets are judged
//! by. `cargo bench -p tether-benches --bench sm -- interleaved` prints only those (the filter
//! matches no criterion bench).
//!
//! Only the library's work is timed: stanzas are cloned and `<a/>` elements built outside the
//! measurement, and what the library hands back (the acknowledged stanzas in `Acked` events,
//! a stanza read) is dropped outside it too, as in the `minidom` baseline. Written elements are
//! dropped inside, as a connection does once it has written them. Time is virtual: a fixed
//! `Now`, as the state machines take it as an argument.
//!
//! Per-stanza inputs are prepared [`BATCH`] at a time, just before they are handed in, as a
//! connection hands on each element right after parsing it. Hundreds prepared in advance (as
//! criterion's `SmallInput` batching does) are cold in the CPU caches by the time the library
//! first touches them, and the allocator serves them from its slow paths: the baseline parses
//! from a hot buffer, so that would compare the library's cache misses with a parse that has
//! none. The interleaved report prints that case too (512 at a time), for comparison.

mod common;

use std::cell::Cell;
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use jid::BareJid;
use minidom::Element;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xmpp_sm::elements::{Ack, Resume};
use xmpp_sm::{
    AckPolicy, Client, ClientConfig, HibernatedSession, Incoming, Monotonic, Namespace, Now,
    Placement, Server, ServerConfig, ServerEvent, SessionStore,
};

/// A realistic one-to-one chat message as a recipient gets it: body, XEP-0359 origin-id,
/// XEP-0184 receipt request, XEP-0333 markable, XEP-0085 active chat state. 665 bytes.
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
/// Per-stanza inputs prepared at a time (see the crate docs above).
const BATCH: usize = 8;
/// Queue lengths for the scaling groups.
const SIZES: [usize; 3] = [100, 1_000, 10_000];
/// Single-stanza acks are timed in runs of this many, so the timer's own cost is amortised;
/// the queue holds between N and N + CHUNK stanzas meanwhile.
const CHUNK: usize = 64;

type Stream = Server<()>;

fn main() {
    let chat: Element = CHAT.parse().expect("the bench stanza parses");
    assert_eq!(CHAT.len(), CHAT_LEN, "the bench stanza is 665 bytes");
    let mut c = Criterion::default().configure_from_args();
    let ran = per_stanza(&mut c, &chat);
    ack_scaling(&mut c, &chat);
    resume(&mut c, &chat);
    c.final_summary();
    // In `--test`/`--list`/`--profile-time` runs criterion saves no estimates: nothing to read.
    let measured = std::env::args().all(|a| {
        !a.starts_with("--test") && !a.starts_with("--list") && !a.starts_with("--profile-time")
    });
    if measured && ran.get() == 0b111 {
        report_ratios();
    }
    if measured {
        interleaved(&chat);
    }
}

/// (a) Per-stanza cost against the cost of parsing the stanza. Returns a bit per bench that
/// ran (a filter on the command line may skip some).
fn per_stanza(c: &mut Criterion, chat: &Element) -> Cell<u8> {
    let ran = Cell::new(0);
    let mut g = c.benchmark_group("per_stanza");
    g.throughput(Throughput::Elements(1));
    g.bench_function("minidom_parse", |b| {
        ran.set(ran.get() | 1);
        // Dropping the tree is left out of the measurement, as for the library below.
        b.iter_with_large_drop(|| Element::from_reader(black_box(CHAT.as_bytes())));
    });
    g.bench_function("send_ack", |b| {
        ran.set(ran.get() | 2);
        // One `<a/>` per stanza: the most acks a peer can send, so the worst case per stanza.
        let (mut client, _server) = enabled_pair(ClientConfig::default(), ServerConfig::default());
        let mut h = 0u32;
        b.iter_batched(
            || {
                h = h.wrapping_add(1);
                (chat.clone(), ack(h))
            },
            |(stanza, ack)| {
                client.send(now(), stanza).expect("queue below its limit");
                // Written, then dropped, as a connection does.
                drop(black_box(client.poll_transmit()));
                let incoming = client.handle_element(now(), ack).expect("a valid ack");
                // The Acked event carries the stanza back: returned, so it is dropped
                // outside the measurement.
                (incoming, client.poll_event())
            },
            BatchSize::NumIterations(BATCH as u64),
        );
    });
    g.bench_function("receive_count", |b| {
        ran.set(ran.get() | 4);
        let (_client, mut server) = enabled_pair(ClientConfig::default(), ServerConfig::default());
        b.iter_batched(
            || chat.clone(),
            |stanza| server.handle_element(now(), stanza).expect("a stanza"),
            BatchSize::NumIterations(BATCH as u64),
        );
    });
    g.finish();
    ran
}

/// (b) Acknowledging is O(acknowledged), not O(queue).
fn ack_scaling(c: &mut Criterion, chat: &Element) {
    let mut g = c.benchmark_group("ack");
    for n in SIZES {
        let mut queue = Backlog::new(chat, n + CHUNK);
        g.throughput(Throughput::Elements(1));
        g.bench_with_input(BenchmarkId::new("one", n), &n, |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let run = left.min(CHUNK as u64);
                    total += queue.ack_one_by_one(run as usize);
                    left -= run;
                }
                total
            });
        });
        let mut queue = Backlog::new(chat, n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("all", n), &n, |b, &n| {
            b.iter_custom(|iters| (0..iters).map(|_| queue.ack_all(n)).sum());
        });
    }
    g.finish();
}

/// (c) Resuming a session with N unacknowledged stanzas is linear in N.
fn resume(c: &mut Criterion, chat: &Element) {
    let mut g = c.benchmark_group("resume");
    let owner: BareJid = "juliet@capulet.example".parse().expect("a JID");
    for n in SIZES {
        let record = hibernated(chat, n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            let mut rng = ChaCha20Rng::seed_from_u64(7);
            b.iter_batched(
                || {
                    // A store holding the session (another node's record, taken in).
                    let store = SessionStore::new(big_server());
                    store.adopt(now(), record.clone()).expect("adopted");
                    let resume = Resume::new(Namespace::Sm3, record.id().clone(), Some(0));
                    (store, Element::from(resume))
                },
                |(store, resume)| {
                    let mut server = store.stream(owner.clone(), (), &mut rng);
                    let incoming = server.handle_element(now(), resume);
                    assert!(matches!(incoming, Ok(Incoming::Handled)));
                    let mut retransmitted = 0;
                    while let Some(out) = server.poll_transmit() {
                        retransmitted += usize::from(out.is_counted());
                    }
                    while let Some(event) = server.poll_event() {
                        black_box(event);
                    }
                    assert_eq!(retransmitted, n);
                    // Returned, so the queue is dropped outside the measurement.
                    (server, store)
                },
                // Each input holds N queued stanzas: bounded batches keep memory small.
                BatchSize::NumIterations(64),
            );
        });
    }
    g.finish();
}

/// A server stream with a queue of unacknowledged stanzas, refilled after every ack so its
/// length stays put. Written elements are dropped at once, as a connection does; the
/// stanzas each `Acked` event hands back are kept until the refill sends them again, so
/// neither a copy nor a free is timed.
struct Backlog {
    server: Stream,
    acked: u32,
    /// Acked events of the last measurement, taken apart outside it.
    events: Vec<ServerEvent>,
}

impl Backlog {
    fn new(chat: &Element, len: usize) -> Self {
        let (_, mut server) = enabled_pair(ClientConfig::default(), big_server());
        for _ in 0..len {
            server.send(now(), chat.clone()).expect("below the limit");
            drop(server.poll_transmit());
        }
        Self {
            server,
            acked: 0,
            events: Vec::with_capacity(CHUNK),
        }
    }

    /// Times `run` single-stanza acks, then refills the queue.
    #[expect(clippy::disallowed_methods, reason = "a benchmark measures real time")]
    fn ack_one_by_one(&mut self, run: usize) -> Duration {
        let acks: Vec<Element> = (1..=run as u32).map(|i| ack(self.acked + i)).collect();
        let start = Instant::now();
        for ack in acks {
            let handled = self.server.handle_element(now(), ack);
            assert!(matches!(handled, Ok(Incoming::Handled)));
            self.events.extend(self.server.poll_event());
        }
        let elapsed = start.elapsed();
        self.acked += run as u32;
        self.refill();
        elapsed
    }

    /// Times one ack of every queued stanza, then refills the queue.
    #[expect(clippy::disallowed_methods, reason = "a benchmark measures real time")]
    fn ack_all(&mut self, n: usize) -> Duration {
        let ack = ack(self.acked + n as u32);
        let start = Instant::now();
        let handled = self.server.handle_element(now(), ack);
        assert!(matches!(handled, Ok(Incoming::Handled)));
        self.events.extend(self.server.poll_event());
        let elapsed = start.elapsed();
        self.acked += n as u32;
        self.refill();
        elapsed
    }

    /// Sends the acknowledged stanzas again (they came back owned: no copy).
    fn refill(&mut self) {
        for event in std::mem::take(&mut self.events) {
            let ServerEvent::Acked { stanzas, .. } = event else {
                continue;
            };
            for stanza in stanzas {
                self.server.send(now(), stanza).expect("below the limit");
                drop(self.server.poll_transmit());
            }
        }
    }
}

/// A hibernated session with `n` unacknowledged stanzas, as a record.
fn hibernated(chat: &Element, n: usize) -> HibernatedSession {
    let (_, mut server, store) = enabled_pair_in(ClientConfig::default(), big_server());
    for _ in 0..n {
        server.send(now(), chat.clone()).expect("below the limit");
    }
    while server.poll_transmit().is_some() {}
    server.handle_disconnect(now());
    let mut sessions = store.snapshot(now()).sessions;
    sessions.pop().expect("hibernated")
}

/// A client and a server stream with stream management enabled (resumable) on both ends.
fn enabled_pair(client: ClientConfig, server: ServerConfig) -> (Client, Stream) {
    let (client, server, _store) = enabled_pair_in(client, server);
    (client, server)
}

/// [`enabled_pair`], and the store the stream came from.
fn enabled_pair_in(
    client: ClientConfig,
    server: ServerConfig,
) -> (Client, Stream, SessionStore<()>) {
    let mut rng = ChaCha20Rng::seed_from_u64(198);
    let store = SessionStore::new(server);
    let mut client = Client::new(client);
    let mut server = store.stream(
        "juliet@capulet.example".parse().expect("a JID"),
        (),
        &mut rng,
    );
    let full = "juliet@capulet.example/balcony".parse().expect("a JID");
    server.handle_bind(now(), full).expect("a fresh stream");
    client
        .enable(now(), Namespace::Sm3, Placement::TopLevel)
        .expect("SM off");
    let enable = client.poll_transmit().expect("<enable/>").into_element();
    let _ = server
        .handle_element(now(), enable)
        .expect("a valid enable");
    let enabled = server.poll_transmit().expect("<enabled/>").into_element();
    let _ = client
        .handle_element(now(), enabled)
        .expect("a valid enabled");
    while client.poll_event().is_some() {}
    while server.poll_event().is_some() {}
    assert!(client.is_enabled() && server.is_enabled());
    (client, server, store)
}

/// Room for the largest queue, and no ack requests of its own: the bench acks explicitly.
fn big_server() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.max_queue = SIZES[2] + CHUNK;
    config.ack = AckPolicy::manual();
    config
}

fn ack(h: u32) -> Element {
    Ack::new(Namespace::Sm3, h).into()
}

/// Virtual time: a fixed instant (2023-11-14 22:13:20 UTC).
fn now() -> Now {
    Now::new(
        Monotonic::ZERO,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    )
}

/// Prints the per-stanza costs as a share of the parse, from the estimates criterion saved.
fn report_ratios() {
    let Some(parse) = estimate_ns("per_stanza", "minidom_parse") else {
        return;
    };
    println!("\nxmpp-sm per stanza, against minidom parsing the same {CHAT_LEN}-byte stanza:");
    println!("  minidom parse    {:>9.2} us", parse / 1000.0);
    for (name, label, target) in [
        ("send_ack", "send + ack", 2.0),
        ("receive_count", "receive + count", 1.0),
    ] {
        if let Some(ns) = estimate_ns("per_stanza", name) {
            let share = 100.0 * ns / parse;
            println!(
                "  {label:<16} {ns:>9.1} ns = {share:.2}% of the parse (target: at most {target}%)"
            );
        }
    }
    let per = |n: usize| estimate_ns("ack", &format!("all/{n}")).map(|ns| ns / n as f64);
    if let (Some(small), Some(large)) = (per(1_000), per(10_000)) {
        println!(
            "  ack all: {small:.2} ns per stanza at 1,000, {large:.2} ns at 10,000 ({:.2}x)",
            large / small
        );
    }
}

/// Rounds of [`ratio`]; the median is reported.
const ROUNDS: usize = 41;

/// The interleaved median ratio of `a`'s to `b`'s time per item (each returns a time and how
/// many items it covers).
fn ratio(
    mut a: impl FnMut() -> (Duration, usize),
    mut b: impl FnMut() -> (Duration, usize),
) -> f64 {
    let per = |(t, n): (Duration, usize)| t.as_secs_f64() / n as f64;
    common::median_ratio(|| per(a()), || per(b()))
}

/// The targets' ratios, measured interleaved (see the crate docs above), with inputs
/// prepared [`BATCH`] at a time, then 512 at a time for comparison.
fn interleaved(chat: &Element) {
    /// Parses per round (about 3 ms), and library calls per round.
    const PARSES: usize = 256;
    const CALLS: usize = 4_096;
    println!("\ninterleaved medians (alternating batches, {ROUNDS} rounds, robust to other load):");
    for batch in [BATCH, 512] {
        let parse = || {
            batched(
                PARSES,
                batch,
                || (),
                |()| Element::from_reader(black_box(CHAT.as_bytes())),
            )
        };
        let (mut client, _server) = enabled_pair(ClientConfig::default(), ServerConfig::default());
        let mut h = 0u32;
        let send_ack = || {
            batched(
                CALLS,
                batch,
                || {
                    h = h.wrapping_add(1);
                    (chat.clone(), ack(h))
                },
                |(stanza, ack)| {
                    client.send(now(), stanza).expect("queue below its limit");
                    drop(black_box(client.poll_transmit()));
                    let incoming = client.handle_element(now(), ack).expect("a valid ack");
                    (incoming, client.poll_event())
                },
            )
        };
        let share = 100.0 * ratio(send_ack, parse);
        println!(
            "  send + ack / minidom parse, inputs {batch} at a time: {share:.2}% (target: at most 2%)"
        );
        // The library owns the `<a/>` it is given and frees it: minidom's cost, part of the above.
        let mut h = 0u32;
        let free_ack = || {
            batched(
                CALLS,
                batch,
                || {
                    h = h.wrapping_add(1);
                    ack(h)
                },
                drop,
            )
        };
        let share = 100.0 * ratio(free_ack, parse);
        println!("    of which freeing the <a/> element minidom built: {share:.2}%");
        let (_client, mut server) = enabled_pair(ClientConfig::default(), ServerConfig::default());
        let receive = || {
            batched(
                CALLS,
                batch,
                || chat.clone(),
                |stanza| server.handle_element(now(), stanza).expect("a stanza"),
            )
        };
        let share = 100.0 * ratio(receive, parse);
        println!(
            "  receive + count / minidom parse, inputs {batch} at a time: {share:.2}% (target: at most 1%)"
        );
    }
    let mut small = Backlog::new(chat, SIZES[1]);
    let mut large = Backlog::new(chat, SIZES[2]);
    let runs = SIZES[2] / SIZES[1];
    let linear = ratio(
        || (large.ack_all(SIZES[2]), SIZES[2]),
        || {
            let elapsed = (0..runs).map(|_| small.ack_all(SIZES[1])).sum();
            (elapsed, runs * SIZES[1])
        },
    );
    println!(
        "  ack all, per stanza, 10,000 queued / 1,000 queued: {linear:.2}x (target: 1x, linear)"
    );
}

/// Runs `routine` over inputs from `setup`, timing only the routine: `batch` inputs are made,
/// handed in and what comes back is dropped afterwards, over and over until about `calls`
/// routine calls (or one batch, if larger). Returns the time and the number of calls.
fn batched<I, O>(
    calls: usize,
    batch: usize,
    mut setup: impl FnMut() -> I,
    mut routine: impl FnMut(I) -> O,
) -> (Duration, usize) {
    let runs = (calls / batch).max(1);
    let mut outputs = Vec::with_capacity(batch);
    let mut total = Duration::ZERO;
    for _ in 0..runs {
        let inputs: Vec<I> = (0..batch).map(|_| setup()).collect();
        total += timed(|| outputs.extend(inputs.into_iter().map(&mut routine)));
        outputs.clear();
    }
    (total, runs * batch)
}

/// How long `f` takes.
#[expect(clippy::disallowed_methods, reason = "a benchmark measures real time")]
fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn estimate_ns(group: &str, bench: &str) -> Option<f64> {
    common::estimate_ns(&[group, bench])
}
