//! The sender's side (XEP-0351 §3.1, §3.2): per stream, whether the peer server filters for
//! its own users (`urn:xmpp:rsf:0`) or needs the legacy XEP-0060 per-caps filtering; per
//! notification, where it goes.

use std::collections::BTreeSet;

use minidom::Element;
use xmpp_parsers::caps::Caps;
use xmpp_parsers::ns;

use crate::info::CapsInfo;
use crate::notification::{EventKind, Notification};

/// The feature a server advertises (through XEP-0115 caps in its stream features) when it
/// filters notifications for its own users (XEP-0351 §3.1).
pub const NS_RSF: &str = "urn:xmpp:rsf:0";

/// How notifications travel on one server-to-server stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Delivery {
    /// The peer speaks XEP-0351: send every notification the node generates to the
    /// recipient's bare JID, unfiltered; the peer filters per resource.
    Rsf,
    /// The peer does not (or is not trusted to): filter per remote resource by its caps
    /// ([`Policy::legacy`](crate::Policy::legacy)) and the node's notification switches.
    Legacy,
}

/// Sender-side settings: the domains forced back to legacy filtering.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SenderConfig {
    /// Peers that advertise `urn:xmpp:rsf:0` but are known not to filter (a buggy or lying
    /// server): always [`Delivery::Legacy`]. Compared as lowercase ASCII domain names.
    pub legacy_domains: BTreeSet<String>,
}

impl SenderConfig {
    /// This configuration with `domain` forced to legacy filtering.
    #[must_use]
    pub fn with_legacy_domain(mut self, domain: &str) -> Self {
        self.legacy_domains.insert(domain.to_ascii_lowercase());
        self
    }
}

/// The notification switches of a node (XEP-0060 §16.4.3 `pubsub#node_config`). All on by
/// default; in legacy mode an off switch suppresses its kind, in RSF mode switches are
/// ignored (XEP-0351 §3.2: "without any care of node settings").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct NodeSwitches {
    /// `pubsub#deliver_notifications`: any notification at all.
    pub deliver_notifications: bool,
    /// `pubsub#notify_config`: configuration changes (and collection changes).
    pub notify_config: bool,
    /// `pubsub#notify_delete`: node deletion.
    pub notify_delete: bool,
    /// `pubsub#notify_retract`: retractions, and purges (XEP-0060 groups them).
    pub notify_retract: bool,
    /// `pubsub#notify_sub`: subscription changes.
    pub notify_sub: bool,
}

impl Default for NodeSwitches {
    fn default() -> Self {
        Self {
            deliver_notifications: true,
            notify_config: true,
            notify_delete: true,
            notify_retract: true,
            notify_sub: true,
        }
    }
}

impl NodeSwitches {
    /// Whether the switches let a notification of `kind` out.
    #[must_use]
    pub const fn allow(&self, kind: &EventKind) -> bool {
        self.deliver_notifications
            && match kind {
                EventKind::Publish | EventKind::PublishAndRetract | EventKind::Unknown(_) => true,
                EventKind::Retract | EventKind::Purge => self.notify_retract,
                EventKind::Delete => self.notify_delete,
                EventKind::Config | EventKind::Collection => self.notify_config,
                EventKind::Subscription => self.notify_sub,
            }
    }
}

/// Where one notification goes, for one authorised recipient account on one stream. Access
/// models are the caller's: only recipients the node's access model allows are planned for,
/// in both modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Plan {
    /// Send it once, to the recipient's bare JID (RSF mode).
    BareJid,
    /// Send it to each remote full JID that [`Policy::legacy`](crate::Policy::legacy)
    /// selects from the presence and caps the sender knows (legacy mode).
    FullJids,
    /// Do not send it: the node's switch for this kind is off (legacy mode).
    Suppressed,
}

/// The sender's decisions. Stateless apart from its configuration: the mode is a fact about
/// one stream, so it is decided afresh for every new stream (a peer may upgrade, downgrade or
/// start lying between two connections), never remembered per domain.
#[derive(Debug, Clone, Default)]
pub struct Sender {
    config: SenderConfig,
}

