//! `<enable/>` and `<disable/>`, with their matches, filters and send profiles.

use core::fmt;
use core::str::FromStr;
use std::time::Duration;

use jid::Jid;
use minidom::Element;
use minidom::rxml::xml_ncname;
use xmpp_parsers::iq::Iq;
use xmpp_push2_crypto::{UaKeys, VapidKey};

use super::{required_text, single};
use crate::error::ParseError;
use crate::ns;
use crate::xml;

/// `<enable xmlns='urn:xmpp:push2:0'/>`: a client registers a push service for this session
/// (or, with SASL2, this client), naming which stanzas to push and how.
///
/// ```
/// use xmpp_push2::{Enable, Match, MatchProfile, SendProfile};
///
/// let enable = Enable::new("pusher@push.example.com".parse()?, "https://push.example.com/adlfkjadafdasf")
///     .with_match(Match::new(MatchProfile::ArchivedWithBody, SendProfile::NotifyOnly));
/// let element = minidom::Element::from(enable.clone());
/// assert_eq!(Enable::try_from(&element)?, enable);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Enable {
    /// `<service/>`: where notifications go (a domain, bare or full JID).
    pub service: Jid,
    /// `<client/>`: an opaque string for the push service; in practice the Web Push endpoint.
    pub client: String,
    /// `<match/>` elements, in order: the first that matches a stanza decides how it is sent.
    pub matches: Vec<Match>,
}

impl Enable {
    /// An `<enable/>` without matches (add at least one: the server refuses none).
    #[must_use]
    pub fn new(service: Jid, client: impl Into<String>) -> Self {
        Self {
            service,
            client: client.into(),
            matches: Vec::new(),
        }
    }

    /// Adds a `<match/>`.
    #[must_use]
    pub fn with_match(mut self, m: Match) -> Self {
        self.matches.push(m);
        self
    }

    /// An iq-set carrying it, to the user's own account (no `to`: RFC 6120 §10.3.3).
    #[must_use]
    pub fn to_iq(&self, id: &str) -> Element {
        Iq::Set {
            from: None,
            to: None,
            id: id.to_owned(),
            payload: Element::from(self.clone()),
        }
        .into()
    }
}

impl TryFrom<&Element> for Enable {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        if !el.is("enable", ns::PUSH2) {
            return Err(ParseError::Mismatch { expected: "enable" });
        }
        let service = required_text(el, "service", ns::PUSH2, "enable")?;
        let service = Jid::from_str(&service).map_err(|_| ParseError::InvalidJid {
            element: "service",
            value: service,
        })?;
        let client = required_text(el, "client", ns::PUSH2, "enable")?;
        let matches = el
            .children()
            .filter(|c| c.is("match", ns::PUSH2))
            .map(Match::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        if matches.is_empty() {
            return Err(ParseError::NoMatch);
        }
        Ok(Self {
            service,
            client,
            matches,
        })
    }
}

impl TryFrom<Element> for Enable {
    type Error = ParseError;

    fn try_from(el: Element) -> Result<Self, ParseError> {
        Self::try_from(&el)
    }
}

impl From<Enable> for Element {
    fn from(enable: Enable) -> Self {
        Self::builder("enable", ns::PUSH2)
            .append(xml::text_element(
                "service",
                ns::PUSH2,
                enable.service.to_string(),
            ))
            .append(xml::text_element("client", ns::PUSH2, enable.client))
            .append_all(enable.matches.into_iter().map(Self::from))
            .build()
    }
}

/// `<disable xmlns='urn:xmpp:push2:0'/>`: the client's registration is removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Disable;

impl Disable {
    /// `<disable/>`.
    #[must_use]
    pub const fn new() -> Self {
        Self
    }

    /// An iq-set carrying it.
    #[must_use]
    pub fn to_iq(self, id: &str) -> Element {
        Iq::Set {
            from: None,
            to: None,
            id: id.to_owned(),
            payload: Element::from(self),
        }
        .into()
    }
}

impl TryFrom<&Element> for Disable {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        if el.is("disable", ns::PUSH2) {
            Ok(Self)
        } else {
            Err(ParseError::Mismatch {
                expected: "disable",
            })
        }
    }
}

