//! The server-side table of resumable sessions: live, hibernated, and recently ended.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::SystemTime;

use jid::{BareJid, FullJid};
use minidom::Element;

use crate::config::StoreConfig;
use crate::elements::SmId;
use crate::session::{HibernatedSession, QueueFull};
use crate::transmit::Unacked;

/// What [`SessionStore::claim`] found for a `<resume/>`.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
#[non_exhaustive]
pub enum Claim {
    /// The session was hibernated: it is now yours, pass it to
    /// [`crate::Server::accept_resume`].
    Hibernated(HibernatedSession),
    /// The session is still attached to an open stream (the client noticed the broken
    /// connection before the server did). Call [`crate::Server::take_over`] on that stream,
    /// write the `conflict` error there, and pass the session to
    /// [`crate::Server::accept_resume`]. If `take_over` fails, that stream's session has
    /// ended: answer [`crate::Server::reject_resume`] with the `h` of its
    /// [`crate::Event::SessionEnded`].
    Live,
    /// Nothing to resume: answer with [`crate::Server::reject_resume`] and this `h` (known
    /// only for a recently ended session of the same account).
    Failed {
        /// The ended session's last count of handled stanzas.
        h: Option<u32>,
    },
}

/// Something the store reports. Drain with [`SessionStore::poll_event`].
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum StoreEvent {
    /// A hibernated session expired (its deadline passed, or it was evicted at
    /// [`StoreConfig::max_hibernated`]). Its stanzas are handed back: store them offline or
    /// bounce them. Fires once per session.
    Expired {
        /// The SM-ID.
        id: SmId,
        /// The owner.
        owner: BareJid,
        /// The unacknowledged stanzas, oldest first.
        stanzas: Vec<Unacked>,
    },
}

/// Why the store refused to take a session or stanza.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No hibernated session has this SM-ID; the stanza is handed back.
    #[error("no hibernated session {id}")]
    UnknownSession {
        /// The SM-ID asked for.
        id: SmId,
        /// The stanza, handed back.
        stanza: Box<Element>,
    },
    /// The session's queue is full; the stanza is handed back.
    #[error(transparent)]
    QueueFull(#[from] QueueFull),
    /// Only messages, presences and iqs are queued; the element is handed back.
    #[error("<{}/> is not a stanza", .0.name())]
    NotAStanza(Box<Element>),
}

impl StoreError {
    /// The element handed back (every variant carries one).
    #[must_use]
    pub fn into_element(self) -> Element {
        match self {
            Self::UnknownSession { stanza, .. } | Self::NotAStanza(stanza) => *stanza,
            Self::QueueFull(full) => *full.stanza,
        }
    }
}

/// Live, hibernated and recently ended sessions, by SM-ID.
///
/// A session can be resumed only by the account that owns it: [`claim`](Self::claim) answers
/// an unknown id and another account's id alike ([`Claim::Failed`] without `h`), so a prober
/// learns nothing. Bounded: at most [`StoreConfig::max_hibernated`] hibernated sessions and
/// [`StoreConfig::max_remembered`] ended ones; live entries are one per open resumable stream
/// (bounded by the caller's connection limit), and leave the table when the stream hibernates
/// ([`hibernate`](Self::hibernate)) or ends ([`end`](Self::end), on
/// [`crate::Event::SessionEnded`]).
///
/// Sans-IO like the streams: [`poll_timeout`](Self::poll_timeout) gives the next expiry,
/// [`handle_timeout`](Self::handle_timeout) expires, [`poll_event`](Self::poll_event) hands
/// the stanzas back. With the `serde` feature the whole store serialises.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SessionStore {
    config: StoreConfig,
    live: HashMap<SmId, BareJid>,
    hibernated: HashMap<SmId, HibernatedSession>,
    deadlines: BTreeSet<(SystemTime, SmId)>,
    by_resource: HashMap<FullJid, SmId>,
    ended: HashMap<SmId, (BareJid, u32)>,
    ended_order: VecDeque<SmId>,
    /// Undrained events travel with the store, so persisting it loses no stanza.
    events: VecDeque<StoreEvent>,
}

