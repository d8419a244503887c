//! The loopback test server (built on xmpp-sm once its API lands).
