//! xmpp.js (`@xmpp/client` 0.14.0 on Node.js) as a real client: `tests/peers/xmppjs/driver.js`,
//! installed by `./scripts/setup-peers.sh` (`npm ci` from the committed lockfile).
//!
//! The driver speaks SASL PLAIN, SCRAM-SHA-1 and SCRAM-SHA-256, the legacy SASL profile or
//! SASL2 (XEP-0388) with Bind2 (XEP-0386), and XEP-0198 either with the separate top-level
//! elements or inline (resume inside `<authenticate/>`, enable inside `<bind/>`), over plain
//! TCP. It reads one command per line on stdin and prints one event per line on stdout (the
//! protocol is in `tests/peers/xmppjs/README.md`); [`XmppJs`] collects the lines as they come
//! so a test can wait for one while it keeps serving the peer. The process is killed by pid
//! when the guard drops, and the driver exits by itself after its run limit.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::process::{ChildGuard, PeerError, which};
use crate::{deadline_in, remaining, workspace_root};

const INSTALL_HINT: &str = "run ./scripts/setup-peers.sh (npm ci in tests/peers/xmppjs; Node.js 20 comes with the machine)";
/// How many stderr lines (the driver's `IN …`/`OUT …` trace) a transcript shows.
const TRACE_LINES: usize = 80;

/// The directory holding `driver.js`, its `package.json` and lockfile.
#[must_use]
pub fn driver_dir() -> PathBuf {
    workspace_root().join("tests/peers/xmppjs")
}

/// The SASL mechanism the driver authenticates with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// RFC 4616.
    Plain,
    /// RFC 5802 with SHA-1 (xmpp.js's own implementation).
    ScramSha1,
    /// RFC 7677 (StanzaJS's SCRAM class plugged into xmpp.js).
    ScramSha256,
}

impl Mechanism {
    /// The IANA name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha1 => "SCRAM-SHA-1",
            Self::ScramSha256 => "SCRAM-SHA-256",
        }
    }
}

/// How the driver negotiates stream management.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sm {
    /// Inline: `<resume/>` inside SASL2 `<authenticate/>`, `<enable/>` inside Bind2 `<bind/>`
    /// (xmpp.js sends both when it holds a resumable session, as in XEP-0198 §9.2.1).
    Inline,
    /// The separate top-level `<enable/>` after binding, or `<resume/>` after authentication.
    TopLevel,
    /// None: the server's SM features are hidden from xmpp.js.
    Off,
}

/// One `connect` command: which path through stream negotiation xmpp.js takes. The driver
/// hides from xmpp.js whatever stream features were not asked for.
#[derive(Debug, Clone)]
pub struct Connect {
    /// The SASL mechanism.
    pub mechanism: Mechanism,
    /// SASL2 (XEP-0388) rather than the RFC 6120 profile.
    pub sasl2: bool,
    /// Bind2 inside SASL2 (ignored without SASL2).
    pub bind2: bool,
    /// Stream management (inline needs Bind2; without it the driver uses top-level).
    pub sm: Sm,
    /// How long the driver waits for `ONLINE` or `RESUMED` before it prints `TIMEOUT` and
    /// drops the link (xmpp.js itself waits forever for an answer to `<authenticate/>`).
    pub wait: Duration,
    /// Drop the link right after the resume request went out (`CUT_IN_RESUME`).
    pub cut_in_resume: bool,
}

impl Connect {
    /// RFC 6120 SASL, resource binding, top-level SM.
    #[must_use]
    pub fn legacy(mechanism: Mechanism) -> Self {
        Self {
            mechanism,
            sasl2: false,
            bind2: false,
            sm: Sm::TopLevel,
            wait: Duration::from_secs(10),
            cut_in_resume: false,
        }
    }

    /// SASL2 with Bind2 and inline SM (the driver's default).
    #[must_use]
    pub fn sasl2(mechanism: Mechanism) -> Self {
        Self {
            sasl2: true,
            bind2: true,
            sm: Sm::Inline,
            ..Self::legacy(mechanism)
        }
    }

    /// With or without Bind2.
    #[must_use]
    pub fn with_bind2(mut self, bind2: bool) -> Self {
        self.bind2 = bind2;
        self
    }

    /// With this SM negotiation.
    #[must_use]
    pub fn with_sm(mut self, sm: Sm) -> Self {
        self.sm = sm;
        self
    }

