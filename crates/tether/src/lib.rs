//! # xmpp-tether
//!
//! One dependency for the tether family of sans-IO XMPP libraries, the XMPP extensions that
//! keep intermittently connected users reachable. Each protocol crate is re-exported as a
//! module behind a cargo feature of the same name; all are on by default.
//!
//! | module | crate | protocol |
//! |---|---|---|
//! | [`sm`] | `xmpp-sm` | XEP-0198 Stream Management |
//! | [`psa`] | `xmpp-psa` | XEP-0310 Presence State Annotations |
//! | [`rsnf`] | `xmpp-rsnf` | XEP-0351 recipient-side PubSub filtering |
//! | [`push0`] | `xmpp-push0` | XEP-0357 Push Notifications |
//! | [`push2`] | `xmpp-push2` | Push 2.0 (`urn:xmpp:push2:0`) |
//! | [`push2_crypto`] | `xmpp-push2-crypto` | RFC 8291/8188, RFC 8292, XEP-0420 |
//! | [`framing`] | `xmpp-tether-core` | sans-IO XML stream framing (RFC 6120 §4) |
//!
//! The xmpp-rs crates every API here speaks in are re-exported ([`minidom`], [`jid`],
//! [`xmpp_parsers`]), with [`rand_core`] for the caller's RNG, so that an application pins one
//! version of each through this crate.
//!
//! Nothing here opens a socket, reads a clock or spawns a task: the caller owns I/O, time and
//! randomness, feeds inputs with the current time, and drains outputs. See each crate's docs.
//!
//! ## The shape every crate shares
//!
//! - **Methods by kind**: getters; `handle_*(now, ...)` inputs (network, timers, wake-ups);
//!   commands (plain verbs); and outputs: `poll_transmit` (every element to write, replies
//!   included, tagged with where it goes), `poll_event` (events that own their data),
//!   `poll_timeout` (the next deadline). **After every `&mut` call, drain `poll_transmit`, then
//!   `poll_event`, then re-arm the timer from `poll_timeout`.**
//! - **Errors** come in three tiers, in each crate's `error` module: peer faults (each naming
//!   the protocol answer, which the machine has already queued), caller misuse, and `Refused`,
//!   which hands back a value a command could not keep. Nothing is dropped silently: a stanza
//!   a machine holds is acknowledged, handed back in an event, or returned in an error.
//! - **Persistence** (`serde` feature): state a server keeps across restarts or moves between
//!   nodes serialises, and reading it back is validated like peer input.
//!
//! ## Time: one convention, [`Now`]
//!
//! Every call that needs the time takes a [`Now`]: one reading of the caller's two clocks.
//! - Live timers (ack requests, retries, back-offs, debounces) use the **monotonic** reading
//!   ([`Now::monotonic`], a [`Monotonic`] point since an epoch the caller picks), so that a
//!   wall-clock step (NTP, a user changing the date) never fires or stalls them; every
//!   `poll_timeout` returns a [`Monotonic`] deadline.
//! - What is persisted or leaves the process (hibernation deadlines, first-sent times for
//!   XEP-0203 delay stamps, JWT `exp`, a registration's "failing since") uses the **wall
//!   clock** ([`Now::wall`], a `SystemTime`), so it survives a restart and means the same on
//!   another node. Read back, a wall deadline is mapped onto the monotonic clock once
//!   ([`Now::monotonic_for`]).
//!
//! ```
//! use std::time::{Instant, SystemTime};
//! use xmpp_tether::{Monotonic, Now};
//!
//! # #[expect(clippy::disallowed_methods, reason = "the caller owns the clocks")]
//! # fn main() {
//! let epoch = Instant::now(); // once, at start-up
//! // ... then once per turn of the event loop:
//! let now = Now::new(Monotonic::from_instant(epoch, Instant::now()), SystemTime::now());
//! # let _ = now;
//! # }
//! ```
//!
//! ```
//! # #[cfg(feature = "sm")] {
//! use xmpp_tether::sm::{Client, ClientConfig};
//! let client = Client::new(ClientConfig::default());
//! assert!(!client.is_enabled());
//! # }
//! ```
#![forbid(unsafe_code)]

// The xmpp-rs ecosystem and the RNG traits, re-exported so a user pins one version of each.
pub use jid;
pub use minidom;
pub use rand_core;
pub use xmpp_parsers;
pub use xmpp_tether_core::{Monotonic, Now, framing, time};

#[cfg(feature = "psa")]
pub use xmpp_psa as psa;
#[cfg(feature = "push0")]
pub use xmpp_push0 as push0;
#[cfg(feature = "push2")]
pub use xmpp_push2 as push2;
#[cfg(feature = "push2-crypto")]
pub use xmpp_push2_crypto as push2_crypto;
#[cfg(feature = "rsnf")]
pub use xmpp_rsnf as rsnf;
#[cfg(feature = "sm")]
pub use xmpp_sm as sm;
