//! What a store shared by several server nodes needs from this one: hibernated sessions
//! moved out of it and into it whole, checkpoints of them, and ended sessions' last `h`.
//!
//! The record itself is [`HibernatedSession`] (with the `serde` feature it serialises on its
//! own, validated like peer data when read back); [`HibernatedSession::may_claim`] is the
//! pure "may this account claim it now" check; [`SessionStore::adopt`] takes a claimed record
//! in, so that the `<resume/>` it was claimed for finds it. Which shared store, and how a
//! claim is made atomic there, is the caller's (the example server's Redis mode is one).

use jid::BareJid;
use xmpp_tether_core::Now;

use super::{EndedSession, SessionStore, StreamHandle};
use crate::elements::SmId;
use crate::session::HibernatedSession;

impl EndedSession {
    /// A session that ended with `h` stanzas handled from the client, owned by `owner`: for
    /// [`SessionStore::remember`] on a node that learnt of it from a shared store.
    #[must_use]
    pub const fn new(id: SmId, owner: BareJid, h: u32) -> Self {
        Self { id, owner, h }
    }
}

impl From<&HibernatedSession> for EndedSession {
    /// What remains of a session once it ends: its SM-ID, owner and last `h`.
    fn from(session: &HibernatedSession) -> Self {
        Self::new(session.id.clone(), session.owner.clone(), session.handled())
    }
}

impl<H: StreamHandle> SessionStore<H> {
    /// A copy of the hibernated session `id` as it stands (its deadline as of `now` on the
    /// wall clock), to write to a shared store after it hibernates or its queue changes. The
    /// session stays here. `None` if `id` is not hibernated (or has just expired: its stanzas
    /// then come out of [`poll_event`](Self::poll_event)).
    #[must_use]
    pub fn checkpoint(&self, now: Now, id: &SmId) -> Option<HibernatedSession> {
        self.with(|t| {
            t.expire_if_due(now, id);
            let h = t.hibernated.get(id)?;
            let mut session = h.session.clone();
            session.deadline = now.wall_for(h.due);
            Some(session)
        })
    }

    /// Takes the hibernated session `id` out of this store without ending it: no stanza is
    /// handed back and no `h` remembered, because the session lives on elsewhere (written to
    /// a shared store from which any node may claim it). Its full JID no longer routes here.
    /// `None` if `id` is not hibernated (or has just expired, as for
    /// [`checkpoint`](Self::checkpoint)). Give it back with [`adopt`](Self::adopt) if it
    /// cannot be written elsewhere.
    #[must_use]
    pub fn release(&self, now: Now, id: &SmId) -> Option<HibernatedSession> {
        self.with(|t| {
            t.expire_if_due(now, id);
            let due = t.hibernated.get(id)?.due;
            let mut session = t.remove_hibernated(id)?;
            session.deadline = now.wall_for(due);
            Some(session)
        })
    }

    /// The last `h` of the ended session `id`, if this store remembers it (to share it, so
    /// that a late `<resume/>` on another node gets `<failed h/>` too).
    #[must_use]
    pub fn ended(&self, id: &SmId) -> Option<EndedSession> {
        self.with(|t| {
            let (owner, h) = t.ended.get(id)?;
            Some(EndedSession::new(id.clone(), owner.clone(), *h))
        })
    }

    /// Remembers a session that ended elsewhere (read from a shared store), within
    /// [`StoreConfig::max_remembered`](crate::StoreConfig): a `<resume/>` for it from its
    /// owner then gets `<failed h/>`, from anyone else the answer for an unknown id. Returns
    /// `false`, changing nothing, if this store knows `id` already (live, hibernated, being
    /// taken over, or ended).
    pub fn remember(&self, ended: EndedSession) -> bool {
        self.with(|t| {
            if t.id_known(&ended.id) {
                return false;
            }
            t.remember(ended.id, ended.owner, ended.h);
            true
        })
    }
}