impl Sender {
    /// A sender with `config`.
    #[must_use]
    pub const fn new(config: SenderConfig) -> Self {
        Self { config }
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &SenderConfig {
        &self.config
    }

    /// The XEP-0115 caps a peer server put in its stream features (XEP-0115 §6.4), to resolve
    /// with [`CapsCache::handle_caps`](crate::CapsCache::handle_caps) for the peer's domain.
    /// `None` if there are none or they do not parse (then the peer is legacy).
    #[must_use]
    pub fn stream_caps(features: &Element) -> Option<Caps> {
        features
            .get_child("c", ns::CAPS)
            .and_then(|c| Caps::try_from(c.clone()).ok())
    }

    /// The delivery mode of a stream to `peer_domain`, from the peer's resolved caps. `None`
    /// (no caps, caps not resolved yet, or unresolvable) is legacy: XEP-0351 §3.1 says a
    /// sender MUST NOT use the protocol unless it knows the peer supports it.
    #[must_use]
    pub fn delivery(&self, peer_domain: &str, peer_caps: Option<&CapsInfo>) -> Delivery {
        let forced = self
            .config
            .legacy_domains
            .contains(&peer_domain.to_ascii_lowercase());
        match peer_caps {
            Some(info) if info.supports_rsf() && !forced => Delivery::Rsf,
            _ => Delivery::Legacy,
        }
    }

    /// Where `notification` goes on a stream in `delivery` mode, given the node's switches.
    #[must_use]
    pub const fn plan(
        &self,
        delivery: Delivery,
        switches: &NodeSwitches,
        notification: &Notification,
    ) -> Plan {
        match delivery {
            Delivery::Rsf => Plan::BareJid,
            Delivery::Legacy if switches.allow(notification.kind()) => Plan::FullJids,
            Delivery::Legacy => Plan::Suppressed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsf_only_when_advertised_and_not_overridden() {
        let rsf = CapsInfo::from_features([NS_RSF]);
        let plain = CapsInfo::from_features(["http://jabber.org/protocol/disco#info"]);
        let sender = Sender::new(SenderConfig::default().with_legacy_domain("Liar.Example"));
        assert_eq!(sender.delivery("example.com", Some(&rsf)), Delivery::Rsf);
        assert_eq!(
            sender.delivery("example.com", Some(&plain)),
            Delivery::Legacy
        );
        assert_eq!(sender.delivery("example.com", None), Delivery::Legacy);
        assert_eq!(
            sender.delivery("liar.example", Some(&rsf)),
            Delivery::Legacy
        );
    }

    #[test]
    fn switches_count_in_legacy_mode_only() {
        let sender = Sender::default();
        let switches = NodeSwitches {
            notify_retract: false,
            ..NodeSwitches::default()
        };
        let purge = Notification::new("n", EventKind::Purge);
        let publish = Notification::new("n", EventKind::Publish);
        assert_eq!(
            sender.plan(Delivery::Legacy, &switches, &purge),
            Plan::Suppressed
        );
        assert_eq!(
            sender.plan(Delivery::Legacy, &switches, &publish),
            Plan::FullJids
        );
        assert_eq!(sender.plan(Delivery::Rsf, &switches, &purge), Plan::BareJid);
        let off = NodeSwitches {
            deliver_notifications: false,
            ..NodeSwitches::default()
        };
        assert_eq!(
            sender.plan(Delivery::Legacy, &off, &publish),
            Plan::Suppressed
        );
        assert_eq!(sender.plan(Delivery::Rsf, &off, &publish), Plan::BareJid);
    }

    #[test]
    fn stream_caps_from_features() {
        let features: Element = "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>\
            <c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://example.org' \
            ver='Ok2xMkzWfsZ2MSKU2D5ZdnNNuuE='/></stream:features>"
            .parse()
            .unwrap_or_else(|_| Element::bare("bad", "bad"));
        let caps = Sender::stream_caps(&features);
        assert_eq!(caps.map(|c| c.node), Some("https://example.org".to_owned()));
    }
}
