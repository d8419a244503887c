//! How a server's streams and its store move sessions between them: take-over, hibernation,
//! drops, ids, limits. Each test wires the machines by hand, as a server's tasks would.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use jid::{BareJid, FullJid};
use minidom::Element;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xmpp_sm::{
    Client, ClientConfig, ClientEvent, Error, HandBackReason, Incoming, Monotonic, Namespace, Now,
    Placement, Refusal, Route, Server, ServerConfig, ServerEvent, SessionStore, StoreEvent,
    StreamHandle,
};

/// A handle that records which stream was woken, for the test to act on.
#[derive(Debug, Clone)]
struct Wake {
    name: &'static str,
    log: Rc<RefCell<Vec<&'static str>>>,
}

impl StreamHandle for Wake {
    fn wake(&self) {
        self.log.borrow_mut().push(self.name);
    }
}

struct World {
    now: Now,
    rng: ChaCha20Rng,
    store: SessionStore<Wake>,
    log: Rc<RefCell<Vec<&'static str>>>,
}

fn t0() -> Now {
    Now::new(
        Monotonic::ZERO,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    )
}

fn juliet() -> BareJid {
    "juliet@example.com".parse().expect("a valid JID")
}

fn balcony() -> FullJid {
    "juliet@example.com/balcony".parse().expect("a valid JID")
}

fn chat(body: &str) -> Element {
    format!("<message xmlns='jabber:client' to='juliet@example.com/balcony'><body>{body}</body></message>")
        .parse()
        .expect("a valid stanza")
}

impl World {
    fn new(config: ServerConfig) -> Self {
        Self {
            now: t0(),
            rng: ChaCha20Rng::seed_from_u64(1),
            store: SessionStore::new(config),
            log: Rc::default(),
        }
    }

    fn stream(&mut self, name: &'static str, owner: BareJid) -> Server<Wake> {
        let wake = Wake {
            name,
            log: Rc::clone(&self.log),
        };
        self.store.stream(owner, wake, &mut self.rng)
    }

    fn woken(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.log.borrow_mut())
    }
}

/// Every element the machine queued, as XML text.
fn drain(server: &mut Server<Wake>) -> Vec<String> {
    std::iter::from_fn(|| server.poll_transmit())
        .map(|t| String::from(&*t))
        .collect()
}

fn events(server: &mut Server<Wake>) -> Vec<ServerEvent> {
    std::iter::from_fn(|| server.poll_event()).collect()
}

/// A client bound and enabled on `server`, with both queues drained.
fn enabled_pair(w: &mut World, server: &mut Server<Wake>) -> Client {
    let mut client = Client::new(ClientConfig::default());
    server
        .handle_bind(w.now, balcony())
        .expect("the resource is free");
    client
        .enable(w.now, Namespace::Sm3, Placement::TopLevel)
        .expect("stream management is off");
    pass(w.now, &mut client, server);
    assert!(client.is_enabled() && server.is_enabled());
    let _ = events(server);
    let _ = std::iter::from_fn(|| client.poll_event()).count();
    client
}

/// Delivers everything each side queued to the other until both are quiet.
fn pass(now: Now, client: &mut Client, server: &mut Server<Wake>) {
    loop {
        let mut quiet = true;
        while let Some(t) = client.poll_transmit() {
            quiet = false;
            let _ = server.handle_element(now, t.into_element());
        }
        while let Some(t) = server.poll_transmit() {
            quiet = false;
            let _ = client.handle_element(now, t.into_element());
        }
        if quiet {
            return;
        }
    }
}

