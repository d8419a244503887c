//! # xmpp-tether
//!
//! One dependency for the tether family of sans-IO XMPP libraries, the XMPP extensions that
//! keep intermittently connected users reachable. Each protocol crate is re-exported as a
//! module behind a cargo feature of the same name; all are on by default.
//!
//! | module | crate | protocol |
//! |---|---|---|
//! | [`sm`] | `xmpp-sm` | XEP-0198 Stream Management |
//! | [`psa`] | `xmpp-psa` | XEP-0310 Presence State Annotations (planned) |
//! | [`rsnf`] | `xmpp-rsnf` | XEP-0351 recipient-side PubSub filtering (planned) |
//! | [`push0`] | `xmpp-push0` | XEP-0357 Push Notifications (planned) |
//! | [`push2`] | `xmpp-push2` | Push 2.0 (planned) |
//! | [`push2_crypto`] | `xmpp-push2-crypto` | RFC 8291/8188, RFC 8292, XEP-0420 |
//!
//! Nothing here opens a socket, reads a clock or spawns a task: the caller owns I/O, time and
//! randomness, feeds inputs with the current time, and drains outputs. See each crate's docs.
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
