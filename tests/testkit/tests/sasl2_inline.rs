//! The `SmDriver`'s SASL2 + Bind2 logins with inline stream management, against a scripted
//! peer on 127.0.0.1 that answers with `xmpp_sm`'s own `Server` (Prosody 0.12 never answers
//! inline requests, so `tests/sm_prosody.rs` can only show the recovery): an inline enable in
//! Bind2, an inline resume that retransmits, the XEP-0198 §9.2.1 fallback enable after a
//! refused resume, and a peer that never answers (the request deadline fires).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use jid::{BareJid, FullJid};
use minidom::Element;
use rand_core::SeedableRng;
use xmpp_sm::elements::inline;
use xmpp_sm::{
    ClientConfig, ClientEvent, HandBackReason, Incoming, Placement, Request, ServerConfig,
    SessionStore,
};
use xmpp_tether_testkit::client::{
    InlineSm, NS_BIND2, NS_SASL2, Sasl2Login, Sasl2Success, SmDriver, SmError,
};
use xmpp_tether_testkit::now;
use xmpp_tether_testkit::stanza::{body_counts, chat};
use xmpp_tether_testkit::xml::{
    NS_STREAMS, StreamEvent, StreamHeader, StreamReader, StreamWriter, XmlError,
};

const T: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_millis(300);
const AGENT: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

/// What the scripted peer does with one connection.
#[derive(Debug, Clone, Copy)]
enum Peer {
    /// Answers like a server with working inline stream management.
    Answers,
    /// Reads `<authenticate/>` and never answers, like Prosody 0.12 with mod_sasl2_sm.
    Silent,
}

/// Serves one connection per entry of `script`, in order, each with `store`.
fn spawn_peer(store: SessionStore<()>, script: Vec<Peer>) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        for peer in script {
            let (socket, _) = listener.accept().unwrap();
            serve(&store, socket, peer, &mut rng);
        }
    });
    (addr, handle)
}

fn features_before_auth() -> Element {
    let bind = Element::builder("bind", NS_BIND2)
        .append(
            Element::builder("inline", NS_BIND2)
                .append(inline::bind2_inline_feature())
                .build(),
        )
        .build();
    let inline_features = Element::builder("inline", NS_SASL2)
        .append(bind)
        .append(inline::sasl2_inline_feature())
        .build();
    let authentication = Element::builder("authentication", NS_SASL2)
        .append(
            Element::builder("mechanism", NS_SASL2)
                .append("PLAIN")
                .build(),
        )
        .append(inline_features)
        .build();
    Element::builder("features", NS_STREAMS)
        .append(authentication)
        .build()
}

fn next_element(reader: &mut StreamReader<TcpStream>) -> Option<Element> {
    loop {
        match reader.next_event() {
            Ok(StreamEvent::Element(el)) => return Some(el),
            Ok(StreamEvent::Header(_)) | Err(XmlError::Timeout) => {}
            Ok(_) | Err(_) => return None,
        }
    }
}

