//! The caps-feature grammar: `<node>+notify` (XEP-0060 §9.2) and `<node>+events-<kinds>`
//! (XEP-0351 §3.3), parsed into a per-node [`Filter`] and built back into feature strings.
//!
//! # Grammar, and what we do where XEP-0351 is silent
//!
//! - `<node>+notify`: the resource wants new items of `<node>` (XEP-0060 "Filtered
//!   notifications"). A feature that ends in `+notify` is always read this way, whatever the
//!   node id contains.
//! - `<node>+events-<list>`: the resource chooses the other event kinds of `<node>`. The list
//!   is tokens joined by `-`; XEP-0351 defines `config`, `delete`, `retract` and `sub`, in
//!   ascending order. Node ids may contain `+` and `-` (even `+events-`), so the feature is
//!   split at its **last** `+events-`.
//! - Several features for one node **merge**: `+notify` from any of them, and the union of
//!   every `+events-` list.
//! - Lists are **normalised**: unsorted or duplicate tokens are accepted and sorted and
//!   de-duplicated; empty tokens (`config--sub`, a trailing `-`) are skipped. An empty list
//!   (`<node>+events-`) is a filter that admits no kind besides new items.
//! - **Unknown tokens stay visible** to the [`Policy`](crate::Policy) (`purge`, `collection`,
//!   or a future kind): they are kept, sorted with the known ones, and written back. A token is
//!   case-sensitive (`Config` is unknown) and never contains `+`: such a fragment cannot be told
//!   apart from the grammar's own suffixes and is dropped.
//! - A feature with an empty node id (`+notify`, `+events-config`) names no node and is
//!   ignored, as is every feature outside the grammar.

use std::collections::BTreeMap;
use std::fmt;

/// The suffix of a `+notify` feature (XEP-0060 §9.2).
pub const NOTIFY_SUFFIX: &str = "+notify";
/// The infix of an `+events-` feature (XEP-0351 §3.3).
pub const EVENTS_INFIX: &str = "+events-";

/// One of the event kinds XEP-0351 defines for an `+events-` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventToken {
    /// `config`: node configuration changes (XEP-0060 §8.2.4 notifications).
    Config,
    /// `delete`: node deletion (XEP-0060 §8.4.3).
    Delete,
    /// `retract`: item retraction (XEP-0060 §7.2.2.1).
    Retract,
    /// `sub`: subscription state changes (XEP-0060 §8.8.4).
    Sub,
}

impl EventToken {
    /// Every known token, in ascending order (the order of the list).
    pub const ALL: [Self; 4] = [Self::Config, Self::Delete, Self::Retract, Self::Sub];

    /// The token as it appears in a feature.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Delete => "delete",
            Self::Retract => "retract",
            Self::Sub => "sub",
        }
    }

    /// The known token spelled `token` (case-sensitive), if any.
    #[must_use]
    pub fn from_token(token: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == token)
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for EventToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds listed in one node's `+events-` features: known tokens and unknown ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct EventSet {
    known: u8,
    /// Sorted, de-duplicated, none of them a known token, none empty or with `-` or `+`.
    unknown: Vec<Box<str>>,
}

impl EventSet {
    /// An empty list: only new items (with `+notify`).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            known: 0,
            unknown: Vec::new(),
        }
    }

    /// The set with `token` added.
    #[must_use]
    pub const fn with(mut self, token: EventToken) -> Self {
        self.known |= token.bit();
        self
    }

    /// Parses the list after `+events-` (`config-sub`), normalising as the module docs say.
    #[must_use]
    pub fn parse(list: &str) -> Self {
        let mut set = Self::new();
        for token in list.split('-') {
            set.insert_token(token);
        }
        set
    }

    /// Adds one token: known, unknown, or dropped if it is empty or contains `+` or `-`.
    /// Returns whether it is in the set afterwards.
    pub fn insert_token(&mut self, token: &str) -> bool {
        if let Some(known) = EventToken::from_token(token) {
            self.known |= known.bit();
            return true;
        }
        if token.is_empty() || token.contains(['+', '-']) {
            return false;
        }
        if let Err(at) = self.unknown.binary_search_by(|t| (**t).cmp(token)) {
            self.unknown.insert(at, token.into());
        }
        true
    }

    /// Whether the known `token` is listed.
    #[must_use]
    pub const fn contains(&self, token: EventToken) -> bool {
        self.known & token.bit() != 0
    }

    /// Whether `token` (known or unknown) is listed.
    #[must_use]
    pub fn contains_token(&self, token: &str) -> bool {
        match EventToken::from_token(token) {
            Some(known) => self.contains(known),
            None => self.unknown.binary_search_by(|t| (**t).cmp(token)).is_ok(),
        }
    }

    /// The known tokens listed, in ascending order.
    pub fn known(&self) -> impl Iterator<Item = EventToken> + '_ {
        EventToken::ALL.into_iter().filter(|t| self.contains(*t))
    }

    /// The unknown tokens listed, in ascending order.
    pub fn unknown(&self) -> impl Iterator<Item = &str> + '_ {
        self.unknown.iter().map(|t| &**t)
    }

    /// Whether nothing is listed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.known == 0 && self.unknown.is_empty()
    }

    /// Adds every token of `other`.
    pub fn extend(&mut self, other: &Self) {
        self.known |= other.known;
        for token in &other.unknown {
            self.insert_token(token);
        }
    }

    /// The list as written after `+events-`: every token in ascending order, joined by `-`.
    #[must_use]
    pub fn to_list(&self) -> String {
        let mut tokens: Vec<&str> = self.known().map(EventToken::as_str).collect();
        tokens.extend(self.unknown());
        tokens.sort_unstable();
        tokens.join("-")
    }
}

