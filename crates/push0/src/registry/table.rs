//! The registry's tables: accounts with their registrations, publishes in flight, hibernating
//! sessions, timers, and the size indexes that find "the account holding the most" at a bound.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use jid::{BareJid, FullJid, Jid};
use xmpp_parsers::stanza_error::StanzaError;
use xmpp_tether_core::Monotonic;

use super::event::PushNode;
use super::transmit::{Body, Options};

/// A timer's key: its deadline, then a sequence number that makes keys unique.
pub(crate) type TimerKey = (Monotonic, u64);

/// What a timer does when it fires. Every timer is removed when what it serves goes away, so
/// the table never outgrows the entries it serves.
#[derive(Debug, Clone)]
pub(crate) enum Timer {
    /// A publish in flight went unanswered.
    Response(u64),
    /// A publish waiting after a `wait` error or a timeout is due again.
    Retry(u64),
    /// A suspended registration is due to be re-enabled.
    Reenable(Arc<BareJid>, Arc<PushNode>),
}

/// An account that has registrations, publishes in flight or hibernating sessions (it is
/// dropped when it has none of these).
#[derive(Debug)]
pub(crate) struct Account {
    pub(crate) jid: Arc<BareJid>,
    /// Oldest enabled first.
    pub(crate) registrations: Vec<Registration>,
    /// Messages pushed since the user was last online.
    pub(crate) messages: u32,
    /// Subscription requests pushed since the user was last online.
    pub(crate) subscriptions: u32,
    /// Sequence numbers of pending publishes (oldest first).
    pub(crate) pending: BTreeSet<u64>,
    /// The size of `pending` as the global size index knows it (refreshed once per call).
    pub(crate) pending_indexed: usize,
    /// Hibernating sessions with an extended lifetime, oldest first.
    pub(crate) hibernating: Vec<FullJid>,
}

impl Account {
    pub(crate) fn new(jid: BareJid) -> Self {
        Self {
            jid: Arc::new(jid),
            registrations: Vec::new(),
            messages: 0,
            subscriptions: 0,
            pending: BTreeSet::new(),
            pending_indexed: 0,
            hibernating: Vec::new(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.registrations.is_empty() && self.pending.is_empty() && self.hibernating.is_empty()
    }

    pub(crate) fn position(&self, node: &PushNode) -> Option<usize> {
        self.registrations.iter().position(|r| *r.node == *node)
    }

    /// Whether `session` enabled a registration that is active.
    pub(crate) fn has_active_from(&self, session: &FullJid) -> bool {
        self.registrations
            .iter()
            .any(|r| r.suspended.is_none() && r.enabled_by.as_ref() == Some(session))
    }
}

/// One (service, node) pair of an account.
#[derive(Debug)]
pub(crate) struct Registration {
    pub(crate) node: Arc<PushNode>,
    pub(crate) options: Option<Arc<Options>>,
    pub(crate) enabled_at: SystemTime,
    pub(crate) enabled_by: Option<FullJid>,
    /// Errors in a row whose type is not `wait`.
    pub(crate) errors: u32,
    /// Set while disabled by errors and waiting for its retry.
    pub(crate) suspended: Option<Suspension>,
}

/// A registration disabled by errors, kept for a retry.
#[derive(Debug)]
pub(crate) struct Suspension {
    pub(crate) since: SystemTime,
    pub(crate) retry_at: SystemTime,
    pub(crate) timer: TimerKey,
}

/// A publish sent and not yet answered, or waiting to be sent again.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) account: Arc<BareJid>,
    pub(crate) node: Arc<PushNode>,
    pub(crate) from: Arc<Jid>,
    pub(crate) body: Arc<Body>,
    pub(crate) options: Option<Arc<Options>>,
    /// Sends so far.
    pub(crate) attempt: u32,
    pub(crate) first_sent: SystemTime,
    pub(crate) timer: TimerKey,
    /// Waiting for a retry (rather than for an answer).
    pub(crate) waiting: bool,
    /// The last `wait` error, if the last attempt got one (boxed: rare, and large next to
    /// the rest of the entry).
    pub(crate) last_wait: Option<Box<StanzaError>>,
}

/// A hibernating session whose lifetime is extended until its first push.
#[derive(Debug, Clone)]
pub(crate) struct Hibernating {
    pub(crate) since: SystemTime,
    pub(crate) timeout: Duration,
}

/// Accounts by how many entries of one table they hold, to find the largest at a global bound.
#[derive(Debug, Default)]
pub(crate) struct SizeIndex(BTreeSet<(usize, Arc<BareJid>)>);

impl SizeIndex {
    pub(crate) fn update(&mut self, account: &Arc<BareJid>, old: usize, new: usize) {
        if old == new {
            return;
        }
        if old > 0 {
            self.0.remove(&(old, Arc::clone(account)));
        }
        if new > 0 {
            self.0.insert((new, Arc::clone(account)));
        }
    }

    /// The account holding the most entries.
    pub(crate) fn largest(&self) -> Option<Arc<BareJid>> {
        self.0.last().map(|(_, a)| Arc::clone(a))
    }
}

/// The timer wheel: deadlines in order.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    map: BTreeMap<TimerKey, Timer>,
    seq: u64,
}

impl Timers {
    pub(crate) fn arm(&mut self, at: Monotonic, timer: Timer) -> TimerKey {
        self.seq += 1;
        let key = (at, self.seq);
        self.map.insert(key, timer);
        key
    }

    pub(crate) fn disarm(&mut self, key: TimerKey) {
        self.map.remove(&key);
    }

    pub(crate) fn next(&self) -> Option<Monotonic> {
        self.map.first_key_value().map(|((at, _), _)| *at)
    }

    /// Removes and returns the first timer due at `now`.
    pub(crate) fn pop_due(&mut self, now: Monotonic) -> Option<Timer> {
        let (&(at, _), _) = self.map.first_key_value()?;
        if at > now {
            return None;
        }
        self.map.pop_first().map(|(_, t)| t)
    }

    #[cfg(any(test, feature = "__fuzzing"))]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}
