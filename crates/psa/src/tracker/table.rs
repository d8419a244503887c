//! The tracker's tables and their indexes.
//!
//! Every JID the tracker knows is a *party* (a local session, a remote sender or watcher, a
//! room occupant), numbered in a slab. A tracked presence is an *entry* keyed by
//! (watcher, source) party numbers. Indexes, each kept in step by the only two functions that
//! add and remove entries:
//! - per party, the sources it watches and the watchers that hold its presence;
//! - per remote domain, the parties on it (so a link change touches only them);
//! - per occupant, its real JID, and per real JID its occupants;
//! - per account (a watcher's bare JID), its entries in least-recently-updated order, and the
//!   accounts by size, for eviction at the limits.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use jid::{BareJid, DomainPart, DomainRef, Jid};
use xmpp_parsers::presence::Presence;
use xmpp_tether_core::Monotonic;

use crate::config::TrackerConfig;
use crate::event::Table;
use crate::link::Link;

/// A slab index: a party, an account or a domain.
pub(crate) type Id = u32;

/// Hashes the tracker's own slab indexes (never values a peer chooses, so no DoS concern).
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(*byte)).wrapping_mul(MIX);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(n)).wrapping_mul(MIX);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type IdBuild = BuildHasherDefault<IdHasher>;
pub(crate) type IdSet = HashSet<Id, IdBuild>;

/// Vec-backed storage with stable indexes and reuse of freed ones.
#[derive(Debug, Clone)]
pub(crate) struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<Id>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    pub(crate) const fn len(&self) -> usize {
        self.len
    }

    fn insert(&mut self, item: T) -> Id {
        self.len += 1;
        if let Some(id) = self.free.pop() {
            self.items[id as usize] = Some(item);
            return id;
        }
        self.items.push(Some(item));
        // Invariant: the limits of the configuration keep every table far below 2^32 rows.
        Id::try_from(self.items.len() - 1).expect("fewer than 2^32 rows")
    }

    fn remove(&mut self, id: Id) -> Option<T> {
        let item = self.items.get_mut(id as usize)?.take()?;
        self.len -= 1;
        self.free.push(id);
        Some(item)
    }

    pub(crate) fn get(&self, id: Id) -> Option<&T> {
        self.items.get(id as usize)?.as_ref()
    }

    pub(crate) fn get_mut(&mut self, id: Id) -> Option<&mut T> {
        self.items.get_mut(id as usize)?.as_mut()
    }

    #[cfg(any(test, feature = "serde", feature = "__fuzzing"))]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Id, &T)> {
        self.items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| Some((Id::try_from(i).ok()?, item.as_ref()?)))
    }
}

/// Where a party lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Home {
    /// On one of our domains.
    Local,
    /// On a remote domain (its slab index).
    Remote(Id),
}

/// Whether a watcher wants annotations (from its caps, or the caller's word).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub(crate) enum Interest {
    Unknown,
    Yes,
    No,
}

/// A stale annotation as sent (the annotator follows from the parties).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub(crate) enum Stale {
    ServerUnavailable,
    ConnectionPaused,
}

#[derive(Debug, Clone)]
pub(crate) struct Party {
    pub(crate) jid: Jid,
    pub(crate) home: Home,
    pub(crate) interest: Interest,
    /// A local session that is paused (hibernated, BOSH pause).
    pub(crate) paused: bool,
    /// As a watcher: the sources whose presence it holds.
    pub(crate) watching: IdSet,
    /// As a source: the watchers that hold its presence.
    pub(crate) watched_by: IdSet,
    /// As a source: its latest stored presence, shared by the entries that hold it.
    pub(crate) current: Option<Arc<Presence>>,
    /// As a room occupant: the real JID behind it.
    pub(crate) real: Option<Id>,
    /// As a real JID: the room occupants it is behind.
    pub(crate) occupants: IdSet,
    /// As a watcher with entries: its account.
    pub(crate) account: Option<Id>,
}

impl Party {
    fn is_empty(&self) -> bool {
        self.watching.is_empty()
            && self.watched_by.is_empty()
            && self.occupants.is_empty()
            && self.real.is_none()
            && self.interest == Interest::Unknown
            && !self.paused
    }
}

/// A tracked presence: what one watcher last received from one source.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) presence: Arc<Presence>,
    /// When it was last updated, in the tracker's own sequence (for least-recently-used).
    pub(crate) seq: u64,
    /// The stale annotation the watcher holds from us, if any.
    pub(crate) sent: Option<Stale>,
}

#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub(crate) bare: BareJid,
    /// Entries by last update, oldest first.
    pub(crate) lru: BTreeMap<u64, (Id, Id)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Domain {
    pub(crate) name: DomainPart,
    pub(crate) link: Link,
    pub(crate) members: IdSet,
}

/// Why an entry could not be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NoRoom;

