//! Namespaces the crate reads that xmpp-parsers does not export in every build.

/// RFC 6120 server-to-server stanzas.
pub(crate) const JABBER_SERVER: &str = "jabber:server";
