//! The caps cache as a sans-IO machine: caps in, disco#info queries and events out.

use std::collections::{BTreeMap, HashMap, VecDeque};

use jid::{BareJid, Jid};
use minidom::Element;
use xmpp_parsers::caps::Caps;
use xmpp_parsers::ns;
use xmpp_tether_core::{Monotonic, Now};

use super::table::Table;
use super::verify::{self, CapsKey, Checked, Limits};
use super::{CapsConfig, CapsEvent, Query};
use crate::error::QueryFailure;
use crate::info::{CapsInfo, CapsState};

/// Whether [`CapsCache::handle_iq`] took an iq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Handled {
    /// It answered one of our queries: consumed.
    Ours,
    /// Not an answer to a query in flight (another id, another sender, or a query that was
    /// abandoned): handle it as you would otherwise.
    NotOurs,
}

/// The caps cache of a server: resolves every entity's XEP-0115 caps to a shared
/// [`CapsInfo`], querying each distinct caps set once.
///
/// - getters: [`config`](Self::config), [`get`](Self::get), [`len`](Self::len),
///   [`per_jid_len`](Self::per_jid_len), [`pending_len`](Self::pending_len).
/// - input: [`handle_caps`](Self::handle_caps) for every presence (or stream features) that
///   carries `<c/>`, [`handle_iq`](Self::handle_iq) for every iq result or error addressed
///   to the server, [`handle_unavailable`](Self::handle_unavailable) when a resource goes
///   away, [`handle_timeout`](Self::handle_timeout) when the timer fires.
/// - output: [`poll_transmit`](Self::poll_transmit) (queries to write),
///   [`poll_event`](Self::poll_event), [`poll_timeout`](Self::poll_timeout).
///
/// **After every `&mut` call, drain `poll_transmit` (write each query), then `poll_event`
/// (update the resources' [`CapsState`] from it); then re-arm the timer from
/// `poll_timeout`.**
///
/// A presence without `<c/>` changes nothing: XEP-0115 §8.4 lets a client leave out caps
/// that did not change, so the resource keeps its state. Only verified results are shared
/// between entities; a result that does not verify serves the JID that sent it alone (a
/// per-JID entry, dropped when it goes unavailable), and the next JID with the same caps is
/// asked (XEP-0115 §5.4). A query that fails (an error, no answer in time, a result too
/// large or malformed) moves on to the next JID with the same caps, and the one that failed
/// still gets the answer if it verifies; the failure is remembered per JID, so that JID is
/// not asked again until its caps change. Caps with an algorithm we cannot compute are
/// queried per JID and never shared.
#[derive(Debug, Clone)]
pub struct CapsCache {
    config: CapsConfig,
    verified: Table<(), CapsKey, CapsInfo>,
    per_jid: Table<BareJid, Jid, PerJid>,
    pending: Table<BareJid, PendingKey, Pending>,
    /// Every JID asked or waiting, and its query.
    member_of: HashMap<Jid, PendingKey>,
    by_id: HashMap<String, PendingKey>,
    deadlines: BTreeMap<(Monotonic, u64), PendingKey>,
    transmit: VecDeque<Query>,
    events: VecDeque<CapsEvent>,
    next_id: u64,
}

/// What is remembered about one JID whose caps are not shared.
#[derive(Debug, Clone)]
enum PerJid {
    /// Its own, unverified answer for these caps.
    Info(CapsKey, CapsInfo),
    /// Its query for these caps failed.
    Failed(CapsKey),
}

/// A query's identity: shared by every JID with the same supported caps, or one JID's own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum PendingKey {
    Shared(CapsKey),
    Own(Jid),
}

#[derive(Debug, Clone)]
struct Pending {
    key: CapsKey,
    /// The caps node, without `#ver`.
    node: String,
    asked: Jid,
    id: String,
    deadline: (Monotonic, u64),
    /// Waiting to be asked if the one asked fails, oldest first.
    waiting: VecDeque<Jid>,
    /// Asked already and failed: they get a shared answer if another JID's verifies, and are
    /// reported unresolved (with their own failure) only when the query ends without one.
    passive: Vec<(Jid, QueryFailure)>,
}

impl Default for CapsCache {
    fn default() -> Self {
        Self::new(CapsConfig::default())
    }
}

