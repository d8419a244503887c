//! SASL2 (XEP-0388) with Bind2 (XEP-0386), client side: what a server offers, the
//! `<authenticate/>` we send (PLAIN, a `<user-agent/>`, elements placed inline by other
//! protocols), and the `<success/>` we get back.
//!
//! A SASL2 login is one round trip with PLAIN: `<authenticate mechanism='PLAIN'>` carrying the
//! initial response, answered by `<success/>` or `<failure/>`. The stream is not restarted
//! (XEP-0388 §2.5): the server sends its next `<stream:features/>` right after `<success/>`.
//! With Bind2 the `<bind/>` inside `<authenticate/>` binds a resource during the login, and
//! `<success/>` carries `<bound/>`.

use base64::Engine as _;
use jid::{BareJid, FullJid, Jid};
use minidom::Element;

use super::name;

/// XEP-0388 Extensible SASL Profile.
pub const NS_SASL2: &str = "urn:xmpp:sasl:2";
/// XEP-0386 Bind 2.
pub const NS_BIND2: &str = "urn:xmpp:bind:0";
/// XEP-0198 stream management, the only dialect defined inline (XEP-0198 §9).
const NS_SM3: &str = "urn:xmpp:sm:3";

/// What a server offers in `<authentication xmlns='urn:xmpp:sasl:2'>` among its stream
/// features.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sasl2Offer {
    /// The SASL mechanisms offered, in the server's order.
    pub mechanisms: Vec<String>,
    /// Whether `<inline/>` lists `<sm xmlns='urn:xmpp:sm:3'/>`: inline resumption
    /// (XEP-0198 §9.2).
    pub inline_resume: bool,
    /// Bind2, if `<inline/>` lists it: the `var` of every `<feature/>` its own `<inline/>`
    /// accepts inside `<bind/>` (XEP-0386 §3.1).
    pub bind2: Option<Vec<String>>,
}

impl Sasl2Offer {
    /// The SASL2 offer among `<stream:features/>`, if there is one.
    #[must_use]
    pub fn from_features(features: &Element) -> Option<Self> {
        let authentication = features.get_child("authentication", NS_SASL2)?;
        let mechanisms = authentication
            .children()
            .filter(|c| c.is("mechanism", NS_SASL2))
            .map(Element::text)
            .collect();
        let inline = authentication.get_child("inline", NS_SASL2);
        let inline_resume = inline.is_some_and(|i| i.has_child("sm", NS_SM3));
        let bind2 = inline
            .and_then(|i| i.get_child("bind", NS_BIND2))
            .map(|bind| {
                bind.get_child("inline", NS_BIND2)
                    .into_iter()
                    .flat_map(Element::children)
                    .filter(|f| f.is("feature", NS_BIND2))
                    .filter_map(|f| f.attr("var").map(str::to_owned))
                    .collect()
            });
        Some(Self {
            mechanisms,
            inline_resume,
            bind2,
        })
    }

    /// Whether `mechanism` is offered.
    #[must_use]
    pub fn has_mechanism(&self, mechanism: &str) -> bool {
        self.mechanisms.iter().any(|m| m == mechanism)
    }

    /// Whether Bind2 accepts a stream management `<enable/>` inline (XEP-0198 §9.1).
    #[must_use]
    pub fn inline_enable(&self) -> bool {
        self.bind2
            .as_ref()
            .is_some_and(|features| features.iter().any(|f| f == NS_SM3))
    }
}

/// How to log in with SASL2: the `<user-agent/>` and whether to bind with Bind2.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sasl2Login {
    /// `<user-agent id/>`: XEP-0388 §2.1 asks for a UUIDv4 that stays the same for one
    /// installation of the client (servers derive the Bind2 resource from it).
    pub user_agent_id: String,
    /// `<software/>` inside `<user-agent/>`.
    pub software: Option<String>,
    /// `<device/>` inside `<user-agent/>`.
    pub device: Option<String>,
    /// `Some`: bind a resource with Bind2 `<bind/>`, with this `<tag/>` if any (the server
    /// builds the resource from it). `None`: no Bind2; bind or resume after `<success/>`.
    pub bind2: Option<Option<String>>,
}

impl Sasl2Login {
    /// A login as the installation `user_agent_id`, without Bind2.
    #[must_use]
    pub fn new(user_agent_id: impl Into<String>) -> Self {
        Self {
            user_agent_id: user_agent_id.into(),
            software: None,
            device: None,
            bind2: None,
        }
    }

    /// Names the client software in `<user-agent/>`.
    #[must_use]
    pub fn with_software(mut self, software: impl Into<String>) -> Self {
        self.software = Some(software.into());
        self
    }

    /// Names the device in `<user-agent/>`.
    #[must_use]
    pub fn with_device(mut self, device: impl Into<String>) -> Self {
        self.device = Some(device.into());
        self
    }

