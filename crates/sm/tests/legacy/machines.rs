//! Focused, deterministic tests of [`Client`], [`Server`] and [`SessionStore`], wired by hand
//! in memory: one behaviour per test, exact errors, answers and events.
//!
//! Time is virtual (`t0()` plus offsets) and randomness comes from seeded ChaCha20, so every
//! run is identical.

use std::time::{Duration, SystemTime};

use jid::{BareJid, FullJid};
use minidom::Element;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xmpp_parsers::stanza_error::DefinedCondition;
use xmpp_parsers::stream_error::{DefinedCondition as StreamCondition, StreamError};
use xmpp_sm::elements::{self, Ack, Failed, HandledCountTooHigh, Nonza, Request, inline};
use xmpp_sm::{
    AckPolicy, Answer, Claim, Client, ClientConfig, Error, Event, HandBackReason,
    HibernatedSession, Incoming, Misuse, Namespace, PeerError, Server, ServerConfig, SessionStore,
    SmId, StoreConfig, StoreEvent, Unacked, ns,
};

#[path = "machines/acks.rs"]
mod acks;
#[path = "machines/dialects.rs"]
mod dialects;
#[path = "machines/order.rs"]
mod order;
#[path = "machines/store.rs"]
mod store;

// --- Harness, shared by the modules ---

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn at(secs: u64) -> SystemTime {
    t0() + Duration::from_secs(secs)
}

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn juliet() -> BareJid {
    "juliet@example.com".parse().expect("valid JID")
}

fn romeo() -> BareJid {
    "romeo@example.net".parse().expect("valid JID")
}

fn balcony() -> FullJid {
    "juliet@example.com/balcony".parse().expect("valid JID")
}

fn xml(text: &str) -> Element {
    text.parse()
        .unwrap_or_else(|e| panic!("test XML {text:?}: {e}"))
}

fn msg(n: u32) -> Element {
    xml(&format!(
        "<message xmlns='jabber:client' id='m{n}' to='romeo@example.net'><body>{n}</body></message>"
    ))
}

fn typed(element: &Element) -> Nonza {
    Nonza::try_from(element).unwrap_or_else(|e| panic!("{element:?} is not SM: {e}"))
}

fn unacked(stanza: Element, first_sent: SystemTime) -> Unacked {
    Unacked { stanza, first_sent }
}

fn sm_id(s: &str) -> SmId {
    SmId::new(s).expect("valid SM-ID")
}

fn failed_unexpected_request(ns: Namespace) -> Answer {
    Answer::Failed(Failed::new(ns, DefinedCondition::UnexpectedRequest).into())
}

/// Client and Server share the output side of the drain contract.
trait Machine {
    fn transmit(&mut self) -> Option<Element>;
    fn event(&mut self) -> Option<Event>;
}

impl Machine for Client {
    fn transmit(&mut self) -> Option<Element> {
        self.poll_transmit().map(xmpp_sm::Transmit::into_element)
    }
    fn event(&mut self) -> Option<Event> {
        self.poll_event()
    }
}

impl Machine for Server {
    fn transmit(&mut self) -> Option<Element> {
        self.poll_transmit().map(xmpp_sm::Transmit::into_element)
    }
    fn event(&mut self) -> Option<Event> {
        self.poll_event()
    }
}

fn sent(m: &mut impl Machine) -> Vec<Element> {
    std::iter::from_fn(|| m.transmit()).collect()
}

fn events(m: &mut impl Machine) -> Vec<Event> {
    std::iter::from_fn(|| m.event()).collect()
}

/// Everything the client wrote, read by the server; the server's answers are returned.
fn client_to_server(now: SystemTime, client: &mut Client, server: &mut Server) -> Vec<Incoming> {
    sent(client)
        .into_iter()
        .map(|el| server.handle_element(now, el).expect("server accepts"))
        .collect()
}

fn server_to_client(now: SystemTime, server: &mut Server, client: &mut Client) -> Vec<Incoming> {
    sent(server)
        .into_iter()
        .map(|el| client.handle_element(now, el).expect("client accepts"))
        .collect()
}

fn manual_client() -> ClientConfig {
    let mut config = ClientConfig::default();
    config.ack = AckPolicy::manual();
    config
}

fn manual_server() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.ack = AckPolicy::manual();
    config
}

/// A bound server stream for juliet.
fn bound_server(config: ServerConfig) -> Server {
    let mut server = Server::new(config, juliet());
    server.bound(t0(), balcony()).expect("bind");
    server
}

/// Enables SM at `t0` in `ns`, and drains the `Enabled` event.
fn enabled_pair(client: ClientConfig, server: ServerConfig, ns: Namespace) -> (Client, Server) {
    // A server answers only the dialects it offers.
    let mut server = server;
    if !server.namespaces.contains(&ns) {
        server.namespaces.push(ns);
    }
    let mut client = Client::new(client);
    let mut server = bound_server(server);
    let enable = client.enable(t0(), ns).expect("enable");
    assert!(matches!(
        server.handle_element(t0(), enable),
        Ok(Incoming::EnableRequest(_))
    ));
    let enabled = server.accept_enable(t0(), &mut rng(1)).expect("accept");
    assert_eq!(client.handle_element(t0(), enabled), Ok(Incoming::Handled));
    assert!(matches!(events(&mut client)[..], [Event::Enabled { .. }]));
    assert!(client.is_enabled() && server.is_enabled());
    (client, server)
}

fn manual_pair() -> (Client, Server) {
    enabled_pair(manual_client(), manual_server(), Namespace::Sm3)
}

/// Breaks the link: the client waits to resume, the server's session goes to `store`.
fn hibernate(now: SystemTime, client: &mut Client, server: &mut Server, store: &mut SessionStore) {
    client.handle_disconnect(now);
    assert!(client.can_resume());
    let session = server.handle_disconnect(now).expect("resumable");
    store.hibernate(now, session);
}
