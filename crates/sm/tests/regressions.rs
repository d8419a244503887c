//! Regression tests: each one showed a bug (from reviews, fuzzing, and the adversarial run of
//! issue 7), now fixed. Each says what went wrong.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use jid::{BareJid, FullJid};
use minidom::Element;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xmpp_parsers::stanza_error::DefinedCondition;
use xmpp_sm::elements::{Enable, Failed, Resume};
use xmpp_sm::{
    AckPolicy, Client, ClientConfig, ClientEvent, Error, HandBackReason, HibernatedSession,
    Incoming, Monotonic, Namespace, Now, PeerError, Placement, RecordError, Refusal, RestoreError,
    Route, Server, ServerConfig, ServerEvent, SessionStore, SmId, StoreEvent, StoreSnapshot,
    StreamHandle, Unacked,
};

fn t0() -> Now {
    Now::new(
        Monotonic::ZERO,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    )
}

fn at(secs: u64) -> Now {
    t0().advance(Duration::from_secs(secs))
}

fn juliet() -> BareJid {
    "juliet@example.com".parse().expect("jid")
}

fn balcony() -> FullJid {
    "juliet@example.com/balcony".parse().expect("jid")
}

fn xml(text: &str) -> Element {
    text.parse().expect("test xml")
}

fn msg(n: u32) -> Element {
    xml(&format!(
        "<message xmlns='jabber:client' to='romeo@example.net'><body>{n}</body></message>"
    ))
}

fn manual_client() -> ClientConfig {
    let mut c = ClientConfig::default();
    c.ack = AckPolicy::manual();
    c
}

fn manual_server() -> ServerConfig {
    let mut c = ServerConfig::default();
    c.ack = AckPolicy::manual();
    c
}

/// A handle that writes down which stream was woken.
#[derive(Debug, Clone)]
struct Wake(&'static str, Rc<RefCell<Vec<&'static str>>>);

impl StreamHandle for Wake {
    fn wake(&self) {
        self.1.borrow_mut().push(self.0);
    }
}

struct World {
    store: SessionStore<Wake>,
    rng: ChaCha20Rng,
    log: Rc<RefCell<Vec<&'static str>>>,
}

impl World {
    fn new(config: ServerConfig) -> Self {
        Self {
            store: SessionStore::new(config),
            rng: ChaCha20Rng::seed_from_u64(7),
            log: Rc::default(),
        }
    }

    fn stream(&mut self, name: &'static str) -> Server<Wake> {
        let wake = Wake(name, Rc::clone(&self.log));
        self.store.stream(juliet(), wake, &mut self.rng)
    }

    fn woken(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.log.borrow_mut())
    }

    fn events(&self) -> Vec<StoreEvent> {
        std::iter::from_fn(|| self.store.poll_event()).collect()
    }
}

fn sent(server: &mut Server<Wake>) -> Vec<Element> {
    std::iter::from_fn(|| server.poll_transmit())
        .map(xmpp_sm::Transmit::into_element)
        .collect()
}

