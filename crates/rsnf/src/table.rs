//! [`ResourceTable`]: an account's resources kept in the dense form the fan-out reads, so that
//! a notification costs a decision per distinct caps set and a table lookup per resource.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

use jid::FullJid;

use crate::caps::CapsEvent;
use crate::fanout::Resource;
use crate::info::CapsState;
use crate::notification::Notification;
use crate::policy::Policy;

/// The resources a fan-out decides over (an account's, or any set you fan out to together),
/// kept by the library in the form the decision reads: per resource one word packing its
/// availability, the sign of its priority and the index of its caps set among the distinct
/// ones held. [`recipients`](Self::recipients) then decides once per distinct caps set and
/// walks that dense array, which is what makes it cheap (a few nanoseconds per resource,
/// however many nodes the caps name; see the crate README's Performance section).
///
/// Keep it up to date as presence and caps change, keyed by what you route by (`K`: a
/// `FullJid`, a session id), and it hands back `&K` for each resource that gets a
/// notification:
///
/// - a resource's available presence: [`insert`](Self::insert) (or
///   [`set_presence`](Self::set_presence) when only the priority changed), with the
///   [`CapsState`] [`CapsCache::handle_caps`](crate::CapsCache::handle_caps) returned;
/// - the cache's [`CapsEvent`]s: [`apply`](Self::apply) (tables keyed by `FullJid`) or
///   [`set_caps`](Self::set_caps);
/// - unavailable presence, or the stream closed: [`remove`](Self::remove).
///
/// It decides exactly as [`Policy::recipients`] over the same resources, in table order:
/// the order of insertion, except that [`remove`](Self::remove) moves the last resource into
/// the hole. Caps sets are told apart by the shared [`CapsInfo`](crate::CapsInfo) value (the
/// cache hands every resource with the same verified caps the same one); each is held while
/// a resource refers to it and released with the last. The table holds only what you insert:
/// one entry per resource, and at most one caps set per resource.
///
/// ```
/// use xmpp_rsnf::{CapsInfo, CapsState, EventKind, Notification, Policy, Resource, ResourceTable};
///
/// let phone = CapsState::Known(CapsInfo::from_features(["urn:example:n+notify"]));
/// let desk = CapsState::Known(CapsInfo::from_features(["urn:example:other+notify"]));
/// let mut table = ResourceTable::new();
/// table.insert(Resource::new("juliet@example.com/phone", &phone));
/// table.insert(Resource::new("juliet@example.com/desk", &desk));
/// table.insert(Resource::new("juliet@example.com/away", &phone).with_priority(-1));
///
/// let n = Notification::new("urn:example:n", EventKind::Publish);
/// let to: Vec<_> = table.recipients(&Policy::default(), &n).collect();
/// assert_eq!(to, [&"juliet@example.com/phone"]);
///
/// // The desk's caps now name the node too; the phone goes away.
/// table.set_caps(&"juliet@example.com/desk", phone.clone());
/// table.remove(&"juliet@example.com/phone");
/// let to: Vec<_> = table.recipients(&Policy::default(), &n).collect();
/// assert_eq!(to, [&"juliet@example.com/desk"]);
/// assert_eq!(table.caps_sets(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct ResourceTable<K> {
    /// Per resource, in table order, its key.
    keys: Vec<K>,
    /// Per resource: `set << 2 | available << 1 | (priority >= 0)`, the index into the
    /// per-notification decisions. It cannot overflow: a `Vec<usize>` holds fewer than
    /// `usize::MAX / 8` elements, and there are at most two sets more than resources.
    classes: Vec<usize>,
    /// Per resource, its priority (for [`ResourceTable::get`]).
    priorities: Vec<i8>,
    /// Where each key is in the arrays above.
    index: HashMap<K, usize>,
    /// The caps sets by index: [`UNKNOWN`], [`RESOLVING`], then one per distinct `CapsInfo`.
    sets: Vec<Set>,
    /// The index of each held `CapsInfo`, by the address of its shared value.
    by_addr: HashMap<usize, usize>,
    /// Indexes of released sets, reused first.
    free: Vec<usize>,
}

