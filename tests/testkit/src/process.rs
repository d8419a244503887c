//! Child processes killed by pid, temporary run directories and free loopback ports.

use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::Duration;

use crate::{deadline_in, remaining};

/// How long a child gets between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(5);

/// Why a real peer could not be started or did not behave.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// A program the test needs is not installed.
    #[error("{program} not found ({hint})")]
    Missing {
        /// The program looked for.
        program: String,
        /// How to install it.
        hint: String,
    },
    /// Starting or talking to the process failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The process exited (or a helper command failed) when it should not have.
    #[error("{what} failed ({status}): {output}")]
    Failed {
        /// What was being done.
        what: String,
        /// Its exit status.
        status: ExitStatus,
        /// What it printed, or the end of its log.
        output: String,
    },
    /// Something did not happen in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long we waited.
        after: Duration,
    },
}

impl PeerError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}

/// A child process that is stopped when dropped: SIGTERM by pid, then SIGKILL after a grace
/// period.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    name: String,
}

impl ChildGuard {
    /// Spawns `cmd`, naming it `name` in messages.
    pub fn spawn(name: &str, cmd: &mut Command) -> Result<Self, PeerError> {
        let child = cmd
            .spawn()
            .map_err(PeerError::io(format!("starting {name}")))?;
        Ok(Self {
            child,
            name: name.to_owned(),
        })
    }

    /// The process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child, to take its pipes.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Its exit status if it has exited.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, PeerError> {
        self.child
            .try_wait()
            .map_err(PeerError::io(format!("polling {}", self.name)))
    }

    /// Waits for the child to exit on its own, at most `timeout`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<ExitStatus, PeerError> {
        let deadline = deadline_in(timeout);
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            if remaining(deadline).is_none() {
                return Err(PeerError::Timeout {
                    what: format!("{} to exit", self.name),
                    after: timeout,
                });
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM by pid, wait up to a grace period, then SIGKILL. Idempotent.
    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // std only offers SIGKILL; SIGTERM lets the peer shut down cleanly (Prosody takes
        // about 2 s). `kill` is POSIX and present wherever the real peers are.
        let termed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if termed && self.wait_timeout(TERM_GRACE).is_ok() {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A fresh directory under the system temp dir, removed on drop unless the thread is
/// panicking (then it is kept so its logs can be read; its path is in the failure message).
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Creates `$TMPDIR/tether-<label>-<pid>-<n>`.
    pub fn new(label: &str) -> Result<Self, PeerError> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("tether-{label}-{}-{n}", std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .map_err(PeerError::io(format!("clearing {}", path.display())))?;
        }
        std::fs::create_dir_all(&path)
            .map_err(PeerError::io(format!("creating {}", path.display())))?;
        Ok(Self { path })
    }

    /// The directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("keeping {} for inspection", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
pub fn free_port() -> Result<u16, PeerError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(PeerError::io("binding 127.0.0.1:0"))?;
    let port = listener
        .local_addr()
        .map_err(PeerError::io("reading the bound port"))?
        .port();
    Ok(port)
}

/// Polls until `addr` accepts a TCP connection, at most `timeout`; `alive` is asked between
/// attempts and can abort early (say, because the server process exited).
pub fn wait_for_port(
    addr: SocketAddr,
    timeout: Duration,
    mut alive: impl FnMut() -> Result<(), PeerError>,
) -> Result<(), PeerError> {
    let deadline = deadline_in(timeout);
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        alive()?;
        if remaining(deadline).is_none() {
            return Err(PeerError::Timeout {
                what: format!("{addr} to accept connections"),
                after: timeout,
            });
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// The last `max_lines` lines of a text file, or a note that it could not be read.
#[must_use]
pub fn tail(path: &Path, max_lines: usize) -> String {
    let mut text = String::new();
    match std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text)) {
        Ok(_) => {
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(max_lines);
            lines[start..].join("\n")
        }
        Err(e) => format!("({} unreadable: {e})", path.display()),
    }
}

/// Finds `program` on `PATH`.
#[must_use]
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}
