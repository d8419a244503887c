//! The caps cache's behaviour: one query per caps set, the per-JID fallback, failures that
//! move on, every bound and its event, time, and snapshots.

use std::time::{Duration, SystemTime};

use jid::Jid;
use minidom::Element;
use xmpp_parsers::caps::Caps;
use xmpp_parsers::disco::{DiscoInfoResult, Identity};
use xmpp_parsers::hashes::{Algo, Hash};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};
use xmpp_rsnf::{
    CapsCache, CapsConfig, CapsEvent, CapsInfo, CapsKey, CapsSnapshot, CapsState, Delivery,
    Handled, NS_RSF, Query, QueryFailure, RestoreError, Sender, SenderConfig, SnapshotEntry,
    Unverifiable,
};
use xmpp_tether_core::{Monotonic, Now};

const NODE: &str = "https://example.org/client";
const TIMEOUT: Duration = Duration::from_secs(30);

fn at(secs: u64) -> Now {
    Now::new(
        Monotonic::from_epoch(Duration::from_secs(secs)),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs),
    )
}

fn jid(s: &str) -> Jid {
    s.parse().expect("a JID")
}

fn disco(features: &[&str]) -> DiscoInfoResult {
    DiscoInfoResult {
        node: None,
        identities: vec![Identity {
            category: "client".into(),
            type_: "phone".into(),
            lang: None,
            name: None,
        }],
        features: features.iter().map(|f| (*f).to_owned()).collect(),
        extensions: Vec::new(),
    }
}

/// A client's caps for `features`, as it would compute them.
fn caps(features: &[&str]) -> Caps {
    xmpp_rsnf::caps_for(NODE, &disco(features), Algo::Sha_1).expect("sha-1")
}

fn answer(query: &Query, features: &[&str]) -> Element {
    let mut info = disco(features);
    info.node = Some(query.node.clone());
    Iq::from_result(query.id.clone(), Some(info))
        .with_from(query.to.clone())
        .into()
}

fn error(query: &Query) -> Element {
    let error = StanzaError::new(
        ErrorType::Cancel,
        DefinedCondition::ServiceUnavailable,
        "en",
        "no",
    );
    Iq::from_error(query.id.clone(), error)
        .with_from(query.to.clone())
        .into()
}

fn queries(cache: &mut CapsCache) -> Vec<Query> {
    std::iter::from_fn(|| cache.poll_transmit()).collect()
}

fn events(cache: &mut CapsCache) -> Vec<CapsEvent> {
    std::iter::from_fn(|| cache.poll_event()).collect()
}

const GEO: &[&str] = &["http://jabber.org/protocol/geoloc+notify"];
const TUNE: &[&str] = &["http://jabber.org/protocol/tune+notify"];

#[test]
fn one_query_per_caps_set() {
    let mut cache = CapsCache::default();
    let (a, b, c) = (jid("a@x/1"), jid("a@x/2"), jid("b@y/1"));
    for who in [&a, &b, &c] {
        assert_eq!(
            cache.handle_caps(at(0), who, &caps(GEO)),
            CapsState::Resolving
        );
    }
    let sent = queries(&mut cache);
    assert_eq!(sent.len(), 1, "XEP-0115 §6.3: one query per ver");
    assert_eq!(sent[0].to, a);
    let iq = sent[0].to_element();
    assert_eq!(iq.attr("type"), Some("get"));
    assert_eq!(
        cache.handle_iq(at(1), &answer(&sent[0], GEO)),
        Handled::Ours
    );
    let info = CapsInfo::from_features(GEO);
    assert_eq!(
        events(&mut cache),
        [CapsEvent::Resolved {
            jids: vec![a, b, c],
            info: info.clone()
        }]
    );
    // Known from now on, for anyone, without a query.
    let d = jid("c@z/1");
    assert_eq!(
        cache.handle_caps(at(2), &d, &caps(GEO)),
        CapsState::Known(info)
    );
    assert!(queries(&mut cache).is_empty());
    assert_eq!((cache.len(), cache.pending_len()), (1, 0));
}

