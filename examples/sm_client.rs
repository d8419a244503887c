//! XEP-0198 in practice: connect to a server over plain TCP, enable stream management with
//! resumption, exchange messages with ourselves, cut the TCP connection with stanzas in
//! flight both ways, reconnect, resume, and report whether every message arrived exactly
//! once.
//!
//! ```text
//! cargo run -p tether-examples --example sm_client -- 127.0.0.1:5222 alice@localhost secret
//! cargo run -p tether-examples --example sm_client -- 127.0.0.1:5222 alice@localhost secret --sasl2
//! ```
//!
//! With `--sasl2` it logs in with SASL2 (XEP-0388) and Bind2 (XEP-0386) and asks for stream
//! management inline (XEP-0198 §9: `<enable/>` inside `<bind/>`, then `<resume/>` inside
//! `<authenticate/>` with a fallback `<enable/>`); when an inline request goes unanswered (as
//! with Prosody 0.12's mod_sasl2_sm) it logs in again and uses the top-level elements.
//!
//! Works against any XMPP server that offers plain TCP and SASL PLAIN (Prosody with
//! `c2s_require_encryption = false` and `allow_unencrypted_plain_auth = true`, for one).
//! Never use it over a network you do not own: the password travels in the clear.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use jid::{BareJid, FullJid};
use minidom::Element;
use xmpp_sm::{ClientConfig, ClientEvent};
use xmpp_tether_testkit::client::{Connection, InlineSm, Sasl2Login, SmDriver, SmError};
use xmpp_tether_testkit::stanza::chat as message;
use xmpp_tether_testkit::xml::NS_CLIENT;

const USAGE: &str = "\
usage: sm_client ADDRESS JID PASSWORD [--sasl2] [--count N] [--timeout SECONDS]

Connects to ADDRESS (host:port, plain TCP) as JID with SASL PLAIN, enables XEP-0198 stream
management with resumption, sends N messages to itself (default 5) and checks the acks, then
cuts the TCP connection with messages in flight both ways, reconnects, resumes, and reports
whether every message arrived exactly once. Exit status 0 when it did.

options:
  --sasl2            log in with SASL2 and Bind2, enable and resume inline (XEP-0198 §9);
                     an inline request unanswered for 3 s falls back to the top-level one
  --count N          messages before the cut (default 5)
  --timeout SECONDS  bound on every wait (default 10)
  -h, --help         this text";

/// How long an inline `<enable/>` or `<resume/>` may go unanswered before we fall back.
const INLINE_WAIT: Duration = Duration::from_secs(3);