fn serve(
    store: &SessionStore<()>,
    socket: TcpStream,
    peer: Peer,
    rng: &mut rand_chacha::ChaCha20Rng,
) {
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut reader = StreamReader::new(socket.try_clone().unwrap());
    let mut writer = StreamWriter::new(socket);
    writer
        .write_header(&StreamHeader::server("localhost", "s1"))
        .unwrap();
    writer.write_element(&features_before_auth()).unwrap();
    let Some(auth) = next_element(&mut reader) else {
        return;
    };
    assert!(auth.is("authenticate", NS_SASL2), "{auth:?}");
    if let Peer::Silent = peer {
        // Until the client gives up and closes.
        while next_element(&mut reader).is_some() {}
        return;
    }

    let owner: BareJid = "alice@localhost".parse().unwrap();
    let mut server = store.stream(owner, (), rng);
    if let Some(resume) = inline::resume_in_authenticate(&auth) {
        let _ = server.handle_inline(now(), resume.clone(), Placement::Sasl2);
    }
    let bind = auth.get_child("bind", NS_BIND2);
    let mut jid = None;
    if let (Some(bind), false) = (bind, server.is_resumed()) {
        let tag = bind
            .get_child("tag", NS_BIND2)
            .map_or("none".into(), Element::text);
        let full: FullJid = format!("alice@localhost/{tag}~1").parse().unwrap();
        server.handle_bind(now(), full.clone()).unwrap();
        jid = Some(full);
        if let Some(enable) = inline::enable_in_bind(bind) {
            let _ = server.handle_inline(now(), enable.clone(), Placement::Bind2);
        }
    }
    let mut success = Element::bare("success", NS_SASL2);
    let mut bound = Element::bare("bound", NS_BIND2);
    let mut after = Vec::new();
    while let Some(t) = server.poll_transmit() {
        match t.placement() {
            Placement::Sasl2 => success.append_child(t.into_element()),
            Placement::Bind2 => bound.append_child(t.into_element()),
            _ => {
                after.push(t.into_element());
                continue;
            }
        };
    }
    if jid.is_some() {
        success.append_child(bound);
    }
    let identifier = jid.map_or_else(
        || {
            server
                .resource()
                .map_or("alice@localhost".into(), ToString::to_string)
        },
        |j| j.to_string(),
    );
    success.append_child(
        Element::builder("authorization-identifier", NS_SASL2)
            .append(identifier)
            .build(),
    );
    writer.write_element(&success).unwrap();
    let features = Element::builder("features", NS_STREAMS)
        .append_all(server.features())
        .build();
    writer.write_element(&features).unwrap();
    for el in after {
        writer.write_element(&el).unwrap();
    }

    // Echo every stanza to its sender until the connection is gone.
    loop {
        let Some(el) = next_element(&mut reader) else {
            server.handle_disconnect(now());
            return;
        };
        if let Ok(Incoming::Stanza(stanza)) = server.handle_element(now(), el) {
            server.send(now(), stanza).unwrap();
        }
        while let Some(t) = server.poll_transmit() {
            if writer.write_element(&t).is_err() {
                server.handle_disconnect(now());
                return;
            }
        }
    }
}

fn driver() -> SmDriver {
    let mut config = ClientConfig::default();
    config.request_timeout = Some(REQUEST_TIMEOUT);
    SmDriver::new(config)
}

fn alice() -> BareJid {
    "alice@localhost".parse().unwrap()
}

fn login(
    addr: SocketAddr,
    d: &mut SmDriver,
    inline: InlineSm,
    bind2: bool,
) -> Result<Sasl2Success, SmError> {
    let mut login = Sasl2Login::new(AGENT);
    if bind2 {
        login = login.with_bind2(Some("phone"));
    }
    d.login_sasl2(addr, &alice(), "pw", &login, inline, T)
}

fn full_jid(success: &Sasl2Success) -> FullJid {
    success
        .full_jid()
        .unwrap_or_else(|| panic!("no full JID in {:?}", success.success))
}

#[test]
fn inline_enable_then_inline_resume_retransmits_once() {
    let store = SessionStore::new(ServerConfig::default());
    let (addr, peer) = spawn_peer(store.clone(), vec![Peer::Answers, Peer::Answers]);
    let mut a = driver();

    // <enable/> inside Bind2 <bind/>: <enabled/> comes back inside <bound/>.
    let me = full_jid(&login(addr, &mut a, InlineSm::Enable, true).unwrap());
    assert_eq!(me.to_string(), "alice@localhost/phone~1");
    assert!(
        a.sm().is_enabled() && a.sm().id().is_some(),
        "{:?}",
        a.events()
    );
    a.send(chat(&me, "m1")).unwrap();
    a.pump_until(T, "m1 echoed", |d| !d.stanzas().is_empty())
        .unwrap();
    a.request_ack().unwrap();
    a.pump_until(T, "m1 acknowledged", |d| d.sm().unacked() == 0)
        .unwrap();

    // m2 is lost with the link; <resume/> inside <authenticate/> (with the §9.2.1 fallback
    // <enable/>, unused): <resumed/> inside <success/>, and m2 retransmitted.
    a.send_lost(chat(&me, "m2")).unwrap();
    a.cut();
    let success = login(addr, &mut a, InlineSm::ResumeOrEnable, true).unwrap();
    assert!(
        !success.bound,
        "a resumed stream is never bound: {:?}",
        success.success
    );
    assert_eq!(full_jid(&success), me, "the session's JID, restored");
    assert!(
        a.events().iter().any(|e| matches!(
            e,
            ClientEvent::Resumed {
                retransmitted: 1,
                ..
            }
        )),
        "{:?}",
        a.events()
    );
    a.pump_until(T, "m2 echoed", |d| d.stanzas().len() >= 2)
        .unwrap();
    a.request_ack().unwrap();
    a.pump_until(T, "m2 acknowledged", |d| d.sm().unacked() == 0)
        .unwrap();
    let seen = body_counts(&a.take_stanzas());
    assert_eq!(seen.get("m1"), Some(&1));
    assert_eq!(seen.get("m2"), Some(&1));
    assert!(
        !a.events()
            .iter()
            .any(|e| matches!(e, ClientEvent::HandedBack { .. }))
    );
    a.close().unwrap();
    peer.join().unwrap();
}

