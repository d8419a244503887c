//! A soak of the example server's cluster mode (`examples/server/cluster.rs`): 200 clients
//! over two nodes sharing one redis-server (started here on 127.0.0.1, killed by pid), each
//! cutting its connection and resuming at random on either node while they all write to each
//! other. Counted by the clients: every message arrives at its full JID exactly once.

#[allow(dead_code, reason = "the soak uses part of the shared helpers")]
mod cluster_common;
#[allow(dead_code, reason = "the soak uses part of the shared helpers")]
mod sm_common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cluster_common::{cluster_of, sm_id};
use minidom::Element;
use sm_common::{T, enabled, login};
use xmpp_sm::ClientEvent;
use xmpp_tether_testkit::example_server::ExampleServer;
use xmpp_tether_testkit::stanza::{body_counts, chat};
use xmpp_tether_testkit::{deadline_in, remaining};

/// A small deterministic generator for the soak's choices (xorshift64*).
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % sides
    }
}

/// What one soak client did: the bodies it sent (to whom) and every stanza it received.
struct SoakRun {
    sent: Vec<(String, String)>,
    received: Vec<Element>,
    resumes: [usize; 2],
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn soak_200_clients_cut_and_resume_on_either_node_nothing_lost_nothing_repeated() {
    const CLIENTS: usize = 200;
    // Ten resources per account (each account's SCRAM keys cost the server time at start).
    const ACCOUNTS: usize = 20;
    const RUN: Duration = Duration::from_secs(15);
    let accounts: Vec<String> = (0..ACCOUNTS).map(|i| format!("u{i}")).collect();
    let names: Vec<&str> = accounts.iter().map(String::as_str).collect();
    let c = cluster_of(&names);
    // Client i is u{i % ACCOUNTS}@localhost/r{i}.
    let users: Vec<(String, String)> = (0..CLIENTS)
        .map(|i| (accounts[i % ACCOUNTS].clone(), format!("r{i}")))
        .collect();
    let jid = |i: usize| format!("{}@localhost/{}", users[i].0, users[i].1);
    let nodes = [&c.a, &c.b];
    // Meeting points that give up (bounded) if a client panicked instead of arriving.
    let ready = std::sync::atomic::AtomicUsize::new(0);
    let sent_all = std::sync::atomic::AtomicUsize::new(0);
    let meet = |at: &std::sync::atomic::AtomicUsize| {
        at.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let deadline = deadline_in(RUN + T + T);
        while at.load(std::sync::atomic::Ordering::SeqCst) < CLIENTS {
            assert!(remaining(deadline).is_some(), "another soak client failed");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let runs: Vec<SoakRun> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let (users, ready, sent_all, jid, meet) = (&users, &ready, &sent_all, &jid, &meet);
                scope.spawn(move || {
                    let mut dice = Dice(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));
                    let (me, resource) = (&users[i].0, &users[i].1);
                    let mut driver = enabled(nodes[(i / ACCOUNTS) % 2], me, resource);
                    let mut run = SoakRun {
                        sent: Vec::new(),
                        received: Vec::new(),
                        resumes: [0, 0],
                    };
                    meet(ready);
                    let end = deadline_in(RUN);
                    let mut last_resume = stopwatch();
                    let mut seq = 0;
                    while remaining(end).is_some() {
                        match dice.roll(10) {
                            // A cut, then a resume on either node (not within the claim
                            // race window of the last one: see cluster.rs).
                            0 if last_resume.elapsed() > Duration::from_millis(400) => {
                                driver.cut();
                                let n = dice.roll(2) as usize;
                                let (conn, _) = login(nodes[n], me);
                                driver.attach(conn);
                                let resumed = driver.resume(T).unwrap_or_else(|e| {
                                    let id = sm_id(&driver).to_string();
                                    let about = |node: &ExampleServer| {
                                        let t = node.trace();
                                        let lines: Vec<_> =
                                            t.iter().filter(|l| l.contains(&id)).cloned().collect();
                                        lines.join("\n")
                                    };
                                    panic!(
                                        "{me}/{resource}'s resume of {id} on node {n}: {e}\n\
                                         a:\n{}\nb:\n{}",
                                        about(nodes[0]),
                                        about(nodes[1])
                                    )
                                });
                                assert!(
                                    matches!(resumed, ClientEvent::Resumed { .. }),
                                    "{me}: {resumed:?}"
                                );
                                run.resumes[n] += 1;
                                last_resume = stopwatch();
                            }
                            1 | 2 => {
                                let to = jid(dice.roll(CLIENTS as u64) as usize);
                                let body = format!("{}:{seq}", jid(i));
                                seq += 1;
                                driver.send(chat(&to, &body)).unwrap();
                                run.sent.push((to, body));
                            }
                            _ => driver.pump_for(Duration::from_millis(100)).unwrap(),
                        }
                    }
                    // Everything sent is with the server, then everyone listens a while.
                    driver.request_ack().unwrap();
                    driver
                        .pump_until(T, "every stanza acknowledged", |d| d.sm().unacked() == 0)
                        .unwrap_or_else(|e| panic!("{me}: {e}"));
                    meet(sent_all);
                    driver.pump_for(Duration::from_secs(3)).unwrap();
                    run.received = driver.take_stanzas();
                    run
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| panic!("a soak client panicked"))
            })
            .collect()
    });

    let mut expected: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for run in &runs {
        for (to, body) in &run.sent {
            *expected
                .entry(to.clone())
                .or_default()
                .entry(body.clone())
                .or_default() += 1;
        }
    }
    let (mut lost, mut repeated, mut total) = (0, 0, 0);
    let mut missing = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let got = body_counts(&run.received);
        let want = expected.remove(&jid(i)).unwrap_or_default();
        total += want.len();
        lost += want.keys().filter(|b| !got.contains_key(*b)).count();
        missing.extend(
            want.keys()
                .filter(|b| !got.contains_key(*b))
                .map(|b| (jid(i), b.clone())),
        );
        repeated += got.values().filter(|n| **n > 1).count();
        let unexpected: Vec<_> = got.keys().filter(|b| !want.contains_key(*b)).collect();
        assert!(
            unexpected.is_empty(),
            "{}: not sent to it: {unexpected:?}",
            jid(i)
        );
    }
    let resumes: usize = runs.iter().map(|r| r.resumes[0] + r.resumes[1]).sum();
    println!(
        "soak: {CLIENTS} clients, {total} messages, {resumes} resumptions \
         ({} on node a, {} on node b): {lost} lost, {repeated} repeated",
        runs.iter().map(|r| r.resumes[0]).sum::<usize>(),
        runs.iter().map(|r| r.resumes[1]).sum::<usize>(),
    );
    assert!(
        resumes > CLIENTS,
        "too few resumptions to mean anything: {resumes}"
    );
    let trail = |(to, body): &(String, String)| {
        let pick = |node: &ExampleServer| {
            let t = node.trace();
            let lines: Vec<_> = t
                .iter()
                .filter(|l| {
                    l.contains(&format!(">{body}<"))
                        || l.starts_with("cluster:")
                        || l.contains(&format!("{to} "))
                        || l.contains(&format!("{to}'"))
                })
                .cloned()
                .collect();
            lines.join("\n")
        };
        format!("{body}\na:\n{}\nb:\n{}", pick(&c.a), pick(&c.b))
    };
    let trails: Vec<String> = missing.iter().take(3).map(trail).collect();
    assert_eq!(
        (lost, repeated),
        (0, 0),
        "of {total} messages; lost:\n{}",
        trails.join("\n")
    );
}

#[expect(clippy::disallowed_methods, reason = "a test measures real time")]
fn stopwatch() -> Instant {
    Instant::now()
}
