//! The push service: notifications into Web Push requests, HTTP answers into XMPP errors.

use std::time::{Duration, SystemTime};

use http::StatusCode;
use minidom::Element;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};
use xmpp_push2::service::{error_for_status, web_push_request};
use xmpp_push2::{
    Incoming, Jwt, Monotonic, Notification, NotificationError, Now, Priority, PushService,
    RequestError, ServiceConfig, ServiceEvent, ServiceTransmit,
};

fn now() -> Now {
    Now::new(
        Monotonic::ZERO,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    )
}

fn key() -> xmpp_push2_crypto::EcPublicKey {
    xmpp_push2_crypto::EcPublicKey::from_base64(
        "BA1Hxzyi1RUM1b5wjxsn7nGxAszw2u61m164i3MrAIxHF6YK5h4SDYic-dRuU_RCPCfA5aq9ojSwk5Y2EmClBPs",
    )
    .unwrap()
}

fn message(n: &Notification) -> Element {
    let mut m = n.to_message(
        Some(&"capulet.example".parse().unwrap()),
        &"push.example".parse().unwrap(),
        Some("n1"),
    );
    // What a component receives: the same stanza in jabber:component:accept.
    m = String::from(&m)
        .replace("jabber:client", "jabber:component:accept")
        .parse()
        .unwrap();
    m
}

#[test]
fn an_encrypted_notification_becomes_a_web_push_request() {
    let n = Notification::new("https://push.example/wpush/v2/abc", Priority::High)
        .with_voip()
        .with_payload(vec![1, 2, 3])
        .with_jwt(Jwt::new(key(), "eyJ.eyJ.sig"));
    let request = web_push_request(&n, Duration::from_secs(60)).unwrap();
    assert_eq!(request.method(), http::Method::POST);
    assert_eq!(request.uri(), "https://push.example/wpush/v2/abc");
    let h = request.headers();
    assert_eq!(h["ttl"], "60");
    assert_eq!(h["urgency"], "high");
    assert_eq!(h["content-encoding"], "aes128gcm");
    assert_eq!(h["content-type"], "application/octet-stream");
    // RFC 8292 §3: the key as base64url, although the notification carries standard base64.
    assert_eq!(
        h["authorization"],
        "vapid t=eyJ.eyJ.sig, k=BA1Hxzyi1RUM1b5wjxsn7nGxAszw2u61m164i3MrAIxHF6YK5h4SDYic-dRuU_RCPCfA5aq9ojSwk5Y2EmClBPs"
    );
    assert_eq!(request.body(), &[1, 2, 3]);
}

#[test]
fn notify_only_is_an_empty_push() {
    let n = Notification::new("https://push.example/1", Priority::Low);
    let request = web_push_request(&n, Duration::from_secs(86_400)).unwrap();
    assert!(request.body().is_empty());
    assert!(request.headers().get("content-encoding").is_none());
    assert!(request.headers().get("authorization").is_none());
    assert_eq!(request.headers()["urgency"], "low");
}

#[test]
fn requests_need_a_url_and_a_payload_that_fits() {
    for client in [
        "an opaque token",
        "mailto:a@b.example",
        "wss://push.example/x",
    ] {
        let n = Notification::new(client, Priority::Normal);
        assert_eq!(
            web_push_request(&n, Duration::from_secs(1)).map(|_| ()),
            Err(RequestError::NotAnEndpoint {
                client: client.into()
            })
        );
    }
    let n =
        Notification::new("https://push.example/1", Priority::Normal).with_payload(vec![0; 4097]);
    assert_eq!(
        web_push_request(&n, Duration::from_secs(1)).map(|_| ()),
        Err(RequestError::PayloadTooLarge {
            len: 4097,
            max: 4096
        })
    );
}

#[test]
fn http_statuses_map_to_stanza_errors() {
    let e = |s: u16| {
        error_for_status(StatusCode::from_u16(s).unwrap()).map(|e| (e.type_, e.defined_condition))
    };
    assert_eq!(e(201), None);
    assert_eq!(e(202), None);
    assert_eq!(
        e(404),
        Some((ErrorType::Cancel, DefinedCondition::ItemNotFound))
    );
    assert_eq!(
        e(410),
        Some((ErrorType::Cancel, DefinedCondition::ItemNotFound))
    );
    assert_eq!(
        e(413),
        Some((ErrorType::Modify, DefinedCondition::NotAcceptable))
    );
    assert_eq!(
        e(429),
        Some((ErrorType::Wait, DefinedCondition::ResourceConstraint))
    );
    assert_eq!(
        e(500),
        Some((ErrorType::Wait, DefinedCondition::InternalServerError))
    );
    assert_eq!(
        e(503),
        Some((ErrorType::Wait, DefinedCondition::ServiceUnavailable))
    );
    assert_eq!(
        e(504),
        Some((ErrorType::Wait, DefinedCondition::RemoteServerTimeout))
    );
    assert_eq!(
        e(400),
        Some((ErrorType::Modify, DefinedCondition::BadRequest))
    );
    assert_eq!(
        e(401),
        Some((ErrorType::Auth, DefinedCondition::NotAuthorized))
    );
    assert_eq!(e(403), Some((ErrorType::Auth, DefinedCondition::Forbidden)));
    assert_eq!(
        e(418),
        Some((ErrorType::Cancel, DefinedCondition::UndefinedCondition))
    );
}

