//! The registry's tables: accounts with their registrations, notifications in flight, timers,
//! and the size indexes that find "the account holding the most" at a global bound.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use jid::{BareJid, Jid};
use xmpp_parsers::stanza_error::StanzaError;
use xmpp_push2_crypto::{AuthSecret, Claims, EcPublicKey, VapidKey};
use xmpp_tether_core::Monotonic;

use crate::elements::{Enable, Filter, MatchProfile, Notification};
use crate::stanza::RegistrationKey;

/// A timer's key: its deadline, then a sequence number that makes keys unique.
pub(crate) type TimerKey = (Monotonic, u64);

/// What a timer does when it fires. Every timer goes when what it serves goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Timer {
    /// The outcome window of a sent notification ended without an error.
    Silence(u64),
    /// A notification waiting after a `wait` error is due again.
    Retry(u64),
}

/// An account with registrations or notifications in flight (dropped when it has neither).
#[derive(Debug)]
pub(crate) struct Account {
    pub(crate) jid: Arc<BareJid>,
    /// Least recently enabled first.
    pub(crate) registrations: Vec<Registration>,
    /// Sequence numbers of pending notifications, oldest first.
    pub(crate) pending: BTreeSet<u64>,
    /// `registrations.len()` as the global size index knows it.
    pub(crate) indexed: usize,
    /// `pending.len()` as the global size index knows it.
    pub(crate) pending_indexed: usize,
}

impl Account {
    pub(crate) fn new(jid: BareJid) -> Self {
        Self {
            jid: Arc::new(jid),
            registrations: Vec::new(),
            pending: BTreeSet::new(),
            indexed: 0,
            pending_indexed: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.registrations.is_empty() && self.pending.is_empty()
    }

    pub(crate) fn position(&self, key: &RegistrationKey) -> Option<usize> {
        self.registrations.iter().position(|r| r.key == *key)
    }
}

/// One client's registration.
#[derive(Debug)]
pub(crate) struct Registration {
    pub(crate) key: RegistrationKey,
    /// Unique per registry, so notifications of a replaced registration are told apart.
    pub(crate) generation: u64,
    pub(crate) service: Jid,
    pub(crate) client: Arc<str>,
    pub(crate) matches: Vec<ActiveMatch>,
    /// The `<enable/>` as accepted (what a record stores).
    pub(crate) enable: Enable,
    pub(crate) enabled_at: SystemTime,
    /// The first failure since the last success.
    pub(crate) failing_since: Option<SystemTime>,
}

impl Registration {
    /// The VAPID public keys its matches sign with.
    pub(crate) fn vapid_keys(&self) -> impl Iterator<Item = EcPublicKey> + '_ {
        self.matches.iter().filter_map(|m| match &m.send {
            ActiveSend::WebPush(keys) => keys.vapid.as_ref().map(|(k, _)| *k.public_key()),
            ActiveSend::NotifyOnly => None,
        })
    }
}

/// A validated `<match/>`.
#[derive(Debug)]
pub(crate) struct ActiveMatch {
    pub(crate) profile: MatchProfile,
    pub(crate) grace: Option<Duration>,
    pub(crate) filters: Vec<Filter>,
    pub(crate) send: ActiveSend,
}

/// A validated send profile, keys parsed.
#[derive(Debug)]
pub(crate) enum ActiveSend {
    NotifyOnly,
    WebPush(Arc<WebPushKeys>),
}

/// The parsed keys of an encrypted send profile.
#[derive(Debug)]
pub(crate) struct WebPushKeys {
    pub(crate) ua_public: EcPublicKey,
    pub(crate) auth_secret: AuthSecret,
    pub(crate) vapid: Option<(VapidKey, Claims)>,
}

/// A notification sent and not yet settled, or waiting to be sent again.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) account: Arc<BareJid>,
    pub(crate) key: RegistrationKey,
    pub(crate) generation: u64,
    pub(crate) from: Jid,
    pub(crate) service: Jid,
    pub(crate) notification: Arc<Notification>,
    /// Sends so far.
    pub(crate) attempt: u32,
    pub(crate) first_sent: SystemTime,
    pub(crate) timer: TimerKey,
    /// Waiting for a retry (rather than for an outcome).
    pub(crate) waiting: bool,
    /// The last `wait` error.
    pub(crate) last_error: Option<StanzaError>,
}

/// Accounts by how many entries of one table they hold, to find the largest at a bound.
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

    #[cfg(any(test, feature = "__fuzzing"))]
    pub(crate) fn total(&self) -> usize {
        self.0.iter().map(|(n, _)| n).sum()
    }
}

/// Deadlines in order.
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
