//! The server-side registry of streams and resumable sessions, shared by every stream of a
//! server: live streams by full JID, hibernated sessions, take-overs in progress, recently
//! ended sessions.

mod shared;
mod snapshot;
mod tables;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use jid::{BareJid, FullJid};
use minidom::Element;
use xmpp_tether_core::{Monotonic, Now};

pub use self::snapshot::{EndedSession, StoreSnapshot};
pub(crate) use self::tables::{Claim, Routed, Slot, StreamKey, Tables};
use crate::config::ServerConfig;
use crate::elements::SmId;
use crate::error::{Refusal, Refused};
use crate::event::HandBackReason;
use crate::session::HibernatedSession;
use crate::transmit::Unacked;

/// The caller's handle to one stream's task (or to the store's timer task): the store calls
/// [`wake`](Self::wake) when that task has work to do for the library, and the task answers
/// by calling the stream's [`Server::handle_wake`](crate::Server::handle_wake) (or the store's
/// [`SessionStore::handle_timeout`]).
///
/// A stream is woken when stanzas were routed to it ([`SessionStore::send`]), when another
/// stream asks to take its session over, and when a session it waits for has been handed over
/// to it. With tokio this is typically an `Arc<tokio::sync::Notify>` (`notify_one`) or a
/// channel sender that queues a wake-up. `wake` is called after the store's lock is released,
/// and must not block.
pub trait StreamHandle: Clone {
    /// Make the task call `handle_wake` (or the store's `handle_timeout`) soon.
    fn wake(&self);
}

/// A handle that never wakes anything, for single-stream uses and tests: call `handle_wake`
/// yourself. Take-overs then complete only at [`ServerConfig::handover_timeout`].
impl StreamHandle for () {
    fn wake(&self) {}
}

/// Where a stanza for a full JID goes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Route<H> {
    /// A live stream: deliver it through this handle (then [`Server::send`](crate::Server::send) on that stream;
    /// if that refuses with [`Refusal::Closed`], route it again).
    Live(H),
    /// A hibernated session: [`SessionStore::push`] it.
    Hibernated(SmId),
}

/// Something the store reports. Drain with [`SessionStore::poll_event`]; the store wakes its
/// timer handle ([`SessionStore::set_timer_handle`]) whenever one is queued.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum StoreEvent {
    /// Stanzas the store held for a session that is over (it expired, was evicted to keep the
    /// limits, or its stream was dropped without a chance to hibernate): store them offline or
    /// bounce them. Fires once per session.
    HandedBack {
        /// Why: [`HandBackReason::Expired`], [`HandBackReason::Evicted`] or
        /// [`HandBackReason::StreamClosed`].
        reason: HandBackReason,
        /// The session's SM-ID, if it was resumable.
        id: Option<SmId>,
        /// The account.
        owner: BareJid,
        /// The full JID bound on the session.
        jid: Option<FullJid>,
        /// The unacknowledged stanzas, oldest first.
        stanzas: Vec<Unacked>,
    },
}

/// Every stream of a server, and the resumable sessions that outlive them.
///
/// One store per server, cheap to clone (a handle to shared state behind one lock, which is
/// never held while your code runs). Streams come from it ([`stream`](Self::stream)), so
/// that registering a resumable session, hibernating it when its connection is lost, taking
/// it over from a stream that is still open, ending it, and remembering its last `h` all
/// happen inside the library. The caller's part is I/O and a [`StreamHandle`] per stream.
///
/// A session can be resumed only by the account that owns it: anyone else's `<resume/>` is
/// answered exactly like an unknown SM-ID, so a prober learns nothing.
///
/// Bounded: at most [`StoreConfig::max_hibernated`](crate::StoreConfig) hibernated sessions in
/// all and [`max_per_account`](crate::StoreConfig) per account (one account at its limit
/// evicts its own oldest; at the global limit the account holding the most gives one up, so
/// no account can evict everyone else's), and
/// [`max_remembered`](crate::StoreConfig) ended sessions' counts.
///
/// Methods, by kind: getters [`route`](Self::route), [`resources`](Self::resources),
/// [`hibernated`](Self::hibernated), [`hibernated_count`](Self::hibernated_count),
/// [`features`](Self::features); commands [`stream`](Self::stream), [`push`](Self::push),
/// [`extend`](Self::extend), [`set_deadline`](Self::set_deadline), [`adopt`](Self::adopt),
/// [`release`](Self::release), [`remember`](Self::remember); getters
/// [`deadline`](Self::deadline), [`checkpoint`](Self::checkpoint), [`ended`](Self::ended);
/// input
/// [`handle_timeout`](Self::handle_timeout); output [`poll_event`](Self::poll_event),
/// [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
pub struct SessionStore<H> {
    config: Arc<ServerConfig>,
    tables: Arc<Mutex<Tables<H>>>,
}

