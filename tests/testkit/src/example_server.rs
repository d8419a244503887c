//! The workspace's own server, `examples/server/` (`cargo run --example server`), as a real
//! peer: started on 127.0.0.1 with a free port and a `--state` file in a temporary run
//! directory, waited for until it prints its `listening on` line, stopped with SIGTERM (it
//! hibernates every stream and writes `--state`) or killed, and started again on the same port
//! and state file. It runs with `--trace`, so every element in and out is on its stderr
//! (`[c3] C: …` / `[c3] S: …`); tests wait on those lines and print them on failure.
//!
//! [`Proxy`] sits between a client and the server and can hold either direction of a link
//! (bytes read and kept, not forwarded: in flight) and cut it (held bytes lost), which is how
//! the tests lose stanzas on a dying link without touching the client or the server.
//!
//! The binary is `target/<profile>/examples/server`, found next to the test executable
//! (`target/<profile>/deps/…`): `cargo test -p tether-examples` builds it first. The
//! environment variable `TETHER_EXAMPLE_SERVER` names another binary. A binary older than a
//! source file under `examples/server/` or `crates/*/src/` is refused (`cargo test --test X` alone
//! does not rebuild examples).

mod proxy;

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

pub use self::proxy::{Direction, Link, Proxy};
use crate::process::{ChildGuard, PeerError, RunDir};
use crate::{deadline_in, remaining, workspace_root};

/// The domain the server serves (its default).
pub const DOMAIN: &str = "localhost";
/// How long the server gets to print `listening on` (it needs well under a second).
const READY: Duration = Duration::from_secs(15);
/// How many trace lines a failure message shows.
const TAIL: usize = 60;

/// Where the server binary is, or why it is not there.
pub fn binary() -> Result<PathBuf, PeerError> {
    let hint = || {
        "run `cargo test -p tether-examples` (it builds the example first) or `cargo build -p tether-examples --example server`".to_owned()
    };
    if let Some(path) = std::env::var_os("TETHER_EXAMPLE_SERVER") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().map_err(PeerError::io("locating the test executable"))?;
    // target/<profile>/deps/<test> -> target/<profile>/examples/server
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|profile| profile.join("examples").join("server"))
        .filter(|p| p.is_file())
        .ok_or_else(|| PeerError::Missing {
            program: format!("examples/server next to {}", exe.display()),
            hint: hint(),
        })?;
    // `cargo test --test X` alone does not rebuild examples: refuse a binary older than its
    // sources rather than test yesterday's server.
    let built = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
    let root = workspace_root();
    let newer = built.and_then(|built| {
        let crates = std::fs::read_dir(root.join("crates")).into_iter().flatten();
        let mut dirs = crates.flatten().map(|c| c.path().join("src"));
        newer_source(&root.join("examples/server"), built)
            .or_else(|| dirs.find_map(|src| newer_source(&src, built)))
    });
    if let Some(source) = newer {
        return Err(PeerError::Missing {
            program: format!("{} newer than {}", path.display(), source.display()),
            hint: hint(),
        });
    }
    Ok(path)
}

/// A `.rs` file under `dir` modified after `built`, if any.
fn newer_source(dir: &Path, built: std::time::SystemTime) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            if let Some(found) = newer_source(&path, built) {
                return Some(found);
            }
        } else if path.extension().is_some_and(|x| x == "rs")
            && meta.modified().is_ok_and(|m| m > built)
        {
            return Some(path);
        }
    }
    None
}

/// Options for [`ExampleServer::start`].
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Accounts on [`DOMAIN`]: (user, password), passed as `--user user:password`.
    pub accounts: Vec<(String, String)>,
    /// The port to listen on; `None` lets the server pick a free one (`--listen
    /// 127.0.0.1:0`).
    pub port: Option<u16>,
    /// XEP-0114 components: (domain, secret), passed as `--component domain:secret`; the
    /// component port is then a free one ([`ExampleServer::component_addr`]).
    pub components: Vec<(String, String)>,
    /// More arguments, passed as they are (for example `--redis URL --node NAME`).
    pub args: Vec<String>,
}

impl ServerOptions {
    /// Adds an account.
    #[must_use]
    pub fn account(mut self, user: &str, password: &str) -> Self {
        self.accounts.push((user.to_owned(), password.to_owned()));
        self
    }

    /// Passes `arg` to the server as it is.
    #[must_use]
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    /// Accepts the XEP-0114 component `domain` with `secret`.
    #[must_use]
    pub fn component(mut self, domain: &str, secret: &str) -> Self {
        self.components.push((domain.to_owned(), secret.to_owned()));
        self
    }
}