/// One caps set and how many resources refer to it (for the two fixed sets, unused).
#[derive(Debug, Clone)]
struct Set {
    caps: CapsState,
    refs: usize,
}

/// The set index of [`CapsState::Unknown`].
const UNKNOWN: usize = 0;
/// The set index of [`CapsState::Resolving`].
const RESOLVING: usize = 1;
const AVAILABLE: usize = 0b10;
const NON_NEGATIVE: usize = 0b01;
const FLAGS: usize = 2;

impl<K> Default for ResourceTable<K> {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            classes: Vec::new(),
            priorities: Vec::new(),
            index: HashMap::new(),
            sets: vec![
                Set {
                    caps: CapsState::Unknown,
                    refs: 0,
                },
                Set {
                    caps: CapsState::Resolving,
                    refs: 0,
                },
            ],
            by_addr: HashMap::new(),
            free: Vec::new(),
        }
    }
}

impl<K> ResourceTable<K> {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// How many resources it holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether it holds no resource.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many distinct resolved caps sets its resources refer to: what a fan-out decides
    /// per notification (besides unknown caps).
    #[must_use]
    pub fn caps_sets(&self) -> usize {
        self.by_addr.len()
    }

    /// Every resource, in table order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Resource<'_, &K>> + '_ {
        self.keys
            .iter()
            .zip(&self.classes)
            .zip(&self.priorities)
            .map(|((key, &class), &priority)| self.resource(key, class, priority))
    }

    /// The keys of the resources that get `notification` under `policy`, in table order:
    /// the same as [`Policy::recipients`] over [`iter`](Self::iter), decided once per
    /// distinct caps set when this is called, then per resource by one lookup.
    ///
    /// Nothing is remembered between calls: each notification is decided afresh, so the
    /// table may change between two of them.
    pub fn recipients<'t>(
        &'t self,
        policy: &Policy,
        notification: &Notification,
    ) -> Recipients<'t, K> {
        let unresolved = policy.accepts_unresolved(notification);
        let mut decisions = Vec::with_capacity(self.sets.len() << FLAGS);
        for (at, set) in self.sets.iter().enumerate() {
            let accepts = match (at, &set.caps) {
                (UNKNOWN | RESOLVING, _) => unresolved,
                (_, CapsState::Known(info)) => policy.accepts_filter(info.filter(), notification),
                // A released slot: no resource refers to it.
                (_, CapsState::Unknown | CapsState::Resolving) => false,
            };
            // The four classes of this set, in the order of their flag bits. Eligibility reads
            // only availability and the sign of the priority (every `PriorityRule`), so 0 and
            // -1 stand for every priority of their sign.
            for flags in 0..1 << FLAGS {
                let available = flags & AVAILABLE != 0;
                let priority = if flags & NON_NEGATIVE != 0 { 0 } else { -1 };
                decisions.push(accepts && policy.is_eligible(available, priority));
            }
        }
        Recipients::new(decisions, &self.keys, &self.classes)
    }

    fn resource<'t>(&'t self, key: &'t K, class: usize, priority: i8) -> Resource<'t, &'t K> {
        let caps = self
            .sets
            .get(class >> FLAGS)
            .map_or(&CapsState::Unknown, |set| &set.caps);
        Resource::new(key, caps)
            .with_available(class & AVAILABLE != 0)
            .with_priority(priority)
    }

    /// The set index for `caps`, held once more.
    fn acquire(&mut self, caps: &CapsState) -> usize {
        let info = match caps {
            CapsState::Unknown => return UNKNOWN,
            CapsState::Resolving => return RESOLVING,
            CapsState::Known(info) => info,
        };
        if let Some(&at) = self.by_addr.get(&info.addr())
            && let Some(set) = self.sets.get_mut(at)
        {
            set.refs += 1;
            return at;
        }
        let set = Set {
            caps: caps.clone(),
            refs: 1,
        };
        let reused = self
            .free
            .pop()
            .and_then(|at| Some((at, self.sets.get_mut(at)?)));
        let at = match reused {
            Some((at, slot)) => {
                *slot = set;
                at
            }
            None => {
                self.sets.push(set);
                self.sets.len() - 1
            }
        };
        self.by_addr.insert(info.addr(), at);
        at
    }

    /// Drops one hold on set `at`, releasing it with the last.
    fn release(&mut self, at: usize) {
        if at == UNKNOWN || at == RESOLVING {
            return;
        }
        let Some(set) = self.sets.get_mut(at) else {
            return;
        };
        set.refs = set.refs.saturating_sub(1);
        if set.refs == 0 {
            if let CapsState::Known(info) = &set.caps {
                self.by_addr.remove(&info.addr());
            }
            // Keep the slot (the other indexes stay put), not the caps set.
            set.caps = CapsState::Unknown;
            self.free.push(at);
            // Released slots at the end go, so that a notification decides over no more
            // slots than the highest one in use.
            let before = self.sets.len();
            while self.sets.len() > RESOLVING + 1 && self.sets.last().is_some_and(|s| s.refs == 0) {
                self.sets.pop();
            }
            if self.sets.len() < before {
                let len = self.sets.len();
                self.free.retain(|&at| at < len);
            }
        }
    }
}

