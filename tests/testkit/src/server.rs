//! A small loopback XMPP server built on `xmpp_sm::Server` and `SessionStore`, for tests
//! with real clients (slixmpp): stream header, SASL PLAIN against a fixed account table
//! (RFC 6120 §6), stream restart, features (`<bind/>` plus `Server::features()`), resource
//! binding (§7), routing by `to` between accounts, and XEP-0198 enable/resume through the
//! store, including taking over a stream that is still open (XEP-0198 §5).
//!
//! Stanzas for an account whose stream is gone but resumable are queued in its hibernated
//! session and arrive after `<resumed/>`; stanzas nobody can take are kept in
//! [`TestServer::undeliverable`] so a test can see that nothing vanished.
//!
//! One std thread accepts connections and fires the store's timers; one thread per
//! connection reads with a short timeout and, between reads, serves commands from the
//! router (deliver, cut, take over). Every wait is bounded; dropping the [`TestServer`] stops
//! and joins every thread.

mod conn;

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use jid::{BareJid, FullJid};
use minidom::Element;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng as _;
use xmpp_sm::{HandBackReason, ServerConfig, SessionStore, SmId, StoreConfig, StoreEvent};

use crate::{deadline_in, remaining, system_now};

/// How long a connection thread blocks in one read before it looks at its commands.
const POLL: Duration = Duration::from_millis(10);

/// Configuration of a [`TestServer`].
#[derive(Debug, Clone)]
pub struct TestServerConfig {
    /// The domain served.
    pub domain: String,
    /// Accounts: (local part, password).
    pub accounts: Vec<(String, String)>,
    /// Stream management settings for every stream.
    pub sm: ServerConfig,
    /// Session store settings.
    pub store: StoreConfig,
    /// Print every element in and out on stderr (also on when `TETHER_TRACE` is set).
    pub trace: bool,
}

impl Default for TestServerConfig {
    fn default() -> Self {
        Self {
            domain: "localhost".into(),
            accounts: Vec::new(),
            sm: ServerConfig::default(),
            store: StoreConfig::default(),
            trace: std::env::var_os("TETHER_TRACE").is_some(),
        }
    }
}

impl TestServerConfig {
    /// Adds an account.
    #[must_use]
    pub fn account(mut self, user: &str, password: &str) -> Self {
        self.accounts.push((user.to_owned(), password.to_owned()));
        self
    }
}

/// Something the server did, logged in order for tests to assert on.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A client authenticated.
    Authenticated {
        /// Connection number.
        conn: u64,
        /// The account.
        jid: BareJid,
    },
    /// A resource was bound.
    Bound {
        /// Connection number.
        conn: u64,
        /// The full JID.
        jid: FullJid,
    },
    /// Stream management was enabled.
    Enabled {
        /// Connection number.
        conn: u64,
        /// The SM-ID when resumable.
        id: Option<SmId>,
    },
    /// A stream was resumed.
    Resumed {
        /// Connection number.
        conn: u64,
        /// The full JID restored.
        jid: Option<FullJid>,
        /// How many stanzas were retransmitted.
        retransmitted: usize,
    },
    /// A resume request was refused.
    ResumeRefused {
        /// Connection number.
        conn: u64,
        /// The `h` sent with `<failed/>`.
        h: Option<u32>,
    },
    /// A stanza was routed to a live stream.
    Routed {
        /// Sender.
        from: FullJid,
        /// Destination as addressed.
        to: String,
    },
    /// A stanza was queued in a hibernated session.
    Queued {
        /// The session's owner.
        to: BareJid,
    },
    /// A connection's stream was hibernated after the connection was lost.
    Hibernated {
        /// Connection number.
        conn: u64,
        /// The SM-ID.
        id: SmId,
        /// Stanzas waiting in it.
        unacked: usize,
    },
    /// An open stream was taken over by a resumption (it got `conflict`).
    TakenOver {
        /// Connection number of the old stream.
        conn: u64,
    },
    /// The state machine reported a peer error; `answer` is what was written.
    PeerError {
        /// Connection number.
        conn: u64,
        /// The error, as text.
        error: String,
        /// The answer written (serialised), if any.
        answer: Option<String>,
    },
    /// Stanzas were handed back by a stream or the store.
    HandedBack {
        /// Connection number (0 for the store).
        conn: u64,
        /// Why.
        reason: Option<HandBackReason>,
        /// How many.
        count: usize,
    },
    /// A connection ended (cleanly or not).
    Closed {
        /// Connection number.
        conn: u64,
        /// Why, in words.
        why: String,
    },
}

