//! # xmpp-push2: Push 2.0 (`urn:xmpp:push2:0`), sans-IO
//!
//! Push 2.0 lets a client that sleeps stay reachable: it registers a push service with its
//! XMPP server, naming which stanzas deserve a push (*match profiles*) and how the
//! notification is made (*send profiles*, among them the stanza itself, encrypted for the
//! device with RFC 8291 and authorised with an RFC 8292 token). This crate implements the
//! three roles:
//!
//! - the **user's server**: [`Registry`], every account's registrations (the enable and
//!   disable iqs, the Bind2 inline enable, bounds, persistence), the match decision for each
//!   stanza routed to an account ([`Registry::handle_routed`] with a [`Routed`] context), the
//!   notifications (minimised, padded, encrypted, signed) and their outcomes (`wait` retries
//!   with back-off, the 72-hour failure clock);
//! - the **push service**: [`PushService`], which turns each `<notification/>` into an
//!   `http::Request<Vec<u8>>` for a Web Push endpoint and each HTTP answer back into the
//!   XMPP error the user's server acts on ([`service`]);
//! - the **client**: the [`Enable`] and [`Disable`] builders, its keys and the notification
//!   opened back into the original message ([`client`]).
//!
//! The cryptography is `xmpp-push2-crypto`'s. Nothing here opens a socket, reads a clock or
//! spawns a task: the caller passes every input with the time ([`Now`]) and the RNG, and
//! writes out what the machines hand back.
//!
//! ## The drain contract
//!
//! **After every `&mut` call, drain `poll_transmit` (write each element to its `to`, in
//! order; a [`Transmit::Bind2`] goes inside the `<bound/>` being built; a push service makes
//! each HTTP request), then `poll_event`; then re-arm the timer from `poll_timeout` and call
//! `handle_timeout` when it fires.**
//!
//! ## Example: the three roles in memory
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use rand_core::SeedableRng;
//! use xmpp_push2::client::{self, ClientKeys};
//! use xmpp_push2::service::{PushService, ServiceConfig, ServiceTransmit};
//! use xmpp_push2::{Device, Enable, Event, Incoming, Match, MatchProfile, Monotonic, Now,
//!                  Registry, RegistryConfig, Routed, SendProfile, SessionState,
//!                  SessionStatus, Transmit};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7); // any CryptoRng
//! let now = Now::new(Monotonic::ZERO, SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
//! let mut server = Registry::new(RegistryConfig::default(), &mut rng);
//! let mut push = PushService::new(ServiceConfig::default());
//!
//! // The client makes its keys and enables push after binding.
//! let keys = ClientKeys::generate(&mut rng)?;
//! let enable = Enable::new("push.example".parse()?, "https://push.example/wpush/v2/jUliEt")
//!     .with_match(Match::new(MatchProfile::Important,
//!                            SendProfile::WebPush(keys.send_profile(None)?)));
//! let phone = Device::new("juliet@capulet.example/phone".parse()?);
//! assert_eq!(server.handle_iq(now, &phone, &enable.to_iq("e1"))?, Incoming::Handled);
//! let Some(Transmit::Reply { element, .. }) = server.poll_transmit() else { panic!() };
//! assert_eq!(element.attr("type"), Some("result"));
//! assert!(matches!(server.poll_event(), Some(Event::Enabled { .. })));
//! assert!(matches!(server.poll_event(), Some(Event::Changed { .. }))); // persist the record
//!
//! // The phone's session hibernates; a message arrives and is archived.
//! let message: minidom::Element = "<message xmlns='jabber:client' type='chat' id='m1' \
//!     from='romeo@montague.example/garden' to='juliet@capulet.example'>\
//!     <body>Wherefore art thou?</body></message>".parse()?;
//! let juliet = phone.jid.to_bare();
//! let sessions = [SessionState::new(phone.key(), SessionStatus::Hibernated)];
//! let routed = Routed::new(&juliet, &message).with_archive_id("mam-1").with_sessions(&sessions);
//! assert_eq!(server.handle_routed(now, &mut rng, &routed), 1);
//!
//! // The notification goes to the push service, which makes the Web Push request.
//! let Some(Transmit::Notification(n)) = server.poll_transmit() else { panic!() };
//! assert_eq!(n.to.to_string(), "push.example");
//! let _ = push.handle_stanza(now, &n.to_element())?;
//! let Some(ServiceTransmit::Request { request, .. }) = push.poll_transmit() else { panic!() };
//! assert_eq!(request.uri(), "https://push.example/wpush/v2/jUliEt");
//! assert!(request.headers()["authorization"].to_str()?.starts_with("vapid t="));
//!
//! // The device decrypts the body it is delivered: the message itself, with its MAM id.
//! let envelope = client::open_body(&keys.ua, request.body())?;
//! assert_eq!(envelope.forwarded.message.bodies[""], "Wherefore art thou?");
//! // No error came back within the outcome window: delivered.
//! server.handle_timeout(now.advance(Duration::from_secs(60)));
//! assert!(matches!(server.poll_event(), Some(Event::Delivered { .. })));
//! # Ok(()) }
//! ```
//!
//! ## Wiring it into a server
//!
//! One [`Registry`] per server. The server:
//! - advertises [`Registry::account_features`] on each account's disco#info and
//!   [`bind2_inline_feature`] in Bind2's `<inline/>`;
//! - hands each iq from a session to [`Registry::handle_iq`] with the session's [`Device`]
//!   (its full JID and SASL2 user-agent id), and each Bind2 `<bind/>` to
//!   [`Registry::handle_bind2`] once bound;
//! - calls [`Registry::handle_routed`] for each stanza it routes to an account, with the
//!   [`Routed`] context only it knows: each session's [`SessionState`] (live or hibernated,
//!   last activity), the MAM id when the stanza was archived, the user's nickname in the room
//!   for a groupchat message;
//! - writes each [`Transmit`] to its `to` (notifications go to the push service's JID, from
//!   the account's domain), and hands error bounces coming back to
//!   [`Registry::handle_stanza`] (or reports outcomes with [`Registry::handle_delivery`]);
//! - runs one timer ([`Registry::poll_timeout`], [`Registry::handle_timeout`]), and stores
//!   [`Registry::record`] on each [`Event::Changed`].
//!
//! ## Where it stands on the specification
//!
//! The seed is prosody-modules' `mod_push2/push2.markdown` at revision 5819; the module's
//! later text adds `<grace/>`, `<filter/>` (with "no specified filters means muted"),
//! `<disable/>` and the `<service/>` forms, which we implement as that text says. The
//! namespace is `urn:xmpp:push2:0` in both, and the wire format is the same.
//!
//! | rule | where it comes from |
//! |---|---|
//! | `<enable/>`: service, client, one or more `<match profile/>` each with exactly one `<send/>` | the seed |
//! | registrations keyed by the SASL2 user-agent id, else the resource; enable replaces | mod_push2 |
//! | at most 5 per account, the least recently enabled evicted and reported | ours (mod_push2 has no bound) |
//! | bad-request for a missing service or client, the user's own JID, a `<send/>` we do not implement; not-acceptable for a key that does not parse | mod_push2 for the first two; ours |
//! | an unknown match profile: feature-not-implemented, unless the caller's [`CustomProfiles`] takes it | ours |
//! | Bind2 inline: `<enable/>` inside `<bind xmlns='urn:xmpp:bind:0'/>`, `<enabled/>` or `<failed/>` (holding the stanza error) inside `<bound/>`, advertised as `<feature var='urn:xmpp:push2:0'/>` in Bind2's `<inline/>` | **ours**: the seed asks for SASL2 inlining but defines no element |
//! | profiles `all`, `important` ([`Classification::is_important`]), `archived`, `archived-with-body` (a body or an encrypted payload) | the seed; "important" defined by us after mod_push2 |
//! | a live session's registration is not pushed to, except for calls | mod_push2 |
//! | `<grace/>`: no push while another session was active that recently, except calls | mod_push2's later text |
//! | `<filter/>`: a chat muted except mentions (the nickname in the body) and XEP-0461 replies | mod_push2's later text |
//! | one notification per registration per stanza; the first matching `<match/>` decides the send profile | the seed; the order is ours |
//! | priority: calls `high` with `<voip/>`, important `normal`, the rest `low` | mod_push2 (`<voip/>` for proposals only) |
//! | encrypted profile: XEP-0297 in XEP-0420 `urn:xmpp:sce:1`, minimised to a budget (2847 or 3993 octets), always keeping the MAM id, padded, RFC 8291 | the seed; the minimiser's steps in [`minimise`](mod@minimise) |
//! | VAPID: ES256 over the client's claims as given, `sub` from [`RegistryConfig::vapid_sub`] (default `xmpp:` + domain), `exp` 12 h from the token cache; no `aud` claim: the endpoint's origin | the seed; RFC 8292 |
//! | `wait` errors retried with exponential back-off and jitter, then discarded; other errors never retried | the seed |
//! | a registration failing for 72 h without a success is disabled | the seed (MAY, "no less than 72 hours") |
//! | a `cancel` / `item-not-found` (a 404 or 410 from the endpoint) disables the registration at once | ours (RFC 8030 §7.3), [`RegistryConfig::disable_on_gone`] |
//! | a notification with no error within 60 s counts as delivered | ours: a `<message/>` has no positive acknowledgement |
//!
//! **Where we differ from mod_push2, and why.** mod_push2 (the revision that loads on
//! Prosody 0.12) has bugs this crate does not copy: its `archived` and `archived-with-body`
//! profiles look for a misspelled `<stana-id/>` and so never match (we use the MAM id the
//! server reports); its notify-only profile compares the send profile with
//! `urn:xmpp:push2:send:notify-only` (no `:0`), falls through to logging a field that does
//! not exist and raises an error, so notify-only never sends (we send it); and it ignores
//! delivery errors ("TODO: watch for message error replies"), so nothing is retried or
//! disabled (we implement the seed's retry and disable rules). It also signs with the
//! client's claims but sets no `exp` of its own and lets the client's `sub` be overwritten
//! silently; we set both and say so. Its `important` short-circuit pushes every stanza to
//! registrations with a non-`important` profile even when that profile does not match; we
//! evaluate each profile as written.
//!
//! **Claims as given.** RFC 8292 wants `aud` to be the push resource's origin
//! (`https://push.example.com`), but a real client, Borogove, sends the push service's bare
//! host in `<jwt-claim name='aud'/>`. The server signs the client's claims as given: the
//! client knows what its push service accepts.
//!
//! Out of scope: the transport to the push service (an XEP-0114 component or s2s: see the
//! `push_service` example), delivery to APNs or FCM (the push service's business), and
//! batching several stanzas into one notification (mod_push2 waits a second for a
//! hibernated session; the caller can debounce before [`Registry::handle_routed`]).
//!
//! ## Persistence (`serde` feature)
//! [`Snapshot`] and [`AccountRecord`] serialise; [`Registry::restore`] and
//! [`Registry::restore_account`] check what is read back like a client's `<enable/>`.
//! Records hold the keys and secrets the clients sent: **a store must be as trusted as the
//! server's memory**; authenticate records with a keyed MAC when the store is shared.
//! Notifications in flight are not persisted.
#![forbid(unsafe_code)]

pub mod client;
pub mod elements;
mod error;
#[cfg(feature = "__fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod minimise;
pub mod ns;
mod registry;
pub mod service;
mod stanza;
mod xml;

pub use http;
pub use xmpp_tether_core::{Monotonic, Now};

pub use crate::elements::{
    Disable, Enable, Filter, Jwt, Match, MatchProfile, Notification, Priority, SendProfile,
    Support, WebPushSend, account_features, bind2_inline_feature,
};
pub use crate::error::{
    BuildError, EnableError, NotificationError, OpenError, ParseError, Refused, RequestError,
    RestoreError,
};
pub use crate::registry::{
    AccountRecord, Backoff, Bound, CustomProfiles, Delivery, DisableReason, DiscardReason,
    EnableLimits, Event, Incoming, NoCustomProfiles, NotificationId, OutgoingNotification,
    PaddingPolicy, RegistrationRecord, RegistrationView, Registry, RegistryConfig, Selected,
    Selection, SizeBudget, Snapshot, Transmit,
};
pub use crate::service::{PushService, ServiceConfig, ServiceEvent, ServiceTransmit};
pub use crate::stanza::{
    Classification, Device, RegistrationKey, Routed, SessionState, SessionStatus, StanzaKind,
};
