//! # xmpp-push2: Push 2.0 (`urn:xmpp:push2:0`)
//!
//! **Status: planned.** This crate is a placeholder in the tether workspace; it holds no code
//! yet, only this description of what it will do.
//!
//! Push 2.0 replaces XEP-0357's PubSub publish with a direct registration that names a *match
//! profile* (which stanzas deserve a push) and a *send profile* (how the notification is
//! delivered, for example encrypted with RFC 8291 and authenticated with RFC 8292 VAPID). The
//! crate will provide typed elements for the enable/disable commands and the notification,
//! and a sans-IO `Registry` that matches stanzas against registrations and hands encrypted
//! payloads (via `xmpp-push2-crypto`) back to the caller to deliver.
//!
//! See the tether workspace README for the status of every crate.
#![forbid(unsafe_code)]
