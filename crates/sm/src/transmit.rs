//! What the state machines hand out: elements to write, where they go, and stanzas handed back.

use std::iter::{Chain, FusedIterator};
use std::ops::Deref;
use std::sync::Arc;
use std::time::SystemTime;
use std::{option, slice, vec};

use minidom::Element;

/// Where an element from [`poll_transmit`](crate::Server::poll_transmit) goes.
///
/// XEP-0198 elements can travel at the top level of the stream or inline in the SASL2 and
/// Bind2 exchanges at login (XEP-0198 §9, XEP-0388, XEP-0386). A machine tags every element
/// with the place its request came from, so the caller never decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Placement {
    /// A top-level element of the stream.
    TopLevel,
    /// Inside the SASL2 element of this login: the client's `<authenticate/>` or the server's
    /// `<success/>` (XEP-0388).
    Sasl2,
    /// Inside the Bind2 element of this login: the client's `<bind/>` or the server's
    /// `<bound/>` (XEP-0386), which itself goes inside SASL2 `<success/>`.
    Bind2,
}

/// The XEP-0198 elements of one login's SASL2 exchange, by where they go (see
/// [`Server::take_inline`](crate::Server::take_inline)).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Inline {
    /// For inside SASL2 `<authenticate/>` (client) or `<success/>` (server), in order.
    pub sasl2: Vec<Element>,
    /// For inside Bind2 `<bind/>` (client) or `<bound/>` (server), in order.
    pub bind2: Vec<Element>,
}

/// An element to write, in the order [`poll_transmit`](crate::Server::poll_transmit) returns
/// them, with its [`Placement`].
///
/// Counted stanzas are shared with the retransmission queue, so handing one out costs no copy.
/// Use it as an `&Element` (it derefs), or take it with [`Transmit::into_element`].
#[derive(Debug, Clone, PartialEq)]
pub struct Transmit(Repr);

// Every variant is one pointer plus a tag, so the output queue stays small when a resumption
// retransmits thousands of stanzas at once.
#[derive(Debug, Clone, PartialEq)]
enum Repr {
    /// A stream management element (or a stream error), at its placement.
    Nonza(Box<Element>, Placement),
    /// A counted stanza, shared with the retransmission queue.
    Counted(Arc<Element>),
    /// A stanza sent while stream management is off, with the time it was given to `send`
    /// (for the hand-back if the connection dies before it is written).
    Uncounted(Box<Unacked>),
}

impl Transmit {
    pub(crate) fn nonza(element: impl Into<Element>, placement: Placement) -> Self {
        Self(Repr::Nonza(Box::new(element.into()), placement))
    }

    pub(crate) const fn counted(stanza: Arc<Element>) -> Self {
        Self(Repr::Counted(stanza))
    }

    pub(crate) fn uncounted(stanza: Element, first_sent: SystemTime) -> Self {
        Self(Repr::Uncounted(Box::new(Unacked { stanza, first_sent })))
    }

    /// Where the element goes. Stanzas always go at the top level.
    #[must_use]
    pub const fn placement(&self) -> Placement {
        match &self.0 {
            Repr::Nonza(_, placement) => *placement,
            Repr::Counted(_) | Repr::Uncounted(_) => Placement::TopLevel,
        }
    }

    /// Whether this is a stanza counted by stream management (held until acknowledged), as
    /// opposed to a stream management element or a stanza sent while it is off.
    #[must_use]
    pub const fn is_counted(&self) -> bool {
        matches!(self.0, Repr::Counted(_))
    }

    /// The element, copied only if the retransmission queue still holds it.
    #[must_use]
    pub fn into_element(self) -> Element {
        match self.0 {
            Repr::Nonza(element, _) => *element,
            Repr::Counted(shared) => Arc::unwrap_or_clone(shared),
            Repr::Uncounted(unacked) => unacked.stanza,
        }
    }

    /// A stanza that will now never be written (the connection is gone): `Some` for a stanza
    /// sent while stream management was off, to hand back.
    pub(crate) fn into_uncounted(self) -> Option<Unacked> {
        match self.0 {
            Repr::Uncounted(unacked) => Some(*unacked),
            Repr::Nonza(..) | Repr::Counted(_) => None,
        }
    }
}

impl Deref for Transmit {
    type Target = Element;

    fn deref(&self) -> &Element {
        match &self.0 {
            Repr::Nonza(element, _) => element,
            Repr::Counted(shared) => shared,
            Repr::Uncounted(unacked) => &unacked.stanza,
        }
    }
}