fn events(server: &mut Server<Wake>) -> Vec<ServerEvent> {
    std::iter::from_fn(|| server.poll_event()).collect()
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

/// A client enabled (resumable) on a new stream `name`, bound to `balcony`, events drained.
fn enabled(w: &mut World, name: &'static str) -> (Client, Server<Wake>) {
    let mut client = Client::new(manual_client());
    let mut server = w.stream(name);
    server.handle_bind(t0(), balcony()).expect("bind");
    client
        .enable(t0(), Namespace::Sm3, Placement::TopLevel)
        .expect("enable");
    pass(t0(), &mut client, &mut server);
    assert!(client.is_enabled() && server.id().is_some());
    while client.poll_event().is_some() {}
    let _ = events(&mut server);
    (client, server)
}

fn resume(id: &SmId, h: u32) -> Element {
    Resume::new(Namespace::Sm3, id.clone(), Some(h)).into()
}

fn item_not_found(h: Option<u32>) -> Element {
    let mut failed = Failed::new(Namespace::Sm3, DefinedCondition::ItemNotFound);
    failed.h = h;
    failed.into()
}

// ----- issue 7: bugs an adversarial run found -----

/// Issue 7: "A stream closed after `take_over` emits `SessionEnded`", and the caller who then
/// ended the session got the next legitimate resume refused with `<failed h='0'/>`. The
/// repro: A enabled with id x; B receives `<resume>` for x; A hands the session over; B
/// resumes; A is closed; a later resume of x must still work.
#[test]
fn a_stream_closed_after_a_take_over_does_not_end_the_session() {
    let mut w = World::new(manual_server());
    let (mut client, mut a) = enabled(&mut w, "a");
    let x = a.id().cloned().expect("resumable");
    let mut b = w.stream("b");
    let _ = b.handle_element(at(1), resume(&x, 0));
    assert_eq!(w.woken(), ["a"]);
    a.handle_wake(at(1));
    assert_eq!(events(&mut a), [ServerEvent::TakenOver]);
    b.handle_wake(at(1));
    assert!(b.is_resumed());
    // The old stream's connection task closes it: nothing ends.
    a.close(at(2));
    assert!(events(&mut a).is_empty(), "no hand-back, no end");
    drop(a);
    assert!(w.events().is_empty());
    // The client moves on again; its resume of x works.
    client.handle_disconnect(at(3));
    b.handle_disconnect(at(3));
    let mut c = w.stream("c");
    let _ = c.handle_element(at(4), resume(&x, 0));
    assert!(c.is_resumed(), "{:?}", sent(&mut c));
}

/// The same with the old stream closed while the take-over is still pending (before its
/// task ran): the session goes to the stream waiting for it, with every stanza.
#[test]
fn a_stream_closed_during_a_take_over_hands_its_session_over() {
    let mut w = World::new(manual_server());
    let (_client, mut a) = enabled(&mut w, "a");
    let x = a.id().cloned().expect("resumable");
    a.send(at(1), msg(1)).expect("send");
    let _ = sent(&mut a);
    let mut b = w.stream("b");
    let _ = b.handle_element(at(2), resume(&x, 0));
    a.close(at(2));
    assert_eq!(events(&mut a), [ServerEvent::TakenOver]);
    assert_eq!(w.woken(), ["a", "b"]);
    b.handle_wake(at(2));
    let out = sent(&mut b);
    assert_eq!(out.len(), 2, "<resumed/> and the held stanza: {out:?}");
    assert_eq!(out[1], msg(1));
}

/// Issue 7 (same bug, second form): a stream closed after it hibernated must not end the
/// session it no longer holds.
#[test]
fn a_stream_closed_after_hibernating_does_not_end_the_session() {
    let mut w = World::new(manual_server());
    let (_client, mut a) = enabled(&mut w, "a");
    let x = a.id().cloned().expect("resumable");
    a.handle_disconnect(at(1));
    a.close(at(2));
    drop(a);
    assert_eq!(w.store.hibernated_count(), 1);
    let mut b = w.stream("b");
    let _ = b.handle_element(at(3), resume(&x, 0));
    assert!(b.is_resumed());
}

/// Issue 7: "Hibernating a second session under an id already hibernated drops the first
/// one's stanzas with no event, and leaves a stale JID index." Streams never reuse a known id
/// (see `flows.rs`); the remaining way in is a record from elsewhere: `adopt` refuses it and
/// hands it back whole, and the session already there keeps its stanzas and its index.
#[test]
fn a_second_session_under_a_hibernated_id_is_handed_back() {
    let mut w = World::new(manual_server());
    let (_client, mut a) = enabled(&mut w, "a");
    let x = a.id().cloned().expect("resumable");
    a.send(at(1), msg(1)).expect("send");
    a.handle_disconnect(at(1));
    let record = w.store.snapshot(at(1)).sessions.remove(0);
    // The same record replayed, and one that also claims another resource.
    let refused = w.store.adopt(at(2), record.clone()).expect_err("known id");
    assert_eq!(refused.reason(), &Refusal::DuplicateId(x.clone()));
    let back = refused.into_inner();
    assert_eq!(back, record, "handed back untouched");
    assert_eq!(back.into_unacked().len(), 1, "with its stanza");
    // Nothing changed in the store: one session, routed by its JID, with its stanza.
    assert_eq!(w.store.hibernated_count(), 1);
    assert_eq!(
        w.store.hibernated(&juliet()),
        [(x.clone(), Some(balcony()))]
    );
    assert!(matches!(w.store.route(&balcony()), Some(Route::Hibernated(h)) if h == x));
    let mut b = w.stream("b");
    let _ = b.handle_element(at(3), resume(&x, 0));
    assert_eq!(sent(&mut b)[1..], [msg(1)]);
    // Still refused while the session is live again, and once it has ended.
    let refused = w.store.adopt(at(4), record.clone()).expect_err("live id");
    assert_eq!(refused.reason(), &Refusal::DuplicateId(x.clone()));
    b.close(at(5));
    let refused = w.store.adopt(at(6), record).expect_err("ended id");
    assert_eq!(refused.reason(), &Refusal::DuplicateId(x));
}

/// Issue 7: "deserialising a store checks that its indexes agree": two records with one
/// SM-ID, two on one full JID, an ended entry that repeats a session's id.
#[test]
fn restore_refuses_a_snapshot_whose_indexes_disagree() {
    let mut w = World::new(manual_server());
    let (_client, mut a) = enabled(&mut w, "a");
    a.handle_disconnect(at(1));
    let snapshot = w.store.snapshot(at(1));
    let restore = |s: StoreSnapshot| SessionStore::<Wake>::restore(manual_server(), s, at(1));

    let mut twice = snapshot.clone();
    twice.sessions.push(twice.sessions[0].clone());
    let id = twice.sessions[0].id().to_string();
    assert_eq!(
        restore(twice).err(),
        Some(RestoreError::Session {
            index: 1,
            error: RecordError::DuplicateId(id)
        })
    );
    // Another session on the same full JID: an older snapshot's session with a fresh id.
    let mut other_world = World::new(manual_server());
    other_world.rng = ChaCha20Rng::seed_from_u64(99);
    let (_c, mut other) = enabled(&mut other_world, "o");
    other.handle_disconnect(at(1));
    let mut one_jid = snapshot.clone();
    one_jid
        .sessions
        .extend(other_world.store.snapshot(at(1)).sessions);
    assert_eq!(
        restore(one_jid).err(),
        Some(RestoreError::Session {
            index: 1,
            error: RecordError::Index("two sessions on one full JID")
        })
    );
    // An ended entry naming a hibernated session.
    let mut w2 = World::new(manual_server());
    w2.rng = ChaCha20Rng::seed_from_u64(7);
    let (_c2, mut ended) = enabled(&mut w2, "e");
    ended.close(at(1));
    let mut both = snapshot.clone();
    both.ended = w2.store.snapshot(at(1)).ended;
    let id = both.ended[0].id.to_string();
    assert_eq!(
        restore(both).err(),
        Some(RestoreError::Ended {
            index: 0,
            error: RecordError::DuplicateId(id)
        })
    );
    assert!(restore(snapshot).is_ok());
}

/// Issue 7: "A stored session whose stanza XML nests 10,000 levels deep deserialises, then
/// overflows the stack when dropped (process abort)." Nesting is bounded on the serde path.
#[test]
fn a_stored_stanza_nested_ten_thousand_deep_is_refused_without_a_stack_overflow() {
    let (record, _) = stored_record();
    let deep = format!(
        "<message xmlns='jabber:client'>{}{}</message>",
        "<x>".repeat(10_000),
        "</x>".repeat(10_000)
    );
    let mut json: serde_json::Value = serde_json::to_value(&record).expect("serialise");
    json["queue"][0]["xml"] = deep.into();
    // On a small stack, as a server's worker thread might have: dropping a 10,000-deep
    // minidom tree would overflow it.
    let result = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || serde_json::from_value::<HibernatedSession>(json).map(drop))
        .expect("spawn")
        .join()
        .expect("no stack overflow");
    let error = result.expect_err("refused").to_string();
    assert!(error.contains("queued stanza 0"), "{error}");
}

