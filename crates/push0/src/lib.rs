//! # xmpp-push0: XEP-0357 Push Notifications (`urn:xmpp:push:0`)
//!
//! **Status: planned.** This crate is a placeholder in the tether workspace; it holds no code
//! yet, only this description of what it will do.
//!
//! XEP-0357 lets a client register an App Server with its XMPP server; when the client is
//! offline or its stream is hibernated, the server publishes a notification (a summary data
//! form) to the App Server's PubSub node. The crate will provide:
//!
//! - typed `<enable/>`/`<disable/>` commands and the notification summary form, built on
//!   xmpp-parsers' `Iq`, `PubSub` and `DataForm` types;
//! - a sans-IO `Registry` (server side) that stores registrations, decides when an incoming
//!   stanza triggers a notification, batches them, and emits the publish `<iq/>` elements;
//! - builders for the client side.
//!
//! See the tether workspace README for the status of every crate.
#![forbid(unsafe_code)]
