//! # xmpp-rsnf: XEP-0351 recipient-side PubSub notification filtering
//!
//! **Status: planned.** This crate is a placeholder in the tether workspace; it holds no code
//! yet, only this description of what it will do.
//!
//! XEP-0351 lets a client tell its server which PubSub notifications it wants while it is
//! inactive or on a constrained link, so the server can hold back or drop the rest. The crate
//! will provide typed elements for the filter configuration, parsed from and serialised to
//! `minidom::Element`, and a sans-IO `Filter` that decides, per resource and per notification,
//! whether the server forwards it now, later, or not at all.
//!
//! See the tether workspace README for the status of every crate.
#![forbid(unsafe_code)]
