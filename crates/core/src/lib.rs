//! # xmpp-tether-core: what every tether crate shares
//!
//! - [`time`]: the one time convention of the workspace. Every call that needs the time takes
//!   a [`Now`], a reading of the caller's two clocks: a [`Monotonic`] one for live timers
//!   (acks, retries, debounces: a wall-clock step never stalls or fires them) and the wall
//!   clock for anything that outlives the process or leaves it (hibernation deadlines that
//!   are persisted, first-sent times for XEP-0203 delay stamps, JWT `exp`). Deadlines come
//!   back from `poll_timeout` as [`Monotonic`] points.
//! - [`framing`]: sans-IO XML stream framing (RFC 6120 §4). A [`framing::StreamParser`] is
//!   fed the bytes the transport delivered and yields the stream header, each top-level
//!   element as a [`minidom::Element`] and the stream end; a [`framing::StreamWriter`] writes
//!   them back. Bounded by [`framing::Limits`] (nesting depth, element and header size), with
//!   every peer fault a [`FramingError`] that names the stream error to answer with.
//!   [`framing::parse_element`] reads one persisted element within the same bounds, for the
//!   crates that read stored stanzas back.
//!
//! Nothing here reads a clock or a socket: the caller does, once per turn of its event loop.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use xmpp_tether_core::{Monotonic, Now};
//!
//! // In a real program: `Now::new(Monotonic::from_epoch(epoch.elapsed()), SystemTime::now())`
//! // with `epoch` an `Instant` taken once at start-up. Tests use a fixed start instead.
//! let start = Now::new(Monotonic::ZERO, SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
//! let later = start.advance(Duration::from_secs(5));
//! assert_eq!(later.monotonic() - start.monotonic(), Duration::from_secs(5));
//! ```
#![forbid(unsafe_code)]

mod error;
pub mod framing;
pub mod time;

#[cfg(feature = "__fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

pub use crate::error::{FramingError, WriteError};
pub use crate::time::{Monotonic, Now};