impl From<Disable> for Element {
    fn from(_: Disable) -> Self {
        Self::bare("disable", ns::PUSH2)
    }
}

/// A match profile URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum MatchProfile {
    /// `urn:xmpp:push2:match:all`.
    All,
    /// `urn:xmpp:push2:match:important` (see [`Classification::is_important`](crate::Classification::is_important)).
    Important,
    /// `urn:xmpp:push2:match:archived`.
    Archived,
    /// `urn:xmpp:push2:match:archived-with-body`.
    ArchivedWithBody,
    /// Any other URI: a profile of another specification or a custom one, decided by the
    /// caller's [`CustomProfiles`](crate::CustomProfiles).
    Other(String),
}

impl MatchProfile {
    /// The URI.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::All => ns::MATCH_ALL,
            Self::Important => ns::MATCH_IMPORTANT,
            Self::Archived => ns::MATCH_ARCHIVED,
            Self::ArchivedWithBody => ns::MATCH_ARCHIVED_WITH_BODY,
            Self::Other(uri) => uri,
        }
    }

    /// The profile named by `uri`.
    #[must_use]
    pub fn from_uri(uri: &str) -> Self {
        match uri {
            ns::MATCH_ALL => Self::All,
            ns::MATCH_IMPORTANT => Self::Important,
            ns::MATCH_ARCHIVED => Self::Archived,
            ns::MATCH_ARCHIVED_WITH_BODY => Self::ArchivedWithBody,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for MatchProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `<match profile=''/>`: which stanzas to push ([`MatchProfile`]), an optional grace period,
/// per-chat filters, and exactly one send profile.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Match {
    /// The `profile` attribute.
    pub profile: MatchProfile,
    /// `<grace/>`: while another session of the user was active this recently, this match
    /// pushes nothing (calls excepted).
    pub grace: Option<Duration>,
    /// `<filter jid=''/>`: chats that are muted, except for mentions and replies when
    /// [`Filter::mention`] / [`Filter::reply`] say so.
    pub filters: Vec<Filter>,
    /// The one `<send/>` element.
    pub send: SendProfile,
}

impl Match {
    /// A match with no grace and no filters.
    #[must_use]
    pub const fn new(profile: MatchProfile, send: SendProfile) -> Self {
        Self {
            profile,
            grace: None,
            filters: Vec::new(),
            send,
        }
    }

    /// Sets `<grace/>` (whole seconds are written).
    #[must_use]
    pub const fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = Some(grace);
        self
    }

    /// Adds a `<filter/>`.
    #[must_use]
    pub fn with_filter(mut self, filter: Filter) -> Self {
        self.filters.push(filter);
        self
    }
}

impl TryFrom<&Element> for Match {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        if !el.is("match", ns::PUSH2) {
            return Err(ParseError::Mismatch { expected: "match" });
        }
        let profile = el.attr("profile").ok_or(ParseError::MissingAttribute {
            element: "match",
            attribute: "profile",
        })?;
        let grace = match single(el, "grace", ns::PUSH2, "match")? {
            None => None,
            Some(grace) => {
                let text = grace.text();
                let seconds = text
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| ParseError::InvalidGrace {
                        value: text.clone(),
                    })?;
                Some(Duration::from_secs(u64::from(seconds)))
            }
        };
        let filters = el
            .children()
            .filter(|c| c.is("filter", ns::PUSH2))
            .map(Filter::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let mut sends = el.children().filter(|c| c.name() == "send");
        let send = sends.next().ok_or(ParseError::MissingChild {
            element: "match",
            child: "send",
        })?;
        if sends.next().is_some() {
            return Err(ParseError::Repeated {
                element: "match",
                child: "send",
            });
        }
        Ok(Self {
            profile: MatchProfile::from_uri(profile),
            grace,
            filters,
            send: SendProfile::try_from(send)?,
        })
    }
}

impl From<Match> for Element {
    fn from(m: Match) -> Self {
        let mut builder = Self::builder("match", ns::PUSH2)
            .attr(xml_ncname!("profile").into(), m.profile.as_str());
        if let Some(grace) = m.grace {
            builder = builder.append(xml::text_element(
                "grace",
                ns::PUSH2,
                grace.as_secs().min(u64::from(u32::MAX)).to_string(),
            ));
        }
        builder
            .append_all(m.filters.into_iter().map(Self::from))
            .append(Self::from(m.send))
            .build()
    }
}

