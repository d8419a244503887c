//! Focused, deterministic tests of [`Client`], [`Server`] and [`SessionStore`], wired by hand
//! in memory as a server's tasks would: one behaviour per test, exact errors, answers and
//! events.
//!
//! Time is virtual (`t0()` plus offsets) and randomness comes from seeded ChaCha20, so every
//! run is identical.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use jid::{BareJid, FullJid};
use minidom::Element;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xmpp_parsers::stanza_error::DefinedCondition;
use xmpp_parsers::stream_error::{DefinedCondition as StreamCondition, StreamError};
use xmpp_sm::elements::{Ack, Enable, Failed, HandledCountTooHigh, Nonza, Request, Resume};
use xmpp_sm::{
    AckPolicy, AckedStanzas, Answer, Client, ClientConfig, ClientEvent, EnablePolicy, Error,
    HandBackReason, Incoming, Misuse, Monotonic, Namespace, Now, PeerError, Placement, Refusal,
    Route, Server, ServerConfig, ServerEvent, SessionStore, SmId, StoreEvent, StreamHandle,
    Transmit, Unacked, ns,
};

#[path = "machines/acks.rs"]
mod acks;
#[path = "machines/checkpoint.rs"]
mod checkpoint;
#[path = "machines/dialects.rs"]
mod dialects;
#[path = "machines/order.rs"]
mod order;
#[path = "machines/shared.rs"]
mod shared;
#[path = "machines/store.rs"]
mod store;

// --- Harness, shared by the modules ---

fn t0() -> Now {
    Now::new(
        Monotonic::ZERO,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    )
}

/// `secs` after `t0`, on both clocks.
fn at(secs: u64) -> Now {
    t0().advance(Duration::from_secs(secs))
}

/// The wall-clock time `secs` after `t0`.
fn wall(secs: u64) -> SystemTime {
    at(secs).wall()
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
    Unacked::new(stanza, first_sent)
}

fn failed_unexpected_request(ns: Namespace) -> Answer {
    Answer::Failed(
        Failed::new(ns, DefinedCondition::UnexpectedRequest).into(),
        Placement::TopLevel,
    )
}

/// A handle that writes down which stream was woken.
#[derive(Debug, Clone)]
struct Wake {
    name: &'static str,
    log: Rc<RefCell<Vec<&'static str>>>,
}

impl StreamHandle for Wake {
    fn wake(&self) {
        self.log.borrow_mut().push(self.name);
    }
}

/// A server's store, its RNG and the wake-up log.
struct World {
    store: SessionStore<Wake>,
    rng: ChaCha20Rng,
    log: Rc<RefCell<Vec<&'static str>>>,
}

impl World {
    fn new(config: ServerConfig) -> Self {
        Self {
            store: SessionStore::new(config),
            rng: ChaCha20Rng::seed_from_u64(1),
            log: Rc::default(),
        }
    }

    /// A new stream of `owner`, reachable through a handle called `name`.
    fn stream(&mut self, name: &'static str, owner: BareJid) -> Server<Wake> {
        let wake = Wake {
            name,
            log: Rc::clone(&self.log),
        };
        self.store.stream(owner, wake, &mut self.rng)
    }

    /// A stream of juliet, bound to `balcony`.
    fn bound(&mut self, name: &'static str) -> Server<Wake> {
        let mut server = self.stream(name, juliet());
        server.handle_bind(t0(), balcony()).expect("bind");
        server
    }

    /// Which handles were woken since the last call.
    fn woken(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.log.borrow_mut())
    }

    fn store_events(&self) -> Vec<StoreEvent> {
        std::iter::from_fn(|| self.store.poll_event()).collect()
    }
}

/// Both roles share the output side of the drain contract.
trait Machine {
    type Event;
    fn transmit(&mut self) -> Option<Transmit>;
    fn event(&mut self) -> Option<Self::Event>;
}

impl Machine for Client {
    type Event = ClientEvent;
    fn transmit(&mut self) -> Option<Transmit> {
        self.poll_transmit()
    }
    fn event(&mut self) -> Option<ClientEvent> {
        self.poll_event()
    }
}

