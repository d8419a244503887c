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

fn is_bind2(element: &Element, name: &str) -> bool {
    element.is(name, ns::BIND2) || element.is(name, ns::BIND2_XEP0198_EXAMPLES)
}

/// The `<enable/>` a client put inside a Bind2 `<bind/>`, if any. Accepts XEP-0386's
/// `urn:xmpp:bind:0` and the `urn:xmpp:bind2:1` of XEP-0198 §9's examples.
#[must_use]
pub fn enable_in_bind(bind: &Element) -> Option<&Element> {
    if !is_bind2(bind, "bind") {
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
    if !is_bind2(bound, "bound") {
        return None;
    }
    sm_child(bound, &["enabled", "failed"])
}

/// The `<sm xmlns='urn:xmpp:sm:3'/>` a server lists inside SASL2's `<inline/>` (in
/// `<authentication xmlns='urn:xmpp:sasl:2'>`) to offer inline resumption (XEP-0198 §9.2,
/// XEP-0388 Example 2). Only sm:3 is defined for inline use.
#[must_use]
pub fn sasl2_inline_feature() -> Element {
    Element::bare("sm", ns::SM3)
}

/// The `<feature var='urn:xmpp:sm:3'/>` a server lists inside Bind2's `<inline/>` to offer
/// inline enabling (XEP-0386 §3.1, XEP-0198 §9.1).
#[must_use]
pub fn bind2_inline_feature() -> Element {
    Element::builder("feature", ns::BIND2)
        .attr(super::build::name("var"), ns::SM3)
        .build()
}
