//! What every connection task shares: accounts, the session store, rosters, presence,
//! offline messages, and the clocks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use rand_chacha::ChaCha20Rng;
use tokio::sync::mpsc;
use xmpp_tether::jid::{BareJid, FullJid};
use xmpp_tether::minidom::Element;
use xmpp_tether::sm::{SessionStore, StreamHandle};
use xmpp_tether::{Monotonic, Now};

use crate::accounts::Accounts;
use crate::component::Components;
use crate::offline::Offline;
use crate::roster::Rosters;

/// What a connection task is told from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// The session store has work for this stream (stanzas routed to it, a take-over): call
    /// `handle_wake`.
    Wake,
    /// The server is shutting down: hibernate and stop.
    Shutdown,
    /// Cluster mode: a `<resume/>` on another node takes this stream's session over.
    #[cfg(feature = "cluster")] // cluster
    TakeOver, // cluster
}

/// How the session store reaches a connection task (or the store's timer task).
#[derive(Debug, Clone)]
pub(crate) struct Handle(pub(crate) mpsc::UnboundedSender<Signal>);

// sm {
impl StreamHandle for Handle {
    fn wake(&self) {
        let _ = self.0.send(Signal::Wake);
    }
}
// sm }

pub(crate) struct Shared {
    pub(crate) domain: String,
    pub(crate) accounts: Arc<Accounts>,
    /// Every stream and resumable session (XEP-0198).
    pub(crate) sessions: SessionStore<Handle>,
    pub(crate) rosters: Mutex<Rosters>,
    pub(crate) components: Mutex<Components>,
    pub(crate) offline: Mutex<Offline>,
    /// Each available resource's last broadcast presence (RFC 6121 §4.2).
    pub(crate) presence: Mutex<HashMap<FullJid, Element>>,
    /// Every account's PEP service and the resources' caps (XEP-0163, XEP-0351).
    pub(crate) pep: crate::pep::Pep,
    /// Presence state annotations (XEP-0310).
    pub(crate) psa: crate::psa::Psa,
    /// Push registrations (XEP-0357, Push 2.0).
    pub(crate) push: crate::push::Push,
    /// Connection tasks, for the shutdown.
    pub(crate) conns: Mutex<HashMap<u64, mpsc::UnboundedSender<Signal>>>,
    pub(crate) rng: Mutex<ChaCha20Rng>,
    pub(crate) trace: bool,
    /// Cluster mode: this node's link to the Redis that holds hibernated sessions.
    #[cfg(feature = "cluster")] // cluster
    pub(crate) cluster: std::sync::OnceLock<crate::cluster::Cluster>, // cluster
    clock: Clock,
    next_conn: AtomicU64,
}

/// The server's two clocks; the monotonic one counts from when the server started.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    epoch: Instant,
}

impl Clock {
    #[expect(clippy::disallowed_methods, reason = "the server owns the clocks")]
    pub(crate) fn start() -> Self {
        Self {
            epoch: Instant::now(),
        }
    }

    /// Both clocks, read once (the libraries never read one).
    #[expect(clippy::disallowed_methods, reason = "the server owns the clocks")]
    pub(crate) fn now(self) -> Now {
        Now::new(
            Monotonic::from_instant(self.epoch, Instant::now()),
            SystemTime::now(),
        )
    }

    /// A monotonic deadline from a library, as a tokio instant.
    pub(crate) fn instant(self, deadline: Monotonic) -> tokio::time::Instant {
        let far = self.epoch + std::time::Duration::from_secs(86_400 * 365);
        deadline.to_instant(self.epoch).unwrap_or(far).into()
    }
}

impl Shared {
    pub(crate) fn new(
        clock: Clock,
        domain: String,
        accounts: Accounts,
        sessions: SessionStore<Handle>,
        mut rng: ChaCha20Rng,
        trace: bool,
    ) -> Self {
        Self {
            psa: crate::psa::Psa::new(&domain), // psa
            domain,
            accounts: Arc::new(accounts),
            sessions,
            rosters: Mutex::default(),
            components: Mutex::default(),
            offline: Mutex::default(),
            presence: Mutex::default(),
            pep: crate::pep::Pep::default(),
            push: crate::push::Push::new(&mut rng),
            conns: Mutex::default(),
            rng: Mutex::new(rng),
            trace,
            #[cfg(feature = "cluster")] // cluster
            cluster: std::sync::OnceLock::new(), // cluster
            clock,
            next_conn: AtomicU64::new(1),
        }
    }

    pub(crate) fn now(&self) -> Now {
        self.clock.now()
    }

    pub(crate) fn instant(&self, deadline: Monotonic) -> tokio::time::Instant {
        self.clock.instant(deadline)
    }

    pub(crate) fn conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn bare(&self, user: &str) -> Option<BareJid> {
        BareJid::new(&format!("{user}@{}", self.domain)).ok()
    }

    /// Whether `jid` is an account of this server.
    pub(crate) fn is_local(&self, jid: &BareJid) -> bool {
        jid.domain().as_str() == self.domain
            && jid
                .node()
                .is_some_and(|node| self.accounts.get(node.as_str()).is_some())
    }
}

/// Locks a mutex; a panic elsewhere while it was held leaves plain data behind, still usable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