impl FromIterator<EventToken> for EventSet {
    fn from_iter<I: IntoIterator<Item = EventToken>>(iter: I) -> Self {
        iter.into_iter().fold(Self::new(), Self::with)
    }
}

/// What one resource asked for about one node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct NodeFilter {
    /// `<node>+notify` was advertised: new items are wanted.
    pub notify: bool,
    /// The merged `<node>+events-` lists, or `None` if there was none (no filtering of kinds).
    pub events: Option<EventSet>,
}

impl NodeFilter {
    /// `+notify` and no `+events-` list: every kind of event (XEP-0351 §3.3, last sentence).
    #[must_use]
    pub const fn notify() -> Self {
        Self {
            notify: true,
            events: None,
        }
    }

    /// This filter with an `+events-` list (merged with any list it had).
    #[must_use]
    pub fn with_events(mut self, events: EventSet) -> Self {
        match &mut self.events {
            Some(have) => have.extend(&events),
            None => self.events = Some(events),
        }
        self
    }

    /// Whether the filter says anything (a node with neither is not kept in a [`Filter`]).
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        !self.notify && self.events.is_none()
    }

    fn merge(&mut self, other: &Self) {
        self.notify |= other.notify;
        if let Some(events) = &other.events {
            match &mut self.events {
                Some(have) => have.extend(events),
                None => self.events = Some(events.clone()),
            }
        }
    }
}

/// One resource's notification filter: a [`NodeFilter`] per node it named.
///
/// Parse it from the resource's disco features with [`Filter::from_features`]; build one from
/// a client's preferences with [`Filter::new`] and the `with_*` methods, then advertise
/// [`Filter::features`]. Both directions agree: `Filter::from_features(f.features())` is `f`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Filter {
    nodes: BTreeMap<Box<str>, NodeFilter>,
}

impl Filter {
    /// A filter that names no node (the resource wants nothing).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            nodes: BTreeMap::new(),
        }
    }

    /// Parses disco features: `+notify` and `+events-` features become node filters (merged
    /// per node), everything else is ignored.
    #[must_use]
    pub fn from_features<I, S>(features: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut filter = Self::new();
        for feature in features {
            filter.add_feature(feature.as_ref());
        }
        filter
    }

    /// Adds one disco feature; returns whether it was a filter feature.
    pub fn add_feature(&mut self, feature: &str) -> bool {
        match parse_feature(feature) {
            Some((node, rule)) => {
                self.merge_node(node, &rule);
                true
            }
            None => false,
        }
    }

    /// This filter with `<node>+notify`. An empty node id is ignored.
    #[must_use]
    pub fn with_notify(mut self, node: &str) -> Self {
        self.merge_node(node, &NodeFilter::notify());
        self
    }

    /// This filter with `<node>+events-<events>` (merged with any list it had). An empty node
    /// id is ignored.
    #[must_use]
    pub fn with_events(mut self, node: &str, events: EventSet) -> Self {
        self.merge_node(node, &NodeFilter::default().with_events(events));
        self
    }

    /// This filter with `rule` merged into `node`'s. An empty node id or rule is ignored.
    #[must_use]
    pub fn with_node(mut self, node: &str, rule: &NodeFilter) -> Self {
        self.merge_node(node, rule);
        self
    }

    fn merge_node(&mut self, node: &str, rule: &NodeFilter) {
        if node.is_empty() || rule.is_empty() {
            return;
        }
        match self.nodes.get_mut(node) {
            Some(have) => have.merge(rule),
            None => {
                self.nodes.insert(node.into(), rule.clone());
            }
        }
    }

    /// What the resource asked for about `node`, if it named it.
    #[must_use]
    pub fn node(&self, node: &str) -> Option<&NodeFilter> {
        self.nodes.get(node)
    }

    /// Every node named, in ascending order of node id.
    pub fn nodes(&self) -> impl Iterator<Item = (&str, &NodeFilter)> + '_ {
        self.nodes.iter().map(|(node, rule)| (&**node, rule))
    }

    /// How many nodes are named.
    #[must_use]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node is named.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The disco features that advertise this filter, in a stable order: per node (ascending),
    /// `<node>+notify` then one normalised `<node>+events-<list>`.
    #[must_use]
    pub fn features(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.nodes.len() * 2);
        for (node, rule) in &self.nodes {
            if rule.notify {
                out.push(format!("{node}{NOTIFY_SUFFIX}"));
            }
            if let Some(events) = &rule.events {
                out.push(format!("{node}{EVENTS_INFIX}{}", events.to_list()));
            }
        }
        out
    }
}

