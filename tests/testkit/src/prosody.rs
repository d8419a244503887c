//! Debian's Prosody on 127.0.0.1 with its own generated config, data and log in a temporary
//! run directory (settings measured in shared/PEERS.md). Installed by
//! `./scripts/setup-peers.sh`; a missing `prosody` is an error, never a skip.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use crate::process::{ChildGuard, PeerError, RunDir, free_port, tail, wait_for_port, which};
use crate::{deadline_in, remaining};

/// The virtual host the test server serves.
pub const DOMAIN: &str = "localhost";

const INSTALL_HINT: &str = "run ./scripts/setup-peers.sh (installs Debian's prosody)";
/// How many ports to try.
const ATTEMPTS: usize = 3;
/// How long Prosody gets to start listening (it takes about 0.3 s).
const READY: Duration = Duration::from_secs(10);

/// Options for [`Prosody::start`].
#[derive(Debug, Clone)]
pub struct ProsodyOptions {
    /// Accounts to register on [`DOMAIN`]: (user, password).
    pub accounts: Vec<(String, String)>,
    /// `smacks_hibernation_time` in seconds: how long a cut session waits for resumption.
    pub hibernation_secs: u32,
    /// Load SASL2 (XEP-0388), Bind2 (XEP-0386) and their stream management integration:
    /// prosody-modules' mod_sasl2, mod_sasl2_bind2 and mod_sasl2_sm. On Prosody 0.12 the last
    /// advertises inline stream management but never answers it (shared/PEERS.md).
    pub sasl2: bool,
    /// Extra lines appended to the global section of the config.
    pub extra_config: String,
}

impl Default for ProsodyOptions {
    fn default() -> Self {
        Self {
            accounts: Vec::new(),
            hibernation_secs: 60,
            sasl2: false,
            extra_config: String::new(),
        }
    }
}

impl ProsodyOptions {
    /// Adds an account.
    #[must_use]
    pub fn account(mut self, user: &str, password: &str) -> Self {
        self.accounts.push((user.to_owned(), password.to_owned()));
        self
    }

    /// Turns [`sasl2`](Self::sasl2) on: SASL2, Bind2 and inline stream management offered.
    #[must_use]
    pub fn with_sasl2(mut self) -> Self {
        self.sasl2 = true;
        self
    }
}

/// A running Prosody, stopped (SIGTERM, then SIGKILL) when dropped.
#[derive(Debug)]
pub struct Prosody {
    // Field order matters: the process stops before its run directory is removed.
    child: ChildGuard,
    c2s: SocketAddr,
    log: PathBuf,
    config: PathBuf,
    run: RunDir,
}

