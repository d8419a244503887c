//! The time convention: one [`Now`] argument, two clocks.
//!
//! A sans-IO machine must never read a clock, so the caller passes the time in. It needs two
//! different kinds of time, and mixing them up is a classic bug:
//!
//! - **Live timers** (an ack request after 5 s, a retry back-off, a debounce) must measure
//!   elapsed time. If they followed the wall clock, an NTP step backwards would stall them and
//!   a step forwards would fire them all at once. They use the [`Monotonic`] reading, and
//!   every `poll_timeout` in the workspace returns a [`Monotonic`] deadline.
//! - **Facts that leave the process** (a hibernated session's deadline written to a store
//!   and read back after a restart or on another node, the time a stanza was first sent for a
//!   XEP-0203 delay stamp, a JWT's `exp`) must be wall-clock time, because a monotonic clock
//!   means nothing outside the process that read it. They use [`Now::wall`] and are stored as
//!   [`SystemTime`].
//!
//! When a wall-clock deadline is read back into memory, [`Now::monotonic_for`] maps it onto
//! the monotonic clock once, so from then on it behaves like any live timer.

use std::ops::{Add, Sub};
use std::time::{Duration, Instant, SystemTime};

/// A point on the caller's monotonic clock: the time elapsed since an epoch the caller picks
/// (typically an [`Instant`] taken once when the program starts).
///
/// Only differences between two readings from the same process mean anything; never persist
/// one. Arithmetic saturates instead of panicking.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Monotonic(Duration);

impl Monotonic {
    /// The caller's epoch.
    pub const ZERO: Self = Self(Duration::ZERO);
    /// The latest representable point (a deadline that never comes).
    pub const MAX: Self = Self(Duration::MAX);

    /// The point `elapsed` after the caller's epoch.
    #[must_use]
    pub const fn from_epoch(elapsed: Duration) -> Self {
        Self(elapsed)
    }

    /// The point `instant` on a clock whose epoch is `epoch` (pure arithmetic, no clock read).
    /// An `instant` before `epoch` maps to [`Monotonic::ZERO`].
    #[must_use]
    pub fn from_instant(epoch: Instant, instant: Instant) -> Self {
        Self(instant.saturating_duration_since(epoch))
    }

    /// The [`Instant`] of this point on a clock whose epoch is `epoch`, for timers such as
    /// `tokio::time::sleep_until`. `None` if it does not fit (a deadline that never comes).
    #[must_use]
    pub fn to_instant(self, epoch: Instant) -> Option<Instant> {
        epoch.checked_add(self.0)
    }

    /// Time since the caller's epoch.
    #[must_use]
    pub const fn since_epoch(self) -> Duration {
        self.0
    }

    /// How long from `earlier` to `self`; zero if `earlier` is later.
    #[must_use]
    pub const fn saturating_duration_since(self, earlier: Self) -> Duration {
        self.0.saturating_sub(earlier.0)
    }

    /// `self + d`, saturating at [`Monotonic::MAX`].
    #[must_use]
    pub const fn saturating_add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(d))
    }
}

impl Add<Duration> for Monotonic {
    type Output = Self;

    /// Saturating: a deadline too far away becomes [`Monotonic::MAX`].
    fn add(self, d: Duration) -> Self {
        self.saturating_add(d)
    }
}

impl Sub for Monotonic {
    type Output = Duration;

    /// Saturating: zero if `other` is later.
    fn sub(self, other: Self) -> Duration {
        self.saturating_duration_since(other)
    }
}

/// A reading of the caller's two clocks, taken once per turn of its event loop and passed to
/// every call that needs the time.
///
/// ```
/// use std::time::{Duration, Instant, SystemTime};
/// use xmpp_tether_core::{Monotonic, Now};
///
/// struct Clock { epoch: Instant }
/// impl Clock {
///     # #[expect(clippy::disallowed_methods, reason = "the caller owns the clocks")]
///     fn now(&self) -> Now {
///         Now::new(Monotonic::from_instant(self.epoch, Instant::now()), SystemTime::now())
///     }
/// }
/// # #[expect(clippy::disallowed_methods, reason = "the caller owns the clocks")]
/// let clock = Clock { epoch: Instant::now() };
/// let now = clock.now();
/// assert!(now.monotonic() < now.monotonic() + Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    monotonic: Monotonic,
    wall: SystemTime,
}

