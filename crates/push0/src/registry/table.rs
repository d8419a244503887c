//! The registry's tables: accounts with their registrations, publishes in flight, hibernating
//! sessions, timers, and the size indexes that find "the account holding the most" at a bound.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use jid::{BareJid, FullJid, Jid};
use xmpp_parsers::stanza_error::StanzaError;
use xmpp_tether_core::Monotonic;

use super::event::PushNode;
use super::transmit::{Batch, Options};

/// A timer's key: its deadline, then a sequence number that makes keys unique.
pub(crate) type TimerKey = (Monotonic, u64);

/// What a timer does when it fires. Every timer is removed when what it serves goes away, so
/// the table never outgrows the entries it serves. (Publishes in flight wait for their
/// answers in [`Responses`] instead.)
#[derive(Debug, Clone)]
pub(crate) enum Timer {
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
    /// The `from` of its publishes (fixed by the configuration), made once.
    pub(crate) publish_from: Arc<Jid>,
    /// Oldest enabled first.
    pub(crate) registrations: Vec<Registration>,
    /// Messages pushed since the user was last online.
    pub(crate) messages: u32,
    /// Subscription requests pushed since the user was last online.
    pub(crate) subscriptions: u32,
    /// Sequence numbers of pending publishes, ascending (oldest first): a new publish always
    /// has the highest.
    pub(crate) pending: VecDeque<u64>,
    /// The size of `pending` as the global size index knows it (refreshed once per call).
    pub(crate) pending_indexed: usize,
    /// Hibernating sessions with an extended lifetime, oldest first.
    pub(crate) hibernating: Vec<FullJid>,
}

