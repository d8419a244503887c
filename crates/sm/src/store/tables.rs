//! The store's tables and every rule about them, behind the store's one lock.
//!
//! Indexes: streams by key; each account's resources (live on a stream or hibernated) and
//! hibernated sessions by deadline; hibernated sessions by SM-ID and by deadline; live SM-IDs;
//! take-overs in progress; recently ended sessions' last `h`. Every operation touches only
//! the entries it concerns.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::SystemTime;

use jid::{BareJid, FullJid};
use minidom::Element;
use xmpp_tether_core::{Monotonic, Now};

use super::{StoreEvent, StreamHandle};
use crate::config::ServerConfig;
use crate::elements::SmId;
use crate::error::{Refusal, Refused};
use crate::event::HandBackReason;
use crate::session::HibernatedSession;
use crate::transmit::Unacked;

/// Identifies one [`crate::Server`] stream within its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct StreamKey(u64);

/// What a bound full JID resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Slot {
    Live(StreamKey),
    Hibernated(SmId),
}

#[derive(Debug)]
pub(crate) struct Stream<H> {
    pub(crate) handle: H,
    pub(crate) owner: BareJid,
    pub(crate) jid: Option<FullJid>,
    /// The SM-ID while the stream holds a resumable session.
    pub(crate) id: Option<SmId>,
    /// Stanzas routed to this stream ([`crate::SessionStore::send`]) that its task has not
    /// taken yet ([`crate::Server::handle_wake`]).
    pub(crate) inbox: VecDeque<Unacked>,
}

/// Where [`Tables::route_stanza`] put a stanza.
#[derive(Debug)]
pub(crate) enum Routed {
    /// In a live stream's inbox (its task has been woken if needed).
    Inbox,
    /// In a hibernated session.
    Hibernated,
    /// Nowhere: handed back.
    Refused(Refused<Element>),
}

#[derive(Debug, Default)]
pub(crate) struct Account {
    pub(crate) resources: BTreeMap<FullJid, Slot>,
    /// This account's hibernated sessions, soonest deadline first.
    pub(crate) hibernated: BTreeSet<(Monotonic, SmId)>,
}

#[derive(Debug)]
pub(crate) struct Hibernating {
    pub(crate) session: HibernatedSession,
    pub(crate) due: Monotonic,
}

/// A resume waiting for the stream that still holds the session to hand it over.
#[derive(Debug)]
pub(crate) struct Takeover<H> {
    pub(crate) claimant: StreamKey,
    pub(crate) handle: H,
    pub(crate) session: Option<HibernatedSession>,
}

/// What a `<resume/>` found.
#[derive(Debug)]
pub(crate) enum Claim {
    Hibernated(HibernatedSession),
    /// The session is live on another stream, which has been asked to hand it over.
    Pending,
    Failed {
        h: Option<u32>,
    },
}

#[derive(Debug)]
pub(crate) struct Tables<H> {
    pub(crate) config: ServerConfig,
    next_key: u64,
    pub(crate) streams: HashMap<StreamKey, Stream<H>>,
    pub(crate) accounts: HashMap<BareJid, Account>,
    /// Accounts by how many hibernated sessions they hold (for fair global eviction).
    by_size: BTreeSet<(usize, BareJid)>,
    pub(crate) live: HashMap<SmId, StreamKey>,
    pub(crate) hibernated: HashMap<SmId, Hibernating>,
    deadlines: BTreeSet<(Monotonic, SmId)>,
    takeovers: HashMap<SmId, Takeover<H>>,
    pub(crate) ended: HashMap<SmId, (BareJid, u32)>,
    pub(crate) ended_order: VecDeque<SmId>,
    pub(crate) events: VecDeque<StoreEvent>,
    timer: Option<H>,
    /// Handles to wake once the lock is released.
    wakes: Vec<H>,
}

impl<H: StreamHandle> Tables<H> {
    pub(crate) fn new(config: ServerConfig) -> Self {
        Self {
            config,
            next_key: 0,
            streams: HashMap::new(),
            accounts: HashMap::new(),
            by_size: BTreeSet::new(),
            live: HashMap::new(),
            hibernated: HashMap::new(),
            deadlines: BTreeSet::new(),
            takeovers: HashMap::new(),
            ended: HashMap::new(),
            ended_order: VecDeque::new(),
            events: VecDeque::new(),
            timer: None,
            wakes: Vec::new(),
        }
    }

    pub(crate) fn set_timer(&mut self, handle: H) {
        self.timer = Some(handle);
    }

