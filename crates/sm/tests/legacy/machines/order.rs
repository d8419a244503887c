//! Order rules (XEP-0198 §3, §5): what may come when, and what is refused.

use super::*;

#[test]
fn enable_before_bind_is_failed_unexpected_request_and_recoverable() {
    let mut client = Client::new(ClientConfig::default());
    let mut server = Server::new(ServerConfig::default(), juliet());
    let enable = client.enable(t0(), Namespace::Sm3).expect("enable");
    let err = server
        .handle_element(t0(), enable.clone())
        .expect_err("before bind");
    assert_eq!(
        err,
        Error::Peer(PeerError::EnableBeforeBind { ns: Namespace::Sm3 })
    );
    assert!(!err.is_fatal());
    let answer = err.answer().expect("an answer");
    assert_eq!(answer, failed_unexpected_request(Namespace::Sm3));
    // The client learns it failed; the server still accepts <enable/> after binding.
    let failed = answer.into_element();
    assert_eq!(client.handle_element(t0(), failed), Ok(Incoming::Handled));
    assert_eq!(
        events(&mut client),
        vec![Event::EnableFailed {
            condition: Some(DefinedCondition::UnexpectedRequest)
        }]
    );
    server.bound(t0(), balcony()).expect("bind");
    assert!(matches!(
        server.handle_element(t0(), enable),
        Ok(Incoming::EnableRequest(_))
    ));
}

#[test]
fn enable_twice_is_failed_unexpected_request_in_the_request_namespace() {
    let (_client, mut server) = manual_pair();
    let err = server
        .handle_element(t0(), xml("<enable xmlns='urn:xmpp:sm:2'/>"))
        .expect_err("second enable");
    assert_eq!(
        err,
        Error::Peer(PeerError::EnableTwice { ns: Namespace::Sm2 })
    );
    assert_eq!(
        err.answer(),
        Some(failed_unexpected_request(Namespace::Sm2))
    );
    assert!(!err.is_fatal());
    assert!(server.is_enabled(), "the stream goes on");
}

#[test]
fn enable_while_an_enable_is_pending_is_refused() {
    let mut server = bound_server(manual_server());
    let enable = xml("<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
    assert!(matches!(
        server.handle_element(t0(), enable.clone()),
        Ok(Incoming::EnableRequest(_))
    ));
    assert_eq!(
        server.handle_element(t0(), enable),
        Err(Error::Peer(PeerError::EnableTwice { ns: Namespace::Sm3 }))
    );
}

#[test]
fn resume_after_bind_is_failed_unexpected_request() {
    let mut server = bound_server(manual_server());
    let err = server
        .handle_element(
            t0(),
            xml("<resume xmlns='urn:xmpp:sm:3' previd='abc' h='0'/>"),
        )
        .expect_err("after bind");
    assert_eq!(
        err,
        Error::Peer(PeerError::ResumeAfterBind { ns: Namespace::Sm3 })
    );
    assert_eq!(
        err.answer(),
        Some(failed_unexpected_request(Namespace::Sm3))
    );
    assert!(!err.is_fatal());
}

#[test]
fn early_ack_request_is_reported_not_fatal() {
    // 1.6.3 forbids no SM element by state; Prosody ignores an early <r/>.
    let mut server = bound_server(manual_server());
    let err = server
        .handle_element(t0(), xml("<r xmlns='urn:xmpp:sm:3'/>"))
        .expect_err("SM is off");
    assert!(matches!(
        err,
        Error::Peer(PeerError::Unexpected { element: "r", .. })
    ));
    assert_eq!(err.answer(), None);
    assert!(!err.is_fatal());
    assert!(sent(&mut server).is_empty());
}