impl CapsCache {
    /// An empty cache.
    #[must_use]
    pub fn new(config: CapsConfig) -> Self {
        Self {
            verified: Table::new(config.max_entries, config.max_entries),
            per_jid: Table::new(config.max_per_jid_per_account, config.max_per_jid),
            pending: Table::new(config.max_pending_per_account, config.max_pending),
            config,
            member_of: HashMap::new(),
            by_id: HashMap::new(),
            deadlines: BTreeMap::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            next_id: 0,
        }
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &CapsConfig {
        &self.config
    }

    /// The verified entry for `key`, if cached (without marking it used).
    #[must_use]
    pub fn get(&self, key: &CapsKey) -> Option<&CapsInfo> {
        self.verified.get(key)
    }

    /// How many verified caps sets are cached.
    #[must_use]
    pub fn len(&self) -> usize {
        self.verified.len()
    }

    /// Whether no verified caps set is cached.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.verified.len() == 0
    }

    /// How many per-JID entries are held.
    #[must_use]
    pub fn per_jid_len(&self) -> usize {
        self.per_jid.len()
    }

    /// How many queries are in flight.
    #[must_use]
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// `from` advertised `caps` (in a presence, or in stream features for a server). Returns
    /// its state now: [`CapsState::Known`] from the cache, [`CapsState::Resolving`] while a
    /// query runs (its outcome comes as an event), or [`CapsState::Unknown`] if its query
    /// for these caps already failed or no query can be started (a bound of 0).
    pub fn handle_caps(&mut self, now: Now, from: &Jid, caps: &Caps) -> CapsState {
        let key = CapsKey::of(caps);
        if key.is_supported()
            && let Some(info) = self.verified.get(&key).cloned()
        {
            self.verified.touch(&key);
            self.withdraw(now, from);
            self.per_jid.remove(from);
            return CapsState::Known(info);
        }
        let pending_key = if key.is_supported() {
            PendingKey::Shared(key.clone())
        } else {
            PendingKey::Own(from.clone())
        };
        if self.member_of.get(from) == Some(&pending_key) {
            return CapsState::Resolving;
        }
        match self.per_jid.get(from) {
            Some(PerJid::Info(have, info)) if *have == key => {
                let info = info.clone();
                self.per_jid.touch(from);
                self.withdraw(now, from);
                return CapsState::Known(info);
            }
            Some(PerJid::Failed(have)) if *have == key => {
                self.per_jid.touch(from);
                self.withdraw(now, from);
                return CapsState::Unknown;
            }
            Some(_) => {
                self.per_jid.remove(from);
            }
            None => {}
        }
        self.withdraw(now, from);
        if let Some(pending) = self.pending.get_mut(&pending_key) {
            if self.config.max_waiting == 0 {
                return CapsState::Unknown;
            }
            pending.waiting.push_back(from.clone());
            let dropped = (pending.waiting.len() > self.config.max_waiting)
                .then(|| pending.waiting.pop_front())
                .flatten();
            self.member_of.insert(from.clone(), pending_key);
            if let Some(jid) = dropped {
                self.member_of.remove(&jid);
                self.events.push_back(CapsEvent::Unresolved {
                    jid,
                    reason: QueryFailure::Evicted,
                });
            }
            return CapsState::Resolving;
        }
        if self.config.max_pending == 0 || self.config.max_pending_per_account == 0 {
            return CapsState::Unknown;
        }
        let pending = Pending {
            key,
            node: caps.node.clone(),
            asked: from.clone(),
            id: String::new(),
            deadline: (Monotonic::ZERO, 0),
            waiting: VecDeque::new(),
            passive: Vec::new(),
        };
        self.ask(now, pending_key, pending);
        CapsState::Resolving
    }

    /// An iq addressed to the server (a result or error). [`Handled::Ours`] if it answers a
    /// query in flight (consumed: read the events), [`Handled::NotOurs`] otherwise.
    pub fn handle_iq(&mut self, now: Now, iq: &Element) -> Handled {
        if !iq.is("iq", ns::JABBER_CLIENT) && !iq.is("iq", crate::ns::JABBER_SERVER) {
            return Handled::NotOurs;
        }
        let Some(pending_key) = iq.attr("id").and_then(|id| self.by_id.get(id)).cloned() else {
            return Handled::NotOurs;
        };
        let Some(pending) = self.pending.get(&pending_key) else {
            return Handled::NotOurs;
        };
        let from = iq.attr("from").and_then(|f| f.parse::<Jid>().ok());
        if from.as_ref() != Some(&pending.asked) {
            return Handled::NotOurs;
        }
        let (asked, key, node) = (
            pending.asked.clone(),
            pending.key.clone(),
            pending.node.clone(),
        );
        let outcome = match iq.attr("type") {
            Some("result") => match iq.get_child("query", ns::DISCO_INFO) {
                Some(query) => verify::check(&key, &node, query, self.limits()),
                None => Err(QueryFailure::Malformed(
                    "no disco#info <query/> in the result".into(),
                )),
            },
            Some("error") => Err(QueryFailure::Error),
            _ => return Handled::NotOurs,
        };
        self.member_of.remove(&asked);
        match outcome {
            Ok(Checked::Verified(info)) => self.resolve_all(&pending_key, info),
            Ok(Checked::ForOne(info, reason)) => {
                self.remember(&asked, PerJid::Info(key, info.clone()));
                self.events.push_back(CapsEvent::ResolvedForOne {
                    jid: asked,
                    info,
                    reason,
                });
                self.ask_next(now, &pending_key);
            }
            Err(reason) => self.fail(now, &pending_key, asked, key, reason),
        }
        Handled::Ours
    }