impl<H> Clone for SessionStore<H> {
    fn clone(&self) -> Self {
        Self {
            config: Arc::clone(&self.config),
            tables: Arc::clone(&self.tables),
        }
    }
}

impl<H: StreamHandle> SessionStore<H> {
    /// An empty store whose streams all use `config`.
    #[must_use]
    pub fn new(config: ServerConfig) -> Self {
        Self {
            tables: Arc::new(Mutex::new(Tables::new(config.clone()))),
            config: Arc::new(config),
        }
    }

    /// The configuration every stream of this store uses.
    #[must_use]
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The handle the store wakes when its timer has work: an earlier expiry, or an event to
    /// drain.
    pub fn set_timer_handle(&self, handle: H) {
        self.with(|t| t.set_timer(handle));
    }

    /// The `<sm/>` stream features to offer after authentication, one per configured dialect.
    #[must_use]
    pub fn features(&self) -> Vec<Element> {
        self.config.features()
    }

    /// Where a stanza for `jid` goes, if anywhere.
    #[must_use]
    pub fn route(&self, jid: &FullJid) -> Option<Route<H>> {
        self.with(|t| {
            let slot = t.accounts.get(&jid.to_bare())?.resources.get(jid)?.clone();
            route_of(t, slot)
        })
    }

    /// Every resource of `account`, live or hibernated, with its route (for a stanza to the
    /// bare JID, RFC 6121 §8.5.2, or a presence broadcast).
    #[must_use]
    pub fn resources(&self, account: &BareJid) -> Vec<(FullJid, Route<H>)> {
        self.with(|t| {
            let Some(a) = t.accounts.get(account) else {
                return Vec::new();
            };
            a.resources
                .iter()
                .filter_map(|(jid, slot)| Some((jid.clone(), route_of(t, slot.clone())?)))
                .collect()
        })
    }

    /// The hibernated sessions of `account`, soonest deadline first: each SM-ID with the full
    /// JID bound on it.
    #[must_use]
    pub fn hibernated(&self, account: &BareJid) -> Vec<(SmId, Option<FullJid>)> {
        self.with(|t| {
            let Some(a) = t.accounts.get(account) else {
                return Vec::new();
            };
            a.hibernated
                .iter()
                .filter_map(|(_, id)| {
                    let h = t.hibernated.get(id)?;
                    Some((id.clone(), h.session.resource.clone()))
                })
                .collect()
        })
    }

    /// How many sessions are hibernated.
    #[must_use]
    pub fn hibernated_count(&self) -> usize {
        self.with(|t| t.hibernated.len())
    }

    /// Delivers a stanza to the full JID `jid`: into the inbox of its live stream (whose task
    /// is woken and takes it in [`Server::handle_wake`](crate::Server::handle_wake)), or into its hibernated session
    /// (delivered on resumption, or handed back in a [`StoreEvent`] if the session expires).
    /// Either way the library keeps it from here: a stream that closes with stanzas in its
    /// inbox passes them on to wherever its session went.
    ///
    /// # Errors
    /// The stanza is handed back: [`Refusal::UnknownSession`] when nothing is bound on `jid`
    /// (RFC 6121 §8.5.3.2 says what to do then: a message may go to the bare JID or offline),
    /// or [`Refusal::QueueFull`] at [`ServerConfig::max_queue`].
    pub fn send(&self, now: Now, jid: &FullJid, stanza: Element) -> Result<(), Refused<Element>> {
        let limit = self.config.max_queue;
        match self.with(|t| t.route_stanza(now, jid, stanza, now.wall(), limit)) {
            Routed::Inbox | Routed::Hibernated => Ok(()),
            Routed::Refused(refused) => Err(refused),
        }
    }

    /// Queues a stanza for the hibernated session of `jid`: delivered on resumption, or handed
    /// back in a [`StoreEvent`] if the session expires.
    ///
    /// # Errors
    /// The stanza is handed back: [`Refusal::UnknownSession`] (no hibernated session on that
    /// JID: route it again, or store it offline), [`Refusal::NotAStanza`],
    /// [`Refusal::QueueFull`].
    pub fn push(&self, now: Now, jid: &FullJid, stanza: Element) -> Result<(), Refused<Element>> {
        let limit = self.config.max_queue;
        self.with(|t| {
            let id = match t
                .accounts
                .get(&jid.to_bare())
                .and_then(|a| a.resources.get(jid))
            {
                Some(Slot::Hibernated(id)) => id.clone(),
                _ => return Err(Refused::new(Refusal::UnknownSession, stanza)),
            };
            t.expire_if_due(now, &id);
            match t.hibernated.get_mut(&id) {
                Some(h) => h.session.push(stanza, now.wall(), limit),
                None => Err(Refused::new(Refusal::UnknownSession, stanza)),
            }
        })
    }

