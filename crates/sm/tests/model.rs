//! Model-based tests of XEP-0198 stream management: a client and its server streams run random
//! operations over seeded lossy links in virtual time (see `common::pair`), then every
//! stanza's fate is checked:
//! (a) every stanza sent is delivered or handed back (nothing is lost);
//! (b) none is delivered twice (the harness never resends what comes back), and one that was
//!     both delivered and handed back came back for a reason that could not know better;
//! (c) each direction delivers in send order within a session (a stanza still in flight on an
//!     abandoned connection may arrive after one sent later on a fresh session; it was
//!     handed back as undecided), and across sessions in the exactly-once property;
//! (d) over a healthy link, after a resumption and an exchange of acks, both queues are empty.
//!
//! The server side is a `SessionStore` whose streams answer every request themselves; the
//! operations include take-overs (resuming while the old stream is open, completed through
//! the streams' wake-ups in an order the dice pick), aborted connection tasks (a dropped
//! `Server`), wall-clock steps, and server restarts through a validated `StoreSnapshot`
//! (serialised to JSON with the `serde` feature).
//!
//! The number of cases comes from `PROPTEST_CASES` (proptest's default config reads it).

mod common;

use std::time::Duration;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
use xmpp_sm::{AckPolicy, HandBackReason, Namespace, Route};

use common::pair::{Pair, Setup, Stats};
use common::record::{Cause, Dir};

/// One thing that happens to the pair.
#[derive(Debug, Clone)]
enum Op {
    /// The client application sends this many stanzas.
    ClientSend(u8),
    /// The server routes this many stanzas to the client.
    ServerSend(u8),
    ClientRequestAck,
    ServerRequestAck,
    /// Deliver up to this many elements in flight.
    Step(u8),
    /// Deliver everything in flight.
    Drive,
    /// Break directions of the current connection; nobody notices.
    Cut {
        up: bool,
        down: bool,
    },
    /// The client notices its connection is gone; the server now or later.
    ClientDisconnects {
        server_notices: bool,
        flush: bool,
    },
    /// Servers of broken connections notice.
    ServersNotice,
    /// The client opens a new stream and resumes (or binds and enables).
    Reconnect {
        server_notices: bool,
        flush: bool,
    },
    /// The client resumes on a new connection while the server still holds the old one open.
    TakeOver,
    /// A server connection task is aborted (its `Server` dropped): the client's, or another.
    DropStream {
        current: bool,
    },
    /// Virtual time passes, in seconds (long enough ones expire hibernated sessions).
    Wait(u16),
    /// The wall clock is stepped by this many seconds; the monotonic clock does not move.
    WallStep(i32),
    /// The server restarts: its store goes through a snapshot and back.
    Restart,
}

fn apply(pair: &mut Pair, op: &Op) {
    match *op {
        Op::ClientSend(n) => (0..n).for_each(|_| pair.client_send()),
        Op::ServerSend(n) => (0..n).for_each(|_| pair.server_send()),
        Op::ClientRequestAck => pair.client_request_ack(),
        Op::ServerRequestAck => pair.server_request_ack(),
        Op::Step(n) => pair.step(usize::from(n)),
        Op::Drive => pair.drive(),
        Op::Cut { up, down } => pair.cut(up, down),
        Op::ClientDisconnects {
            server_notices,
            flush,
        } => pair.client_disconnects(server_notices, flush),
        Op::ServersNotice => pair.servers_notice(),
        Op::Reconnect {
            server_notices,
            flush,
        } => pair.reconnect(server_notices, flush),
        Op::TakeOver => pair.take_over(),
        Op::DropStream { current } => pair.drop_stream(current),
        Op::Wait(secs) => pair.wait(Duration::from_secs(u64::from(secs))),
        Op::WallStep(secs) => pair.step_wall_clock(secs),
        Op::Restart => pair.restart(),
    }
}

