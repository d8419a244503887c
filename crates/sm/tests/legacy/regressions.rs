//! Regression tests from a review: each one showed a bug, now fixed.

use std::time::{Duration, SystemTime};

use jid::{BareJid, FullJid};
use minidom::Element;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xmpp_sm::elements::inline;
use xmpp_sm::{
    AckPolicy, Claim, Client, ClientConfig, HibernatedSession, Incoming, Namespace, Server,
    ServerConfig, SessionStore, ns,
};

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn at(secs: u64) -> SystemTime {
    t0() + Duration::from_secs(secs)
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

fn wrap(outer: &str, ns: &str, inner: &[Element]) -> Element {
    let inner: String = inner.iter().map(String::from).collect();
    xml(&format!("<{outer} xmlns='{ns}'>{inner}</{outer}>"))
}

/// A client and a bound server with stream management enabled (resumable), at `t0`.
fn enabled_pair(seed: u64) -> (Client, Server) {
    let mut client = Client::new(manual_client());
    let mut server = Server::new(manual_server(), juliet());
    server.bound(t0(), balcony()).expect("bind");
    let enable = client.enable(t0(), Namespace::Sm3).expect("enable");
    let Ok(Incoming::EnableRequest(_)) = server.handle_element(t0(), enable) else {
        panic!("enable request");
    };
    let enabled = server
        .accept_enable(t0(), &mut ChaCha20Rng::seed_from_u64(seed))
        .expect("accept");
    let _ = client.handle_element(t0(), enabled).expect("enabled");
    (client, server)
}

/// An enabled, resumable client whose connection just dropped, and an expired (forgotten)
/// session on the server side: a resume will fail.
fn disconnected_client() -> Client {
    let mut client = Client::new(manual_client());
    let mut server = Server::new(manual_server(), juliet());
    server.bound(t0(), balcony()).expect("bind");
    let enable = client.enable(t0(), Namespace::Sm3).expect("enable");
    let Ok(Incoming::EnableRequest(_)) = server.handle_element(t0(), enable) else {
        panic!("enable request");
    };
    let enabled = server
        .accept_enable(t0(), &mut ChaCha20Rng::seed_from_u64(1))
        .expect("accept");
    let _ = client.handle_element(t0(), enabled).expect("enabled");
    client.handle_disconnect(at(1));
    while client.poll_event().is_some() {}
    assert!(client.can_resume());
    client
}

/// XEP-0198 §9.2.1 / Example 28 and 31 (and XEP-0386 §3.2): a client puts `<resume/>` in
/// `<authenticate/>` *and* `<enable/>` in `<bind/>`, so that a failed resumption still ends in
/// a managed stream in one round trip. `Client` cannot take part: `enable` is refused while
/// resuming, and after the inline `<failed/>` the `<enabled/>` inside `<bound/>` is rejected as
/// unexpected, so the server counts and asks for acks on a stream the client does not manage.
#[test]
fn inline_resume_with_bind2_enable_fallback() {
    let mut client = disconnected_client();
    let resume = client.resume(at(2)).expect("resume");
    // The client API should let the caller add the fallback <enable/> (Example 28).
    let enable = client
        .enable(at(2), Namespace::Sm3)
        .expect("a fallback enable while resuming");
    let bind = wrap("bind", ns::BIND2, &[enable]);
    let authenticate = wrap("authenticate", ns::SASL2, &[resume, bind]);

    // Server: resume first (fails: unknown session), then bind, then the inline enable.
    let mut server = Server::new(manual_server(), juliet());
    let found = inline::resume_in_authenticate(&authenticate)
        .cloned()
        .expect("inline resume");
    let Ok(Incoming::ResumeRequest(_)) = server.handle_element(at(2), found) else {
        panic!("resume request");
    };
    let failed = server.reject_resume(at(2), None).expect("reject");
    server
        .bound(at(2), balcony())
        .expect("bind after a failed resume");
    let bind = authenticate.get_child("bind", ns::BIND2).expect("bind");
    let found = inline::enable_in_bind(bind)
        .cloned()
        .expect("inline enable");
    let Ok(Incoming::EnableRequest(_)) = server.handle_element(at(2), found) else {
        panic!("enable request");
    };
    let enabled = server
        .accept_enable(at(2), &mut ChaCha20Rng::seed_from_u64(2))
        .expect("accept");
    let success = wrap(
        "success",
        ns::SASL2,
        &[failed, wrap("bound", ns::BIND2, &[enabled])],
    );

    // Client: the replies, in document order.
    let failed = inline::reply_in_success(&success).cloned().expect("failed");
    assert_eq!(client.handle_element(at(2), failed), Ok(Incoming::Handled));
    let bound = success.get_child("bound", ns::BIND2).expect("bound");
    let enabled = inline::reply_in_bound(bound).cloned().expect("enabled");
    assert_eq!(
        client.handle_element(at(2), enabled),
        Ok(Incoming::Handled),
        "the <enabled/> of the fallback enable is refused"
    );
    assert!(server.is_enabled());
    assert!(
        client.is_enabled(),
        "server manages the stream, client does not"
    );
}

/// A persisted session is read back from the caller's store. The deserialiser checks that the
/// queue length matches `outbound - acked`, but not that `sent` lies between `acked` and
/// `outbound`; an inconsistent record then makes an ordinary `<resume h/>` panic in
/// `VecDeque::drain` (core.rs:153) instead of being refused when it is read.
#[test]
fn inconsistent_persisted_counters_are_refused_not_a_panic() {
    let (_client, mut server) = enabled_pair(3);
    let session = server.handle_disconnect(at(1)).expect("resumable");
    let mut json: serde_json::Value = serde_json::to_value(&session).expect("serialise");
    json["counters"]["sent"] = 5.into(); // queue empty, outbound 0, acked 0
    let Ok(session) = serde_json::from_value::<HibernatedSession>(json) else {
        return; // refused at read time: fine
    };
    let mut server = Server::new(manual_server(), juliet());
    let resume = xml(&format!(
        "<resume xmlns='urn:xmpp:sm:3' previd='{}' h='5'/>",
        session.id()
    ));
    let _ = server.handle_element(at(2), resume).expect("request");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        server.accept_resume(at(2), session)
    }));
    assert!(
        result.is_ok(),
        "accept_resume panicked on a deserialised session"
    );
}

