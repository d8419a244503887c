//! A hibernated session: everything a server needs to resume a stream later, possibly in
//! another process or on another node.

use std::time::{Duration, SystemTime};

use jid::{BareJid, FullJid};
use minidom::Element;
use xmpp_tether_core::Now;

use crate::config::RecordLimits;
use crate::core::Counters;
use crate::elements::{self, SmId};
use crate::error::{RecordError, Refusal, Refused};
use crate::ns::Namespace;
use crate::seq;
use crate::transmit::Unacked;

/// The state of a resumable stream whose connection is gone: SM-ID, owner, counters, the
/// unacknowledged stanzas and the hibernation deadline (wall clock, so it survives a
/// restart).
///
/// A [`crate::SessionStore`] holds these; with the `serde` feature one serialises on its own
/// (stanzas as XML text), so a cluster can keep each session in the store it already runs and
/// resume it on another node. Reading one back validates it like peer data
/// (what a record may contain); see the crate docs on how far a store must be trusted.
#[derive(Debug, Clone, PartialEq)]
pub struct HibernatedSession {
    pub(crate) id: SmId,
    pub(crate) owner: BareJid,
    pub(crate) resource: Option<FullJid>,
    pub(crate) counters: Counters,
    pub(crate) max: u32,
    pub(crate) deadline: SystemTime,
    /// Set on a copy of a stream that was still live ([`crate::Server::checkpoint`]): when
    /// it was taken.
    pub(crate) checkpointed: Option<SystemTime>,
}

impl HibernatedSession {
    /// The SM-ID.
    #[must_use]
    pub const fn id(&self) -> &SmId {
        &self.id
    }

    /// The account that owns the session; only it may resume.
    #[must_use]
    pub const fn owner(&self) -> &BareJid {
        &self.owner
    }

    /// The full JID bound on the stream, if one was.
    #[must_use]
    pub const fn resource(&self) -> Option<&FullJid> {
        self.resource.as_ref()
    }

    /// The dialect the session was enabled in.
    #[must_use]
    pub const fn namespace(&self) -> Namespace {
        self.counters.ns
    }

    /// When the session expires unless resumed (wall clock).
    #[must_use]
    pub const fn deadline(&self) -> SystemTime {
        self.deadline
    }

    /// The resumption time granted, in seconds.
    #[must_use]
    pub const fn max(&self) -> u32 {
        self.max
    }

    /// When this record was copied from a stream that was still live
    /// ([`crate::Server::checkpoint`]); `None` for a session that hibernated.
    ///
    /// A checkpoint may lag its stream: the stream may have sent stanzas, received
    /// acknowledgements or handled stanzas from the client after the copy. Resuming one
    /// therefore accepts an `h` beyond the stanzas it holds (the client has those stanzas)
    /// and reports what is known of the gap in
    /// [`ServerEvent::ResumedFromCheckpoint`](crate::ServerEvent::ResumedFromCheckpoint).
    #[must_use]
    pub const fn checkpointed_at(&self) -> Option<SystemTime> {
        self.checkpointed
    }

    /// How many stanzas wait for the client.
    #[must_use]
    pub fn unacked(&self) -> usize {
        self.counters.queue.len()
    }

    /// Stanzas handled from the client so far (the `h` a `<resumed/>` will carry).
    #[must_use]
    pub const fn handled(&self) -> u32 {
        self.counters.inbound
    }

    /// Whether `owner` may resume this session at `now`: it is theirs and its deadline has
    /// not passed on the wall clock. The pure check a cluster runs on a record it fetched from
    /// a shared store before claiming it.
    #[must_use]
    pub fn may_claim(&self, owner: &BareJid, now: Now) -> bool {
        self.owner == *owner && now.wall() < self.deadline
    }

    /// Extends the deadline to `deadline` if that is later (XEP-0357 servers keep a session
    /// that waits for a push alive longer). Never shortens it.
    pub fn extend_deadline(&mut self, deadline: SystemTime) {
        self.deadline = self.deadline.max(deadline);
    }

    /// Queues a stanza that arrived for the client while it is away; it goes out after the
    /// retransmissions when the session is resumed. `first_sent` is when it was first given to
    /// the library (wall clock).
    ///
    /// A cluster appends the stanzas routed to a session while its record was in a shared
    /// store this way, with the times they were first routed, before
    /// [`crate::SessionStore::adopt`]ing it.
    ///
    /// # Errors
    /// The stanza is handed back: [`Refusal::NotAStanza`], or [`Refusal::QueueFull`] at
    /// `limit`.
    pub fn push(
        &mut self,
        stanza: Element,
        first_sent: SystemTime,
        limit: usize,
    ) -> Result<(), Refused<Element>> {
        if !elements::is_stanza(&stanza) {
            return Err(Refused::new(Refusal::NotAStanza, stanza));
        }
        self.counters
            .hold(stanza, first_sent, limit)
            .map_err(|stanza| Refused::new(Refusal::QueueFull { limit }, stanza))
    }

    /// Gives the session up: every unacknowledged stanza, oldest first.
    #[must_use]
    pub fn into_unacked(mut self) -> Vec<Unacked> {
        self.counters.take_unacked()
    }

    /// Checks a record read back from storage, as if it came from a peer: the resource
    /// belongs to the owner, the counters agree with the queue, every queued element is a
    /// stanza, and the limits hold. (XML nesting and size are bounded when the record is
    /// deserialised.)
    ///
    /// # Errors
    /// The first [`RecordError`] found.
    pub(crate) fn validate(&self, limits: RecordLimits) -> Result<(), RecordError> {
        if let Some(resource) = &self.resource
            && resource.to_bare() != self.owner
        {
            return Err(RecordError::ResourceOfAnotherAccount {
                owner: self.owner.to_string(),
                resource: resource.to_string(),
            });
        }
        let c = &self.counters;
        let queued = seq::distance(c.acked, c.outbound);
        if queued as usize != c.queue.len() {
            return Err(RecordError::Counters(
                "the queue length is not outbound - acked",
            ));
        }
        if seq::distance(c.acked, c.sent) > queued {
            return Err(RecordError::Counters(
                "sent is not between acked and outbound",
            ));
        }
        if let Some(index) = c.queue.iter().position(|q| !elements::is_stanza(&q.stanza)) {
            return Err(RecordError::NotAStanza { index });
        }
        if c.queue.len() > limits.max_queue {
            return Err(RecordError::QueueTooLong {
                len: c.queue.len(),
                limit: limits.max_queue,
            });
        }
        if self.max > limits.max_resume {
            return Err(RecordError::MaxTooLong {
                max: self.max,
                limit: limits.max_resume,
            });
        }
        Ok(())
    }

    pub(crate) fn deadline_from(now: Now, max: u32) -> SystemTime {
        let wall = now.wall();
        wall.checked_add(Duration::from_secs(u64::from(max)))
            .unwrap_or(wall)
    }
}
