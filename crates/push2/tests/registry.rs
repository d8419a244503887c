//! Behaviour tests of the user's-server [`Registry`](xmpp_push2::Registry).

mod common;

#[path = "registry/commands.rs"]
mod commands;
#[path = "registry/delivery.rs"]
mod delivery;
#[path = "registry/matching.rs"]
mod matching;
#[path = "registry/notifications.rs"]
mod notifications;
#[path = "registry/persistence.rs"]
mod persistence;
