//! Typed XEP-0310 elements: the `<state-annotation/>` a server adds to a presence it re-sends,
//! read from and written to [`minidom::Element`], attached to and read from an xmpp-parsers
//! [`Presence`]; and the `urn:xmpp:psa` feature in an xmpp-parsers [`DiscoInfoResult`] (what
//! a client's entity capabilities hash stands for).
//!
//! Reading is lenient, because XEP-0310 0.1 has no schema and its examples disagree on child
//! order: the children may come in any order, a missing `from` is allowed, both conditions may
//! appear (server-unavailable wins), an unknown condition element is kept as
//! [`Condition::Unknown`] (still stale: only an annotation without any condition means
//! "restored"), unknown attributes and foreign children are ignored, and the first
//! `<description/>` is kept. Writing is strict: `from` (the builders require it), at most one
//! condition, then at most one description, in that order.

#[cfg(test)]
mod tests;

use jid::Jid;
use minidom::Element;
use minidom::rxml::{Namespace as XmlNamespace, NcName};
use xmpp_parsers::disco::DiscoInfoResult;
use xmpp_parsers::presence::{Presence, PresencePayload};

use crate::error::ParseError;

/// The XEP-0310 namespace, `urn:xmpp:psa` (XEP-0310 0.1 §10 "needs a namespace"; §3 names
/// this one for discovery, and the examples use it for the element).
pub const NS: &str = "urn:xmpp:psa";

/// The discovery feature a client advertises in its entity capabilities to ask for
/// annotations (XEP-0310 §3): the same string as [`NS`].
pub const FEATURE: &str = NS;

/// The element's local name.
pub const ANNOTATION: &str = "state-annotation";

const SERVER_UNAVAILABLE: &str = "server-unavailable";
const CONNECTION_PAUSED: &str = "connection-paused";
const DESCRIPTION: &str = "description";
/// Attribute values are echoed in errors only up to this many bytes.
const ECHO_LIMIT: usize = 64;

/// Why a presence may be stale (the child of `<state-annotation/>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Condition {
    /// `<server-unavailable/>`: the link to the sender's server is down (XEP-0310 §4.1), or,
    /// from a MUC service, the link to the occupant's server (§4.3).
    ServerUnavailable,
    /// `<connection-paused/>`: the sender's session is paused, a hibernated XEP-0198 stream or
    /// a paused BOSH session (§4.2).
    ConnectionPaused,
    /// A condition element this crate does not know (a later revision's). It still says the
    /// presence may be stale. Only parsing makes one; writing it back keeps its name.
    Unknown(UnknownCondition),
}

impl Condition {
    /// The element's local name.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Self::ServerUnavailable => SERVER_UNAVAILABLE,
            Self::ConnectionPaused => CONNECTION_PAUSED,
            Self::Unknown(unknown) => unknown.name(),
        }
    }

    /// Order of preference when an annotation carries several conditions.
    const fn rank(&self) -> u8 {
        match self {
            Self::ServerUnavailable => 0,
            Self::ConnectionPaused => 1,
            Self::Unknown(_) => 2,
        }
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The local name of a condition element this crate does not know: always a valid XML name,
/// because only the parser makes one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "String", into = "String"))]
pub struct UnknownCondition(String);

impl UnknownCondition {
    /// The element's local name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UnknownCondition {
    type Error = ParseError;

    /// Accepts a valid XML local name that is not one of the known conditions.
    fn try_from(name: String) -> Result<Self, ParseError> {
        let known = [SERVER_UNAVAILABLE, CONNECTION_PAUSED, DESCRIPTION].contains(&name.as_str());
        if known || NcName::try_from(name.as_str()).is_err() {
            return Err(ParseError::InvalidCondition { name: echo(&name) });
        }
        Ok(Self(name))
    }
}

impl From<UnknownCondition> for String {
    fn from(unknown: UnknownCondition) -> Self {
        unknown.0
    }
}

/// The optional human-readable `<description/>` of an annotation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Description {
    /// The text.
    pub text: String,
    /// Its `xml:lang`, if given (otherwise the stanza's language applies).
    pub lang: Option<String>,
}

impl Description {
    /// A description without `xml:lang`.
    #[must_use]
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            lang: None,
        }
    }

    /// Sets `xml:lang`.
    #[must_use]
    pub fn with_lang(mut self, lang: impl Into<String>) -> Self {
        self.lang = Some(lang.into());
        self
    }
}

/// `<state-annotation xmlns='urn:xmpp:psa' from='…'/>`: the presence it travels in may be
/// stale (a condition is present), or is current again (no condition: "restored").
///
/// ```
/// use xmpp_psa::elements::{Condition, Description, StateAnnotation};
///
/// let stale = StateAnnotation::server_unavailable("montague.lit".parse()?)
///     .with_description(Description::new("The capulet.lit server is no longer available"));
/// assert_eq!(
///     String::from(&minidom::Element::from(stale.clone())),
///     "<state-annotation xmlns='urn:xmpp:psa' from='montague.lit'><server-unavailable/>\
///      <description>The capulet.lit server is no longer available</description>\
///      </state-annotation>"
/// );
/// assert_eq!(stale.condition, Some(Condition::ServerUnavailable));
/// assert!(StateAnnotation::restored("montague.lit".parse()?).is_restored());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct StateAnnotation {
    /// The annotating entity (XEP-0310 §4.1: "MUST have a 'from' attribute"). `None` only when
    /// read from a peer that left it out.
    pub from: Option<Jid>,
    /// Why the presence may be stale; `None` is the "restored" (empty) annotation.
    pub condition: Option<Condition>,
    /// Optional human-readable text.
    pub description: Option<Description>,
}