    pub(crate) fn take_wakes(&mut self) -> Vec<H> {
        std::mem::take(&mut self.wakes)
    }

    /// The next expiry moved earlier or an event is waiting: the timer task has work.
    fn wake_timer(&mut self) {
        if let Some(timer) = &self.timer {
            self.wakes.push(timer.clone());
        }
    }

    pub(crate) fn open(&mut self, owner: BareJid, handle: H) -> StreamKey {
        self.next_key += 1;
        let key = StreamKey(self.next_key);
        self.streams.insert(
            key,
            Stream {
                handle,
                owner,
                jid: None,
                id: None,
                inbox: VecDeque::new(),
            },
        );
        key
    }

    /// Whether an SM-ID is in use anywhere (a fresh one colliding means the RNG is broken or
    /// a record was replayed: never reuse it).
    pub(crate) fn id_known(&self, id: &SmId) -> bool {
        self.live.contains_key(id)
            || self.hibernated.contains_key(id)
            || self.takeovers.contains_key(id)
            || self.ended.contains_key(id)
    }

    /// Binds `jid` to stream `key`. A hibernated session on the same full JID is replaced: its
    /// stanzas are returned. Refuses a JID that another live stream holds.
    pub(crate) fn bind(&mut self, key: StreamKey, jid: &FullJid) -> Result<Vec<Unacked>, ()> {
        let bare = jid.to_bare();
        let slot = self
            .accounts
            .get(&bare)
            .and_then(|a| a.resources.get(jid))
            .cloned();
        let replaced = match slot {
            Some(Slot::Live(other)) if other != key => return Err(()),
            Some(Slot::Hibernated(id)) => self.remove_hibernated(&id),
            _ => None,
        };
        if let Some(stream) = self.streams.get_mut(&key) {
            stream.jid = Some(jid.clone());
        }
        self.accounts
            .entry(bare)
            .or_default()
            .resources
            .insert(jid.clone(), Slot::Live(key));
        Ok(replaced.map(|r| self.end_session(r)).unwrap_or_default())
    }

    /// Stream `key` holds resumable session `id` from now on.
    pub(crate) fn register(&mut self, key: StreamKey, id: SmId) {
        if let Some(stream) = self.streams.get_mut(&key) {
            stream.id = Some(id.clone());
        }
        self.live.insert(id, key);
    }

    /// Looks up the session a `<resume/>` from stream `key` of `owner` names.
    pub(crate) fn claim(
        &mut self,
        now: Now,
        key: StreamKey,
        previd: &SmId,
        owner: &BareJid,
    ) -> Claim {
        self.expire_if_due(now, previd);
        if self
            .hibernated
            .get(previd)
            .is_some_and(|h| h.session.owner == *owner)
            && let Some(session) = self.remove_hibernated(previd)
        {
            return Claim::Hibernated(session);
        }
        // Handed over to an earlier claimant that has not collected it yet (its client gave
        // up on that stream and resumes here): the newer claimant takes it, and the earlier
        // one is woken to find the take-over gone.
        if self.takeovers.get(previd).is_some_and(|t| {
            t.claimant != key && t.session.as_ref().is_some_and(|s| s.owner == *owner)
        }) && let Some(Takeover {
            handle,
            session: Some(session),
            ..
        }) = self.takeovers.remove(previd)
        {
            self.wakes.push(handle);
            return Claim::Hibernated(session);
        }
        let live_owner = self.live.get(previd).and_then(|k| {
            let stream = self.streams.get(k)?;
            Some((*k, stream.owner.clone(), stream.handle.clone()))
        });
        if let Some((old, stream_owner, old_handle)) = live_owner
            && stream_owner == *owner
            && old != key
        {
            let claimant = self.streams.get(&key).map(|s| s.handle.clone());
            if let Some(handle) = claimant {
                // A newer claimant supersedes an older one, which is told to give up.
                if let Some(previous) = self.takeovers.insert(
                    previd.clone(),
                    Takeover {
                        claimant: key,
                        handle,
                        session: None,
                    },
                ) {
                    self.wakes.push(previous.handle);
                }
                self.wakes.push(old_handle);
                return Claim::Pending;
            }
        }
        let h = self
            .ended
            .get(previd)
            .filter(|(o, _)| o == owner)
            .map(|(_, h)| *h);
        Claim::Failed { h }
    }