/// Whether `feature` belongs to the grammar (a `+notify` or `+events-` feature naming a node).
#[must_use]
pub fn is_filter_feature(feature: &str) -> bool {
    parse_feature(feature).is_some()
}

/// Splits one feature into its node and rule, per the module docs.
fn parse_feature(feature: &str) -> Option<(&str, NodeFilter)> {
    if let Some(node) = feature.strip_suffix(NOTIFY_SUFFIX) {
        return (!node.is_empty()).then(|| (node, NodeFilter::notify()));
    }
    let at = feature.rfind(EVENTS_INFIX)?;
    let node = &feature[..at];
    let list = &feature[at + EVENTS_INFIX.len()..];
    (!node.is_empty()).then(|| {
        (
            node,
            NodeFilter::default().with_events(EventSet::parse(list)),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GEOLOC: &str = "http://jabber.org/protocol/geoloc";

    #[test]
    fn xep0351_example_features() {
        // XEP-0351 §3.3: new items, configuration changes and new subscriptions of geoloc.
        let filter = Filter::from_features([
            "http://jabber.org/protocol/geoloc+notify",
            "http://jabber.org/protocol/geoloc+events-config-sub",
        ]);
        let rule = filter.node(GEOLOC).cloned();
        let expected = NodeFilter::notify().with_events(
            EventSet::new()
                .with(EventToken::Config)
                .with(EventToken::Sub),
        );
        assert_eq!(rule, Some(expected));
        assert_eq!(
            filter.features(),
            [
                "http://jabber.org/protocol/geoloc+notify",
                "http://jabber.org/protocol/geoloc+events-config-sub"
            ]
        );
    }

    #[test]
    fn lists_are_normalised_and_merged() {
        let filter = Filter::from_features([
            "n+events-sub-config-sub",
            "n+events-retract--",
            "n+events-Config",
            "other+feature",
        ]);
        let events = filter.node("n").and_then(|r| r.events.clone());
        let events = events.unwrap_or_default();
        assert_eq!(events.to_list(), "Config-config-retract-sub");
        assert!(events.contains_token("Config"));
        assert!(!filter.node("n").is_some_and(|r| r.notify));
        assert_eq!(filter.len(), 1);
    }

    #[test]
    fn nodes_with_plus_and_minus_split_at_the_last_events() {
        let filter = Filter::from_features([
            "urn:x+events-y+events-delete",
            "a-b+c+notify",
            "urn:x+events-y+notify",
        ]);
        let rule = filter.node("urn:x+events-y").cloned().unwrap_or_default();
        assert!(rule.notify);
        assert_eq!(rule.events.map(|e| e.to_list()), Some("delete".into()));
        assert!(filter.node("a-b+c").is_some_and(|r| r.notify));
    }

    #[test]
    fn grammar_edges() {
        assert!(Filter::from_features(["+notify", "+events-config", "plain"]).is_empty());
        let empty = Filter::from_features(["n+events-"]);
        assert_eq!(
            empty.node("n").and_then(|r| r.events.clone()),
            Some(EventSet::new())
        );
        assert_eq!(empty.features(), ["n+events-"]);
        // A token with '+' is dropped, the rest of the list stays.
        let plus = Filter::from_features(["n+events-a+b-config"]);
        assert_eq!(
            plus.node("n")
                .and_then(|r| r.events.as_ref().map(EventSet::to_list)),
            Some("config".into())
        );
        assert!(is_filter_feature("x+notify"));
        assert!(!is_filter_feature("http://jabber.org/protocol/caps"));
    }

    #[test]
    fn unknown_tokens_sort_among_known_ones() {
        let set = EventSet::parse("sub-purge-collection-config");
        assert_eq!(set.to_list(), "collection-config-purge-sub");
        assert_eq!(
            set.known().collect::<Vec<_>>(),
            [EventToken::Config, EventToken::Sub]
        );
        assert_eq!(set.unknown().collect::<Vec<_>>(), ["collection", "purge"]);
    }
}