impl StateAnnotation {
    /// An annotation by `from` with `condition` (`None`: restored).
    #[must_use]
    pub const fn new(from: Jid, condition: Option<Condition>) -> Self {
        Self {
            from: Some(from),
            condition,
            description: None,
        }
    }

    /// `<server-unavailable/>`, annotated by `from`.
    #[must_use]
    pub const fn server_unavailable(from: Jid) -> Self {
        Self::new(from, Some(Condition::ServerUnavailable))
    }

    /// `<connection-paused/>`, annotated by `from`.
    #[must_use]
    pub const fn connection_paused(from: Jid) -> Self {
        Self::new(from, Some(Condition::ConnectionPaused))
    }

    /// The empty annotation: the presence is current again.
    #[must_use]
    pub const fn restored(from: Jid) -> Self {
        Self::new(from, None)
    }

    /// Sets the description.
    #[must_use]
    pub fn with_description(mut self, description: Description) -> Self {
        self.description = Some(description);
        self
    }

    /// Whether this is the empty ("restored") annotation.
    #[must_use]
    pub const fn is_restored(&self) -> bool {
        self.condition.is_none()
    }

    /// The first annotation in `presence`, parsed; `None` if it carries none.
    #[must_use]
    pub fn of(presence: &Presence) -> Option<Result<Self, ParseError>> {
        presence
            .payloads
            .iter()
            .find(|payload| is_annotation(payload))
            .map(Self::try_from)
    }

    /// Puts this annotation into `presence`, replacing any it carried (a presence carries at
    /// most one annotation: the latest word on its freshness).
    pub fn attach(self, presence: &mut Presence) {
        let _ = Self::remove_from(presence);
        presence.payloads.push(self.into());
    }

    /// Removes every annotation from `presence`; returns how many there were.
    pub fn remove_from(presence: &mut Presence) -> usize {
        let before = presence.payloads.len();
        presence.payloads.retain(|payload| !is_annotation(payload));
        before - presence.payloads.len()
    }
}

impl PresencePayload for StateAnnotation {}

/// Whether `element` is a `<state-annotation/>` in the XEP-0310 namespace.
#[must_use]
pub fn is_annotation(element: &Element) -> bool {
    element.is(ANNOTATION, NS)
}

impl TryFrom<&Element> for StateAnnotation {
    type Error = ParseError;

    fn try_from(element: &Element) -> Result<Self, ParseError> {
        if !is_annotation(element) {
            return Err(ParseError::NotAnnotation {
                name: echo(element.name()),
                ns: echo(&element.ns()),
            });
        }
        let from = match element.attr("from") {
            None => None,
            Some(value) => Some(
                value
                    .parse::<Jid>()
                    .map_err(|_| ParseError::InvalidAnnotator { value: echo(value) })?,
            ),
        };
        let mut condition: Option<Condition> = None;
        let mut description = None;
        for child in element.children().filter(|child| child.has_ns(NS)) {
            let found = match child.name() {
                SERVER_UNAVAILABLE => Condition::ServerUnavailable,
                CONNECTION_PAUSED => Condition::ConnectionPaused,
                DESCRIPTION => {
                    if description.is_none() {
                        description = Some(Description {
                            text: child.text(),
                            lang: child.attr_ns(&XmlNamespace::XML, "lang").map(str::to_owned),
                        });
                    }
                    continue;
                }
                // Parsed names are valid XML names.
                other => Condition::Unknown(UnknownCondition(other.to_owned())),
            };
            // Both conditions, or a known and an unknown one: the better-known wins; among
            // equals, the first in document order.
            if condition
                .as_ref()
                .is_none_or(|kept| found.rank() < kept.rank())
            {
                condition = Some(found);
            }
        }
        Ok(Self {
            from,
            condition,
            description,
        })
    }
}

impl TryFrom<Element> for StateAnnotation {
    type Error = ParseError;

    fn try_from(element: Element) -> Result<Self, ParseError> {
        Self::try_from(&element)
    }
}

impl From<&StateAnnotation> for Element {
    fn from(annotation: &StateAnnotation) -> Self {
        let mut element = Self::bare(ANNOTATION, NS);
        if let Some(from) = &annotation.from {
            element.set_attr(XmlNamespace::NONE, ncname("from"), from.as_str());
        }
        if let Some(condition) = &annotation.condition {
            element.append_child(Self::bare(condition.name(), NS));
        }
        if let Some(description) = &annotation.description {
            let mut child = Self::bare(DESCRIPTION, NS);
            if let Some(lang) = &description.lang {
                child.set_attr(XmlNamespace::XML, ncname("lang"), lang.as_str());
            }
            if !description.text.is_empty() {
                child.append_text(description.text.as_str());
            }
            element.append_child(child);
        }
        element
    }
}

impl From<StateAnnotation> for Element {
    fn from(annotation: StateAnnotation) -> Self {
        Self::from(&annotation)
    }
}

/// Whether a disco#info result (typically the one a client's caps hash stands for, XEP-0115)
/// asks for annotations.
#[must_use]
pub fn advertises(disco: &DiscoInfoResult) -> bool {
    disco.features.contains(FEATURE)
}

/// Adds the `urn:xmpp:psa` feature to a client's own disco#info result (before hashing it for
/// XEP-0115 caps).
pub fn advertise(disco: &mut DiscoInfoResult) {
    let _ = disco.features.insert(FEATURE.to_owned());
}

fn ncname(name: &'static str) -> NcName {
    // Invariant: every caller passes a literal that is a valid XML local name.
    NcName::try_from(name).expect("a valid XML name literal")
}

pub(crate) fn echo(value: &str) -> String {
    let mut end = value.len().min(ECHO_LIMIT);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end].to_owned()
}