/// Lines a child printed, shared with the threads that read its pipes.
#[derive(Debug, Default)]
struct Lines {
    lines: Mutex<Vec<String>>,
    more: Condvar,
}

impl Lines {
    fn lock(&self) -> MutexGuard<'_, Vec<String>> {
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn push(&self, line: String) {
        self.lock().push(line);
        self.more.notify_all();
    }

    /// Waits until `done` holds for the lines so far (at most `timeout`); `Err` with the
    /// lines on timeout.
    fn wait<T>(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&[String]) -> Option<T>,
    ) -> Result<T, ()> {
        let deadline = deadline_in(timeout);
        let mut lines = self.lock();
        loop {
            if let Some(found) = done(&lines) {
                return Ok(found);
            }
            let Some(left) = remaining(deadline) else {
                return Err(());
            };
            // A bounded wait: an exited child sends no more lines, so poll now and then.
            let slice = left.min(Duration::from_millis(100));
            lines = self
                .more
                .wait_timeout(lines, slice)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
}

fn collect(pipe: impl std::io::Read + Send + 'static, sink: Arc<Lines>) {
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            sink.push(line);
        }
    });
}

/// One run of the server process.
#[derive(Debug)]
struct Run {
    child: ChildGuard,
    stdout: Arc<Lines>,
    stderr: Arc<Lines>,
}

/// The example server, running (or stopped between two runs). Dropping it stops the process
/// (SIGTERM by pid, SIGKILL after a grace) and removes the run directory.
#[derive(Debug)]
pub struct ExampleServer {
    // Field order matters: the process stops before its run directory is removed.
    run: Option<Run>,
    opts: ServerOptions,
    addr: SocketAddr,
    component_addr: Option<SocketAddr>,
    restored: usize,
    state: PathBuf,
    dir: RunDir,
}

