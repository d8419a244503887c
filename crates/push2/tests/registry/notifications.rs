//! The notifications built: notify-only, encrypted (envelope, padding, minimisation), VAPID.

use std::time::Duration;

use xmpp_push2::client::open;
use xmpp_push2::{
    BuildError, Event, MatchProfile, Priority, Registry, RegistryConfig, Routed, SessionState,
    SessionStatus, SizeBudget,
};
use xmpp_push2_crypto::jwt::{self, Policy};

use super::common::*;

fn sid(envelope: &xmpp_push2_crypto::Envelope) -> Option<(String, String)> {
    envelope
        .forwarded
        .message
        .payloads
        .iter()
        .find(|p| p.is("stanza-id", "urn:xmpp:sid:0"))
        .map(|p| {
            (
                p.attr("by").unwrap().to_owned(),
                p.attr("id").unwrap().to_owned(),
            )
        })
}

fn one(
    registry: &mut Registry,
    stanza: &minidom::Element,
    archive: Option<&str>,
) -> xmpp_push2::OutgoingNotification {
    let mut rng = rng();
    let account = juliet();
    let sessions = [SessionState::new(
        device("r0").key(),
        SessionStatus::Hibernated,
    )];
    let mut routed = Routed::new(&account, stanza).with_sessions(&sessions);
    if let Some(id) = archive {
        routed = routed.with_archive_id(id);
    }
    assert_eq!(registry.handle_routed(t0(), &mut rng, &routed), 1);
    let mut d = drain(registry);
    assert_eq!(d.notifications.len(), 1, "{:?}", d.events);
    d.notifications.remove(0)
}

#[test]
fn a_notify_only_notification() {
    let mut registry = registry_with(
        RegistryConfig::default(),
        vec![notify_only(MatchProfile::Important)],
    );
    let n = one(&mut registry, &message("hi"), Some("mam-1"));
    assert_eq!(n.to.to_string(), "push.example");
    assert_eq!(n.from.to_string(), "capulet.example");
    assert_eq!(n.attempt, 1);
    assert_eq!(n.notification.client, endpoint(0));
    assert_eq!(n.notification.priority, Priority::Normal);
    assert!(n.notification.payload.is_none() && n.notification.jwt.is_none());
    let message = n.to_element();
    assert_eq!(message.attr("id"), Some(n.id.as_str()));
    assert_eq!(message.attr("to"), Some("push.example"));
}

#[test]
fn an_encrypted_notification_opens_to_the_message_with_its_mam_id() {
    let mut registry = registry_with(
        RegistryConfig::default(),
        vec![encrypted(MatchProfile::Important, 0)],
    );
    let n = one(
        &mut registry,
        &message("Wherefore art thou, Romeo?"),
        Some("mam-1"),
    );
    let payload = n.notification.payload.as_ref().unwrap();
    // Padded to the APNs budget: 2847 octets of envelope, plus RFC 8291's 103.
    assert_eq!(payload.len(), 2847 + 103);
    let envelope = open(&keys(0).ua, &n.notification).unwrap();
    let forwarded = &envelope.forwarded.message;
    assert_eq!(forwarded.bodies[""], "Wherefore art thou, Romeo?");
    assert_eq!(
        forwarded.from.as_ref().unwrap().to_string(),
        "romeo@montague.example/garden"
    );
    assert_eq!(
        sid(&envelope),
        Some(("juliet@capulet.example".into(), "mam-1".into()))
    );
    assert!(envelope.time.is_some());
    // The token: the client's key, the endpoint's origin, the server's contact.
    let token = n.notification.jwt.as_ref().unwrap();
    assert_eq!(token.key, *keys(0).vapid.public_key());
    let policy = Policy::new().with_audience("https://push.example");
    let claims = jwt::verify(t0(), &token.token, &token.key, &policy).unwrap();
    assert_eq!(claims.sub.as_deref(), Some("xmpp:capulet.example"));
    assert!(claims.exp > t0().unix_seconds() && claims.exp <= t0().unix_seconds() + 24 * 3600);
}

#[test]
fn the_clients_claims_are_used_as_given_and_sub_comes_from_the_config() {
    let send = keys(0)
        .send_profile(Some("push.example"))
        .unwrap()
        .with_claim("sub", "mailto:evil@example");
    let enable = xmpp_push2::Enable::new("push.example".parse().unwrap(), endpoint(0)).with_match(
        xmpp_push2::Match::new(MatchProfile::All, xmpp_push2::SendProfile::WebPush(send)),
    );
    let config = {
        let mut c = RegistryConfig::default();
        c.vapid_sub = Some("mailto:ops@capulet.example".into());
        c.budget = SizeBudget::Rfc8030;
        c
    };
    let mut registry = registry_with(config, vec![enable]);
    let n = one(&mut registry, &message("hi"), None);
    assert_eq!(n.notification.payload.as_ref().unwrap().len(), 4096);
    let token = n.notification.jwt.as_ref().unwrap();
    let claims = jwt::verify(
        t0(),
        &token.token,
        &token.key,
        &Policy::new().with_audience("push.example"),
    )
    .unwrap();
    assert_eq!(claims.sub.as_deref(), Some("mailto:ops@capulet.example"));
    // The same claims again: the token comes from the cache.
    let again = one(&mut registry, &message("again"), None);
    assert_eq!(again.notification.jwt.as_ref().unwrap().token, token.token);
}