const fn flags(available: bool, priority: i8) -> usize {
    (if available { AVAILABLE } else { 0 }) | (if priority >= 0 { NON_NEGATIVE } else { 0 })
}

impl<K: Eq + Hash + Clone> ResourceTable<K> {
    /// Adds `resource` (its caps are cloned: a reference count), or replaces the resource
    /// with the same key. Returns whether the key is new.
    pub fn insert(&mut self, resource: Resource<'_, K>) -> bool {
        let set = self.acquire(resource.caps);
        let class = set << FLAGS | flags(resource.available, resource.priority);
        if let Some(&at) = self.index.get(&resource.key) {
            let old = std::mem::replace(&mut self.classes[at], class);
            self.priorities[at] = resource.priority;
            self.release(old >> FLAGS);
            return false;
        }
        self.index.insert(resource.key.clone(), self.keys.len());
        self.keys.push(resource.key);
        self.classes.push(class);
        self.priorities.push(resource.priority);
        true
    }

    /// Sets the availability and priority of the resource `key`; returns `false` (and does
    /// nothing) if the table does not hold it.
    pub fn set_presence<Q>(&mut self, key: &Q, available: bool, priority: i8) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(&at) = self.index.get(key) else {
            return false;
        };
        let set = self.classes[at] >> FLAGS;
        self.classes[at] = set << FLAGS | flags(available, priority);
        self.priorities[at] = priority;
        true
    }

    /// Sets the caps of the resource `key`; returns `false` (and does nothing) if the table
    /// does not hold it.
    pub fn set_caps<Q>(&mut self, key: &Q, caps: CapsState) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(&at) = self.index.get(key) else {
            return false;
        };
        let set = self.acquire(&caps);
        let old = self.classes[at];
        self.classes[at] = set << FLAGS | old & (AVAILABLE | NON_NEGATIVE);
        self.release(old >> FLAGS);
        true
    }

    /// Removes the resource `key`; returns whether the table held it. The last resource
    /// takes its place in table order.
    pub fn remove<Q>(&mut self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(at) = self.index.remove(key) else {
            return false;
        };
        self.keys.swap_remove(at);
        let class = self.classes.swap_remove(at);
        self.priorities.swap_remove(at);
        if let Some(moved) = self.keys.get(at) {
            self.index.insert(moved.clone(), at);
        }
        self.release(class >> FLAGS);
        true
    }

    /// Whether the table holds the resource `key`.
    #[must_use]
    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.index.contains_key(key)
    }

    /// The resource `key`, if the table holds it.
    #[must_use]
    pub fn get<Q>(&self, key: &Q) -> Option<Resource<'_, &K>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let &at = self.index.get(key)?;
        Some(self.resource(&self.keys[at], self.classes[at], self.priorities[at]))
    }
}

