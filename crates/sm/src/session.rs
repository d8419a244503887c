//! A hibernated session: everything a server needs to resume a stream later, possibly in
//! another process.

use std::time::{Duration, SystemTime};

use jid::{BareJid, FullJid};
use minidom::Element;

use crate::core::Counters;
use crate::elements::{self, SmId};
use crate::ns::Namespace;
use crate::store::StoreError;
use crate::transmit::Unacked;

/// The state of a resumable stream whose connection is gone: SM-ID, owner, counters, the
/// unacknowledged stanzas and the hibernation deadline.
///
/// With the `serde` feature it serialises (stanzas as XML text), so a cluster can keep it in
/// the store it already runs and resume it on another node. It holds no RNG and no clock.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HibernatedSession {
    pub(crate) id: SmId,
    pub(crate) owner: BareJid,
    pub(crate) resource: Option<FullJid>,
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_impl::counters"))]
    pub(crate) counters: Counters,
    pub(crate) max: u32,
    pub(crate) max_queue: usize,
    pub(crate) deadline: SystemTime,
}

/// A hibernated session's queue is full; the stanza is handed back.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the hibernated session's queue is full ({limit} stanzas)")]
pub struct QueueFull {
    /// The configured limit.
    pub limit: usize,
    /// The stanza that did not fit.
    pub stanza: Box<Element>,
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

    /// When the session expires unless resumed.
    #[must_use]
    pub const fn deadline(&self) -> SystemTime {
        self.deadline
    }

    /// The resumption time granted, in seconds.
    #[must_use]
    pub const fn max(&self) -> u32 {
        self.max
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

    /// Queues a stanza that arrived for the client while it is away; it goes out after the
    /// retransmissions when the session is resumed.
    ///
    /// # Errors
    /// [`StoreError::QueueFull`] at the session's queue limit and
    /// [`StoreError::NotAStanza`] for anything but a message, presence or iq, each with the
    /// element handed back.
    pub fn push(&mut self, now: SystemTime, stanza: Element) -> Result<(), StoreError> {
        if !elements::is_stanza(&stanza) {
            return Err(StoreError::NotAStanza(Box::new(stanza)));
        }
        if self.counters.queue.len() >= self.max_queue {
            return Err(StoreError::QueueFull(QueueFull {
                limit: self.max_queue,
                stanza: Box::new(stanza),
            }));
        }
        let mut sink = crate::core::Outputs::default();
        // Not transmitted: the stream is gone. `push` cannot fail below the limit.
        let _ = self
            .counters
            .push(now, stanza, self.max_queue, false, &mut sink);
        Ok(())
    }

    /// Gives the session up: every unacknowledged stanza, oldest first.
    #[must_use]
    pub fn into_unacked(mut self) -> Vec<Unacked> {
        self.counters.take_unacked()
    }

    pub(crate) fn deadline_from(now: SystemTime, max: u32) -> SystemTime {
        now.checked_add(Duration::from_secs(u64::from(max)))
            .unwrap_or(now)
    }
}
