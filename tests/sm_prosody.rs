//! Real server: our `xmpp_sm::Client` against Debian's Prosody 0.12 (mod_smacks) over plain
//! TCP on 127.0.0.1, through the testkit's `SmDriver`.
//!
//! - With SASL PLAIN: enable with resumption, exchange stanzas and see acks, cut the TCP
//!   connection with stanzas in flight both ways, reconnect, resume, and check that every
//!   stanza arrives exactly once on both sides; a resumption over a half-open stream, and one
//!   of a session the server never issued.
//! - With prosody-modules' mod_sasl2, mod_sasl2_bind2 and mod_sasl2_sm (SASL2, Bind2): Prosody
//!   0.12 advertises inline stream management but never answers an `<authenticate/>` that
//!   carries `<resume/>` or a `<bind/>` that carries `<enable/>` (shared/PEERS.md). Our
//!   client's request deadline (`ClientConfig::request_timeout`, out of `poll_timeout`) fires,
//!   the connection is closed, and a new login without inline SM resumes the session Prosody
//!   left behind with a top-level `<resume/>`, exactly once.
//!
//! Prosody is installed by `./scripts/setup-peers.sh` (`./ci.sh` runs it first). When this
//! test runs and Prosody is missing, it fails: it never skips.

use std::collections::BTreeMap;
use std::time::Duration;

use jid::{BareJid, FullJid};
use minidom::Element;
use xmpp_sm::{ClientConfig, ClientEvent, Request};
use xmpp_tether_testkit::client::{Connection, InlineSm, Sasl2Login, SmDriver, SmError};
use xmpp_tether_testkit::prosody::{DOMAIN, Prosody, ProsodyOptions};
use xmpp_tether_testkit::stanza::{body_counts as bodies, chat as message};
use xmpp_tether_testkit::xml::{NS_STREAMS, StreamEvent, element_to_string};
use xmpp_tether_testkit::{deadline_in, now, remaining};

/// Bound on every single wait; each test stays well under a minute.
const T: Duration = Duration::from_secs(10);
/// How long our client waits for an answer to `<enable/>` or `<resume/>` in the SASL2 tests:
/// Prosody answers a top-level one in milliseconds, and never answers an inline one.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Our `<user-agent id/>` (XEP-0388 §2.1: a UUIDv4, stable for one installation).
const USER_AGENT: &str = "0b6c6f5e-2f1d-4c8a-9e3b-7d5a1c2e4f60";

struct Account {
    jid: BareJid,
    password: &'static str,
}

fn account(user: &str, password: &'static str) -> Account {
    Account {
        jid: BareJid::new(&format!("{user}@{DOMAIN}")).unwrap(),
        password,
    }
}

fn start(opts: &ProsodyOptions) -> Prosody {
    Prosody::start(opts)
        .unwrap_or_else(|e| panic!("starting prosody (run ./scripts/setup-peers.sh): {e}"))
}

fn exactly_once(names: &[&str]) -> BTreeMap<String, usize> {
    names.iter().map(|n| ((*n).to_owned(), 1)).collect()
}

/// A client configuration whose `<enable/>` and `<resume/>` time out after
/// [`REQUEST_TIMEOUT`].
fn impatient() -> ClientConfig {
    let mut config = ClientConfig::default();
    config.request_timeout = Some(REQUEST_TIMEOUT);
    config
}

/// Asserts that `enabled` is a resumable `Enabled` with Prosody's resumption time.
fn assert_resumable(enabled: &ClientEvent) {
    let ClientEvent::Enabled {
        id: Some(_),
        resume: true,
        max,
        ..
    } = enabled
    else {
        panic!("Prosody did not enable resumption: {enabled:?}");
    };
    assert_eq!(
        *max,
        Some(60),
        "smacks_hibernation_time is the resumption time"
    );
}

/// Logs in with SASL PLAIN, binds `resource` and enables stream management with resumption.
fn online(prosody: &Prosody, who: &Account, resource: &str) -> (SmDriver, FullJid) {
    let (mut conn, features) = Connection::login(prosody.c2s_addr(), &who.jid, who.password, T)
        .unwrap_or_else(|e| panic!("login {}: {e}\n{}", who.jid, prosody.log_tail(40)));
    let full = conn.bind(Some(resource), T).unwrap();
    let mut driver = SmDriver::new(ClientConfig::default());
    driver.attach(conn);
    let enabled = driver
        .enable(&features, T)
        .unwrap_or_else(|e| panic!("enable: {e}\n{}", prosody.log_tail(40)));
    assert_resumable(&enabled);
    (driver, full)
}