#[test]
fn an_unverified_answer_serves_one_and_the_next_is_asked() {
    let mut cache = CapsCache::default();
    let (a, b) = (jid("a@x/1"), jid("b@x/1"));
    let _ = cache.handle_caps(at(0), &a, &caps(GEO));
    let _ = cache.handle_caps(at(0), &b, &caps(GEO));
    let first = queries(&mut cache).remove(0);
    // a lies: its answer does not hash to the ver it advertised.
    assert_eq!(cache.handle_iq(at(1), &answer(&first, TUNE)), Handled::Ours);
    assert_eq!(
        events(&mut cache),
        [CapsEvent::ResolvedForOne {
            jid: a.clone(),
            info: CapsInfo::from_features(TUNE),
            reason: Unverifiable::HashMismatch
        }]
    );
    let second = queries(&mut cache);
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].to, b, "XEP-0115 §5.4 step 8: ask another JID");
    assert_eq!(
        cache.handle_iq(at(2), &answer(&second[0], GEO)),
        Handled::Ours
    );
    let geo = CapsInfo::from_features(GEO);
    assert_eq!(
        events(&mut cache),
        [CapsEvent::Resolved {
            jids: vec![b],
            info: geo.clone()
        }]
    );
    // a's lie was never shared; its next presence gets the verified entry.
    assert_eq!(
        cache.handle_caps(at(3), &a, &caps(GEO)),
        CapsState::Known(geo)
    );
    assert_eq!(cache.per_jid_len(), 0);
}

#[test]
fn failures_move_on_and_the_failed_still_get_a_verified_answer() {
    let mut cache = CapsCache::default();
    let (a, b, c) = (jid("a@x/1"), jid("b@x/1"), jid("c@x/1"));
    for who in [&a, &b, &c] {
        let _ = cache.handle_caps(at(0), who, &caps(GEO));
    }
    let first = queries(&mut cache).remove(0);
    assert_eq!(cache.handle_iq(at(1), &error(&first)), Handled::Ours);
    assert!(events(&mut cache).is_empty(), "a waits while b is asked");
    let second = queries(&mut cache).remove(0);
    assert_eq!(second.to, b);
    // b never answers.
    cache.handle_timeout(at(30));
    assert!(queries(&mut cache).is_empty(), "deadline is 1 + 30 s");
    assert_eq!(cache.poll_timeout(), Some(at(31).monotonic()));
    cache.handle_timeout(at(31));
    let third = queries(&mut cache).remove(0);
    assert_eq!(third.to, c);
    // A late answer from b is no longer ours.
    assert_eq!(
        cache.handle_iq(at(32), &answer(&second, GEO)),
        Handled::NotOurs
    );
    assert_eq!(cache.handle_iq(at(32), &answer(&third, GEO)), Handled::Ours);
    let Some(CapsEvent::Resolved { jids, .. }) = cache.poll_event() else {
        panic!("c verifies");
    };
    assert_eq!(
        jids,
        [c, a, b],
        "the asked first, then the ones that failed"
    );
}

#[test]
fn a_failure_with_nobody_left_is_reported_and_remembered() {
    let mut cache = CapsCache::default();
    let a = jid("a@x/1");
    let _ = cache.handle_caps(at(0), &a, &caps(GEO));
    let query = queries(&mut cache).remove(0);
    assert_eq!(cache.handle_iq(at(1), &error(&query)), Handled::Ours);
    assert_eq!(
        events(&mut cache),
        [CapsEvent::Unresolved {
            jid: a.clone(),
            reason: QueryFailure::Error
        }]
    );
    // Not asked again for the same caps; asked again for others, or after unavailable.
    assert_eq!(cache.handle_caps(at(2), &a, &caps(GEO)), CapsState::Unknown);
    assert!(queries(&mut cache).is_empty());
    cache.handle_unavailable(at(3), &a);
    assert_eq!(
        cache.handle_caps(at(4), &a, &caps(GEO)),
        CapsState::Resolving
    );
    assert_eq!(queries(&mut cache).len(), 1);
}

