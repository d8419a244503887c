//! The recipient-side rule (XEP-0351 §3.3 on top of XEP-0060 §9.2 and RFC 6121 §8.5.2), with
//! a knob wherever the specifications are silent or leave a choice.

use crate::filter::{EventSet, EventToken, Filter, NodeFilter};
use crate::info::CapsState;
use crate::notification::{EventKind, Notification};

/// Which resources of an account get a notification. [`Policy::default`] is XEP-0351 as
/// written plus the defaults below; [`Policy::legacy`] is the XEP-0060 sender-side rule.
///
/// The rule, per resource:
/// 1. It must be available, and (by default) have a priority of 0 or more: a notification
///    sent under XEP-0351 is addressed to the bare JID, and RFC 6121 §8.5.2.1.1 delivers such
///    a message to non-negative resources only ([`PriorityRule`]).
/// 2. Its caps must be known; unknown or still resolving caps get nothing by default, as
///    XEP-0060 §9.2 says ([`UnresolvedCaps`]).
/// 3. It must have named the node: `+notify` means new items; a node with no `+events-`
///    filter gets every kind (XEP-0351 §3.3 "absence of any filtering"); with one, only the
///    listed kinds, and new items when `+notify` is there too. `+events-` without `+notify`
///    gets nothing by default ([`EventsWithoutNotify`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Policy {
    /// Purges, which have no token of their own.
    pub purge: PurgeRule,
    /// Nodes with `+events-` but no `+notify`.
    pub events_without_notify: EventsWithoutNotify,
    /// Resources whose caps are unknown or resolving.
    pub unresolved: UnresolvedCaps,
    /// Collection (XEP-0248) notifications.
    pub collection: CollectionRule,
    /// Children of `<event/>` no specification defines.
    pub unknown_kind: UnknownKindRule,
    /// Resources with a negative presence priority.
    pub priority: PriorityRule,
    /// Whether `+events-` lists count at all.
    pub events_filter: EventsFilter,
    /// Which name of a notification the filters are looked up by.
    pub payload_match: PayloadMatch,
}

/// How a purge (XEP-0060 §8.5) is filtered. Whatever the rule, a list that names a
/// (non-standard) `purge` token admits purges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PurgeRule {
    /// Like a retraction (`retract` listed): XEP-0060 groups purge with retract (a purge
    /// retracts every item; `pubsub#notify_retract` governs both). The default.
    #[default]
    LikeRetract,
    /// Like a node deletion (`delete` listed).
    LikeDelete,
    /// Only a `purge` token admits it.
    OnlyToken,
}

/// What a node with an `+events-` list but no `+notify` gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventsWithoutNotify {
    /// Nothing: XEP-0060 §9.2 sends notifications of a node only to those whose caps include
    /// its `+notify`. The default.
    #[default]
    Nothing,
    /// The listed kinds (never new items).
    ListedKinds,
}

/// What a resource gets whose caps are unknown or still resolving.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UnresolvedCaps {
    /// Nothing, as XEP-0060 §9.2 says (and Prosody's mod_pep does). The default.
    #[default]
    Skip,
    /// Everything, as if it had `+notify` with no `+events-` filter for every node.
    Unfiltered,
}

/// How `<collection/>` notifications (XEP-0248) are filtered, by the collection node's
/// filter. Whatever the rule (but `Never`), a list that names a `collection` token admits them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CollectionRule {
    /// Like a configuration change (`config` listed): associating or dissociating a child
    /// changes the collection's `pubsub#children`. The default.
    #[default]
    LikeConfig,
    /// Like new items: implied by `+notify` of the collection node.
    LikeItems,
    /// Never delivered.
    Never,
}

/// How a child of `<event/>` that no specification defines is filtered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UnknownKindRule {
    /// To resources with `+notify` and no `+events-` filter for the node (XEP-0351: no filter
    /// means no filtering), and to filtered ones that list its element name. The default.
    #[default]
    Unfiltered,
    /// Only to filtered resources that list its element name.
    OnlyListed,
    /// Never delivered.
    Never,
}

