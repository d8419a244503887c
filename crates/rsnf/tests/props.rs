//! Properties: filter -> feature strings -> parse is the identity; parsing is order- and
//! repetition-blind; the fan-out decision matches a straightforward reference model,
//! written from the rules' prose over the raw feature strings, for random resources, caps,
//! policies and events; and a `ResourceTable` kept up to date through random changes picks
//! exactly the recipients of that decision over the same resources.

use std::collections::BTreeMap;

use jid::{FullJid, Jid};
use proptest::prelude::*;
use xmpp_rsnf::{
    CapsEvent, CapsInfo, CapsState, CollectionRule, EventKind, EventSet, EventToken, EventsFilter,
    EventsWithoutNotify, Filter, NodeFilter, Notification, PayloadMatch, Policy, PriorityRule,
    PurgeRule, QueryFailure, Resource, ResourceTable, UnknownKindRule, UnresolvedCaps,
};

/// Node ids, some with the grammar's own characters in them.
const NODES: &[&str] = &["n0", "urn:x:n1", "a-b", "x+events-y", "geo+notify", "p+q-r"];
const TOKENS: &[&str] = &[
    "config",
    "delete",
    "retract",
    "sub",
    "purge",
    "collection",
    "future",
    "",
    "Config",
    "a+b",
];

fn token() -> impl Strategy<Value = EventToken> {
    prop::sample::select(EventToken::ALL.to_vec())
}

fn node_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(NODES).prop_map(str::to_owned),
        "[a-z:+-]{1,12}",
        ".{1,8}",
    ]
}

fn event_set() -> impl Strategy<Value = EventSet> {
    (
        prop::collection::vec(token(), 0..5),
        prop::collection::vec("[a-z]{1,6}", 0..3),
    )
        .prop_map(|(known, unknown)| {
            let mut set: EventSet = known.into_iter().collect();
            for t in unknown {
                set.insert_token(&t);
            }
            set
        })
}

fn node_filter() -> impl Strategy<Value = NodeFilter> {
    (any::<bool>(), prop::option::of(event_set())).prop_map(|(notify, events)| {
        let rule = if notify {
            NodeFilter::notify()
        } else {
            NodeFilter::default()
        };
        match events {
            Some(events) => rule.with_events(events),
            None => rule,
        }
    })
}

fn filter() -> impl Strategy<Value = Filter> {
    prop::collection::vec((node_name(), node_filter()), 0..6).prop_map(|nodes| {
        nodes
            .into_iter()
            .fold(Filter::new(), |f, (node, rule)| f.with_node(&node, &rule))
    })
}

/// A node for a feature or a notification: mostly one of two, so that caps and events meet.
fn hot_node() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        4 => prop::sample::select(&NODES[..2]),
        1 => prop::sample::select(NODES),
    ]
}

/// A feature: a filter feature for one of the nodes, or something else.
fn feature() -> impl Strategy<Value = String> {
    let list = prop::collection::vec(prop::sample::select(TOKENS), 0..4);
    prop_oneof![
        3 => hot_node().prop_map(|n| format!("{n}+notify")),
        3 => (hot_node(), list).prop_map(|(n, l)| format!("{n}+events-{}", l.join("-"))),
        1 => Just("http://jabber.org/protocol/caps".to_owned()),
        1 => Just("urn:xmpp:rsf:0".to_owned()),
    ]
}

fn kind() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        Just(EventKind::Publish),
        Just(EventKind::Retract),
        Just(EventKind::PublishAndRetract),
        Just(EventKind::Delete),
        Just(EventKind::Purge),
        Just(EventKind::Config),
        Just(EventKind::Subscription),
        Just(EventKind::Collection),
        Just(EventKind::Unknown("future".into())),
        Just(EventKind::Unknown("other".into())),
    ]
}

fn notification() -> impl Strategy<Value = Notification> {
    (hot_node(), kind(), prop::option::of(hot_node())).prop_map(|(node, kind, payload)| {
        let n = Notification::new(node, kind);
        match payload {
            Some(ns) => n.with_payload_ns(ns),
            None => n,
        }
    })
}