    /// Binds a resource with Bind2 during the login, with `<tag/>` if `tag` is given.
    #[must_use]
    pub fn with_bind2(mut self, tag: Option<&str>) -> Self {
        self.bind2 = Some(tag.map(str::to_owned));
        self
    }

    /// `<authenticate mechanism='PLAIN'>` for `jid` with `password`, carrying `sasl2_inline`
    /// directly inside it (a XEP-0198 `<resume/>`) and, when Bind2 is on, `bind2_inline`
    /// inside `<bind/>` (a XEP-0198 `<enable/>`).
    ///
    /// # Errors
    /// The elements of `bind2_inline`, handed back, when this login does not use Bind2.
    pub fn authenticate_plain(
        &self,
        jid: &BareJid,
        password: &str,
        sasl2_inline: Vec<Element>,
        bind2_inline: Vec<Element>,
    ) -> Result<Element, Vec<Element>> {
        if self.bind2.is_none() && !bind2_inline.is_empty() {
            return Err(bind2_inline);
        }
        let user = jid.node().map_or("", |n| n.as_str());
        // RFC 4616 §2: [authzid] NUL authcid NUL passwd.
        let creds =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        let mut agent = Element::builder("user-agent", NS_SASL2)
            .attr(name("id"), self.user_agent_id.as_str())
            .build();
        for (child, text) in [("software", &self.software), ("device", &self.device)] {
            if let Some(text) = text {
                agent.append_child(
                    Element::builder(child, NS_SASL2)
                        .append(text.as_str())
                        .build(),
                );
            }
        }
        let mut authenticate = Element::builder("authenticate", NS_SASL2)
            .attr(name("mechanism"), "PLAIN")
            .append(
                Element::builder("initial-response", NS_SASL2)
                    .append(creds)
                    .build(),
            )
            .append(agent)
            .build();
        for element in sasl2_inline {
            authenticate.append_child(element);
        }
        if let Some(tag) = &self.bind2 {
            let mut bind = Element::bare("bind", NS_BIND2);
            if let Some(tag) = tag {
                bind.append_child(
                    Element::builder("tag", NS_BIND2)
                        .append(tag.as_str())
                        .build(),
                );
            }
            for element in bind2_inline {
                bind.append_child(element);
            }
            authenticate.append_child(bind);
        }
        Ok(authenticate)
    }
}

/// What the server answered to `<authenticate/>`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    /// `<success/>`.
    Success(Element),
    /// `<failure/>` (XEP-0388 §2.6), with the RFC 6120 SASL condition inside.
    Failure(Element),
    /// A `<challenge/>`: PLAIN needs none, so the server is not doing what we asked.
    Challenge(Element),
}

impl Answer {
    /// `Some` if `element` is one of SASL2's answers.
    pub(crate) fn of(element: &Element) -> Option<Self> {
        if element.is("success", NS_SASL2) {
            Some(Self::Success(element.clone()))
        } else if element.is("failure", NS_SASL2) {
            Some(Self::Failure(element.clone()))
        } else if element.is("challenge", NS_SASL2) {
            Some(Self::Challenge(element.clone()))
        } else {
            None
        }
    }
}

/// A SASL2 login that succeeded.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Sasl2Success {
    /// `<authorization-identifier/>`: the account's bare JID, or the full JID once a
    /// resource is bound (by Bind2, or by an inline resumption).
    pub authorization_identifier: Option<Jid>,
    /// Whether `<success/>` carries Bind2 `<bound/>`: a resource was bound.
    pub bound: bool,
    /// The `<success/>` element, whole.
    pub success: Element,
    /// The `<stream:features/>` the server sent after it (no stream restart in SASL2).
    pub features: Element,
}

impl Sasl2Success {
    pub(crate) fn new(success: Element, features: Element) -> Self {
        let authorization_identifier = success
            .get_child("authorization-identifier", NS_SASL2)
            .and_then(|id| Jid::new(&id.text()).ok());
        let bound = success.has_child("bound", NS_BIND2);
        Self {
            authorization_identifier,
            bound,
            success,
            features,
        }
    }

