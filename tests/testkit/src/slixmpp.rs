//! Python scripts from `tests/peers/` run with the workspace's virtualenv
//! (`.venv/bin/python`, made by `./scripts/setup-peers.sh`, which installs slixmpp 1.17).
//!
//! A script prints machine-readable lines on stdout (`WORD args...`); [`Script`] collects
//! them as they come so a test can wait for one ([`Script::expect_line`]) while it keeps
//! serving the script, and can read commands on stdin ([`Script::send_line`]). The process is
//! killed by pid when the guard drops.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::process::{ChildGuard, PeerError};
use crate::{deadline_in, remaining, workspace_root};

/// The virtualenv's interpreter.
#[must_use]
pub fn python() -> PathBuf {
    workspace_root().join(".venv/bin/python")
}

/// The directory holding the peer scripts.
#[must_use]
pub fn peers_dir() -> PathBuf {
    workspace_root().join("tests/peers")
}

/// A running script.
#[derive(Debug)]
pub struct Script {
    name: String,
    // Dropped first, so the child sees EOF on stdin before it is signalled.
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Every stdout line so far, in order (including those consumed by `expect_line`).
    seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
    child: ChildGuard,
}

impl Script {
    /// Runs `tests/peers/<name>` with `args`, stdout and stderr captured.
    pub fn spawn(name: &str, args: &[String]) -> Result<Self, PeerError> {
        let python = python();
        if !python.is_file() {
            return Err(PeerError::Missing {
                program: python.display().to_string(),
                hint: "run ./scripts/setup-peers.sh (creates ./.venv with slixmpp)".into(),
            });
        }
        let script = peers_dir().join(name);
        let mut cmd = Command::new(python);
        cmd.arg("-u")
            .arg(&script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = ChildGuard::spawn(name, &mut cmd)?;
        let stdin = child.child_mut().stdin.take();
        let stdout = child.child_mut().stdout.take();
        let stderr_pipe = child.child_mut().stderr.take();
        let (tx, lines) = mpsc::channel();
        if let Some(out) = stdout {
            thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(err) = stderr_pipe {
            let sink = Arc::clone(&stderr);
            thread::spawn(move || {
                for line in BufReader::new(err).lines() {
                    let Ok(line) = line else { break };
                    if let Ok(mut s) = sink.lock() {
                        s.push_str(&line);
                        s.push('\n');
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

    /// The next stdout line, waiting at most `timeout`; `None` on timeout or when the script
    /// closed stdout.
    pub fn next_line(&mut self, timeout: Duration) -> Option<String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => {
                self.seen.push(line.clone());
                Some(line)
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Waits for a line starting with `word` (followed by a space or the end of the line) and
    /// returns the rest; other lines are kept in [`Self::seen`]. Fails after `timeout` with the
    /// script's output in the message.
    pub fn expect_line(&mut self, word: &str, timeout: Duration) -> Result<String, PeerError> {
        let deadline = deadline_in(timeout);
        while let Some(left) = remaining(deadline) {
            let Some(line) = self.next_line(left) else {
                break;
            };
            if line == word {
                return Ok(String::new());
            }
            if let Some(rest) = line.strip_prefix(word).and_then(|r| r.strip_prefix(' ')) {
                return Ok(rest.to_owned());
            }
        }
        Err(PeerError::Timeout {
            what: format!("{word:?} from {}\n{}", self.name, self.transcript()),
            after: timeout,
        })
    }

    /// Reads lines until `done` holds for every line seen so far (order-independent), at
    /// most `timeout`.
    pub fn wait_until(
        &mut self,
        timeout: Duration,
        what: &str,
        mut done: impl FnMut(&[String]) -> bool,
    ) -> Result<(), PeerError> {
        let deadline = deadline_in(timeout);
        while !done(&self.seen) {
            let line = remaining(deadline).and_then(|left| self.next_line(left));
            if line.is_none() {
                return Err(PeerError::Timeout {
                    what: format!("{what} from {}\n{}", self.name, self.transcript()),
                    after: timeout,
                });
            }
        }
        Ok(())
    }

    /// Writes one command line to the script's stdin.
    pub fn send_line(&mut self, line: &str) -> Result<(), PeerError> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(PeerError::io("writing to the script")(
                std::io::Error::other("stdin already closed"),
            ));
        };
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(PeerError::io(format!("writing to {}", self.name)))
    }

    /// Every stdout line read so far.
    #[must_use]
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// Waits for the script to exit (at most `timeout`), collecting the rest of its output,
    /// and fails unless it exited successfully.
    pub fn finish(&mut self, timeout: Duration) -> Result<(), PeerError> {
        self.stdin = None;
        let status = self.child.wait_timeout(timeout).map_err(|e| match e {
            PeerError::Timeout { after, .. } => PeerError::Timeout {
                what: format!("{} to exit\n{}", self.name, self.transcript()),
                after,
            },
            other => other,
        })?;
        while self.next_line(Duration::from_millis(200)).is_some() {}
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

    /// What the script printed so far, stdout then stderr, for failure messages.
    #[must_use]
    pub fn transcript(&self) -> String {
        let err = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
        format!(
            "--- {} stdout ---\n{}\n--- stderr ---\n{err}",
            self.name,
            self.seen.join("\n")
        )
    }
}