/// Which name a notification's filter is looked up by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PayloadMatch {
    /// The node id only (XEP-0060 §9.2 "NodeID+notify", as Prosody does; in PEP the node id
    /// is the payload namespace anyway). The default.
    #[default]
    Node,
    /// The node id, or else the namespace of the published payloads
    /// ([`Notification::payload_ns`]): XEP-0351 §3.3 speaks of "the payload's NodeID" and of
    /// "which types of content" a client processes, so a generic PubSub node such as
    /// Example 1's `n48ad4fj78zn38st734` carrying geoloc reaches `geoloc+notify`. Only items
    /// carry a payload; other kinds are matched by node id.
    NodeOrPayload,
}

/// Which presence priorities are eligible.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PriorityRule {
    /// 0 or more (RFC 6121 §8.5.2.1.1, a message to the bare JID). The default.
    #[default]
    NonNegative,
    /// Any available resource (a sender that addresses full JIDs, as XEP-0163 services do).
    Any,
}

/// Whether `+events-` lists are part of the rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventsFilter {
    /// Honour them (XEP-0351). The default.
    #[default]
    Honour,
    /// Ignore them: `+notify` alone decides, for every kind (XEP-0060 §9.2, what a sender's
    /// server applies in legacy mode).
    Ignore,
}

impl Policy {
    /// The XEP-0060 §9.2 filtered-notification rule as a sender's server applies it to a
    /// peer without XEP-0351 (and as Prosody 0.12's mod_pep does): `+notify` alone decides,
    /// for every kind; `+events-` lists are ignored; every available resource is eligible,
    /// whatever its priority, since the sender addresses full JIDs.
    #[must_use]
    pub const fn legacy() -> Self {
        Self {
            purge: PurgeRule::LikeRetract,
            events_without_notify: EventsWithoutNotify::Nothing,
            unresolved: UnresolvedCaps::Skip,
            collection: CollectionRule::LikeConfig,
            unknown_kind: UnknownKindRule::Unfiltered,
            priority: PriorityRule::Any,
            events_filter: EventsFilter::Ignore,
            payload_match: PayloadMatch::Node,
        }
    }

    /// This policy with `rule` for purges.
    #[must_use]
    pub const fn with_purge(mut self, rule: PurgeRule) -> Self {
        self.purge = rule;
        self
    }

    /// This policy with `rule` for `+events-` without `+notify`.
    #[must_use]
    pub const fn with_events_without_notify(mut self, rule: EventsWithoutNotify) -> Self {
        self.events_without_notify = rule;
        self
    }

    /// This policy with `rule` for unknown or resolving caps.
    #[must_use]
    pub const fn with_unresolved(mut self, rule: UnresolvedCaps) -> Self {
        self.unresolved = rule;
        self
    }

    /// This policy with `rule` for collection notifications.
    #[must_use]
    pub const fn with_collection(mut self, rule: CollectionRule) -> Self {
        self.collection = rule;
        self
    }

    /// This policy with `rule` for unknown kinds.
    #[must_use]
    pub const fn with_unknown_kind(mut self, rule: UnknownKindRule) -> Self {
        self.unknown_kind = rule;
        self
    }

    /// This policy with `rule` for priorities.
    #[must_use]
    pub const fn with_priority(mut self, rule: PriorityRule) -> Self {
        self.priority = rule;
        self
    }

    /// This policy with `rule` for `+events-` lists.
    #[must_use]
    pub const fn with_events_filter(mut self, rule: EventsFilter) -> Self {
        self.events_filter = rule;
        self
    }

    /// This policy with `rule` for the name filters are looked up by.
    #[must_use]
    pub const fn with_payload_match(mut self, rule: PayloadMatch) -> Self {
        self.payload_match = rule;
        self
    }

    /// Rule 1: whether a resource with this availability and priority may get notifications.
    #[must_use]
    pub const fn is_eligible(&self, available: bool, priority: i8) -> bool {
        available
            && match self.priority {
                PriorityRule::NonNegative => priority >= 0,
                PriorityRule::Any => true,
            }
    }