fn error_of(stanza: &Element) -> StanzaError {
    let error = stanza.get_child("error", "jabber:client").unwrap();
    StanzaError::try_from(error.clone()).unwrap()
}

#[test]
fn the_machine_answers_failures_to_the_users_server() {
    let mut service = PushService::new(ServiceConfig::default());
    let n = Notification::new("https://push.example/1", Priority::Normal).with_payload(vec![7; 10]);
    assert_eq!(
        service.handle_stanza(now(), &message(&n)),
        Ok(Incoming::Handled)
    );
    let Some(ServiceTransmit::Request { id, request }) = service.poll_transmit() else {
        panic!()
    };
    assert_eq!(request.headers()["ttl"], "86400");
    assert_eq!(service.in_flight(), 1);
    assert_eq!(
        service.handle_response(now(), id, StatusCode::GONE),
        Incoming::Handled
    );
    let Some(ServiceTransmit::Stanza(reply)) = service.poll_transmit() else {
        panic!()
    };
    assert_eq!(reply.attr("type"), Some("error"));
    assert_eq!(reply.attr("to"), Some("capulet.example"));
    assert_eq!(reply.attr("from"), Some("push.example"));
    assert_eq!(reply.attr("id"), Some("n1"));
    assert_eq!(
        error_of(&reply).defined_condition,
        DefinedCondition::ItemNotFound
    );
    assert!(matches!(
        service.poll_event(),
        Some(ServiceEvent::Failed {
            status: Some(StatusCode::GONE),
            ..
        })
    ));
    // Answered once: a second answer is not ours.
    assert_eq!(
        service.handle_response(now(), id, StatusCode::CREATED),
        Incoming::NotOurs
    );
}

#[test]
fn success_is_silent_to_the_users_server() {
    let mut service = PushService::new(ServiceConfig::default());
    let n = Notification::new("https://push.example/1", Priority::High).with_voip();
    let _ = service.handle_stanza(now(), &message(&n));
    let Some(ServiceTransmit::Request { id, request }) = service.poll_transmit() else {
        panic!()
    };
    assert_eq!(request.headers()["ttl"], "60");
    assert_eq!(
        service.handle_response(now(), id, StatusCode::CREATED),
        Incoming::Handled
    );
    assert!(service.poll_transmit().is_none());
    assert!(matches!(
        service.poll_event(),
        Some(ServiceEvent::Delivered { .. })
    ));
}

#[test]
fn refusals_timeouts_and_the_bound() {
    let mut config = ServiceConfig::default();
    config.max_in_flight = 1;
    let mut service = PushService::new(config);
    let bad = Notification::new("not a url", Priority::Normal);
    assert!(matches!(
        service.handle_stanza(now(), &message(&bad)),
        Err(NotificationError::Request(
            RequestError::NotAnEndpoint { .. }
        ))
    ));
    let Some(ServiceTransmit::Stanza(reply)) = service.poll_transmit() else {
        panic!()
    };
    assert_eq!(error_of(&reply).type_, ErrorType::Cancel);
    let good = Notification::new("https://push.example/1", Priority::Normal);
    assert_eq!(
        service.handle_stanza(now(), &message(&good)),
        Ok(Incoming::Handled)
    );
    let _ = service.poll_transmit();
    assert!(matches!(
        service.handle_stanza(now(), &message(&good)),
        Err(NotificationError::Busy { limit: 1 })
    ));
    let Some(ServiceTransmit::Stanza(reply)) = service.poll_transmit() else {
        panic!()
    };
    assert_eq!(error_of(&reply).type_, ErrorType::Wait);
    assert_eq!(
        service.poll_timeout(),
        Some(now().monotonic() + Duration::from_secs(30))
    );
    service.handle_timeout(now().advance(Duration::from_secs(30)));
    let Some(ServiceTransmit::Stanza(reply)) = service.poll_transmit() else {
        panic!()
    };
    assert_eq!(
        error_of(&reply).defined_condition,
        DefinedCondition::RemoteServerTimeout
    );
    assert_eq!(service.in_flight(), 0);
    // Not ours: errors, messages without a notification.
    let error = Element::builder("message", "jabber:client")
        .attr(minidom::rxml::xml_ncname!("type").into(), "error")
        .build();
    assert_eq!(service.handle_stanza(now(), &error), Ok(Incoming::NotOurs));
    let chat = Element::bare("message", "jabber:client");
    assert_eq!(service.handle_stanza(now(), &chat), Ok(Incoming::NotOurs));
}