impl Prosody {
    /// Writes a config, registers the accounts, starts `prosody -F` and waits until the c2s
    /// port accepts connections.
    pub fn start(opts: &ProsodyOptions) -> Result<Self, PeerError> {
        let prosody = which("prosody").ok_or_else(|| PeerError::Missing {
            program: "prosody".into(),
            hint: INSTALL_HINT.into(),
        })?;
        let prosodyctl = which("prosodyctl").ok_or_else(|| PeerError::Missing {
            program: "prosodyctl".into(),
            hint: INSTALL_HINT.into(),
        })?;
        let run = RunDir::new("prosody")?;
        let dir = run.path();
        for sub in ["data", "certs"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(PeerError::io(format!(
                "creating {sub} in {}",
                dir.display()
            )))?;
        }
        let config = dir.join("prosody.cfg.lua");
        let log = dir.join("debug.log");
        // The port only matters once Prosody runs; accounts live in the data dir.
        write_config(&config, dir, 0, opts)?;
        for (user, password) in &opts.accounts {
            register(&prosodyctl, &config, user, password)?;
        }

        // A port found free a moment ago can be taken by the time Prosody binds it (by an
        // outgoing connection of a parallel test, say); Prosody then logs the failure and
        // runs on without listening. Try a few ports.
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let port = free_port()?;
            write_config(&config, dir, port, opts)?;
            let _ = std::fs::remove_file(&log);
            let mut cmd = Command::new(&prosody);
            cmd.arg("--config")
                .arg(&config)
                .arg("-F")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let mut child = ChildGuard::spawn("prosody", &mut cmd)?;
            match wait_listening(&mut child, &log, port) {
                Ok(()) => {
                    return Ok(Self {
                        child,
                        c2s: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                        log,
                        config,
                        run,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| PeerError::Timeout {
            what: "prosody to listen".into(),
            after: READY,
        }))
    }

    /// The client-to-server address (plain TCP, SASL PLAIN allowed).
    #[must_use]
    pub fn c2s_addr(&self) -> SocketAddr {
        self.c2s
    }

    /// The process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// The debug log, which shows every stanza and nonza Prosody saw or sent.
    #[must_use]
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The generated config file.
    #[must_use]
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// The last `lines` lines of the debug log, for failure messages.
    #[must_use]
    pub fn log_tail(&self, lines: usize) -> String {
        format!(
            "--- {} (run dir {}) ---\n{}",
            self.log.display(),
            self.run.path().display(),
            tail(&self.log, lines)
        )
    }
}

/// Waits until Prosody's log says the c2s port is open and the port accepts connections.
fn wait_listening(child: &mut ChildGuard, log: &Path, port: u16) -> Result<(), PeerError> {
    let opened = format!("Activated service 'c2s' on [127.0.0.1]:{port}");
    let refused = format!("Failed to open server port {port}");
    let deadline = deadline_in(READY);
    loop {
        if let Some(status) = child.try_wait()? {
            return Err(PeerError::Failed {
                what: "prosody".into(),
                status,
                output: tail(log, 30),
            });
        }
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(&refused) {
            return Err(PeerError::Io {
                what: format!("prosody listening on 127.0.0.1:{port}"),
                source: std::io::ErrorKind::AddrInUse.into(),
            });
        }
        if text.contains(&opened) {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            return wait_for_port(addr, READY, || Ok(()));
        }
        if remaining(deadline).is_none() {
            return Err(PeerError::Timeout {
                what: format!("prosody to open 127.0.0.1:{port}\n{}", tail(log, 30)),
                after: READY,
            });
        }
        thread::sleep(Duration::from_millis(30));
    }
}

fn write_config(
    config: &Path,
    dir: &Path,
    port: u16,
    opts: &ProsodyOptions,
) -> Result<(), PeerError> {
    std::fs::write(config, config_text(dir, port, opts))
        .map_err(PeerError::io("writing the prosody config"))
}

fn register(prosodyctl: &Path, config: &Path, user: &str, password: &str) -> Result<(), PeerError> {
    let out = Command::new(prosodyctl)
        .arg("--config")
        .arg(config)
        .args(["register", user, DOMAIN, password])
        .stdin(Stdio::null())
        .output()
        .map_err(PeerError::io("running prosodyctl register"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(PeerError::Failed {
        what: format!("prosodyctl register {user}"),
        status: out.status,
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    })
}

/// The Lua config. Options cannot be read back once set, so everything is written literally.
fn config_text(dir: &Path, port: u16, opts: &ProsodyOptions) -> String {
    let d = dir.display();
    let mut modules = vec!["roster", "saslauth", "disco", "ping", "smacks"];
    if opts.sasl2 {
        modules.extend(["sasl2", "sasl2_bind2", "sasl2_sm"]);
    }
    let modules = modules
        .iter()
        .map(|m| format!("\"{m}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"-- Generated by xmpp-tether-testkit for one test run.
run_as_root = true
daemonize = false
pidfile = "{d}/prosody.pid"
data_path = "{d}/data"
log = {{ debug = "{d}/debug.log" }}
certificates = "{d}/certs"

interfaces = {{ "127.0.0.1" }}
c2s_interfaces = {{ "127.0.0.1" }}
component_interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {port} }}
c2s_direct_tls_ports = {{ }}
s2s_ports = {{ }}
component_ports = {{ }}

c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
storage = "internal"

modules_enabled = {{ {modules} }}
modules_disabled = {{ "s2s", "tls" }}
smacks_hibernation_time = {hib}

{extra}

VirtualHost "{DOMAIN}"
"#,
        hib = opts.hibernation_secs,
        extra = opts.extra_config,
    )
}