fn policy() -> impl Strategy<Value = Policy> {
    (
        (0..3u8, 0..2u8, 0..2u8, 0..3u8),
        (0..3u8, 0..2u8, 0..2u8, 0..2u8),
    )
        .prop_map(
            |((purge, ewn, unres, coll), (unk, prio, events, payload))| {
                Policy::default()
                    .with_purge(
                        [
                            PurgeRule::LikeRetract,
                            PurgeRule::LikeDelete,
                            PurgeRule::OnlyToken,
                        ][usize::from(purge)],
                    )
                    .with_events_without_notify(
                        [
                            EventsWithoutNotify::Nothing,
                            EventsWithoutNotify::ListedKinds,
                        ][usize::from(ewn)],
                    )
                    .with_unresolved(
                        [UnresolvedCaps::Skip, UnresolvedCaps::Unfiltered][usize::from(unres)],
                    )
                    .with_collection(
                        [
                            CollectionRule::LikeConfig,
                            CollectionRule::LikeItems,
                            CollectionRule::Never,
                        ][usize::from(coll)],
                    )
                    .with_unknown_kind(
                        [
                            UnknownKindRule::Unfiltered,
                            UnknownKindRule::OnlyListed,
                            UnknownKindRule::Never,
                        ][usize::from(unk)],
                    )
                    .with_priority(
                        [PriorityRule::NonNegative, PriorityRule::Any][usize::from(prio)],
                    )
                    .with_events_filter(
                        [EventsFilter::Honour, EventsFilter::Ignore][usize::from(events)],
                    )
                    .with_payload_match(
                        [PayloadMatch::Node, PayloadMatch::NodeOrPayload][usize::from(payload)],
                    )
            },
        )
}

/// A resource of the model: availability, priority, and which caps set of the pool (or
/// none: unknown, resolving).
#[derive(Debug, Clone)]
struct ModelResource {
    available: bool,
    priority: i8,
    caps: Option<usize>,
    resolving: bool,
}

fn resource(pool: usize) -> impl Strategy<Value = ModelResource> {
    (
        any::<bool>(),
        -3i8..4,
        prop::option::of(0..pool),
        any::<bool>(),
    )
        .prop_map(|(available, priority, caps, resolving)| ModelResource {
            available,
            priority,
            caps,
            resolving,
        })
}

/// A change to a [`ResourceTable`] of resources `r0`..`r99`, caps from a pool of 6.
#[derive(Debug, Clone)]
enum Change {
    Insert(usize, ModelResource),
    Presence(usize, bool, i8),
    Caps(usize, Option<usize>, bool),
    Remove(usize),
    /// A `CapsEvent::Resolved` for these resources (and the bare JID) with a pool entry.
    Resolved(Vec<usize>, usize),
    /// A `CapsEvent::Unresolved`.
    Unresolved(usize),
}

const KEYS: usize = 100;

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        6 => (0..KEYS, resource(6)).prop_map(|(k, r)| Change::Insert(k, r)),
        2 => (0..KEYS, any::<bool>(), -3i8..4).prop_map(|(k, a, p)| Change::Presence(k, a, p)),
        2 => (0..KEYS, prop::option::of(0..6usize), any::<bool>())
            .prop_map(|(k, c, r)| Change::Caps(k, c, r)),
        2 => (0..KEYS).prop_map(Change::Remove),
        1 => (prop::collection::vec(0..KEYS, 0..6), 0..6usize)
            .prop_map(|(ks, c)| Change::Resolved(ks, c)),
        1 => (0..KEYS).prop_map(Change::Unresolved),
    ]
}

fn jid(key: usize) -> FullJid {
    FullJid::new(&format!("juliet@example.com/r{key}")).expect("a full JID")
}

/// The caps a model resource has, as the fan-out sees them.
fn state<'a>(r: &ModelResource, infos: &'a [CapsState]) -> &'a CapsState {
    const UNKNOWN: &CapsState = &CapsState::Unknown;
    const RESOLVING: &CapsState = &CapsState::Resolving;
    match r.caps.and_then(|i| infos.get(i)) {
        Some(state) => state,
        None if r.resolving => RESOLVING,
        None => UNKNOWN,
    }
}

/// Applies `change` to the table and to the model (resources by key).
fn apply(
    change: &Change,
    table: &mut ResourceTable<FullJid>,
    by_key: &mut BTreeMap<usize, ModelResource>,
    infos: &[CapsState],
) {
    match change {
        Change::Insert(k, r) => {
            let new = table.insert(
                Resource::new(jid(*k), state(r, infos))
                    .with_available(r.available)
                    .with_priority(r.priority),
            );
            assert_eq!(new, by_key.insert(*k, r.clone()).is_none());
        }
        Change::Presence(k, available, priority) => {
            let held = table.set_presence(&jid(*k), *available, *priority);
            assert_eq!(held, by_key.contains_key(k));
            if let Some(r) = by_key.get_mut(k) {
                r.available = *available;
                r.priority = *priority;
            }
        }
        Change::Caps(k, caps, resolving) => {
            let r = ModelResource {
                available: true,
                priority: 0,
                caps: *caps,
                resolving: *resolving,
            };
            let held = table.set_caps(&jid(*k), state(&r, infos).clone());
            assert_eq!(held, by_key.contains_key(k));
            if let Some(m) = by_key.get_mut(k) {
                m.caps = *caps;
                m.resolving = *resolving;
            }
        }
        Change::Remove(k) => {
            assert_eq!(table.remove(&jid(*k)), by_key.remove(k).is_some());
        }
        Change::Resolved(keys, caps) => {
            let CapsState::Known(info) = &infos[*caps] else {
                unreachable!("the pool is known")
            };
            let mut jids: Vec<Jid> = keys.iter().map(|&k| Jid::from(jid(k))).collect();
            jids.push("juliet@example.com".parse().expect("a bare JID"));
            let changed = table.apply(&CapsEvent::Resolved {
                jids,
                info: info.clone(),
            });
            let mut expected = 0;
            for k in keys {
                if let Some(m) = by_key.get_mut(k) {
                    m.caps = Some(*caps);
                    expected += 1;
                }
            }
            assert_eq!(changed, expected);
        }
        Change::Unresolved(k) => {
            let event = CapsEvent::Unresolved {
                jid: Jid::from(jid(*k)),
                reason: QueryFailure::TimedOut,
            };
            assert_eq!(table.apply(&event), usize::from(by_key.contains_key(k)));
            if let Some(m) = by_key.get_mut(k) {
                m.caps = None;
                m.resolving = false;
            }
        }
    }
}

