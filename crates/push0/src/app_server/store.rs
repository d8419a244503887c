//! The app server's nodes and their secrets: issued from the caller's RNG, bounded per owner
//! and in total, persisted with `serde`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::time::SystemTime;

use rand_core::CryptoRng;
use subtle::ConstantTimeEq;

use crate::error::RestoreError;

/// Bytes of randomness in a node name (hex encoded: 32 characters).
const NODE_BYTES: usize = 16;
/// Bytes of randomness in a secret (hex encoded: 48 characters).
const SECRET_BYTES: usize = 24;
/// The longest node name or secret a restored record may hold.
const MAX_STORED_LEN: usize = 256;

/// A node's publish secret. Compared in constant time; `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct Secret(String);

impl Secret {
    /// The secret as the client puts it in its publish options.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is this secret, in time independent of where they differ (a
    /// length mismatch returns early: every secret this store issues has the same length).
    #[must_use]
    pub fn matches(&self, candidate: &str) -> bool {
        self.0.as_bytes().ct_eq(candidate.as_bytes()).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// What a client needs to enable push for a node: hand it to the app client over the app's
/// own channel, and the client puts it in its `<enable/>`
/// ([`Enable::with_secret`](crate::Enable::with_secret)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeCredentials {
    /// The node.
    pub node: String,
    /// Its secret.
    pub secret: Secret,
}

/// Limits of a [`NodeStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeStoreConfig {
    /// Nodes in total (100,000).
    pub max_nodes: usize,
    /// Nodes per owner (16): at either bound the least recently used node of the owner
    /// holding the most is evicted, reported.
    pub max_nodes_per_owner: usize,
}

impl NodeStoreConfig {
    /// At most `max_nodes` in total and `max_nodes_per_owner` per owner.
    #[must_use]
    pub const fn new(max_nodes: usize, max_nodes_per_owner: usize) -> Self {
        Self {
            max_nodes,
            max_nodes_per_owner,
        }
    }
}

impl Default for NodeStoreConfig {
    fn default() -> Self {
        Self {
            max_nodes: 100_000,
            max_nodes_per_owner: 16,
        }
    }
}

/// One node as persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct NodeRecord {
    /// The node name.
    pub node: String,
    /// Who it was issued for (the app's own identifier of a device or user).
    pub owner: String,
    /// Its secret.
    pub secret: Secret,
    /// When it was issued.
    pub created: SystemTime,
    /// When it was last published to (or issued).
    pub last_used: SystemTime,
    /// Publishes accepted.
    pub publishes: u64,
}

#[derive(Debug, Clone)]
struct Entry {
    record: NodeRecord,
    /// Position in the owner's use order (higher: more recent).
    order: u64,
}

/// The nodes an app server issued. Costs scale with the owner an operation touches: nodes by
/// name, each owner's nodes by last use, owners by how many they hold.
#[derive(Debug, Default)]
pub struct NodeStore {
    config: NodeStoreConfig,
    nodes: HashMap<String, Entry>,
    by_owner: HashMap<String, BTreeMap<u64, String>>,
    owner_sizes: BTreeSet<(usize, String)>,
    next_order: u64,
}