/// Issue 7: "A stored session whose owner was edited resumes for the new owner." A record is
/// validated like peer data: its bound resource must belong to its owner.
#[test]
fn a_stored_session_whose_owner_was_edited_is_refused() {
    let (record, _) = stored_record();
    let mut json: serde_json::Value = serde_json::to_value(&record).expect("serialise");
    json["owner"] = "romeo@example.net".into();
    let error = serde_json::from_value::<HibernatedSession>(json.clone())
        .expect_err("refused")
        .to_string();
    let expected = RecordError::ResourceOfAnotherAccount {
        owner: "romeo@example.net".to_owned(),
        resource: balcony().to_string(),
    };
    assert!(error.contains(&expected.to_string()), "{error}");
    // Inside a whole snapshot too.
    let snapshot = serde_json::json!({ "sessions": [json], "ended": [], "events": [] });
    let error = serde_json::from_value::<StoreSnapshot>(snapshot)
        .expect_err("refused")
        .to_string();
    assert!(error.contains(&expected.to_string()), "{error}");
}

/// Issue 7: "a `<stream:error/>` placed in a stored queue is retransmitted as a stanza."
#[test]
fn a_stored_queue_holding_a_stream_error_is_refused() {
    let (record, _) = stored_record();
    let mut json: serde_json::Value = serde_json::to_value(&record).expect("serialise");
    json["queue"][0]["xml"] = "<error xmlns='http://etherx.jabber.org/streams'>\
        <conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></error>"
        .into();
    let error = serde_json::from_value::<HibernatedSession>(json)
        .expect_err("refused")
        .to_string();
    assert!(
        error.contains(&RecordError::NotAStanza { index: 0 }.to_string()),
        "{error}"
    );
}