#[test]
fn the_asked_going_away_hands_the_query_on() {
    let mut cache = CapsCache::default();
    let (a, b) = (jid("a@x/1"), jid("b@x/1"));
    let _ = cache.handle_caps(at(0), &a, &caps(GEO));
    let _ = cache.handle_caps(at(0), &b, &caps(GEO));
    let first = queries(&mut cache).remove(0);
    cache.handle_unavailable(at(1), &a);
    let second = queries(&mut cache).remove(0);
    assert_eq!(second.to, b);
    assert_eq!(
        cache.handle_iq(at(2), &answer(&first, GEO)),
        Handled::NotOurs
    );
    // b changes its caps meanwhile: it leaves, and with nobody left the query ends quietly.
    assert_eq!(
        cache.handle_caps(at(3), &b, &caps(TUNE)),
        CapsState::Resolving
    );
    assert_eq!(queries(&mut cache)[0].to, b);
    assert_eq!(cache.pending_len(), 1);
    assert!(events(&mut cache).is_empty());
}

#[test]
fn answers_that_are_not_ours() {
    let mut cache = CapsCache::default();
    let a = jid("a@x/1");
    let _ = cache.handle_caps(at(0), &a, &caps(GEO));
    let query = queries(&mut cache).remove(0);
    let mut impostor = answer(&query, GEO);
    impostor.set_attr(minidom::rxml::Namespace::NONE, name("from"), "mallory@x/1");
    assert_eq!(cache.handle_iq(at(1), &impostor), Handled::NotOurs);
    let mut other_id = answer(&query, GEO);
    other_id.set_attr(minidom::rxml::Namespace::NONE, name("id"), "other");
    assert_eq!(cache.handle_iq(at(1), &other_id), Handled::NotOurs);
    let message: Element = "<message xmlns='jabber:client'/>".parse().expect("xml");
    assert_eq!(cache.handle_iq(at(1), &message), Handled::NotOurs);
    assert_eq!(cache.pending_len(), 1);
}

fn name(literal: &'static str) -> minidom::rxml::NcName {
    minidom::rxml::NcName::try_from(literal).expect("an NCName")
}

#[test]
fn a_wall_clock_step_never_fires_a_query_timer() {
    let mut cache = CapsCache::default();
    let _ = cache.handle_caps(at(0), &jid("a@x/1"), &caps(GEO));
    let _ = queries(&mut cache);
    let jumped = at(1).with_wall(SystemTime::UNIX_EPOCH + Duration::from_secs(4_000_000_000));
    cache.handle_timeout(jumped);
    assert!(events(&mut cache).is_empty());
    assert_eq!(cache.pending_len(), 1);
    // A spurious call at any time before the deadline is a no-op too.
    cache.handle_timeout(at(29));
    assert_eq!(cache.pending_len(), 1);
    assert_eq!(cache.poll_timeout(), Some(Monotonic::ZERO + TIMEOUT));
}

#[test]
fn unsupported_algorithms_are_queried_per_jid_and_never_shared() {
    let mut cache = CapsCache::default();
    let odd = Caps::new(NODE, Hash::new(Algo::Unknown("x-odd".into()), vec![1; 20]));
    let (a, b) = (jid("a@x/1"), jid("b@x/1"));
    let _ = cache.handle_caps(at(0), &a, &odd);
    let _ = cache.handle_caps(at(0), &b, &odd);
    let sent = queries(&mut cache);
    assert_eq!(sent.len(), 2, "no ver to share without the algorithm");
    assert_eq!(
        cache.handle_iq(at(1), &answer(&sent[0], GEO)),
        Handled::Ours
    );
    assert!(matches!(
        cache.poll_event(),
        Some(CapsEvent::ResolvedForOne {
            reason: Unverifiable::UnsupportedHash(_),
            ..
        })
    ));
    assert!(cache.is_empty());
    assert!(matches!(
        cache.handle_caps(at(2), &a, &odd),
        CapsState::Known(_)
    ));
}

