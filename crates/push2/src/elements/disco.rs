//! Service discovery (the seed's "Discovering support") and the Bind2 inline feature.

use minidom::Element;
use minidom::rxml::xml_ncname;
use xmpp_parsers::disco::DiscoInfoResult;

use super::MatchProfile;
use crate::ns;
use crate::registry::CustomProfiles;

/// The disco features a server advertises on each account (the seed: "MUST advertise the
/// `urn:xmpp:push2:0` feature ..., along with the supported match and send profiles"):
/// `urn:xmpp:push2:0`, the four match profiles of the seed, the caller's custom ones, and the
/// two send profiles.
#[must_use]
pub fn account_features(custom: &impl CustomProfiles) -> Vec<String> {
    let mut features = vec![ns::PUSH2.to_owned()];
    features.extend(
        [
            ns::MATCH_ALL,
            ns::MATCH_IMPORTANT,
            ns::MATCH_ARCHIVED,
            ns::MATCH_ARCHIVED_WITH_BODY,
        ]
        .map(str::to_owned),
    );
    features.extend(custom.profiles());
    features.extend([ns::SEND_NOTIFY_ONLY, ns::SEND_SCE_RFC8291_RFC8292].map(str::to_owned));
    features
}

/// `<feature var='urn:xmpp:push2:0'/>` for the `<inline/>` list of Bind2's `<bind/>` stream
/// feature (XEP-0386 §3.1): the server takes an `<enable/>` inside the client's `<bind/>`.
/// The seed asks for SASL2 inlining without defining it; this form is ours (see the crate
/// docs).
#[must_use]
pub fn bind2_inline_feature() -> Element {
    Element::builder("feature", ns::BIND2)
        .attr(xml_ncname!("var").into(), ns::PUSH2)
        .build()
}

/// What a server's disco#info says about Push 2.0, for a client choosing its profiles.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Support {
    /// `urn:xmpp:push2:0` is advertised.
    pub push2: bool,
    /// The match profiles advertised (`urn:xmpp:push2:match:*` and other URIs are told apart
    /// only by the prefix: custom profiles are listed when they use it).
    pub match_profiles: Vec<MatchProfile>,
    /// The send profile URIs advertised (`urn:xmpp:push2:send:*`). The seed's own example
    /// advertises the bare prefix `urn:xmpp:push2:send:`, which names no profile; it is kept
    /// here as it came.
    pub send_profiles: Vec<String>,
}

impl Support {
    /// Reads the features of a disco#info result.
    #[must_use]
    pub fn from_disco(info: &DiscoInfoResult) -> Self {
        Self::from_features(info.features.iter().map(String::as_str))
    }

    /// Reads feature vars.
    #[must_use]
    pub fn from_features<'a>(features: impl IntoIterator<Item = &'a str>) -> Self {
        let mut support = Self::default();
        for var in features {
            if var == ns::PUSH2 {
                support.push2 = true;
            } else if var.starts_with("urn:xmpp:push2:match:") {
                support.match_profiles.push(MatchProfile::from_uri(var));
            } else if var.starts_with("urn:xmpp:push2:send:") {
                support.send_profiles.push(var.to_owned());
            }
        }
        support
    }

    /// Whether the server advertises `profile`.
    #[must_use]
    pub fn has_match(&self, profile: &MatchProfile) -> bool {
        self.match_profiles.contains(profile)
    }

    /// Whether the server advertises the send profile `uri`.
    #[must_use]
    pub fn has_send(&self, uri: &str) -> bool {
        self.send_profiles.iter().any(|s| s == uri)
    }
}
