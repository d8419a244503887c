//! Enable and disable: iqs, Bind2 inline, validation, replacement and bounds.

use minidom::Element;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};
use xmpp_push2::client::bind2_answer;
use xmpp_push2::{
    Bound, Classification, CustomProfiles, Device, Disable, DisableReason, Enable, EnableError,
    Event, Incoming, Match, MatchProfile, ParseError, RegistrationKey, Registry, RegistryConfig,
    Routed, SendProfile, WebPushSend, bind2_inline_feature,
};

use super::common::*;

fn error_of(reply: &Element) -> StanzaError {
    assert_eq!(reply.attr("type"), Some("error"), "{reply:?}");
    let error = reply
        .get_child("error", "jabber:client")
        .expect("an <error/>");
    StanzaError::try_from(error.clone()).unwrap()
}

fn refused(enable: Enable) -> (EnableError, StanzaError) {
    let mut rng = rng();
    let mut registry = Registry::new(RegistryConfig::default(), &mut rng);
    let outcome = registry.handle_iq(t0(), &device("phone"), &enable.to_iq("e1"));
    let d = drain(&mut registry);
    assert_eq!(d.replies.len(), 1);
    assert!(d.events.is_empty(), "{:?}", d.events);
    assert_eq!(registry.registration_count(), 0);
    (outcome.unwrap_err(), error_of(&d.replies[0]))
}

#[test]
fn an_enable_iq_is_answered_and_registered() {
    let mut rng = rng();
    let mut registry = Registry::new(RegistryConfig::default(), &mut rng);
    let phone = device("phone");
    let iq = notify_only(MatchProfile::Important).to_iq("e1");
    assert_eq!(registry.handle_iq(t0(), &phone, &iq), Ok(Incoming::Handled));
    let d = drain(&mut registry);
    assert_eq!(d.replies[0].attr("type"), Some("result"));
    assert_eq!(d.replies[0].attr("id"), Some("e1"));
    assert_eq!(
        d.replies[0].attr("to"),
        Some("juliet@capulet.example/phone")
    );
    assert!(matches!(
        &d.events[..],
        [Event::Enabled { replaced: false, key: RegistrationKey::Resource(r), .. }, Event::Changed { .. }]
            if r == "phone"
    ));
    let views = registry.registrations(&juliet());
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].client, endpoint(0));
    assert_eq!(views[0].enabled_at, t0().wall());
    // An iq that is not push business is not ours, and answered by nobody here.
    let ping =
        stanza("<iq xmlns='jabber:client' type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>");
    assert_eq!(
        registry.handle_iq(t0(), &phone, &ping),
        Ok(Incoming::NotOurs)
    );
    assert!(registry.poll_transmit().is_none());
}