/// How many stanzas the server has acknowledged, over every `Acked` event.
fn acked(driver: &SmDriver) -> usize {
    driver
        .events()
        .iter()
        .map(|e| match e {
            ClientEvent::Acked { stanzas, .. } => stanzas.len(),
            _ => 0,
        })
        .sum()
}

/// How many events `driver` reported that match `pred`.
fn count(driver: &SmDriver, pred: impl Fn(&ClientEvent) -> bool) -> usize {
    driver.events().iter().filter(|e| pred(e)).count()
}

fn assert_nothing_handed_back(driver: &SmDriver) {
    assert_eq!(
        count(driver, |e| matches!(e, ClientEvent::HandedBack { .. })),
        0,
        "nothing handed back: {:?}",
        driver.events()
    );
}

/// Stanzas both ways between `a` (to `b_full`) and `b` (to `a_full`), each acknowledged; then
/// stanzas in flight both ways when `a`'s connection is cut: b2, b3 written by Prosody to
/// `a`'s socket and never read, a2 written just before the cut, a3 lost on the dying link, a4
/// sent while disconnected.
fn exchange_then_cut(
    a: &mut SmDriver,
    a_full: &FullJid,
    b: &mut SmDriver,
    b_full: &FullJid,
    log: &dyn Fn() -> String,
) {
    // Prosody asks for an ack as soon as anything is unacked, so the receiver answers <r/>
    // without being told; each sender asks too.
    a.send(message(b_full, "a1")).unwrap();
    b.pump_until(T, "a1 at b", |d| !d.stanzas().is_empty())
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    b.send(message(a_full, "b1")).unwrap();
    a.pump_until(T, "b1 at a", |d| !d.stanzas().is_empty())
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    a.request_ack().unwrap();
    b.request_ack().unwrap();
    a.pump_until(T, "a's ack", |d| d.sm().unacked() == 0)
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    b.pump_until(T, "b's ack", |d| d.sm().unacked() == 0)
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    assert_eq!(acked(a), 1, "a1 acknowledged by Prosody");
    assert_eq!(acked(b), 1, "b1 acknowledged by Prosody");

    // In flight towards a: b2, b3 are handled by Prosody (b sees the ack) and written to a's
    // socket, which a never reads: the cut throws them away.
    b.send(message(a_full, "b2")).unwrap();
    b.send(message(a_full, "b3")).unwrap();
    b.request_ack().unwrap();
    b.pump_until(T, "b2, b3 acknowledged", |d| d.sm().unacked() == 0)
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    // In flight from a: a2 may or may not be handled by Prosody; a3 is lost (and so would be
    // anything after it: TCP is ordered). <resume h/> and <resumed h/> sort it out.
    a.send(message(b_full, "a2")).unwrap();
    a.send_lost(message(b_full, "a3")).unwrap();
    a.cut();
    // Sent while disconnected: queued, goes out after the retransmissions.
    a.send(message(b_full, "a4")).unwrap();
    assert_eq!(a.sm().unacked(), 3, "a2, a3, a4 wait for an ack");
}

