//! What the tracker reports: the outcome of each relayed presence, and events.

use jid::{DomainPart, FullJid, Jid};
use xmpp_tether_core::Monotonic;

use crate::elements::Condition;
use crate::link::LinkLoss;

/// What [`crate::Tracker::handle_presence`] did with a presence on its way to a watcher.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Relay {
    /// Recorded as the latest available presence the watcher holds from the sender.
    Tracked,
    /// Recorded, and annotated in place: the sender is stale right now (XEP-0310: while an
    /// entity is stale, what is relayed for it keeps saying so).
    Annotated(Condition),
    /// An unavailable or error presence: the watcher's presence from the sender is forgotten
    /// (nothing will be annotated for that pair until a new available presence).
    Cleared,
    /// Not tracked (the presence goes out unchanged, foreign annotations aside).
    Untracked(Untracked),
}

/// Why a presence was not tracked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Untracked {
    /// No `from` or `to`, or a local watcher named by its bare JID (call once per resource,
    /// with its full JID).
    NotAddressed,
    /// A subscription presence or a probe (XEP-0310 §4.1: "subscription requests are
    /// excluded").
    Excluded,
    /// The watcher does not want annotations (its caps say so, or the remote-watcher policy).
    NotInterested,
    /// Nothing can make this presence stale here: a remote sender relayed to a remote
    /// watcher, or a local sender without a session (a bare JID).
    NeverStale,
    /// A table is full ([`crate::TrackerConfig::max_parties`] or
    /// [`crate::TrackerConfig::max_domains`]).
    Limit,
}

/// What [`crate::Event::Refused`] could not keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Table {
    /// A JID's record ([`crate::TrackerConfig::max_parties`]).
    Parties,
    /// A remote domain's link state ([`crate::TrackerConfig::max_domains`]).
    Domains,
}

/// Something the tracker did or could not do. Drain with [`crate::Tracker::poll_event`] after
/// every `&mut` call, after [`crate::Tracker::poll_transmit`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The last stream to a domain was lost for a reason that may be an outage: the grace
    /// started. Try to reach the domain now (send it an XEP-0199 ping, or open an outbound
    /// stream): an established stream within the grace ends the suspicion quietly, and a
    /// failed attempt confirms it. Fires once per suspicion.
    LinkLost {
        /// The remote domain.
        domain: DomainPart,
        /// Why.
        reason: LinkLoss,
        /// When the grace ends ([`crate::Tracker::poll_timeout`] includes it).
        deadline: Monotonic,
    },
    /// A stream was established within the grace: nothing was annotated. Fires once per
    /// suspicion that ends this way.
    LinkRecovered {
        /// The remote domain.
        domain: DomainPart,
    },
    /// The grace ran out: the domain is down, and its presences were re-sent annotated with
    /// `<server-unavailable/>` to every watcher that asked and can receive them. Fires once
    /// per outage.
    LinkDown {
        /// The remote domain.
        domain: DomainPart,
        /// Why the link was lost.
        reason: LinkLoss,
        /// How many annotated presences were queued.
        annotated: usize,
    },
    /// A stream to a down domain was established: the empty annotations (and probes, if
    /// configured) were queued. Fires once per outage.
    LinkRestored {
        /// The remote domain.
        domain: DomainPart,
        /// How many empty annotations were queued (catching up remote watchers included).
        restored: usize,
        /// How many probes were queued.
        probes: usize,
    },
    /// A local session paused: its presence was re-sent with `<connection-paused/>`. Fires
    /// once per pause.
    Paused {
        /// The session.
        jid: FullJid,
        /// How many annotated presences were queued.
        annotated: usize,
    },
    /// A paused local session resumed: the empty annotations were queued, and the session,
    /// as a watcher, was caught up on what changed while it was away. Fires once per resume.
    Resumed {
        /// The session.
        jid: FullJid,
        /// How many empty annotations of its presence were queued.
        restored: usize,
        /// How many annotations it received itself to catch up.
        caught_up: usize,
    },
    /// The tracker forgot the presences involving a JID, without sending anything: a session
    /// ended, a JID went unavailable (it receives presence afresh when it comes back), an
    /// occupant left its room, or a watcher turned out not to want annotations. Fires once per
    /// such input that forgot at least one presence.
    Forgotten {
        /// The JID.
        jid: Jid,
        /// How many tracked presences were forgotten.
        presences: usize,
    },
    /// A tracked presence was evicted to make room ([`crate::TrackerConfig::max_presences`],
    /// [`crate::TrackerConfig::max_presences_per_account`]): that watcher will not get an
    /// annotation for that sender until the sender's next presence. Fires once per eviction.
    Evicted {
        /// The watcher.
        watcher: Jid,
        /// The sender.
        source: Jid,
    },
    /// A foreign annotation was stripped from a presence on its way through (XEP-0310 lets
    /// only the sender's own domain, such as a remote MUC service, annotate across servers).
    /// Fires once per presence that carried one.
    Stripped {
        /// The presence's sender.
        from: Option<Jid>,
        /// Its recipient.
        to: Option<Jid>,
        /// How many annotations were removed.
        count: usize,
    },
    /// A table was full, so a session's or domain's state was not kept: annotations for it
    /// will be missing. Fires once per refused input.
    Refused {
        /// The table.
        table: Table,
        /// The JID or domain refused.
        jid: Jid,
    },
}
