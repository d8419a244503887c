//! Checkpoints: copies of a live stream's session, for a store shared by several nodes.
//!
//! A hibernated session is written to a shared store whole when its connection is lost. A
//! node that dies (or hangs) while its stream is still open writes nothing, so a cluster
//! keeps a copy of each live resumable session as well, taken whenever it changes: if the
//! session cannot be handed over, another node resumes the copy. A copy can lag its stream;
//! resuming one accepts an `h` beyond it and reports the gap
//! ([`ServerEvent::ResumedFromCheckpoint`](crate::ServerEvent::ResumedFromCheckpoint)).

use xmpp_tether_core::Now;

use super::{Phase, Server};
use crate::session::HibernatedSession;
use crate::store::StreamHandle;

/// What a checkpoint of a stream depends on, cheap to compare: take a new copy
/// ([`Server::checkpoint`]) only when [`Server::checkpoint_mark`] differs from the mark of the
/// last copy written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CheckpointMark {
    outbound: u32,
    acked: u32,
    inbound: u32,
}

impl<H: StreamHandle> Server<H> {
    /// The mark of the copy [`checkpoint`](Self::checkpoint) would take now: `None` unless
    /// this stream holds a resumable session (stream management on, with an SM-ID).
    ///
    /// It changes when a stanza is sent or handled or an acknowledgement arrives, which is
    /// everything a resumption depends on (the session's JID and resumption time are fixed
    /// once it is enabled or resumed).
    #[must_use]
    pub fn checkpoint_mark(&self) -> Option<CheckpointMark> {
        self.id.as_ref().filter(|_| self.phase == Phase::On)?;
        let c = &self.core.counters;
        Some(CheckpointMark {
            outbound: c.outbound,
            acked: c.acked,
            inbound: c.inbound,
        })
    }

    /// A copy of this stream's session as it stands, as if its connection were lost at `now`
    /// (its deadline `now` plus the resumption time), marked as a checkpoint
    /// ([`HibernatedSession::checkpointed_at`]). The stream goes on unchanged. `None` unless
    /// it holds a resumable session.
    ///
    /// For a store shared by several nodes: write the copy before writing what
    /// [`poll_transmit`](Self::poll_transmit) hands out, and a stanza the client can have
    /// received or an `h` it can have been told is never missing from it. Another node that
    /// cannot get the session handed over (this node died with the stream open) resumes the
    /// copy instead. Remove the copy once the session hibernates or ends here.
    ///
    /// ```
    /// use xmpp_sm::{CheckpointMark, HibernatedSession, Now, Server, StreamHandle};
    ///
    /// /// Before the stream's output is written: a new copy if anything changed.
    /// fn before_writing<H: StreamHandle>(
    ///     server: &Server<H>,
    ///     written: &mut Option<CheckpointMark>,
    ///     now: Now,
    ///     write: impl FnOnce(&HibernatedSession) -> Result<(), String>,
    /// ) {
    ///     let mark = server.checkpoint_mark();
    ///     if mark.is_some()
    ///         && mark != *written
    ///         && let Some(copy) = server.checkpoint(now)
    ///         && write(&copy).is_ok()
    ///     {
    ///         *written = mark;
    ///     }
    /// }
    /// ```
    #[must_use]
    pub fn checkpoint(&self, now: Now) -> Option<HibernatedSession> {
        let id = self.id.clone().filter(|_| self.phase == Phase::On)?;
        Some(HibernatedSession {
            id,
            owner: self.owner.clone(),
            resource: self.resource.clone(),
            counters: self.core.counters.clone(),
            max: self.max,
            deadline: HibernatedSession::deadline_from(now, self.max),
            checkpointed: Some(now.wall()),
        })
    }
}