#[test]
fn a_resume_takes_the_session_over_from_a_stream_still_open() {
    let mut w = World::new(ServerConfig::default());
    let mut a = w.stream("a", juliet());
    let mut client = enabled_pair(&mut w, &mut a);
    let id = a.id().cloned().expect("resumable");
    // Two stanzas go out on A and are lost with its connection, which A has not noticed.
    a.send(w.now, chat("one")).expect("sent");
    a.send(w.now, chat("two")).expect("sent");
    let _ = drain(&mut a);
    client.handle_disconnect(w.now);

    // The client resumes on B: A is asked to hand the session over.
    let mut b = w.stream("b", juliet());
    client
        .resume(w.now, Placement::TopLevel)
        .expect("resumable");
    let resume = client.poll_transmit().expect("<resume/>").into_element();
    assert_eq!(b.handle_element(w.now, resume), Ok(Incoming::Handled));
    assert!(b.is_resume_pending());
    assert!(
        drain(&mut b).is_empty(),
        "nothing is answered before the take-over"
    );
    assert_eq!(w.woken(), ["a"]);

    // A's task wakes up: A gets `conflict`, closes, and the session moves to B.
    a.handle_wake(w.now);
    let out = drain(&mut a);
    assert_eq!(out.len(), 1);
    assert!(out[0].contains("conflict"), "{out:?}");
    assert!(a.is_closed());
    assert_eq!(events(&mut a), [ServerEvent::TakenOver]);
    assert_eq!(w.woken(), ["b"]);

    // B's task wakes up: <resumed/>, then the two stanzas A never got acknowledged.
    b.handle_wake(w.now);
    let out = drain(&mut b);
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(out[0].starts_with("<resumed"));
    assert!(out[1].contains("one") && out[2].contains("two"));
    assert!(matches!(
        events(&mut b).as_slice(),
        [ServerEvent::Resumed { previd, retransmitted: 2, .. }] if *previd == id
    ));
    assert!(matches!(w.store.route(&balcony()), Some(Route::Live(h)) if h.name == "b"));

    // The old stream closing afterwards must not end the session B now holds (the bug where
    // a taken-over stream reported the session ended and a later resume got `<failed/>`).
    a.close(w.now);
    assert!(events(&mut a).is_empty());
    assert_eq!(
        a.handle_element(w.now, chat("late")),
        Err(Error::Closed(Box::new(chat("late"))))
    );
    b.handle_disconnect(w.now);
    assert_eq!(w.store.hibernated_count(), 1);
    let mut c = w.stream("c", juliet());
    let resume = xmpp_sm::elements::Resume::new(Namespace::Sm3, id.clone(), Some(0));
    let _ = c.handle_element(w.now, resume.into());
    assert!(
        c.is_resumed(),
        "the session is still resumable after the old stream closed"
    );
}

#[test]
fn a_dropped_stream_hibernates_its_session() {
    let mut w = World::new(ServerConfig::default());
    let mut a = w.stream("a", juliet());
    let _client = enabled_pair(&mut w, &mut a);
    a.send(w.now, chat("kept")).expect("sent");
    let _ = drain(&mut a);
    // The connection task is aborted: no close, no disconnect.
    drop(a);
    assert_eq!(w.store.hibernated_count(), 1);
    assert!(matches!(
        w.store.route(&balcony()),
        Some(Route::Hibernated(_))
    ));
}

#[test]
fn a_dropped_stream_without_resumption_hands_its_stanzas_to_the_store() {
    let mut config = ServerConfig::default();
    config.resume = false;
    let mut w = World::new(config);
    let mut a = w.stream("a", juliet());
    let _client = enabled_pair(&mut w, &mut a);
    a.send(w.now, chat("orphan")).expect("sent");
    drop(a);
    assert!(
        w.store.route(&balcony()).is_none(),
        "no live entry stays behind"
    );
    match w.store.poll_event() {
        Some(StoreEvent::HandedBack {
            reason: HandBackReason::StreamClosed,
            stanzas,
            ..
        }) => assert_eq!(stanzas.len(), 1),
        other => panic!("expected the orphaned stanza, got {other:?}"),
    }
}

#[test]
fn a_repeated_sm_id_is_never_reused() {
    let mut w = World::new(ServerConfig::default());
    let mut a = w.stream("a", juliet());
    let _ = enabled_pair(&mut w, &mut a);
    // A broken RNG: the same seed again gives the same candidate id.
    w.rng = ChaCha20Rng::seed_from_u64(1);
    let mut b = w.stream("b", juliet());
    b.handle_bind(w.now, "juliet@example.com/garden".parse().expect("jid"))
        .expect("free");
    let enable = xmpp_sm::elements::Enable::new(Namespace::Sm3).with_resume();
    let _ = b.handle_element(w.now, enable.into());
    assert!(b.is_enabled());
    assert_eq!(
        b.id(),
        None,
        "enabled, but not resumable under a repeated id"
    );
}

