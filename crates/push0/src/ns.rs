//! The XML namespaces and well-known names XEP-0357 uses.

/// `urn:xmpp:push:0`: the enable/disable commands, the notification payload and the disco
/// feature (XEP-0357, every version).
pub const PUSH: &str = "urn:xmpp:push:0";
/// The `FORM_TYPE` of the notification summary form (XEP-0357 §7, §11.3).
pub const SUMMARY: &str = "urn:xmpp:push:summary";
/// The `FORM_TYPE` of publish options (XEP-0060 §7.1.5, used by XEP-0357 §5).
pub const PUBLISH_OPTIONS: &str = "http://jabber.org/protocol/pubsub#publish-options";
/// XEP-0060 PubSub.
pub const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
/// XEP-0060 PubSub errors (application-specific conditions such as `<nodeid-required/>`).
pub const PUBSUB_ERRORS: &str = "http://jabber.org/protocol/pubsub#errors";
/// XEP-0004 Data Forms.
pub const DATA_FORMS: &str = "jabber:x:data";
/// XEP-0030 Service Discovery, info.
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
/// Stanzas on client-to-server streams (RFC 6120).
pub const JABBER_CLIENT: &str = "jabber:client";
/// Stanzas on server-to-server streams (RFC 6120).
pub const JABBER_SERVER: &str = "jabber:server";
/// Stanzas on XEP-0114 component streams.
pub const JABBER_COMPONENT: &str = "jabber:component:accept";
/// RFC 6120 stanza error conditions.
pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

/// The publish-options field that carries the app server's credential (XEP-0357 §5 example).
pub const SECRET_FIELD: &str = "secret";
/// The summary fields registered by XEP-0357 §11.3.
pub const MESSAGE_COUNT: &str = "message-count";
/// See [`MESSAGE_COUNT`].
pub const PENDING_SUBSCRIPTION_COUNT: &str = "pending-subscription-count";
/// See [`MESSAGE_COUNT`].
pub const LAST_MESSAGE_SENDER: &str = "last-message-sender";
/// See [`MESSAGE_COUNT`].
pub const LAST_MESSAGE_BODY: &str = "last-message-body";

/// The namespaces a stanza may be in, depending on the stream it travels on: a push service
/// reached over s2s sees `jabber:server`, one attached as a component `jabber:component:accept`.
pub const STANZA_NAMESPACES: [&str; 3] = [JABBER_CLIENT, JABBER_SERVER, JABBER_COMPONENT];
