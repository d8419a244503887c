//! A whole store as data: what a server writes on shutdown and reads back on start.

use jid::BareJid;
use xmpp_tether_core::Now;

use super::{SessionStore, StoreEvent, StreamHandle, Tables};
use crate::config::ServerConfig;
use crate::elements::SmId;
use crate::error::{RecordError, RestoreError};
use crate::session::HibernatedSession;

/// Everything a [`SessionStore`] holds that outlives its streams: the hibernated sessions
/// (deadlines on the wall clock), the ended sessions' last `h`, and undrained events (so
/// persisting a store loses no stanza). Live streams are not in it: hibernate them first
/// ([`crate::Server::handle_disconnect`]) to keep their sessions across a restart.
///
/// With the `serde` feature it serialises. Reading one back goes through
/// [`SessionStore::restore`], which validates every record like peer data.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct StoreSnapshot {
    /// The hibernated sessions.
    pub sessions: Vec<HibernatedSession>,
    /// Recently ended sessions, oldest first.
    pub ended: Vec<EndedSession>,
    /// Events not drained yet.
    pub events: Vec<StoreEvent>,
}

/// A session that ended for good, remembered so that a late `<resume/>` gets `<failed h/>`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct EndedSession {
    /// The SM-ID.
    pub id: SmId,
    /// The account that owned it.
    pub owner: BareJid,
    /// Stanzas handled from the client when it ended.
    pub h: u32,
}

impl<H: StreamHandle> SessionStore<H> {
    /// The store as data, as of `now` (each deadline is written as the wall-clock time of its
    /// monotonic one). Sessions waiting in a take-over are included as hibernated.
    #[must_use]
    pub fn snapshot(&self, now: Now) -> StoreSnapshot {
        self.with(|t| {
            let mut sessions: Vec<HibernatedSession> = t
                .hibernated
                .values()
                .map(|h| {
                    let mut session = h.session.clone();
                    session.deadline = now.wall_for(h.due);
                    session
                })
                .collect();
            sessions.extend(t.handed_over().cloned());
            sessions.sort_by(|a, b| a.id.cmp(&b.id));
            let ended = t
                .ended_order
                .iter()
                .filter_map(|id| {
                    let (owner, h) = t.ended.get(id)?;
                    Some(EndedSession {
                        id: id.clone(),
                        owner: owner.clone(),
                        h: *h,
                    })
                })
                .collect();
            StoreSnapshot {
                sessions,
                ended,
                events: t.events.iter().cloned().collect(),
            }
        })
    }

    /// A store rebuilt from a snapshot, validating it like peer data: every session record
    /// (see [`HibernatedSession`]), SM-IDs unique across sessions and ended entries, one
    /// session per full JID. Limits are those of `config`: a snapshot from a server with
    /// higher limits is trimmed by the usual evictions, reported as events.
    ///
    /// # Errors
    /// The first [`RestoreError`] found; nothing is restored then.
    pub fn restore(
        config: ServerConfig,
        snapshot: StoreSnapshot,
        now: Now,
    ) -> Result<Self, RestoreError> {
        let limits = config.record_limits();
        let mut ids = std::collections::HashSet::new();
        let mut jids = std::collections::HashSet::new();
        for (index, session) in snapshot.sessions.iter().enumerate() {
            let error = |error| RestoreError::Session { index, error };
            session.validate(limits).map_err(error)?;
            if !ids.insert(session.id.clone()) {
                return Err(error(RecordError::DuplicateId(session.id.to_string())));
            }
            if let Some(jid) = &session.resource
                && !jids.insert(jid.clone())
            {
                return Err(error(RecordError::Index("two sessions on one full JID")));
            }
        }
        for (index, ended) in snapshot.ended.iter().enumerate() {
            if !ids.insert(ended.id.clone()) {
                return Err(RestoreError::Ended {
                    index,
                    error: RecordError::DuplicateId(ended.id.to_string()),
                });
            }
        }
        let store = Self::new(config);
        store.with(|t: &mut Tables<H>| {
            for ended in snapshot.ended {
                t.remember(ended.id, ended.owner, ended.h);
            }
            t.events.extend(snapshot.events);
            for session in snapshot.sessions {
                let due = now.monotonic_for(session.deadline);
                // SM-IDs were checked unique above, so this cannot be refused.
                let _ = t.hibernate(session, due);
            }
        });
        Ok(store)
    }
}