#[test]
fn every_bound_evicts_and_reports() {
    let mut config = CapsConfig::default();
    config.max_entries = 1;
    config.max_per_jid = 2;
    config.max_per_jid_per_account = 1;
    config.max_pending = 2;
    config.max_pending_per_account = 1;
    config.max_waiting = 1;
    let mut cache = CapsCache::new(config);
    // Verified entries: the least recently used goes.
    for (who, features) in [("a@x/1", GEO), ("b@x/1", TUNE)] {
        let _ = cache.handle_caps(at(0), &jid(who), &caps(features));
        let query = queries(&mut cache).remove(0);
        assert_eq!(
            cache.handle_iq(at(0), &answer(&query, features)),
            Handled::Ours
        );
    }
    let evicted = events(&mut cache);
    assert!(evicted.contains(&CapsEvent::Evicted {
        key: CapsKey::of(&caps(GEO))
    }));
    assert_eq!(cache.len(), 1);

    // Waiting: the longest waiting is dropped.
    let three: &[&str] = &["n3+notify"];
    let (p, w1, w2) = (jid("p@x/1"), jid("w@x/1"), jid("w@x/2"));
    let _ = cache.handle_caps(at(0), &p, &caps(three));
    let _ = cache.handle_caps(at(0), &w1, &caps(three));
    let _ = cache.handle_caps(at(0), &w2, &caps(three));
    assert_eq!(
        events(&mut cache),
        [CapsEvent::Unresolved {
            jid: w1,
            reason: QueryFailure::Evicted
        }]
    );
    // Pending per account: p's account starts another query; its older one is abandoned.
    let _ = cache.handle_caps(at(0), &jid("p@x/2"), &caps(&["n4+notify"]));
    let abandoned = events(&mut cache);
    assert!(abandoned.contains(&CapsEvent::Unresolved {
        jid: p,
        reason: QueryFailure::Evicted
    }));
    assert!(abandoned.contains(&CapsEvent::Unresolved {
        jid: w2,
        reason: QueryFailure::Evicted
    }));
    assert_eq!(cache.pending_len(), 1);

    // Per-JID entries: one per account here.
    let mut config = CapsConfig::default();
    config.max_per_jid_per_account = 1;
    let mut cache = CapsCache::new(config);
    for who in ["q@x/1", "q@x/2"] {
        let _ = cache.handle_caps(at(0), &jid(who), &caps(GEO));
        let query = queries(&mut cache).remove(0);
        assert_eq!(cache.handle_iq(at(0), &error(&query)), Handled::Ours);
    }
    assert!(events(&mut cache).contains(&CapsEvent::PerJidEvicted { jid: jid("q@x/1") }));
    assert_eq!(cache.per_jid_len(), 1);
}

#[test]
fn server_caps_decide_the_delivery_mode() {
    let mut cache = CapsCache::default();
    let peer = jid("example.net");
    let features = &[NS_RSF, "http://jabber.org/protocol/disco#info"];
    let stream_features: Element = format!(
        "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>\
         <c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='{NODE}' ver='{}'/>\
         </stream:features>",
        CapsKey::of(&caps(features)).ver_base64()
    )
    .parse()
    .expect("xml");
    let advertised = Sender::stream_caps(&stream_features).expect("caps in the features");
    let _ = cache.handle_caps(at(0), &peer, &advertised);
    let query = queries(&mut cache).remove(0);
    let _ = cache.handle_iq(at(0), &answer(&query, features));
    let Some(CapsEvent::Resolved { info, .. }) = cache.poll_event() else {
        panic!("resolved");
    };
    let sender = Sender::new(SenderConfig::default().with_legacy_domain("liar.example"));
    assert_eq!(sender.delivery("example.net", Some(&info)), Delivery::Rsf);
    assert_eq!(
        sender.delivery("liar.example", Some(&info)),
        Delivery::Legacy
    );
}

