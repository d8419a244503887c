//! # xmpp-psa: XEP-0310 Presence State Annotations, sans-IO
//!
//! A client shows its contacts' presence as it last received it. When the link that would
//! bring the next update is gone (the s2s link to the contact's server, the contact's own
//! hibernated XEP-0198 stream, a room's link to an occupant's server), that display is
//! silently wrong. XEP-0310 lets the server re-send the presence annotated "may be stale", and
//! again with an empty annotation when it is current again. This crate is both ends:
//!
//! - [`Tracker`], for servers: it learns, from the presences the server delivers, what each
//!   watcher holds from whom; from the server's s2s, c2s and room events, who goes stale; and
//!   it hands back the annotated presences to send. One table for the whole server, indexed
//!   by remote domain and by local session so a change costs what it touches.
//! - [`View`], for clients: contacts' presence per resource, each marked
//!   [`Fresh`](Freshness::Fresh) or [`Stale`](Freshness::Stale) from the annotations received.
//! - [`elements`]: the typed `<state-annotation/>`, read from and written to an xmpp-parsers
//!   `Presence`, and the `urn:xmpp:psa` caps feature.
//!
//! Nothing here opens a socket, reads a clock or spawns a task: the caller passes every input
//! in with the time ([`Now`]) and sends what comes back.
//!
//! ## The drain contract
//!
//! **After every `&mut` call on a [`Tracker`], drain [`poll_transmit`](Tracker::poll_transmit)
//! (send each presence, in order, to its [`to`](Transmit::to)), then
//! [`poll_event`](Tracker::poll_event); then arm a timer for
//! [`poll_timeout`](Tracker::poll_timeout) and call [`handle_timeout`](Tracker::handle_timeout)
//! when it fires.**
//!
//! [`Tracker::handle_presence`] is the one call that changes a stanza in place: the presence
//! the server was about to deliver anyway, with foreign annotations stripped and, for a stale
//! sender, ours added. Nothing is dropped silently: every eviction, stripped annotation,
//! forgotten presence and refusal at a limit is an [`Event`].
//!
//! ## Example: a server and a client in memory
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use xmpp_parsers::presence::Presence;
//! use xmpp_psa::{Change, Event, LinkLoss, Monotonic, Now, StreamId, Tracker, TrackerConfig,
//!                View, ViewConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let montague = jid::DomainPart::new("montague.lit")?.into_owned();
//! let capulet = jid::DomainPart::new("capulet.lit")?.into_owned();
//! let mut now = Now::new(Monotonic::ZERO, SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
//! let mut server = Tracker::new(TrackerConfig::new(montague.clone()));
//! let mut romeo = View::new(ViewConfig::new(montague)); // Romeo's client
//! let lane: jid::Jid = "romeo@montague.lit/lane".parse()?;
//!
//! // Romeo's caps say he wants annotations; the s2s link to capulet.lit is up.
//! server.handle_interest(now, &lane, true);
//! server.handle_link_established(now, &capulet, StreamId(1))?;
//!
//! // Every presence the server delivers goes through the tracker on its way.
//! let mut juliet = Presence::available()
//!     .with_from("juliet@capulet.lit/orchard".parse::<jid::Jid>()?)
//!     .with_to(lane.clone());
//! juliet.set_status("", "Available");
//! let _ = server.handle_presence(now, &mut juliet);
//! assert_eq!(romeo.handle_presence(&juliet).change, Change::Fresh);
//!
//! // The link drops for real: after the grace, Juliet's presence goes out annotated.
//! server.handle_link_closed(now, &capulet, StreamId(1), LinkLoss::Network)?;
//! let deadline = server.poll_timeout().ok_or("a grace timer")?;
//! now = now.advance(deadline - now.monotonic());
//! server.handle_timeout(now);
//! while let Some(transmit) = server.poll_transmit() {
//!     assert_eq!(transmit.to(), &lane);
//!     let _ = romeo.handle_presence(transmit.presence()); // the server writes it to Romeo
//! }
//! assert!(matches!(server.poll_event(), Some(Event::LinkLost { .. })));
//! assert!(matches!(server.poll_event(), Some(Event::LinkDown { annotated: 1, .. })));
//! assert!(romeo.is_stale(&"juliet@capulet.lit/orchard".parse()?));
//!
//! // The link comes back: the empty annotation, then a probe to refresh.
//! server.handle_link_established(now, &capulet, StreamId(2))?;
//! while let Some(transmit) = server.poll_transmit() {
//!     if transmit.to() == &lane {
//!         let _ = romeo.handle_presence(transmit.presence());
//!     }
//! }
//! assert!(!romeo.is_stale(&"juliet@capulet.lit/orchard".parse()?));
//! # Ok(()) }
//! ```
//!
//! ## What the server feeds in, from the events it already has
//!
//! | tracker input | Prosody 0.12 | ejabberd | xmpp-sm (redesign) |
//! |---|---|---|---|
//! | [`handle_presence`](Tracker::handle_presence) | the `stanzas/out` filter of each c2s and s2s session (`util.filters`, as mod_csi uses) | `user_receive_packet`, `s2s_send_packet` | — |
//! | [`handle_caps`](Tracker::handle_caps) | the disco#info behind a caps hash (mod_pep resolves it) | `caps_add`, `caps_update` (mod_caps) | — |
//! | [`handle_link_established`](Tracker::handle_link_established) | `s2sout-established`, `s2sin-established` | `s2s_out_auth_result` with `true`, `s2s_in_auth_result` with `true` | — |
//! | [`handle_link_closed`](Tracker::handle_link_closed) | `s2sout-destroyed`, `s2sin-destroyed` (`event.reason`) | `s2s_out_closed`, `s2s_in_closed` (`Reason`) | — |
//! | [`handle_link_failed`](Tracker::handle_link_failed) | `s2s-destroyed` for a session still `s2sout_unauthed` | `s2s_out_auth_result` with `{false, _}`, `s2s_out_closed` before it | — |
//! | [`handle_session_paused`](Tracker::handle_session_paused) | `smacks-hibernation-start` | `c2s_session_pending` | stream hibernated |
//! | [`handle_session_resumed`](Tracker::handle_session_resumed) | `smacks-hibernation-end` | `c2s_session_resumed` | stream resumed |
//! | [`handle_session_ended`](Tracker::handle_session_ended) | `resource-unbind` (after a hibernation: "Hibernating too long") | `sm_remove_connection_hook` | hibernation expired |
//! | [`handle_occupant_joined`](Tracker::handle_occupant_joined), [`handle_occupant_left`](Tracker::handle_occupant_left) | `muc-occupant-joined`, `muc-occupant-left` | where mod_muc_room adds and removes an online occupant | — |
//!
//! The session inputs are keyed by the local full JID, one-to-one with xmpp-sm's events, each
//! of which carries it: a stream hibernated → paused, resumed → resumed, expired → ended (a
//! session that closes without hibernating is ended too). That is the whole wiring with
//! xmpp-sm (`tests/with_sm.rs` runs it against a real `SessionStore`; the example server's
//! `examples/server/psa.rs` uses it):
//!
//! ```
//! use xmpp_psa::{Misuse, Now, Tracker};
//! use xmpp_sm::{ServerEvent, StoreEvent};
//!
//! /// Each stream's event, after the server's own handling of it.
//! fn sm_event(tracker: &mut Tracker, now: Now, event: &ServerEvent) -> Result<(), Misuse> {
//!     match event {
//!         ServerEvent::Hibernated { jid: Some(jid), .. } => tracker.handle_session_paused(now, jid),
//!         ServerEvent::Resumed { jid: Some(jid), .. } => tracker.handle_session_resumed(now, jid),
//!         _ => Ok(()),
//!     }
//! }
//!
//! /// The store's events: an expired (or evicted) hibernation ends the session, before the
//! /// server broadcasts its unavailable presence, which so goes out plain.
//! fn store_event(tracker: &mut Tracker, now: Now, event: &StoreEvent) -> Result<(), Misuse> {
//!     match event {
//!         StoreEvent::HandedBack { jid: Some(jid), .. } => tracker.handle_session_ended(now, jid),
//!         _ => Ok(()),
//!     }
//! }
//! ```
//!
//! A BOSH pause and the request that ends it map onto paused and resumed (Prosody 0.12's
//! mod_bosh implements no pause). Loss
//! reasons ([`LinkLoss`]): Prosody's `event.reason` is `nil` or `false` for a clean close by
//! us or the peer (`Closed`, or `Idle` when an idle timer closed it), a stream error
//! condition's name (`StreamError`), or other text, a socket error (`Network`). ejabberd's
//! `{socket, _}` is `Network`, `{stream, {_, #stream_error{}}}` is `StreamError` (ejabberd
//! closes idle s2s streams with `connection-timeout`, which is not an outage), and `{dns, _}`,
//! `{tls, _}`, `{pkix, _}` or `{auth, _}` are `ConnectFailed`. A read timeout that ends a
//! stream, or an unanswered XEP-0199 ping, is `Timeout`.
//!
//! ## Where the crate stands on XEP-0310
//!
//! XEP-0310 has one version, 0.1 (2012, Deferred), the seed in this repository; no server
//! implements it. The namespace it names for discovery, `urn:xmpp:psa`, is the one its
//! examples use for the element (§10 says it "needs a namespace"); both are that string. Every
//! example parses to the exact typed value, and what we write matches the examples (attribute
//! order aside; `<priority>0</priority>` left out, [`presence_element`]).
//!
//! Where the XEP is silent, this crate chooses:
//! - **When a link is unavailable** (§4.1's "TODO: guidelines"): per remote domain, across all
//!   its streams in both directions and for all our hosts; down when the last stream was lost
//!   for a reason that may be an outage ([`LinkLoss::is_outage`]: not idle, not a clean close,
//!   not replaced) or a connection attempt failed with none open, and none came back within
//!   [`TrackerConfig::grace`] (30 s). [`Event::LinkLost`] asks the server to try reconnecting
//!   meanwhile, which ends a false alarm. Any established stream ends an outage.
//! - **Annotators**: the watcher's server for a remote server's outage (§4.1: "montague.lit"),
//!   the session's server for a pause (§4.2), the room's service for its occupants (§4.3).
//! - **What is re-sent** is the presence the watcher last received, without its `id`, with
//!   `to` set and our annotation replacing any other; no XEP-0203 delay is added (the examples
//!   have none). Descriptions are English, as in the examples ("The capulet.lit server is no
//!   longer available", "benvolio's session has been paused", "The user's server is no longer
//!   reachable"); [`TrackerConfig::describe`] turns them off, `description_lang` sets
//!   `xml:lang`.
//! - **Which presences count**: available ones, per (watcher, sender) full JIDs, directed or
//!   broadcast alike; unavailable *and error* end one (§4.1: "not error or unavailable");
//!   subscription presences and probes are left alone (§4.1, §4.2). An unavailable presence
//!   also ends its sender's role as a watcher (RFC 6121 §4.5). A bare-JID unavailable ends all
//!   that JID's resources.
//! - **Who gets annotations**: local resources whose caps list `urn:xmpp:psa` (§3 "servers
//!   autoenable"); until their caps are known their presences are tracked but not annotated,
//!   and learning them catches up at once. Remote watchers per [`RemoteWatchers`] (by
//!   advertisement, by default). Nothing is queued for a watcher that is hibernating, behind
//!   a down link, or gone; one that comes back is caught up with exactly the annotations its
//!   view lacks.
//! - **Ordering**: a paused session that ends gets the plain unavailable only, never an empty
//!   annotation first (§4.2); a watcher that received unavailable gets nothing; while an
//!   entity is stale, a presence relayed for it (a probe answered from the last presence, a
//!   room's broadcast) carries the annotation; an ejected occupant gets nothing (§4.3).
//! - **Trust** (§6): an annotation from another server is kept only when its annotator is the
//!   sender's own domain (a remote room service about its occupant, a remote server about its
//!   paused user); all others, and any from a local client, are stripped. The [`View`] trusts
//!   its own server, the sender's domain, and (lenient) an annotation without `from`.
//! - **Probes** (§4.1 "MAY", §5): after the empty annotations when a down domain comes back
//!   ([`TrackerConfig::probe_on_restore`]): one per local account and contact bare JID, one
//!   per room and occupant real JID.
//! - **Rooms**: the room reports each occupant's real JID; its presence is stale when that
//!   JID is: its server down, or (the XEP's "either of the cases above") its local session
//!   paused, annotated `<connection-paused/>` by the room.
//! - **Reading** is lenient: any child order, no `from`, both conditions (server-unavailable
//!   wins), an unknown condition ([`Condition::Unknown`], still stale), the first of several
//!   descriptions. **Writing** is strict: `from`, one condition, one description.
//! - **Out of scope**: the business rules for clients (§5: rejoining a room, messaging
//!   oneself), resolving caps (the caller's: [`Tracker::handle_caps`] takes the result), the
//!   s2s and c2s machinery itself, and links between hosts of the same server (never down).
//!
//! ## Memory and cost
//!
//! Every table is bounded ([`TrackerConfig`]): presences per account and in all, with the
//! least recently updated presence of the account holding the most evicted at the limit
//! ([`Event::Evicted`]); JIDs and remote domains, refused at the limit ([`Event::Refused`],
//! [`Untracked::Limit`]). A presence is stored once per distinct content and shared by the
//! watchers that hold it. A link change touches only the parties on that domain; a session
//! change, its watchers and rooms; each relayed presence, one entry.
//!
//! ## Features
//!
//! - `serde`: [`Snapshot`] of the whole tracker (wall-clock times only; stored presences as
//!   XML, each once) and [`Tracker::restore`], which validates it like peer data. A store must
//!   be as trusted as the server's memory, or authenticate its records.
#![forbid(unsafe_code)]

mod config;
pub mod elements;
mod error;
mod event;
#[cfg(feature = "__fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
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