    /// `jid` went unavailable (or its stream closed): it leaves any query and its per-JID
    /// entry is dropped. If it was the one asked, the next JID with the same caps is asked.
    pub fn handle_unavailable(&mut self, now: Now, jid: &Jid) {
        self.withdraw(now, jid);
        self.per_jid.remove(jid);
    }

    /// The timer fired: queries unanswered for [`CapsConfig::query_timeout`] fail. A
    /// spurious call is a no-op.
    pub fn handle_timeout(&mut self, now: Now) {
        while let Some((&(at, seq), pending_key)) = self.deadlines.first_key_value() {
            if at > now.monotonic() {
                break;
            }
            let pending_key = pending_key.clone();
            let Some(pending) = self.pending.get(&pending_key) else {
                self.deadlines.remove(&(at, seq));
                continue;
            };
            let (asked, key) = (pending.asked.clone(), pending.key.clone());
            self.member_of.remove(&asked);
            self.fail(now, &pending_key, asked, key, QueryFailure::TimedOut);
        }
    }

    /// The next query to write, if any.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Query> {
        self.transmit.pop_front()
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<CapsEvent> {
        self.events.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Monotonic> {
        self.deadlines.keys().next().map(|(at, _)| *at)
    }

    fn limits(&self) -> Limits<'_> {
        Limits {
            max_children: self.config.max_children,
            max_feature_len: self.config.max_feature_len,
            keep: &self.config.keep_features,
        }
    }

    /// Starts asking `pending.asked` under `pending_key`.
    fn ask(&mut self, now: Now, pending_key: PendingKey, mut pending: Pending) {
        self.next_id += 1;
        pending.id = format!("rsnf-caps-{}", self.next_id);
        pending.deadline = (now.monotonic() + self.config.query_timeout, self.next_id);
        self.member_of
            .insert(pending.asked.clone(), pending_key.clone());
        self.by_id.insert(pending.id.clone(), pending_key.clone());
        self.deadlines.insert(pending.deadline, pending_key.clone());
        self.transmit.push_back(Query {
            to: pending.asked.clone(),
            id: pending.id.clone(),
            node: format!("{}#{}", pending.node, pending.key.ver_base64()),
        });
        let account = pending.asked.to_bare();
        for (key, abandoned) in self.pending.insert(account, pending_key, pending) {
            self.abandon(&key, abandoned);
        }
    }

    /// The asked JID is done with (answered, failed or withdrawn, and out of `member_of` unless
    /// passive): ask the next one waiting, or end the query, reporting the passive ones.
    fn ask_next(&mut self, now: Now, pending_key: &PendingKey) {
        let Some(mut pending) = self.pending.remove(pending_key) else {
            return;
        };
        self.by_id.remove(&pending.id);
        self.deadlines.remove(&pending.deadline);
        if let Some(next) = pending.waiting.pop_front() {
            pending.asked = next;
            self.ask(now, pending_key.clone(), pending);
            return;
        }
        for (jid, reason) in pending.passive {
            self.member_of.remove(&jid);
            self.events.push_back(CapsEvent::Unresolved { jid, reason });
        }
    }

    /// The asked JID's query failed: remember it, so it is not asked again for these caps.
    /// If another JID will be asked for the same shared caps, it stays on the query,
    /// passive; otherwise it is reported now.
    fn fail(
        &mut self,
        now: Now,
        pending_key: &PendingKey,
        asked: Jid,
        key: CapsKey,
        reason: QueryFailure,
    ) {
        self.remember(&asked, PerJid::Failed(key));
        match self.pending.get_mut(pending_key) {
            Some(pending) if !pending.waiting.is_empty() => {
                pending.passive.push((asked.clone(), reason));
                self.member_of.insert(asked, pending_key.clone());
            }
            _ => self
                .events
                .push_back(CapsEvent::Unresolved { jid: asked, reason }),
        }
        self.ask_next(now, pending_key);
    }