    /// Stream `key`'s session `id` leaves it. If another stream is waiting to take it over,
    /// it goes there (and that stream is woken); otherwise `None` and the caller hibernates
    /// or ends it. Either way the stream no longer holds it.
    pub(crate) fn detach(
        &mut self,
        key: StreamKey,
        mut session: HibernatedSession,
        now: Now,
        limit: usize,
    ) -> Option<HibernatedSession> {
        let id = session.id.clone();
        // Stanzas routed to the stream but not taken yet travel with its session.
        let inbox = self.take_inbox(key);
        let _ = now;
        for u in inbox {
            if let Err(refused) = session.push(u.stanza, u.first_sent, limit) {
                self.orphaned(
                    Some(id.clone()),
                    session.owner.clone(),
                    session.resource.clone(),
                    vec![Unacked::new(refused.into_inner(), u.first_sent)],
                );
            }
        }
        if self.live.get(&id) == Some(&key) {
            self.live.remove(&id);
        }
        if let Some(stream) = self.streams.get_mut(&key) {
            stream.id = None;
        }
        self.unroute(key);
        match self.takeovers.get_mut(&id) {
            Some(takeover) if takeover.session.is_none() => {
                takeover.session = Some(session);
                self.wakes.push(takeover.handle.clone());
                None
            }
            _ => Some(session),
        }
    }

    /// Whether another stream asked to take over session `id` from stream `key`.
    pub(crate) fn takeover_requested(&self, key: StreamKey, id: &SmId) -> bool {
        self.live.get(id) == Some(&key)
            && self
                .takeovers
                .get(id)
                .is_some_and(|t| t.session.is_none() && t.claimant != key)
    }

    /// For a claimant stream: the handed-over session if it is there, `Err` if the take-over
    /// is no longer ours (superseded or abandoned), `Ok(None)` if still waiting.
    pub(crate) fn collect_handover(
        &mut self,
        key: StreamKey,
        id: &SmId,
    ) -> Result<Option<HibernatedSession>, ()> {
        match self.takeovers.get_mut(id) {
            Some(t) if t.claimant == key => match t.session.take() {
                Some(session) => {
                    self.takeovers.remove(id);
                    Ok(Some(session))
                }
                None => Ok(None),
            },
            _ => Err(()),
        }
    }

    /// Sessions handed over to a claimant that has not collected them yet.
    pub(crate) fn handed_over(&self) -> impl Iterator<Item = &HibernatedSession> {
        self.takeovers.values().filter_map(|t| t.session.as_ref())
    }

    /// A claimant gives up waiting (timed out, closed or dropped): a session that was already
    /// handed over is returned (to hibernate); a pending request is withdrawn.
    pub(crate) fn abandon_takeover(
        &mut self,
        key: StreamKey,
        id: &SmId,
    ) -> Option<HibernatedSession> {
        if self.takeovers.get(id).is_some_and(|t| t.claimant == key) {
            return self.takeovers.remove(id).and_then(|t| t.session);
        }
        None
    }

    /// Keeps a session until its deadline (`due` on the monotonic clock), within the
    /// per-account and global limits. Returns the session refused for a duplicate SM-ID.
    pub(crate) fn hibernate(
        &mut self,
        session: HibernatedSession,
        due: Monotonic,
    ) -> Result<(), Box<HibernatedSession>> {
        let id = session.id.clone();
        if self.live.contains_key(&id)
            || self.hibernated.contains_key(&id)
            || self.takeovers.contains_key(&id)
        {
            return Err(Box::new(session));
        }
        // One session per full JID. A stream that bound the JID while this session was away
        // from every index (a take-over given up, a handed-over session not collected) has it
        // now, as a bind ends a hibernated session on its JID: this one ends. An older session
        // hibernated on the JID is replaced by this one.
        if let Some(jid) = &session.resource {
            let slot = self
                .accounts
                .get(&jid.to_bare())
                .and_then(|a| a.resources.get(jid))
                .cloned();
            match slot {
                Some(Slot::Live(_)) => {
                    self.ended_with_event(HandBackReason::Replaced, session);
                    return Ok(());
                }
                Some(Slot::Hibernated(other)) if other != id => {
                    if let Some(old) = self.remove_hibernated(&other) {
                        self.ended_with_event(HandBackReason::Replaced, old);
                    }
                }
                _ => {}
            }
        }
        let limits = self.config.store.clone();
        if limits.max_hibernated == 0 || limits.max_per_account == 0 {
            self.ended_with_event(HandBackReason::Evicted, session);
            return Ok(());
        }
        let owner = session.owner.clone();
        // Per account first: an account evicts only its own sessions.
        while self.count_of(&owner) >= limits.max_per_account {
            let Some(oldest) = self.oldest_of(&owner) else {
                break;
            };
            self.evict(&oldest);
        }
        // Then globally: the account holding the most gives one up.
        while self.hibernated.len() >= limits.max_hibernated {
            let Some((_, largest)) = self.by_size.last().cloned() else {
                break;
            };
            let Some(oldest) = self.oldest_of(&largest) else {
                break;
            };
            self.evict(&oldest);
        }
        let earliest = self.deadlines.first().map(|(d, _)| *d);
        self.deadlines.insert((due, id.clone()));
        let count = self.count_of(&owner);
        self.by_size.remove(&(count, owner.clone()));
        self.by_size.insert((count + 1, owner.clone()));
        let account = self.accounts.entry(owner).or_default();
        account.hibernated.insert((due, id.clone()));
        if let Some(jid) = &session.resource {
            account
                .resources
                .insert(jid.clone(), Slot::Hibernated(id.clone()));
        }
        self.hibernated.insert(id, Hibernating { session, due });
        if earliest.is_none_or(|e| due < e) {
            self.wake_timer();
        }
        Ok(())
    }