impl<K: Eq + Hash + Clone + Borrow<FullJid>> ResourceTable<K> {
    /// Applies a [`CapsCache`](crate::CapsCache) event to the resources it names that the
    /// table holds (bare JIDs are not resources, and are skipped); returns how many changed.
    /// `Resolved` and `ResolvedForOne` set [`CapsState::Known`], `Unresolved`
    /// [`CapsState::Unknown`]; the evictions change nothing.
    ///
    /// ```
    /// use jid::{FullJid, Jid};
    /// use xmpp_rsnf::{CapsEvent, CapsInfo, CapsState, Resource, ResourceTable};
    ///
    /// let phone = FullJid::new("juliet@example.com/phone")?;
    /// let mut table = ResourceTable::new();
    /// table.insert(Resource::new(phone.clone(), &CapsState::Resolving));
    /// let info = CapsInfo::from_features(["urn:example:n+notify"]);
    /// // What `cache.poll_event()` gives when the phone's caps query verifies:
    /// let event = CapsEvent::Resolved { jids: vec![Jid::from(phone.clone())], info: info.clone() };
    /// assert_eq!(table.apply(&event), 1);
    /// assert_eq!(table.get(&phone).map(|r| r.caps.clone()), Some(CapsState::Known(info)));
    /// # Ok::<(), jid::Error>(())
    /// ```
    pub fn apply(&mut self, event: &CapsEvent) -> usize {
        match event {
            CapsEvent::Resolved { jids, info } => jids
                .iter()
                .filter_map(|jid| jid.try_as_full().ok())
                .filter(|&full| self.set_caps(full, CapsState::Known(info.clone())))
                .count(),
            CapsEvent::ResolvedForOne { jid, info, .. } => jid.try_as_full().map_or(0, |full| {
                usize::from(self.set_caps(full, CapsState::Known(info.clone())))
            }),
            CapsEvent::Unresolved { jid, .. } => jid.try_as_full().map_or(0, |full| {
                usize::from(self.set_caps(full, CapsState::Unknown))
            }),
            CapsEvent::Evicted { .. } | CapsEvent::PerJidEvicted { .. } => 0,
        }
    }
}

/// The recipients of one notification, from [`ResourceTable::recipients`]: the keys of the
/// resources that get it, in table order. The decision per caps set is made when it is
/// created; iterating decides 64 resources at a time into a bit mask (one lookup each,
/// no branch), then hands back the keys of the bits set.
#[derive(Debug, Clone)]
#[must_use = "an iterator does nothing unless consumed"]
pub struct Recipients<'t, K> {
    /// Whether each class (`set << 2 | flags`) gets the notification.
    decisions: Vec<bool>,
    keys: &'t [K],
    /// The classes not decided yet, a word at a time.
    classes: std::slice::Chunks<'t, usize>,
    /// The index in `keys` of bit 0 of `mask`.
    base: usize,
    /// The index in `keys` of the next word's bit 0.
    next_base: usize,
    /// The current word's recipients not handed back yet.
    mask: u64,
}

/// How many resources [`Recipients`] decides at a time: the bits of its mask.
const WORD: usize = u64::BITS as usize;

impl<'t, K> Recipients<'t, K> {
    fn new(decisions: Vec<bool>, keys: &'t [K], classes: &'t [usize]) -> Self {
        Self {
            decisions,
            keys,
            classes: classes.chunks(WORD),
            base: 0,
            next_base: 0,
            mask: 0,
        }
    }
}

/// Which of `classes` (at most [`WORD`] of them) get it, as bits. Out of line, and away from
/// the iterator's state so that the caller's loop keeps that state in registers: once per
/// word, it keeps [`Iterator::next`] small enough to inline.
#[inline(never)]
fn decide_word(decisions: &[bool], classes: &[usize]) -> u64 {
    classes.iter().enumerate().fold(0, |mask, (bit, &class)| {
        // Every class has its decision (the table is borrowed while the iterator lives).
        let delivers = decisions.get(class).copied().unwrap_or(false);
        mask | u64::from(delivers) << bit
    })
}

impl<'t, K> Iterator for Recipients<'t, K> {
    type Item = &'t K;

