//! `<notification/>`: what the user's server sends the push service.

use core::fmt;

use jid::Jid;
use minidom::Element;
use minidom::rxml::xml_ncname;
use xmpp_push2_crypto::EcPublicKey;
use xmpp_push2_crypto::hazmat::b64;

use super::{required_text, single};
use crate::error::ParseError;
use crate::ns;
use crate::xml;

/// How urgent a notification is: from the stanza (calls `High`, important stanzas `Normal`,
/// the rest `Low`), mapped by the push service onto RFC 8030's `Urgency` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Priority {
    /// `low`.
    Low,
    /// `normal`.
    Normal,
    /// `high`.
    High,
}

impl Priority {
    /// The element text.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
        }
    }

    /// RFC 8030 section 5.3 `Urgency` value.
    #[must_use]
    pub const fn urgency(self) -> &'static str {
        self.as_str()
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `<jwt key=''>token</jwt>`: the RFC 8292 token the server signed with the client's key.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Jwt {
    /// `key`: the signer's public key (base64 of the raw point on the wire).
    pub key: EcPublicKey,
    /// The compact JWT.
    pub token: String,
}

impl Jwt {
    /// A token and its key.
    #[must_use]
    pub fn new(key: EcPublicKey, token: impl Into<String>) -> Self {
        Self {
            key,
            token: token.into(),
        }
    }

    /// The RFC 8292 section 3 `Authorization` header value, `vapid t=<token>, k=<key>`, with
    /// the key re-encoded as base64url (the seed sends standard base64).
    #[must_use]
    pub fn authorization(&self) -> String {
        format!("vapid t={}, k={}", self.token, self.key.to_base64url())
    }
}

impl fmt::Debug for Jwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A bearer credential until it expires.
        f.debug_struct("Jwt")
            .field("key", &self.key)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// `<notification xmlns='urn:xmpp:push2:0'/>`, inside a `<message/>` to the push service.
///
/// ```
/// use xmpp_push2::{Notification, Priority};
///
/// let xml = "<notification xmlns='urn:xmpp:push2:0'>\
///     <client>https://push.example.com/adlfkjadafdasf</client><priority>normal</priority>\
///     </notification>";
/// let n = Notification::try_from(&xml.parse::<minidom::Element>()?)?;
/// assert_eq!((n.priority, n.payload.is_none()), (Priority::Normal, true));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Notification {
    /// `<client/>`: the registration's opaque client string (the Web Push endpoint).
    pub client: String,
    /// `<priority/>` (a missing one reads as `normal`).
    pub priority: Priority,
    /// `<voip/>`: a call.
    pub voip: bool,
    /// `<encrypted xmlns='urn:xmpp:sce:rfc8291:0'><payload/>`: the RFC 8291 body, decoded.
    pub payload: Option<Vec<u8>>,
    /// `<jwt/>`.
    pub jwt: Option<Jwt>,
    /// Other children (from send profiles this crate does not know), kept in order.
    pub other: Vec<Element>,
}

impl Notification {
    /// A notification with no payload (notify-only).
    #[must_use]
    pub fn new(client: impl Into<String>, priority: Priority) -> Self {
        Self {
            client: client.into(),
            priority,
            voip: false,
            payload: None,
            jwt: None,
            other: Vec::new(),
        }
    }

    /// Sets `<voip/>`.
    #[must_use]
    pub const fn with_voip(mut self) -> Self {
        self.voip = true;
        self
    }

    /// Sets the encrypted payload.
    #[must_use]
    pub fn with_payload(mut self, payload: Vec<u8>) -> Self {
        self.payload = Some(payload);
        self
    }

    /// Sets the token.
    #[must_use]
    pub fn with_jwt(mut self, jwt: Jwt) -> Self {
        self.jwt = Some(jwt);
        self
    }

    /// The `<message/>` that carries it (`jabber:client`; its `from` and `id` when given).
    #[must_use]
    pub fn to_message(&self, from: Option<&Jid>, to: &Jid, id: Option<&str>) -> Element {
        let mut message = Element::builder("message", ns::JABBER_CLIENT)
            .append(Element::from(self.clone()))
            .build();
        xml::set(&mut message, xml_ncname!("to"), to.to_string());
        if let Some(from) = from {
            xml::set(&mut message, xml_ncname!("from"), from.to_string());
        }
        if let Some(id) = id {
            xml::set(&mut message, xml_ncname!("id"), id);
        }
        message
    }