/// `<filter jid=''/>`: stanzas from this JID (a contact, a room, a domain; compared with the
/// sender's full JID, bare JID and domain) are not pushed by this match, except mentions of
/// the user (`<mention/>`) and replies to the user (`<reply/>`, XEP-0461).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Filter {
    /// The chat.
    pub jid: Jid,
    /// `<mention/>`: push messages that mention the user.
    pub mention: bool,
    /// `<reply/>`: push replies to the user's messages.
    pub reply: bool,
}

impl Filter {
    /// A mute for `jid`, with no exceptions.
    #[must_use]
    pub const fn muted(jid: Jid) -> Self {
        Self {
            jid,
            mention: false,
            reply: false,
        }
    }

    /// Lets mentions through.
    #[must_use]
    pub const fn with_mentions(mut self) -> Self {
        self.mention = true;
        self
    }

    /// Lets replies through.
    #[must_use]
    pub const fn with_replies(mut self) -> Self {
        self.reply = true;
        self
    }
}

impl TryFrom<&Element> for Filter {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        if !el.is("filter", ns::PUSH2) {
            return Err(ParseError::Mismatch { expected: "filter" });
        }
        let jid = el.attr("jid").ok_or(ParseError::MissingAttribute {
            element: "filter",
            attribute: "jid",
        })?;
        let jid = Jid::from_str(jid).map_err(|_| ParseError::InvalidJid {
            element: "filter",
            value: jid.to_owned(),
        })?;
        Ok(Self {
            jid,
            mention: el.has_child("mention", ns::PUSH2),
            reply: el.has_child("reply", ns::PUSH2),
        })
    }
}

impl From<Filter> for Element {
    fn from(f: Filter) -> Self {
        let mut builder =
            Self::builder("filter", ns::PUSH2).attr(xml_ncname!("jid").into(), f.jid.to_string());
        if f.mention {
            builder = builder.append(Self::bare("mention", ns::PUSH2));
        }
        if f.reply {
            builder = builder.append(Self::bare("reply", ns::PUSH2));
        }
        builder.build()
    }
}

/// The `<send/>` element of a match: how a notification is made.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SendProfile {
    /// `urn:xmpp:push2:send:notify-only:0`: an empty notification that wakes the client.
    NotifyOnly,
    /// `urn:xmpp:push2:send:sce+rfc8291+rfc8292:0`: the stanza itself, encrypted.
    WebPush(WebPushSend),
    /// A `<send/>` in a namespace this crate does not know, kept whole.
    Unknown(Box<Element>),
}

impl SendProfile {
    /// The profile URI (the `<send/>` element's namespace).
    #[must_use]
    pub fn namespace(&self) -> String {
        match self {
            Self::NotifyOnly => ns::SEND_NOTIFY_ONLY.to_owned(),
            Self::WebPush(_) => ns::SEND_SCE_RFC8291_RFC8292.to_owned(),
            Self::Unknown(el) => el.ns(),
        }
    }
}

impl TryFrom<&Element> for SendProfile {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        if el.name() != "send" {
            return Err(ParseError::Mismatch { expected: "send" });
        }
        if el.has_ns(ns::SEND_NOTIFY_ONLY) {
            Ok(Self::NotifyOnly)
        } else if el.has_ns(ns::SEND_SCE_RFC8291_RFC8292) {
            WebPushSend::try_from(el).map(Self::WebPush)
        } else {
            Ok(Self::Unknown(Box::new(el.clone())))
        }
    }
}

impl From<SendProfile> for Element {
    fn from(send: SendProfile) -> Self {
        match send {
            SendProfile::NotifyOnly => Self::bare("send", ns::SEND_NOTIFY_ONLY),
            SendProfile::WebPush(w) => w.into(),
            SendProfile::Unknown(el) => *el,
        }
    }
}

