//! # xmpp-psa: XEP-0310 Presence State Annotations
//!
//! **Status: planned.** This crate is a placeholder in the tether workspace; it holds no code
//! yet, only this description of what it will do.
//!
//! XEP-0310 lets a server mark a presence it forwards as *stale*: the sending client has gone
//! quiet (for example a hibernated XEP-0198 session) and the presence may no longer reflect the
//! user. The crate will provide:
//!
//! - typed elements for the `urn:xmpp:presence-state:0` annotation, parsed from and serialised
//!   to `minidom::Element`;
//! - a sans-IO `Tracker` that takes stream events (from `xmpp-sm`, passed through the caller)
//!   and the current time, and tells the caller which presences to annotate or re-broadcast;
//! - a client-side view that reads the annotations on received presences.
//!
//! See the tether workspace README for the status of every crate.
#![forbid(unsafe_code)]