// ---- The reference model: the rules of the issue and the docs, over raw strings. ----

/// The tokens of the `+events-` features for exactly `node` (split at the last `+events-`;
/// a feature ending in `+notify` is never an events feature), or `None` if there is none.
fn model_tokens(features: &[String], node: &str) -> Option<Vec<String>> {
    let prefix = format!("{node}+events-");
    let mut found = None;
    for f in features {
        if f.ends_with("+notify") {
            continue;
        }
        let Some(list) = f.strip_prefix(&prefix) else {
            continue;
        };
        if list.contains("+events-") {
            continue;
        }
        let tokens: &mut Vec<String> = found.get_or_insert_with(Vec::new);
        tokens.extend(
            list.split('-')
                .filter(|t| !t.is_empty() && !t.contains('+'))
                .map(str::to_owned),
        );
    }
    found
}

fn model_listed(p: &Policy, tokens: &[String], kind: &EventKind) -> bool {
    let has = |t: &str| tokens.iter().any(|x| x == t);
    match kind {
        EventKind::Publish => false,
        EventKind::Retract | EventKind::PublishAndRetract => has("retract"),
        EventKind::Delete => has("delete"),
        EventKind::Config => has("config"),
        EventKind::Subscription => has("sub"),
        EventKind::Purge => {
            has("purge")
                || match p.purge {
                    PurgeRule::LikeRetract => has("retract"),
                    PurgeRule::LikeDelete => has("delete"),
                    _ => false,
                }
        }
        EventKind::Collection => match p.collection {
            CollectionRule::Never => false,
            CollectionRule::LikeConfig => has("config") || has("collection"),
            _ => has("collection"),
        },
        EventKind::Unknown(name) => p.unknown_kind != UnknownKindRule::Never && has(name),
        _ => false,
    }
}

fn model_unfiltered(p: &Policy, kind: &EventKind) -> bool {
    match kind {
        EventKind::Collection => p.collection != CollectionRule::Never,
        EventKind::Unknown(_) => p.unknown_kind == UnknownKindRule::Unfiltered,
        _ => true,
    }
}

fn model_node(p: &Policy, features: &[String], node: &str, kind: &EventKind) -> bool {
    let notify = features.iter().any(|f| *f == format!("{node}+notify"));
    let tokens = match p.events_filter {
        EventsFilter::Honour => model_tokens(features, node),
        _ => None,
    };
    match (notify, tokens) {
        (true, None) => model_unfiltered(p, kind),
        (true, Some(t)) => {
            matches!(kind, EventKind::Publish | EventKind::PublishAndRetract)
                || (matches!(kind, EventKind::Collection)
                    && p.collection == CollectionRule::LikeItems)
                || model_listed(p, &t, kind)
        }
        (false, Some(t)) => {
            p.events_without_notify == EventsWithoutNotify::ListedKinds && model_listed(p, &t, kind)
        }
        (false, None) => false,
    }
}

fn model(p: &Policy, r: &ModelResource, features: Option<&[String]>, n: &Notification) -> bool {
    if !r.available || (p.priority == PriorityRule::NonNegative && r.priority < 0) {
        return false;
    }
    let Some(features) = features else {
        return p.unresolved == UnresolvedCaps::Unfiltered && model_unfiltered(p, n.kind());
    };
    let node = n.node();
    let by_payload = match (p.payload_match, n.payload_ns()) {
        (PayloadMatch::NodeOrPayload, Some(ns)) if ns != node => {
            model_node(p, features, ns, n.kind())
        }
        _ => false,
    };
    model_node(p, features, node, n.kind()) || by_payload
}

