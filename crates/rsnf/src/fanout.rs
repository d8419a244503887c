//! The fan-out: which of an account's resources get one notification, deciding once per
//! distinct caps set.

use crate::info::CapsState;
use crate::notification::Notification;
use crate::policy::Policy;

/// One resource of an account, as the fan-out needs it. `key` is whatever the caller routes
/// by (a `&FullJid`, a session handle); it comes back for each resource that gets the
/// notification.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Resource<'a, K> {
    /// What [`Policy::recipients`] hands back.
    pub key: K,
    /// Whether the resource has sent available presence (and not unavailable since).
    pub available: bool,
    /// Its presence priority (RFC 6121 §4.7.2.3).
    pub priority: i8,
    /// Its caps.
    pub caps: &'a CapsState,
}

impl<'a, K> Resource<'a, K> {
    /// An available resource with priority 0.
    #[must_use]
    pub const fn new(key: K, caps: &'a CapsState) -> Self {
        Self {
            key,
            available: true,
            priority: 0,
            caps,
        }
    }

    /// This resource with another priority.
    #[must_use]
    pub const fn with_priority(mut self, priority: i8) -> Self {
        self.priority = priority;
        self
    }

    /// This resource, available or not.
    #[must_use]
    pub const fn with_available(mut self, available: bool) -> Self {
        self.available = available;
        self
    }
}

impl Policy {
    /// The keys of the resources that get `notification`, in the order given. A server that
    /// keeps its resources in a [`ResourceTable`](crate::ResourceTable) gets the same decision
    /// from [`ResourceTable::recipients`](crate::ResourceTable::recipients), at about a third
    /// of the cost per resource.
    ///
    /// ```
    /// use xmpp_rsnf::{CapsInfo, CapsState, EventKind, Notification, Policy, Resource};
    ///
    /// let phone = CapsState::Known(CapsInfo::from_features(["urn:example:n+notify"]));
    /// let desk = CapsState::Known(CapsInfo::from_features(["urn:example:other+notify"]));
    /// let n = Notification::new("urn:example:n", EventKind::Publish);
    /// let to = Policy::default().recipients(&n, [
    ///     Resource::new("juliet@example.com/phone", &phone),
    ///     Resource::new("juliet@example.com/desk", &desk),
    ///     Resource::new("juliet@example.com/away", &phone).with_priority(-1),
    /// ]);
    /// assert_eq!(to, ["juliet@example.com/phone"]);
    /// ```
    pub fn recipients<'c, K, I>(&self, notification: &Notification, resources: I) -> Vec<K>
    where
        I: IntoIterator<Item = Resource<'c, K>>,
    {
        let mut fan_out = FanOut::new(self, notification);
        let resources = resources.into_iter();
        // Room for every resource up front: most of an account's resources usually get it.
        let mut to = Vec::with_capacity(resources.size_hint().0);
        for r in resources {
            if fan_out.delivers(r.available, r.priority, r.caps) {
                to.push(r.key);
            }
        }
        to
    }
}

/// One notification's fan-out, resource by resource, for callers that walk their own session
/// table. The decision for each distinct [`CapsInfo`](crate::CapsInfo) is made once and then
/// looked up, so the cost per resource stays a few nanoseconds however many nodes its caps
/// name. [`Policy::recipients`] wraps it; [`ResourceTable`](crate::ResourceTable) is the
/// faster path when the library may keep the resources.
#[derive(Debug)]
pub struct FanOut<'a> {
    policy: &'a Policy,
    notification: &'a Notification,
    unresolved: bool,
    memo: Memo,
}

impl<'a> FanOut<'a> {
    /// Starts a fan-out of `notification` under `policy`.
    #[must_use]
    pub fn new(policy: &'a Policy, notification: &'a Notification) -> Self {
        Self {
            policy,
            notification,
            unresolved: policy.accepts_unresolved(notification),
            memo: Memo::default(),
        }
    }

    /// Whether a resource with this availability, priority and caps gets the notification.
    pub fn delivers(&mut self, available: bool, priority: i8, caps: &CapsState) -> bool {
        if !self.policy.is_eligible(available, priority) {
            return false;
        }
        match caps {
            CapsState::Known(info) => {
                let (policy, notification) = (self.policy, self.notification);
                self.memo.get_or_insert(info.addr(), || {
                    policy.accepts_filter(info.filter(), notification)
                })
            }
            CapsState::Unknown | CapsState::Resolving => self.unresolved,
        }
    }

    /// [`FanOut::delivers`] for a [`Resource`].
    pub fn delivers_to<K>(&mut self, resource: &Resource<'_, K>) -> bool {
        self.delivers(resource.available, resource.priority, resource.caps)
    }

    /// How many distinct caps sets were decided so far.
    #[must_use]
    pub fn decided(&self) -> usize {
        self.memo.len
    }
}

/// Decisions by the address of a shared `CapsInfo`: open addressing, linear probing, grown
/// at half load. Addresses are unique while the values live, and every value looked up is
/// borrowed for the whole fan-out, so an address names one caps set throughout.
#[derive(Debug, Default)]
struct Memo {
    /// `(address, decision)`; address 0 marks an empty slot (no allocation lives at 0).
    slots: Vec<(usize, bool)>,
    len: usize,
}

impl Memo {
    const FIRST: usize = 64;

    fn get_or_insert(&mut self, addr: usize, decide: impl FnOnce() -> bool) -> bool {
        if self.slots.is_empty() {
            self.slots = vec![(0, false); Self::FIRST];
        }
        let mask = self.slots.len() - 1;
        let mut at = Self::hash(addr) & mask;
        loop {
            let (key, decision) = self.slots[at];
            if key == addr {
                return decision;
            }
            if key == 0 {
                break;
            }
            at = (at + 1) & mask;
        }
        let decision = decide();
        self.slots[at] = (addr, decision);
        self.len += 1;
        if self.len * 2 > self.slots.len() {
            self.grow();
        }
        decision
    }

    const fn hash(addr: usize) -> usize {
        // Fibonacci hashing of the address without its alignment bits; the top bits are the
        // best mixed, so take them.
        let mixed = ((addr >> 4) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (mixed >> 32) as usize
    }

    fn grow(&mut self) {
        let old = std::mem::take(&mut self.slots);
        self.slots = vec![(0, false); old.len() * 2];
        let mask = self.slots.len() - 1;
        for (key, decision) in old.into_iter().filter(|(key, _)| *key != 0) {
            let mut at = Self::hash(key) & mask;
            while self.slots[at].0 != 0 {
                at = (at + 1) & mask;
            }
            self.slots[at] = (key, decision);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::CapsInfo;
    use crate::notification::EventKind;

    #[test]
    fn memo_survives_growth_and_decides_once_per_caps_set() {
        let infos: Vec<CapsState> = (0..300)
            .map(|i| {
                let feature = format!("n{}+notify", i % 2);
                CapsState::Known(CapsInfo::from_features([feature]))
            })
            .collect();
        let n = Notification::new("n0", EventKind::Publish);
        let policy = Policy::default();
        let mut fan_out = FanOut::new(&policy, &n);
        for _ in 0..3 {
            for (i, caps) in infos.iter().enumerate() {
                assert_eq!(fan_out.delivers(true, 0, caps), i % 2 == 0);
            }
        }
        assert_eq!(fan_out.decided(), 300);
        let shared = CapsState::Known(CapsInfo::from_features(["n0+notify"]));
        let mut once = FanOut::new(&policy, &n);
        for _ in 0..10 {
            assert!(once.delivers(true, 1, &shared));
        }
        assert_eq!(once.decided(), 1);
    }
}