impl ExampleServer {
    /// Starts the server with `opts`, a state file in a fresh run directory, and waits for
    /// its `listening on` line.
    pub fn start(opts: &ServerOptions) -> Result<Self, PeerError> {
        let dir = RunDir::new("example-server")?;
        let state = dir.path().join("state.json");
        let mut server = Self {
            run: None,
            opts: opts.clone(),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, opts.port.unwrap_or(0))),
            component_addr: None,
            restored: 0,
            state,
            dir,
        };
        server.launch()?;
        Ok(server)
    }

    fn launch(&mut self) -> Result<(), PeerError> {
        let mut cmd = Command::new(binary()?);
        cmd.current_dir(self.dir.path())
            .arg("--listen")
            .arg(self.addr.to_string())
            .arg("--domain")
            .arg(DOMAIN)
            .arg("--state")
            .arg(&self.state)
            .arg("--trace")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (user, password) in &self.opts.accounts {
            cmd.arg("--user").arg(format!("{user}:{password}"));
        }
        cmd.args(&self.opts.args);
        for (domain, secret) in &self.opts.components {
            cmd.arg("--component").arg(format!("{domain}:{secret}"));
        }
        if !self.opts.components.is_empty() {
            // The same port again after a restart, so components reconnect where they were.
            let at = self
                .component_addr
                .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
            cmd.arg("--component-listen").arg(at.to_string());
        }
        let mut child = ChildGuard::spawn("example server", &mut cmd)?;
        let (stdout, stderr) = (Arc::new(Lines::default()), Arc::new(Lines::default()));
        if let Some(out) = child.child_mut().stdout.take() {
            collect(out, Arc::clone(&stdout));
        }
        if let Some(err) = child.child_mut().stderr.take() {
            collect(err, Arc::clone(&stderr));
        }
        let mut run = Run {
            child,
            stdout,
            stderr,
        };
        // "listening on 127.0.0.1:PORT for DOMAIN (N accounts, M hibernated sessions restored)"
        let listening = run.stdout.wait(READY, |lines| {
            lines
                .iter()
                .find_map(|l| l.strip_prefix("listening on "))
                .map(str::to_owned)
        });
        let Ok(line) = listening else {
            let status = run.child.try_wait()?;
            return Err(PeerError::Timeout {
                what: format!(
                    "the example server's `listening on` line (exit status {status:?})\n{}",
                    run.transcript(TAIL)
                ),
                after: READY,
            });
        };
        let parsed = line.split_once(' ').and_then(|(addr, rest)| {
            let addr: SocketAddr = addr.parse().ok()?;
            let restored = rest.split(", ").nth(1)?.split(' ').next()?.parse().ok()?;
            Some((addr, restored))
        });
        let Some((addr, restored)) = parsed else {
            return Err(PeerError::Io {
                what: "reading the example server's `listening on` line".into(),
                source: std::io::Error::other(line),
            });
        };
        // "components on 127.0.0.1:PORT", printed before the `listening on` line.
        if !self.opts.components.is_empty() {
            self.component_addr = run.stdout.lock().iter().find_map(|l| {
                l.strip_prefix("components on ")
                    .and_then(|a| a.parse::<SocketAddr>().ok())
            });
        }
        self.addr = addr;
        self.restored = restored;
        self.run = Some(run);
        Ok(())
    }

    /// Where clients connect.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where XEP-0114 components connect, when [`ServerOptions::components`] named any.
    #[must_use]
    pub fn component_addr(&self) -> Option<SocketAddr> {
        self.component_addr
    }

    /// How many hibernated sessions the current run restored from the state file (from its
    /// `listening on` line).
    #[must_use]
    pub fn restored(&self) -> usize {
        self.restored
    }

    /// The `--state` file.
    #[must_use]
    pub fn state_path(&self) -> &Path {
        &self.state
    }

    /// The process id of the current run.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.run.as_ref().map(|r| r.child.pid())
    }

    /// A graceful stop: SIGTERM by pid, then waits (at most `timeout`) for the process to
    /// exit, which it does after hibernating every stream and writing the state file
    /// (`state written to …`). Fails if it does not exit in time, exits unsuccessfully, or
    /// did not say it wrote the state.
    pub fn terminate(&mut self, timeout: Duration) -> Result<ExitStatus, PeerError> {
        let Some(mut run) = self.run.take() else {
            return Err(PeerError::io("stopping the example server")(
                std::io::Error::other("not running"),
            ));
        };
        let pid = run.child.pid().to_string();
        let signalled = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .map_err(PeerError::io("kill -TERM"))?;
        let status = run.child.wait_timeout(timeout)?;
        let written = run.stdout.wait(Duration::from_secs(2), |lines| {
            lines
                .iter()
                .any(|l| l.starts_with("state written to "))
                .then_some(())
        });
        if !signalled.success() || !status.success() || written.is_err() {
            return Err(PeerError::Failed {
                what: "the example server's graceful stop".into(),
                status,
                output: run.transcript(TAIL),
            });
        }
        Ok(status)
    }

    /// SIGKILL: the process dies at once and writes nothing.
    pub fn kill(&mut self) {
        if let Some(mut run) = self.run.take() {
            let _ = run.child.child_mut().kill();
            let _ = run.child.wait_timeout(Duration::from_secs(5));
        }
    }

    /// Starts the server again after [`terminate`](Self::terminate) or
    /// [`kill`](Self::kill), on the same port with the same accounts and state file.
    pub fn start_again(&mut self) -> Result<(), PeerError> {
        if self.run.is_some() {
            return Ok(());
        }
        self.launch()
    }

    /// Removes the state file (the next start begins with no sessions, offline messages or
    /// rosters).
    pub fn forget_state(&self) -> Result<(), PeerError> {
        match std::fs::remove_file(&self.state) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(PeerError::io(format!(
                "removing {}",
                self.state.display()
            ))(e)),
            _ => Ok(()),
        }
    }

    /// Every trace line (stderr) of the current run so far.
    #[must_use]
    pub fn trace(&self) -> Vec<String> {
        self.run
            .as_ref()
            .map(|r| r.stderr.lock().clone())
            .unwrap_or_default()
    }

    /// Waits (at most `timeout`) until some stderr line of the current run satisfies `pred`,
    /// and returns it.
    pub fn wait_for_trace(
        &self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> Result<String, PeerError> {
        let Some(run) = &self.run else {
            return Err(PeerError::Timeout {
                what: format!("{what} (the server is not running)"),
                after: Duration::ZERO,
            });
        };
        run.stderr
            .wait(timeout, |lines| lines.iter().find(|l| pred(l)).cloned())
            .map_err(|()| PeerError::Timeout {
                what: format!(
                    "{what} in the example server's trace\n{}",
                    run.transcript(TAIL)
                ),
                after: timeout,
            })
    }

    /// The server's stdout and the end of its trace, for failure messages.
    #[must_use]
    pub fn transcript(&self) -> String {
        self.run
            .as_ref()
            .map_or_else(|| "(not running)".to_owned(), |r| r.transcript(TAIL))
    }
}

impl Run {
    fn transcript(&self, lines: usize) -> String {
        let out = self.stdout.lock().join("\n");
        let err = self.stderr.lock();
        let start = err.len().saturating_sub(lines);
        format!(
            "--- example server stdout ---\n{out}\n--- stderr (last {lines} lines) ---\n{}",
            err[start..].join("\n")
        )
    }
}
