//! # xmpp-psa: XEP-0310 Presence State Annotations, sans-IO
//!
//! (docs in progress)
#![forbid(unsafe_code)]

mod config;
pub mod elements;
mod error;
mod event;
mod link;
mod tracker;
mod transmit;
mod view;

pub use xmpp_tether_core::{Monotonic, Now};

pub use crate::config::{RemoteWatchers, TrackerConfig, ViewConfig};
pub use crate::elements::{Condition, Description, StateAnnotation};
pub use crate::error::{Misuse, ParseError, RestoreError};
pub use crate::event::{Event, Relay, Table, Untracked};
pub use crate::link::{LinkLoss, LinkStatus, StreamId};
pub use crate::tracker::Tracker;
#[cfg(feature = "serde")]
pub use crate::tracker::{MAX_STORED_DEPTH, MAX_STORED_PRESENCE, Snapshot};
pub use crate::transmit::{Transmit, TransmitKind, presence_element};
pub use crate::view::{Change, Freshness, Resource, Staleness, View, ViewUpdate};