/// Runs `ops`, settles, and checks the record (exactly once, or the general invariants).
fn run(setup: Setup, ops: &[Op], exactly_once: bool) -> Result<Stats, TestCaseError> {
    let mut pair = Pair::new(setup);
    for op in ops {
        apply(&mut pair, op);
    }
    pair.settle().map_err(TestCaseError::fail)?;
    let checked = if exactly_once {
        pair.record.check_exactly_once()
    } else {
        pair.record.check()
    };
    checked.map_err(TestCaseError::fail)?;
    Ok(pair.stats)
}

// ----- generators -----

fn ack_policy() -> impl Strategy<Value = AckPolicy> {
    (
        proptest::option::of(1u32..=4),
        proptest::option::of(1u64..=10),
        proptest::option::of(20u64..=90),
    )
        .prop_map(|(count, time, timeout)| {
            let mut policy = AckPolicy::manual();
            policy.after_stanzas = count;
            policy.after_time = time.map(Duration::from_secs);
            policy.timeout = timeout.map(Duration::from_secs);
            policy
        })
}

fn namespace() -> impl Strategy<Value = Namespace> {
    prop::sample::select(Namespace::ALL.to_vec())
}

fn loss() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0u32), Just(10), Just(30), Just(100)]
}

fn queue_limit() -> impl Strategy<Value = usize> {
    prop_oneof![3 => Just(1000usize), 1 => 3usize..=12]
}

/// Counter bases just below 2^32, so that a run crosses the wrap.
fn near_wrap() -> impl Strategy<Value = (u32, u32)> {
    (0u32..16, 0u32..16).prop_map(|(a, b)| (u32::MAX - a, u32::MAX - b))
}

/// Anything goes: non-resumable sessions, small queues, forgetful stores, expiry.
fn any_setup() -> impl Strategy<Value = Setup> {
    let configs = (
        ack_policy(),
        ack_policy(),
        proptest::option::of(30u32..=900),
        (prop::bool::weighted(0.9), prop::bool::weighted(0.9)),
        (60u32..=600, 60u32..=600),
        (queue_limit(), queue_limit()),
        (
            prop_oneof![3 => Just(10_000usize), 1 => 0usize..=2],
            prop_oneof![3 => Just(10_000usize), 1 => 0usize..=2],
            prop_oneof![3 => Just(10usize), 1 => 0usize..=2],
        ),
        prop_oneof![3 => Just(Some(30u64)), 1 => Just(None), 1 => (5u64..=60).prop_map(Some)],
    );
    let network = (
        any::<u64>(),
        namespace(),
        loss(),
        prop_oneof![3 => Just(None), 1 => near_wrap().prop_map(Some)],
        any::<bool>(),
        any::<bool>(),
    );
    (configs, network).prop_map(
        |(
            (
                client_ack,
                server_ack,
                max,
                (client_resume, server_resume),
                (max_resume, default_resume),
                queues,
                (remembered, max_hibernated, max_per_account),
                request_timeout,
            ),
            (seed, ns, loss_permille, shift, send_while_enabling, defer_answers),
        )| {
            let mut setup = Setup::new(seed);
            setup.client.ack = client_ack;
            setup.client.max = max;
            setup.client.resume = client_resume;
            setup.client.max_queue = queues.0;
            setup.client.request_timeout = request_timeout.map(Duration::from_secs);
            setup.server.ack = server_ack;
            setup.server.resume = server_resume;
            setup.server.max_resume = max_resume;
            setup.server.default_resume = default_resume;
            setup.server.max_queue = queues.1;
            setup.server.store.max_remembered = remembered;
            setup.server.store.max_hibernated = max_hibernated;
            setup.server.store.max_per_account = max_per_account;
            setup.ns = ns;
            setup.loss_permille = loss_permille;
            setup.shift = shift;
            setup.send_while_enabling = send_while_enabling;
            if defer_answers {
                setup.defer_enables();
            }
            setup
        },
    )
}

