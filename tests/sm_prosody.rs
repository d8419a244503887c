//! Real server: our `xmpp_sm::Client` against Debian's Prosody (mod_smacks) over plain TCP on
//! 127.0.0.1 with SASL PLAIN. Enable with resumption, exchange stanzas and see acks, cut the
//! TCP connection with stanzas in flight both ways, reconnect, resume, and check that every
//! stanza arrives exactly once on both sides.
//!
//! Prosody is installed by `./scripts/setup-peers.sh` (`./ci.sh` runs it first). When this
//! test runs and Prosody is missing, it fails: it never skips.

use std::collections::BTreeMap;
use std::time::Duration;

use jid::{BareJid, FullJid};
use xmpp_sm::{ClientConfig, Event};
use xmpp_tether_testkit::client::{Connection, SmDriver};
use xmpp_tether_testkit::prosody::{DOMAIN, Prosody, ProsodyOptions};
use xmpp_tether_testkit::stanza::{body_counts as bodies, chat as message};

/// Bound on every single wait; the whole test stays well under a minute.
const T: Duration = Duration::from_secs(10);

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

fn exactly_once(names: &[&str]) -> BTreeMap<String, usize> {
    names.iter().map(|n| ((*n).to_owned(), 1)).collect()
}

/// Logs in, binds `resource` and enables stream management with resumption.
fn online(prosody: &Prosody, who: &Account, resource: &str) -> (SmDriver, FullJid) {
    let (mut conn, features) = Connection::login(prosody.c2s_addr(), &who.jid, who.password, T)
        .unwrap_or_else(|e| panic!("login {}: {e}\n{}", who.jid, prosody.log_tail(40)));
    let full = conn.bind(Some(resource), T).unwrap();
    let mut driver = SmDriver::new(ClientConfig::default());
    driver.attach(conn);
    let enabled = driver
        .enable(&features, T)
        .unwrap_or_else(|e| panic!("enable: {e}\n{}", prosody.log_tail(40)));
    let Event::Enabled {
        id: Some(_),
        resume: true,
        max,
        ..
    } = enabled
    else {
        panic!("Prosody did not enable resumption: {enabled:?}");
    };
    assert_eq!(
        max,
        Some(60),
        "smacks_hibernation_time is the resumption time"
    );
    (driver, full)
}

