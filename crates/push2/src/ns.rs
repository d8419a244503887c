//! The namespaces and profile URIs of Push 2.0 and of the specifications it leans on.

/// Push 2.0: `<enable/>`, `<disable/>`, `<notification/>`, and the disco feature.
pub const PUSH2: &str = "urn:xmpp:push2:0";

/// The match profile that matches every stanza.
pub const MATCH_ALL: &str = "urn:xmpp:push2:match:all";
/// The match profile for important stanzas ([`crate::Classification::is_important`]).
pub const MATCH_IMPORTANT: &str = "urn:xmpp:push2:match:important";
/// The match profile for archived stanzas.
pub const MATCH_ARCHIVED: &str = "urn:xmpp:push2:match:archived";
/// The match profile for archived stanzas with a body.
pub const MATCH_ARCHIVED_WITH_BODY: &str = "urn:xmpp:push2:match:archived-with-body";

/// The send profile of an empty wake-up notification.
pub const SEND_NOTIFY_ONLY: &str = "urn:xmpp:push2:send:notify-only:0";
/// The send profile of an RFC 8291-encrypted XEP-0420 envelope with an RFC 8292 token.
pub const SEND_SCE_RFC8291_RFC8292: &str = "urn:xmpp:push2:send:sce+rfc8291+rfc8292:0";

/// The `<encrypted/>` payload of a notification (RFC 8291 ciphertext).
pub const SCE_RFC8291: &str = "urn:xmpp:sce:rfc8291:0";

/// Client stanzas.
pub const JABBER_CLIENT: &str = "jabber:client";
/// Server-to-server stanzas.
pub const JABBER_SERVER: &str = "jabber:server";
/// XEP-0114 component stanzas.
pub const COMPONENT_ACCEPT: &str = "jabber:component:accept";
/// The namespaces a stanza can be in, by the stream it came over.
pub const STANZA_NAMESPACES: [&str; 3] = [JABBER_CLIENT, JABBER_SERVER, COMPONENT_ACCEPT];

/// RFC 6120 stanza error conditions.
pub const XMPP_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// XEP-0386 Bind 2.
pub const BIND2: &str = "urn:xmpp:bind:0";
/// XEP-0030 service discovery, info.
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";

/// XEP-0359 unique and stable stanza ids (the MAM id).
pub const SID: &str = "urn:xmpp:sid:0";
/// XEP-0280 message carbons.
pub const CARBONS: &str = "urn:xmpp:carbons:2";
/// XEP-0297 stanza forwarding.
pub const FORWARD: &str = "urn:xmpp:forward:0";
/// XEP-0353 Jingle message initiation.
pub const JINGLE_MESSAGE: &str = "urn:xmpp:jingle-message:0";
/// XEP-0308 last message correction.
pub const CORRECTION: &str = "urn:xmpp:message-correct:0";
/// XEP-0461 message replies.
pub const REPLY: &str = "urn:xmpp:reply:0";
/// XEP-0384 OMEMO, the legacy (Conversations) namespace.
pub const OMEMO_LEGACY: &str = "eu.siacs.conversations.axolotl";
/// XEP-0384 OMEMO 0.3 to 0.7.
pub const OMEMO_0: &str = "urn:xmpp:omemo:0";
/// XEP-0384 OMEMO 0.8 and later.
pub const OMEMO_2: &str = "urn:xmpp:omemo:2";
/// XEP-0027 legacy OpenPGP.
pub const PGP_LEGACY: &str = "jabber:x:encrypted";
/// XEP-0373 OpenPGP for XMPP.
pub const OPENPGP: &str = "urn:xmpp:openpgp:0";
/// XEP-0420 stanza content encryption.
pub const SCE: &str = "urn:xmpp:sce:1";
/// XEP-0066 out-of-band data (file links).
pub const OOB: &str = "jabber:x:oob";
/// XEP-0249 direct MUC invitations.
pub const CONFERENCE: &str = "jabber:x:conference";
