//! The hibernation extension: "the server extends a hibernating session's lifetime until the
//! first push" (Prosody's mod_cloud_notify, ejabberd's mod_push_keepalive; 72 h by default).
//!
//! The registry decides, the caller's XEP-0198 session store applies: see [`Hibernation`].

use std::time::{Duration, SystemTime};

use jid::{BareJid, FullJid};
use xmpp_tether_core::Now;

use super::Registry;
use super::event::Event;
use super::table::Hibernating;

/// What [`Registry::handle_hibernated`] decided: the hibernation extension, "the server extends
/// a hibernating session's lifetime until the first push" (Prosody's mod_cloud_notify,
/// ejabberd's mod_push_keepalive; 72 h by default).
///
/// The registry decides; the caller's XEP-0198 session store applies the decision. Wiring, with
/// any session store that can change a hibernated session's deadline:
///
/// 1. When a session hibernates (its stream broke and it waits for resumption with timeout
///    `T`), call [`Registry::handle_hibernated`]`(now, &session, T)`. On
///    [`Hibernation::Extended`] set the session's deadline to the one returned; on
///    [`Hibernation::Unchanged`] leave it.
/// 2. For each stanza queued into the hibernated session, call
///    [`Registry::notify`]`(now, &Target::Session(session), &trigger)`.
/// 3. On [`Event::HibernationDeadline`], set that session's
///    deadline to the one given (the first push went out: its own `T` runs from now). In a
///    cluster, a node whose registry did not see the session hibernate gets no such event
///    for it: after its own `notify` for the session returned more than zero,
///    [`Registry::ends_extension`] says whether to end the extension in the shared store.
/// 4. When the session is resumed call [`Registry::handle_resumed`]; when it expires or is
///    closed, [`Registry::handle_session_closed`].
///
/// With xmpp-sm (nothing here depends on it): step 1 is the stream's `ServerEvent::Hibernated
/// { id, .. }`, with [`Registry::handle_hibernated_until`]`(now, &jid,
/// store.deadline(&id))` and, when extended, `store.extend(now, &id, deadline)`; step 2 is a
/// stanza the store routed into a hibernated session (`store.route(&jid)` is
/// `Route::Hibernated`); step 3 is `store.set_deadline(now, &id, deadline)`, which may move
/// the deadline earlier; step 4 is `ServerEvent::Resumed`, and the store's
/// `StoreEvent::HandedBack` or the stream's end. `tests/registry/hibernation.rs` wires a model
/// session store this way; `examples/server/push/zero.rs` wires xmpp-sm's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "an extended deadline must be applied to the session store"]
#[non_exhaustive]
pub enum Hibernation {
    /// The session keeps its own timeout: no active registration was enabled from it, or the
    /// extension would not be longer.
    Unchanged,
    /// Keep the session until `deadline` (now plus
    /// [`RegistryConfig::hibernation_extension`](crate::RegistryConfig)), unless an
    /// [`Event::HibernationDeadline`](crate::Event::HibernationDeadline) for it comes first.
    Extended {
        /// The extended deadline.
        deadline: SystemTime,
    },
}

impl Registry {
    /// A session of an account hibernated (XEP-0198) with resumption timeout `timeout`. If an
    /// active registration was enabled from that session (both Prosody and ejabberd tie push
    /// to the session that enabled it), its lifetime is extended until its first push.
    pub fn handle_hibernated(
        &mut self,
        now: Now,
        session: &FullJid,
        timeout: Duration,
    ) -> Hibernation {
        let extension = self.config.hibernation_extension;
        let account = session.to_bare();
        let eligible = extension > timeout
            && self
                .accounts
                .get(&account)
                .is_some_and(|a| a.has_active_from(session));
        if !eligible {
            return Hibernation::Unchanged;
        }
        // A session hibernating again without a resumption in between starts afresh.
        self.forget_hibernation(session);
        self.make_hibernation_room(&account);
        let entry = self.account_entry(&account);
        let before = entry.hibernating.len();
        entry.hibernating.push(session.clone());
        let jid = std::sync::Arc::clone(&entry.jid);
        self.hibernating_index.update(&jid, before, before + 1);
        self.hibernating.insert(
            session.clone(),
            Hibernating {
                since: now.wall(),
                timeout,
            },
        );
        Hibernation::Extended {
            deadline: now.wall() + extension,
        }
    }