    /// Rules 2 and 3: whether a resource with these caps wants `notification`.
    #[must_use]
    pub fn accepts(&self, caps: &CapsState, notification: &Notification) -> bool {
        match caps {
            CapsState::Known(info) => self.accepts_filter(info.filter(), notification),
            CapsState::Unknown | CapsState::Resolving => self.accepts_unresolved(notification),
        }
    }

    /// Rule 2 for unknown or resolving caps.
    #[must_use]
    pub fn accepts_unresolved(&self, notification: &Notification) -> bool {
        match self.unresolved {
            UnresolvedCaps::Skip => false,
            UnresolvedCaps::Unfiltered => self.unfiltered(notification.kind()),
        }
    }

    /// Rule 3: whether a resource with `filter` wants `notification`.
    #[must_use]
    pub fn accepts_filter(&self, filter: &Filter, notification: &Notification) -> bool {
        let kind = notification.kind();
        let by_node = filter
            .node(notification.node())
            .is_some_and(|rule| self.accepts_node(rule, kind));
        by_node
            || match (self.payload_match, notification.payload_ns()) {
                (PayloadMatch::NodeOrPayload, Some(ns)) if ns != notification.node() => filter
                    .node(ns)
                    .is_some_and(|rule| self.accepts_node(rule, kind)),
                _ => false,
            }
    }

    /// Rule 3 for one node's filter.
    #[must_use]
    pub fn accepts_node(&self, rule: &NodeFilter, kind: &EventKind) -> bool {
        let events = match self.events_filter {
            EventsFilter::Honour => rule.events.as_ref(),
            EventsFilter::Ignore => None,
        };
        match (rule.notify, events) {
            (true, None) => self.unfiltered(kind),
            (true, Some(list)) => self.implied_by_notify(kind) || self.listed(list, kind),
            (false, Some(list)) => match self.events_without_notify {
                EventsWithoutNotify::Nothing => false,
                EventsWithoutNotify::ListedKinds => self.listed(list, kind),
            },
            (false, None) => false,
        }
    }

    /// With `+notify` and no filter: every kind, but what a rule excludes outright.
    const fn unfiltered(&self, kind: &EventKind) -> bool {
        match kind {
            EventKind::Collection => !matches!(self.collection, CollectionRule::Never),
            EventKind::Unknown(_) => matches!(self.unknown_kind, UnknownKindRule::Unfiltered),
            _ => true,
        }
    }

    /// What `+notify` admits next to a list: new items (and collections, if like items).
    const fn implied_by_notify(&self, kind: &EventKind) -> bool {
        match kind {
            EventKind::Publish | EventKind::PublishAndRetract => true,
            EventKind::Collection => matches!(self.collection, CollectionRule::LikeItems),
            _ => false,
        }
    }

