//! XEP-0198 in practice: connect to a server over plain TCP, enable stream management with
//! resumption, exchange messages with ourselves, cut the TCP connection with stanzas in
//! flight both ways, reconnect, resume, and report whether every message arrived exactly
//! once.
//!
//! ```text
//! cargo run --example sm_client -- 127.0.0.1:5222 alice@localhost secret
//! ```
//!
//! Works against any XMPP server that offers plain TCP and SASL PLAIN (Prosody with
//! `c2s_require_encryption = false` and `allow_unencrypted_plain_auth = true`, for one).
//! Never use it over a network you do not own: the password travels in the clear.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use jid::BareJid;
use minidom::Element;
use xmpp_sm::{ClientConfig, Event};
use xmpp_tether_testkit::client::{Connection, SmDriver};
use xmpp_tether_testkit::stanza::chat as message;
use xmpp_tether_testkit::xml::NS_CLIENT;

const USAGE: &str = "\
usage: sm_client ADDRESS JID PASSWORD [--count N] [--timeout SECONDS]

Connects to ADDRESS (host:port, plain TCP) as JID with SASL PLAIN, enables XEP-0198 stream
management with resumption, sends N messages to itself (default 5) and checks the acks, then
cuts the TCP connection with messages in flight both ways, reconnects, resumes, and reports
whether every message arrived exactly once. Exit status 0 when it did.

options:
  --count N          messages before the cut (default 5)
  --timeout SECONDS  bound on every wait (default 10)
  -h, --help         this text";

struct Args {
    addr: SocketAddr,
    jid: BareJid,
    password: String,
    count: u32,
    timeout: Duration,
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1).collect()) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n(try --help)");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse(raw: Vec<String>) -> Result<Option<Args>, String> {
    let mut positional = Vec::new();
    let mut count = 5;
    let mut timeout = 10;
    let mut it = raw.into_iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--count" | "--timeout" => {
                let value = it.next().ok_or(format!("{arg} needs a value"))?;
                let n: u32 = value
                    .parse()
                    .map_err(|_| format!("{arg}: not a number: {value}"))?;
                if n == 0 {
                    return Err(format!("{arg} must be at least 1"));
                }
                if arg == "--count" {
                    count = n;
                } else {
                    timeout = n;
                }
            }
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            _ => positional.push(arg),
        }
    }
    let [addr, jid, password] = <[String; 3]>::try_from(positional)
        .map_err(|p| format!("expected ADDRESS JID PASSWORD, got {} arguments", p.len()))?;
    let addr = addr
        .to_socket_addrs()
        .map_err(|e| format!("address {addr}: {e}"))?
        .next()
        .ok_or(format!("address {addr} resolves to nothing"))?;
    let jid = BareJid::new(&jid).map_err(|e| format!("JID {jid}: {e}"))?;
    if jid.node().is_none() {
        return Err(format!("JID {jid} has no local part (user@domain)"));
    }
    Ok(Some(Args {
        addr,
        jid,
        password,
        count,
        timeout: Duration::from_secs(u64::from(timeout)),
    }))
}

/// How many times each of our bodies came back.
fn tally(driver: &SmDriver, tag: &str, total: u32) -> Vec<usize> {
    let mut seen = vec![0; total as usize];
    for s in driver.stanzas() {
        let body = s.get_child("body", NS_CLIENT).map(Element::text);
        let index = body
            .as_deref()
            .and_then(|b| b.strip_prefix(tag))
            .and_then(|n| n.parse::<usize>().ok());
        if let Some(slot) = index
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| seen.get_mut(i))
        {
            *slot += 1;
        }
    }
    seen
}

fn acked(driver: &SmDriver) -> u32 {
    driver
        .events()
        .iter()
        .map(|e| match e {
            Event::Acked { count, .. } => *count,
            _ => 0,
        })
        .sum()
}

fn run(args: &Args) -> Result<bool, Box<dyn std::error::Error>> {
    let t = args.timeout;
    let n = args.count;
    let total = n + 3;
    // A tag per run so that echoes of an earlier run (offline storage) are not counted.
    let tag = format!("sm-client-{}-", std::process::id());

    let (mut conn, features) = Connection::login(args.addr, &args.jid, &args.password, t)?;
    let me = conn.bind(Some(&format!("sm-client-{}", std::process::id())), t)?;
    println!("connected to {} as {me}", args.addr);
    let mut sm = SmDriver::new(ClientConfig::default());
    sm.attach(conn);
    match sm.enable(&features, t)? {
        Event::Enabled {
            id: Some(id),
            resume: true,
            max,
            ..
        } => println!(
            "enabled: {}, resumable (id {id}, max {} s)",
            sm.sm().namespace().as_str(),
            max.map_or("unset".into(), |m| m.to_string())
        ),
        other => return Err(format!("the server enabled no resumption: {other:?}").into()),
    }

    // Phase 1: messages to ourselves, echoed back by the server, acknowledged.
    for i in 1..=n {
        sm.send(message(&me, &format!("{tag}{i}")))?;
    }
    sm.pump_until(t, "our messages back", |d| {
        tally(d, &tag, total)
            .iter()
            .take(n as usize)
            .all(|&c| c > 0)
    })?;
    sm.request_ack()?;
    sm.pump_until(t, "acks", |d| d.sm().unacked() == 0)?;
    println!(
        "phase 1: {n} sent, {n} echoed back, {} acknowledged",
        acked(&sm)
    );

    // The cut: one message written (its echo comes back on a socket we stop reading), one
    // lost on the dying link, one sent while offline.
    sm.send(message(&me, &format!("{tag}{}", n + 1)))?;
    std::thread::sleep(Duration::from_millis(200));
    sm.send_lost(message(&me, &format!("{tag}{}", n + 2)))?;
    sm.cut();
    sm.send(message(&me, &format!("{tag}{}", n + 3)))?;
    println!(
        "cut: 1 message written just before, 1 lost on the wire, 1 sent while offline; \
         {} unacknowledged",
        sm.sm().unacked()
    );

    let (conn, _) = Connection::login(args.addr, &args.jid, &args.password, t)?;
    sm.attach(conn);
    match sm.resume(t)? {
        Event::Resumed { retransmitted, .. } => {
            println!("resumed: {retransmitted} of our stanzas retransmitted");
        }
        other => return Err(format!("unexpected answer to <resume/>: {other:?}").into()),
    }
    let complete = sm.pump_until(t, "every message back", |d| {
        tally(d, &tag, total).iter().all(|&c| c > 0)
    });
    if let Err(e) = &complete {
        println!("waiting for the rest: {e}");
    }
    sm.request_ack()?;
    let _ = sm.pump_until(t, "final acks", |d| d.sm().unacked() == 0);
    // Give duplicates a chance to arrive before counting.
    sm.pump_for(Duration::from_millis(500))?;

    let seen = tally(&sm, &tag, total);
    let once = seen.iter().filter(|&&c| c == 1).count();
    let duplicated = seen.iter().filter(|&&c| c > 1).count();
    let missing: Vec<usize> = (1..=seen.len()).filter(|&i| seen[i - 1] == 0).collect();
    let unacked = sm.sm().unacked();
    sm.close()?;
    println!(
        "result: {once}/{total} delivered exactly once, {duplicated} duplicated, {} missing{}, \
         {} acknowledged, {unacked} unacknowledged",
        missing.len(),
        if missing.is_empty() {
            String::new()
        } else {
            format!(" (#{missing:?})")
        },
        acked(&sm),
    );
    Ok(once == total as usize && unacked == 0)
}