    /// [`handle_hibernated`](Self::handle_hibernated) for a session store that knows the
    /// session's deadline rather than its timeout (xmpp-sm's `SessionStore::deadline`): the
    /// timeout is what is left until `deadline`, none if it has passed.
    pub fn handle_hibernated_until(
        &mut self,
        now: Now,
        session: &FullJid,
        deadline: SystemTime,
    ) -> Hibernation {
        let timeout = deadline
            .duration_since(now.wall())
            .unwrap_or(Duration::ZERO);
        self.handle_hibernated(now, session, timeout)
    }

    /// The session was resumed: the user is back. Forgets its extension and resets the
    /// account's counts.
    pub fn handle_resumed(&mut self, now: Now, session: &FullJid) {
        self.forget_hibernation(session);
        self.handle_online(now, &session.to_bare());
    }

    /// The session ended (expired or closed without resumption): forgets its extension.
    pub fn handle_session_closed(&mut self, _now: Now, session: &FullJid) {
        self.forget_hibernation(session);
    }

    /// The user is online again (a new session): the summary counts start from zero.
    pub fn handle_online(&mut self, _now: Now, account: &BareJid) {
        if let Some(a) = self.accounts.get_mut(account) {
            a.messages = 0;
            a.subscriptions = 0;
        }
    }

    /// Removes `session` from the extension tables, without an event.
    pub(super) fn forget_hibernation(&mut self, session: &FullJid) -> Option<Hibernating> {
        let h = self.hibernating.remove(session)?;
        let account = session.to_bare();
        if let Some(a) = self.accounts.get_mut(&account) {
            let before = a.hibernating.len();
            a.hibernating.retain(|s| s != session);
            let jid = std::sync::Arc::clone(&a.jid);
            let after = a.hibernating.len();
            self.hibernating_index.update(&jid, before, after);
        }
        self.gc(&account);
        Some(h)
    }

    /// Ends an extension: the session gets `deadline`, reported.
    fn end_extension(
        &mut self,
        session: &FullJid,
        deadline: impl FnOnce(&Hibernating) -> SystemTime,
    ) {
        if let Some(h) = self.forget_hibernation(session) {
            self.emit(Event::HibernationDeadline {
                session: session.clone(),
                deadline: deadline(&h),
            });
        }
    }

    /// A push reached registrations enabled from `reached`: their extensions end, and each
    /// session's own timeout runs from now.
    pub(super) fn end_extensions_reached(
        &mut self,
        now: Now,
        account: &BareJid,
        reached: &[FullJid],
    ) {
        let Some(sessions) = self.accounts.get(account).map(|a| a.hibernating.clone()) else {
            return;
        };
        for session in sessions.iter().filter(|s| reached.contains(s)) {
            self.end_extension(session, |h| now.wall() + h.timeout);
        }
    }

    /// Registrations went away or were suspended: sessions no active registration covers any
    /// more get their own deadline back (Prosody restores the original smacks timeout when push
    /// is disabled).
    pub(super) fn recheck_extensions(&mut self, _now: Now, account: &BareJid) {
        let Some(a) = self.accounts.get(account) else {
            return;
        };
        let orphaned: Vec<FullJid> = a
            .hibernating
            .iter()
            .filter(|s| !a.has_active_from(s))
            .cloned()
            .collect();
        for session in orphaned {
            self.end_extension(&session, |h| h.since + h.timeout);
        }
    }

    /// Ends the oldest extensions of this account, or of the account holding the most, until
    /// one more fits within both bounds.
    fn make_hibernation_room(&mut self, account: &BareJid) {
        let per_account = self.config.max_hibernating_per_account.max(1);
        while let Some(oldest) = self
            .accounts
            .get(account)
            .filter(|a| a.hibernating.len() >= per_account)
            .and_then(|a| a.hibernating.first().cloned())
        {
            self.end_extension(&oldest, |h| h.since + h.timeout);
        }
        while self.hibernating.len() >= self.config.max_hibernating.max(1) {
            let Some(oldest) = self
                .hibernating_index
                .largest()
                .and_then(|a| self.accounts.get(&*a))
                .and_then(|a| a.hibernating.first().cloned())
            else {
                break;
            };
            self.end_extension(&oldest, |h| h.since + h.timeout);
        }
    }
}