#[test]
fn validation_errors_name_the_stanza_error() {
    let bad_request = |e: &StanzaError| {
        e.type_ == ErrorType::Modify && e.defined_condition == DefinedCondition::BadRequest
    };
    // Own JID, bare or full.
    for service in ["juliet@capulet.example", "juliet@capulet.example/other"] {
        let enable = Enable::new(service.parse().unwrap(), "c")
            .with_match(Match::new(MatchProfile::All, SendProfile::NotifyOnly));
        let (error, stanza_error) = refused(enable);
        assert_eq!(error, EnableError::OwnJid);
        assert!(bad_request(&stanza_error));
    }
    // A send profile we do not implement: kept whole in the error.
    let unknown = Element::bare("send", "urn:example:send:1");
    let enable = Enable::new("push.example".parse().unwrap(), "c").with_match(Match::new(
        MatchProfile::All,
        SendProfile::Unknown(Box::new(unknown.clone())),
    ));
    let (error, stanza_error) = refused(enable);
    assert_eq!(
        error,
        EnableError::UnsupportedSend {
            namespace: "urn:example:send:1".into(),
            element: Box::new(unknown)
        }
    );
    assert!(bad_request(&stanza_error));
    // A key that does not parse: not-acceptable.
    let mut send = keys(0).send_profile(None).unwrap();
    send.ua_public = "AAAA".into();
    let (error, stanza_error) = refused(
        Enable::new("push.example".parse().unwrap(), endpoint(0))
            .with_match(Match::new(MatchProfile::All, SendProfile::WebPush(send))),
    );
    assert!(
        matches!(
            error,
            EnableError::InvalidKey {
                field: "ua-public",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        stanza_error.defined_condition,
        DefinedCondition::NotAcceptable
    );
    let mut send = keys(0).send_profile(None).unwrap();
    send.jwt_key = Some("bm90IGEga2V5".into());
    let (error, _) = refused(
        Enable::new("push.example".parse().unwrap(), endpoint(0))
            .with_match(Match::new(MatchProfile::All, SendProfile::WebPush(send))),
    );
    assert!(
        matches!(
            error,
            EnableError::InvalidKey {
                field: "jwt-key",
                ..
            }
        ),
        "{error:?}"
    );
    // HS256 (which mod_push2 signs with): not implemented.
    let mut send = keys(0).send_profile(None).unwrap();
    send.jwt_alg = Some("HS256".into());
    let (error, stanza_error) = refused(
        Enable::new("push.example".parse().unwrap(), endpoint(0))
            .with_match(Match::new(MatchProfile::All, SendProfile::WebPush(send))),
    );
    assert_eq!(
        error,
        EnableError::UnsupportedJwtAlg {
            alg: "HS256".into()
        }
    );
    assert_eq!(stanza_error.type_, ErrorType::Cancel);
    assert_eq!(
        stanza_error.defined_condition,
        DefinedCondition::FeatureNotImplemented
    );
    // jwt-alg without a key, a numeric claim: bad-request.
    let mut send = WebPushSend::new(&keys(0).ua);
    send.jwt_alg = Some("ES256".into());
    let (error, _) = refused(
        Enable::new("push.example".parse().unwrap(), endpoint(0))
            .with_match(Match::new(MatchProfile::All, SendProfile::WebPush(send))),
    );
    assert_eq!(error, EnableError::MissingJwtKey);
    let send = keys(0).send_profile(None).unwrap().with_claim("iat", "1");
    let (error, stanza_error) = refused(
        Enable::new("push.example".parse().unwrap(), endpoint(0))
            .with_match(Match::new(MatchProfile::All, SendProfile::WebPush(send))),
    );
    assert!(matches!(error, EnableError::InvalidClaim(_)), "{error:?}");
    assert!(bad_request(&stanza_error));
    // An unknown match profile: not implemented.
    let (error, stanza_error) = refused(notify_only(MatchProfile::Other("urn:example:x".into())));
    assert_eq!(
        error,
        EnableError::UnsupportedMatch {
            profile: "urn:example:x".into()
        }
    );
    assert_eq!(
        stanza_error.defined_condition,
        DefinedCondition::FeatureNotImplemented
    );
    // No aud claim and an endpoint with no origin.
    let send = keys(0).send_profile(None).unwrap();
    let (error, _) = refused(
        Enable::new("push.example".parse().unwrap(), "opaque-token")
            .with_match(Match::new(MatchProfile::All, SendProfile::WebPush(send))),
    );
    assert!(matches!(error, EnableError::NoAudience(_)), "{error:?}");
}

#[test]
fn a_missing_service_or_client_is_bad_request() {
    let mut rng = rng();
    let mut registry = Registry::new(RegistryConfig::default(), &mut rng);
    for (xml, child) in [
        ("<client>c</client>", "service"),
        ("<service>push.example</service>", "client"),
    ] {
        let iq = stanza(&format!(
            "<iq xmlns='jabber:client' type='set' id='e'><enable xmlns='urn:xmpp:push2:0'>{xml}\
             <match profile='urn:xmpp:push2:match:all'><send xmlns='urn:xmpp:push2:send:notify-only:0'/></match>\
             </enable></iq>"
        ));
        let error = registry.handle_iq(t0(), &device("phone"), &iq).unwrap_err();
        assert_eq!(
            error,
            EnableError::Malformed(ParseError::MissingChild {
                element: "enable",
                child
            })
        );
        let d = drain(&mut registry);
        assert_eq!(
            error_of(&d.replies[0]).defined_condition,
            DefinedCondition::BadRequest
        );
    }
}

#[test]
fn only_iq_set_to_the_own_account() {
    let mut rng = rng();
    let mut registry = Registry::new(RegistryConfig::default(), &mut rng);
    let phone = device("phone");
    let mut get = notify_only(MatchProfile::All).to_iq("g");
    get.set_attr(
        minidom::rxml::Namespace::NONE,
        minidom::rxml::xml_ncname!("type").to_owned(),
        "get",
    );
    assert_eq!(
        registry.handle_iq(t0(), &phone, &get),
        Err(EnableError::NotSet)
    );
    let mut other = notify_only(MatchProfile::All).to_iq("o");
    other.set_attr(
        minidom::rxml::Namespace::NONE,
        minidom::rxml::xml_ncname!("to").to_owned(),
        "romeo@montague.example",
    );
    assert!(matches!(
        registry.handle_iq(t0(), &phone, &other),
        Err(EnableError::Forbidden { .. })
    ));
    let d = drain(&mut registry);
    assert_eq!(error_of(&d.replies[1]).type_, ErrorType::Auth);
    let mut own = notify_only(MatchProfile::All).to_iq("s");
    own.set_attr(
        minidom::rxml::Namespace::NONE,
        minidom::rxml::xml_ncname!("to").to_owned(),
        "juliet@capulet.example",
    );
    assert_eq!(
        registry.handle_iq(t0(), &phone, &own),
        Ok(Incoming::Handled)
    );
}

#[test]
fn enable_replaces_and_disable_removes_by_key() {
    let mut rng = rng();
    let mut registry = Registry::new(RegistryConfig::default(), &mut rng);
    let phone = device("phone").with_user_agent("d5b2a8f0");
    registry
        .enable(t0(), &phone, notify_only(MatchProfile::All))
        .unwrap();
    // The same client on a new resource: its registration is replaced, not doubled.
    let again = device("phone.2").with_user_agent("d5b2a8f0");
    registry
        .enable(t0(), &again, notify_only(MatchProfile::Important))
        .unwrap();
    let d = drain(&mut registry);
    assert!(matches!(d.events[2], Event::Enabled { replaced: true, .. }));
    assert_eq!(registry.registration_count(), 1);
    assert_eq!(
        registry.registrations(&juliet())[0].profiles,
        [MatchProfile::Important]
    );
    // Disable from a session without the user-agent id touches nothing of it.
    assert!(!registry.disable(t0(), &device("phone.2")));
    let iq = Disable::new().to_iq("d1");
    assert_eq!(registry.handle_iq(t0(), &again, &iq), Ok(Incoming::Handled));
    let d = drain(&mut registry);
    assert_eq!(d.replies[0].attr("type"), Some("result"));
    assert!(matches!(
        &d.events[0],
        Event::Disabled {
            reason: DisableReason::User { .. },
            ..
        }
    ));
    assert_eq!(registry.registration_count(), 0);
    assert_eq!(registry.account_count(), 0);
    // A disable with nothing to remove is still a success.
    assert_eq!(registry.handle_iq(t0(), &again, &iq), Ok(Incoming::Handled));
    assert_eq!(drain(&mut registry).replies[0].attr("type"), Some("result"));
}

#[test]
fn the_bounds_evict_the_least_recently_enabled() {
    let config = {
        let mut c = RegistryConfig::default();
        c.max_per_account = 2;
        c.max_registrations = 3;
        c
    };
    let mut rng = rng();
    let mut registry = Registry::new(config, &mut rng);
    for r in ["a", "b", "c"] {
        registry
            .enable(t0(), &device(r), notify_only(MatchProfile::All))
            .unwrap();
    }
    let d = drain(&mut registry);
    let evicted: Vec<_> = d
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Disabled {
                key,
                reason: DisableReason::Evicted { bound },
                ..
            } => Some((key.clone(), *bound)),
            _ => None,
        })
        .collect();
    assert_eq!(
        evicted,
        [(RegistrationKey::Resource("a".into()), Bound::Account)]
    );
    // Romeo's registrations fill the global bound: Juliet holds the most and loses her oldest.
    let romeo = |r: &str| Device::new(format!("romeo@montague.example/{r}").parse().unwrap());
    registry
        .enable(t0(), &romeo("x"), notify_only(MatchProfile::All))
        .unwrap();
    registry
        .enable(t0(), &romeo("y"), notify_only(MatchProfile::All))
        .unwrap();
    let d = drain(&mut registry);
    assert!(d.events.iter().any(|e| matches!(e,
        Event::Disabled { account, key: RegistrationKey::Resource(r), reason: DisableReason::Evicted { bound: Bound::Global }, .. }
            if *account == juliet() && r == "b")));
    assert_eq!(registry.registration_count(), 3);
}

