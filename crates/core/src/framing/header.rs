//! The `<stream:stream>` header (RFC 6120 §4.7) and the content namespace it declares.

use minidom::rxml::{AttrMap, Namespace, XMLNS_XML};

use super::NS_STREAMS;
use crate::error::FramingError;

/// The default namespace a stream header declares for the stream's content (RFC 6120 §4.8.2):
/// what an unqualified `<message/>` on the stream means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContentNamespace {
    /// `jabber:client`: a client-to-server stream (RFC 6120 §4.8.3).
    Client,
    /// `jabber:server`: a server-to-server stream (RFC 6120 §4.8.3).
    Server,
    /// `jabber:component:accept`: an external component connecting to a server (XEP-0114).
    ComponentAccept,
}

impl ContentNamespace {
    /// The namespace name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Client => "jabber:client",
            Self::Server => "jabber:server",
            Self::ComponentAccept => "jabber:component:accept",
        }
    }

    /// The variant for a namespace name, if it is one of ours.
    #[must_use]
    pub fn from_uri(uri: &str) -> Option<Self> {
        [Self::Client, Self::Server, Self::ComponentAccept]
            .into_iter()
            .find(|ns| ns.as_str() == uri)
    }
}

/// The attributes of a `<stream:stream>` header (RFC 6120 §4.7), read from a peer or written
/// by us.
///
/// Addresses stay strings: whether a `to` names a domain this server hosts (`host-unknown`)
/// or a `from` may be trusted (`invalid-from`) is for the stream's owner to decide, not for
/// the framing. Attributes RFC 6120 does not define are ignored (§4.7.6 does not forbid them,
/// and no extension we speak uses one).
///
/// ```
/// use xmpp_tether_core::framing::{ContentNamespace, StreamHeader};
///
/// let ours = StreamHeader::server("im.example.com", "++TR84Sm6A3hnt3Q065SnAbbk3Y=")
///     .with_to("juliet@im.example.com");
/// assert_eq!(ours.content, Some(ContentNamespace::Client));
/// assert_eq!(ours.version.as_deref(), Some("1.0"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct StreamHeader {
    /// `from`: the sender's address (a client's bare JID, a server's domain).
    pub from: Option<String>,
    /// `to`: the intended receiver's address.
    pub to: Option<String>,
    /// `id`: the stream id, set by the receiving entity in its response header (§4.7.3).
    pub id: Option<String>,
    /// `version`: `"1.0"` for XMPP 1.0; absent for pre-1.0 peers (§4.7.5).
    pub version: Option<String>,
    /// `xml:lang`: the default language of the stream's human-readable text (§4.7.4).
    pub lang: Option<String>,
    /// The default namespace the header declares; `None` when it declares none and every
    /// top-level element is qualified explicitly (§4.8.2 allows this).
    pub content: Option<ContentNamespace>,
}

impl StreamHeader {
    /// An empty header for a stream with `content` as its default namespace, `version='1.0'`.
    #[must_use]
    pub fn new(content: ContentNamespace) -> Self {
        Self {
            version: Some("1.0".to_owned()),
            content: Some(content),
            ..Self::default()
        }
    }

    /// The initial header a client sends to open a stream to `domain` (RFC 6120 §4.7):
    /// `to=domain`, `version='1.0'`, `xml:lang='en'`, content namespace `jabber:client`.
    #[must_use]
    pub fn client(domain: &str) -> Self {
        Self::new(ContentNamespace::Client)
            .with_to(domain)
            .with_lang("en")
    }

    /// The response header a server sends on a client stream: `from=domain`, the stream
    /// `id` it generated, `version='1.0'`, `xml:lang='en'`, content namespace
    /// `jabber:client`. For a server-to-server stream, add
    /// `.with_content(ContentNamespace::Server)`.
    #[must_use]
    pub fn server(domain: &str, id: &str) -> Self {
        Self::new(ContentNamespace::Client)
            .with_from(domain)
            .with_id(id)
            .with_lang("en")
    }

    /// Sets `from`.
    #[must_use]
    pub fn with_from(mut self, from: &str) -> Self {
        self.from = Some(from.to_owned());
        self
    }

    /// Sets `to`.
    #[must_use]
    pub fn with_to(mut self, to: &str) -> Self {
        self.to = Some(to.to_owned());
        self
    }

    /// Sets `id`.
    #[must_use]
    pub fn with_id(mut self, id: &str) -> Self {
        self.id = Some(id.to_owned());
        self
    }

    /// Sets `version`.
    #[must_use]
    pub fn with_version(mut self, version: &str) -> Self {
        self.version = Some(version.to_owned());
        self
    }

    /// Sets `xml:lang`.
    #[must_use]
    pub fn with_lang(mut self, lang: &str) -> Self {
        self.lang = Some(lang.to_owned());
        self
    }

    /// Sets the content namespace.
    #[must_use]
    pub const fn with_content(mut self, content: ContentNamespace) -> Self {
        self.content = Some(content);
        self
    }

    /// Reads a header from the root element rxml resolved, with the default namespace the
    /// raw header declared (`None` if it declared none).
    pub(super) fn from_root(
        ns: &Namespace<'static>,
        name: &str,
        mut attrs: AttrMap,
        default_ns: Option<&str>,
    ) -> Result<Self, FramingError> {
        if name != "stream" {
            return Err(FramingError::NotAStream {
                name: name.to_owned(),
                ns: ns.as_str().to_owned(),
            });
        }
        if ns.as_str() != NS_STREAMS {
            return Err(FramingError::StreamNamespace {
                ns: ns.as_str().to_owned(),
            });
        }
        let content = match default_ns {
            None | Some("") => None,
            Some(uri) => Some(
                ContentNamespace::from_uri(uri)
                    .ok_or_else(|| FramingError::ContentNamespace { ns: uri.to_owned() })?,
            ),
        };
        let mut take = |ns: &str, name: &str| attrs.remove(ns, name);
        Ok(Self {
            from: take("", "from"),
            to: take("", "to"),
            id: take("", "id"),
            version: take("", "version"),
            lang: take(XMLNS_XML, "lang"),
            content,
        })
    }
}
