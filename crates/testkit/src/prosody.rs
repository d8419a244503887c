//! Debian's Prosody on 127.0.0.1 with its own generated config, data and log in a temporary
//! run directory (settings measured in shared/PEERS.md). Installed by
//! `./scripts/setup-peers.sh`; a missing `prosody` is an error, never a skip.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{ChildGuard, PeerError, RunDir, free_port, tail, wait_for_port, which};

/// The virtual host the test server serves.
pub const DOMAIN: &str = "localhost";

const INSTALL_HINT: &str = "run ./scripts/setup-peers.sh (installs Debian's prosody)";

/// Options for [`Prosody::start`].
#[derive(Debug, Clone)]
pub struct ProsodyOptions {
    /// Accounts to register on [`DOMAIN`]: (user, password).
    pub accounts: Vec<(String, String)>,
    /// `smacks_hibernation_time` in seconds: how long a cut session waits for resumption.
    pub hibernation_secs: u32,
    /// Extra lines appended to the global section of the config.
    pub extra_config: String,
}

impl Default for ProsodyOptions {
    fn default() -> Self {
        Self {
            accounts: Vec::new(),
            hibernation_secs: 60,
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
        let port = free_port()?;
        let dir = run.path();
        for sub in ["data", "certs"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(PeerError::io(format!(
                "creating {sub} in {}",
                dir.display()
            )))?;
        }
        let config = dir.join("prosody.cfg.lua");
        let log = dir.join("debug.log");
        std::fs::write(&config, config_text(dir, port, opts))
            .map_err(PeerError::io("writing the prosody config"))?;

        for (user, password) in &opts.accounts {
            let out = Command::new(&prosodyctl)
                .arg("--config")
                .arg(&config)
                .args(["register", user, DOMAIN, password])
                .stdin(Stdio::null())
                .output()
                .map_err(PeerError::io("running prosodyctl register"))?;
            if !out.status.success() {
                return Err(PeerError::Failed {
                    what: format!("prosodyctl register {user}"),
                    status: out.status,
                    output: format!(
                        "{}{}",
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    ),
                });
            }
        }

        let mut cmd = Command::new(prosody);
        cmd.arg("--config")
            .arg(&config)
            .arg("-F")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = ChildGuard::spawn("prosody", &mut cmd)?;
        let c2s = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        wait_for_port(c2s, Duration::from_secs(15), || match child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(PeerError::Failed {
                what: "prosody".into(),
                status,
                output: tail(&log, 30),
            }),
        })?;
        Ok(Self {
            child,
            c2s,
            log,
            config,
            run,
        })
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
    pub fn log_path(&self) -> &std::path::Path {
        &self.log
    }

    /// The generated config file.
    #[must_use]
    pub fn config_path(&self) -> &std::path::Path {
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

/// The Lua config. Options cannot be read back once set, so everything is written literally.
fn config_text(dir: &std::path::Path, port: u16, opts: &ProsodyOptions) -> String {
    let d = dir.display();
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

modules_enabled = {{ "roster", "saslauth", "disco", "ping", "smacks" }}
modules_disabled = {{ "s2s", "tls" }}
smacks_hibernation_time = {hib}

{extra}

VirtualHost "{DOMAIN}"
"#,
        hib = opts.hibernation_secs,
        extra = opts.extra_config,
    )
}