#[test]
fn refused_inline_resume_falls_back_to_the_inline_enable() {
    // A first store issues the session; a second one (a restarted server) knows nothing.
    let first = SessionStore::new(ServerConfig::default());
    let (addr, peer) = spawn_peer(first, vec![Peer::Answers]);
    let mut a = driver();
    let me = full_jid(&login(addr, &mut a, InlineSm::Enable, true).unwrap());
    a.send_lost(chat(&me, "m1")).unwrap();
    a.cut();
    peer.join().unwrap();

    let second = SessionStore::new(ServerConfig::default());
    let (addr, peer) = spawn_peer(second, vec![Peer::Answers]);
    login(addr, &mut a, InlineSm::ResumeOrEnable, true).unwrap();
    let events = a.events();
    let failed = events
        .iter()
        .position(|e| matches!(e, ClientEvent::ResumeFailed { .. }))
        .unwrap_or_else(|| panic!("{events:?}"));
    assert!(
        events[failed..].iter().any(|e| matches!(
            e,
            ClientEvent::HandedBack { reason: HandBackReason::ResumeFailed, stanzas }
                if stanzas.len() == 1
        )),
        "m1 handed back: {events:?}"
    );
    assert!(
        matches!(
            events.last(),
            Some(ClientEvent::Enabled { id: Some(_), .. })
        ),
        "the fallback <enable/> took effect: {events:?}"
    );
    assert!(a.sm().is_enabled());
    a.close().unwrap();
    peer.join().unwrap();
}

#[test]
fn unanswered_inline_resume_times_out_and_the_session_stays_resumable() {
    let store = SessionStore::new(ServerConfig::default());
    let (addr, peer) = spawn_peer(
        store.clone(),
        vec![Peer::Answers, Peer::Silent, Peer::Answers],
    );
    let mut a = driver();
    let me = full_jid(&login(addr, &mut a, InlineSm::Enable, true).unwrap());
    a.send_lost(chat(&me, "m1")).unwrap();
    a.cut();

    match login(addr, &mut a, InlineSm::Resume, false) {
        Err(SmError::RequestTimedOut(Request::Resume)) => {}
        other => panic!("expected the request deadline, got {other:?}"),
    }
    assert!(a.connection().is_none(), "the driver closed the connection");
    assert!(a.sm().can_resume());
    assert_eq!(a.sm().unacked(), 1);

    // A login without inline SM and the top-level <resume/>.
    let success = login(addr, &mut a, InlineSm::Off, false).unwrap();
    assert!(
        !success.bound && success.full_jid().is_none(),
        "{:?}",
        success.success
    );
    let resumed = a.resume(T).unwrap();
    assert!(
        matches!(
            resumed,
            ClientEvent::Resumed {
                retransmitted: 1,
                ..
            }
        ),
        "{resumed:?}"
    );
    a.pump_until(T, "m1 echoed", |d| !d.stanzas().is_empty())
        .unwrap();
    a.close().unwrap();
    peer.join().unwrap();
}

#[test]
fn an_inline_enable_needs_bind2() {
    // Refused before connecting: nothing listens on this address.
    let nowhere: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut a = driver();
    let outcome = login(nowhere, &mut a, InlineSm::Enable, false);
    assert!(
        matches!(outcome, Err(SmError::Misplaced(Placement::Bind2))),
        "{outcome:?}"
    );
    assert!(!a.sm().is_enabled() && a.events().is_empty());
}