#[test]
fn calls_are_high_priority_with_voip() {
    let mut registry = registry_with(
        RegistryConfig::default(),
        vec![notify_only(MatchProfile::Important)],
    );
    let call = stanza(
        "<message xmlns='jabber:client' from='romeo@montague.example/o'><propose xmlns='urn:xmpp:jingle-message:0' id='c1'/></message>",
    );
    let n = one(&mut registry, &call, None);
    assert_eq!(n.notification.priority, Priority::High);
    assert!(n.notification.voip);
    let receipt = stanza(
        "<message xmlns='jabber:client' from='romeo@montague.example/o'><received xmlns='urn:xmpp:receipts' id='m0'/></message>",
    );
    let mut all = registry_with(
        RegistryConfig::default(),
        vec![notify_only(MatchProfile::All)],
    );
    let n = one(&mut all, &receipt, None);
    assert_eq!(n.notification.priority, Priority::Low);
    assert!(!n.notification.voip);
}

#[test]
fn a_presence_gets_no_payload_but_a_token() {
    let mut registry = registry_with(
        RegistryConfig::default(),
        vec![encrypted(MatchProfile::All, 0)],
    );
    let presence =
        stanza("<presence xmlns='jabber:client' from='romeo@montague.example' type='subscribe'/>");
    let n = one(&mut registry, &presence, None);
    assert!(n.notification.payload.is_none());
    assert!(n.notification.jwt.is_some());
}

#[test]
fn a_large_stanza_is_minimised_keeping_its_mam_id() {
    let mut registry = registry_with(
        RegistryConfig::default(),
        vec![encrypted(MatchProfile::Important, 0)],
    );
    let body = "Ay me! ".repeat(800);
    let big = stanza(&format!(
        "<message xmlns='jabber:client' type='chat' id='m9' from='romeo@montague.example/garden'>\
         <body>{body}</body><html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><p>{body}</p></body></html></message>"
    ));
    let n = one(&mut registry, &big, Some("mam-9"));
    let envelope = open(&keys(0).ua, &n.notification).unwrap();
    let forwarded = &envelope.forwarded.message;
    assert!(forwarded.bodies[""].ends_with('…'));
    assert!(forwarded.bodies[""].starts_with("Ay me! Ay me!"));
    assert!(
        forwarded
            .payloads
            .iter()
            .all(|p| !p.has_ns("http://jabber.org/protocol/xhtml-im"))
    );
    assert_eq!(
        sid(&envelope),
        Some(("juliet@capulet.example".into(), "mam-9".into()))
    );
}

#[test]
fn a_carbon_forwards_the_message_it_carries() {
    let mut registry = registry_with(
        RegistryConfig::default(),
        vec![encrypted(MatchProfile::Important, 0)],
    );
    let carbon = stanza(
        "<message xmlns='jabber:client' from='juliet@capulet.example' to='juliet@capulet.example/r0'><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='romeo@montague.example/o' to='juliet@capulet.example/laptop' type='chat'><body>to the laptop</body></message></forwarded></received></message>",
    );
    let n = one(&mut registry, &carbon, None);
    let envelope = open(&keys(0).ua, &n.notification).unwrap();
    assert_eq!(envelope.forwarded.message.bodies[""], "to the laptop");
}

#[test]
fn a_notification_that_cannot_be_built_is_reported() {
    let config = {
        let mut c = RegistryConfig::default();
        c.budget = SizeBudget::Octets(60);
        c
    };
    let mut registry = registry_with(config, vec![encrypted(MatchProfile::Important, 0)]);
    let mut rng = rng();
    let account = juliet();
    let chat = message("hi");
    let routed = Routed::new(&account, &chat).with_archive_id("mam-1");
    assert_eq!(registry.handle_routed(t0(), &mut rng, &routed), 0);
    let d = drain(&mut registry);
    assert!(d.notifications.is_empty());
    assert!(matches!(
        &d.events[..],
        [Event::NotBuilt {
            error: BuildError::DoesNotFit { limit: 60, .. },
            ..
        }]
    ));
    assert_eq!(registry.pending_count(), 0);
    let _ = Duration::ZERO;
}

#[test]
fn several_registrations_each_get_their_own_encryption() {
    let mut registry = registry_with(
        RegistryConfig::default(),
        vec![
            encrypted(MatchProfile::Important, 0),
            encrypted(MatchProfile::Important, 1),
        ],
    );
    let mut rng = rng();
    let account = juliet();
    let chat = message("to both");
    assert_eq!(
        registry.handle_routed(t0(), &mut rng, &Routed::new(&account, &chat)),
        2
    );
    let d = drain(&mut registry);
    for (i, n) in d.notifications.iter().enumerate() {
        assert_eq!(n.notification.client, endpoint(i));
        let envelope = open(&keys(i).ua, &n.notification).unwrap();
        assert_eq!(envelope.forwarded.message.bodies[""], "to both");
        assert!(open(&keys(1 - i).ua, &n.notification).is_err());
    }
}