#[derive(Debug, Clone, Default)]
pub(crate) struct Tables {
    pub(crate) parties: Slab<Party>,
    pub(crate) party_ids: HashMap<Jid, Id>,
    pub(crate) entries: HashMap<(Id, Id), Entry, IdBuild>,
    pub(crate) accounts: Slab<Account>,
    pub(crate) account_ids: HashMap<BareJid, Id>,
    /// (entries, account), for "the account that holds the most".
    pub(crate) by_size: BTreeSet<(usize, Id)>,
    pub(crate) domains: Slab<Domain>,
    pub(crate) domain_ids: HashMap<DomainPart, Id>,
    /// Grace deadlines of suspected links.
    pub(crate) deadlines: BTreeSet<(Monotonic, Id)>,
    pub(crate) seq: u64,
}

impl Tables {
    /// A party by index. Invariant: every index held in a table or an index names a live row.
    pub(crate) fn party(&self, id: Id) -> &Party {
        self.parties.get(id).expect("indexes name live parties")
    }

    pub(crate) fn party_mut(&mut self, id: Id) -> &mut Party {
        self.parties.get_mut(id).expect("indexes name live parties")
    }

    pub(crate) fn domain(&self, id: Id) -> &Domain {
        self.domains.get(id).expect("indexes name live domains")
    }

    pub(crate) fn domain_mut(&mut self, id: Id) -> &mut Domain {
        self.domains.get_mut(id).expect("indexes name live domains")
    }

    pub(crate) fn find_party(&self, jid: &Jid) -> Option<Id> {
        self.party_ids.get(jid).copied()
    }

    pub(crate) fn find_domain(&self, domain: &DomainRef) -> Option<Id> {
        self.domain_ids.get(domain).copied()
    }

    pub(crate) fn ensure_domain(
        &mut self,
        domain: &DomainRef,
        config: &TrackerConfig,
    ) -> Result<Id, Table> {
        if let Some(id) = self.find_domain(domain) {
            return Ok(id);
        }
        if self.domains.len() >= config.max_domains {
            return Err(Table::Domains);
        }
        let name = DomainPart::from(domain);
        let id = self.domains.insert(Domain {
            name: name.clone(),
            link: Link::new(),
            members: IdSet::default(),
        });
        let _ = self.domain_ids.insert(name, id);
        Ok(id)
    }

    pub(crate) fn ensure_party(&mut self, jid: &Jid, config: &TrackerConfig) -> Result<Id, Table> {
        if let Some(id) = self.find_party(jid) {
            return Ok(id);
        }
        if self.parties.len() >= config.max_parties {
            return Err(Table::Parties);
        }
        let home = if config.is_local(jid.domain()) {
            Home::Local
        } else {
            Home::Remote(self.ensure_domain(jid.domain(), config)?)
        };
        let id = self.parties.insert(Party {
            jid: jid.clone(),
            home,
            interest: Interest::Unknown,
            paused: false,
            watching: IdSet::default(),
            watched_by: IdSet::default(),
            current: None,
            real: None,
            occupants: IdSet::default(),
            account: None,
        });
        let _ = self.party_ids.insert(jid.clone(), id);
        if let Home::Remote(domain) = home {
            let _ = self.domain_mut(domain).members.insert(id);
        }
        Ok(id)
    }

    /// Forgets a party that no longer carries anything.
    pub(crate) fn release_party(&mut self, id: Id) {
        if !self.parties.get(id).is_some_and(Party::is_empty) {
            return;
        }
        let Some(party) = self.parties.remove(id) else {
            return;
        };
        let _ = self.party_ids.remove(&party.jid);
        if let Home::Remote(domain) = party.home {
            let _ = self.domain_mut(domain).members.remove(&id);
            self.release_domain(domain);
        }
    }