    /// The bound full JID, when the authorization identifier is one.
    #[must_use]
    pub fn full_jid(&self) -> Option<FullJid> {
        self.authorization_identifier
            .clone()
            .and_then(|jid| jid.try_into_full().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prosody 0.12.3 with mod_sasl2, mod_sasl2_bind2 and mod_sasl2_sm, as seen on the wire.
    const PROSODY_FEATURES: &str = "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>\
        <authentication xmlns='urn:xmpp:sasl:2'><mechanism>SCRAM-SHA-1</mechanism>\
        <mechanism>PLAIN</mechanism><inline><bind xmlns='urn:xmpp:bind:0'><inline>\
        <feature var='urn:xmpp:carbons:2'/><feature var='urn:xmpp:csi:0'/>\
        <feature var='urn:xmpp:sm:3'/><feature var='urn:xmpp:sm:3'/></inline></bind>\
        <sm xmlns='urn:xmpp:sm:3'/></inline></authentication>\
        <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>\
        </mechanisms></stream:features>";

    #[test]
    fn prosody_offer() {
        let features: Element = PROSODY_FEATURES.parse().unwrap();
        let offer = Sasl2Offer::from_features(&features).unwrap();
        assert_eq!(offer.mechanisms, ["SCRAM-SHA-1", "PLAIN"]);
        assert!(offer.has_mechanism("PLAIN") && !offer.has_mechanism("SCRAM-SHA-256"));
        assert!(offer.inline_resume);
        assert!(offer.inline_enable());
        assert_eq!(offer.bind2.as_ref().map(Vec::len), Some(4));
    }

    #[test]
    fn no_offer_without_sasl2_or_bind2() {
        let legacy: Element = "<features xmlns='http://etherx.jabber.org/streams'>\
            <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>\
            </mechanisms></features>"
            .parse()
            .unwrap();
        assert_eq!(Sasl2Offer::from_features(&legacy), None);
        let bare: Element = "<features xmlns='http://etherx.jabber.org/streams'>\
            <authentication xmlns='urn:xmpp:sasl:2'><mechanism>PLAIN</mechanism>\
            </authentication></features>"
            .parse()
            .unwrap();
        let offer = Sasl2Offer::from_features(&bare).unwrap();
        assert!(!offer.inline_resume && !offer.inline_enable() && offer.bind2.is_none());
    }

    #[test]
    fn authenticate_places_inline_elements() {
        let jid: BareJid = "alice@localhost".parse().unwrap();
        let resume: Element = "<resume xmlns='urn:xmpp:sm:3' previd='x' h='3'/>"
            .parse()
            .unwrap();
        let enable: Element = "<enable xmlns='urn:xmpp:sm:3' resume='true'/>"
            .parse()
            .unwrap();
        let login = Sasl2Login::new("d4b3a2c1-0f1e-4d2c-8b3a-291807f6e5d4")
            .with_software("tether")
            .with_bind2(Some("phone"));
        let auth = login
            .authenticate_plain(&jid, "pw", vec![resume.clone()], vec![enable.clone()])
            .unwrap();
        assert_eq!(auth.attr("mechanism"), Some("PLAIN"));
        let response = auth.get_child("initial-response", NS_SASL2).unwrap().text();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(response)
            .unwrap();
        assert_eq!(decoded, b"\0alice\0pw");
        let agent = auth.get_child("user-agent", NS_SASL2).unwrap();
        assert_eq!(
            agent.attr("id"),
            Some("d4b3a2c1-0f1e-4d2c-8b3a-291807f6e5d4")
        );
        assert_eq!(
            agent.get_child("software", NS_SASL2).unwrap().text(),
            "tether"
        );
        assert_eq!(auth.get_child("resume", NS_SM3), Some(&resume));
        let bind = auth.get_child("bind", NS_BIND2).unwrap();
        assert_eq!(bind.get_child("tag", NS_BIND2).unwrap().text(), "phone");
        assert_eq!(bind.get_child("enable", NS_SM3), Some(&enable));
        // What xmpp-sm looks for is where it put it.
        assert_eq!(
            xmpp_sm::elements::inline::resume_in_authenticate(&auth),
            Some(&resume)
        );
        assert_eq!(
            xmpp_sm::elements::inline::enable_in_bind(bind),
            Some(&enable)
        );
    }

    #[test]
    fn bind2_elements_need_bind2() {
        let jid: BareJid = "alice@localhost".parse().unwrap();
        let enable: Element = "<enable xmlns='urn:xmpp:sm:3'/>".parse().unwrap();
        let handed_back = Sasl2Login::new("id")
            .authenticate_plain(&jid, "pw", Vec::new(), vec![enable.clone()])
            .unwrap_err();
        assert_eq!(handed_back, [enable]);
    }

    #[test]
    fn success_with_bound_and_identifier() {
        let success: Element = "<success xmlns='urn:xmpp:sasl:2'><bound xmlns='urn:xmpp:bind:0'/>\
            <authorization-identifier>alice@localhost/phone~abc</authorization-identifier>\
            </success>"
            .parse()
            .unwrap();
        let features: Element = "<features xmlns='http://etherx.jabber.org/streams'/>"
            .parse()
            .unwrap();
        let ok = Sasl2Success::new(success.clone(), features);
        assert!(ok.bound);
        assert_eq!(
            ok.full_jid().map(|j| j.to_string()).as_deref(),
            Some("alice@localhost/phone~abc")
        );
        assert!(matches!(Answer::of(&success), Some(Answer::Success(_))));
        let bare: Element = "<success xmlns='urn:xmpp:sasl:2'>\
            <authorization-identifier>alice@localhost</authorization-identifier></success>"
            .parse()
            .unwrap();
        let ok = Sasl2Success::new(bare, Element::bare("features", crate::xml::NS_STREAMS));
        assert!(!ok.bound && ok.full_jid().is_none());
        assert!(ok.authorization_identifier.is_some());
    }
}
