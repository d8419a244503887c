//! Element -> typed value.

use minidom::Element;
use xmpp_parsers::stanza_error::DefinedCondition;

use super::{
    Ack, Enable, Enabled, Failed, Feature, HandledCountTooHigh, Nonza, Request, Resume, Resumed,
    SmId,
};
use crate::ns::{self, Namespace};

/// Attribute values are echoed in errors only up to this many bytes.
const ECHO_LIMIT: usize = 64;

/// A malformed XEP-0198 element. The stream error to answer with is `bad-format` for a
/// top-level element (RFC 6120 §4.9.3.1); [`crate::PeerError::answer`] builds it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The element is not in a XEP-0198 namespace. Not an error of the peer: hand the element
    /// to whoever handles its namespace.
    #[error("<{name}/> is not a XEP-0198 element")]
    NotStreamManagement {
        /// The element's local name.
        name: String,
    },
    /// An element in a XEP-0198 namespace that the dialect does not define.
    #[error("unknown XEP-0198 element <{name} xmlns='{ns}'/>")]
    UnknownElement {
        /// The element's local name.
        name: String,
        /// Its namespace.
        ns: Namespace,
    },
    /// A required attribute is missing.
    #[error("<{element}/> lacks the required '{attribute}' attribute")]
    MissingAttribute {
        /// The element.
        element: &'static str,
        /// The attribute.
        attribute: &'static str,
    },
    /// An attribute that must be an unsigned 32-bit integer is not one.
    #[error("'{attribute}' on <{element}/> is not an unsigned 32-bit integer: {value:?}")]
    InvalidNumber {
        /// The element.
        element: &'static str,
        /// The attribute.
        attribute: &'static str,
        /// The value received (truncated).
        value: String,
    },
    /// A boolean attribute is not `true`, `false`, `1` or `0`.
    #[error("'{attribute}' on <{element}/> is not an XML boolean: {value:?}")]
    InvalidBool {
        /// The element.
        element: &'static str,
        /// The attribute.
        attribute: &'static str,
        /// The value received (truncated).
        value: String,
    },
    /// An SM-ID that is empty or longer than [`super::MAX_ID_LEN`] bytes.
    #[error("SM-ID of {len} bytes (must be 1 to 4000)")]
    InvalidId {
        /// Its length in bytes.
        len: usize,
    },
    /// A child that should be a stanza error condition is not a known one.
    #[error("<failed/> carries an unknown error condition <{name}/>")]
    InvalidCondition {
        /// The child's local name.
        name: String,
    },
}

fn echo(value: &str) -> String {
    let mut end = value.len().min(ECHO_LIMIT);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end].to_owned()
}

fn number(
    el: &Element,
    element: &'static str,
    attribute: &'static str,
) -> Result<Option<u32>, ParseError> {
    match el.attr(attribute) {
        None => Ok(None),
        // XML Schema unsignedInt allows surrounding whitespace after collapsing; peers do not
        // send it, so only a leading '+' and plain digits are accepted, as `u32::from_str` does.
        Some(value) => value
            .parse::<u32>()
            .map(Some)
            .map_err(|_| ParseError::InvalidNumber {
                element,
                attribute,
                value: echo(value),
            }),
    }
}

fn required(
    el: &Element,
    element: &'static str,
    attribute: &'static str,
) -> Result<u32, ParseError> {
    number(el, element, attribute)?.ok_or(ParseError::MissingAttribute { element, attribute })
}

fn boolean(
    el: &Element,
    element: &'static str,
    attribute: &'static str,
) -> Result<bool, ParseError> {
    match el.attr(attribute) {
        None | Some("false" | "0") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some(value) => Err(ParseError::InvalidBool {
            element,
            attribute,
            value: echo(value),
        }),
    }
}

fn id(el: &Element, attribute: &'static str) -> Result<Option<SmId>, ParseError> {
    el.attr(attribute).map(SmId::new).transpose()
}

/// In sm:2 and sm:3 `h` is required on resume/resumed; sm:1 only says SHOULD.
fn h_for(ns: Namespace, el: &Element, element: &'static str) -> Result<Option<u32>, ParseError> {
    match ns {
        Namespace::Sm1 => number(el, element, "h"),
        _ => required(el, element, "h").map(Some),
    }
}

impl TryFrom<&Element> for Nonza {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        let Some(ns) = Namespace::of(el) else {
            return Err(ParseError::NotStreamManagement {
                name: el.name().to_owned(),
            });
        };
        Self::parse_in(ns, el)
    }
}

