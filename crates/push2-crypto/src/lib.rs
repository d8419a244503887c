//! # xmpp-push2-crypto
//!
//! **Status: in progress.** RFC 8291/8188 payload encryption, RFC 8292 VAPID JWT and
//! XEP-0420/XEP-0297 wrapping for the Push 2.0 send profile
//! `urn:xmpp:push2:send:sce+rfc8291+rfc8292:0`.
#![forbid(unsafe_code)]
