//! # xmpp-push0: XEP-0357 Push Notifications (`urn:xmpp:push:0`), sans-IO
//!
//! XEP-0357 lets a phone that sleeps stay reachable: its client registers an *app server* (an
//! XMPP Push Service) with its own XMPP server; when the user has no session, or a hibernated
//! one, the server publishes a short notification to the app server, which wakes the device
//! through its platform's push channel. This crate implements all three roles:
//!
//! - the **user's server**: [`Registry`], the registrations of every account (enable and
//!   disable commands, bounds, persistence), the publish iqs for what the caller reports
//!   ([`Registry::notify`] with a [`Trigger`], under a [`Privacy`] policy), their outcomes
//!   (error counting, `wait` retries, remote disabling), and the hibernation extension
//!   ([`Registry::handle_hibernated`]; [`Hibernation`] says how to wire it to a XEP-0198
//!   session store);
//! - the **app server**: [`AppServer`], which issues nodes and secrets ([`NodeStore`]),
//!   checks publishes (node, secret in constant time, publisher) and answers them, and hands
//!   the summaries over as [`Received`];
//! - the **client**: the [`Enable`] and [`Disable`] builders and [`client`] (is push
//!   supported, what did the server answer).
//!
//! Nothing here opens a socket, reads a clock or spawns a task: the caller passes every stanza
//! in with the time ([`Now`]), and writes out what the machines hand back.
//!
//! ## The drain contract
//!
//! **After every `&mut` call, drain `poll_transmit` (write each stanza to its `to`, in order),
//! then `poll_event`; then re-arm the timer from `poll_timeout` and call `handle_timeout` when
//! it fires.** ([`AppServer`] has no timers.)
//!
//! ## Example: all three roles in memory
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use minidom::Element;
//! use rand_core::SeedableRng;
//! use xmpp_push0::{AppEvent, AppServer, AppServerConfig, Enable, Event, Incoming, Monotonic,
//!                  Now, Registry, RegistryConfig, Target, Trigger};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # // Routing stamps the sender's full JID on what a client sends (RFC 6120 §8.1.2.1).
//! # fn stamp(mut iq: Element, from: &str) -> Element {
//! #     iq.set_attr(minidom::rxml::Namespace::NONE,
//! #                 minidom::rxml::xml_ncname!("from").to_owned(), from);
//! #     iq
//! # }
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7); // any CryptoRng
//! let now = Now::new(Monotonic::ZERO, SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
//! let service: jid::Jid = "push.example".parse()?;
//! let mut app = AppServer::new(service.clone(), AppServerConfig::default());
//! let mut server = Registry::new(RegistryConfig::default(), &mut rng);
//!
//! // The app server issues a node and a secret (over the app's own channel, to the client);
//! // the client enables push with them.
//! let credentials = app.create_node(now, &mut rng, "juliet's phone");
//! let enable = Enable::new(service, credentials.node.clone())
//!     .with_secret(credentials.secret.as_str())
//!     .to_iq("e1");
//! let enable = stamp(enable, "juliet@capulet.example/phone");
//! assert_eq!(server.handle_stanza(now, &enable)?, Incoming::Handled);
//! let result = server.poll_transmit().ok_or("no reply")?.into_element();
//! assert_eq!(result.attr("type"), Some("result"));
//! assert!(matches!(server.poll_event(), Some(Event::Enabled { .. })));
//! assert!(matches!(server.poll_event(), Some(Event::Changed { .. }))); // persist the record
//!
//! // Juliet is offline; a message arrives for her.
//! let message: Element = "<message xmlns='jabber:client' from='romeo@montague.example/garden' \
//!     to='juliet@capulet.example' type='chat'><body>Wherefore art thou?</body></message>".parse()?;
//! // Classified as Prosody does, keeping only what the privacy policy lets the publish reveal.
//! let trigger = Trigger::from_stanza_for(&message, &server.config().privacy)
//!     .ok_or("nothing to push")?;
//! let juliet: jid::BareJid = "juliet@capulet.example".parse()?;
//! assert_eq!(server.notify(now, &Target::Account(juliet), &trigger), 1);
//!
//! // The server writes the publish to the app server, which answers; the answer comes back.
//! while let Some(publish) = server.poll_transmit() {
//!     app.handle_stanza(now, &publish.into_element())?;
//!     while let Some(answer) = app.poll_transmit() {
//!         assert_eq!(server.handle_stanza(now, &answer.element)?, Incoming::Handled);
//!     }
//! }
//! let Some(AppEvent::Notification(received)) = app.poll_event() else { panic!() };
//! let summary = received.summary.ok_or("no summary")?;
//! assert_eq!(summary.message_count, Some(1));
//! // The default privacy policy sends a placeholder, never the body.
//! assert_eq!(summary.last_message_body.as_deref(), Some("New Message!"));
//! assert!(matches!(server.poll_event(), Some(Event::Delivered { attempts: 1, .. })));
//! assert_eq!(server.poll_timeout(), None);
//! # Ok(()) }
//! ```
//!
//! ## Where it stands on the specification
//!
//! The seed is XEP-0357 0.2.1 (2016); the current version is 0.4.1 (2020, Deferred). The
//! namespace, `urn:xmpp:push:0`, and the wire format are the same in both. What differs, and
//! what comes from the implementations rather than the XEP:
//!
//! | rule | source |
//! |---|---|
//! | publishes come from the user's bare JID ([`PublishFrom::Account`]) | 0.2.1 §7 |
//! | publishes come from the server's JID ([`PublishFrom::Server`], default) | 0.3+ §7 (Prosody, ejabberd) |
//! | an app server accepts bare JIDs ([`Publishers`]) | 0.2.1 §3.2 |
//! | ... and server JIDs | 0.3+ §3.2 |
//! | enable and disable, keyed by (service, node); re-enable replaces the options | both, §5, §6 |
//! | a publish error disables the pair, or "a sufficient number ... in a row" | both, §7.1 |
//! | ... at the first non-`wait` error ([`ErrorPolicy::DisableAtFirst`]) | ejabberd |
//! | ... after 16 in a row, success resets ([`ErrorPolicy::Count`], default) | Prosody |
//! | `wait` errors and unanswered publishes retried with back-off ([`Backoff`]) | ours; ejabberd and Prosody only log them |
//! | retry an auto-disabled pair after a period ([`RegistryConfig::retry_disabled_after`]) | both, §7.1 (MAY) |
//! | remote disabling by the affiliation notice ([`AffiliationChange`]) | both, §8 |
//! | at most 5 registrations per account, least recently enabled evicted | Prosody (`push_max_devices`) |
//! | privacy: counts, sender, body, or a placeholder body for important stanzas | §9; placeholder from Prosody and ejabberd |
//! | "important" stanzas ([`Trigger::from_stanza`], [`Trigger::from_stanza_for`]) | Prosody |
//! | the hibernation extension until the first push, 72 h | Prosody and ejabberd |
//! | `<enable/>` without node refused `feature-not-implemented` ([`RegistryConfig::require_node`]) | ejabberd (the XEP says SHOULD carry one) |
//! | `<enable/>`/`<disable/>` in an iq-get refused `not-allowed` | ejabberd |
//! | a service JID equal to the account refused `bad-request` | Prosody |
//! | `<disable/>` matching nothing answered with a result | Prosody (ejabberd: `item-not-found`) |
//!
//! Leniencies where xmpp-parsers' types reject what peers send are listed in [`elements`]:
//! data forms without `type` (every form in both versions' examples), `FORM_TYPE` fields
//! without `type='hidden'`, the summary's `form` (Prosody) or `submit` (ejabberd) type, an
//! [`Enable::jid`] that is a full JID, the §8 notice's shape, and stanzas in `jabber:server`
//! or `jabber:component:accept`. The publish-options example of §7 is not well-formed XML in
//! either version (`<value>` is never closed; 0.4.1 fixed only the §5 one); the fixtures test
//! it both as published (it does not parse) and corrected.
//!
//! Out of scope: the transport (s2s or XEP-0114 component: see the `push_service` example),
//! the delivery to APNs, FCM or UnifiedPush, provisioning nodes over XMPP (XEP-0357 §5 leaves
//! it to the app), batching several stanzas into one push (Prosody waits a second), and
//! MUC-specific rules.
//!
//! ## Features
//! - `serde`: [`Snapshot`] and [`AccountRecord`] of the registry, [`NodeRecord`] of the app
//!   server's store. Read back with [`Registry::restore`], [`Registry::restore_account`] and
//!   [`NodeStore::restore`], which check them like peer data. A store must be as trusted as
//!   the server's memory (records hold secrets); authenticate records when it is shared.
#![forbid(unsafe_code)]

mod app_server;
pub mod client;
pub mod elements;
mod error;
#[cfg(feature = "__fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod ns;
mod registry;
mod xml;

pub use xmpp_tether_core::{Monotonic, Now};

pub use crate::app_server::{
    AppEvent, AppIncoming, AppServer, AppServerConfig, AppTransmit, NodeCredentials, NodeRecord,
    NodeStore, NodeStoreConfig, Publishers, Received, Secret,
};
pub use crate::elements::{
    AffiliationChange, Disable, Enable, Notification, Publish, PublishOptions, PushDisco, Summary,
};
pub use crate::error::{EnableError, ParseError, PublishError, RestoreError};
pub use crate::registry::{
    AbandonReason, AccountRecord, Backoff, Bound, DisableReason, ErrorPolicy, Event, Hibernation,
    HibernationRecord, Incoming, Privacy, PublishFrom, PublishIq, PushNode, RegistrationRecord,
    Registry, RegistryConfig, Snapshot, Suspended, Target, Transmit, Trigger, TriggerKind,
};