    /// With this bound on reaching `ONLINE` or `RESUMED`.
    #[must_use]
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// Dropping the link as soon as the resume request was written.
    #[must_use]
    pub fn cutting_in_resume(mut self) -> Self {
        self.cut_in_resume = true;
        self
    }

    fn command_line(&self) -> String {
        let sm = match self.sm {
            Sm::Inline => "inline",
            Sm::TopLevel => "top",
            Sm::Off => "off",
        };
        format!(
            "connect mech={} sasl={} bind2={} sm={sm} wait={}{}",
            self.mechanism.as_str(),
            if self.sasl2 { 2 } else { 1 },
            if self.bind2 { "on" } else { "off" },
            self.wait.as_millis().max(1),
            if self.cut_in_resume {
                " cut=resume"
            } else {
                ""
            },
        )
    }
}

/// xmpp.js's stream-management state, from a `STATE` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmState {
    /// The SM id (`None` before enable or after a failed resume).
    pub id: Option<String>,
    /// Whether SM is active on the current connection.
    pub enabled: bool,
    /// Stanzas handled from the server (the `h` xmpp.js would acknowledge).
    pub inbound: u32,
    /// Own stanzas the server acknowledged.
    pub outbound: u32,
    /// Own stanzas sent and not yet acknowledged.
    pub queued: usize,
    /// xmpp.js's connection status (`online`, `disconnect`, …).
    pub status: String,
    /// The JID xmpp.js holds (bare after a SASL2 resume: xmpp.js takes the
    /// authorization identifier).
    pub jid: Option<String>,
}

impl SmState {
    fn parse(rest: &str) -> Option<Self> {
        let fields: BTreeMap<&str, &str> =
            rest.split(' ').filter_map(|w| w.split_once('=')).collect();
        let text = |k: &str| {
            fields
                .get(k)
                .filter(|v| **v != "-")
                .map(|v| (*v).to_owned())
        };
        Some(Self {
            id: text("id"),
            enabled: *fields.get("enabled")? == "true",
            inbound: fields.get("inbound")?.parse().ok()?,
            outbound: fields.get("outbound")?.parse().ok()?,
            queued: fields.get("queued")?.parse().ok()?,
            status: text("status")?,
            jid: text("jid"),
        })
    }
}

/// A running driver for one account.
#[derive(Debug)]
pub struct XmppJs {
    name: String,
    // Dropped first, so the driver sees EOF on stdin (and quits) before it is signalled.
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Arc<Mutex<Vec<String>>>,
    child: ChildGuard,
}

impl XmppJs {
    /// Starts the driver for `jid` (`user@domain/resource`) against `addr`, and waits for
    /// `READY`. The driver exits by itself after `run_limit`.
    pub fn spawn(
        addr: SocketAddr,
        jid: &str,
        password: &str,
        run_limit: Duration,
    ) -> Result<Self, PeerError> {
        let args = [
            addr.ip().to_string(),
            addr.port().to_string(),
            jid.to_owned(),
            password.to_owned(),
            run_limit.as_secs().max(1).to_string(),
        ];
        let mut driver = Self::start(&format!("xmpp.js {jid}"), &args)?;
        driver.expect_line("READY", Duration::from_secs(10))?;
        Ok(driver)
    }

    /// Runs `driver.js --selftest`: the SCRAM-SHA-256 adapter against RFC 7677's example.
    pub fn selftest() -> Result<(), PeerError> {
        let mut driver = Self::start("xmpp.js --selftest", &["--selftest".to_owned()])?;
        driver.expect_line("SELFTEST", Duration::from_secs(10))?;
        driver.finish(Duration::from_secs(10))
    }

