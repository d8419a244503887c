//! XEP-0115 §5.4: checking a disco#info result against the caps that announced it, with
//! xmpp-parsers' caps helpers.

use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use minidom::Element;
use xmpp_parsers::caps::{Caps, hash_caps};
use xmpp_parsers::disco::DiscoInfoResult;
use xmpp_parsers::hashes::Algo;
use xmpp_parsers::ns;

use crate::error::{QueryFailure, Unverifiable};
use crate::info::CapsInfo;

/// The key of a caps set: its hash algorithm and `ver` (XEP-0115 §5: the node is not part of
/// it; the ver alone names the feature set).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CapsKey {
    algo: Algo,
    ver: Box<[u8]>,
}

impl CapsKey {
    /// The key of `caps`.
    #[must_use]
    pub fn of(caps: &Caps) -> Self {
        Self::new(caps.hash.clone(), &caps.ver)
    }

    /// A key from its parts.
    #[must_use]
    pub fn new(algo: Algo, ver: &[u8]) -> Self {
        Self {
            algo,
            ver: ver.into(),
        }
    }

    /// The hash algorithm.
    #[must_use]
    pub const fn algo(&self) -> &Algo {
        &self.algo
    }

    /// The ver, decoded.
    #[must_use]
    pub fn ver(&self) -> &[u8] {
        &self.ver
    }

    /// The ver as it appears in `<c ver/>` (base64).
    #[must_use]
    pub fn ver_base64(&self) -> String {
        BASE64.encode(&self.ver)
    }

    /// Whether we can compute this algorithm (only such keys are shared between entities).
    pub(crate) fn is_supported(&self) -> bool {
        digest_len(&self.algo).is_some()
    }
}

/// The digest length of a supported algorithm.
pub(crate) const fn digest_len(algo: &Algo) -> Option<usize> {
    match algo {
        Algo::Sha_1 => Some(20),
        Algo::Sha_256 | Algo::Sha3_256 | Algo::Blake2b_256 => Some(32),
        Algo::Sha_512 | Algo::Sha3_512 | Algo::Blake2b_512 => Some(64),
        Algo::Unknown(_) => None,
    }
}

/// Size limits on one disco#info result.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits<'a> {
    pub(crate) max_children: usize,
    pub(crate) max_feature_len: usize,
    /// [`CapsConfig::keep_features`](super::CapsConfig::keep_features).
    pub(crate) keep: &'a [String],
}

/// What a result is good for.
#[derive(Debug)]
pub(crate) enum Checked {
    /// Verified: cache it for everyone who advertises the key.
    Verified(CapsInfo),
    /// Usable for the entity that answered only.
    ForOne(CapsInfo, Unverifiable),
}

/// Checks `query` (the `<query xmlns='…disco#info'/>` of a result) against `key` and the
/// caps `node`. `Err` if it is no usable result at all.
pub(crate) fn check(
    key: &CapsKey,
    node: &str,
    query: &Element,
    limits: Limits<'_>,
) -> Result<Checked, QueryFailure> {
    if !query.is("query", ns::DISCO_INFO) {
        return Err(QueryFailure::Malformed(
            "no disco#info <query/> in the result".into(),
        ));
    }
    // Raw scan first: xmpp-parsers keeps features in a set, which would hide duplicates.
    let mut features = Vec::new();
    for (i, child) in query.children().enumerate() {
        if i >= limits.max_children {
            return Err(QueryFailure::TooLarge);
        }
        if child.is("feature", ns::DISCO_INFO) {
            let var = child.attr("var").unwrap_or_default();
            if var.len() > limits.max_feature_len {
                return Err(QueryFailure::TooLarge);
            }
            features.push(var);
        }
    }
    let info = DiscoInfoResult::try_from(query.clone())
        .map_err(|e| QueryFailure::Malformed(e.to_string()))?;
    let caps_info = CapsInfo::from_features_keeping(&features, limits.keep);
    match ill_formed(&features, &info) {
        Some(reason) => Ok(Checked::ForOne(caps_info, reason)),
        None => Ok(match verify(key, node, &info) {
            Ok(()) => Checked::Verified(caps_info),
            Err(reason) => Checked::ForOne(caps_info, reason),
        }),
    }
}

