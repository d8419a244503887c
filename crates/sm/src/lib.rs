//! # xmpp-sm: XEP-0198 Stream Management, sans-IO
//!
//! Acknowledgements and stream resumption for XMPP, for both ends of a stream: [`Client`]
//! (the initiating entity) and, on a server, a [`SessionStore`] that makes one [`Server`]
//! per client stream and owns every rule about which stream a session belongs to. Nothing
//! here opens a socket, reads a clock or spawns a task: the caller passes every element in
//! with the current time ([`Now`]: a monotonic reading for live timers and the wall clock for
//! what is persisted), and writes out what the machines hand back.
//!
//! ## The drain contract
//!
//! **After every `&mut` call, drain [`poll_transmit`](Server::poll_transmit) (write each
//! element at its [`Placement`], in order), then [`poll_event`](Server::poll_event); then arm
//! a timer for [`poll_timeout`](Server::poll_timeout) and call `handle_timeout` when it
//! fires. A server stream's task also calls [`handle_wake`](Server::handle_wake) when its
//! [`StreamHandle`] is woken, and stops once [`is_closed`](Server::is_closed).**
//!
//! Every element the machines want written comes out of `poll_transmit`, replies and errors
//! included; a returned [`Error`] only classifies what happened (its answer is already
//! queued). Nothing is lost: every stanza given to `send` is acknowledged
//! ([`ServerEvent::Acked`], with the stanzas), retransmitted after a resumption, or handed
//! back with the time it was first sent ([`ServerEvent::HandedBack`],
//! [`StoreEvent::HandedBack`]), and a command that cannot keep a stanza returns it in
//! [`Refused`].
//!
//! ## Example: a client and a server in memory
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use minidom::Element;
//! use xmpp_sm::{Client, ClientConfig, ClientEvent, Incoming, Namespace, Now, Monotonic,
//!               Placement, ServerConfig, ServerEvent, SessionStore};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7); // any CryptoRng
//! # use rand_core::SeedableRng;
//! let now = Now::new(Monotonic::ZERO, SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
//! let juliet: jid::BareJid = "juliet@example.com".parse()?;
//! // One store per server; `()` is a handle that never wakes (fine for one stream at a time).
//! let store: SessionStore<()> = SessionStore::new(ServerConfig::default());
//!
//! // Moves every queued element from `from` to `to`, as a connection would.
//! fn wire(from: &mut Vec<Element>, to: &mut dyn FnMut(Element)) { for el in from.drain(..) { to(el) } }
//!
//! let mut client = Client::new(ClientConfig::default());
//! let mut server = store.stream(juliet.clone(), (), &mut rng);
//! server.handle_bind(now, "juliet@example.com/balcony".parse()?)?;
//!
//! // Enable: the client's request goes out, the server answers by itself.
//! client.enable(now, Namespace::Sm3, Placement::TopLevel)?;
//! let enable = client.poll_transmit().ok_or("no <enable/>")?.into_element();
//! assert_eq!(server.handle_element(now, enable)?, Incoming::Handled);
//! let enabled = server.poll_transmit().ok_or("no <enabled/>")?.into_element();
//! let _ = client.handle_element(now, enabled)?;
//! assert!(client.is_enabled() && server.is_enabled());
//! assert!(matches!(client.poll_event(), Some(ClientEvent::Enabled { resume: true, .. })));
//! assert!(matches!(server.poll_event(), Some(ServerEvent::Enabled { id: Some(_) })));
//!
//! // The client sends a message... and the link dies before it arrives.
//! let msg: Element = "<message xmlns='jabber:client' to='romeo@example.net'><body>hi</body></message>".parse()?;
//! client.send(now, msg)?;
//! while let Some(lost) = client.poll_transmit() { drop(lost) }
//! client.handle_disconnect(now);
//! server.handle_disconnect(now); // the session hibernates in the store
//! assert_eq!(store.hibernated_count(), 1);
//!
//! // A new stream: resume, and the message is retransmitted after <resumed/>.
//! let mut server = store.stream(juliet.clone(), (), &mut rng);
//! client.resume(now, Placement::TopLevel)?;
//! let resume = client.poll_transmit().ok_or("no <resume/>")?.into_element();
//! let _ = server.handle_element(now, resume)?;
//! let resumed = server.poll_transmit().ok_or("no <resumed/>")?.into_element();
//! let _ = client.handle_element(now, resumed)?;
//! let again = client.poll_transmit().ok_or("no retransmission")?.into_element();
//! assert!(matches!(server.handle_element(now, again)?, Incoming::Stanza(_)));
//! assert!(matches!(client.poll_event(), Some(ClientEvent::Resumed { retransmitted: 1, .. })));
//! assert!(matches!(server.poll_event(), Some(ServerEvent::Resumed { .. })));
//! # Ok(()) }
//! ```
//!
//! ## A server's wiring
//!
//! One [`SessionStore`] per server, shared by every connection task; each connection gets a
//! [`Server`] from [`SessionStore::stream`] after authentication, with a [`StreamHandle`] that
//! wakes its task. The caller then:
//! - feeds every element read ([`Server::handle_element`], or [`Server::handle_inline`] for
//!   a `<resume/>` inside SASL2 `<authenticate/>` and an `<enable/>` inside Bind2 `<bind/>`),
//!   tells the stream the resource it bound ([`Server::handle_bind`]), and routes each
//!   [`Incoming::Stanza`];
//! - delivers stanzas for a full JID by [`SessionStore::route`]: to a live stream's handle
//!   and then [`Server::send`] (a [`Refusal::Closed`] means "route it again"), or into a
//!   hibernated session with [`SessionStore::push`];
//! - calls [`Server::handle_wake`] when the stream's handle is woken, and
//!   [`Server::handle_disconnect`] (connection lost: hibernate) or [`Server::close`] (clean
//!   end) when the connection ends;
//! - runs one timer task for the store ([`SessionStore::poll_timeout`],
//!   [`SessionStore::handle_timeout`], [`SessionStore::poll_event`]) that stores the stanzas
//!   of expired sessions offline.
//!
//! Registering resumable sessions, hibernating them, taking a session over from a stream that
//! is still open (XEP-0198 §5: the old stream gets `conflict` and its unacknowledged stanzas
//! move to the new one), ending sessions and remembering their last `h` are done by the
//! library. A stream dropped without being closed (an aborted task) hibernates like a lost
//! connection.
//!
//! ## Where it stands on the specification
//!
//! - **Namespaces.** `urn:xmpp:sm:3` (XEP-0198 1.6.3, current, default) and `urn:xmpp:sm:2`
//!   (XEP-0198 1.0–1.2; identical counting) are fully supported; a server offers both and
//!   answers in the namespace each request came in. The seed draft `urn:xmpp:sm:1`
//!   (XEP-0198 0.7) is supported as a dialect, see below.
//! - **Counting** (§4): only `<message/>`, `<presence/>` and `<iq/>` in `jabber:client` or
//!   `jabber:server` count. Each side's outbound counter starts after it *sends*
//!   `<enable/>`/`<enabled/>`, its inbound counter after it *receives* one. Counters are
//!   `u32`, wrap at 2^32 and compare as RFC 1982 serial numbers. An `h` above what was sent is
//!   answered with `undefined-condition` + `<handled-count-too-high h send-count/>`; an `h`
//!   below an earlier one is a distinct error ([`PeerError::AckWentBackwards`]); both are
//!   fatal and end resumability.
//! - **Acks** ([`AckPolicy`]): `<r/>` after N unacknowledged stanzas and/or once stanzas have
//!   waited T without an ack, at most one outstanding, an `AckTimeout` event when unanswered;
//!   an incoming `<r/>` is answered at once. Acknowledging is O(newly acknowledged), and the
//!   acknowledged stanzas are handed to the application in the `Acked` event (a client can
//!   mark messages as received by its server).
//! - **Resumption** (§5): decided by the stream with the store, the reply queued, then the
//!   unacknowledged stanzas retransmitted in order before any new one. SM-IDs carry 128 bits
//!   from the caller's CSPRNG (drawn when the stream is made, so `<enable/>` needs no second
//!   call); an id already known to the store is never reused. Only the owning account can
//!   resume; an old stream still open gets `conflict` and hands its session over; ended
//!   sessions' last `h` are remembered (bounded) for `<failed h/>`; the client's `max` is
//!   honoured up to [`ServerConfig::max_resume`] (a `max` of 0, not a positiveInteger, counts
//!   as absent); a session is never resumed after its deadline, even if the caller's expiry
//!   timer runs late. A stale `<resume/>` whose `h` is below the last acknowledgement
//!   acknowledges nothing rather than ending the session. `location` is offered when
//!   configured ([`ServerConfig::location`]) and reported to clients, never followed.
//! - **Order** (§3, §5): `<enable/>` before resource binding, or twice, and `<resume/>` after
//!   binding are answered `<failed><unexpected-request/></failed>`; so is a second
//!   `<enable/>` or `<resume/>` after a refused one (one attempt each per stream). A server
//!   answers only the dialects it offers ([`ServerConfig::namespaces`]); others are
//!   [`Incoming::NotOurs`]. §3 also says a second `<enable/>` SHOULD get a stream error, but
//!   its Example 6 shows `<failed/>`; we follow the example (recoverable). Elements the state
//!   has no use for (an early `<r/>`) are [`Incoming::Ignored`], as Prosody ignores them.
//! - **SASL2 and Bind2** (XEP-0388, XEP-0386): `<resume/>` inside `<authenticate/>` with the
//!   reply inside `<success/>`, and `<enable/>` inside `<bind/>` with the reply inside
//!   `<bound/>`, go through the same calls with a [`Placement`]; [`elements::inline`] finds
//!   and places them. Both in one request (§9.2.1) work: [`Client::enable`] while a
//!   resumption is pending makes the fallback `<enable/>`, which takes effect only if the
//!   resumption fails. A resumed stream is never bound ([`Server::handle_bind`] refuses) and
//!   never enabled again. A client times out an unanswered request
//!   ([`ClientConfig::request_timeout`]): Prosody 0.12's mod_sasl2_sm advertises inline
//!   stream management but never answers it, and the session it left behind is still
//!   resumable with a top-level `<resume/>` on a new connection.
//! - **`<failed/>`** carries an optional `h`, a stanza error condition and (an extension some
//!   servers send) `<text/>`, which we parse but 1.6.3 does not define.
//! - **Closing** (§4): [`Client::close`] sends a last `<a/>` before handing back what is
//!   unacknowledged.
//! - **Out of scope**: choosing when to hibernate versus close (the caller's policy),
//!   following `location` redirects, and s2s-specific rules.
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
//! ## Persistence and trust
//!
//! With the `serde` feature a [`HibernatedSession`] serialises on its own (stanzas as XML
//! text), and a whole store through [`StoreSnapshot`] ([`SessionStore::snapshot`],
//! [`SessionStore::restore`]): a server keeps hibernated sessions across a restart, and a
//! cluster keeps each session in the store it already runs ([`SessionStore::adopt`],
//! [`HibernatedSession::may_claim`]). Deadlines are stored as wall-clock times and mapped
//! onto the monotonic clock when read back.
//!
//! A node that dies with streams still open writes no record. [`Server::checkpoint`] copies
//! a live stream's session (take one whenever [`Server::checkpoint_mark`] moves, and write it
//! before the stream's output, so that it holds every stanza the client can have received):
//! another node resumes the copy when the session cannot be handed over. A copy may lag its
//! stream, so resuming one accepts an `h` beyond it and reports the gap
//! ([`ServerEvent::ResumedFromCheckpoint`]).
//!
//! Everything read back is validated like peer data: XML nesting and size are bounded
//! (through `xmpp_tether_core::framing`), queued elements must be stanzas, the bound resource
//! must belong to the owner, counters must agree with the queue, and a store's indexes must
//! agree. Validation cannot tell a forged record from a real one, though: **a session store
//! must be as trusted as the server's own memory**, since a record that names another owner
//! resumes for that owner. When the store is shared or reachable by others (a Redis used by
//! more than the XMPP nodes), authenticate each serialised record with a keyed MAC (for
//! example HMAC-SHA-256 under a server secret, over the serialised bytes and the SM-ID) and
//! check it before deserialising.
//!
//! ## Features
//! - `serde`: [`HibernatedSession`], [`StoreSnapshot`] and [`StoreEvent`] serialise.
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

pub use xmpp_tether_core::{Monotonic, Now};

pub use crate::client::Client;
pub use crate::config::{AckPolicy, ClientConfig, EnablePolicy, ServerConfig, StoreConfig};
pub use crate::elements::{ParseError, SmId};
pub use crate::error::{
    Answer, Error, Misuse, PeerError, RecordError, Refusal, Refused, RestoreError,
};
pub use crate::event::{ClientEvent, HandBackReason, Incoming, Request, ServerEvent};
pub use crate::ns::Namespace;
pub use crate::server::{CheckpointMark, Server};
pub use crate::session::HibernatedSession;
pub use crate::store::{
    EndedSession, Route, SessionStore, StoreEvent, StoreSnapshot, StreamHandle,
};
pub use crate::transmit::{
    AckedIntoIter, AckedIter, AckedStanzas, Inline, Placement, Transmit, Unacked,
};