    fn start(name: &str, args: &[String]) -> Result<Self, PeerError> {
        let node = which("node").ok_or_else(|| PeerError::Missing {
            program: "node".into(),
            hint: INSTALL_HINT.into(),
        })?;
        let dir = driver_dir();
        if !dir.join("node_modules/@xmpp/client").is_dir() {
            return Err(PeerError::Missing {
                program: dir.join("node_modules/@xmpp/client").display().to_string(),
                hint: INSTALL_HINT.into(),
            });
        }
        let mut cmd = Command::new(node);
        cmd.current_dir(&dir)
            .arg("driver.js")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = ChildGuard::spawn(name, &mut cmd)?;
        let stdin = child.child_mut().stdin.take();
        let (tx, lines) = mpsc::channel();
        if let Some(out) = child.child_mut().stdout.take() {
            thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(err) = child.child_mut().stderr.take() {
            let sink = Arc::clone(&stderr);
            thread::spawn(move || {
                for line in BufReader::new(err).lines() {
                    let Ok(line) = line else { break };
                    if let Ok(mut s) = sink.lock() {
                        s.push(line);
                    }
                }
            });
        }
        Ok(Self {
            name: name.to_owned(),
            stdin,
            lines,
            seen: Vec::new(),
            stderr,
            child,
        })
    }

    /// Writes a `connect` command; wait for its outcome with [`Self::expect_line`] or
    /// [`Self::expect_one_of`] (`ONLINE`, `ENABLED`, `RESUMED`, `TIMEOUT`, …).
    pub fn connect(&mut self, opts: &Connect) -> Result<(), PeerError> {
        self.send_line(&opts.command_line())
    }

    /// Sends a chat message.
    pub fn send(&mut self, to: &str, body: &str) -> Result<(), PeerError> {
        self.send_line(&format!("send {to} {body}"))
    }

    /// Counts and queues a chat message as sent without writing it: lost on a dying link.
    pub fn send_lost(&mut self, to: &str, body: &str) -> Result<(), PeerError> {
        self.send_line(&format!("sendlost {to} {body}"))
    }

    /// Sends `<r/>`.
    pub fn request_ack(&mut self) -> Result<(), PeerError> {
        self.send_line("ack")
    }

    /// Sends `<r/>` and waits until xmpp.js's unacked queue is empty (`SETTLED`).
    pub fn settle(&mut self, timeout: Duration) -> Result<(), PeerError> {
        self.send_line(&format!("settle {}", timeout.as_millis().max(1)))?;
        let (word, rest) = self.expect_one_of(&["SETTLED", "UNSETTLED"], timeout * 2)?;
        if word == "SETTLED" {
            Ok(())
        } else {
            Err(PeerError::Timeout {
                what: format!("acks for everything ({rest}) from {}", self.name),
                after: timeout,
            })
        }
    }

    /// Destroys the TCP socket: no `</stream:stream>`, no final `<a/>`.
    pub fn cut(&mut self, timeout: Duration) -> Result<(), PeerError> {
        self.send_line("cut")?;
        self.expect_line("CUT", timeout).map(drop)
    }

    /// Asks for and parses the SM state.
    pub fn state(&mut self, timeout: Duration) -> Result<SmState, PeerError> {
        self.send_line("state")?;
        let rest = self.expect_line("STATE", timeout)?;
        SmState::parse(&rest).ok_or_else(|| PeerError::Timeout {
            what: format!("a well-formed STATE line (got {rest:?})"),
            after: timeout,
        })
    }

    /// Closes the stream cleanly and waits for the driver to exit.
    pub fn quit(&mut self, timeout: Duration) -> Result<(), PeerError> {
        self.send_line("quit")?;
        self.expect_line("CLOSED", timeout)?;
        self.finish(timeout)
    }

    /// Writes one command line.
    pub fn send_line(&mut self, line: &str) -> Result<(), PeerError> {
        let what = format!("writing to {}", self.name);
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(PeerError::Io {
                what,
                source: std::io::Error::other("stdin already closed"),
            });
        };
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|source| PeerError::Io { what, source })
    }

    /// The next stdout line, waiting at most `timeout`.
    pub fn next_line(&mut self, timeout: Duration) -> Option<String> {
        let line = self.lines.recv_timeout(timeout).ok()?;
        self.seen.push(line.clone());
        Some(line)
    }

    /// Waits for a line starting with `word` and returns the rest; fails after `timeout` with
    /// the transcript in the message.
    pub fn expect_line(&mut self, word: &str, timeout: Duration) -> Result<String, PeerError> {
        self.expect_one_of(&[word], timeout).map(|(_, rest)| rest)
    }

    /// Waits for a line starting with one of `words`; returns the word and the rest.
    pub fn expect_one_of(
        &mut self,
        words: &[&str],
        timeout: Duration,
    ) -> Result<(String, String), PeerError> {
        let deadline = deadline_in(timeout);
        while let Some(left) = remaining(deadline) {
            let Some(line) = self.next_line(left) else {
                break;
            };
            let (first, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            if words.contains(&first) {
                return Ok((first.to_owned(), rest.to_owned()));
            }
        }
        Err(PeerError::Timeout {
            what: format!("{words:?} from {}\n{}", self.name, self.transcript()),
            after: timeout,
        })
    }

    /// Reads lines until `done` holds for every line seen so far, at most `timeout`.
    pub fn wait_until(
        &mut self,
        timeout: Duration,
        what: &str,
        mut done: impl FnMut(&[String]) -> bool,
    ) -> Result<(), PeerError> {
        let deadline = deadline_in(timeout);
        while !done(&self.seen) {
            if remaining(deadline)
                .and_then(|left| self.next_line(left))
                .is_none()
            {
                return Err(PeerError::Timeout {
                    what: format!("{what} from {}\n{}", self.name, self.transcript()),
                    after: timeout,
                });
            }
        }
        Ok(())
    }

    /// Reads whatever arrives for `period` (to give duplicates a chance to show up).
    pub fn pump_for(&mut self, period: Duration) {
        let deadline = deadline_in(period);
        while let Some(left) = remaining(deadline) {
            if self.next_line(left).is_none() {
                break;
            }
        }
    }

    /// Every stdout line so far.
    #[must_use]
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// The rest of every line so far that starts with `word`, in order.
    #[must_use]
    pub fn lines_of(&self, word: &str) -> Vec<String> {
        self.seen
            .iter()
            .filter_map(|l| {
                let (first, rest) = l.split_once(' ').unwrap_or((l.as_str(), ""));
                (first == word).then(|| rest.to_owned())
            })
            .collect()
    }

    /// Every chat message received so far: body -> how many times.
    #[must_use]
    pub fn received(&self) -> BTreeMap<String, usize> {
        body_counts(&self.lines_of("RECV"))
    }

    /// Every message xmpp.js retransmitted after a resume so far: body -> how many times.
    #[must_use]
    pub fn resent(&self) -> BTreeMap<String, usize> {
        body_counts(&self.lines_of("RESENT"))
    }

    /// The process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Waits for the driver to exit (at most `timeout`), collecting the rest of its output,
    /// and fails unless it exited successfully.
    pub fn finish(&mut self, timeout: Duration) -> Result<(), PeerError> {
        self.stdin = None;
        let status = self.child.wait_timeout(timeout)?;
        while self.next_line(Duration::from_millis(100)).is_some() {}
        if status.success() {
            Ok(())
        } else {
            Err(PeerError::Failed {
                what: self.name.clone(),
                status,
                output: self.transcript(),
            })
        }
    }

    /// Stdout so far, then the end of the stderr trace, for failure messages.
    #[must_use]
    pub fn transcript(&self) -> String {
        let trace = self
            .stderr
            .lock()
            .map(|s| s[s.len().saturating_sub(TRACE_LINES)..].join("\n"))
            .unwrap_or_default();
        format!(
            "--- {} stdout ---\n{}\n--- stderr (last {TRACE_LINES} lines) ---\n{trace}",
            self.name,
            self.seen.join("\n")
        )
    }
}