/// A persisted record whose counters disagree with its queue (`sent` beyond `outbound`) made
/// an ordinary `<resume h/>` panic; it is refused when read.
#[test]
fn inconsistent_persisted_counters_are_refused_not_a_panic() {
    let (record, _) = stored_record();
    let mut json: serde_json::Value = serde_json::to_value(&record).expect("serialise");
    json["sent"] = 5.into(); // one queued stanza: outbound 1, acked 0
    let error = serde_json::from_value::<HibernatedSession>(json)
        .expect_err("refused")
        .to_string();
    assert!(error.contains("counters inconsistent"), "{error}");
}

/// A hibernated session with one queued stanza, as a record, and its store.
fn stored_record() -> (HibernatedSession, World) {
    let mut w = World::new(manual_server());
    let (_client, mut a) = enabled(&mut w, "a");
    a.send(at(1), msg(1)).expect("send");
    a.handle_disconnect(at(1));
    let record = w.store.snapshot(at(1)).sessions.remove(0);
    (record, w)
}

// ----- issue 7: smaller findings a test can show -----

/// `Unacked::first_sent` of a stanza sent while stream management was off is the time it was
/// given to `send`, not the time of the disconnect.
#[test]
fn uncounted_stanzas_are_handed_back_with_the_time_they_were_sent() {
    let mut w = World::new(manual_server());
    let mut server = w.stream("a");
    server.handle_bind(t0(), balcony()).expect("bind");
    server.send(at(1), msg(1)).expect("sent unmanaged");
    server.handle_disconnect(at(5));
    assert_eq!(
        events(&mut server),
        [ServerEvent::HandedBack {
            reason: HandBackReason::StreamClosed,
            stanzas: vec![Unacked::new(msg(1), at(1).wall())],
        }]
    );
    let mut client = Client::new(manual_client());
    client.send(at(2), msg(2)).expect("sent unmanaged");
    client.handle_disconnect(at(9));
    assert_eq!(
        client.poll_event(),
        Some(ClientEvent::HandedBack {
            reason: HandBackReason::StreamClosed,
            stanzas: vec![Unacked::new(msg(2), at(2).wall())],
        })
    );
}

/// `HandBackReason::Expired` was never emitted; an expired session now reports it, with the
/// stanzas' first-sent times and the JID they were for.
#[test]
fn expiry_is_reported_as_expired() {
    let (_record, w) = stored_record();
    w.store.handle_timeout(at(301));
    assert!(matches!(
        &w.events()[..],
        [StoreEvent::HandedBack { reason: HandBackReason::Expired, jid: Some(j), stanzas, .. }]
            if *j == balcony() && stanzas[0].first_sent == at(1).wall()
    ));
}