/// Commands a connection thread serves between reads.
#[derive(Debug)]
enum Command {
    /// Send this stanza to the client (through the stream's `xmpp_sm::Server`).
    Deliver(Element),
    /// Shut the socket down in both directions: a network loss.
    Cut,
    /// Stop reading from the socket (commands are still served): whatever the client writes
    /// from now on stays unread, and is lost if the connection is then cut. Answered on the
    /// channel once no more reads will happen.
    Pause(Sender<()>),
    /// Another stream resumes this one's session (XEP-0198 §5): detach the session into the
    /// store (hibernated, so the new stream can claim it), write `conflict`, close, and
    /// answer on the channel.
    TakeOver(Sender<()>),
}

/// A live, bound stream the router can reach.
#[derive(Debug)]
struct Live {
    conn: u64,
    tx: Sender<Command>,
    sm_id: Option<SmId>,
}

/// State shared by all threads, behind one lock.
#[derive(Debug)]
struct Hub {
    accounts: HashMap<String, String>,
    live: HashMap<FullJid, Live>,
    store: SessionStore,
    /// Owner of each hibernated session, by SM-ID (the store does not list them by owner).
    hibernated: HashMap<SmId, BareJid>,
    rng: ChaCha20Rng,
    log: Vec<ServerEvent>,
    undeliverable: Vec<Element>,
    next_conn: u64,
}

#[derive(Debug)]
struct Shared {
    hub: Mutex<Hub>,
    changed: Condvar,
    stop: AtomicBool,
    config: TestServerConfig,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Hub> {
        // A panicking connection thread must not take the whole test server down with it.
        self.hub.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn log(&self, hub: &mut Hub, event: ServerEvent) {
        if self.config.trace {
            eprintln!("[server] {event:?}");
        }
        hub.log.push(event);
        self.changed.notify_all();
    }
}

/// The running server. Dropping it stops every thread.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<Vec<JoinHandle<()>>>>,
}