    #[inline]
    fn next(&mut self) -> Option<&'t K> {
        while self.mask == 0 {
            let classes = self.classes.next()?;
            self.base = self.next_base;
            self.next_base += classes.len();
            self.mask = decide_word(&self.decisions, classes);
        }
        let bit = self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        self.keys.get(self.base + bit)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let pending = self.mask.count_ones() as usize;
        let undecided = self.keys.len().saturating_sub(self.next_base);
        (pending, Some(pending + undecided))
    }

    fn fold<B, F>(mut self, init: B, mut f: F) -> B
    where
        F: FnMut(B, &'t K) -> B,
    {
        let mut acc = init;
        loop {
            let mut mask = self.mask;
            while mask != 0 {
                let bit = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                if let Some(key) = self.keys.get(self.base + bit) {
                    acc = f(acc, key);
                }
            }
            let Some(classes) = self.classes.next() else {
                return acc;
            };
            self.base = self.next_base;
            self.next_base += classes.len();
            self.mask = decide_word(&self.decisions, classes);
        }
    }

    fn count(self) -> usize {
        let decisions = &self.decisions;
        self.mask.count_ones() as usize
            + self
                .classes
                .map(|classes| decide_word(decisions, classes).count_ones() as usize)
                .sum::<usize>()
    }
}

impl<K> std::iter::FusedIterator for Recipients<'_, K> {}

#[cfg(test)]
mod tests {
    use jid::Jid;

    use super::*;
    use crate::caps::CapsKey;
    use crate::error::QueryFailure;
    use crate::info::CapsInfo;
    use crate::notification::EventKind;

    fn known(features: &[&str]) -> CapsState {
        CapsState::Known(CapsInfo::from_features(features))
    }

    fn full(resource: usize) -> FullJid {
        FullJid::new(&format!("juliet@example.com/r{resource}")).expect("a full JID")
    }

    fn publish() -> Notification {
        Notification::new("n", EventKind::Publish)
    }

    fn to(table: &ResourceTable<usize>, policy: &Policy) -> Vec<usize> {
        table.recipients(policy, &publish()).copied().collect()
    }

    #[test]
    fn decides_like_policy_recipients_across_words() {
        let wants = known(&["n+notify"]);
        let other = known(&["m+notify"]);
        let mut table = ResourceTable::new();
        for i in 0..200 {
            let caps = match i % 4 {
                0 => &wants,
                1 => &other,
                2 => &CapsState::Resolving,
                _ => &CapsState::Unknown,
            };
            let priority = if i % 7 == 3 { -1 } else { 1 };
            assert!(table.insert(Resource::new(i, caps).with_priority(priority)));
        }
        // Every other word boundary crossed, unavailable ones included.
        for i in (0..200).step_by(9) {
            assert!(table.set_presence(&i, false, 0));
        }
        for policy in [
            Policy::default(),
            Policy::legacy(),
            Policy::default().with_unresolved(crate::UnresolvedCaps::Unfiltered),
        ] {
            let expected = policy.recipients(&publish(), table.iter());
            let ours: Vec<&usize> = table.recipients(&policy, &publish()).collect();
            assert_eq!(ours, expected, "{policy:?}");
            assert_eq!(table.recipients(&policy, &publish()).count(), ours.len());
            let folded = table
                .recipients(&policy, &publish())
                .fold(Vec::new(), |mut v, k| {
                    v.push(k);
                    v
                });
            assert_eq!(folded, ours);
        }
        assert_eq!(table.caps_sets(), 2);
    }