/// Nothing that may legitimately lose track of a stanza: resumable, roomy, no expiry within
/// a run, no sends while `<enable/>` is unanswered. Links still drop and disconnect, servers
/// may answer late, tasks are aborted, the server restarts, take-overs race with the old
/// stream's traffic, and stale `<resume/>` requests still arrive.
fn faithful_setup() -> impl Strategy<Value = Setup> {
    (
        ack_policy(),
        ack_policy(),
        any::<u64>(),
        namespace(),
        loss(),
        prop_oneof![Just(None), near_wrap().prop_map(Some)],
        any::<bool>(),
    )
        .prop_map(
            |(client_ack, server_ack, seed, ns, loss_permille, shift, defer)| {
                let mut setup = Setup::new(seed);
                setup.client.ack = client_ack;
                setup.server.ack = server_ack;
                // Longer than any run's waits (60 ops of at most 60 s).
                setup.server.max_resume = 86_400;
                setup.server.default_resume = 86_400;
                setup.ns = ns;
                setup.loss_permille = loss_permille;
                setup.shift = shift;
                setup.send_while_enabling = false;
                // Nothing may give up: no request deadline (a deferred enable may wait).
                setup.client.request_timeout = None;
                if defer {
                    setup.defer_enables();
                }
                setup
            },
        )
}

fn op(long_waits: bool) -> impl Strategy<Value = Op> {
    let wait = if long_waits {
        // 700 s is past every hibernation deadline (`max_resume` is at most 600).
        prop_oneof![4 => 1u16..=10, 2 => 30u16..=90, 1 => Just(700u16)].boxed()
    } else {
        prop_oneof![4 => 1u16..=10, 1 => 30u16..=60].boxed()
    };
    let flags = || (any::<bool>(), any::<bool>());
    prop_oneof![
        6 => (1u8..=3).prop_map(Op::ClientSend),
        6 => (1u8..=3).prop_map(Op::ServerSend),
        2 => Just(Op::ClientRequestAck),
        2 => Just(Op::ServerRequestAck),
        6 => (1u8..=4).prop_map(Op::Step),
        3 => Just(Op::Drive),
        1 => flags().prop_map(|(up, down)| Op::Cut { up, down }),
        2 => flags().prop_map(|(server_notices, flush)| Op::ClientDisconnects {
            server_notices,
            flush
        }),
        1 => Just(Op::ServersNotice),
        2 => flags().prop_map(|(server_notices, flush)| Op::Reconnect {
            server_notices,
            flush
        }),
        2 => Just(Op::TakeOver),
        1 => any::<bool>().prop_map(|current| Op::DropStream { current }),
        2 => wait.prop_map(Op::Wait),
        1 => prop_oneof![(-86_400i32..=86_400), (-5i32..=5)].prop_map(Op::WallStep),
        1 => Just(Op::Restart),
    ]
}

fn ops(long_waits: bool) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(long_waits), 1..=60)
}

// ----- properties -----

proptest! {
    #![proptest_config(persisted(ProptestConfig::default()))]

    /// (a)-(d) under everything the harness can do, expiry and overflow included.
    #[test]
    fn every_stanza_is_delivered_or_handed_back(setup in any_setup(), ops in ops(true)) {
        run(setup, &ops, false)?;
    }

    /// (a)-(d) with both counters starting within 16 of 2^32, so acks, resumptions and
    /// `<failed h/>` all cross the wrap.
    #[test]
    fn counters_cross_the_wrap(setup in any_setup(), base in near_wrap(), ops in ops(true)) {
        let mut setup = setup;
        setup.shift = Some(base);
        run(setup, &ops, false)?;
    }

    /// With nothing allowed to give up (no expiry, no overflow, resumable sessions), drops,
    /// disconnects, takeovers and resumptions deliver every routed stanza exactly once.
    #[test]
    fn resumption_delivers_exactly_once(setup in faithful_setup(), ops in ops(false)) {
        let stats = run(setup, &ops, true)?;
        prop_assert_eq!(stats.resume_failures, 0);
    }
}