#[test]
fn snapshots_round_trip_and_are_checked() {
    let mut cache = CapsCache::default();
    for (who, features) in [("a@x/1", GEO), ("b@x/1", TUNE)] {
        let _ = cache.handle_caps(at(0), &jid(who), &caps(features));
        let query = queries(&mut cache).remove(0);
        let _ = cache.handle_iq(at(0), &answer(&query, features));
    }
    let snapshot = cache.snapshot();
    let json = serde_json::to_string(&snapshot).expect("serialises");
    let back: CapsSnapshot = serde_json::from_str(&json).expect("deserialises");
    let mut restored = CapsCache::restore(CapsConfig::default(), back).expect("restores");
    assert_eq!(restored.snapshot(), snapshot);
    assert!(matches!(
        restored.handle_caps(at(0), &jid("c@x/1"), &caps(TUNE)),
        CapsState::Known(_)
    ));

    let good = snapshot.entries[0].clone();
    let with = |f: &dyn Fn(&mut SnapshotEntry)| {
        let mut entry = good.clone();
        f(&mut entry);
        CapsSnapshot {
            entries: vec![entry],
        }
    };
    let restore = |s| CapsCache::restore(CapsConfig::default(), s).map(|_| ());
    assert!(matches!(
        restore(with(&|e| e.algo = "md5".into())),
        Err(RestoreError::UnsupportedHash { index: 0, .. })
    ));
    assert!(matches!(
        restore(with(&|e| e.ver = "AAAA".into())),
        Err(RestoreError::BadVer { .. })
    ));
    assert!(matches!(
        restore(with(&|e| e
            .features
            .push("http://jabber.org/protocol/muc".into()))),
        Err(RestoreError::BadFeature { .. })
    ));
    assert!(matches!(
        restore(with(&|e| e.features.push(e.features[0].clone()))),
        Err(RestoreError::BadFeature { .. })
    ));
    let twice = CapsSnapshot {
        entries: vec![good.clone(), good.clone()],
    };
    assert!(matches!(
        restore(twice),
        Err(RestoreError::DuplicateVer { index: 1, .. })
    ));
    let mut small = CapsConfig::default();
    small.max_entries = 1;
    assert!(matches!(
        CapsCache::restore(small, snapshot),
        Err(RestoreError::TooManyEntries { count: 2, limit: 1 })
    ));
}

#[test]
fn features_kept_for_other_protocols_are_shared_persisted_and_checked() {
    const PSA: &str = "urn:xmpp:psa";
    let mut config = CapsConfig::default();
    config.keep_features = vec![PSA.to_owned()];
    let mut cache = CapsCache::new(config.clone());
    let with_psa = [GEO[0], PSA, "urn:example:other"];
    let (a, b) = (jid("a@x/1"), jid("b@y/1"));
    let _ = cache.handle_caps(at(0), &a, &caps(&with_psa));
    let query = queries(&mut cache).remove(0);
    assert_eq!(
        cache.handle_iq(at(1), &answer(&query, &with_psa)),
        Handled::Ours
    );
    let Some(CapsEvent::Resolved { info, .. }) = events(&mut cache).pop() else {
        panic!("resolved");
    };
    assert!(info.has_feature(PSA) && info.has_feature(GEO[0]));
    assert!(
        !info.has_feature("urn:example:other"),
        "not asked to keep it"
    );
    assert_eq!(info.features(), [GEO[0], PSA]);
    assert_ne!(
        info,
        CapsInfo::from_features(GEO),
        "the kept feature counts"
    );
    // Shared like the rest: the next entity with the same caps knows it without a query.
    let CapsState::Known(shared) = cache.handle_caps(at(2), &b, &caps(&with_psa)) else {
        panic!("known");
    };
    assert!(shared.has_feature(PSA));
    // Caps without it do not have it.
    assert!(!CapsInfo::from_features_keeping(GEO, &[PSA]).has_feature(PSA));

    // Persisted, and restored only by a cache configured to keep it.
    let snapshot = cache.snapshot();
    let restored = CapsCache::restore(config, snapshot.clone()).expect("restores");
    assert_eq!(restored.snapshot(), snapshot);
    assert!(matches!(
        CapsCache::restore(CapsConfig::default(), snapshot),
        Err(RestoreError::BadFeature { feature, .. }) if feature == PSA
    ));
}