/// `Session.max` was never read: the granted time is what a record carries and what its
/// deadline is computed from.
#[test]
fn the_granted_resumption_time_is_the_records_max_and_deadline() {
    let mut w = World::new(manual_server());
    let mut server = w.stream("a");
    server.handle_bind(t0(), balcony()).expect("bind");
    let enable = Enable::new(Namespace::Sm3).with_resume().with_max(120);
    let _ = server.handle_element(t0(), enable.into());
    server.handle_disconnect(at(10));
    let record = w.store.snapshot(at(10)).sessions.remove(0);
    assert_eq!(record.max(), 120);
    assert_eq!(record.deadline(), at(130).wall());
    assert_eq!(w.store.poll_timeout(), Some(at(130).monotonic()));
}

// ----- earlier reviews and fuzzing -----

/// XEP-0198 §3: "a client SHALL only make at most one attempt to enable stream management".
/// After a refused enable, a second `<enable/>` is `EnableTwice`, not a fresh request.
#[test]
fn second_enable_after_a_refused_one_is_enable_twice() {
    let mut config = manual_server();
    config.enable = xmpp_sm::EnablePolicy::Ask;
    let mut w = World::new(config);
    let mut server = w.stream("a");
    server.handle_bind(t0(), balcony()).expect("bind");
    let enable = || xml("<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
    assert_eq!(server.handle_element(t0(), enable()), Ok(Incoming::Handled));
    server
        .reject_enable(t0(), DefinedCondition::ResourceConstraint)
        .expect("reject");
    assert_eq!(
        server.handle_element(at(1), enable()),
        Err(Error::Peer(PeerError::EnableTwice { ns: Namespace::Sm3 }))
    );
}

/// A clean close tells the server what was handled (XEP-0198 §4: send `<a/>` before closing).
#[test]
fn clean_close_sends_a_final_ack() {
    let mut w = World::new(manual_server());
    let (mut client, mut server) = enabled(&mut w, "a");
    server.send(at(1), msg(1)).expect("send");
    pass(at(1), &mut client, &mut server);
    client.close(at(2));
    let last = client.poll_transmit().expect("final ack");
    assert_eq!(*last, xml("<a xmlns='urn:xmpp:sm:3' h='1'/>"));
}

/// `max='0'` is not a positiveInteger: the default grant applies.
#[test]
fn zero_max_gets_the_default_grant() {
    let mut w = World::new(manual_server());
    let mut server = w.stream("a");
    server.handle_bind(t0(), balcony()).expect("bind");
    let enable = xml("<enable xmlns='urn:xmpp:sm:3' resume='true' max='0'/>");
    let _ = server.handle_element(t0(), enable).expect("request");
    let enabled = sent(&mut server).pop().expect("<enabled/>");
    assert_eq!(enabled.attr("max"), Some("300"));
}

/// Found by fuzzing `sm_server`: routing takes no time, so it can name a session whose
/// deadline has passed; `push` then expires it and hands the stanza back instead of queueing
/// it for a resumption that can no longer happen.
#[test]
fn push_to_an_overdue_session_expires_it() {
    let (_record, w) = stored_record();
    assert!(matches!(
        w.store.route(&balcony()),
        Some(Route::Hibernated(_))
    ));
    let late = w
        .store
        .push(at(302), &balcony(), msg(2))
        .expect_err("expired");
    assert_eq!(late.reason(), &Refusal::UnknownSession);
    assert_eq!(late.into_inner(), msg(2));
    assert!(matches!(
        &w.events()[..],
        [StoreEvent::HandedBack {
            reason: HandBackReason::Expired,
            ..
        }]
    ));
    assert!(w.store.route(&balcony()).is_none());
}

/// A newer `<resume/>` for a session another stream has been handed but not yet collected
/// (its client gave up on that connection) used to be refused as unknown, and the session
/// was lost with the superseded take-over. The newer stream resumes it; the older one gets
/// `conflict`, so its client would keep the session too.
#[test]
fn a_newer_resume_takes_a_session_still_in_transit() {
    let mut w = World::new(manual_server());
    let (_client, mut a) = enabled(&mut w, "a");
    let x = a.id().cloned().expect("resumable");
    a.send(at(1), msg(1)).expect("send");
    let _ = sent(&mut a);
    let mut b = w.stream("b");
    let _ = b.handle_element(at(2), resume(&x, 0));
    a.handle_wake(at(2)); // handed to B, which has not run yet
    let mut c = w.stream("c");
    let _ = c.handle_element(at(3), resume(&x, 0));
    assert!(c.is_resumed());
    assert_eq!(sent(&mut c)[1..], [msg(1)]);
    b.handle_wake(at(3));
    assert!(b.is_closed());
    assert_eq!(events(&mut b), [ServerEvent::TakenOver]);
    let conflict = sent(&mut b).pop().expect("conflict");
    assert!(conflict.has_child("conflict", "urn:ietf:params:xml:ns:xmpp-streams"));
}

/// A take-over superseded while still pending answers `conflict`, never `<failed/>`: a stale
/// `<resume/>` arriving after the client's current one must not make the client give the
/// session up.
#[test]
fn a_superseded_claimant_gets_conflict_not_failed() {
    let mut w = World::new(manual_server());
    let (_client, _a) = enabled(&mut w, "a");
    let x = _a.id().cloned().expect("resumable");
    let mut current = w.stream("b");
    let _ = current.handle_element(at(1), resume(&x, 0));
    let mut stale = w.stream("c");
    let _ = stale.handle_element(at(1), resume(&x, 0));
    assert_eq!(w.woken(), ["a", "b", "a"]);
    current.handle_wake(at(1));
    assert!(current.is_closed());
    let out = sent(&mut current);
    assert!(
        out[0].is("error", "http://etherx.jabber.org/streams"),
        "{out:?}"
    );
    assert_ne!(out[0], item_not_found(None));
}

/// Hibernating a session that was handed to a claimant which then lost its connection
/// started its deadline from the old stream's detach time on the wall clock, so a wall-clock
/// step in between expired it at once. It gets its granted time from the moment it hibernates.
#[test]
fn a_wall_clock_step_during_a_take_over_does_not_expire_the_session() {
    let mut w = World::new(manual_server());
    let (_client, mut a) = enabled(&mut w, "a");
    let x = a.id().cloned().expect("resumable");
    let mut b = w.stream("b");
    let _ = b.handle_element(at(1), resume(&x, 0));
    a.handle_wake(at(1));
    let stepped = at(1).with_wall(at(1).wall() + Duration::from_secs(3600));
    b.handle_disconnect(stepped);
    assert!(matches!(
        &events(&mut b)[..],
        [ServerEvent::Hibernated { id, .. }] if *id == x
    ));
    assert_eq!(w.store.poll_timeout(), Some(at(301).monotonic()));
    w.store.handle_timeout(stepped);
    assert!(w.events().is_empty());
    assert_eq!(w.store.hibernated_count(), 1);
}

/// Stanzas routed through `SessionStore::send` wait in the stream's inbox; when they came
/// back (the stream closed, or hibernated and then expired) they were stamped with the time
/// the stream took them, not the time they were given to the library.
#[test]
fn routed_stanzas_keep_the_time_they_were_routed() {
    let mut w = World::new(manual_server());
    let (_client, mut a) = enabled(&mut w, "a");
    w.store
        .send(at(1), &balcony(), msg(1))
        .expect("into the inbox");
    assert_eq!(w.woken(), ["a"]);
    // The connection is lost before the task took it: it travels with the session...
    a.handle_disconnect(at(5));
    let _ = events(&mut a);
    // ...and comes back, at expiry, with the time it was routed.
    w.store.handle_timeout(at(400));
    assert!(matches!(
        &w.events()[..],
        [StoreEvent::HandedBack { reason: HandBackReason::Expired, stanzas, .. }]
            if *stanzas == [Unacked::new(msg(1), at(1).wall())]
    ));
    // On a stream that is not resumable, closing hands it back with that time too.
    let mut config = manual_server();
    config.resume = false;
    let mut w = World::new(config);
    let mut b = w.stream("b");
    b.handle_bind(t0(), balcony()).expect("bind");
    let _ = b.handle_element(t0(), Enable::new(Namespace::Sm3).with_resume().into());
    assert!(b.is_enabled() && b.id().is_none());
    let _ = (sent(&mut b), events(&mut b));
    w.store
        .send(at(2), &balcony(), msg(2))
        .expect("into the inbox");
    b.close(at(9));
    assert_eq!(
        events(&mut b),
        [ServerEvent::HandedBack {
            reason: HandBackReason::StreamClosed,
            stanzas: vec![Unacked::new(msg(2), at(2).wall())],
        }]
    );
}

/// Found by the `sm_server` fuzz target after about 100,000 runs: a session came back to
/// the store (a take-over given up, its claimant closed) while another stream had bound its
/// full JID, and `hibernate` overwrote that JID's slot. One session then sat in the store with
/// no route to it, the next hibernation on the JID made two, and the store's own snapshot no
/// longer restored ("two sessions on one full JID"). Now a session hibernating onto a JID a
/// live stream holds ends (`Replaced`, its stanzas handed back), as a bind ends a hibernated
/// session on its JID, and one hibernating onto an older hibernated session replaces it.
#[cfg(feature = "__fuzzing")]
#[test]
fn a_session_returning_to_a_jid_bound_meanwhile_does_not_break_the_index() {
    let input = include_bytes!("fixtures/fuzz/sm_server-two-sessions-on-one-jid.bin");
    xmpp_sm::fuzzing::server(input);
}

/// The same bug as above, step by step (the fixture's bytes decode differently whenever the
/// fuzz target's operations change): a take-over is handed over, then given up by its
/// claimant after another stream bound the session's full JID. The session must not take
/// that JID's slot: it ends, replaced, its stanzas handed back, and the store stays whole.
#[cfg(feature = "serde")]
#[test]
fn a_session_given_back_onto_a_jid_bound_meanwhile_ends_replaced() {
    let mut w = World::new(manual_server());
    let (_client, mut a) = enabled(&mut w, "a");
    let x = a.id().cloned().expect("resumable");
    a.send(at(1), msg(1)).expect("send");
    let _ = sent(&mut a);
    let mut b = w.stream("b");
    let _ = b.handle_element(at(1), resume(&x, 0));
    assert!(b.is_resume_pending());
    a.handle_wake(at(1)); // handed over to b, which has not collected it yet
    assert!(a.is_closed());
    let mut c = w.stream("c");
    c.handle_bind(at(2), balcony()).expect("the JID is free");
    b.handle_disconnect(at(3)); // b gives up: the session comes back to the store
    let ended: Vec<_> = events(&mut b)
        .into_iter()
        .chain(w.events().into_iter().filter_map(|e| match e {
            StoreEvent::HandedBack {
                reason, stanzas, ..
            } => Some(ServerEvent::HandedBack { reason, stanzas }),
            _ => None,
        }))
        .collect();
    assert!(
        ended.iter().any(|e| matches!(
            e,
            ServerEvent::HandedBack { reason: HandBackReason::Replaced, stanzas }
                if stanzas.len() == 1 && stanzas[0].stanza == msg(1)
        )),
        "{ended:?}"
    );
    assert_eq!(w.store.hibernated_count(), 0);
    let snapshot = w.store.snapshot(at(3));
    assert!(SessionStore::<Wake>::restore(manual_server(), snapshot, at(3)).is_ok());
}

/// The `sm_record` fuzz target's seeds (and what it checks) on real records: a checkpoint, one
/// with stanzas routed to it while it waited (`sent` behind `outbound`; resuming it with an `h`
/// beyond used to renumber those stanzas wrongly, leaving the counters and the queue apart), a
/// hibernated record, a store snapshot, and what the target found.
#[cfg(all(feature = "__fuzzing", feature = "serde"))]
#[test]
fn stored_records_read_back_adopt_and_resume() {
    for seed in [
        include_bytes!("fixtures/records/checkpoint.json").as_slice(),
        include_bytes!("fixtures/records/checkpoint-routed-to.json"),
        include_bytes!("fixtures/records/hibernated.json"),
        include_bytes!("fixtures/records/snapshot.json"),
        // Found by the target: a record in sm:1 (resumable only where sm:1 is offered).
        include_bytes!("fixtures/records/sm1-not-a-checkpoint.json"),
    ] {
        assert!(serde_json::from_slice::<serde_json::Value>(seed).is_ok());
        xmpp_sm::fuzzing::record(seed);
    }
}