/// `SessionStore::claim` takes `now` but ignores it: a session past its deadline is resumed
/// (and `push` keeps queueing into it) whenever the caller's timer for `handle_timeout` is
/// late, although `HibernatedSession::deadline` says it "expires unless resumed" by then.
#[test]
fn claim_after_the_deadline_does_not_resume() {
    let mut client = Client::new(manual_client());
    let mut server = Server::new(manual_server(), juliet());
    server.bound(t0(), balcony()).expect("bind");
    let enable = client.enable(t0(), Namespace::Sm3).expect("enable");
    let _ = server.handle_element(t0(), enable).expect("request");
    let enabled = server
        .accept_enable(t0(), &mut ChaCha20Rng::seed_from_u64(4))
        .expect("accept");
    let id = server.id().cloned().expect("resumable");
    let mut store = SessionStore::default();
    store.register(id.clone(), juliet());
    let _ = client.handle_element(t0(), enabled).expect("enabled");
    server.send(at(1), msg(1)).expect("send");
    let session = server.handle_disconnect(at(1)).expect("resumable");
    let deadline = session.deadline();
    store.hibernate(at(1), session);
    let late = deadline + Duration::from_secs(3600);
    assert!(
        !matches!(store.claim(late, &id, &juliet()), Claim::Hibernated(_)),
        "resumed an hour after its deadline"
    );
}