impl Now {
    /// Both readings, taken together.
    #[must_use]
    pub const fn new(monotonic: Monotonic, wall: SystemTime) -> Self {
        Self { monotonic, wall }
    }

    /// The monotonic reading: for live timers.
    #[must_use]
    pub const fn monotonic(self) -> Monotonic {
        self.monotonic
    }

    /// The wall-clock reading: for what is persisted or leaves the process.
    #[must_use]
    pub const fn wall(self) -> SystemTime {
        self.wall
    }

    /// Seconds since the Unix epoch on the wall clock (0 for a clock set before 1970).
    #[must_use]
    pub fn unix_seconds(self) -> u64 {
        self.wall
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    /// Both clocks moved on by `d` (virtual time in tests and simulations).
    #[must_use]
    pub fn advance(self, d: Duration) -> Self {
        Self {
            monotonic: self.monotonic + d,
            wall: self.wall.checked_add(d).unwrap_or(self.wall),
        }
    }

    /// The same monotonic reading with the wall clock stepped to `wall` (an NTP correction, a
    /// user changing the date): for tests that a step moves no live timer.
    #[must_use]
    pub const fn with_wall(self, wall: SystemTime) -> Self {
        Self {
            monotonic: self.monotonic,
            wall,
        }
    }

    /// Maps a wall-clock deadline (read back from a store) onto the monotonic clock, as of
    /// this reading: a deadline already past maps to now.
    #[must_use]
    pub fn monotonic_for(self, wall_deadline: SystemTime) -> Monotonic {
        let left = wall_deadline
            .duration_since(self.wall)
            .unwrap_or(Duration::ZERO);
        self.monotonic + left
    }

    /// The wall-clock time of a monotonic deadline, as of this reading (for persisting it).
    #[must_use]
    pub fn wall_for(self, deadline: Monotonic) -> SystemTime {
        let left = deadline.saturating_duration_since(self.monotonic);
        self.wall.checked_add(left).unwrap_or(self.wall)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Now {
        Now::new(
            Monotonic::from_epoch(Duration::from_secs(10)),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        )
    }

    #[test]
    fn advance_moves_both_clocks() {
        let now = t0().advance(Duration::from_secs(3));
        assert_eq!(now.monotonic().since_epoch(), Duration::from_secs(13));
        assert_eq!(now.unix_seconds(), 1_700_000_003);
    }

    #[test]
    fn a_wall_step_leaves_the_monotonic_clock_alone() {
        let stepped = t0().with_wall(SystemTime::UNIX_EPOCH);
        assert_eq!(stepped.monotonic(), t0().monotonic());
        assert_eq!(stepped.unix_seconds(), 0);
    }

    #[test]
    fn wall_deadlines_map_both_ways() {
        let now = t0();
        let wall = now.wall() + Duration::from_secs(300);
        let mono = now.monotonic_for(wall);
        assert_eq!(mono - now.monotonic(), Duration::from_secs(300));
        assert_eq!(now.wall_for(mono), wall);
        // A deadline in the past is due now.
        assert_eq!(now.monotonic_for(SystemTime::UNIX_EPOCH), now.monotonic());
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Monotonic::MAX + Duration::from_secs(1), Monotonic::MAX);
        assert_eq!(Monotonic::ZERO - Monotonic::MAX, Duration::ZERO);
        let epoch_free = Monotonic::from_epoch(Duration::from_secs(1));
        assert_eq!(
            epoch_free.saturating_duration_since(Monotonic::MAX),
            Duration::ZERO
        );
    }
}