/// The generators are not vacuous: a fixed sample of runs takes every path the properties
/// claim to cover.
#[test]
fn generators_reach_every_path() {
    let mut runner = TestRunner::new_with_rng(
        ProptestConfig::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let strategy = (any_setup(), ops(true));
    let mut total = Stats::default();
    for _ in 0..200 {
        let (setup, ops) = strategy
            .new_tree(&mut runner)
            .expect("generate a case")
            .current();
        let stats = run(setup, &ops, false).expect("case passes");
        total.enables += stats.enables;
        total.resumes += stats.resumes;
        total.resume_failures += stats.resume_failures;
        total.takeovers += stats.takeovers;
        total.expiries += stats.expiries;
        total.evictions += stats.evictions;
        total.drops += stats.drops;
        total.stream_drops += stats.stream_drops;
        total.overflows += stats.overflows;
        total.ack_timeouts += stats.ack_timeouts;
        total.request_timeouts += stats.request_timeouts;
        total.retransmitted += stats.retransmitted;
        total.restarts += stats.restarts;
    }
    let Stats {
        enables,
        resumes,
        resume_failures,
        takeovers,
        expiries,
        evictions,
        drops,
        stream_drops,
        overflows,
        ack_timeouts,
        request_timeouts,
        retransmitted,
        restarts,
    } = total;
    for (path, count) in [
        ("enables", enables),
        ("resumes", resumes),
        ("resume failures", resume_failures),
        ("takeovers", takeovers),
        ("expiries", expiries),
        ("evictions", evictions),
        ("drops", drops),
        ("dropped streams", stream_drops),
        ("overflows", overflows),
        ("ack timeouts", ack_timeouts),
        ("request timeouts", request_timeouts),
        ("retransmissions", retransmitted),
        ("restarts", restarts),
    ] {
        assert!(count >= 5, "only {count} {path} in 200 runs: {total:?}");
    }
}

// ----- scenarios -----

/// A pair with SM enabled (manual acks) and everything delivered.
fn enabled_pair(setup: Setup) -> Pair {
    let mut pair = Pair::new(setup);
    pair.drive();
    assert!(pair.client.is_enabled());
    pair
}

fn manual(seed: u64) -> Setup {
    let mut setup = Setup::new(seed);
    setup.client.ack = AckPolicy::manual();
    setup.server.ack = AckPolicy::manual();
    setup
}

#[test]
fn resume_across_the_wrap() {
    let mut setup = manual(1);
    setup.shift = Some((u32::MAX - 2, u32::MAX - 1));
    let mut pair = enabled_pair(setup);
    // Five each way, all delivered, none acknowledged: both counters wrap past zero.
    (0..5).for_each(|_| pair.client_send());
    (0..5).for_each(|_| pair.server_send());
    pair.drive();
    assert_eq!(pair.server().handled(), 2, "u32::MAX - 2 + 5 wraps to 2");
    // Three more each way that die on the wire.
    pair.cut(true, true);
    (0..3).for_each(|_| pair.client_send());
    (0..3).for_each(|_| pair.server_send());
    pair.client_disconnects(true, false);
    assert_eq!(pair.store.hibernated_count(), 1);
    pair.reconnect(false, false);
    pair.drive();
    assert!(pair.client.is_enabled());
    assert_eq!(pair.stats.resumes, 1);
    // `<resume h/>` and `<resumed h/>` acknowledged the first five, across the wrap; only
    // the lost three were retransmitted, each way.
    assert_eq!(pair.stats.retransmitted, 3);
    assert_eq!((pair.record.up.sent(), pair.record.down.sent()), (8, 8));
    assert_eq!(pair.record.up.delivered(), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(pair.record.down.delivered(), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(pair.server().handled(), 5);
    pair.settle().expect("settles");
    pair.record.check_exactly_once().expect("exactly once");
}

#[test]
fn expired_session_hands_back_everything_unhandled() {
    let mut pair = enabled_pair(manual(2));
    // Two client stanzas reach the server; then the link breaks with two more in flight
    // each way, and one more server stanza is pushed into the hibernated session.
    (0..2).for_each(|_| pair.client_send());
    pair.drive();
    (0..2).for_each(|_| pair.client_send());
    (0..2).for_each(|_| pair.server_send());
    pair.client_disconnects(true, false);
    pair.server_send();
    pair.wait(Duration::from_secs(301)); // the default resumption time is 300 s
    assert_eq!(pair.stats.expiries, 1);
    let expired = [
        (1, Cause::Store(HandBackReason::Expired)),
        (2, Cause::Store(HandBackReason::Expired)),
        (3, Cause::Store(HandBackReason::Expired)),
    ];
    assert_eq!(pair.record.down.handed_back(), expired);
    // The store remembers h=2: the client's first two count as handled, the rest come back.
    pair.reconnect(false, false);
    pair.drive();
    assert_eq!(pair.stats.resume_failures, 1);
    let failed = Cause::Machine {
        reason: HandBackReason::ResumeFailed,
        failed_h: Some(2),
    };
    assert_eq!(pair.record.up.handed_back(), [(3, failed), (4, failed)]);
    assert!(pair.client.is_enabled(), "bound and enabled afresh");
    pair.settle().expect("settles");
    pair.record.check().expect("nothing lost");
}

#[test]
fn takeover_of_a_live_stream() {
    let mut pair = enabled_pair(manual(3));
    pair.server_send();
    pair.drive();
    // The client's connection dies; the server does not notice and keeps sending.
    pair.client_disconnects(false, false);
    (0..2).for_each(|_| pair.server_send());
    pair.client_send(); // queued while disconnected
    let old = pair.streams.len() - 1;
    pair.reconnect(false, false);
    pair.drive();
    assert_eq!((pair.stats.takeovers, pair.stats.resumes), (1, 1));
    assert!(
        pair.streams[old]
            .server
            .as_ref()
            .is_some_and(|s| s.is_closed()),
        "old stream closed with conflict"
    );
    assert_eq!(
        pair.store.hibernated_count(),
        0,
        "taken over, never hibernated"
    );
    assert_eq!(pair.record.down.delivered(), [1, 2, 3]);
    assert_eq!(pair.record.up.delivered(), [1]);
    pair.settle().expect("settles");
    pair.record.check_exactly_once().expect("exactly once");
}

/// XEP-0198 §5: a `<failed/>` with `h` acknowledges first, so only stanzas the server never
/// handled come back. Without `h` (the store forgot), everything comes back: the spec's
/// permitted duplicates.
#[test]
fn failed_resume_applies_h_first() {
    for remembered in [10, 0] {
        let mut setup = manual(4);
        setup.server.store.max_remembered = remembered;
        let mut pair = enabled_pair(setup);
        (0..4).for_each(|_| pair.client_send());
        pair.step(2); // the server handles two; their ack never comes
        pair.client_disconnects(true, false);
        pair.wait(Duration::from_secs(301));
        pair.reconnect(false, false);
        pair.drive();
        assert_eq!(pair.record.up.delivered(), [1, 2]);
        let back: Vec<u64> = pair
            .record
            .up
            .handed_back()
            .iter()
            .map(|&(n, _)| n)
            .collect();
        if remembered > 0 {
            assert_eq!(back, [3, 4], "h=2 applied before handing back");
        } else {
            assert_eq!(back, [1, 2, 3, 4], "no h: all unacknowledged come back");
        }
        pair.settle().expect("settles");
        pair.record.check().expect("nothing lost");
    }
}

/// An `<r/>` lost with the old connection does not block asking on the resumed stream.
#[test]
fn resumed_stream_asks_for_acks_afresh() {
    let mut pair = enabled_pair(manual(5));
    pair.client_send();
    pair.client_request_ack();
    pair.cut(true, true); // the stanza and the `<r/>` die on the wire
    pair.reconnect(true, false);
    pair.drive();
    assert_eq!(pair.stats.resumes, 1);
    assert_eq!(
        pair.client.unacked(),
        1,
        "retransmitted, not yet acknowledged"
    );
    pair.client_request_ack();
    pair.drive();
    assert_eq!(pair.client.unacked(), 0);
    pair.settle().expect("settles");
    pair.record.check_exactly_once().expect("exactly once");
}

/// XEP-0198 §4: the server counts from `<enable/>`, not from its answer; stanzas that arrive
/// while the answer is pending (an asynchronous lookup) are counted, across the wrap too.
#[test]
fn stanzas_before_the_enable_answer_are_counted() {
    let mut setup = manual(6);
    setup.defer_enables();
    setup.shift = Some((u32::MAX - 1, u32::MAX));
    let mut pair = Pair::new(setup);
    (0..3).for_each(|_| pair.client_send()); // in flight behind `<enable/>`
    (0..4).for_each(|_| pair.deliver_to_server());
    assert!(!pair.server().is_enabled(), "the answer is still pending");
    assert_eq!(pair.record.up.delivered(), [1, 2, 3]);
    pair.answer();
    pair.drive();
    assert_eq!(pair.server().handled(), 1, "u32::MAX - 1 + 3 wraps to 1");
    pair.client_request_ack();
    pair.drive();
    assert_eq!(pair.client.unacked(), 0, "h counted all three");
    pair.settle().expect("settles");
    pair.record.check_exactly_once().expect("exactly once");
}

/// A `<resume/>` the client gave up on (it reconnected again before the answer, and the
/// closed connection still delivered the request) reaches the server after the newer stream
/// resumed and acknowledged more. XEP-0198 §5 makes the server take the session over for
/// the stale request; its older `h` loses nothing (the client has those stanzas), so the
/// session should survive: the client sees `conflict` on its stream and resumes again.
#[test]
fn stale_resume_leaves_the_session_resumable() {
    let mut pair = enabled_pair(manual(7));
    pair.client_disconnects(true, false); // hibernated
    pair.reconnect(false, false); // stream 1: <resume h='0'/> in flight
    pair.reconnect(false, true); // given up; the request still arrives. Stream 2: <resume/>
    let (stale, fresh) = (1, 2);
    pair.deliver_on(fresh, Dir::ClientToServer);
    pair.deliver_on(fresh, Dir::ServerToClient);
    assert!(pair.client.is_enabled(), "resumed on the newer stream");
    (0..2).for_each(|_| pair.server_send());
    pair.server_request_ack();
    (0..3).for_each(|_| pair.deliver_on(fresh, Dir::ServerToClient));
    pair.deliver_on(fresh, Dir::ClientToServer); // <a h='2'/>
    assert_eq!(pair.server().unacked(), 0);
    pair.deliver_on(stale, Dir::ClientToServer); // <resume h='0'/> asks for the session
    let claimant = pair.streams[stale].server.as_ref().expect("running");
    assert!(
        claimant.is_resume_pending(),
        "the newer stream still holds it"
    );
    assert_eq!(pair.stats.takeovers, 0);
    pair.drive(); // wake-ups: the session moves; the newer stream reads `conflict`
    assert_eq!(pair.stats.takeovers, 1);
    assert!(
        pair.client.can_resume(),
        "conflict ends the stream, not the session"
    );
    pair.settle().expect("settles");
    assert_eq!(
        pair.stats.resume_failures, 0,
        "the session was resumed again"
    );
    assert_eq!(pair.stats.takeovers, 2, "from the stale request's stream");
    pair.record.check_exactly_once().expect("exactly once");
}

/// A router finds where to queue stanzas for a client that is away by its full JID.
#[test]
fn store_finds_a_hibernated_session_by_full_jid() {
    let mut pair = enabled_pair(manual(8));
    let jid = pair.server().resource().cloned().expect("bound");
    let id = pair.server().id().cloned().expect("resumable");
    pair.client_disconnects(true, false);
    assert_eq!(pair.store.hibernated_count(), 1);
    assert!(matches!(pair.store.route(&jid), Some(Route::Hibernated(h)) if h == id));
    assert_eq!(
        pair.store.hibernated(&jid.to_bare()),
        [(id, Some(jid.clone()))]
    );
    pair.reconnect(false, false);
    pair.drive();
    assert_eq!(pair.stats.resumes, 1);
    assert!(
        matches!(pair.store.route(&jid), Some(Route::Live(_))),
        "claimed: live on the new stream"
    );
    assert!(pair.store.hibernated(&jid.to_bare()).is_empty());
}

/// Saved failures go beside this file (`<name>.proptest-regressions`) and are replayed first:
/// proptest's default looks beside `src/`, which an integration test has not.
fn persisted(config: ProptestConfig) -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..config
    }
}
