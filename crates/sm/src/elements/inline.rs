//! XEP-0198 inside SASL2 (XEP-0388) and Bind2 (XEP-0386).
//!
//! With SASL2 a client may put `<resume/>` inside `<authenticate xmlns='urn:xmpp:sasl:2'>`;
//! the server answers `<resumed/>` or `<failed/>` inside `<success>`. With Bind2 a client may
//! put `<enable/>` inside `<bind xmlns='urn:xmpp:bind:0'>`; the server answers `<enabled/>` or
//! `<failed/>` inside `<bound>`. A stream is never both resumed and bound: when the inline
//! resume succeeds the server skips the bind request, and the state machines refuse
//! `<enable/>`/`<enabled/>` on a resumed stream.
//!
//! The state machines take the inner elements exactly like top-level ones; these helpers find
//! them in, and put them into, their wrappers.

use minidom::Element;

use crate::ns::{self, Namespace};

fn sm_child<'a>(parent: &'a Element, names: &[&str]) -> Option<&'a Element> {
    parent
        .children()
        .find(|child| names.contains(&child.name()) && Namespace::of(child).is_some())
}

/// The `<resume/>` a client put inside a SASL2 `<authenticate/>`, if any.
#[must_use]
pub fn resume_in_authenticate(authenticate: &Element) -> Option<&Element> {
    if !authenticate.is("authenticate", ns::SASL2) {
        return None;
    }
    sm_child(authenticate, &["resume"])
}

/// The `<enable/>` a client put inside a Bind2 `<bind/>`, if any.
#[must_use]
pub fn enable_in_bind(bind: &Element) -> Option<&Element> {
    if !bind.is("bind", ns::BIND2) {
        return None;
    }
    sm_child(bind, &["enable"])
}

/// The `<resumed/>` or `<failed/>` a server put inside a SASL2 `<success/>`, if any.
#[must_use]
pub fn reply_in_success(success: &Element) -> Option<&Element> {
    if !success.is("success", ns::SASL2) {
        return None;
    }
    sm_child(success, &["resumed", "failed"])
}

/// The `<enabled/>` or `<failed/>` a server put inside a Bind2 `<bound/>`, if any.
#[must_use]
pub fn reply_in_bound(bound: &Element) -> Option<&Element> {
    if !bound.is("bound", ns::BIND2) {
        return None;
    }
    sm_child(bound, &["enabled", "failed"])
}

/// The `<sm/>` element a server lists inside SASL2's `<inline/>` (in
/// `<authentication xmlns='urn:xmpp:sasl:2'>`) and inside Bind2's `<inline/>`, to offer
/// inline resumption and inline enabling. Only sm:3 is defined for inline use.
#[must_use]
pub fn inline_feature() -> Element {
    Element::bare("sm", ns::SM3)
}
