//! A table bounded per account and globally, least recently used first out.
//!
//! At the account's bound, that account's least recently used entry goes; at the global
//! bound, the least recently used entry of the account that holds the most (ties: the
//! greatest account, so the choice is deterministic). Every eviction is returned to the
//! caller, which reports it. Costs are O(log n) per operation.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::Hash;

#[derive(Debug, Clone)]
pub(crate) struct Table<A, K, V> {
    entries: HashMap<K, Entry<A, V>>,
    accounts: HashMap<A, BTreeMap<u64, K>>,
    /// (entries held, account), to find the account that holds the most.
    sizes: BTreeSet<(usize, A)>,
    tick: u64,
    per_account: usize,
    global: usize,
}

#[derive(Debug, Clone)]
struct Entry<A, V> {
    value: V,
    account: A,
    tick: u64,
}

impl<A, K, V> Table<A, K, V>
where
    A: Clone + Ord + Hash,
    K: Clone + Eq + Hash,
{
    pub(crate) fn new(per_account: usize, global: usize) -> Self {
        Self {
            entries: HashMap::new(),
            accounts: HashMap::new(),
            sizes: BTreeSet::new(),
            tick: 0,
            per_account,
            global,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|e| &e.value)
    }

    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.entries.get_mut(key).map(|e| &mut e.value)
    }

    /// Marks `key` as just used.
    pub(crate) fn touch(&mut self, key: &K) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        self.tick += 1;
        if let Some(order) = self.accounts.get_mut(&entry.account) {
            order.remove(&entry.tick);
            order.insert(self.tick, key.clone());
        }
        entry.tick = self.tick;
    }

    /// Inserts or replaces `key` (replacing moves it to `account` and marks it used) and
    /// returns what the bounds evicted, possibly the new entry itself when a bound is 0.
    pub(crate) fn insert(&mut self, account: A, key: K, value: V) -> Vec<(K, V)> {
        let mut evicted = Vec::new();
        self.remove(&key);
        if self.per_account == 0 || self.global == 0 {
            evicted.push((key, value));
            return evicted;
        }
        if self.held(&account) >= self.per_account {
            evicted.extend(self.evict_lru_of(&account));
        }
        if self.entries.len() >= self.global {
            let fullest = self.sizes.last().map(|(_, a)| a.clone());
            if let Some(fullest) = fullest {
                evicted.extend(self.evict_lru_of(&fullest));
            }
        }
        self.tick += 1;
        let held = self.held(&account);
        self.sizes.remove(&(held, account.clone()));
        self.sizes.insert((held + 1, account.clone()));
        self.accounts
            .entry(account.clone())
            .or_default()
            .insert(self.tick, key.clone());
        self.entries.insert(
            key,
            Entry {
                value,
                account,
                tick: self.tick,
            },
        );
        evicted
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let entry = self.entries.remove(key)?;
        let held = self.held(&entry.account);
        self.sizes.remove(&(held, entry.account.clone()));
        if held > 1 {
            self.sizes.insert((held - 1, entry.account.clone()));
        }
        if let Some(order) = self.accounts.get_mut(&entry.account) {
            order.remove(&entry.tick);
            if order.is_empty() {
                self.accounts.remove(&entry.account);
            }
        }
        Some(entry.value)
    }

    /// Entries from least to most recently used.
    pub(crate) fn oldest_first(&self) -> Vec<(&K, &V)> {
        let mut all: Vec<(u64, &K, &V)> = self
            .entries
            .iter()
            .map(|(k, e)| (e.tick, k, &e.value))
            .collect();
        all.sort_unstable_by_key(|(tick, _, _)| *tick);
        all.into_iter().map(|(_, k, v)| (k, v)).collect()
    }

    /// Checks the indexes against each other (tests and fuzzing).
    #[cfg(any(test, feature = "__fuzzing"))]
    pub(crate) fn check(&self) {
        let indexed: usize = self.accounts.values().map(BTreeMap::len).sum();
        assert_eq!(indexed, self.entries.len(), "account index out of step");
        let sized: usize = self.sizes.iter().map(|(n, _)| n).sum();
        assert_eq!(sized, self.entries.len(), "size index out of step");
        assert!(self.entries.len() <= self.global, "global bound broken");
        for (account, order) in &self.accounts {
            assert!(order.len() <= self.per_account, "account bound broken");
            assert!(self.sizes.contains(&(order.len(), account.clone())));
            for (tick, key) in order {
                let entry = self.entries.get(key);
                assert!(entry.is_some_and(|e| e.tick == *tick && e.account == *account));
            }
        }
    }

    fn held(&self, account: &A) -> usize {
        self.accounts.get(account).map_or(0, BTreeMap::len)
    }

    fn evict_lru_of(&mut self, account: &A) -> Option<(K, V)> {
        let key = self.accounts.get(account)?.values().next()?.clone();
        let value = self.remove(&key)?;
        Some((key, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_per_account_and_global() {
        let mut t: Table<&str, u32, ()> = Table::new(2, 3);
        assert!(t.insert("a", 1, ()).is_empty());
        assert!(t.insert("a", 2, ()).is_empty());
        t.touch(&1);
        // a is at its bound: its least recently used (2) goes.
        assert_eq!(t.insert("a", 3, ()), [(2, ())]);
        assert!(t.insert("b", 4, ()).is_empty());
        // Global bound: a holds the most; its LRU (1) goes.
        assert_eq!(t.insert("c", 5, ()), [(1, ())]);
        t.check();
        assert_eq!(t.len(), 3);
        assert_eq!(t.remove(&3), Some(()));
        t.check();
        let mut zero: Table<(), u32, ()> = Table::new(0, 0);
        assert_eq!(zero.insert((), 1, ()), [(1, ())]);
        assert_eq!(zero.len(), 0);
    }
}