/// `<from-or-to> <body>` lines -> body -> count.
fn body_counts(lines: &[String]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in lines {
        let body = line.split_once(' ').map_or("", |(_, b)| b);
        *counts.entry(body.to_owned()).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_lines() {
        let line = Connect::sasl2(Mechanism::ScramSha256).command_line();
        assert_eq!(
            line,
            "connect mech=SCRAM-SHA-256 sasl=2 bind2=on sm=inline wait=10000"
        );
        let line = Connect::legacy(Mechanism::Plain)
            .with_sm(Sm::Off)
            .with_wait(Duration::from_millis(1500))
            .cutting_in_resume()
            .command_line();
        assert_eq!(
            line,
            "connect mech=PLAIN sasl=1 bind2=off sm=off wait=1500 cut=resume"
        );
    }

    #[test]
    fn state_lines() {
        let state = SmState::parse(
            "id=abc enabled=true inbound=2 outbound=3 queued=1 status=online jid=a@b/c",
        );
        assert_eq!(
            state,
            Some(SmState {
                id: Some("abc".into()),
                enabled: true,
                inbound: 2,
                outbound: 3,
                queued: 1,
                status: "online".into(),
                jid: Some("a@b/c".into()),
            })
        );
        let state = SmState::parse(
            "id=- enabled=false inbound=0 outbound=0 queued=0 status=disconnect jid=-",
        );
        assert_eq!(state.and_then(|s| s.id), None);
        assert_eq!(SmState::parse("id=x"), None);
    }

    #[test]
    fn counts_bodies() {
        let counts = body_counts(&["a@b/c m1".into(), "a@b/c m1".into(), "x m 2".into()]);
        assert_eq!(counts.get("m1"), Some(&2));
        assert_eq!(counts.get("m 2"), Some(&1));
    }
}