    #[test]
    fn caps_sets_are_held_while_referred_to_and_their_slots_reused() {
        let a = known(&["n+notify"]);
        let b = known(&["m+notify"]);
        let mut table = ResourceTable::new();
        table.insert(Resource::new(1, &a));
        table.insert(Resource::new(2, &a));
        table.insert(Resource::new(3, &b));
        assert_eq!(table.caps_sets(), 2);
        assert!(table.remove(&1));
        assert_eq!(table.caps_sets(), 2);
        assert!(table.set_caps(&2, b.clone()));
        assert_eq!(table.caps_sets(), 1, "a released with its last resource");
        assert_eq!(to(&table, &Policy::default()), Vec::<usize>::new());
        assert_eq!((table.sets.len(), table.free.as_slice()), (4, &[2][..]));
        // The released slot is reused, and decides for its new caps set.
        let c = known(&["n+notify", "x+notify"]);
        table.insert(Resource::new(4, &c));
        assert_eq!(table.sets.len(), 4, "unknown, resolving, b, c in a's slot");
        assert!(table.free.is_empty());
        assert_eq!(table.caps_sets(), 2);
        assert_eq!(to(&table, &Policy::default()), [4]);
        // The same caps content in another shared value is a set of its own.
        table.insert(Resource::new(5, &known(&["n+notify"])));
        assert_eq!(table.caps_sets(), 3);
        assert_eq!(to(&table, &Policy::default()), [4, 5]);
        for key in [2, 3, 4, 5] {
            assert!(table.remove(&key));
        }
        assert!(table.is_empty());
        assert_eq!(table.caps_sets(), 0);
        assert!(table.by_addr.is_empty());
        assert_eq!(table.sets.len(), 2, "released slots at the end go");
        assert!(table.free.is_empty());
        assert!(!table.remove(&5));
    }

    #[test]
    fn insert_replaces_remove_moves_the_last_and_unknown_keys_are_ignored() {
        let a = known(&["n+notify"]);
        let mut table = ResourceTable::new();
        for i in 0..4 {
            table.insert(Resource::new(i, &a));
        }
        assert!(!table.insert(Resource::new(1, &a).with_priority(-5)));
        assert_eq!(table.len(), 4);
        let one = table.get(&1).expect("held");
        assert_eq!((one.available, one.priority), (true, -5));
        assert_eq!(to(&table, &Policy::default()), [0, 2, 3]);
        assert!(table.remove(&0));
        assert_eq!(to(&table, &Policy::default()), [3, 2], "3 took 0's place");
        assert!(table.contains(&3) && !table.contains(&0));
        assert!(!table.set_presence(&9, true, 0));
        assert!(!table.set_caps(&9, a.clone()));
        assert!(table.get(&9).is_none());
        assert!(table.set_caps(&3, CapsState::Resolving));
        assert_eq!(
            table.get(&3).map(|r| r.caps.clone()),
            Some(CapsState::Resolving)
        );
        assert_eq!(table.iter().len(), 3);
    }

    #[test]
    fn apply_sets_the_caps_of_the_resources_named() {
        let info = CapsInfo::from_features(["n+notify"]);
        let mut table = ResourceTable::new();
        for i in 0..3 {
            table.insert(Resource::new(full(i), &CapsState::Resolving));
        }
        let bare: Jid = "juliet@example.com".parse().expect("a bare JID");
        let resolved = CapsEvent::Resolved {
            jids: vec![
                Jid::from(full(0)),
                bare,
                Jid::from(full(2)),
                Jid::from(full(7)),
            ],
            info: info.clone(),
        };
        assert_eq!(resolved.jids().len(), 4);
        assert_eq!(table.apply(&resolved), 2);
        let caps = |t: &ResourceTable<FullJid>, i| t.get(&full(i)).map(|r| r.caps.clone());
        assert_eq!(caps(&table, 0), Some(CapsState::Known(info.clone())));
        assert_eq!(caps(&table, 1), Some(CapsState::Resolving));
        let unresolved = CapsEvent::Unresolved {
            jid: Jid::from(full(1)),
            reason: QueryFailure::TimedOut,
        };
        assert_eq!(unresolved.jids(), [Jid::from(full(1))]);
        assert_eq!(table.apply(&unresolved), 1);
        assert_eq!(caps(&table, 1), Some(CapsState::Unknown));
        let evicted = CapsEvent::PerJidEvicted {
            jid: Jid::from(full(0)),
        };
        assert_eq!(table.apply(&evicted), 0);
        assert!(
            evicted.jids().is_empty(),
            "a per-JID eviction changes no caps"
        );
        let key = CapsKey::new(xmpp_parsers::hashes::Algo::Sha_1, &[0; 20]);
        assert_eq!(table.apply(&CapsEvent::Evicted { key }), 0);
        assert_eq!(caps(&table, 0), Some(CapsState::Known(info)));
        let to: Vec<&FullJid> = table.recipients(&Policy::default(), &publish()).collect();
        assert_eq!(to, [&full(0), &full(2)]);
    }
}