struct Args {
    addr: SocketAddr,
    jid: BareJid,
    password: String,
    count: u32,
    timeout: Duration,
    sasl2: bool,
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
    let mut sasl2 = false;
    let mut it = raw.into_iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--sasl2" => sasl2 = true,
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
        sasl2,
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

fn run(args: &Args) -> Result<bool, Box<dyn std::error::Error>> {
    let t = args.timeout;
    let n = args.count;
    let total = n + 3;
    // A tag per run so that echoes of an earlier run (offline storage) are not counted.
    let tag = format!("sm-client-{}-", std::process::id());

    let resource = format!("sm-client-{}", std::process::id());
    let mut config = ClientConfig::default();
    config.request_timeout = Some(INLINE_WAIT.min(t));
    let mut sm = SmDriver::new(config);
    let me = if args.sasl2 {
        online_sasl2(args, &mut sm, &resource)?
    } else {
        let (mut conn, features) = Connection::login(args.addr, &args.jid, &args.password, t)?;
        let me = conn.bind(Some(&resource), t)?;
        println!("connected to {} as {me}", args.addr);
        sm.attach(conn);
        sm.enable(&features, t)?;
        me
    };
    match sm
        .events()
        .iter()
        .rev()
        .find(|e| matches!(e, ClientEvent::Enabled { .. }))
    {
        Some(ClientEvent::Enabled {
            id: Some(id),
            resume: true,
            max,
            ..
        }) => println!(
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

    let resumed = if args.sasl2 {
        resume_sasl2(args, &mut sm)?
    } else {
        let (conn, _) = Connection::login(args.addr, &args.jid, &args.password, t)?;
        sm.attach(conn);
        sm.resume(t)?
    };
    match resumed {
        ClientEvent::Resumed { retransmitted, .. } => {
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

/// XEP-0388 §2.1 asks for a UUIDv4 that stays the same for one installation: derive one from
/// the account, so that the server's Bind2 resource is the same on every run.
fn user_agent_id(jid: &BareJid) -> String {
    let mut bytes = [0u8; 16];
    for (i, half) in bytes.chunks_mut(8).enumerate() {
        let mut h = DefaultHasher::new();
        ("tether sm_client", i, jid.as_str()).hash(&mut h);
        half.copy_from_slice(&h.finish().to_be_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn sasl2_login(jid: &BareJid, tag: &str) -> Sasl2Login {
    Sasl2Login::new(user_agent_id(jid))
        .with_software("tether sm_client")
        .with_bind2(Some(tag))
}

/// Logs in with SASL2 + Bind2 and an inline `<enable/>`; if it goes unanswered (or is not
/// offered), logs in again and enables at the top level. Returns the bound JID.
fn online_sasl2(args: &Args, sm: &mut SmDriver, tag: &str) -> Result<FullJid, SmError> {
    let t = args.timeout;
    let login = sasl2_login(&args.jid, tag);
    let (addr, jid, pw) = (args.addr, &args.jid, args.password.as_str());
    let success = match sm.login_sasl2(addr, jid, pw, &login, InlineSm::Enable, t) {
        Ok(success) if sm.sm().is_enabled() => {
            println!("SASL2 + Bind2: stream management enabled inline");
            success
        }
        Ok(success) => {
            println!("SASL2 + Bind2: the inline <enable/> was refused; enabling at the top level");
            sm.enable(&success.features, t)?;
            success
        }
        Err(e @ (SmError::RequestTimedOut(_) | SmError::NotOffered(_))) => {
            println!("SASL2 + Bind2, inline: {e}; logging in again");
            let success = sm.login_sasl2(addr, jid, pw, &login, InlineSm::Off, t)?;
            sm.enable(&success.features, t)?;
            println!("enabled at the top level");
            success
        }
        Err(e) => return Err(e),
    };
    let me = success
        .full_jid()
        .ok_or(SmError::NotOffered("a bound resource in SASL2 <success/>"))?;
    println!("connected to {addr} as {me}");
    Ok(me)
}

/// Logs in with SASL2 and an inline `<resume/>` (with the XEP-0198 §9.2.1 fallback
/// `<enable/>` in Bind2); if it goes unanswered (or is not offered), logs in again without
/// Bind2 and resumes at the top level. Returns the `Resumed` (or `ResumeFailed`) event.
fn resume_sasl2(args: &Args, sm: &mut SmDriver) -> Result<ClientEvent, SmError> {
    let t = args.timeout;
    let (addr, jid, pw) = (args.addr, &args.jid, args.password.as_str());
    let tag = format!("sm-client-{}", std::process::id());
    let inline = sm.login_sasl2(
        addr,
        jid,
        pw,
        &sasl2_login(jid, &tag),
        InlineSm::ResumeOrEnable,
        t,
    );
    match inline {
        Ok(_) => {
            println!("SASL2: answered inline");
            sm.events()
                .iter()
                .rev()
                .find(|e| {
                    matches!(
                        e,
                        ClientEvent::Resumed { .. } | ClientEvent::ResumeFailed { .. }
                    )
                })
                .cloned()
                .ok_or(SmError::NotOffered("an answer to the inline <resume/>"))
        }
        Err(e @ (SmError::RequestTimedOut(_) | SmError::NotOffered(_))) => {
            println!("SASL2, inline: {e}; logging in again");
            let mut login = sasl2_login(jid, &tag);
            login.bind2 = None;
            sm.login_sasl2(addr, jid, pw, &login, InlineSm::Off, t)?;
            sm.resume(t)
        }
        Err(e) => Err(e),
    }
}
