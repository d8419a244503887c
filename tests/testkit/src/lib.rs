//! Test support for tether (dev-only, unpublished): blocking XMPP plumbing over TCP on
//! 127.0.0.1 and launchers for real peers.
//!
//! - [`xml`]: a blocking stream reader (header, then one `minidom::Element` per top-level
//!   child) and writer.
//! - [`client`]: a plain-TCP client connection with SASL PLAIN (RFC 6120, with stream restart
//!   and resource binding) or SASL2 (XEP-0388, with Bind2), and [`client::SmDriver`] to run
//!   an `xmpp_sm::Client` over it, inline SM requests included.
//! - [`prosody`] and [`slixmpp`]: start Debian's Prosody and slixmpp scripts, killed by pid on
//!   drop.
//!
//! Everything here is bounded in time: every read has a timeout, every child process is
//! killed when its guard drops. Nothing here is meant for production use.
#![forbid(unsafe_code)]

pub mod client;
pub mod component;
pub mod example_server;
pub mod process;
pub mod prosody;
pub mod slixmpp;
pub mod stanza;
pub mod xml;
pub mod xmppjs;

use std::path::PathBuf;

/// The workspace root (the directory holding the top-level `Cargo.toml`), derived from this
/// crate's manifest directory at compile time.
#[must_use]
pub fn workspace_root() -> PathBuf {
    // tests/testkit -> tests -> root
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(|p| p.parent())
        .map_or_else(|| manifest.clone(), PathBuf::from)
}

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use xmpp_sm::{Monotonic, Now};

/// The current time for the `now` argument of the sans-IO machines: the monotonic clock,
/// measured from an epoch taken once per process (at the first call), and the wall clock.
#[must_use]
#[expect(
    clippy::disallowed_methods,
    reason = "test support owns the real clocks and passes them to the sans-IO machines"
)]
pub fn now() -> Now {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let instant = Instant::now();
    let epoch = *EPOCH.get_or_init(|| instant);
    Now::new(Monotonic::from_instant(epoch, instant), SystemTime::now())
}

/// The wall clock, for the `now` argument of the xmpp-sm state machines.
#[must_use]
#[expect(
    clippy::disallowed_methods,
    reason = "test support owns the real clock and passes it to the sans-IO machines"
)]
pub fn system_now() -> SystemTime {
    SystemTime::now()
}

/// A point `timeout` from now on the monotonic clock, for bounding waits.
#[must_use]
#[expect(
    clippy::disallowed_methods,
    reason = "test support bounds its blocking waits with the real monotonic clock"
)]
pub fn deadline_in(timeout: Duration) -> Instant {
    Instant::now() + timeout
}

/// Time left until `deadline`, or `None` once it has passed.
#[must_use]
#[expect(
    clippy::disallowed_methods,
    reason = "test support bounds its blocking waits with the real monotonic clock"
)]
pub fn remaining(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
}