#[test]
fn an_account_at_its_limit_evicts_only_its_own_sessions() {
    let mut config = ServerConfig::default();
    config.store.max_per_account = 2;
    config.store.max_hibernated = 3;
    let mut w = World::new(config);
    let romeo: BareJid = "romeo@example.com".parse().expect("jid");
    let hibernate = |w: &mut World, owner: &BareJid, resource: &str| {
        let mut s = w.stream("x", owner.clone());
        s.handle_bind(w.now, owner.with_resource_str(resource).expect("jid"))
            .expect("free");
        let enable = xmpp_sm::elements::Enable::new(Namespace::Sm3).with_resume();
        let _ = s.handle_element(w.now, enable.into());
        s.send(w.now, chat(resource)).expect("sent");
        s.handle_disconnect(w.now);
        w.now = w.now.advance(Duration::from_secs(1));
    };
    hibernate(&mut w, &romeo, "r1");
    for r in ["j1", "j2", "j3", "j4"] {
        hibernate(&mut w, &juliet(), r);
    }
    // Juliet never holds more than two, and Romeo's one survived all of her hibernations.
    assert_eq!(w.store.hibernated(&juliet()).len(), 2);
    assert_eq!(w.store.hibernated(&romeo).len(), 1);
    let evicted: Vec<_> = std::iter::from_fn(|| w.store.poll_event()).collect();
    assert_eq!(evicted.len(), 2);
    assert!(evicted.iter().all(|e| matches!(e,
        StoreEvent::HandedBack { reason: HandBackReason::Evicted, owner, stanzas, .. }
            if *owner == juliet() && stanzas.len() == 1)));
}

#[test]
fn a_resume_acknowledging_too_much_closes_the_stream_and_hands_back() {
    let mut w = World::new(ServerConfig::default());
    let mut a = w.stream("a", juliet());
    let _client = enabled_pair(&mut w, &mut a);
    let id = a.id().cloned().expect("resumable");
    a.send(w.now, chat("held")).expect("sent");
    let _ = drain(&mut a);
    a.handle_disconnect(w.now);

    let mut b = w.stream("b", juliet());
    let resume = xmpp_sm::elements::Resume::new(Namespace::Sm3, id, Some(999));
    let result = b.handle_element(w.now, resume.into());
    assert!(matches!(&result, Err(e) if e.is_fatal()), "{result:?}");
    let out = drain(&mut b);
    assert_eq!(
        out.len(),
        1,
        "only the stream error, never a <resumed/>: {out:?}"
    );
    assert!(out[0].contains("handled-count-too-high"));
    assert!(b.is_closed());
    assert!(events(&mut b).iter().any(|e| matches!(e,
        ServerEvent::HandedBack { reason: HandBackReason::ProtocolError, stanzas } if stanzas.len() == 1)));
    // A loop keyed on "is this fatal" ends: every later input is fatal too.
    assert!(matches!(b.handle_element(w.now, chat("x")), Err(e) if e.is_fatal()));
}

#[test]
fn a_client_times_out_an_unanswered_inline_resume_and_resumes_later() {
    let mut w = World::new(ServerConfig::default());
    let mut a = w.stream("a", juliet());
    let mut client = enabled_pair(&mut w, &mut a);
    client.send(w.now, chat("pending")).expect("queued");
    let _ = std::iter::from_fn(|| client.poll_transmit()).count();
    client.handle_disconnect(w.now);
    a.handle_disconnect(w.now);

    // The inline resume goes into SASL2 <authenticate/>; this server never answers it.
    client.resume(w.now, Placement::Sasl2).expect("resumable");
    let resume = client.poll_transmit().expect("<resume/>");
    assert_eq!(resume.placement(), Placement::Sasl2);
    let deadline = client
        .poll_timeout()
        .expect("a deadline on the pending request");
    w.now = w.now.advance(deadline - w.now.monotonic());
    client.handle_timeout(w.now);
    assert!(matches!(
        client.poll_event(),
        Some(ClientEvent::RequestTimedOut { .. })
    ));
    assert!(client.can_resume(), "the session survives the timeout");

    // A new connection, and a top-level resume works.
    client.handle_disconnect(w.now);
    let mut b = w.stream("b", juliet());
    client
        .resume(w.now, Placement::TopLevel)
        .expect("resumable");
    pass(w.now, &mut client, &mut b);
    assert!(b.is_resumed() && client.is_enabled());
}

