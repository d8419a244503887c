//! Running an `xmpp_sm::Client` over a [`Connection`](super::Connection).

/// Placeholder until xmpp-sm's API lands.
#[derive(Debug)]
pub struct SmDriver;

/// Placeholder until xmpp-sm's API lands.
#[derive(Debug, thiserror::Error)]
#[error("todo")]
pub struct SmError;