#[test]
fn bind2_inline_enable() {
    let mut rng = rng();
    let mut registry = Registry::new(RegistryConfig::default(), &mut rng);
    let phone = device("phone");
    let mut bind = Element::builder("bind", "urn:xmpp:bind:0")
        .append(Element::builder("tag", "urn:xmpp:bind:0").append("Phone"))
        .build();
    assert_eq!(
        registry.handle_bind2(t0(), &phone, &bind),
        Ok(Incoming::NotOurs)
    );
    bind.append_child(notify_only(MatchProfile::Important).into());
    assert_eq!(
        registry.handle_bind2(t0(), &phone, &bind),
        Ok(Incoming::Handled)
    );
    let d = drain(&mut registry);
    assert_eq!(d.bind2.len(), 1);
    let bound = Element::builder("bound", "urn:xmpp:bind:0")
        .append(d.bind2[0].clone())
        .build();
    assert_eq!(bind2_answer(&bound), Some(Ok(())));
    assert_eq!(registry.registration_count(), 1);
    // A refused inline enable: <failed/> with the stanza error.
    let mut bad = Element::bare("bind", "urn:xmpp:bind:0");
    bad.append_child(
        Enable::new("juliet@capulet.example".parse().unwrap(), "c")
            .with_match(Match::new(MatchProfile::All, SendProfile::NotifyOnly))
            .into(),
    );
    assert_eq!(
        registry.handle_bind2(t0(), &phone, &bad),
        Err(EnableError::OwnJid)
    );
    let d = drain(&mut registry);
    let bound = Element::builder("bound", "urn:xmpp:bind:0")
        .append(d.bind2[0].clone())
        .build();
    let answer = bind2_answer(&bound).unwrap().unwrap_err();
    assert_eq!(answer.defined_condition, DefinedCondition::BadRequest);
    assert_eq!(
        bind2_answer(&Element::bare("bound", "urn:xmpp:bind:0")),
        None
    );
    assert_eq!(
        String::from(&bind2_inline_feature()),
        "<feature xmlns='urn:xmpp:bind:0' var='urn:xmpp:push2:0'/>"
    );
}

