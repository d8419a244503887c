//! # xmpp-sm: XEP-0198 Stream Management, sans-IO
//!
//! Acknowledgements and stream resumption for XMPP, for both ends of a stream: [`Client`]
//! (the initiating entity) and [`Server`] (the receiving entity, one per stream), plus a
//! [`SessionStore`] of resumable sessions for servers. Nothing here opens a socket, reads a
//! clock or spawns a task: the caller passes every element in, with the current time, and
//! writes out what the machines hand back.
//!
//! ## The drain contract
//!
//! **After every `&mut` call, drain [`poll_transmit`](Client::poll_transmit) (write each
//! element, in order) and then [`poll_event`](Client::poll_event); then arm a timer for
//! [`poll_timeout`](Client::poll_timeout) and call `handle_timeout` when it fires.**
//!
//! Elements whose placement the caller decides are *returned* instead: `<enable/>` and
//! `<resume/>` from [`Client::enable`]/[`Client::resume`], and the server's replies from
//! `accept_*`/`reject_*`, because they travel either at top level or inline in SASL2/Bind2
//! ([`elements::inline`]). On an error, [`Error::answer`] is what to send back; a fatal error
//! (a stream error) has already handed back every unacknowledged stanza.
//!
//! Nothing is lost: every stanza given to `send` is eventually acknowledged
//! ([`Event::Acked`]), retransmitted after a resumption, or handed back in
//! [`Event::HandedBack`] / [`StoreEvent::Expired`] with the time it was first sent.
//!
//! ## Example: a client and a server in memory
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use minidom::Element;
//! use xmpp_sm::{Client, ClientConfig, Event, Incoming, Namespace, Server, ServerConfig,
//!               SessionStore, Claim};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7); // any CryptoRng
//! # use rand_core::SeedableRng;
//! let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let owner: jid::BareJid = "juliet@example.com".parse()?;
//! let mut client = Client::new(ClientConfig::default());
//! let mut server = Server::new(ServerConfig::default(), owner.clone());
//! let mut store = SessionStore::default();
//! server.bound(t0, "juliet@example.com/balcony".parse()?)?;
//!
//! // Enable: the client's request, the server's answer.
//! let enable = client.enable(t0, Namespace::Sm3)?;
//! let Incoming::EnableRequest(_) = server.handle_element(t0, enable)? else { panic!() };
//! let enabled = server.accept_enable(t0, &mut rng)?;
//! store.register(server.id().cloned().ok_or("not resumable")?, owner.clone());
//! let _ = client.handle_element(t0, enabled)?;
//! assert!(client.is_enabled());
//!
//! // The client sends a message; the server asks for an ack... and the link dies.
//! let msg: Element = "<message xmlns='jabber:client' to='romeo@example.net'><body>hi</body></message>".parse()?;
//! client.send(t0, msg)?;
//! while let Some(out) = client.poll_transmit() { /* lost on the wire */ let _ = out; }
//! client.handle_disconnect(t0);
//! let session = server.handle_disconnect(t0).ok_or("not resumable")?;
//! store.hibernate(t0, session);
//!
//! // A new stream: resume, and the message is retransmitted.
//! let mut server = Server::new(ServerConfig::default(), owner.clone());
//! let resume = client.resume(t0)?;
//! let Incoming::ResumeRequest(req) = server.handle_element(t0, resume)? else { panic!() };
//! let Claim::Hibernated(session) = store.claim(t0, &req.previd, &owner) else { panic!() };
//! let resumed = server.accept_resume(t0, session)?;
//! let _ = client.handle_element(t0, resumed)?;
//! let again = client.poll_transmit().ok_or("no retransmission")?;
//! assert!(again.is("message", "jabber:client"));
//! assert!(matches!(server.handle_element(t0, again.into_element())?, Incoming::Stanza(_)));
//! # Ok(()) }
//! ```
//!
//! ## Where it stands on the specification
//!
//! - **Namespaces.** `urn:xmpp:sm:3` (XEP-0198 1.6.3, current, default) and `urn:xmpp:sm:2`
//!   (XEP-0198 1.0–1.2; identical counting) are fully supported; a server offers both and
//!   answers in the namespace each request came in. The seed draft `urn:xmpp:sm:1`
//!   (XEP-0198 0.7) is supported as a dialect, see below.
//! - **Counting** (§4): only `<message/>`, `<presence/>` and `<iq/>` in `jabber:client` or
//!   `jabber:server` count. Each side's outbound counter starts after it *sends*
//!   `<enable/>`/`<enabled/>`, its inbound counter after it *receives* one; stanzas before
//!   that are not counted. Counters are `u32`, wrap at 2^32 and compare as RFC 1982 serial
//!   numbers. An `h` above what was sent is answered with `undefined-condition` +
//!   `<handled-count-too-high h send-count/>`; an `h` below an earlier one is a distinct
//!   error ([`PeerError::AckWentBackwards`]); both are fatal and end resumability.
//! - **Acks** ([`AckPolicy`]): `<r/>` after N unacknowledged stanzas and/or when the oldest has
//!   waited T, at most one outstanding, [`Event::AckTimeout`] when unanswered; an incoming
//!   `<r/>` is answered at once. Acknowledging is O(newly acknowledged), never O(queue).
//! - **Resumption** (§5), in two phases: decide and return the reply, then retransmit the
//!   unacknowledged stanzas in order before any new one. SM-IDs carry 128 bits from the
//!   caller's CSPRNG; only the owning account can resume ([`SessionStore::claim`] answers
//!   everyone else as if the id did not exist); an old stream still open gets `conflict`
//!   ([`Server::take_over`]); ended sessions' last `h` are remembered (bounded) for
//!   `<failed h/>` ([`Event::SessionEnded`] tells the caller when to [`SessionStore::end`]
//!   one); the client's `max` is honoured up to [`ServerConfig::max_resume`] (a `max` of 0,
//!   not a positiveInteger, counts as absent); a session is never resumed after its deadline,
//!   even if the caller's expiry timer runs late. A stale `<resume/>` whose `h` is below the
//!   last acknowledgement acknowledges nothing rather than ending the session.
//! - **Order** (§3, §5): `<enable/>` before resource binding, or twice, and `<resume/>` after
//!   binding are answered `<failed><unexpected-request/></failed>`; so is a second
//!   `<enable/>` or `<resume/>` after a refused one (one attempt each per stream). A server
//!   answers only the dialects it offers ([`ServerConfig::namespaces`]); others are
//!   [`Incoming::NotOurs`]. §3 also says a second
//!   `<enable/>` SHOULD get a stream error, but its Example 6 shows `<failed/>`; we follow the
//!   example (recoverable).
//! - **SASL2 and Bind2** (XEP-0388, XEP-0386): `<resume/>` inside `<authenticate/>` with the
//!   reply inside `<success/>`, and `<enable/>` inside `<bind/>` with the reply inside
//!   `<bound/>`, use the same calls; [`elements::inline`] finds and places them. Both in one
//!   request (§9.2.1) work too: [`Client::enable`] while a resumption is pending makes the
//!   fallback `<enable/>`, which takes effect only if the resumption fails. A resumed stream
//!   is never bound ([`Server::bound`] refuses) and never enabled again.
//! - **`<failed/>`** carries an optional `h`, a stanza error condition and (an extension some
//!   servers send) `<text/>`, which we parse but 1.6.3 does not define.
//! - **Closing** (§4): [`Client::close`] sends a last `<a/>` before handing back what is
//!   unacknowledged.
//! - **Out of scope**: choosing when to hibernate versus close (the caller's policy),
//!   `location` redirects (reported, not followed), and s2s-specific rules.
//!
//! ### The seed dialect, `urn:xmpp:sm:1` (XEP-0198 0.7)
//!
//! The seed contradicts itself in places; we follow its prose:
//! - `<r/>` MUST carry `u` (sequence number of the last stanza sent; we send our count) and
//!   MAY carry `h` (treated as an ack). `<a/>` MUST carry `h` and MAY carry `u` (ignored).
//!   The scenario examples' `<a u='1'/>` without `h` contradict the prose and are rejected
//!   as malformed.
//! - `u`/`h` count stanzas exactly as in sm:3 (the prose's "sequence number of the last
//!   stanza" is the count, as the examples' `u='1'`, `u='2'`, `u='3'` show).
//! - `<sm/>` may carry `max` (resumption time) and `stanzas` (preferred ack interval); a
//!   server offering sm:1 sets `max`. `h` is optional on `<resume/>` and `<resumed/>` ("SHOULD
//!   include"); without it nothing counts as acknowledged and everything is retransmitted.
//! - `<resume h='foo'/>` (the seed's example) is malformed: `h` must be a number.
//!
//! ## Features
//! - `serde`: [`HibernatedSession`] and [`SessionStore`] serialise (stanzas as XML text), so
//!   a hibernated session can resume in another process.
#![forbid(unsafe_code)]

mod client;
mod config;
mod core;
pub mod elements;
mod error;
mod event;
#[cfg(feature = "__fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod ns;
mod seq;
#[cfg(feature = "serde")]
mod serde_impl;
mod server;
mod session;
mod store;
mod transmit;

pub use crate::client::Client;
pub use crate::config::{AckPolicy, ClientConfig, ServerConfig, StoreConfig};
pub use crate::elements::{ParseError, SmId};
pub use crate::error::{Answer, Error, Misuse, PeerError};
pub use crate::event::{Event, HandBackReason, Incoming};
pub use crate::ns::Namespace;
pub use crate::server::Server;
pub use crate::session::{HibernatedSession, QueueFull};
pub use crate::store::{Claim, SessionStore, StoreError, StoreEvent};
pub use crate::transmit::{Transmit, Unacked};