    fn count_of(&self, owner: &BareJid) -> usize {
        self.accounts.get(owner).map_or(0, |a| a.hibernated.len())
    }

    fn oldest_of(&self, owner: &BareJid) -> Option<SmId> {
        let account = self.accounts.get(owner)?;
        account.hibernated.first().map(|(_, id)| id.clone())
    }

    fn evict(&mut self, id: &SmId) {
        if let Some(session) = self.remove_hibernated(id) {
            self.ended_with_event(HandBackReason::Evicted, session);
        }
    }

    /// Ends a session the store held and reports its stanzas in a [`StoreEvent`].
    fn ended_with_event(&mut self, reason: HandBackReason, session: HibernatedSession) {
        let (id, owner, jid) = (
            session.id.clone(),
            session.owner.clone(),
            session.resource.clone(),
        );
        let stanzas = self.end_session(session);
        self.events.push_back(StoreEvent::HandedBack {
            reason,
            id: Some(id),
            owner,
            jid,
            stanzas,
        });
        self.wake_timer();
    }

    /// Removes a hibernated session from every index.
    pub(crate) fn remove_hibernated(&mut self, id: &SmId) -> Option<HibernatedSession> {
        let Hibernating { session, due } = self.hibernated.remove(id)?;
        self.deadlines.remove(&(due, id.clone()));
        let count = self.count_of(&session.owner);
        self.by_size.remove(&(count, session.owner.clone()));
        if let Some(account) = self.accounts.get_mut(&session.owner) {
            account.hibernated.remove(&(due, id.clone()));
            if let Some(jid) = &session.resource
                && account.resources.get(jid) == Some(&Slot::Hibernated(id.clone()))
            {
                account.resources.remove(jid);
            }
        }
        if count > 1 {
            self.by_size.insert((count - 1, session.owner.clone()));
        }
        self.forget_account_if_empty(&session.owner);
        Some(session)
    }

    fn forget_account_if_empty(&mut self, owner: &BareJid) {
        if self
            .accounts
            .get(owner)
            .is_some_and(|a| a.resources.is_empty() && a.hibernated.is_empty())
        {
            self.accounts.remove(owner);
        }
    }

    /// Ends a session for good: remembers its last `h` and returns its stanzas.
    pub(crate) fn end_session(&mut self, session: HibernatedSession) -> Vec<Unacked> {
        self.remember(session.id.clone(), session.owner.clone(), session.handled());
        session.into_unacked()
    }

    /// Remembers an ended session's last `h`, for `<failed h/>` (XEP-0198 §5), bounded.
    pub(crate) fn remember(&mut self, id: SmId, owner: BareJid, handled: u32) {
        let limit = self.config.store.max_remembered;
        if limit == 0 {
            return;
        }
        while self.ended_order.len() >= limit {
            if let Some(old) = self.ended_order.pop_front() {
                self.ended.remove(&old);
            }
        }
        if self.ended.insert(id.clone(), (owner, handled)).is_none() {
            self.ended_order.push_back(id);
        }
    }

    /// Stream `key` no longer routes its JID.
    fn unroute(&mut self, key: StreamKey) {
        let Some(jid) = self.streams.get(&key).and_then(|s| s.jid.clone()) else {
            return;
        };
        let bare = jid.to_bare();
        if let Some(account) = self.accounts.get_mut(&bare)
            && account.resources.get(&jid) == Some(&Slot::Live(key))
        {
            account.resources.remove(&jid);
        }
        self.forget_account_if_empty(&bare);
    }

