//! The caps cache fed arbitrary operations, against a model of every JID's state, with a
//! [`ResourceTable`] of the full JIDs kept from its results and events, checked against the
//! model and the straightforward fan-out decision.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use arbitrary::{Arbitrary, Unstructured};
use jid::{FullJid, Jid};
use minidom::Element;
use minidom::rxml::NcName;
use xmpp_parsers::caps::Caps;
use xmpp_parsers::disco::{DiscoInfoResult, Identity};
use xmpp_parsers::hashes::{Algo, Hash};
use xmpp_tether_core::{Monotonic, Now};

use crate::caps::{CapsCache, CapsConfig, CapsEvent, CapsKey, Query};
use crate::fanout::Resource;
use crate::info::{CapsInfo, CapsState};
use crate::notification::{EventKind, Notification};
use crate::policy::{Policy, UnresolvedCaps};
use crate::table::ResourceTable;

/// The most operations one input replays.
const MAX_OPS: usize = 256;
/// Three accounts, two resources each, and a server domain.
const JIDS: &[&str] = &[
    "a@example.com/1",
    "a@example.com/2",
    "b@example.com/1",
    "b@example.com/2",
    "c@example.net/1",
    "c@example.net/2",
    "example.org",
];
/// The caps sets: their features (the last one's algorithm is one we cannot compute).
const SETS: &[&[&str]] = &[
    &["n1+notify", "n2+notify", "n2+events-config"],
    &["n1+notify", "urn:xmpp:rsf:0"],
    &["n3+events-retract-sub", "http://jabber.org/protocol/caps"],
    &["n1+notify"],
];
const NODE: &str = "https://example.org/fuzz";

