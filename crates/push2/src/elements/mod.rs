//! Typed Push 2.0 elements: the client's `<enable/>` and `<disable/>`, the server's
//! `<notification/>`, and the disco features.
//!
//! Every type converts from a `minidom::Element` with `TryFrom` (a [`ParseError`] when it is
//! not the element or does not hold together) and back with `From`; what we write parses back
//! to the same value. Text is read trimmed where the seed's examples are pretty-printed
//! (`<service/>`, `<client/>`, `<grace/>`, `<priority/>`, `<jwt-alg/>`); key material is kept as
//! the text the client sent and checked by the [`Registry`](crate::Registry) (where a key that
//! does not parse is `not-acceptable`, not `bad-request`). Unknown children in foreign
//! namespaces are ignored; an unknown `<send/>` element is kept whole
//! ([`SendProfile::Unknown`]) and an unknown profile URI as text ([`MatchProfile::Other`]),
//! never dropped.

mod disco;
mod enable;
mod notification;

#[cfg(test)]
mod tests;

pub use self::disco::{Support, account_features, bind2_inline_feature};
pub use self::enable::{Disable, Enable, Filter, Match, MatchProfile, SendProfile, WebPushSend};
pub use self::notification::{Jwt, Notification, Priority};

use minidom::Element;

use crate::error::ParseError;

/// The one child `<name xmlns=ns/>` of `parent`: `Ok(None)` when absent.
fn single<'a>(
    parent: &'a Element,
    name: &'static str,
    ns: &str,
    element: &'static str,
) -> Result<Option<&'a Element>, ParseError> {
    let mut found = parent.children().filter(|c| c.is(name, ns));
    let first = found.next();
    if found.next().is_some() {
        return Err(ParseError::Repeated {
            element,
            child: name,
        });
    }
    Ok(first)
}

/// The trimmed, non-empty text of the one required child `<name/>`.
fn required_text(
    parent: &Element,
    name: &'static str,
    ns: &str,
    element: &'static str,
) -> Result<String, ParseError> {
    let child = single(parent, name, ns, element)?.ok_or(ParseError::MissingChild {
        element,
        child: name,
    })?;
    let text = child.text();
    let text = text.trim();
    if text.is_empty() {
        return Err(ParseError::Empty { element: name });
    }
    Ok(text.to_owned())
}