#[test]
fn a_stanza_for_a_closed_stream_is_handed_back_to_be_routed_again() {
    let mut w = World::new(ServerConfig::default());
    let mut a = w.stream("a", juliet());
    let _client = enabled_pair(&mut w, &mut a);
    a.handle_disconnect(w.now);
    let refused = a.send(w.now, chat("late")).expect_err("closed");
    assert_eq!(refused.reason(), &Refusal::Closed);
    // Routed again, it lands in the hibernated session.
    assert!(matches!(
        w.store.route(&balcony()),
        Some(Route::Hibernated(_))
    ));
    w.store
        .push(w.now, &balcony(), refused.into_inner())
        .expect("the session takes it");
}

#[test]
fn a_wall_clock_step_fires_no_ack_timer() {
    let mut w = World::new(ServerConfig::default());
    let mut a = w.stream("a", juliet());
    let _client = enabled_pair(&mut w, &mut a);
    a.send(w.now, chat("one")).expect("sent");
    let _ = drain(&mut a);
    let deadline = a.poll_timeout().expect("an ack request by time");
    // The wall clock jumps a day ahead; the monotonic clock moves one second.
    let stepped = w
        .now
        .advance(Duration::from_secs(1))
        .with_wall(w.now.wall() + Duration::from_secs(86_400));
    a.handle_timeout(stepped);
    assert!(
        drain(&mut a).is_empty(),
        "no <r/> before the monotonic deadline"
    );
    assert_eq!(a.poll_timeout(), Some(deadline));
}

#[test]
fn a_stanza_sent_through_the_store_reaches_the_live_stream_on_wake() {
    let mut w = World::new(ServerConfig::default());
    let mut a = w.stream("a", juliet());
    let mut client = enabled_pair(&mut w, &mut a);
    w.store
        .send(w.now, &balcony(), chat("routed"))
        .expect("a live stream takes it");
    w.store
        .send(w.now, &balcony(), chat("routed too"))
        .expect("a live stream takes it");
    assert_eq!(w.woken(), ["a"], "woken once for the batch");
    a.handle_wake(w.now);
    let out = drain(&mut a);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(out[0].contains(">routed<") && out[1].contains("routed too"));
    assert_eq!(a.unacked(), 2, "counted and held until acknowledged");
    let _ = client.handle_element(w.now, out[0].parse().expect("xml"));
}

#[test]
fn stanzas_waiting_for_a_stream_that_hibernates_go_into_its_session() {
    let mut w = World::new(ServerConfig::default());
    let mut a = w.stream("a", juliet());
    let _client = enabled_pair(&mut w, &mut a);
    w.store
        .send(w.now, &balcony(), chat("in the inbox"))
        .expect("routed");
    // The connection is lost before the task took the stanza.
    a.handle_disconnect(w.now);
    assert!(
        events(&mut a)
            .iter()
            .all(|e| !matches!(e, ServerEvent::HandedBack { .. }))
    );
    let (id, _) = w.store.hibernated(&juliet()).pop().expect("hibernated");
    let mut b = w.stream("b", juliet());
    let resume = xmpp_sm::elements::Resume::new(Namespace::Sm3, id, Some(0));
    let _ = b.handle_element(w.now, resume.into());
    let out = drain(&mut b);
    assert!(out.iter().any(|x| x.contains("in the inbox")), "{out:?}");
}

#[test]
fn stanzas_waiting_for_a_stream_follow_its_session_to_the_stream_taking_it_over() {
    let mut w = World::new(ServerConfig::default());
    let mut a = w.stream("a", juliet());
    let _client = enabled_pair(&mut w, &mut a);
    let id = a.id().cloned().expect("resumable");
    let mut b = w.stream("b", juliet());
    let resume = xmpp_sm::elements::Resume::new(Namespace::Sm3, id, Some(0));
    let _ = b.handle_element(w.now, resume.into());
    // Routed to A while B waits for the take-over.
    w.store
        .send(w.now, &balcony(), chat("in flight"))
        .expect("routed");
    a.handle_wake(w.now);
    assert!(a.is_closed());
    b.handle_wake(w.now);
    let out = drain(&mut b);
    assert!(out[0].starts_with("<resumed"));
    assert!(out.iter().any(|x| x.contains("in flight")), "{out:?}");
}