    /// Forgets a domain that has no parties, no open stream and no outage.
    pub(crate) fn release_domain(&mut self, id: Id) {
        let idle = self
            .domains
            .get(id)
            .is_some_and(|d| d.members.is_empty() && d.link.is_idle());
        if idle && let Some(domain) = self.domains.remove(id) {
            let _ = self.domain_ids.remove(&domain.name);
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Stores `presence` as what `watcher` holds from `source`, evicting at the limits.
    /// Returns the evicted pairs (as JIDs), or `NoRoom` if a limit is zero.
    pub(crate) fn upsert(
        &mut self,
        watcher: Id,
        source: Id,
        presence: Arc<Presence>,
        config: &TrackerConfig,
    ) -> Result<Vec<(Jid, Jid)>, NoRoom> {
        let seq = self.next_seq();
        if let Some(entry) = self.entries.get_mut(&(watcher, source)) {
            let old = std::mem::replace(&mut entry.seq, seq);
            entry.presence = presence;
            if let Some(account) = self.party(watcher).account
                && let Some(acc) = self.accounts.get_mut(account)
            {
                let _ = acc.lru.remove(&old);
                let _ = acc.lru.insert(seq, (watcher, source));
            }
            return Ok(Vec::new());
        }
        if config.max_presences == 0 || config.max_presences_per_account == 0 {
            return Err(NoRoom);
        }
        let bare = self.party(watcher).jid.to_bare();
        let mut evicted = Vec::new();
        loop {
            let own_account = self.account_ids.get(&bare).copied();
            let own = own_account
                .and_then(|a| self.accounts.get(a))
                .map_or(0, |a| a.lru.len());
            let victim_account = if own >= config.max_presences_per_account {
                own_account
            } else if self.entries.len() >= config.max_presences {
                self.by_size.last().map(|(_, largest)| *largest)
            } else {
                None
            };
            let Some((w, s)) = victim_account
                .and_then(|a| self.accounts.get(a))
                .and_then(|a| a.lru.first_key_value())
                .map(|(_, pair)| *pair)
            else {
                break;
            };
            evicted.push((self.party(w).jid.clone(), self.party(s).jid.clone()));
            // The new entry's parties must survive the eviction of their last other entry.
            let _ = self.remove_inner(w, s, &[watcher, source]);
        }
        let account = self.ensure_account(watcher);
        let _ = self.entries.insert(
            (watcher, source),
            Entry {
                presence,
                seq,
                sent: None,
            },
        );
        let _ = self.party_mut(watcher).watching.insert(source);
        let _ = self.party_mut(source).watched_by.insert(watcher);
        self.resize_account(account, |acc| {
            let _ = acc.lru.insert(seq, (watcher, source));
        });
        Ok(evicted)
    }

    fn ensure_account(&mut self, watcher: Id) -> Id {
        if let Some(account) = self.party(watcher).account {
            return account;
        }
        let bare = self.party(watcher).jid.to_bare();
        let account = match self.account_ids.get(&bare) {
            Some(account) => *account,
            None => {
                let id = self.accounts.insert(Account {
                    bare: bare.clone(),
                    lru: BTreeMap::new(),
                });
                let _ = self.account_ids.insert(bare, id);
                let _ = self.by_size.insert((0, id));
                id
            }
        };
        self.party_mut(watcher).account = Some(account);
        account
    }

    /// Applies `change` to an account's LRU and keeps `by_size` in step.
    fn resize_account(&mut self, account: Id, change: impl FnOnce(&mut Account)) {
        let Some(acc) = self.accounts.get_mut(account) else {
            return;
        };
        let before = acc.lru.len();
        change(acc);
        let after = acc.lru.len();
        if before != after {
            let _ = self.by_size.remove(&(before, account));
            let _ = self.by_size.insert((after, account));
        }
    }

    /// Forgets what `watcher` holds from `source`, and any party or account left empty.
    pub(crate) fn remove(&mut self, watcher: Id, source: Id) -> Option<Entry> {
        self.remove_inner(watcher, source, &[])
    }

    fn remove_inner(&mut self, watcher: Id, source: Id, keep: &[Id]) -> Option<Entry> {
        let entry = self.entries.remove(&(watcher, source))?;
        let _ = self.party_mut(watcher).watching.remove(&source);
        let _ = self.party_mut(source).watched_by.remove(&watcher);
        if let Some(account) = self.party(watcher).account {
            self.resize_account(account, |acc| {
                let _ = acc.lru.remove(&entry.seq);
            });
            if self.party(watcher).watching.is_empty() {
                self.party_mut(watcher).account = None;
            }
            let empty = self.accounts.get(account).is_some_and(|a| a.lru.is_empty());
            if empty && let Some(acc) = self.accounts.remove(account) {
                let _ = self.account_ids.remove(&acc.bare);
                let _ = self.by_size.remove(&(0, account));
                // Other resources of the account point at it only while they hold entries,
                // and then it is not empty.
            }
        }
        for party in [watcher, source] {
            if !keep.contains(&party) {
                self.release_party(party);
            }
        }
        Some(entry)
    }

    /// Forgets everything `party` watches; returns how many entries.
    pub(crate) fn forget_watching(&mut self, party: Id) -> usize {
        let sources: Vec<Id> = self.party(party).watching.iter().copied().collect();
        let mut count = 0;
        for source in sources {
            count += usize::from(self.remove_inner(party, source, &[party]).is_some());
        }
        count
    }

    /// Forgets every watcher's presence from `party`; returns how many entries.
    pub(crate) fn forget_watched(&mut self, party: Id) -> usize {
        let watchers: Vec<Id> = self.party(party).watched_by.iter().copied().collect();
        let mut count = 0;
        for watcher in watchers {
            count += usize::from(self.remove_inner(watcher, party, &[party]).is_some());
        }
        count
    }

    /// Links an occupant to the real JID behind it (replacing an earlier one).
    pub(crate) fn link_occupant(&mut self, occupant: Id, real: Id) {
        self.unlink_occupant(occupant);
        self.party_mut(occupant).real = Some(real);
        let _ = self.party_mut(real).occupants.insert(occupant);
    }

    /// Unlinks an occupant from its real JID (releasing the real JID if that was all).
    pub(crate) fn unlink_occupant(&mut self, occupant: Id) {
        if let Some(real) = self.party_mut(occupant).real.take() {
            let _ = self.party_mut(real).occupants.remove(&occupant);
            self.release_party(real);
        }
    }

    /// Total presences tracked.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}
