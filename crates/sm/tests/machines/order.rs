//! Order rules (XEP-0198 §3, §5): what may come when, and what is refused.

use super::*;

#[test]
fn enable_before_bind_is_failed_unexpected_request_and_recoverable() {
    let mut world = World::new(ServerConfig::default());
    let mut client = Client::new(ClientConfig::default());
    let mut server = world.stream("a", juliet());
    client
        .enable(t0(), Namespace::Sm3, Placement::TopLevel)
        .expect("enable");
    let enable = client.poll_transmit().expect("<enable/>").into_element();
    let err = server
        .handle_element(t0(), enable)
        .expect_err("before bind");
    assert_eq!(
        err,
        Error::Peer(PeerError::EnableBeforeBind { ns: Namespace::Sm3 })
    );
    assert!(!err.is_fatal());
    let Error::Peer(peer) = &err else {
        panic!("a peer error");
    };
    let answer = peer.answer(Placement::TopLevel);
    assert_eq!(answer, failed_unexpected_request(Namespace::Sm3));
    // The answer is queued, exactly as `answer` describes it.
    let queued = sent(&mut server);
    assert_eq!(queued, vec![answer.into_element()]);
    // The client learns it failed; the server still accepts <enable/> after binding.
    let failed = queued.into_iter().next().expect("one element");
    assert_eq!(client.handle_element(t0(), failed), Ok(Incoming::Handled));
    assert_eq!(
        events(&mut client),
        vec![ClientEvent::EnableFailed {
            condition: Some(DefinedCondition::UnexpectedRequest)
        }]
    );
    server.handle_bind(t0(), balcony()).expect("bind");
    client
        .enable(t0(), Namespace::Sm3, Placement::TopLevel)
        .expect("enable again");
    let _ = client_to_server(t0(), &mut client, &mut server);
    assert!(server.is_enabled());
}

#[test]
fn enable_twice_is_failed_unexpected_request_in_the_request_namespace() {
    let (_world, _client, mut server) = manual_pair();
    let err = server
        .handle_element(t0(), xml("<enable xmlns='urn:xmpp:sm:2'/>"))
        .expect_err("second enable");
    assert_eq!(
        err,
        Error::Peer(PeerError::EnableTwice { ns: Namespace::Sm2 })
    );
    assert_eq!(
        sent(&mut server),
        vec![failed_unexpected_request(Namespace::Sm2).into_element()]
    );
    assert!(!err.is_fatal());
    assert!(server.is_enabled(), "the stream goes on");
}

#[test]
fn enable_while_an_enable_is_pending_is_refused() {
    let mut config = manual_server();
    config.enable = EnablePolicy::Ask;
    let mut world = World::new(config);
    let mut server = world.bound("a");
    let enable = xml("<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
    assert_eq!(
        server.handle_element(t0(), enable.clone()),
        Ok(Incoming::Handled)
    );
    assert!(matches!(
        events(&mut server)[..],
        [ServerEvent::EnableRequested(_)]
    ));
    assert_eq!(
        server.handle_element(t0(), enable),
        Err(Error::Peer(PeerError::EnableTwice { ns: Namespace::Sm3 }))
    );
}

#[test]
fn resume_after_bind_is_failed_unexpected_request() {
    let mut world = World::new(manual_server());
    let mut server = world.bound("a");
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
        sent(&mut server),
        vec![failed_unexpected_request(Namespace::Sm3).into_element()]
    );
    assert!(!err.is_fatal());
}

#[test]
fn one_resume_attempt_per_stream() {
    let mut world = World::new(manual_server());
    let mut server = world.stream("a", juliet());
    let resume = xml("<resume xmlns='urn:xmpp:sm:3' previd='abc' h='0'/>");
    assert_eq!(
        server.handle_element(t0(), resume.clone()),
        Ok(Incoming::Handled)
    );
    assert!(matches!(
        events(&mut server)[..],
        [ServerEvent::ResumeRefused { .. }]
    ));
    let _ = sent(&mut server);
    assert_eq!(
        server.handle_element(t0(), resume),
        Err(Error::Peer(PeerError::ResumeTwice { ns: Namespace::Sm3 }))
    );
    // A refused resumption leaves the stream free to bind and enable.
    server.handle_bind(t0(), balcony()).expect("bind");
    let enable = Enable::new(Namespace::Sm3).with_resume();
    assert_eq!(
        server.handle_element(t0(), enable.into()),
        Ok(Incoming::Handled)
    );
    assert!(server.is_enabled());
}

#[test]
fn early_ack_request_is_ignored_not_fatal() {
    // 1.6.3 forbids no SM element by state; Prosody ignores an early <r/>.
    let mut world = World::new(manual_server());
    let mut server = world.bound("a");
    assert_eq!(
        server.handle_element(t0(), xml("<r xmlns='urn:xmpp:sm:3'/>")),
        Ok(Incoming::Ignored {
            element: "r",
            state: "stream management is off"
        })
    );
    assert!(sent(&mut server).is_empty());
    assert!(!server.is_closed());
}

#[test]
fn a_client_sends_no_request_before_enabled() {
    // The count policy is met while <enable/> is unanswered; the <r/> waits for <enabled/>
    // (a server deciding on the enable ignores an early one, which would then time out).
    let mut config = manual_client();
    config.ack.after_stanzas = Some(1);
    let mut client = Client::new(config);
    client
        .enable(t0(), Namespace::Sm3, Placement::TopLevel)
        .expect("enable");
    client.send(t0(), msg(1)).expect("send while enabling");
    let wire = sent(&mut client);
    assert_eq!(wire.len(), 2, "<enable/> and the stanza, no <r/>: {wire:?}");
    let enabled = xml("<enabled xmlns='urn:xmpp:sm:3'/>");
    assert_eq!(client.handle_element(t0(), enabled), Ok(Incoming::Handled));
    assert_eq!(sent(&mut client), vec![xml("<r xmlns='urn:xmpp:sm:3'/>")]);
}