#[test]
fn refused_hands_the_enable_back() {
    let mut rng = rng();
    let mut registry = Registry::new(RegistryConfig::default(), &mut rng);
    let enable = notify_only(MatchProfile::Other("urn:example:x".into()));
    let refused = registry
        .enable(t0(), &device("phone"), enable.clone())
        .unwrap_err();
    assert!(matches!(
        refused.reason,
        EnableError::UnsupportedMatch { .. }
    ));
    assert_eq!(refused.into_inner(), enable);
}

struct Calls;

impl CustomProfiles for Calls {
    fn profiles(&self) -> Vec<String> {
        vec!["urn:example:calls".into()]
    }

    fn matches(&self, profile: &str, _: &Routed<'_>, c: &Classification) -> bool {
        profile == "urn:example:calls" && c.is_call()
    }
}

#[test]
fn custom_profiles_are_advertised_accepted_and_matched() {
    let mut rng = rng();
    let mut registry = Registry::with_profiles(RegistryConfig::default(), Calls, &mut rng);
    let features = registry.account_features();
    assert_eq!(features[0], "urn:xmpp:push2:0");
    assert!(features.contains(&"urn:example:calls".to_owned()));
    assert!(features.contains(&xmpp_push2::ns::SEND_SCE_RFC8291_RFC8292.to_owned()));
    registry
        .enable(
            t0(),
            &device("phone"),
            notify_only(MatchProfile::Other("urn:example:calls".into())),
        )
        .unwrap();
    let _ = drain(&mut registry);
    let account = juliet();
    let chat = message("hi");
    assert_eq!(
        registry.handle_routed(t0(), &mut rng, &Routed::new(&account, &chat)),
        0
    );
    let call = stanza(
        "<message xmlns='jabber:client' from='romeo@montague.example/o'>\
         <propose xmlns='urn:xmpp:jingle-message:0' id='c1'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/></propose></message>",
    );
    assert_eq!(
        registry.handle_routed(t0(), &mut rng, &Routed::new(&account, &call)),
        1
    );
}