/// The `urn:xmpp:push2:send:sce+rfc8291+rfc8292:0` send profile: the client's RFC 8291 keys
/// and, optionally, the RFC 8292 key and claims the server signs a token with.
///
/// The key fields hold the text the client sent; `Debug` leaves the secrets out.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebPushSend {
    /// `<ua-public/>`: base64 of the raw uncompressed P-256 point.
    pub ua_public: String,
    /// `<auth-secret/>`: base64 of 16 random octets (secret).
    pub auth_secret: String,
    /// `<jwt-alg/>`: `ES256` for a token; absent for none.
    pub jwt_alg: Option<String>,
    /// `<jwt-key/>`: PKCS#8 PEM without the armour lines (secret).
    pub jwt_key: Option<String>,
    /// `<jwt-claim name=''/>`, in order.
    pub jwt_claims: Vec<(String, String)>,
}

impl WebPushSend {
    /// The profile for `keys`, without a token.
    #[must_use]
    pub fn new(keys: &UaKeys) -> Self {
        Self {
            ua_public: keys.public_key().to_base64(),
            auth_secret: keys.auth_secret.to_base64().to_string(),
            jwt_alg: None,
            jwt_key: None,
            jwt_claims: Vec::new(),
        }
    }

    /// Asks for an ES256 token signed with `key`.
    ///
    /// # Errors
    /// Only if the key cannot be exported (a backend failure).
    pub fn with_vapid(
        mut self,
        key: &VapidKey,
    ) -> Result<Self, xmpp_push2_crypto::error::KeyError> {
        self.jwt_alg = Some("ES256".to_owned());
        self.jwt_key = Some(key.to_push2()?.to_string());
        Ok(self)
    }

    /// Adds a `<jwt-claim/>` (typically `aud`, the push service's origin).
    #[must_use]
    pub fn with_claim(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.jwt_claims.push((name.into(), value.into()));
        self
    }
}

impl fmt::Debug for WebPushSend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebPushSend")
            .field("ua_public", &self.ua_public)
            .field("auth_secret", &"<redacted>")
            .field("jwt_alg", &self.jwt_alg)
            .field("jwt_key", &self.jwt_key.as_ref().map(|_| "<redacted>"))
            .field("jwt_claims", &self.jwt_claims)
            .finish()
    }
}

impl TryFrom<&Element> for WebPushSend {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        const NS: &str = ns::SEND_SCE_RFC8291_RFC8292;
        if !el.is("send", NS) {
            return Err(ParseError::Mismatch { expected: "send" });
        }
        let raw = |name: &'static str| -> Result<Option<String>, ParseError> {
            Ok(single(el, name, NS, "send")?.map(Element::text))
        };
        let ua_public = required_text(el, "ua-public", NS, "send")?;
        let auth_secret = required_text(el, "auth-secret", NS, "send")?;
        let jwt_alg = raw("jwt-alg")?.map(|a| a.trim().to_owned());
        let jwt_key = raw("jwt-key")?;
        let jwt_claims = el
            .children()
            .filter(|c| c.is("jwt-claim", NS))
            .map(|c| {
                let name = c.attr("name").ok_or(ParseError::MissingAttribute {
                    element: "jwt-claim",
                    attribute: "name",
                })?;
                Ok((name.to_owned(), c.text()))
            })
            .collect::<Result<Vec<_>, ParseError>>()?;
        Ok(Self {
            ua_public,
            auth_secret,
            jwt_alg,
            jwt_key,
            jwt_claims,
        })
    }
}

impl From<WebPushSend> for Element {
    fn from(w: WebPushSend) -> Self {
        const NS: &str = ns::SEND_SCE_RFC8291_RFC8292;
        let mut builder = Self::builder("send", NS)
            .append(xml::text_element("ua-public", NS, w.ua_public))
            .append(xml::text_element("auth-secret", NS, w.auth_secret));
        if let Some(alg) = w.jwt_alg {
            builder = builder.append(xml::text_element("jwt-alg", NS, alg));
        }
        if let Some(key) = w.jwt_key {
            builder = builder.append(xml::text_element("jwt-key", NS, key));
        }
        for (name, value) in w.jwt_claims {
            builder = builder.append(
                Self::builder("jwt-claim", NS)
                    .attr(xml_ncname!("name").into(), name)
                    .append(value),
            );
        }
        builder.build()
    }
}