impl SessionStore {
    /// An empty store.
    #[must_use]
    pub fn new(config: StoreConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// How many sessions are hibernated.
    #[must_use]
    pub fn hibernated(&self) -> usize {
        self.hibernated.len()
    }

    /// The hibernated session of a full JID, if any: where to [`push`](Self::push) stanzas
    /// addressed to a client that is away.
    #[must_use]
    pub fn find(&self, jid: &FullJid) -> Option<&SmId> {
        self.by_resource.get(jid)
    }

    /// Records a resumable session that is live on a stream (after
    /// [`crate::Server::accept_enable`] or `accept_resume`).
    pub fn register(&mut self, id: SmId, owner: BareJid) {
        self.live.insert(id, owner);
    }

    /// Keeps a session whose connection is gone until its deadline.
    pub fn hibernate(&mut self, now: SystemTime, session: HibernatedSession) {
        let _ = now;
        self.live.remove(&session.id);
        if self.config.max_hibernated == 0 {
            self.expire(session);
            return;
        }
        while self.hibernated.len() >= self.config.max_hibernated {
            let Some((_, id)) = self.deadlines.pop_first() else {
                break;
            };
            if let Some(old) = self.remove_hibernated(&id) {
                self.expire(old);
            }
        }
        self.deadlines
            .insert((session.deadline, session.id.clone()));
        if let Some(jid) = &session.resource {
            self.by_resource.insert(jid.clone(), session.id.clone());
        }
        self.hibernated.insert(session.id.clone(), session);
    }

    /// Queues a stanza for a hibernated session's client; it is delivered on resumption, or
    /// handed back on expiry.
    ///
    /// # Errors
    /// [`StoreError`] with the stanza handed back.
    pub fn push(&mut self, now: SystemTime, id: &SmId, stanza: Element) -> Result<(), StoreError> {
        self.expire_if_due(now, id);
        match self.hibernated.get_mut(id) {
            Some(session) => session.push(now, stanza),
            None => Err(StoreError::UnknownSession {
                id: id.clone(),
                stanza: Box::new(stanza),
            }),
        }
    }

    /// Looks up the session a `<resume/>` names, for the account that sent it.
    ///
    /// A session whose deadline has passed is expired first (its [`StoreEvent::Expired`] is
    /// queued), even if the caller's timer for [`handle_timeout`](Self::handle_timeout) has not
    /// fired yet: a resumption never outlives the time granted.
    pub fn claim(&mut self, now: SystemTime, previd: &SmId, owner: &BareJid) -> Claim {
        self.expire_if_due(now, previd);
        if let Some(session) = self.hibernated.get(previd) {
            if session.owner == *owner {
                let deadline = session.deadline;
                self.deadlines.remove(&(deadline, previd.clone()));
                if let Some(session) = self.remove_hibernated(previd) {
                    self.live.insert(previd.clone(), owner.clone());
                    return Claim::Hibernated(session);
                }
            }
            return Claim::Failed { h: None };
        }
        match (self.live.get(previd), self.ended.get(previd)) {
            (Some(live_owner), _) if live_owner == owner => Claim::Live,
            (_, Some((ended_owner, h))) if ended_owner == owner => Claim::Failed { h: Some(*h) },
            _ => Claim::Failed { h: None },
        }
    }

    /// Expires a hibernated session now, whatever its deadline (an administrator's kick, a
    /// resource conflict): its stanzas come back in [`StoreEvent::Expired`]. Returns whether
    /// there was such a session.
    pub fn evict(&mut self, now: SystemTime, id: &SmId) -> bool {
        let _ = now;
        let Some(session) = self.remove_hibernated(id) else {
            return false;
        };
        self.deadlines.remove(&(session.deadline, id.clone()));
        self.expire(session);
        true
    }

    fn expire_if_due(&mut self, now: SystemTime, id: &SmId) {
        let due = self.hibernated.get(id).is_some_and(|s| s.deadline <= now);
        if due {
            let _ = self.evict(now, id);
        }
    }

    /// A live session ended for good: call on [`crate::Event::SessionEnded`]. Its last `h` is
    /// remembered so a late `<resume/>` gets `<failed h/>`.
    pub fn end(&mut self, id: &SmId, handled: u32) {
        if let Some(owner) = self.live.remove(id) {
            self.remember(id.clone(), owner, handled);
        }
    }

    /// Expires hibernated sessions whose deadline is at or before `now`. A spurious call is a
    /// no-op.
    pub fn handle_timeout(&mut self, now: SystemTime) {
        while let Some((deadline, _)) = self.deadlines.first() {
            if *deadline > now {
                break;
            }
            let Some((_, id)) = self.deadlines.pop_first() else {
                break;
            };
            if let Some(session) = self.remove_hibernated(&id) {
                self.expire(session);
            }
        }
    }

    /// The next hibernation deadline.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<SystemTime> {
        self.deadlines.first().map(|(deadline, _)| *deadline)
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<StoreEvent> {
        self.events.pop_front()
    }

    fn remove_hibernated(&mut self, id: &SmId) -> Option<HibernatedSession> {
        let session = self.hibernated.remove(id)?;
        if let Some(jid) = &session.resource
            && self.by_resource.get(jid) == Some(id)
        {
            self.by_resource.remove(jid);
        }
        Some(session)
    }

    fn expire(&mut self, session: HibernatedSession) {
        let (id, owner, handled) = (session.id.clone(), session.owner.clone(), session.handled());
        let stanzas = session.into_unacked();
        self.remember(id.clone(), owner.clone(), handled);
        self.events
            .push_back(StoreEvent::Expired { id, owner, stanzas });
    }

    fn remember(&mut self, id: SmId, owner: BareJid, handled: u32) {
        if self.config.max_remembered == 0 {
            return;
        }
        while self.ended_order.len() >= self.config.max_remembered {
            if let Some(old) = self.ended_order.pop_front() {
                self.ended.remove(&old);
            }
        }
        if self.ended.insert(id.clone(), (owner, handled)).is_none() {
            self.ended_order.push_back(id);
        }
    }
}