    /// A verified answer: cache it, resolve everyone on the query.
    fn resolve_all(&mut self, pending_key: &PendingKey, info: CapsInfo) {
        let Some(pending) = self.pending.remove(pending_key) else {
            return;
        };
        self.by_id.remove(&pending.id);
        self.deadlines.remove(&pending.deadline);
        let mut jids = Vec::with_capacity(1 + pending.waiting.len() + pending.passive.len());
        jids.push(pending.asked);
        jids.extend(pending.waiting);
        jids.extend(pending.passive.into_iter().map(|(jid, _)| jid));
        for jid in &jids {
            self.member_of.remove(jid);
            self.per_jid.remove(jid);
        }
        for (key, _) in self.verified.insert((), pending.key, info.clone()) {
            self.events.push_back(CapsEvent::Evicted { key });
        }
        self.events.push_back(CapsEvent::Resolved { jids, info });
    }

    /// A query evicted at its bound: everyone on it is unresolved.
    fn abandon(&mut self, pending_key: &PendingKey, pending: Pending) {
        self.by_id.remove(&pending.id);
        self.deadlines.remove(&pending.deadline);
        let passive = pending.passive.into_iter().map(|(jid, _)| jid);
        for jid in std::iter::once(pending.asked)
            .chain(pending.waiting)
            .chain(passive)
        {
            if self.member_of.get(&jid) == Some(pending_key) {
                self.member_of.remove(&jid);
            }
            self.events.push_back(CapsEvent::Unresolved {
                jid,
                reason: QueryFailure::Evicted,
            });
        }
    }

    /// `jid` leaves the query it is on, if any.
    fn withdraw(&mut self, now: Now, jid: &Jid) {
        let Some(pending_key) = self.member_of.remove(jid) else {
            return;
        };
        let Some(pending) = self.pending.get_mut(&pending_key) else {
            return;
        };
        if pending.asked == *jid {
            self.ask_next(now, &pending_key);
        } else {
            pending.waiting.retain(|waiting| waiting != jid);
            pending.passive.retain(|(passive, _)| passive != jid);
        }
    }

    fn remember(&mut self, jid: &Jid, entry: PerJid) {
        for (jid, _) in self.per_jid.insert(jid.to_bare(), jid.clone(), entry) {
            self.events.push_back(CapsEvent::PerJidEvicted { jid });
        }
    }

    /// Every verified entry, least recently used first (for snapshots).
    pub(crate) fn verified_oldest_first(&self) -> Vec<(&CapsKey, &CapsInfo)> {
        self.verified.oldest_first()
    }

    /// Adds a verified entry (restoring a snapshot).
    pub(crate) fn insert_verified(&mut self, key: CapsKey, info: CapsInfo) {
        for (key, _) in self.verified.insert((), key, info) {
            self.events.push_back(CapsEvent::Evicted { key });
        }
    }

    /// Whether `jid` is asked or waiting on a query in flight (tests and fuzzing).
    #[cfg(any(test, feature = "__fuzzing"))]
    #[doc(hidden)]
    #[must_use]
    pub fn is_member(&self, jid: &Jid) -> bool {
        self.member_of.contains_key(jid)
    }

    /// Checks every index against the others (tests and fuzzing).
    #[cfg(any(test, feature = "__fuzzing"))]
    #[doc(hidden)]
    pub fn check_invariants(&self) {
        self.verified.check();
        self.per_jid.check();
        self.pending.check();
        assert_eq!(self.by_id.len(), self.pending.len(), "by_id out of step");
        assert_eq!(
            self.deadlines.len(),
            self.pending.len(),
            "deadlines out of step"
        );
        let mut members = 0;
        for (key, pending) in self.pending.oldest_first() {
            assert_eq!(self.by_id.get(&pending.id), Some(key));
            assert_eq!(self.deadlines.get(&pending.deadline), Some(key));
            assert!(pending.waiting.len() <= self.config.max_waiting);
            let passive = pending.passive.iter().map(|(jid, _)| jid);
            for jid in std::iter::once(&pending.asked)
                .chain(&pending.waiting)
                .chain(passive)
            {
                assert_eq!(self.member_of.get(jid), Some(key), "{jid} not indexed");
                members += 1;
            }
            match key {
                PendingKey::Shared(k) => assert_eq!(*k, pending.key),
                PendingKey::Own(jid) => assert_eq!(*jid, pending.asked),
            }
        }
        assert_eq!(members, self.member_of.len(), "member_of holds strays");
    }
}
