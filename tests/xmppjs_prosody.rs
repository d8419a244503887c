//! Real client against a real server: xmpp.js 0.14.0 (`tests/peers/xmppjs/driver.js`, on
//! Node.js) against Debian's Prosody 0.12.3 with prosody-modules' mod_sasl2, mod_sasl2_bind2
//! and mod_sasl2_sm, over plain TCP on 127.0.0.1. This validates the driver that drives
//! `examples/server.rs`: SCRAM and PLAIN logins through both SASL profiles, XEP-0198 enable,
//! cut and resume with the separate top-level elements (exactly-once delivery both ways, the
//! lost stanza retransmitted), a link that dies while its resume is in flight, and the
//! recovery from Prosody 0.12's silent inline SM (`<resume/>` in `<authenticate/>`, `<enable/>`
//! in `<bind/>` get no answer at all: see shared/PEERS.md): the driver's deadline fires, and a
//! new connection without inline SM resumes the session Prosody left behind.
//!
//! Node.js comes with the machine; `./scripts/setup-peers.sh` installs Prosody and the npm
//! packages (`./ci.sh` runs it first). When this test runs and either is missing it fails: it
//! never skips.

use std::collections::BTreeMap;
use std::time::Duration;

use xmpp_tether_testkit::prosody::{DOMAIN, Prosody, ProsodyOptions};
use xmpp_tether_testkit::xmppjs::{Connect, Mechanism, Sm, XmppJs};

/// Bound on every single wait.
const T: Duration = Duration::from_secs(10);
/// Each driver exits by itself after this.
const RUN_LIMIT: Duration = Duration::from_secs(60);
/// How long the driver waits for an inline answer that Prosody 0.12 never sends (PLAIN, so
/// the whole request is one `<authenticate/>`; SCRAM's hashing on a loaded machine can take
/// seconds).
const INLINE_WAIT: Duration = Duration::from_secs(3);

/// The stock test config plus SASL2, Bind2 and their SM integration (a later
/// `modules_enabled` replaces the testkit's list).
fn prosody() -> Prosody {
    let opts = ProsodyOptions {
        extra_config: r#"modules_enabled = { "roster", "saslauth", "disco", "ping", "smacks", "sasl2", "sasl2_bind2", "sasl2_sm" }"#
            .into(),
        ..ProsodyOptions::default()
    }
    .account("alice", "alice-pass")
    .account("bob", "bob-pass");
    Prosody::start(&opts)
        .unwrap_or_else(|e| panic!("starting prosody (run ./scripts/setup-peers.sh): {e}"))
}

fn xmppjs(prosody: &Prosody, user: &str, resource: &str) -> XmppJs {
    let jid = format!("{user}@{DOMAIN}/{resource}");
    XmppJs::spawn(prosody.c2s_addr(), &jid, &format!("{user}-pass"), RUN_LIMIT)
        .unwrap_or_else(|e| panic!("starting xmpp.js (run ./scripts/setup-peers.sh): {e}"))
}

fn once(bodies: &[&str]) -> BTreeMap<String, usize> {
    bodies.iter().map(|b| ((*b).to_owned(), 1)).collect()
}