/// XEP-0115 §5.4 step 3: duplicate identities, features or form types make a result
/// ill-formed.
fn ill_formed(features: &[&str], info: &DiscoInfoResult) -> Option<Unverifiable> {
    let mut seen = HashSet::with_capacity(features.len());
    if let Some(dup) = features.iter().find(|f| !seen.insert(**f)) {
        return Some(Unverifiable::DuplicateFeature((*dup).to_owned()));
    }
    let mut identities = HashSet::with_capacity(info.identities.len());
    for identity in &info.identities {
        let key = (
            &identity.category,
            &identity.type_,
            &identity.lang,
            &identity.name,
        );
        if !identities.insert(key) {
            return Some(Unverifiable::DuplicateIdentity);
        }
    }
    let mut form_types = HashSet::new();
    for form in &info.extensions {
        if let Some(form_type) = form.form_type()
            && !form_types.insert(form_type)
        {
            return Some(Unverifiable::DuplicateForm(form_type.to_owned()));
        }
    }
    None
}

/// XEP-0115 §5.4 steps 4-8: the node, the algorithm, and the recomputed hash.
fn verify(key: &CapsKey, node: &str, info: &DiscoInfoResult) -> Result<(), Unverifiable> {
    let expected = format!("{node}#{}", key.ver_base64());
    if let Some(got) = info.node.as_deref().filter(|got| *got != expected) {
        return Err(Unverifiable::NodeMismatch(got.to_owned()));
    }
    let hash = hash_caps(&verification_string(info), key.algo.clone())
        .map_err(|_| Unverifiable::UnsupportedHash(String::from(key.algo.clone())))?;
    if *hash.hash == *key.ver {
        Ok(())
    } else {
        Err(Unverifiable::HashMismatch)
    }
}