    /// The `<notification/>` inside a `<message/>` stanza, if there is one.
    ///
    /// # Errors
    /// As [`Notification::try_from`]; [`ParseError::Mismatch`] when there is none.
    pub fn from_message(message: &Element) -> Result<Self, ParseError> {
        if !xml::is_stanza(message, "message") {
            return Err(ParseError::Mismatch {
                expected: "message",
            });
        }
        let notification =
            message
                .get_child("notification", ns::PUSH2)
                .ok_or(ParseError::Mismatch {
                    expected: "notification",
                })?;
        Self::try_from(notification)
    }
}

impl TryFrom<&Element> for Notification {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        if !el.is("notification", ns::PUSH2) {
            return Err(ParseError::Mismatch {
                expected: "notification",
            });
        }
        let client = required_text(el, "client", ns::PUSH2, "notification")?;
        let priority = match single(el, "priority", ns::PUSH2, "notification")? {
            None => Priority::Normal,
            Some(p) => match p.text().trim() {
                "high" => Priority::High,
                "normal" => Priority::Normal,
                "low" => Priority::Low,
                other => {
                    return Err(ParseError::InvalidPriority {
                        value: other.to_owned(),
                    });
                }
            },
        };
        let voip = single(el, "voip", ns::PUSH2, "notification")?.is_some();
        let payload = match single(el, "encrypted", ns::SCE_RFC8291, "notification")? {
            None => None,
            Some(encrypted) => {
                let payload = single(encrypted, "payload", ns::SCE_RFC8291, "encrypted")?.ok_or(
                    ParseError::MissingChild {
                        element: "encrypted",
                        child: "payload",
                    },
                )?;
                let text = payload.text();
                Some(b64::decode(text.trim()).map_err(|_| ParseError::InvalidPayload)?)
            }
        };
        let jwt = match single(el, "jwt", ns::PUSH2, "notification")? {
            None => None,
            Some(jwt) => {
                let key = jwt.attr("key").ok_or(ParseError::MissingAttribute {
                    element: "jwt",
                    attribute: "key",
                })?;
                let key = EcPublicKey::from_base64(key).map_err(ParseError::InvalidJwtKey)?;
                let token = jwt.text().trim().to_owned();
                if token.is_empty() {
                    return Err(ParseError::Empty { element: "jwt" });
                }
                Some(Jwt { key, token })
            }
        };
        let known = |c: &Element| {
            (c.has_ns(ns::PUSH2) && matches!(c.name(), "client" | "priority" | "voip" | "jwt"))
                || c.is("encrypted", ns::SCE_RFC8291)
        };
        let other = el.children().filter(|c| !known(c)).cloned().collect();
        Ok(Self {
            client,
            priority,
            voip,
            payload,
            jwt,
            other,
        })
    }
}

impl TryFrom<Element> for Notification {
    type Error = ParseError;

    fn try_from(el: Element) -> Result<Self, ParseError> {
        Self::try_from(&el)
    }
}

impl From<Notification> for Element {
    fn from(n: Notification) -> Self {
        let mut builder = Self::builder("notification", ns::PUSH2)
            .append(xml::text_element("client", ns::PUSH2, n.client))
            .append(xml::text_element(
                "priority",
                ns::PUSH2,
                n.priority.as_str(),
            ));
        if n.voip {
            builder = builder.append(Self::bare("voip", ns::PUSH2));
        }
        if let Some(payload) = n.payload {
            builder = builder.append(Self::builder("encrypted", ns::SCE_RFC8291).append(
                xml::text_element("payload", ns::SCE_RFC8291, b64::encode_std(&payload)),
            ));
        }
        if let Some(jwt) = n.jwt {
            builder = builder.append(
                Self::builder("jwt", ns::PUSH2)
                    .attr(xml_ncname!("key").into(), jwt.key.to_base64())
                    .append(jwt.token),
            );
        }
        builder.append_all(n.other).build()
    }
}