impl<H: StreamHandle> Machine for Server<H> {
    type Event = ServerEvent;
    fn transmit(&mut self) -> Option<Transmit> {
        self.poll_transmit()
    }
    fn event(&mut self) -> Option<ServerEvent> {
        self.poll_event()
    }
}

/// Every element queued, in order.
fn sent(m: &mut impl Machine) -> Vec<Element> {
    std::iter::from_fn(|| m.transmit())
        .map(Transmit::into_element)
        .collect()
}

fn events<M: Machine>(m: &mut M) -> Vec<M::Event> {
    std::iter::from_fn(|| m.event()).collect()
}

/// Everything the client wrote, read by the server; what the server made of each.
fn client_to_server<H: StreamHandle>(
    now: Now,
    client: &mut Client,
    server: &mut Server<H>,
) -> Vec<Incoming> {
    sent(client)
        .into_iter()
        .map(|el| server.handle_element(now, el).expect("server accepts"))
        .collect()
}

fn server_to_client<H: StreamHandle>(
    now: Now,
    server: &mut Server<H>,
    client: &mut Client,
) -> Vec<Incoming> {
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

/// Enables SM at `t0` in `ns` on a bound stream of `world` (whose config must offer `ns`),
/// and drains both sides' events.
fn enable_on(world: &mut World, client: ClientConfig, ns: Namespace) -> (Client, Server<Wake>) {
    let mut client = Client::new(client);
    let mut server = world.bound("a");
    client
        .enable(t0(), ns, Placement::TopLevel)
        .expect("enable");
    let _ = client_to_server(t0(), &mut client, &mut server);
    let _ = server_to_client(t0(), &mut server, &mut client);
    assert!(matches!(
        events(&mut client)[..],
        [ClientEvent::Enabled { .. }]
    ));
    assert!(matches!(
        events(&mut server)[..],
        [ServerEvent::Enabled { .. }]
    ));
    assert!(client.is_enabled() && server.is_enabled());
    (client, server)
}

/// A world with `server` (made to offer `ns`), and a client enabled on its stream "a".
fn enabled_pair(
    client: ClientConfig,
    server: ServerConfig,
    ns: Namespace,
) -> (World, Client, Server<Wake>) {
    let mut server = server;
    if !server.namespaces.contains(&ns) {
        server.namespaces.push(ns);
    }
    let mut world = World::new(server);
    let (client, server) = enable_on(&mut world, client, ns);
    (world, client, server)
}

fn manual_pair() -> (World, Client, Server<Wake>) {
    enabled_pair(manual_client(), manual_server(), Namespace::Sm3)
}

/// Breaks the link: the client waits to resume, the server's session hibernates.
fn hibernate(now: Now, client: &mut Client, server: &mut Server<Wake>) {
    client.handle_disconnect(now);
    assert!(client.can_resume());
    let id = server.id().cloned().expect("resumable");
    server.handle_disconnect(now);
    assert!(
        events(server)
            .iter()
            .any(|e| matches!(e, ServerEvent::Hibernated { id: h, .. } if *h == id)),
        "hibernated"
    );
    assert!(server.is_closed());
}

/// A new stream "b" of `owner` that got `resume` (raw XML, so tests can ask for anything).
fn resume_on(world: &mut World, owner: BareJid, now: Now, resume: Element) -> Server<Wake> {
    let mut server = world.stream("b", owner);
    let _ = server
        .handle_element(now, resume)
        .expect("a resume request");
    server
}

/// The client resumes on a new stream "b"; its `<resume/>` is read there.
fn client_resumes(world: &mut World, now: Now, client: &mut Client) -> Server<Wake> {
    client.resume(now, Placement::TopLevel).expect("resume");
    let resume = client.poll_transmit().expect("<resume/>").into_element();
    resume_on(world, juliet(), now, resume)
}

fn resume_xml(id: &SmId, h: u32) -> Element {
    Resume::new(Namespace::Sm3, id.clone(), Some(h)).into()
}