/// XEP-0198 §3: "a client SHALL only make at most one attempt to enable stream management";
/// `Incoming::EnableRequest` is documented to fire "once per stream". After `reject_enable`
/// the server goes back to `Off` and takes a second `<enable/>` as a fresh request instead of
/// answering `<failed><unexpected-request/></failed>` (`PeerError::EnableTwice`).
#[test]
fn second_enable_after_a_refused_one_is_enable_twice() {
    let mut server = Server::new(manual_server(), juliet());
    server.bound(t0(), balcony()).expect("bind");
    let enable = || xml("<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
    let Ok(Incoming::EnableRequest(_)) = server.handle_element(t0(), enable()) else {
        panic!("first request");
    };
    let _ = server
        .reject_enable(
            t0(),
            xmpp_parsers::stanza_error::DefinedCondition::ResourceConstraint,
        )
        .expect("reject");
    let second = server.handle_element(at(1), enable());
    assert!(
        matches!(
            second,
            Err(xmpp_sm::Error::Peer(xmpp_sm::PeerError::EnableTwice { .. }))
        ),
        "second <enable/> on the same stream: {second:?}"
    );
}

/// A clean close tells the server what was handled (XEP-0198 §4: send `<a/>` before closing).
#[test]
fn clean_close_sends_a_final_ack() {
    let (mut client, mut server) = enabled_pair(4);
    server.send(at(1), msg(1)).expect("send");
    let stanza = server.poll_transmit().expect("stanza");
    let _ = client
        .handle_element(at(1), stanza.into_element())
        .expect("stanza");
    client.close(at(2));
    let last = client.poll_transmit().expect("final ack");
    assert_eq!(*last, xml("<a xmlns='urn:xmpp:sm:3' h='1'/>"));
}

/// A server that offers only sm:2 and sm:3 does not treat an sm:1 `<enable/>` as its own.
#[test]
fn unoffered_dialects_are_not_ours() {
    let mut server = Server::new(manual_server(), juliet());
    server.bound(t0(), balcony()).expect("bind");
    let enable = xml("<enable xmlns='urn:xmpp:sm:1'/>");
    assert_eq!(
        server.handle_element(t0(), enable.clone()),
        Ok(Incoming::NotOurs(enable))
    );
}

/// `max='0'` is not a positiveInteger: the default grant applies.
#[test]
fn zero_max_gets_the_default_grant() {
    let mut server = Server::new(manual_server(), juliet());
    server.bound(t0(), balcony()).expect("bind");
    let enable = xml("<enable xmlns='urn:xmpp:sm:3' resume='true' max='0'/>");
    let _ = server.handle_element(t0(), enable).expect("request");
    let enabled = server
        .accept_enable(t0(), &mut ChaCha20Rng::seed_from_u64(5))
        .expect("accept");
    assert_eq!(enabled.attr("max"), Some("300"));
}

/// An evicted session hands its stanzas back at once, and a late resume gets `<failed h/>`.
#[test]
fn evicted_sessions_hand_their_stanzas_back() {
    let (_client, mut server) = enabled_pair(6);
    let id = server.id().cloned().expect("resumable");
    server.send(at(1), msg(1)).expect("send");
    let mut store = SessionStore::default();
    store.register(id.clone(), juliet());
    store.hibernate(at(2), server.handle_disconnect(at(2)).expect("resumable"));
    assert!(store.evict(at(3), &id));
    assert!(matches!(
        store.poll_event(),
        Some(xmpp_sm::StoreEvent::Expired { stanzas, .. }) if stanzas.len() == 1
    ));
    assert_eq!(
        store.claim(at(4), &id, &juliet()),
        Claim::Failed { h: Some(0) }
    );
    assert!(!store.evict(at(5), &id));
}

/// Found by fuzzing `sm_server`: `find` takes no time, so it can name a session whose deadline
/// has passed; `push` then expires it and hands the new stanza back instead of queueing it for
/// a resumption that can no longer happen.
#[test]
fn push_to_an_overdue_session_expires_it() {
    let (_client, mut server) = enabled_pair(7);
    let id = server.id().cloned().expect("resumable");
    let mut store = SessionStore::default();
    store.register(id.clone(), juliet());
    store.hibernate(at(1), server.handle_disconnect(at(1)).expect("resumable"));
    assert_eq!(store.find(&balcony()), Some(&id));
    let late = store.push(at(301), &id, msg(1));
    assert_eq!(late.map_err(xmpp_sm::StoreError::into_element), Err(msg(1)));
    assert!(matches!(
        store.poll_event(),
        Some(xmpp_sm::StoreEvent::Expired { .. })
    ));
    assert_eq!(store.find(&balcony()), None);
}
