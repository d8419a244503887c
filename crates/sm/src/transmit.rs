//! What the state machines hand out: elements to write and stanzas handed back.

use std::ops::Deref;
use std::sync::Arc;
use std::time::SystemTime;

use minidom::Element;

/// An element to write to the stream, in the order `poll_transmit` returns them.
///
/// Stanzas are shared with the retransmission queue, so handing one out costs no copy. Use it
/// as an `&Element` (it derefs), or take it with [`Transmit::into_element`].
#[derive(Debug, Clone, PartialEq)]
pub struct Transmit(Repr);

// Both variants are one pointer wide, so the output queue stays small when a resumption
// retransmits thousands of stanzas at once (an inline `Element` would make each entry 112 bytes).
#[derive(Debug, Clone, PartialEq)]
enum Repr {
    Nonza(Box<Element>),
    Stanza(Arc<Element>),
}

impl Transmit {
    pub(crate) fn nonza(element: Element) -> Self {
        Self(Repr::Nonza(Box::new(element)))
    }

    pub(crate) const fn stanza(element: Arc<Element>) -> Self {
        Self(Repr::Stanza(element))
    }

    /// Whether this is a counted stanza (as opposed to an SM element such as `<r/>`).
    #[must_use]
    pub const fn is_stanza(&self) -> bool {
        matches!(self.0, Repr::Stanza(_))
    }

    /// The element, copied only if the retransmission queue still holds it.
    #[must_use]
    pub fn into_element(self) -> Element {
        match self.0 {
            Repr::Nonza(element) => *element,
            Repr::Stanza(shared) => Arc::unwrap_or_clone(shared),
        }
    }
}

impl Deref for Transmit {
    type Target = Element;

    fn deref(&self) -> &Element {
        match &self.0 {
            Repr::Nonza(element) => element,
            Repr::Stanza(shared) => shared,
        }
    }
}

/// A stanza that was not acknowledged, handed back to the caller.
///
/// A server stores it offline or bounces it; a client resends it or tells the user.
/// `first_sent` is when it was first handed to the state machine, for a XEP-0203 delay stamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Unacked {
    /// The stanza.
    pub stanza: Element,
    /// When it was first given to `send`.
    pub first_sent: SystemTime,
}
