//! The three XEP-0198 namespaces and how they differ.

use std::fmt;

/// `urn:xmpp:sm:1`, the seed draft (XEP-0198 0.6/0.7).
pub const SM1: &str = "urn:xmpp:sm:1";
/// `urn:xmpp:sm:2`, XEP-0198 1.0–1.2 (same counting as sm:3).
pub const SM2: &str = "urn:xmpp:sm:2";
/// `urn:xmpp:sm:3`, XEP-0198 1.3 and later, the current namespace.
pub const SM3: &str = "urn:xmpp:sm:3";
/// RFC 6120 stanza error conditions, used inside `<failed/>`.
pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// The client-to-server stream namespace.
pub const JABBER_CLIENT: &str = "jabber:client";
/// The server-to-server stream namespace.
pub const JABBER_SERVER: &str = "jabber:server";
/// The stream namespace (`stream:` prefix).
pub const STREAM: &str = "http://etherx.jabber.org/streams";
/// XEP-0388 Extensible SASL Profile (SASL2).
pub const SASL2: &str = "urn:xmpp:sasl:2";
/// XEP-0386 Bind 2 (current).
pub const BIND2: &str = "urn:xmpp:bind:0";
/// The Bind 2 namespace XEP-0198 1.6.x's own inline examples use (§9); accepted, never sent.
pub const BIND2_XEP0198_EXAMPLES: &str = "urn:xmpp:bind2:1";

/// Which dialect of XEP-0198 a stream speaks.
///
/// A server answers in the namespace its peer used; a client picks the newest one the server
/// offers ([`Namespace::choose`]). `Sm2` and `Sm3` count stanzas identically; `Sm1` is the seed
/// draft, whose differences are listed in the crate documentation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Namespace {
    /// `urn:xmpp:sm:1` (seed draft 0.7): `<r u/>` carries sequence numbers, `<sm/>` may carry
    /// `max` and `stanzas`.
    Sm1,
    /// `urn:xmpp:sm:2`.
    Sm2,
    /// `urn:xmpp:sm:3` (current).
    #[default]
    Sm3,
}

impl Namespace {
    /// Every namespace, oldest first.
    pub const ALL: [Self; 3] = [Self::Sm1, Self::Sm2, Self::Sm3];

    /// The namespace URI.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sm1 => SM1,
            Self::Sm2 => SM2,
            Self::Sm3 => SM3,
        }
    }

    /// The dialect for a namespace URI, if it is one of XEP-0198's.
    #[must_use]
    pub fn from_uri(uri: &str) -> Option<Self> {
        match uri {
            SM3 => Some(Self::Sm3),
            SM2 => Some(Self::Sm2),
            SM1 => Some(Self::Sm1),
            _ => None,
        }
    }

    /// The dialect of an element, if it is in one of XEP-0198's namespaces.
    ///
    /// Checks without allocating (`Element::ns` returns an owned `String`).
    #[must_use]
    pub fn of(element: &minidom::Element) -> Option<Self> {
        Self::ALL
            .into_iter()
            .rev()
            .find(|ns| element.has_ns(ns.as_str()))
    }

    /// The newest dialect among `offered` that is also in `supported`: what a client should
    /// enable given the `<sm/>` features a server advertised.
    #[must_use]
    pub fn choose(offered: &[Self], supported: &[Self]) -> Option<Self> {
        offered
            .iter()
            .copied()
            .filter(|ns| supported.contains(ns))
            .max()
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_round_trip() {
        for ns in Namespace::ALL {
            assert_eq!(Namespace::from_uri(ns.as_str()), Some(ns));
        }
        assert_eq!(Namespace::from_uri("urn:xmpp:sm:4"), None);
    }

    #[test]
    fn choose_prefers_newest_common() {
        use Namespace::*;
        assert_eq!(Namespace::choose(&[Sm2, Sm3], &[Sm3, Sm2]), Some(Sm3));
        assert_eq!(Namespace::choose(&[Sm2], &[Sm3, Sm2]), Some(Sm2));
        assert_eq!(Namespace::choose(&[Sm1], &[Sm3, Sm2]), None);
    }
}