#[derive(Debug, Arbitrary)]
enum Op {
    /// JID advertises caps set.
    Caps { jid: u8, set: u8 },
    /// The JID asked by the n-th query sent so far answers.
    Answer { query: u8, answer: Answer },
    /// An iq with an arbitrary id and sender.
    Stray { id: String, jid: u8, result: bool },
    /// The JID goes unavailable.
    Unavailable { jid: u8 },
    /// Time passes, then the timer is handled.
    Wait { millis: u16 },
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Answer {
    /// The caps set's own features.
    Right,
    /// Another set's features.
    Wrong(u8),
    /// The right features, one twice.
    Duplicated,
    /// An iq error.
    Error,
    /// A result without a disco#info query.
    Empty,
    /// The right answer from another JID.
    Impostor(u8),
}

fn disco(features: &[&str], node: Option<String>) -> DiscoInfoResult {
    DiscoInfoResult {
        node,
        identities: vec![Identity {
            category: "client".into(),
            type_: "pc".into(),
            lang: None,
            name: None,
        }],
        features: features.iter().map(|f| (*f).to_owned()).collect(),
        extensions: Vec::new(),
    }
}

fn caps_of(set: usize) -> Option<Caps> {
    let features = SETS.get(set)?;
    if set == SETS.len() - 1 {
        let hash = Hash::new(Algo::Unknown("x-fuzz".into()), vec![7; 20]);
        return Some(Caps::new(NODE, hash));
    }
    crate::caps::caps_for(NODE, &disco(features, None), Algo::Sha_1)
}

/// Replays `data` as operations on a cache with small bounds.
pub fn cache(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(ops) = u.arbitrary_iter::<Op>() else {
        return;
    };
    let config = CapsConfig {
        max_entries: 2,
        max_per_jid: 3,
        max_per_jid_per_account: 2,
        max_pending: 3,
        max_pending_per_account: 2,
        max_waiting: 2,
        max_children: 8,
        max_feature_len: 64,
        query_timeout: Duration::from_secs(5),
        keep_features: Vec::new(),
    };
    let jids: Vec<Jid> = JIDS.iter().filter_map(|j| j.parse().ok()).collect();
    let caps: Vec<Caps> = (0..SETS.len()).filter_map(caps_of).collect();
    let truth: Vec<CapsInfo> = SETS.iter().map(|f| CapsInfo::from_features(*f)).collect();
    let mut now = Now::new(Monotonic::ZERO, SystemTime::UNIX_EPOCH);
    let mut cache = CapsCache::new(config);
    let mut model: HashMap<Jid, CapsState> = HashMap::new();
    let mut advertised: HashMap<Jid, usize> = HashMap::new();
    let mut sent: Vec<(Query, usize)> = Vec::new();
    let mut table: ResourceTable<FullJid> = ResourceTable::new();

    for op in ops.take(MAX_OPS) {
        let Ok(op) = op else { break };
        match op {
            Op::Caps { jid, set } => {
                let jid = &jids[usize::from(jid) % jids.len()];
                let set = usize::from(set) % caps.len();
                let state = cache.handle_caps(now, jid, &caps[set]);
                if let Some(verified) = cache.get(&CapsKey::of(&caps[set])) {
                    assert_eq!(verified, &truth[set], "a wrong answer was shared");
                    assert_eq!(state, CapsState::Known(verified.clone()));
                }
                if let Ok(full) = jid.try_as_full() {
                    // Priorities -1, 0 and 1 by JID, so that eligibility varies too.
                    let priority = (jid.to_string().len() % 3) as i8 - 1;
                    table.insert(Resource::new(full.clone(), &state).with_priority(priority));
                }
                advertised.insert(jid.clone(), set);
                model.insert(jid.clone(), state);
            }
            Op::Answer { query, answer } => {
                let Some((query, set)) = sent.get(usize::from(query) % sent.len().max(1)) else {
                    continue;
                };
                let iq = answer_iq(query, *set, answer, &jids);
                let _ = cache.handle_iq(now, &iq);
            }
            Op::Stray { id, jid, result } => {
                let from = &jids[usize::from(jid) % jids.len()];
                let kind = if result { "result" } else { "error" };
                let iq = Element::builder("iq", "jabber:client")
                    .attr(name("type"), kind)
                    .attr(name("id"), id)
                    .attr(name("from"), from.to_string())
                    .build();
                let _ = cache.handle_iq(now, &iq);
            }
            Op::Unavailable { jid } => {
                let jid = &jids[usize::from(jid) % jids.len()];
                cache.handle_unavailable(now, jid);
                if let Ok(full) = jid.try_as_full() {
                    table.remove(full);
                }
                model.insert(jid.clone(), CapsState::Unknown);
                advertised.remove(jid);
            }
            Op::Wait { millis } => {
                now = now.advance(Duration::from_millis(u64::from(millis) * 8));
                cache.handle_timeout(now);
            }
        }
        while let Some(query) = cache.poll_transmit() {
            assert!(query.to_element().is("iq", "jabber:client"));
            let set = advertised.get(&query.to).copied();
            assert!(set.is_some(), "asked {} which advertised nothing", query.to);
            sent.push((query, set.unwrap_or_default()));
        }
        while let Some(event) = cache.poll_event() {
            table.apply(&event);
            apply(&mut model, &advertised, &truth, event);
        }
        cache.check_invariants();
        check_table(&table, &model);
        for (jid, state) in &model {
            assert_eq!(
                matches!(state, CapsState::Resolving),
                cache.is_member(jid),
                "{jid}: model {state:?} disagrees with the queries in flight"
            );
        }
        assert!(cache.poll_timeout().is_none_or(|t| t > now.monotonic()));
    }
}

fn apply(
    model: &mut HashMap<Jid, CapsState>,
    advertised: &HashMap<Jid, usize>,
    truth: &[CapsInfo],
    event: CapsEvent,
) {
    match event {
        CapsEvent::Resolved { jids, info } => {
            for jid in jids {
                let set = advertised.get(&jid).copied().unwrap_or(usize::MAX);
                assert_eq!(Some(&info), truth.get(set), "{jid} resolved to another set");
                assert_eq!(model.get(&jid), Some(&CapsState::Resolving));
                model.insert(jid, CapsState::Known(info.clone()));
            }
        }
        CapsEvent::ResolvedForOne { jid, info, .. } => {
            assert_eq!(model.get(&jid), Some(&CapsState::Resolving));
            model.insert(jid, CapsState::Known(info));
        }
        CapsEvent::Unresolved { jid, .. } => {
            assert_eq!(model.get(&jid), Some(&CapsState::Resolving));
            model.insert(jid, CapsState::Unknown);
        }
        CapsEvent::Evicted { .. } | CapsEvent::PerJidEvicted { .. } => {}
    }
}

/// The table holds the full JIDs advertising caps, with the model's states, and picks what
/// the straightforward decision picks.
fn check_table(table: &ResourceTable<FullJid>, model: &HashMap<Jid, CapsState>) {
    let mut held = 0;
    for (jid, state) in model {
        if let Ok(full) = jid.try_as_full()
            && let Some(resource) = table.get(full)
        {
            assert_eq!(resource.caps, state, "{jid}: the table's caps differ");
            held += 1;
        }
    }
    assert_eq!(
        held,
        table.len(),
        "the table holds a JID the model does not"
    );
    for policy in [
        Policy::default(),
        Policy::legacy().with_unresolved(UnresolvedCaps::Unfiltered),
    ] {
        for kind in [EventKind::Publish, EventKind::Config] {
            let n = Notification::new("n2", kind);
            let ours: Vec<&FullJid> = table.recipients(&policy, &n).collect();
            let straightforward: Vec<&FullJid> = table
                .iter()
                .filter(|r| {
                    policy.is_eligible(r.available, r.priority) && policy.accepts(r.caps, &n)
                })
                .map(|r| r.key)
                .collect();
            assert_eq!(ours, straightforward, "{policy:?}");
        }
    }
}

fn answer_iq(query: &Query, set: usize, answer: Answer, jids: &[Jid]) -> Element {
    let mut from = query.to.clone();
    let body = |features: &[&str]| Some(disco(features, Some(query.node.clone())));
    let info = match answer {
        Answer::Right => body(SETS[set]),
        Answer::Wrong(other) => body(SETS[usize::from(other) % SETS.len()]),
        Answer::Duplicated => {
            let mut element = Element::from(disco(SETS[set], Some(query.node.clone())));
            let feature = Element::builder("feature", "http://jabber.org/protocol/disco#info")
                .attr(name("var"), SETS[set][0])
                .build();
            element.append_child(feature);
            return iq("result", query, &from, Some(element));
        }
        Answer::Error => return iq("error", query, &from, None),
        Answer::Empty => None,
        Answer::Impostor(other) => {
            from = jids[usize::from(other) % jids.len()].clone();
            body(SETS[set])
        }
    };
    iq("result", query, &from, info.map(Element::from))
}

fn iq(kind: &str, query: &Query, from: &Jid, payload: Option<Element>) -> Element {
    let mut iq = Element::builder("iq", "jabber:client")
        .attr(name("type"), kind)
        .attr(name("id"), query.id.clone())
        .attr(name("from"), from.to_string())
        .build();
    if let Some(payload) = payload {
        iq.append_child(payload);
    }
    iq
}

fn name(literal: &'static str) -> NcName {
    NcName::try_from(literal).expect("literal attribute names are NCNames")
}