impl Account {
    pub(crate) fn new(jid: BareJid, publish_from: Jid) -> Self {
        Self {
            jid: Arc::new(jid),
            publish_from: Arc::new(publish_from),
            registrations: Vec::new(),
            messages: 0,
            subscriptions: 0,
            pending: VecDeque::new(),
            pending_indexed: 0,
            hibernating: Vec::new(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.registrations.is_empty() && self.pending.is_empty() && self.hibernating.is_empty()
    }

    /// Forgets pending publish `seq`.
    pub(crate) fn unpend(&mut self, seq: u64) {
        if let Ok(i) = self.pending.binary_search(&seq) {
            self.pending.remove(i);
        }
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
    /// The account, the `from` and the notification, shared with the other publishes of the
    /// same notification.
    pub(crate) batch: Arc<Batch>,
    pub(crate) node: Arc<PushNode>,
    pub(crate) options: Option<Arc<Options>>,
    /// Sends so far.
    pub(crate) attempt: u32,
    pub(crate) first_sent: SystemTime,
    /// The retry timer while `waiting`; in flight, the deadline is in [`Responses`].
    pub(crate) timer: Option<TimerKey>,
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

/// Pending publishes by sequence number. The keys are the registry's own counter (answers
/// only look keys up, never add one), so a multiplicative hash spreads them well and there
/// is nothing for a peer to collide: SipHash's protection would only cost time here.
pub(crate) type SeqMap<V> = HashMap<u64, V, BuildHasherDefault<SeqHasher>>;

/// The hasher of [`SeqMap`]: a `u64` key times an odd constant (Fibonacci hashing), so both
/// the low bits (the bucket) and the high bits (the tag) vary from one sequence number to
/// the next.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SeqHasher(u64);

impl Hasher for SeqHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not taken for `u64` keys; any other input is folded in a byte at a time.
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// One send of a publish waiting for its answer until `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) at: Monotonic,
    pub(crate) seq: u64,
    pub(crate) attempt: u32,
}

/// The answer deadlines of publishes in flight, in the order they were sent. Every send waits
/// the same `response_timeout`, so the order of sends is the order of deadlines: arming one is
/// a push at the back, and nothing is removed when an answer comes — an entry whose send is
/// no longer in flight is stale, dropped when it reaches the front
/// ([`Registry`](crate::Registry) prunes after every change) or by a compaction when stale
/// entries outnumber the publishes in flight, so the queue stays within twice the pending
/// table (plus [`Responses::SLACK`]).
#[derive(Debug, Default)]
pub(crate) struct Responses {
    queue: VecDeque<Response>,
}

impl Responses {
    /// Stale entries tolerated beyond the pending count before a compaction.
    pub(crate) const SLACK: usize = 16;

    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            queue: VecDeque::with_capacity(n),
        }
    }

    /// Arms a deadline. One earlier than the last armed (a clock that went back) is moved to
    /// it, so the queue stays in order: it fires late, never early.
    pub(crate) fn arm(&mut self, at: Monotonic, seq: u64, attempt: u32) {
        let at = self.queue.back().map_or(at, |last| at.max(last.at));
        self.queue.push_back(Response { at, seq, attempt });
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Monotonic> {
        self.queue.front().map(|r| r.at)
    }

    /// Removes and returns the first entry due at `now`, stale or not.
    pub(crate) fn pop_due(&mut self, now: Monotonic) -> Option<Response> {
        if self.queue.front()?.at > now {
            return None;
        }
        self.queue.pop_front()
    }

    /// Drops stale entries from the front, and compacts when stale ones outnumber the live
    /// (`live` entries are in flight: `in_flight` of them).
    pub(crate) fn prune(&mut self, in_flight: usize, live: impl Fn(&Response) -> bool) {
        while self.queue.front().is_some_and(|r| !live(r)) {
            self.queue.pop_front();
        }
        if self.queue.len() > 2 * in_flight + Self::SLACK {
            self.queue.retain(|r| live(r));
        }
    }

    #[cfg(any(test, feature = "__fuzzing"))]
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    #[cfg(any(test, feature = "__fuzzing"))]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Response> {
        self.queue.iter()
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    fn at(secs: u64) -> Monotonic {
        Monotonic::from_epoch(Duration::from_secs(secs))
    }

    #[test]
    fn responses_fire_in_send_order_and_never_early() {
        let mut r = Responses::default();
        r.arm(at(60), 1, 1);
        r.arm(at(70), 2, 1);
        // A clock that went back: the deadline moves to the last one, so it fires late.
        r.arm(at(65), 3, 1);
        assert_eq!(r.next(), Some(at(60)));
        assert_eq!(r.pop_due(at(59)), None);
        assert_eq!(r.pop_due(at(60)).map(|e| e.seq), Some(1));
        assert_eq!(r.pop_due(at(69)), None);
        let due: Vec<(u64, Monotonic)> =
            std::iter::from_fn(|| r.pop_due(at(70)).map(|e| (e.seq, e.at))).collect();
        assert_eq!(due, [(2, at(70)), (3, at(70))]);
        assert_eq!(r.next(), None);
    }

    #[test]
    fn pruning_drops_stale_entries_in_front_and_compacts_behind() {
        let mut r = Responses::default();
        for seq in 0..100 {
            r.arm(at(60 + seq), seq, 1);
        }
        // Only 0 and 50 are still in flight: the front is live, nothing to drop yet, but the
        // stale ones outnumber the live: compacted.
        let live = |e: &Response| e.seq == 0 || e.seq == 50;
        r.prune(2, live);
        assert_eq!(r.iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 50]);
        // 0 answered: the front is dropped, so the next deadline is exact.
        r.prune(1, |e| e.seq == 50);
        assert_eq!(r.next(), Some(at(110)));
        // A few stale entries behind a live front are tolerated (compacting is amortised).
        for seq in 100..110 {
            r.arm(at(200), seq, 1);
        }
        r.prune(1, |e| e.seq == 50);
        assert_eq!(r.len(), 11);
    }

    #[test]
    fn sequence_numbers_spread_over_buckets_and_tags() {
        let hasher = BuildHasherDefault::<SeqHasher>::default();
        let hashes: Vec<u64> = (1..=4096u64).map(|seq| hasher.hash_one(seq)).collect();
        // The low bits choose the bucket, the top 7 the tag: both vary.
        let buckets: BTreeSet<u64> = hashes.iter().map(|h| h & 4095).collect();
        let tags: BTreeSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert!(buckets.len() > 2048, "{} buckets", buckets.len());
        assert_eq!(tags.len(), 128);
        let mut map: SeqMap<u64> = SeqMap::default();
        map.extend((1..=4096).map(|seq| (seq, seq * 2)));
        assert!((1..=4096).all(|seq| map.get(&seq) == Some(&(seq * 2))));
    }
}