/// After `a` resumed: everything in flight arrives once, both ways, and a's queue is empty.
fn assert_delivered_once(a: &mut SmDriver, b: &mut SmDriver, log: &dyn Fn() -> String) {
    a.pump_until(T, "b2 and b3 at a", |d| bodies(d.stanzas()).len() >= 3)
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    b.pump_until(T, "a2..a4 at b", |d| bodies(d.stanzas()).len() >= 4)
        .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", bodies(b.stanzas()), log()));
    a.request_ack().unwrap();
    a.pump_until(T, "a's queue acknowledged", |d| d.sm().unacked() == 0)
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    // Give duplicates a chance to show up before counting.
    a.pump_for(Duration::from_millis(500)).unwrap();
    b.pump_for(Duration::from_millis(500)).unwrap();

    let at_a = bodies(&a.take_stanzas());
    let at_b = bodies(&b.take_stanzas());
    assert_eq!(
        at_a,
        exactly_once(&["b1", "b2", "b3"]),
        "a received\n{}",
        log()
    );
    assert_eq!(
        at_b,
        exactly_once(&["a1", "a2", "a3", "a4"]),
        "b received\n{}",
        log()
    );
    assert_eq!(acked(a), 4, "a1..a4 acknowledged, each once");
    assert_nothing_handed_back(a);
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn enable_ack_cut_resume_exactly_once() {
    let alice = account("alice", "alice-pass");
    let bob = account("bob", "bob-pass");
    let prosody = start(
        &ProsodyOptions::default()
            .account("alice", alice.password)
            .account("bob", bob.password),
    );
    let log = || prosody.log_tail(80);

    let (mut a, alice_full) = online(&prosody, &alice, "phone");
    let (mut b, bob_full) = online(&prosody, &bob, "desk");
    exchange_then_cut(&mut a, &alice_full, &mut b, &bob_full, &log);

    // Reconnect and resume.
    let (conn, features) = Connection::login(prosody.c2s_addr(), &alice.jid, alice.password, T)
        .unwrap_or_else(|e| panic!("re-login: {e}\n{}", log()));
    assert!(features.has_child("sm", "urn:xmpp:sm:3"));
    a.attach(conn);
    let resumed = a
        .resume(T)
        .unwrap_or_else(|e| panic!("resume: {e}\n{}", log()));
    assert!(
        matches!(resumed, ClientEvent::Resumed { .. }),
        "{resumed:?}"
    );

    assert_delivered_once(&mut a, &mut b, &log);
    a.close().unwrap();
    b.close().unwrap();
}

/// How a replaced stream ended.
#[derive(Debug)]
enum Ending {
    /// With a `<stream:error/>`.
    StreamError(Element),
    /// With `</stream:stream>` and no error.
    StreamClosed,
    /// The TCP connection was closed under the open stream.
    ConnectionClosed,
}

/// Reads the replaced stream until it ends. What Prosody wrote there before the resumption
/// (such as the first echo of a stanza, or an `<r/>`) may come first.
fn ending_of(old: &mut Connection, log: &dyn Fn() -> String) -> Ending {
    let deadline = deadline_in(T);
    loop {
        let Some(left) = remaining(deadline) else {
            panic!("Prosody kept the replaced stream open\n{}", log());
        };
        match old.recv(left) {
            Ok(Some(StreamEvent::Element(el))) if el.is("error", NS_STREAMS) => {
                return Ending::StreamError(el);
            }
            Ok(Some(StreamEvent::End)) => return Ending::StreamClosed,
            Ok(Some(_) | None) => {}
            Err(_) => return Ending::ConnectionClosed,
        }
    }
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn resume_over_a_half_open_stream_and_an_unknown_session() {
    let alice = account("alice", "alice-pass");
    let prosody = start(&ProsodyOptions::default().account("alice", alice.password));
    let log = || prosody.log_tail(80);
    let (mut a, me) = online(&prosody, &alice, "laptop");

    // The link dies silently: Prosody still holds the old stream open when we resume.
    a.send(message(&me, "m1")).unwrap();
    let mut old = a.abandon().expect("a connection was attached");
    let (conn, _) = Connection::login(prosody.c2s_addr(), &alice.jid, alice.password, T)
        .unwrap_or_else(|e| panic!("re-login: {e}\n{}", log()));
    a.attach(conn);
    let resumed = a
        .resume(T)
        .unwrap_or_else(|e| panic!("resume over a live stream: {e}\n{}", log()));
    assert!(
        matches!(resumed, ClientEvent::Resumed { .. }),
        "{resumed:?}"
    );
    a.pump_until(T, "m1 echoed", |d| !d.stanzas().is_empty())
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    a.request_ack().unwrap();
    a.pump_until(T, "m1 acknowledged", |d| d.sm().unacked() == 0)
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    a.pump_for(Duration::from_millis(300)).unwrap();
    assert_eq!(bodies(&a.take_stanzas()), exactly_once(&["m1"]));
    // XEP-0198 §5 says only that the old stream "SHOULD be terminated". Prosody 0.12.3's
    // mod_smacks does it by closing the old TCP connection (`conn:close()`): no `<conflict/>`
    // stream error, and no `</stream:stream>` either. (Our own server sends `conflict`.) Pin
    // exactly that, so that a Prosody that starts sending `conflict` shows up here.
    match ending_of(&mut old, &log) {
        Ending::ConnectionClosed => {}
        Ending::StreamError(error) => panic!(
            "Prosody 0.12.3 sent no stream error on the replaced stream, now it sends {}\n{}",
            element_to_string(&error).unwrap_or_default(),
            log()
        ),
        Ending::StreamClosed => panic!(
            "Prosody 0.12.3 closed the replaced stream's connection, now it closes the stream\n{}",
            log()
        ),
    }
    assert!(
        prosody
            .log_tail(400)
            .contains("mod_smacks closing an old connection for this session"),
        "{}",
        log()
    );

    // A session Prosody never issued: <failed><item-not-found/></failed> without h, the
    // unacknowledged stanza is handed back, and the stream can bind afresh.
    a.send(message(&me, "m2")).unwrap();
    a.cut();
    let other = start(&ProsodyOptions::default().account("alice", alice.password));
    let (conn, _) = Connection::login(other.c2s_addr(), &alice.jid, alice.password, T).unwrap();
    a.attach(conn);
    match a.resume(T) {
        Err(SmError::Rejected(event)) => {
            assert!(
                matches!(*event, ClientEvent::ResumeFailed { h: None, .. }),
                "{event:?}"
            );
        }
        unexpected => panic!(
            "expected <failed/>, got {unexpected:?}\n{}",
            other.log_tail(40)
        ),
    }
    assert!(
        a.events().iter().any(|e| matches!(
            e,
            ClientEvent::HandedBack { stanzas, .. }
                if stanzas.len() == 1 && bodies(stanzas.iter().map(|u| &u.stanza)) == exactly_once(&["m2"])
        )),
        "m2 handed back: {:?}",
        a.events()
    );
    let rebound = a
        .connection()
        .expect("still attached")
        .bind(Some("laptop"), T)
        .unwrap();
    assert_eq!(rebound.resource().as_str(), "laptop");
}

/// Logs in with SASL2 PLAIN and Bind2 (tag `tag`), no inline SM, then enables stream
/// management at the top level.
fn online_sasl2(prosody: &Prosody, who: &Account, tag: &str) -> (SmDriver, FullJid) {
    let mut driver = SmDriver::new(impatient());
    let login = Sasl2Login::new(USER_AGENT)
        .with_software("tether sm_prosody")
        .with_bind2(Some(tag));
    let success = driver
        .login_sasl2(
            prosody.c2s_addr(),
            &who.jid,
            who.password,
            &login,
            InlineSm::Off,
            T,
        )
        .unwrap_or_else(|e| panic!("SASL2 login {}: {e}\n{}", who.jid, prosody.log_tail(40)));
    assert!(
        success.bound,
        "Bind2 bound a resource: {:?}",
        success.success
    );
    let full = success
        .full_jid()
        .unwrap_or_else(|| panic!("no full JID in {:?}", success.success));
    assert!(
        full.resource().as_str().starts_with(&format!("{tag}~")),
        "Prosody builds the resource from the tag: {full}"
    );
    let enabled = driver.enable(&success.features, T).unwrap_or_else(|e| {
        panic!(
            "top-level enable after Bind2: {e}\n{}",
            prosody.log_tail(40)
        )
    });
    assert_resumable(&enabled);
    (driver, full)
}

/// A SASL2 login whose inline request Prosody 0.12 never answers: our deadline fires after
/// [`REQUEST_TIMEOUT`] and the driver closes the connection.
fn login_unanswered(
    a: &mut SmDriver,
    prosody: &Prosody,
    who: &Account,
    login: &Sasl2Login,
    inline: InlineSm,
    request: Request,
) {
    let started = now().monotonic();
    let outcome = a.login_sasl2(prosody.c2s_addr(), &who.jid, who.password, login, inline, T);
    let waited = now().monotonic() - started;
    match outcome {
        Err(SmError::RequestTimedOut(r)) if r == request => {}
        other => panic!(
            "{inline:?}: expected no answer from Prosody 0.12, got {other:?}\n{}",
            prosody.log_tail(60)
        ),
    }
    assert!(
        (REQUEST_TIMEOUT..T).contains(&waited),
        "the request deadline fired, after {waited:?}"
    );
    assert!(a.connection().is_none(), "the driver closed the connection");
    assert!(
        matches!(
            a.events().last(),
            Some(ClientEvent::RequestTimedOut { request: r }) if *r == request
        ),
        "{:?}",
        a.events()
    );
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn inline_resume_unanswered_by_prosody_0_12_then_top_level_resume_exactly_once() {
    let alice = account("alice", "alice-pass");
    let bob = account("bob", "bob-pass");
    let prosody = start(
        &ProsodyOptions::default()
            .with_sasl2()
            .account("alice", alice.password)
            .account("bob", bob.password),
    );
    let log = || prosody.log_tail(80);

    // A resumable session enabled at the top level after a SASL2 + Bind2 login, stanzas both
    // ways, and a cut with stanzas in flight both ways.
    let (mut a, alice_full) = online_sasl2(&prosody, &alice, "phone");
    let (mut b, bob_full) = online(&prosody, &bob, "desk");
    exchange_then_cut(&mut a, &alice_full, &mut b, &bob_full, &log);
    assert!(a.sm().can_resume());

    // An inline <resume/> inside <authenticate/>: Prosody authenticates, then mod_sasl2_sm
    // calls a smacks function 0.12 lacks, and <success/> never comes.
    let plain = Sasl2Login::new(USER_AGENT).with_software("tether sm_prosody");
    login_unanswered(
        &mut a,
        &prosody,
        &alice,
        &plain,
        InlineSm::Resume,
        Request::Resume,
    );
    assert!(prosody.log_tail(400).contains("do_resume"), "{}", log());
    assert!(a.sm().can_resume(), "the session is untouched");
    assert_eq!(a.sm().unacked(), 3, "a2, a3, a4 still held");

    // The XEP-0198 §9.2.1 shape, <resume/> with a fallback <enable/> inside Bind2: no answer
    // either, and the session is still ours to resume.
    let with_bind2 = plain.clone().with_bind2(Some("phone"));
    login_unanswered(
        &mut a,
        &prosody,
        &alice,
        &with_bind2,
        InlineSm::ResumeOrEnable,
        Request::Resume,
    );
    assert!(
        a.sm().can_resume(),
        "the fallback <enable/> took nothing over"
    );
    assert_eq!(a.sm().unacked(), 3);

    // A new login without inline SM, and the top-level <resume/>.
    let success = a
        .login_sasl2(
            prosody.c2s_addr(),
            &alice.jid,
            alice.password,
            &plain,
            InlineSm::Off,
            T,
        )
        .unwrap_or_else(|e| panic!("SASL2 login without inline SM: {e}\n{}", log()));
    assert!(!success.bound, "{:?}", success.success);
    let resumed = a
        .resume(T)
        .unwrap_or_else(|e| panic!("top-level resume: {e}\n{}", log()));
    let ClientEvent::Resumed { retransmitted, .. } = resumed else {
        panic!("{resumed:?}");
    };
    assert!(
        (2..=3).contains(&retransmitted),
        "a3 and a4, and a2 unless Prosody handled it: {retransmitted}"
    );

    assert_delivered_once(&mut a, &mut b, &log);
    assert_eq!(
        count(&a, |e| matches!(e, ClientEvent::Resumed { .. })),
        1,
        "resumed exactly once: {:?}",
        a.events()
    );
    assert_eq!(
        count(&a, |e| matches!(e, ClientEvent::RequestTimedOut { .. })),
        2
    );
    a.close().unwrap();
    b.close().unwrap();
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn inline_enable_unanswered_by_prosody_0_12_then_top_level_enable() {
    let alice = account("alice", "alice-pass");
    let prosody = start(
        &ProsodyOptions::default()
            .with_sasl2()
            .account("alice", alice.password),
    );
    let log = || prosody.log_tail(80);

    // An inline <enable/> inside Bind2 <bind/>: Prosody binds, then fails in do_enable.
    let mut a = SmDriver::new(impatient());
    let login = Sasl2Login::new(USER_AGENT)
        .with_software("tether sm_prosody")
        .with_bind2(Some("laptop"));
    login_unanswered(
        &mut a,
        &prosody,
        &alice,
        &login,
        InlineSm::Enable,
        Request::Enable,
    );
    assert!(prosody.log_tail(400).contains("do_enable"), "{}", log());
    assert!(!a.sm().is_enabled() && a.sm().id().is_none());

    // The same machine, a new login with Bind2 only, and the top-level <enable/>.
    let success = a
        .login_sasl2(
            prosody.c2s_addr(),
            &alice.jid,
            alice.password,
            &login,
            InlineSm::Off,
            T,
        )
        .unwrap_or_else(|e| panic!("SASL2 + Bind2 login: {e}\n{}", log()));
    let me = success.full_jid().expect("Bind2 bound a resource");
    let enabled = a
        .enable(&success.features, T)
        .unwrap_or_else(|e| panic!("top-level enable: {e}\n{}", log()));
    assert_resumable(&enabled);
    a.send(message(&me, "m1")).unwrap();
    a.pump_until(T, "m1 echoed", |d| !d.stanzas().is_empty())
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    a.request_ack().unwrap();
    a.pump_until(T, "m1 acknowledged", |d| d.sm().unacked() == 0)
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    assert_eq!(bodies(&a.take_stanzas()), exactly_once(&["m1"]));
    assert_eq!(acked(&a), 1);
    assert_nothing_handed_back(&a);
    a.close().unwrap();
}