proptest! {

    #![proptest_config(persisted(ProptestConfig::default()))]
    #[test]
    fn filter_to_features_and_back_is_the_identity(f in filter()) {
        let written = f.features();
        let back = Filter::from_features(&written);
        prop_assert_eq!(&back, &f, "features: {:?}", written);
        prop_assert_eq!(back.features(), written);
    }

    #[test]
    fn parsing_ignores_order_and_repetition(features in prop::collection::vec(feature(), 0..12)) {
        let once = Filter::from_features(&features);
        let mut shuffled: Vec<&String> = features.iter().rev().collect();
        shuffled.extend(features.iter());
        prop_assert_eq!(Filter::from_features(shuffled), once.clone());
        prop_assert_eq!(Filter::from_features(once.features()), once);
    }

    #[test]
    fn fan_out_matches_the_reference_model(
        pool in prop::collection::vec(prop::collection::vec(feature(), 0..8), 1..6),
        resources in prop::collection::vec(resource(6), 0..40),
        n in notification(),
        p in policy(),
    ) {
        let infos: Vec<CapsState> = pool
            .iter()
            .map(|features| CapsState::Known(CapsInfo::from_features(features)))
            .collect();
        let states: Vec<&CapsState> = resources
            .iter()
            .map(|r| match r.caps.and_then(|i| infos.get(i)) {
                Some(state) => state,
                None if r.resolving => &CapsState::Resolving,
                None => &CapsState::Unknown,
            })
            .collect();
        let ours = p.recipients(
            &n,
            resources.iter().zip(&states).enumerate().map(|(i, (r, caps))| {
                Resource::new(i, caps).with_available(r.available).with_priority(r.priority)
            }),
        );
        let expected: Vec<usize> = resources
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                let features = r.caps.and_then(|i| pool.get(i)).map(Vec::as_slice);
                model(&p, r, features, &n)
            })
            .map(|(i, _)| i)
            .collect();
        prop_assert_eq!(ours, expected);
    }
}

proptest! {
    #![proptest_config(persisted(ProptestConfig::with_cases(128)))]

    #[test]
    fn table_picks_what_the_straightforward_decision_picks(
        pool in prop::collection::vec(prop::collection::vec(feature(), 0..8), 6),
        changes in prop::collection::vec(change(), 0..300),
        notifications in prop::collection::vec(notification(), 1..4),
        p in policy(),
    ) {
        let infos: Vec<CapsState> = pool
            .iter()
            .map(|features| CapsState::Known(CapsInfo::from_features(features)))
            .collect();
        let mut table = ResourceTable::new();
        let mut by_key = BTreeMap::new();
        for change in &changes {
            apply(change, &mut table, &mut by_key, &infos);
        }
        // The table holds what the model holds.
        prop_assert_eq!(table.len(), by_key.len());
        for (k, r) in &by_key {
            let held = table.get(&jid(*k));
            prop_assert!(held.is_some());
            let held = held.expect("checked");
            prop_assert_eq!((held.available, held.priority), (r.available, r.priority));
            prop_assert_eq!(held.caps, state(r, &infos));
        }
        let referred: std::collections::BTreeSet<usize> =
            by_key.values().filter_map(|r| r.caps).collect();
        prop_assert_eq!(table.caps_sets(), referred.len());
        for n in &notifications {
            let ours: Vec<&FullJid> = table.recipients(&p, n).collect();
            // The straightforward decision, resource by resource, in table order.
            let straightforward: Vec<&FullJid> = table
                .iter()
                .filter(|r| p.is_eligible(r.available, r.priority) && p.accepts(r.caps, n))
                .map(|r| r.key)
                .collect();
            prop_assert_eq!(&ours, &straightforward);
            prop_assert_eq!(&p.recipients(n, table.iter()), &ours);
            prop_assert_eq!(table.recipients(&p, n).count(), ours.len());
            let folded = table.recipients(&p, n).fold(Vec::new(), |mut v, k| {
                v.push(k);
                v
            });
            prop_assert_eq!(&folded, &ours);
            // And the reference model written from the rules, as a set.
            let mut ours: Vec<FullJid> = ours.into_iter().cloned().collect();
            ours.sort_by_key(ToString::to_string);
            let mut expected: Vec<FullJid> = by_key
                .iter()
                .filter(|(_, r)| {
                    let features = r.caps.and_then(|i| pool.get(i)).map(Vec::as_slice);
                    model(&p, r, features, n)
                })
                .map(|(k, _)| jid(*k))
                .collect();
            expected.sort_by_key(ToString::to_string);
            prop_assert_eq!(ours, expected);
        }
    }
}

/// Saved failures go beside this file (`<name>.proptest-regressions`) and are replayed first:
/// proptest's default looks beside `src/`, which an integration test has not.
fn persisted(config: ProptestConfig) -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..config
    }
}