/// Connects, waits for `ONLINE` and a top-level `ENABLED`; returns the bound JID.
fn online_enabled(peer: &mut XmppJs, prosody: &Prosody, how: &Connect) -> String {
    peer.connect(how).unwrap();
    let (jid, enabled) = peer
        .expect_line("ONLINE", T)
        .and_then(|jid| peer.expect_line("ENABLED", T).map(|e| (jid, e)))
        .unwrap_or_else(|e| panic!("{e}\n{}", prosody.log_tail(60)));
    assert!(
        enabled.ends_with(" 60 top"),
        "max is smacks_hibernation_time: {enabled}"
    );
    jid
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn scram_sha256_adapter_matches_rfc_7677() {
    XmppJs::selftest().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn legacy_sasl_scram_enable_cut_resume_exactly_once() {
    let prosody = prosody();
    let log = || prosody.log_tail(80);
    let mut alice = xmppjs(&prosody, "alice", "phone");
    let mut bob = xmppjs(&prosody, "bob", "desk");
    let a = online_enabled(&mut alice, &prosody, &Connect::legacy(Mechanism::ScramSha1));
    let b = online_enabled(&mut bob, &prosody, &Connect::legacy(Mechanism::Plain));
    assert_eq!(a, "alice@localhost/phone");
    assert!(
        alice
            .seen()
            .iter()
            .any(|l| l == "AUTHENTICATED sasl1 SCRAM-SHA-1")
    );

    alice.send(&b, "a1").unwrap();
    bob.send(&a, "b1").unwrap();
    alice.settle(T).unwrap_or_else(|e| panic!("{e}\n{}", log()));
    bob.settle(T).unwrap_or_else(|e| panic!("{e}\n{}", log()));

    // Towards alice while she is away: handled by Prosody (bob's acks), kept for her session.
    // From alice: a2 is written right before the cut, a3 never reaches the socket.
    alice.send(&b, "a2").unwrap();
    alice.send_lost(&b, "a3").unwrap();
    alice.cut(T).unwrap();
    bob.send(&a, "b2").unwrap();
    bob.send(&a, "b3").unwrap();
    bob.settle(T).unwrap_or_else(|e| panic!("{e}\n{}", log()));
    let away = alice.state(T).unwrap();
    assert!(away.id.is_some() && !away.enabled, "{away:?}");
    assert!(away.queued >= 1, "a3 at least waits for an ack: {away:?}");

    // Reconnect with PLAIN this time; xmpp.js resumes with the top-level <resume/>.
    alice.connect(&Connect::legacy(Mechanism::Plain)).unwrap();
    let resumed = alice
        .expect_line("RESUMED", T)
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    assert!(resumed.ends_with(" top"), "{resumed}");
    alice.settle(T).unwrap_or_else(|e| panic!("{e}\n{}", log()));
    alice.send(&b, "a4").unwrap();
    alice.settle(T).unwrap_or_else(|e| panic!("{e}\n{}", log()));
    bob.wait_until(T, "a1..a4 at bob", |seen| {
        seen.iter().filter(|l| l.starts_with("RECV ")).count() >= 4
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    alice
        .wait_until(T, "b1..b3 at alice", |seen| {
            seen.iter().filter(|l| l.starts_with("RECV ")).count() >= 3
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    alice.pump_for(Duration::from_millis(500));
    bob.pump_for(Duration::from_millis(500));

    assert_eq!(alice.received(), once(&["b1", "b2", "b3"]), "{}", log());
    assert_eq!(bob.received(), once(&["a1", "a2", "a3", "a4"]), "{}", log());
    // a3 was never written, so only the retransmission can have delivered it.
    assert_eq!(alice.resent().get("a3"), Some(&1), "{}", alice.transcript());
    assert!(
        alice.lines_of("FAILED").is_empty(),
        "{}",
        alice.transcript()
    );
    let after = alice.state(T).unwrap();
    assert_eq!((after.enabled, after.queued, after.outbound), (true, 0, 4));

    alice.quit(T).unwrap();
    bob.quit(T).unwrap();
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn sasl2_scram_sha256_then_top_level_sm_and_sasl2_bind2_without_sm() {
    let prosody = prosody();
    let log = || prosody.log_tail(80);
    let mut alice = xmppjs(&prosody, "alice", "laptop");

    // SASL2 without Bind2: Prosody's features after <success/> offer legacy bind and sm.
    let sasl2 = Connect::sasl2(Mechanism::ScramSha256)
        .with_bind2(false)
        .with_sm(Sm::TopLevel);
    let me = online_enabled(&mut alice, &prosody, &sasl2);
    assert!(
        alice
            .lines_of("AUTHENTICATED")
            .iter()
            .any(|l| l.starts_with("sasl2 SCRAM-SHA-256 ")),
        "the adapter also checked Prosody's server signature\n{}",
        alice.transcript()
    );
    alice.send(&me, "m1").unwrap();
    alice.send_lost(&me, "m2").unwrap();
    alice.cut(T).unwrap();
    alice
        .connect(
            &Connect::sasl2(Mechanism::ScramSha1)
                .with_bind2(false)
                .with_sm(Sm::TopLevel),
        )
        .unwrap();
    let resumed = alice
        .expect_line("RESUMED", T)
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    assert!(resumed.ends_with(" top"), "{resumed}");
    alice.settle(T).unwrap_or_else(|e| panic!("{e}\n{}", log()));
    alice
        .wait_until(T, "m1, m2 echoed", |seen| {
            seen.iter().filter(|l| l.starts_with("RECV ")).count() >= 2
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    alice.pump_for(Duration::from_millis(300));
    assert_eq!(alice.received(), once(&["m1", "m2"]), "{}", log());
    assert_eq!(alice.resent(), once(&["m2"]));
    alice.quit(T).unwrap();

    // SASL2 + Bind2 with SM hidden: bound in one round trip, the tag kept as the resource
    // prefix.
    let mut bob = xmppjs(&prosody, "bob", "tablet");
    bob.connect(&Connect::sasl2(Mechanism::Plain).with_sm(Sm::Off))
        .unwrap();
    bob.expect_line("BOUND", T)
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    let bound = bob.expect_line("ONLINE", T).unwrap();
    assert!(bound.starts_with("bob@localhost/tablet"), "{bound}");
    bob.send(&bound, "hello").unwrap();
    bob.expect_line("RECV", T)
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    assert_eq!(bob.received(), once(&["hello"]));
    bob.quit(T).unwrap();
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn inline_sm_unanswered_by_prosody_0_12_then_top_level_resume_recovers() {
    let prosody = prosody();
    let log = || prosody.log_tail(80);
    let mut alice = xmppjs(&prosody, "alice", "phone");
    let inline = Connect::sasl2(Mechanism::Plain).with_wait(INLINE_WAIT);
    let fallback = Connect::sasl2(Mechanism::ScramSha1)
        .with_bind2(false)
        .with_sm(Sm::TopLevel);

    // A fresh inline enable inside <bind/>: no <success/> ever comes.
    alice.connect(&inline).unwrap();
    let timeout = alice
        .expect_line("TIMEOUT", T)
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    assert!(
        timeout.starts_with("after=authenticate inline=bind2,enable"),
        "{timeout}"
    );
    assert!(prosody.log_tail(400).contains("do_enable"), "{}", log());

    // Fall back to the separate elements.
    let me = online_enabled(&mut alice, &prosody, &fallback);
    alice.send(&me, "m1").unwrap();
    alice.settle(T).unwrap_or_else(|e| panic!("{e}\n{}", log()));
    alice.send_lost(&me, "m2").unwrap();
    alice.cut(T).unwrap();

    // An inline resume (with the §9.2.1 inline enable beside it): no answer either.
    alice.connect(&inline).unwrap();
    let timeout = alice
        .expect_line("TIMEOUT", T)
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    assert!(timeout.ends_with(",resume"), "{timeout}");
    assert!(prosody.log_tail(400).contains("do_resume"), "{}", log());

    // The session Prosody left behind is still resumable with the top-level <resume/>.
    alice.connect(&fallback).unwrap();
    let resumed = alice
        .expect_line("RESUMED", T)
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    assert!(resumed.ends_with(" top"), "{resumed}");
    alice.settle(T).unwrap_or_else(|e| panic!("{e}\n{}", log()));
    alice
        .wait_until(T, "m1, m2 echoed", |seen| {
            seen.iter().filter(|l| l.starts_with("RECV ")).count() >= 2
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    alice.pump_for(Duration::from_millis(300));
    assert_eq!(alice.received(), once(&["m1", "m2"]), "{}", log());
    assert_eq!(alice.resent(), once(&["m2"]));
    assert!(
        alice.lines_of("AUTH_FAILED").is_empty() && alice.lines_of("ERROR").is_empty(),
        "no stale negotiation step answered the next connection\n{}",
        alice.transcript()
    );
    alice.quit(T).unwrap();
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn link_lost_while_the_resume_is_in_flight_then_resume_again() {
    let prosody = prosody();
    let log = || prosody.log_tail(80);
    let mut alice = xmppjs(&prosody, "alice", "phone");
    let me = online_enabled(&mut alice, &prosody, &Connect::legacy(Mechanism::ScramSha1));
    alice.send(&me, "m1").unwrap();
    alice.settle(T).unwrap_or_else(|e| panic!("{e}\n{}", log()));
    alice.send_lost(&me, "m2").unwrap();
    alice.cut(T).unwrap();

    // The <resume/> reaches Prosody, the link dies before its answer is read.
    alice
        .connect(&Connect::legacy(Mechanism::ScramSha1).cutting_in_resume())
        .unwrap();
    let cut = alice
        .expect_line("CUT_IN_RESUME", T)
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    assert_eq!(cut, "top");
    let away = alice.state(T).unwrap();
    assert_eq!((away.queued, away.enabled), (1, false), "{away:?}");

    alice
        .connect(&Connect::legacy(Mechanism::ScramSha1))
        .unwrap();
    alice
        .expect_line("RESUMED", T)
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    alice.settle(T).unwrap_or_else(|e| panic!("{e}\n{}", log()));
    alice
        .wait_until(T, "m1, m2 echoed", |seen| {
            seen.iter().filter(|l| l.starts_with("RECV ")).count() >= 2
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    alice.pump_for(Duration::from_millis(300));
    assert_eq!(alice.received(), once(&["m1", "m2"]), "{}", log());
    assert_eq!(alice.resent(), once(&["m2"]), "{}", alice.transcript());
    alice.quit(T).unwrap();
}