impl NodeStore {
    /// An empty store.
    #[must_use]
    pub fn new(config: NodeStoreConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// The limits.
    #[must_use]
    pub const fn config(&self) -> &NodeStoreConfig {
        &self.config
    }

    /// Nodes held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the store is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// A node's record.
    #[must_use]
    pub fn get(&self, node: &str) -> Option<&NodeRecord> {
        self.nodes.get(node).map(|e| &e.record)
    }

    /// The nodes of `owner`, least recently used first.
    #[must_use]
    pub fn nodes_of(&self, owner: &str) -> Vec<&str> {
        self.by_owner
            .get(owner)
            .map(|m| m.values().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Every record, by node name.
    #[must_use]
    pub fn records(&self) -> Vec<NodeRecord> {
        let mut all: Vec<NodeRecord> = self.nodes.values().map(|e| e.record.clone()).collect();
        all.sort_by(|a, b| a.node.cmp(&b.node));
        all
    }

    /// Issues a node with a fresh secret for `owner`. Returns the credentials and the records
    /// of nodes evicted to make room.
    pub(crate) fn create(
        &mut self,
        now: SystemTime,
        rng: &mut impl CryptoRng,
        owner: &str,
    ) -> (NodeCredentials, Vec<NodeRecord>) {
        let mut evicted = Vec::new();
        let per_owner = self.config.max_nodes_per_owner.max(1);
        while self
            .by_owner
            .get(owner)
            .is_some_and(|m| m.len() >= per_owner)
        {
            match self.evict_lru(owner) {
                Some(r) => evicted.push(r),
                None => break,
            }
        }
        while self.nodes.len() >= self.config.max_nodes.max(1) {
            let Some((_, largest)) = self.owner_sizes.last().cloned() else {
                break;
            };
            match self.evict_lru(&largest) {
                Some(r) => evicted.push(r),
                None => break,
            }
        }
        // 128 random bits: a collision is not going to happen, but a name is never reused.
        let node = loop {
            let candidate = hex(rng, NODE_BYTES);
            if !self.nodes.contains_key(&candidate) {
                break candidate;
            }
        };
        let secret = Secret(hex(rng, SECRET_BYTES));
        let record = NodeRecord {
            node: node.clone(),
            owner: owner.to_owned(),
            secret: secret.clone(),
            created: now,
            last_used: now,
            publishes: 0,
        };
        self.insert(record);
        (NodeCredentials { node, secret }, evicted)
    }

    /// Removes a node; its record, if it existed.
    pub(crate) fn remove(&mut self, node: &str) -> Option<NodeRecord> {
        let entry = self.nodes.remove(node)?;
        let owner = entry.record.owner.clone();
        let before = self.by_owner.get(&owner).map_or(0, BTreeMap::len);
        if let Some(m) = self.by_owner.get_mut(&owner) {
            m.remove(&entry.order);
            if m.is_empty() {
                self.by_owner.remove(&owner);
            }
        }
        self.resize(&owner, before, before.saturating_sub(1));
        Some(entry.record)
    }

    /// Records an accepted publish: the node becomes the most recently used of its owner.
    pub(crate) fn touch(&mut self, node: &str, now: SystemTime) {
        self.next_order += 1;
        let order = self.next_order;
        let Some(entry) = self.nodes.get_mut(node) else {
            return;
        };
        let old = std::mem::replace(&mut entry.order, order);
        entry.record.last_used = now;
        entry.record.publishes = entry.record.publishes.saturating_add(1);
        if let Some(m) = self.by_owner.get_mut(&entry.record.owner) {
            m.remove(&old);
            m.insert(order, node.to_owned());
        }
    }

    /// A store from records, checked like peer data.
    ///
    /// # Errors
    /// [`RestoreError`] for duplicates, broken bounds or malformed names and secrets.
    pub fn restore(
        config: NodeStoreConfig,
        records: Vec<NodeRecord>,
    ) -> Result<Self, RestoreError> {
        let mut store = Self::new(config);
        if records.len() > config.max_nodes.max(1) {
            return Err(RestoreError::TooMany {
                count: records.len(),
                limit: config.max_nodes.max(1),
            });
        }
        let mut records = records;
        // Least recently used first, so the use order survives the round trip.
        records.sort_by(|a, b| (a.last_used, &a.node).cmp(&(b.last_used, &b.node)));
        for record in records {
            check_token(&record.node, &record.node, "node name")?;
            check_token(&record.node, record.secret.as_str(), "secret")?;
            if record.owner.len() > MAX_STORED_LEN {
                return Err(RestoreError::InvalidNode {
                    node: record.node,
                    reason: "owner too long",
                });
            }
            if store.nodes.contains_key(&record.node) {
                return Err(RestoreError::DuplicateNode { node: record.node });
            }
            if store
                .by_owner
                .get(&record.owner)
                .is_some_and(|m| m.len() >= config.max_nodes_per_owner.max(1))
            {
                return Err(RestoreError::InvalidNode {
                    node: record.node,
                    reason: "owner above the per-owner bound",
                });
            }
            store.insert(record);
        }
        Ok(store)
    }

    fn insert(&mut self, record: NodeRecord) {
        self.next_order += 1;
        let order = self.next_order;
        let owner = record.owner.clone();
        let node = record.node.clone();
        let m = self.by_owner.entry(owner.clone()).or_default();
        let before = m.len();
        m.insert(order, node.clone());
        self.nodes.insert(node, Entry { record, order });
        self.resize(&owner, before, before + 1);
    }

    fn evict_lru(&mut self, owner: &str) -> Option<NodeRecord> {
        let node = self.by_owner.get(owner)?.values().next()?.clone();
        self.remove(&node)
    }

    fn resize(&mut self, owner: &str, old: usize, new: usize) {
        if old > 0 {
            self.owner_sizes.remove(&(old, owner.to_owned()));
        }
        if new > 0 {
            self.owner_sizes.insert((new, owner.to_owned()));
        }
    }

    /// Checks the cross-index invariants (tests and fuzzing).
    #[cfg(any(test, feature = "__fuzzing"))]
    pub(crate) fn assert_invariants(&self) {
        let mut count = 0;
        for (owner, m) in &self.by_owner {
            assert!(!m.is_empty());
            assert!(m.len() <= self.config.max_nodes_per_owner.max(1));
            assert!(self.owner_sizes.contains(&(m.len(), owner.clone())));
            for (order, node) in m {
                let e = &self.nodes[node];
                assert_eq!(e.order, *order);
                assert_eq!(&e.record.owner, owner);
            }
            count += m.len();
        }
        assert_eq!(count, self.nodes.len());
        assert_eq!(self.owner_sizes.len(), self.by_owner.len());
        assert!(self.nodes.len() <= self.config.max_nodes.max(1));
    }
}

fn check_token(node: &str, value: &str, what: &'static str) -> Result<(), RestoreError> {
    let fine = !value.is_empty()
        && value.len() <= MAX_STORED_LEN
        && value.chars().all(|c| c.is_ascii_graphic());
    if fine {
        Ok(())
    } else {
        Err(RestoreError::InvalidNode {
            node: node.to_owned(),
            reason: match what {
                "secret" => "secret empty, too long or not printable ASCII",
                _ => "name empty, too long or not printable ASCII",
            },
        })
    }
}

/// `n` random bytes from the caller's RNG, hex encoded.
fn hex(rng: &mut impl CryptoRng, n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rng.fill_bytes(&mut bytes);
    let mut out = String::with_capacity(2 * n);
    for b in bytes {
        for nibble in [b >> 4, b & 15] {
            out.push(char::from(b"0123456789abcdef"[usize::from(nibble)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        let s = Secret("abcdef".to_owned());
        assert!(s.matches("abcdef"));
        assert!(!s.matches("abcdeF"));
        assert!(!s.matches("abcde"));
        assert!(!s.matches(""));
        assert_eq!(format!("{s:?}"), "Secret(..)");
    }
}
