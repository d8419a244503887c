//! The s2s link to one remote domain, across all its streams: up, suspected lost (the grace
//! running), or down.
//!
//! XEP-0310 §4.1 leaves open when a link "is deemed not to be available" ("TODO: guidelines on
//! what this means"). Our answer: a domain is down when its last open stream (inbound or
//! outbound, for any of our hosts) was lost for a reason that says the remote server may be
//! unreachable ([`LinkLoss::is_outage`]), or a connection attempt failed while none was open,
//! and no stream was established again within [`crate::TrackerConfig::grace`]. A stream closed
//! for idleness, cleanly by the peer, or replaced by a newer one is not an outage: servers close
//! idle links all the time. Any established stream ends an outage.

use std::time::SystemTime;

use xmpp_parsers::stream_error::DefinedCondition;
use xmpp_tether_core::{Monotonic, Now};

/// The caller's handle for one s2s stream (inbound or outbound), unique among the streams it
/// has open: a connection id, a pointer, a counter. Only compared, never interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StreamId(pub u64);

/// Why an s2s stream ended, or a connection attempt failed: the caller classifies what its
/// server reports (see the crate docs for Prosody's and ejabberd's reasons).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum LinkLoss {
    /// Closed for inactivity, by either side. Not an outage.
    Idle,
    /// The peer closed the stream cleanly (`</stream:stream>`) without an error, or we did.
    /// Not an outage.
    Closed,
    /// A newer stream to the same domain replaced this one. Not an outage.
    Replaced,
    /// A stream error, sent or received. An outage unless the condition is one a healthy
    /// peer uses: `connection-timeout` (ejabberd closes idle s2s streams with it), `conflict`
    /// (replaced), `reset` or `see-other-host` (reconnect expected).
    StreamError(DefinedCondition),
    /// The transport failed: a TCP reset, a read or write error, end of file without
    /// `</stream:stream>`. An outage (if it was only a NAT dropping an idle connection, the
    /// reconnect that [`crate::Event::LinkLost`] asks for ends it within the grace).
    Network,
    /// No answer in time: an XEP-0199 ping or a XEP-0198 ack went unanswered. An outage.
    Timeout,
    /// A connection attempt failed before the stream was established: DNS, TCP, TLS, or
    /// authentication (dialback, SASL EXTERNAL). An outage.
    ConnectFailed,
}

impl LinkLoss {
    /// Whether this loss, of the last open stream, may mean the remote server is unreachable.
    #[must_use]
    pub const fn is_outage(&self) -> bool {
        match self {
            Self::Idle | Self::Closed | Self::Replaced => false,
            Self::StreamError(condition) => !matches!(
                condition,
                DefinedCondition::ConnectionTimeout
                    | DefinedCondition::Conflict
                    | DefinedCondition::Reset
                    | DefinedCondition::SeeOtherHost(_)
            ),
            Self::Network | Self::Timeout | Self::ConnectFailed => true,
        }
    }
}

/// The link state of a remote domain, from [`crate::Tracker::link`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum LinkStatus {
    /// Reachable as far as we know (streams open, or idle).
    Up {
        /// Streams open now.
        streams: usize,
    },
    /// The last stream was lost; if none is established by `deadline`, the domain is down.
    Suspect {
        /// Why.
        reason: LinkLoss,
        /// When the grace ends.
        deadline: Monotonic,
    },
    /// Down: its presences are annotated.
    Down {
        /// Why the link was lost.
        reason: LinkLoss,
        /// When it went down (wall clock).
        since: SystemTime,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum State {
    Up,
    Suspect {
        reason: LinkLoss,
        deadline: Monotonic,
    },
    Down {
        reason: LinkLoss,
        since: SystemTime,
    },
}

/// What a link input changed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    /// Nothing the tracker acts on.
    None,
    /// The last stream was lost: the grace started (with this deadline).
    Suspected(LinkLoss, Monotonic),
    /// A stream was established within the grace: nothing was annotated.
    Recovered,
    /// The grace ended without a stream: annotate.
    WentDown(LinkLoss),
    /// A stream was established after the domain went down: restore.
    Restored,
}

/// One remote domain's streams and state.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    /// Open streams; a handful at most (one outbound and one inbound per local host).
    pub(crate) streams: Vec<StreamId>,
    pub(crate) state: State,
}

impl Link {
    pub(crate) const fn new() -> Self {
        Self {
            streams: Vec::new(),
            state: State::Up,
        }
    }

    pub(crate) const fn is_down(&self) -> bool {
        matches!(self.state, State::Down { .. })
    }

    /// Whether the record carries nothing worth keeping: up, with no open stream.
    pub(crate) const fn is_idle(&self) -> bool {
        self.streams.is_empty() && matches!(self.state, State::Up)
    }

    pub(crate) fn deadline(&self) -> Option<Monotonic> {
        match &self.state {
            State::Suspect { deadline, .. } => Some(*deadline),
            _ => None,
        }
    }

    pub(crate) fn status(&self) -> LinkStatus {
        match &self.state {
            State::Up => LinkStatus::Up {
                streams: self.streams.len(),
            },
            State::Suspect { reason, deadline } => LinkStatus::Suspect {
                reason: reason.clone(),
                deadline: *deadline,
            },
            State::Down { reason, since } => LinkStatus::Down {
                reason: reason.clone(),
                since: *since,
            },
        }
    }