/// The XEP-0115 §5.1 verification string of a disco#info result, the input of the `ver`
/// hash: identities (`category/type/lang/name`), then features, then extended-information
/// forms (FORM_TYPE, then each field's var and values), each item followed by `<`, each list
/// sorted by octets.
///
/// xmpp-parsers 0.23's `compute_disco` sorts every item with its `<` already appended, which
/// puts `…/shim#SubID` before `…/shim` (`#` sorts below `<`): every client advertising a
/// feature that is a prefix of another (slixmpp does, out of the box) gets a different ver
/// than the one it computed. This function sorts the items themselves, as §5.1 says (and as
/// Prosody and slixmpp do); hash it with xmpp-parsers' `hash_caps`. Forms without a
/// FORM_TYPE are left out (§5.4 ignores them).
#[must_use]
pub fn verification_string(info: &DiscoInfoResult) -> Vec<u8> {
    let mut s = String::new();
    let mut identities: Vec<_> = info
        .identities
        .iter()
        .map(|i| {
            let lang = i.lang.as_deref().unwrap_or_default();
            let name = i.name.as_deref().unwrap_or_default();
            (
                (&*i.category, &*i.type_, lang, name),
                format!("{}/{}/{lang}/{name}", i.category, i.type_),
            )
        })
        .collect();
    identities.sort();
    for (_, identity) in identities {
        s.push_str(&identity);
        s.push('<');
    }
    // A BTreeSet: already sorted by octets, duplicates gone (they make a result ill-formed).
    for feature in &info.features {
        s.push_str(feature);
        s.push('<');
    }
    let mut forms: Vec<(&str, Vec<Field<'_>>)> = info
        .extensions
        .iter()
        .filter_map(|form| {
            let form_type = form.form_type()?;
            let mut fields: Vec<Field<'_>> = form
                .fields
                .iter()
                .filter_map(|f| f.var.as_deref().map(|var| (var, f)))
                .filter(|(var, _)| *var != "FORM_TYPE")
                .map(|(var, f)| {
                    let mut values: Vec<&str> = f.values.iter().map(String::as_str).collect();
                    values.sort_unstable();
                    (var, values)
                })
                .collect();
            fields.sort();
            Some((form_type, fields))
        })
        .collect();
    forms.sort();
    for (form_type, fields) in forms {
        s.push_str(form_type);
        s.push('<');
        for (var, values) in fields {
            s.push_str(var);
            s.push('<');
            for value in values {
                s.push_str(value);
                s.push('<');
            }
        }
    }
    s.into_bytes()
}

/// One form field in the verification string: its var and sorted values.
type Field<'a> = (&'a str, Vec<&'a str>);

/// The caps a client advertises for `info` under `node` (XEP-0115 §4), or `None` for an
/// algorithm xmpp-parsers cannot compute.
#[must_use]
pub fn caps_for(node: &str, info: &DiscoInfoResult, algo: Algo) -> Option<Caps> {
    let hash = hash_caps(&verification_string(info), algo).ok()?;
    Some(Caps::new(node, hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits<'static> = Limits {
        max_children: 100,
        max_feature_len: 1024,
        keep: &[],
    };

    fn key(ver: &str) -> CapsKey {
        CapsKey::new(Algo::Sha_1, &BASE64.decode(ver).unwrap_or_default())
    }

    /// XEP-0115 §5.2 (the simple example): Exodus, ver QgayPKawpkPSDYmwT/WM94uAlu0=.
    const SIMPLE: &str = "<query xmlns='http://jabber.org/protocol/disco#info' \
        node='http://code.google.com/p/exodus#QgayPKawpkPSDYmwT/WM94uAlu0='>\
        <identity category='client' name='Exodus 0.9.1' type='pc'/>\
        <feature var='http://jabber.org/protocol/caps'/>\
        <feature var='http://jabber.org/protocol/disco#info'/>\
        <feature var='http://jabber.org/protocol/disco#items'/>\
        <feature var='http://jabber.org/protocol/muc'/></query>";

    #[test]
    fn xep0115_simple_example_verifies() {
        let query: Element = SIMPLE.parse().unwrap();
        let checked = check(
            &key("QgayPKawpkPSDYmwT/WM94uAlu0="),
            "http://code.google.com/p/exodus",
            &query,
            LIMITS,
        );
        assert!(matches!(checked, Ok(Checked::Verified(_))), "{checked:?}");
        let wrong = check(
            &key("AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            "http://code.google.com/p/exodus",
            &query,
            LIMITS,
        );
        assert!(matches!(
            wrong,
            Ok(Checked::ForOne(_, Unverifiable::NodeMismatch(_)))
        ));
    }

    #[test]
    fn xep0115_complex_example_verifies_with_unsorted_form_fields() {
        // XEP-0115 §5.3, with the form's fields moved out of order.
        let query: Element = "<query xmlns='http://jabber.org/protocol/disco#info' \
            node='http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w='>\
            <identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>\
            <identity xml:lang='el' category='client' name='Ψ 0.11' type='pc'/>\
            <feature var='http://jabber.org/protocol/caps'/>\
            <feature var='http://jabber.org/protocol/disco#info'/>\
            <feature var='http://jabber.org/protocol/disco#items'/>\
            <feature var='http://jabber.org/protocol/muc'/>\
            <x xmlns='jabber:x:data' type='result'>\
            <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>\
            <field var='software'><value>Psi</value></field>\
            <field var='ip_version'><value>ipv4</value><value>ipv6</value></field>\
            <field var='os'><value>Mac</value></field>\
            <field var='software_version'><value>0.11</value></field>\
            <field var='os_version'><value>10.5.1</value></field>\
            </x></query>"
            .parse()
            .unwrap();
        let checked = check(
            &key("q07IKJEyjvHSyhy//CH0CxmKi8w="),
            "http://psi-im.org",
            &query,
            LIMITS,
        );
        assert!(matches!(checked, Ok(Checked::Verified(_))), "{checked:?}");
    }

    #[test]
    fn features_that_prefix_others_sort_as_xep0115_says() {
        // What slixmpp 1.17 advertises by default, among others: shim and shim#SubID.
        let query: Element = "<query xmlns='http://jabber.org/protocol/disco#info'>\
            <identity category='client' type='bot'/>\
            <feature var='http://jabber.org/protocol/shim'/>\
            <feature var='http://jabber.org/protocol/shim#SubID'/></query>"
            .parse()
            .unwrap();
        let info = DiscoInfoResult::try_from(query.clone()).unwrap();
        assert_eq!(
            verification_string(&info),
            b"client/bot//<http://jabber.org/protocol/shim<http://jabber.org/protocol/shim#SubID<"
        );
        let caps = caps_for("n", &info, Algo::Sha_1).unwrap();
        let checked = check(&CapsKey::of(&caps), "n", &query, LIMITS);
        assert!(matches!(checked, Ok(Checked::Verified(_))), "{checked:?}");
        // xmpp-parsers' own helper orders them the other way round.
        let theirs = xmpp_parsers::caps::compute_disco(&info);
        assert_ne!(theirs, verification_string(&info));
    }

    #[test]
    fn duplicates_are_ill_formed_and_limits_hold() {
        let query: Element = "<query xmlns='http://jabber.org/protocol/disco#info'>\
            <feature var='a+notify'/><feature var='a+notify'/></query>"
            .parse()
            .unwrap();
        let checked = check(&key("QgayPKawpkPSDYmwT/WM94uAlu0="), "n", &query, LIMITS);
        let Ok(Checked::ForOne(info, Unverifiable::DuplicateFeature(f))) = checked else {
            panic!("{checked:?}");
        };
        assert_eq!(f, "a+notify");
        assert!(info.filter().node("a").is_some());
        let tight = Limits {
            max_children: 1,
            ..LIMITS
        };
        assert!(matches!(
            check(&key("QgayPKawpkPSDYmwT/WM94uAlu0="), "n", &query, tight),
            Err(QueryFailure::TooLarge)
        ));
    }
}