/// A stanza that was not acknowledged, handed back to the caller.
///
/// A server stores it offline or bounces it; a client resends it or tells the user.
/// `first_sent` is the wall-clock time it was given to `send` (or pushed to a hibernated
/// session), for a XEP-0203 delay stamp.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Unacked {
    /// The stanza.
    pub stanza: Element,
    /// When it was first given to the state machine (wall clock).
    pub first_sent: SystemTime,
}

impl Unacked {
    /// A stanza with the time it was first sent.
    #[must_use]
    pub const fn new(stanza: Element, first_sent: SystemTime) -> Self {
        Self { stanza, first_sent }
    }
}

/// The stanzas an ack newly acknowledged, oldest first, as the `Acked` events carry them
/// ([`ClientEvent::Acked`](crate::ClientEvent::Acked),
/// [`ServerEvent::Acked`](crate::ServerEvent::Acked)).
///
/// Look at them with [`iter`](Self::iter) (`&Element`), or take them with `into_iter`
/// (`Element`). The stanzas are shared with anything still holding them (a [`Transmit`] not
/// yet written), so taking in an ack moves pointers only: a stanza is copied only when it is
/// taken while still shared, and dropping the event frees them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AckedStanzas {
    // The oldest apart, so that the common ack of a single stanza allocates nothing. `rest`
    // is empty when `first` is `None`.
    first: Option<Arc<Element>>,
    rest: Vec<Arc<Element>>,
}

impl AckedStanzas {
    /// Takes `stanzas`, oldest first.
    pub(crate) fn new(mut stanzas: impl Iterator<Item = Arc<Element>>) -> Self {
        Self {
            first: stanzas.next(),
            rest: stanzas.collect(),
        }
    }

    /// How many stanzas were acknowledged.
    #[must_use]
    pub fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    /// Whether there are none (never, in an `Acked` event).
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// The stanzas, oldest first.
    pub fn iter(&self) -> AckedIter<'_> {
        AckedIter(self.first.iter().chain(self.rest.iter()))
    }
}

/// Builds the stanzas of an expected event, in tests: `stanzas: vec![msg].into()`.
impl From<Vec<Element>> for AckedStanzas {
    fn from(stanzas: Vec<Element>) -> Self {
        Self::new(stanzas.into_iter().map(Arc::new))
    }
}

impl From<AckedStanzas> for Vec<Element> {
    fn from(stanzas: AckedStanzas) -> Self {
        stanzas.into_iter().collect()
    }
}

impl IntoIterator for AckedStanzas {
    type Item = Element;
    type IntoIter = AckedIntoIter;

    fn into_iter(self) -> AckedIntoIter {
        AckedIntoIter(self.first.into_iter().chain(self.rest))
    }
}

impl<'a> IntoIterator for &'a AckedStanzas {
    type Item = &'a Element;
    type IntoIter = AckedIter<'a>;

    fn into_iter(self) -> AckedIter<'a> {
        self.iter()
    }
}

/// The acknowledged stanzas, borrowed, oldest first (see [`AckedStanzas::iter`]).
#[derive(Debug, Clone)]
pub struct AckedIter<'a>(Chain<option::Iter<'a, Arc<Element>>, slice::Iter<'a, Arc<Element>>>);

impl<'a> Iterator for AckedIter<'a> {
    type Item = &'a Element;

    fn next(&mut self) -> Option<&'a Element> {
        self.0.next().map(|stanza| &**stanza)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for AckedIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|stanza| &**stanza)
    }
}

// Exact: both halves are, and their sum is at most the queue's length.
impl ExactSizeIterator for AckedIter<'_> {}
impl FusedIterator for AckedIter<'_> {}

/// The acknowledged stanzas, owned, oldest first (see [`AckedStanzas`]'s `into_iter`). Each
/// is copied only if something else still holds it.
#[derive(Debug)]
pub struct AckedIntoIter(Chain<option::IntoIter<Arc<Element>>, vec::IntoIter<Arc<Element>>>);

impl Iterator for AckedIntoIter {
    type Item = Element;

    fn next(&mut self) -> Option<Element> {
        self.0.next().map(Arc::unwrap_or_clone)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for AckedIntoIter {
    fn next_back(&mut self) -> Option<Element> {
        self.0.next_back().map(Arc::unwrap_or_clone)
    }
}

impl ExactSizeIterator for AckedIntoIter {}
impl FusedIterator for AckedIntoIter {}