impl TestServer {
    /// Binds 127.0.0.1:0 and starts accepting.
    pub fn start(config: TestServerConfig) -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let seed = system_now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let hub = Hub {
            accounts: config.accounts.iter().cloned().collect(),
            live: HashMap::new(),
            store: SessionStore::new(config.store.clone()),
            hibernated: HashMap::new(),
            rng: ChaCha20Rng::seed_from_u64(seed),
            log: Vec::new(),
            undeliverable: Vec::new(),
            next_conn: 1,
        };
        let shared = Arc::new(Shared {
            hub: Mutex::new(hub),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            config,
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("testkit-accept".into())
                .spawn(move || accept_loop(&listener, &shared))?
        };
        Ok(Self {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The address clients connect to.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The domain served.
    #[must_use]
    pub fn domain(&self) -> &str {
        &self.shared.config.domain
    }

    /// Everything logged so far.
    #[must_use]
    pub fn log(&self) -> Vec<ServerEvent> {
        self.shared.lock().log.clone()
    }

    /// Stanzas that could not be delivered and were not queued anywhere (no live or
    /// hibernated stream, or handed back by a machine).
    #[must_use]
    pub fn undeliverable(&self) -> Vec<Element> {
        self.shared.lock().undeliverable.clone()
    }

    /// How many sessions are hibernated.
    #[must_use]
    pub fn hibernated(&self) -> usize {
        self.shared.lock().store.hibernated()
    }

    /// Waits until `pred` holds for the log, at most `timeout`; returns the log on success
    /// and `Err(log)` on timeout.
    pub fn wait_for(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&[ServerEvent]) -> bool,
    ) -> Result<Vec<ServerEvent>, Vec<ServerEvent>> {
        let deadline = deadline_in(timeout);
        let mut hub = self.shared.lock();
        loop {
            if pred(&hub.log) {
                return Ok(hub.log.clone());
            }
            let Some(left) = remaining(deadline) else {
                return Err(hub.log.clone());
            };
            hub = self
                .shared
                .changed
                .wait_timeout(hub, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Cuts every live stream of `account` (a network loss, seen from the server); returns
    /// how many. Stanzas routed to it before the cut are written before the socket closes.
    pub fn cut(&self, account: &BareJid) -> usize {
        let hub = self.shared.lock();
        hub.live
            .iter()
            .filter(|(jid, _)| jid.to_bare() == *account)
            .filter(|(_, live)| live.tx.send(Command::Cut).is_ok())
            .count()
    }

    /// Stops reading from every live stream of `account` (stanzas are still delivered to
    /// it); returns how many. Followed by [`Self::cut`], whatever the client wrote meanwhile
    /// is lost in transit, so the client must retransmit it after resuming.
    ///
    /// Returns once every such stream has stopped reading (each answers within a few ms).
    pub fn pause(&self, account: &BareJid) -> usize {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let asked = {
            let hub = self.shared.lock();
            hub.live
                .iter()
                .filter(|(jid, _)| jid.to_bare() == *account)
                .filter(|(_, live)| live.tx.send(Command::Pause(done_tx.clone())).is_ok())
                .count()
        };
        (0..asked)
            .filter(|_| done_rx.recv_timeout(Duration::from_secs(5)).is_ok())
            .count()
    }

    /// The full JIDs bound live now.
    #[must_use]
    pub fn live(&self) -> Vec<FullJid> {
        self.shared.lock().live.keys().cloned().collect()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            // Every thread polls `stop` at least every POLL, so these joins are bounded.
            if let Ok(conns) = acceptor.join() {
                for c in conns {
                    let _ = c.join();
                }
            }
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) -> Vec<JoinHandle<()>> {
    let mut threads = Vec::new();
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((socket, _)) => {
                let id = {
                    let mut hub = shared.lock();
                    hub.next_conn += 1;
                    hub.next_conn - 1
                };
                let shared = Arc::clone(shared);
                let spawned = thread::Builder::new()
                    .name(format!("testkit-conn-{id}"))
                    .spawn(move || conn::run(id, socket, &shared));
                if let Ok(handle) = spawned {
                    threads.push(handle);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(POLL),
            Err(_) => thread::sleep(POLL),
        }
        expire_sessions(shared);
    }
    threads
}

/// Fires the store's hibernation timers; expired sessions' stanzas become undeliverable.
fn expire_sessions(shared: &Shared) {
    let mut hub = shared.lock();
    hub.store.handle_timeout(system_now());
    while let Some(event) = hub.store.poll_event() {
        if let StoreEvent::Expired { id, stanzas, .. } = event {
            hub.hibernated.remove(&id);
            let count = stanzas.len();
            hub.undeliverable
                .extend(stanzas.into_iter().map(|u| u.stanza));
            let log = ServerEvent::HandedBack {
                conn: 0,
                reason: Some(HandBackReason::Expired),
                count,
            };
            shared.log(&mut hub, log);
        }
    }
}

/// Routes a stanza from `from` by its `to`: to every live stream of a bare JID (or the one
/// full JID), else into a hibernated session of that account, else to `undeliverable`.
/// Runs under the hub lock, so a stream cannot go away between the lookup and the send.
fn route(shared: &Shared, hub: &mut Hub, from: &FullJid, to: &str, stanza: Element) {
    let targets: Vec<FullJid> = match (FullJid::new(to), BareJid::new(to)) {
        (Ok(full), _) if hub.live.contains_key(&full) => vec![full],
        (Ok(full), _) => hub
            .live
            .keys()
            .filter(|j| j.to_bare() == full.to_bare())
            .cloned()
            .collect(),
        (_, Ok(bare)) => hub
            .live
            .keys()
            .filter(|j| j.to_bare() == bare)
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    let mut delivered = false;
    for target in targets {
        if let Some(live) = hub.live.get(&target)
            && live.tx.send(Command::Deliver(stanza.clone())).is_ok()
        {
            delivered = true;
        }
    }
    if delivered {
        let log = ServerEvent::Routed {
            from: from.clone(),
            to: to.to_owned(),
        };
        shared.log(hub, log);
        return;
    }
    let owner = FullJid::new(to)
        .map(|f| f.to_bare())
        .or_else(|_| BareJid::new(to));
    let session = owner.as_ref().ok().and_then(|owner| {
        hub.hibernated
            .iter()
            .find(|(_, o)| *o == owner)
            .map(|(id, _)| id.clone())
    });
    if let (Some(id), Ok(owner)) = (session, owner) {
        match hub.store.push(system_now(), &id, stanza) {
            Ok(()) => shared.log(hub, ServerEvent::Queued { to: owner }),
            Err(xmpp_sm::StoreError::UnknownSession { stanza, .. }) => {
                hub.undeliverable.push(*stanza);
            }
            Err(xmpp_sm::StoreError::QueueFull(full)) => hub.undeliverable.push(*full.stanza),
            Err(e) => eprintln!("[server] the store refused a stanza and kept it: {e}"),
        }
        return;
    }
    hub.undeliverable.push(stanza);
}