fn acked(driver: &SmDriver) -> u32 {
    driver
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::Acked { count, .. } => Some(*count),
            _ => None,
        })
        .sum()
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn enable_ack_cut_resume_exactly_once() {
    let alice = account("alice", "alice-pass");
    let bob = account("bob", "bob-pass");
    let prosody = Prosody::start(
        &ProsodyOptions::default()
            .account("alice", alice.password)
            .account("bob", bob.password),
    )
    .unwrap_or_else(|e| panic!("starting prosody (run ./scripts/setup-peers.sh): {e}"));
    let log = || prosody.log_tail(80);

    let (mut a, alice_full) = online(&prosody, &alice, "phone");
    let (mut b, bob_full) = online(&prosody, &bob, "desk");

    // 1. Stanzas both ways, and acks for them. Prosody asks for an ack as soon as anything
    //    is unacked, so bob answers <r/> without being told; alice asks herself.
    a.send(message(&bob_full, "a1")).unwrap();
    b.pump_until(T, "a1 at bob", |d| !d.stanzas().is_empty())
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    b.send(message(&alice_full, "b1")).unwrap();
    a.pump_until(T, "b1 at alice", |d| !d.stanzas().is_empty())
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    a.request_ack().unwrap();
    b.request_ack().unwrap();
    a.pump_until(T, "alice's ack", |d| d.sm().unacked() == 0)
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    b.pump_until(T, "bob's ack", |d| d.sm().unacked() == 0)
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    assert_eq!(acked(&a), 1, "alice: a1 acknowledged by Prosody");
    assert_eq!(acked(&b), 1, "bob: b1 acknowledged by Prosody");

    // 2. In flight towards alice: bob's b2, b3 are handled by Prosody (bob holds its ack)
    //    and written to alice's socket, which she never reads: the cut throws them away.
    b.send(message(&alice_full, "b2")).unwrap();
    b.send(message(&alice_full, "b3")).unwrap();
    b.request_ack().unwrap();
    b.pump_until(T, "b2, b3 acknowledged", |d| d.sm().unacked() == 0)
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    // In flight from alice: a2 is written right before the cut and may or may not be handled
    // by Prosody; a3 is lost on the dying link (and so would be anything after it: TCP is
    // ordered). Her <resume h/> and Prosody's <resumed h/> sort it out.
    a.send(message(&bob_full, "a2")).unwrap();
    a.send_lost(message(&bob_full, "a3")).unwrap();
    a.cut();
    // Sent while disconnected: queued, goes out after the retransmissions.
    a.send(message(&bob_full, "a4")).unwrap();
    assert_eq!(a.sm().unacked(), 3, "a2, a3, a4 wait for an ack");

    // 3. Reconnect and resume.
    let (conn, features) = Connection::login(prosody.c2s_addr(), &alice.jid, alice.password, T)
        .unwrap_or_else(|e| panic!("re-login: {e}\n{}", log()));
    assert!(features.has_child("sm", "urn:xmpp:sm:3"));
    a.attach(conn);
    let resumed = a
        .resume(T)
        .unwrap_or_else(|e| panic!("resume: {e}\n{}", log()));
    assert!(matches!(resumed, Event::Resumed { .. }), "{resumed:?}");

    // 4. Everything in flight arrives, once.
    a.pump_until(T, "b2 and b3 at alice", |d| bodies(d.stanzas()).len() >= 3)
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    b.pump_until(T, "a2..a4 at bob", |d| bodies(d.stanzas()).len() >= 4)
        .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", bodies(b.stanzas()), log()));
    a.request_ack().unwrap();
    a.pump_until(T, "alice's queue acknowledged", |d| d.sm().unacked() == 0)
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    // Give duplicates a chance to show up before counting.
    a.pump_for(Duration::from_millis(500)).unwrap();
    b.pump_for(Duration::from_millis(500)).unwrap();

    let at_alice = bodies(&a.take_stanzas());
    let at_bob = bodies(&b.take_stanzas());
    assert_eq!(
        at_alice,
        exactly_once(&["b1", "b2", "b3"]),
        "alice received\n{}",
        log()
    );
    assert_eq!(
        at_bob,
        exactly_once(&["a1", "a2", "a3", "a4"]),
        "bob received\n{}",
        log()
    );
    assert_eq!(acked(&a), 4, "alice: a1..a4 acknowledged, each once");
    assert!(
        !a.events()
            .iter()
            .any(|e| matches!(e, Event::HandedBack { .. })),
        "nothing handed back: {:?}",
        a.events()
    );

    a.close().unwrap();
    b.close().unwrap();
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn resume_over_a_half_open_stream_and_an_unknown_session() {
    let alice = account("alice", "alice-pass");
    let prosody = Prosody::start(&ProsodyOptions::default().account("alice", alice.password))
        .unwrap_or_else(|e| panic!("starting prosody (run ./scripts/setup-peers.sh): {e}"));
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
    assert!(matches!(resumed, Event::Resumed { .. }), "{resumed:?}");
    a.pump_until(T, "m1 echoed", |d| !d.stanzas().is_empty())
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    a.request_ack().unwrap();
    a.pump_until(T, "m1 acknowledged", |d| d.sm().unacked() == 0)
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    a.pump_for(Duration::from_millis(300)).unwrap();
    assert_eq!(bodies(&a.take_stanzas()), exactly_once(&["m1"]));
    // Prosody ends the old stream (what it wrote there before the resumption, such as the
    // first echo of m1, may still be read first).
    loop {
        match old.recv(T) {
            Ok(Some(xmpp_tether_testkit::xml::StreamEvent::Element(el)))
                if el.name() != "error" => {}
            Ok(Some(_)) | Err(_) => break,
            Ok(None) => panic!("Prosody kept the replaced stream open\n{}", log()),
        }
    }

    // A session Prosody never issued: <failed><item-not-found/></failed> without h, the
    // unacknowledged stanza is handed back, and the stream can bind afresh.
    a.send(message(&me, "m2")).unwrap();
    a.cut();
    let other = Prosody::start(&ProsodyOptions::default().account("alice", alice.password))
        .unwrap_or_else(|e| panic!("starting a second prosody: {e}"));
    let (conn, _) = Connection::login(other.c2s_addr(), &alice.jid, alice.password, T).unwrap();
    a.attach(conn);
    match a.resume(T) {
        Err(xmpp_tether_testkit::client::SmError::Refused(event)) => {
            assert!(
                matches!(*event, Event::ResumeFailed { h: None, .. }),
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
            Event::HandedBack { stanzas, .. }
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