    /// Moves a hibernated session's deadline later, to `deadline` (wall clock), never
    /// earlier: for example until the first push notification has gone out (XEP-0357 servers
    /// do this). Returns whether the session was there.
    pub fn extend(&self, now: Now, id: &SmId, deadline: std::time::SystemTime) -> bool {
        self.with(|t| {
            t.expire_if_due(now, id);
            let Some(session) = t.remove_hibernated(id) else {
                return false;
            };
            let mut session = session;
            session.extend_deadline(deadline);
            let due = now.monotonic_for(session.deadline);
            // Re-inserting what was just removed cannot hit a duplicate.
            t.hibernate(session, due).is_ok()
        })
    }

    /// Sets a hibernated session's deadline to `deadline` (wall clock), earlier or later: for
    /// example back to its own timeout once the first push notification has gone out, after
    /// [`extend`](Self::extend) kept it longer (XEP-0357 servers do this). A deadline already
    /// past expires it at once (its stanzas come out of [`poll_event`](Self::poll_event)).
    /// Returns whether the session was there.
    pub fn set_deadline(&self, now: Now, id: &SmId, deadline: std::time::SystemTime) -> bool {
        self.with(|t| {
            t.expire_if_due(now, id);
            let Some(mut session) = t.remove_hibernated(id) else {
                return false;
            };
            session.deadline = deadline;
            let due = now.monotonic_for(session.deadline);
            // Re-inserting what was just removed cannot hit a duplicate.
            let kept = t.hibernate(session, due).is_ok();
            t.expire_if_due(now, id);
            kept
        })
    }

    /// The deadline (wall clock) of the hibernated session `id`, if it is hibernated.
    #[must_use]
    pub fn deadline(&self, id: &SmId) -> Option<std::time::SystemTime> {
        self.with(|t| t.hibernated.get(id).map(|h| h.session.deadline))
    }

    /// Takes in a session from elsewhere (another node of a cluster, a record read back from
    /// storage), after validating it like peer data; it hibernates until its deadline.
    ///
    /// # Errors
    /// The session is handed back: [`Refusal::Invalid`] with the check that failed,
    /// [`Refusal::DuplicateId`] if this store already knows the SM-ID, or
    /// [`Refusal::ResourceInUse`] if its full JID is bound here already (live or hibernated).
    pub fn adopt(
        &self,
        now: Now,
        session: HibernatedSession,
    ) -> Result<(), Refused<HibernatedSession>> {
        if let Err(e) = session.validate(self.config.record_limits()) {
            return Err(Refused::new(Refusal::Invalid(e), session));
        }
        self.with(|t| {
            if t.id_known(&session.id) {
                let id = session.id.clone();
                return Err(Refused::new(Refusal::DuplicateId(id), session));
            }
            // One session per full JID: a record for a JID that is live here, or held by
            // another hibernated session, would leave one of them unroutable.
            let taken = session.resource.as_ref().is_some_and(|jid| {
                t.accounts
                    .get(&jid.to_bare())
                    .is_some_and(|a| a.resources.contains_key(jid))
            });
            if taken {
                return Err(Refused::new(Refusal::ResourceInUse, session));
            }
            let due = now.monotonic_for(session.deadline);
            t.hibernate(session, due).map_err(|session| {
                let id = session.id.clone();
                Refused::new(Refusal::DuplicateId(id), *session)
            })
        })
    }

    /// Expires hibernated sessions whose deadline has passed (their stanzas come out of
    /// [`poll_event`](Self::poll_event)). A spurious call is a no-op.
    pub fn handle_timeout(&self, now: Now) {
        self.with(|t| t.handle_timeout(now));
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next: the next expiry, or at once
    /// while events wait to be drained.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Monotonic> {
        self.with(|t| t.next_deadline())
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&self) -> Option<StoreEvent> {
        self.with(|t| t.events.pop_front())
    }

    /// Runs `f` under the lock, then wakes whoever it asked to wake.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Tables<H>) -> R) -> R {
        let (result, wakes) = {
            let mut tables = self.lock();
            let result = f(&mut tables);
            (result, tables.take_wakes())
        };
        for handle in wakes {
            handle.wake();
        }
        result
    }

    fn lock(&self) -> MutexGuard<'_, Tables<H>> {
        // The tables stay consistent between statements that can panic, so a panic elsewhere
        // while the lock was held leaves nothing half-done worth refusing service over.
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn route_of<H: StreamHandle>(t: &Tables<H>, slot: Slot) -> Option<Route<H>> {
    match slot {
        Slot::Live(key) => t.streams.get(&key).map(|s| Route::Live(s.handle.clone())),
        Slot::Hibernated(id) => Some(Route::Hibernated(id)),
    }
}
