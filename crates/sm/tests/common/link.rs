//! One direction of a stream's transport, and the seeded dice that decide its losses.
//!
//! XMPP runs over an ordered, reliable byte stream: elements are never reordered and never
//! duplicated, and a lost element means the connection is broken from that point on. So a
//! "drop" here cuts the direction: the element and everything queued behind it are lost, and
//! later writes vanish, until the stream is replaced. (str0m's `netem` decides losses with a
//! seeded RNG in the same way, so that every failure replays from its seed.)

use std::collections::VecDeque;

use minidom::Element;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// One direction of one stream: elements in flight, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Link {
    queue: VecDeque<Element>,
    /// Whether writes still reach the queue.
    closed: bool,
}

impl Link {
    /// Puts an element on the wire, unless the direction is closed or cut.
    pub(crate) fn write(&mut self, element: Element) {
        if !self.closed {
            self.queue.push_back(element);
        }
    }

    /// Takes the oldest element in flight.
    pub(crate) fn pop(&mut self) -> Option<Element> {
        self.queue.pop_front()
    }

    /// The sender closed its end: what is in flight still arrives, nothing new does.
    pub(crate) const fn close(&mut self) {
        self.closed = true;
    }

    /// The connection broke: everything in flight is lost and nothing new arrives.
    pub(crate) fn cut(&mut self) {
        self.queue.clear();
        self.closed = true;
    }

    /// Whether elements are waiting to be delivered.
    pub(crate) fn is_busy(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Whether writes still go through.
    pub(crate) const fn is_open(&self) -> bool {
        !self.closed
    }
}

/// Seeded randomness of the network: per-element drops, and which element moves next.
#[derive(Debug)]
pub(crate) struct Dice {
    rng: ChaCha20Rng,
    /// Chance, in thousandths, that a delivered element is lost instead (cutting its link).
    pub(crate) loss_permille: u32,
}

impl Dice {
    pub(crate) fn new(seed: u64, loss_permille: u32) -> Self {
        Self {
            rng: ChaCha20Rng::seed_from_u64(seed),
            loss_permille,
        }
    }

    /// Whether the next element is lost.
    pub(crate) fn drops(&mut self) -> bool {
        self.loss_permille > 0 && self.chance(self.loss_permille)
    }

    /// True with probability `permille / 1000`.
    pub(crate) fn chance(&mut self, permille: u32) -> bool {
        self.rng.next_u32() % 1000 < permille
    }

    /// A uniform index below `n` (`n > 0`).
    pub(crate) fn pick(&mut self, n: usize) -> usize {
        let n = u64::try_from(n).unwrap_or(u64::MAX).max(1);
        usize::try_from(self.rng.next_u64() % n).unwrap_or(0)
    }
}
