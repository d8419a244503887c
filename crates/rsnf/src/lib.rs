//! # xmpp-rsnf: XEP-0351 recipient-side PubSub notification filtering, sans-IO
//!
//! XEP-0351 moves the filtering of PubSub notifications from the sender's server to the
//! recipient's: a sender whose peer advertises `urn:xmpp:rsf:0` sends every notification to
//! the recipient's bare JID, and the recipient's server picks the resources that get it,
//! from the `+notify` and `+events-` features each resource advertises in its XEP-0115 caps.
//! This crate is that decision, and what feeds it:
//!
//! - [`Filter`]: the caps-feature grammar, `<node>+notify` and `<node>+events-<kinds>`, parsed
//!   from a resource's disco features and built from a client's preferences.
//! - [`Notification::classify`]: a `pubsub#event` message's node and [`EventKind`].
//! - [`ResourceTable`]: the resources a server fans out to (an account's), kept by the library
//!   in the dense form the decision reads as presence and caps change;
//!   [`ResourceTable::recipients`] is which of them get a notification (RFC 6121 eligibility,
//!   then the filter), decided once per distinct caps set and then a few nanoseconds per
//!   resource. [`Policy::recipients`] and [`FanOut`] make the same decision over the
//!   caller's own records.
//! - [`CapsCache`]: every entity's XEP-0115 caps resolved to a shared [`CapsInfo`], with only
//!   verified results shared, a per-JID fallback, bounded tables and the disco#info queries
//!   in flight.
//! - [`Sender`]: the sender's side, per stream RSF or legacy ([`Delivery`]), per notification
//!   where it goes ([`Plan`]).
//!
//! Nothing here opens a socket, reads a clock or spawns a task.
//!
//! ## The drain contract
//!
//! **After every `&mut` call on a [`CapsCache`], drain [`poll_transmit`](CapsCache::poll_transmit)
//! (write each disco#info query), then [`poll_event`](CapsCache::poll_event) (update the
//! resources' [`CapsState`]); then arm a timer for [`poll_timeout`](CapsCache::poll_timeout)
//! and call [`handle_timeout`](CapsCache::handle_timeout) when it fires.** The rest of the
//! crate is pure functions.
//!
//! ## Example: a PEP fan-out, both ends in memory
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use jid::Jid;
//! use minidom::Element;
//! use xmpp_parsers::disco::{DiscoInfoResult, Identity};
//! use xmpp_parsers::hashes::Algo;
//! use xmpp_parsers::iq::Iq;
//! use xmpp_rsnf::{CapsCache, CapsEvent, CapsState, EventSet, EventToken, Filter,
//!                 Handled, Notification, Policy, Resource, ResourceTable, caps_for};
//! use xmpp_tether_core::{Monotonic, Now};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! const GEOLOC: &str = "http://jabber.org/protocol/geoloc";
//! let now = Now::new(Monotonic::ZERO, SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
//!
//! // The client: new geoloc items and configuration changes, nothing else (XEP-0351 §3.3).
//! let wants = Filter::new()
//!     .with_notify(GEOLOC)
//!     .with_events(GEOLOC, EventSet::new().with(EventToken::Config));
//! let mut disco = DiscoInfoResult {
//!     node: None,
//!     identities: vec![Identity { category: "client".into(), type_: "phone".into(), lang: None, name: None }],
//!     features: wants.features().into_iter().collect(),
//!     extensions: vec![],
//! };
//! let caps = caps_for("https://example.org/app", &disco, Algo::Sha_1).ok_or("sha-1")?;
//!
//! // The server: the phone's presence carries `caps`; the cache asks it once.
//! let mut cache = CapsCache::default();
//! let phone: Jid = "juliet@example.com/phone".parse()?;
//! let mut phone_caps = cache.handle_caps(now, &phone, &caps);
//! assert_eq!(phone_caps, CapsState::Resolving);
//! let query = cache.poll_transmit().ok_or("a disco#info query")?;
//!
//! // The client answers the query...
//! disco.node = Some(query.node.clone());
//! let answer: Element = Iq::from_result(query.id.clone(), Some(disco)).with_from(phone.clone()).into();
//! // ...and the server feeds the answer back, then drains the events.
//! assert_eq!(cache.handle_iq(now, &answer), Handled::Ours);
//! while let Some(event) = cache.poll_event() {
//!     if let CapsEvent::Resolved { jids, info } = event {
//!         assert_eq!(jids, [phone.clone()]);
//!         phone_caps = CapsState::Known(info);
//!     }
//! }
//!
//! // A second resource with the same caps is resolved from the cache, without a query.
//! let tablet: Jid = "juliet@example.com/tablet".parse()?;
//! let tablet_caps = cache.handle_caps(now, &tablet, &caps);
//! assert!(matches!(tablet_caps, CapsState::Known(_)) && cache.poll_transmit().is_none());
//!
//! // A retraction arrives for juliet's bare JID: nobody asked for retractions.
//! let retract: Element = "<message xmlns='jabber:server' from='romeo@example.net' to='juliet@example.com'>\
//!     <event xmlns='http://jabber.org/protocol/pubsub#event'><items node='http://jabber.org/protocol/geoloc'>\
//!     <retract id='ae890ac52d0df67ed7cfdf51b644e901'/></items></event></message>".parse()?;
//! let notification = Notification::classify(&retract)?.ok_or("a notification")?;
//! let resources = [Resource::new(&phone, &phone_caps), Resource::new(&tablet, &tablet_caps)];
//! assert!(Policy::default().recipients(&notification, resources).is_empty());
//!
//! // A new item: both.
//! let publish = Notification::new(GEOLOC, xmpp_rsnf::EventKind::Publish);
//! let resources = [Resource::new(&phone, &phone_caps), Resource::new(&tablet, &tablet_caps)];
//! assert_eq!(Policy::default().recipients(&publish, resources), [&phone, &tablet]);
//!
//! // A server keeps its resources in a `ResourceTable`: the same decision, made cheaper.
//! let mut table = ResourceTable::new();
//! table.insert(Resource::new(phone.clone(), &phone_caps));
//! table.insert(Resource::new(tablet.clone(), &tablet_caps));
//! let to: Vec<&Jid> = table.recipients(&Policy::default(), &publish).collect();
//! assert_eq!(to, [&phone, &tablet]);
//! assert_eq!(table.recipients(&Policy::default(), &notification).count(), 0);
//! # Ok(()) }
//! ```
//!
//! ## Where it stands on XEP-0351
//!
//! - **Version**: XEP-0351 0.1 (2014-08-28), the seed; the current 0.2 (2017-09-11) only
//!   moved it to Deferred, with no change to the protocol. Namespace `urn:xmpp:rsf:0`
//!   ([`NS_RSF`]). It defines no XML of its own.
//! - **Grammar** (§3.3): see [`filter`] for every rule, including where the
//!   XEP is silent: node ids with `+` and `-` (split at the last `+events-`), several features
//!   for one node (merged), unsorted or duplicate kinds (normalised), unknown kinds (kept and
//!   visible to the policy), an empty list (new items only).
//! - **Recipient side** (§3.2, §3.3): [`Policy`], with every choice where the XEP is silent
//!   as a knob with a documented default: purges (like retractions), `+events-` without
//!   `+notify` (nothing), unknown or resolving caps (nothing), collections (like
//!   configuration), unknown kinds (to unfiltered resources), negative priorities (none,
//!   RFC 6121 §8.5.2.1.1), a mixed `<items/>` (delivered if either part is wanted), and
//!   what "the payload's NodeID" names: the node id by default, as XEP-0060 §9.2 and
//!   Prosody do, or also the payload namespace ([`PayloadMatch`]), so that Example 1's
//!   generic node reaches `geoloc+notify`. [`Policy::legacy`] is the XEP-0060 rule, which
//!   Prosody 0.12's mod_pep matches event for event (`tests/rsnf_prosody.rs`).
//! - **Sender side** (§3.1, §3.2): [`Sender`]. RSF is decided per stream from the peer's
//!   XEP-0115 stream-feature caps, never remembered per domain; unresolved or absent caps
//!   mean legacy (the sender MUST NOT assume support). In RSF mode node notification switches
//!   are ignored; access models apply in both modes (the caller's). Per-domain overrides
//!   force a peer that lies about `urn:xmpp:rsf:0` back to legacy.
//! - **Caps** (XEP-0115 1.6): `ver` recomputed with [`verification_string`] (§5.1) and
//!   xmpp-parsers' `hash_caps`. Not with xmpp-parsers' `compute_disco`: it sorts each item
//!   with its `<` appended, so a feature that prefixes another (`…/shim` and
//!   `…/shim#SubID`, which every slixmpp client advertises) is misordered and a correct ver
//!   does not verify; nor does it sort form fields by `var`. [`caps_for`] gives a client its
//!   caps the same way. Duplicate features,
//!   identities or form types make a result ill-formed. Legacy caps without `hash` (before 1.5)
//!   cannot be parsed by xmpp-parsers' `Caps` and count as no caps.
//! - **Out of scope**: access models and subscriptions (the caller's PubSub service), the
//!   `<headers/>` SHIM of collection subscriptions, and what to do with a malformed
//!   notification beyond not delivering it ([`ClassifyError::condition`] if you bounce it).
//!   XEP-0351's security considerations are "PENDING"; the tables here are bounded
//!   ([`CapsConfig`]) so a peer cannot grow them.
//!
//! ## Features
//! - `serde`: [`CapsSnapshot`] (the verified cache, from [`CapsCache::snapshot`]) serialises;
//!   [`CapsCache::restore`] checks it on the way back in, like peer data.
#![forbid(unsafe_code)]

pub mod caps;
mod error;
mod fanout;
pub mod filter;
#[cfg(feature = "__fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod info;
mod notification;
mod ns;
mod policy;
mod sender;
mod table;

pub use crate::caps::{
    CapsCache, CapsConfig, CapsEvent, CapsKey, CapsSnapshot, Handled, Query, SnapshotEntry,
    caps_for, verification_string,
};
pub use crate::error::{ClassifyError, QueryFailure, RestoreError, Unverifiable};
pub use crate::fanout::{FanOut, Resource};
pub use crate::filter::{EventSet, EventToken, Filter, NodeFilter};
pub use crate::info::{CapsInfo, CapsState};
pub use crate::notification::{EventKind, Notification};
pub use crate::policy::{
    CollectionRule, EventsFilter, EventsWithoutNotify, PayloadMatch, Policy, PriorityRule,
    PurgeRule, UnknownKindRule, UnresolvedCaps,
};
pub use crate::sender::{Delivery, NS_RSF, NodeSwitches, Plan, Sender, SenderConfig};
pub use crate::table::{Recipients, ResourceTable};
pub use xmpp_tether_core::{Monotonic, Now};