    /// A stream was established (authenticated, ready for stanzas).
    pub(crate) fn established(&mut self, stream: StreamId) -> Change {
        if !self.streams.contains(&stream) {
            self.streams.push(stream);
        }
        match std::mem::replace(&mut self.state, State::Up) {
            State::Up => Change::None,
            State::Suspect { .. } => Change::Recovered,
            State::Down { .. } => Change::Restored,
        }
    }

    /// A stream ended. A stream we never saw established counts as open until now.
    pub(crate) fn closed(
        &mut self,
        now: Now,
        grace: std::time::Duration,
        stream: StreamId,
        reason: LinkLoss,
    ) -> Change {
        self.streams.retain(|open| *open != stream);
        self.lost(now, grace, reason)
    }

    /// A connection attempt failed.
    pub(crate) fn failed(
        &mut self,
        now: Now,
        grace: std::time::Duration,
        reason: LinkLoss,
    ) -> Change {
        self.lost(now, grace, reason)
    }

    fn lost(&mut self, now: Now, grace: std::time::Duration, reason: LinkLoss) -> Change {
        // Another stream still carries stanzas, or nothing says the server is gone; a second
        // loss during the grace does not extend it, and a down link stays down.
        if !self.streams.is_empty() || !reason.is_outage() || !matches!(self.state, State::Up) {
            return Change::None;
        }
        if grace.is_zero() {
            self.state = State::Down {
                reason: reason.clone(),
                since: now.wall(),
            };
            return Change::WentDown(reason);
        }
        let deadline = now.monotonic() + grace;
        self.state = State::Suspect {
            reason: reason.clone(),
            deadline,
        };
        Change::Suspected(reason, deadline)
    }

    /// The grace timer: down if it ran out. A spurious call is a no-op.
    pub(crate) fn timeout(&mut self, now: Now) -> Change {
        match &self.state {
            State::Suspect { deadline, reason } if *deadline <= now.monotonic() => {
                let reason = reason.clone();
                self.state = State::Down {
                    reason: reason.clone(),
                    since: now.wall(),
                };
                Change::WentDown(reason)
            }
            _ => Change::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn t0() -> Now {
        Now::new(
            Monotonic::ZERO,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        )
    }

    const GRACE: Duration = Duration::from_secs(30);

    #[test]
    fn idle_and_clean_closes_are_not_outages() {
        let mut link = Link::new();
        assert_eq!(link.established(StreamId(1)), Change::None);
        for reason in [
            LinkLoss::Idle,
            LinkLoss::Closed,
            LinkLoss::Replaced,
            LinkLoss::StreamError(DefinedCondition::ConnectionTimeout),
            LinkLoss::StreamError(DefinedCondition::Conflict),
        ] {
            let _ = link.established(StreamId(1));
            assert_eq!(link.closed(t0(), GRACE, StreamId(1), reason), Change::None);
            assert!(link.is_idle());
        }
    }

    #[test]
    fn a_loss_with_another_stream_open_is_no_outage() {
        let mut link = Link::new();
        let _ = link.established(StreamId(1));
        let _ = link.established(StreamId(2));
        assert_eq!(
            link.closed(t0(), GRACE, StreamId(1), LinkLoss::Network),
            Change::None
        );
        assert_eq!(link.streams, vec![StreamId(2)]);
    }

    #[test]
    fn grace_then_down_then_restored() {
        let mut link = Link::new();
        let _ = link.established(StreamId(1));
        let deadline = t0().monotonic() + GRACE;
        assert_eq!(
            link.closed(t0(), GRACE, StreamId(1), LinkLoss::Network),
            Change::Suspected(LinkLoss::Network, deadline)
        );
        // A second failure in the grace does not extend it; an early timer does nothing.
        let later = t0().advance(Duration::from_secs(10));
        assert_eq!(
            link.failed(later, GRACE, LinkLoss::ConnectFailed),
            Change::None
        );
        assert_eq!(link.deadline(), Some(deadline));
        assert_eq!(link.timeout(later), Change::None);
        let due = t0().advance(GRACE);
        assert_eq!(link.timeout(due), Change::WentDown(LinkLoss::Network));
        assert!(link.is_down());
        assert_eq!(link.timeout(due), Change::None);
        assert_eq!(link.established(StreamId(3)), Change::Restored);
        assert_eq!(link.status(), LinkStatus::Up { streams: 1 });
    }

    #[test]
    fn a_reconnect_within_the_grace_recovers_quietly() {
        let mut link = Link::new();
        assert!(matches!(
            link.failed(t0(), GRACE, LinkLoss::ConnectFailed),
            Change::Suspected(..)
        ));
        assert_eq!(link.established(StreamId(9)), Change::Recovered);
        assert_eq!(link.timeout(t0().advance(GRACE)), Change::None);
    }

    #[test]
    fn zero_grace_goes_down_at_once_and_a_wall_step_moves_nothing() {
        let mut link = Link::new();
        assert_eq!(
            link.failed(t0(), Duration::ZERO, LinkLoss::Timeout),
            Change::WentDown(LinkLoss::Timeout)
        );
        let mut link = Link::new();
        let _ = link.failed(t0(), GRACE, LinkLoss::Timeout);
        let stepped = t0().with_wall(SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000));
        assert_eq!(link.timeout(stepped), Change::None);
    }
}