impl Nonza {
    /// Parses an element already known to be in `ns` (the state machines check the
    /// namespace first, to tell SM elements from the caller's).
    pub(crate) fn parse_in(ns: Namespace, el: &Element) -> Result<Self, ParseError> {
        Ok(match el.name() {
            "enable" => Self::Enable(Enable {
                ns,
                resume: boolean(el, "enable", "resume")?,
                max: number(el, "enable", "max")?,
            }),
            "enabled" => Self::Enabled(Enabled {
                ns,
                id: id(el, "id")?,
                resume: boolean(el, "enabled", "resume")?,
                max: number(el, "enabled", "max")?,
                location: el.attr("location").map(str::to_owned),
            }),
            "resume" => Self::Resume(Resume {
                ns,
                previd: id(el, "previd")?.ok_or(ParseError::MissingAttribute {
                    element: "resume",
                    attribute: "previd",
                })?,
                h: h_for(ns, el, "resume")?,
            }),
            "resumed" => Self::Resumed(Resumed {
                ns,
                previd: id(el, "previd")?.ok_or(ParseError::MissingAttribute {
                    element: "resumed",
                    attribute: "previd",
                })?,
                h: h_for(ns, el, "resumed")?,
            }),
            "failed" => Self::Failed(failed(ns, el)?),
            "r" => Self::Request(match ns {
                // Seed §4: "An <r/> element MUST contain a 'u' attribute and MAY contain an
                // 'h' attribute."
                Namespace::Sm1 => Request {
                    ns,
                    u: Some(required(el, "r", "u")?),
                    h: number(el, "r", "h")?,
                },
                _ => Request {
                    ns,
                    u: None,
                    h: None,
                },
            }),
            "a" => Self::Ack(Ack {
                ns,
                // Seed §4 prose: "An <a/> element MUST contain an 'h' attribute"; the seed's
                // §7 examples (`<a u='1'/>`) contradict it, and the prose wins.
                h: required(el, "a", "h")?,
                u: match ns {
                    Namespace::Sm1 => number(el, "a", "u")?,
                    _ => None,
                },
            }),
            other => {
                return Err(ParseError::UnknownElement {
                    name: other.to_owned(),
                    ns,
                });
            }
        })
    }
}

fn failed(ns: Namespace, el: &Element) -> Result<Failed, ParseError> {
    let mut condition = None;
    let mut text = None;
    for child in el.children() {
        if !child.has_ns(ns::STANZAS) {
            continue; // extension content: ignored
        }
        if child.name() == "text" {
            text = Some(child.text());
        } else if condition.is_none() {
            condition = Some(DefinedCondition::try_from(child.clone()).map_err(|_| {
                ParseError::InvalidCondition {
                    name: child.name().to_owned(),
                }
            })?);
        }
    }
    Ok(Failed {
        ns,
        h: number(el, "failed", "h")?,
        condition,
        text,
    })
}

impl TryFrom<&Element> for Feature {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        let ns = Namespace::of(el).ok_or_else(|| ParseError::NotStreamManagement {
            name: el.name().to_owned(),
        })?;
        if el.name() != "sm" {
            return Err(ParseError::UnknownElement {
                name: el.name().to_owned(),
                ns,
            });
        }
        let sm1 = ns == Namespace::Sm1;
        Ok(Self {
            ns,
            optional: el.has_child("optional", ns.as_str()),
            max: if sm1 { number(el, "sm", "max")? } else { None },
            stanzas: if sm1 {
                number(el, "sm", "stanzas")?
            } else {
                None
            },
        })
    }
}

impl TryFrom<&Element> for HandledCountTooHigh {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        let ns = Namespace::of(el).ok_or_else(|| ParseError::NotStreamManagement {
            name: el.name().to_owned(),
        })?;
        if el.name() != "handled-count-too-high" {
            return Err(ParseError::UnknownElement {
                name: el.name().to_owned(),
                ns,
            });
        }
        Ok(Self {
            ns,
            h: required(el, "handled-count-too-high", "h")?,
            send_count: required(el, "handled-count-too-high", "send-count")?,
        })
    }
}

/// Finds the `<sm/>` features a server offers among the children of `<stream:features/>`.
///
/// Malformed `<sm/>` children are skipped: a client should still be able to use the others.
#[must_use]
pub fn features_of(stream_features: &Element) -> Vec<Feature> {
    stream_features
        .children()
        .filter(|child| child.name() == "sm")
        .filter_map(|child| Feature::try_from(child).ok())
        .collect()
}