    /// Routes a stanza for `jid`, first given to the library at `first_sent`: into its live
    /// stream's inbox (waking the stream's task when the inbox was empty), or its hibernated
    /// session, both within `limit`.
    pub(crate) fn route_stanza(
        &mut self,
        now: Now,
        jid: &FullJid,
        stanza: Element,
        first_sent: SystemTime,
        limit: usize,
    ) -> Routed {
        let slot = self
            .accounts
            .get(&jid.to_bare())
            .and_then(|a| a.resources.get(jid))
            .cloned();
        match slot {
            Some(Slot::Live(key)) => match self.streams.get_mut(&key) {
                Some(stream) if stream.inbox.len() >= limit => {
                    Routed::Refused(Refused::new(Refusal::QueueFull { limit }, stanza))
                }
                Some(stream) => {
                    if stream.inbox.is_empty() {
                        self.wakes.push(stream.handle.clone());
                    }
                    stream.inbox.push_back(Unacked::new(stanza, first_sent));
                    Routed::Inbox
                }
                None => Routed::Refused(Refused::new(Refusal::UnknownSession, stanza)),
            },
            Some(Slot::Hibernated(id)) => {
                self.expire_if_due(now, &id);
                match self.hibernated.get_mut(&id) {
                    Some(h) => match h.session.push(stanza, first_sent, limit) {
                        Ok(()) => Routed::Hibernated,
                        Err(refused) => Routed::Refused(refused),
                    },
                    None => Routed::Refused(Refused::new(Refusal::UnknownSession, stanza)),
                }
            }
            None => Routed::Refused(Refused::new(Refusal::UnknownSession, stanza)),
        }
    }

    /// Takes the stanzas waiting in stream `key`'s inbox.
    pub(crate) fn take_inbox(&mut self, key: StreamKey) -> VecDeque<Unacked> {
        self.streams
            .get_mut(&key)
            .map(|s| std::mem::take(&mut s.inbox))
            .unwrap_or_default()
    }

    /// Stream `key` is gone: it leaves every index. Stanzas still in its inbox are routed
    /// again (to the session it left behind, or the stream that took it over); those with
    /// nowhere to go are returned.
    pub(crate) fn close(&mut self, now: Option<Now>, key: StreamKey, limit: usize) -> Vec<Unacked> {
        self.unroute(key);
        let Some(stream) = self.streams.remove(&key) else {
            return Vec::new();
        };
        if let Some(id) = &stream.id
            && self.live.get(id) == Some(&key)
        {
            self.live.remove(id);
        }
        // Everything in the inbox was routed to this stream's JID.
        let mut refused = Vec::new();
        for u in stream.inbox {
            let routed = match (&stream.jid, now) {
                (Some(jid), Some(now)) => {
                    self.route_stanza(now, jid, u.stanza, u.first_sent, limit)
                }
                _ => Routed::Refused(Refused::new(Refusal::UnknownSession, u.stanza)),
            };
            if let Routed::Refused(r) = routed {
                refused.push(Unacked::new(r.into_inner(), u.first_sent));
            }
        }
        refused
    }

    /// Expires `id` if its deadline has passed, even if the timer has not fired yet: a
    /// resumption never outlives the time granted.
    pub(crate) fn expire_if_due(&mut self, now: Now, id: &SmId) {
        if self
            .hibernated
            .get(id)
            .is_some_and(|h| h.due <= now.monotonic())
        {
            self.expire(id);
        }
    }

    fn expire(&mut self, id: &SmId) {
        if let Some(session) = self.remove_hibernated(id) {
            self.ended_with_event(HandBackReason::Expired, session);
        }
    }

    pub(crate) fn handle_timeout(&mut self, now: Now) {
        while let Some((due, id)) = self.deadlines.first().cloned() {
            if due > now.monotonic() {
                break;
            }
            self.expire(&id);
        }
    }

    pub(crate) fn next_deadline(&self) -> Option<Monotonic> {
        if !self.events.is_empty() {
            // Undrained events: the timer task should come round at once.
            return Some(Monotonic::ZERO);
        }
        self.deadlines.first().map(|(due, _)| *due)
    }

    /// Stanzas a stream that was dropped could not keep: the store hands them back.
    pub(crate) fn orphaned(
        &mut self,
        id: Option<SmId>,
        owner: BareJid,
        jid: Option<FullJid>,
        stanzas: Vec<Unacked>,
    ) {
        if stanzas.is_empty() {
            return;
        }
        self.events.push_back(StoreEvent::HandedBack {
            reason: HandBackReason::StreamClosed,
            id,
            owner,
            jid,
            stanzas,
        });
        self.wake_timer();
    }
}