    /// What a list admits. New items are never listed (`+notify` implies them); a mixed
    /// `<items/>` is admitted by its retract part.
    fn listed(&self, list: &EventSet, kind: &EventKind) -> bool {
        match kind {
            EventKind::Publish => false,
            EventKind::Retract | EventKind::PublishAndRetract => list.contains(EventToken::Retract),
            EventKind::Delete => list.contains(EventToken::Delete),
            EventKind::Config => list.contains(EventToken::Config),
            EventKind::Subscription => list.contains(EventToken::Sub),
            EventKind::Purge => {
                list.contains_token("purge")
                    || match self.purge {
                        PurgeRule::LikeRetract => list.contains(EventToken::Retract),
                        PurgeRule::LikeDelete => list.contains(EventToken::Delete),
                        PurgeRule::OnlyToken => false,
                    }
            }
            EventKind::Collection => match self.collection {
                CollectionRule::Never => false,
                CollectionRule::LikeConfig => {
                    list.contains(EventToken::Config) || list.contains_token("collection")
                }
                CollectionRule::LikeItems => list.contains_token("collection"),
            },
            EventKind::Unknown(name) => {
                !matches!(self.unknown_kind, UnknownKindRule::Never) && list.contains_token(name)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::CapsInfo;

    const GEOLOC: &str = "http://jabber.org/protocol/geoloc";

    fn known(features: &[&str]) -> CapsState {
        CapsState::Known(CapsInfo::from_features(features))
    }

    fn n(kind: EventKind) -> Notification {
        Notification::new(GEOLOC, kind)
    }

    #[test]
    fn xep0351_example_preferences() {
        // XEP-0351 §3.3: items, config and sub of geoloc; nothing else.
        let caps = known(&[
            "http://jabber.org/protocol/geoloc+notify",
            "http://jabber.org/protocol/geoloc+events-config-sub",
        ]);
        let p = Policy::default();
        for (kind, wanted) in [
            (EventKind::Publish, true),
            (EventKind::Config, true),
            (EventKind::Subscription, true),
            (EventKind::Retract, false),
            (EventKind::Delete, false),
            (EventKind::Purge, false),
            (EventKind::PublishAndRetract, true),
            (EventKind::Collection, true),
            (EventKind::Unknown("x".into()), false),
        ] {
            assert_eq!(p.accepts(&caps, &n(kind.clone())), wanted, "{kind:?}");
        }
        // Legacy ignores the list.
        assert!(Policy::legacy().accepts(&caps, &n(EventKind::Retract)));
        // Another node: nothing.
        let tune = Notification::new("http://jabber.org/protocol/tune", EventKind::Publish);
        assert!(!p.accepts(&caps, &tune));
    }

    #[test]
    fn no_events_filter_means_every_kind() {
        let caps = known(&["http://jabber.org/protocol/geoloc+notify"]);
        let p = Policy::default();
        for kind in [
            EventKind::Publish,
            EventKind::Retract,
            EventKind::Delete,
            EventKind::Purge,
            EventKind::Config,
            EventKind::Subscription,
            EventKind::Collection,
            EventKind::Unknown("x".into()),
        ] {
            assert!(p.accepts(&caps, &n(kind)));
        }
        let strict = p
            .with_collection(CollectionRule::Never)
            .with_unknown_kind(UnknownKindRule::OnlyListed);
        assert!(!strict.accepts(&caps, &n(EventKind::Collection)));
        assert!(!strict.accepts(&caps, &n(EventKind::Unknown("x".into()))));
    }

    #[test]
    fn knobs() {
        let retract = known(&[
            "http://jabber.org/protocol/geoloc+notify",
            "http://jabber.org/protocol/geoloc+events-retract-x",
        ]);
        let p = Policy::default();
        assert!(p.accepts(&retract, &n(EventKind::Purge)));
        assert!(
            !p.with_purge(PurgeRule::LikeDelete)
                .accepts(&retract, &n(EventKind::Purge))
        );
        assert!(p.accepts(&retract, &n(EventKind::Unknown("x".into()))));
        let never = p.with_unknown_kind(UnknownKindRule::Never);
        assert!(!never.accepts(&retract, &n(EventKind::Unknown("x".into()))));

        let events_only = known(&["http://jabber.org/protocol/geoloc+events-retract"]);
        assert!(!p.accepts(&events_only, &n(EventKind::Retract)));
        let listed = p.with_events_without_notify(EventsWithoutNotify::ListedKinds);
        assert!(listed.accepts(&events_only, &n(EventKind::Retract)));
        assert!(!listed.accepts(&events_only, &n(EventKind::Publish)));
        assert!(listed.accepts(&events_only, &n(EventKind::PublishAndRetract)));
        assert!(!Policy::legacy().accepts(&events_only, &n(EventKind::Retract)));

        assert!(!p.accepts(&CapsState::Resolving, &n(EventKind::Publish)));
        let open = p.with_unresolved(UnresolvedCaps::Unfiltered);
        assert!(open.accepts(&CapsState::Unknown, &n(EventKind::Delete)));

        assert!(p.is_eligible(true, 0));
        assert!(!p.is_eligible(true, -1));
        assert!(!p.is_eligible(false, 5));
        assert!(Policy::legacy().is_eligible(true, -128));
    }
}
