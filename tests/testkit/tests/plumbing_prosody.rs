//! The plumbing alone against Debian's Prosody: SASL PLAIN, restart, bind, a message to self,
//! and a wrong password rejected. Stream management is exercised in the facade's
//! `tests/sm_prosody.rs`.

use std::time::Duration;

use jid::BareJid;
use minidom::Element;
use xmpp_tether_testkit::client::{ClientError, Connection};
use xmpp_tether_testkit::prosody::{DOMAIN, Prosody, ProsodyOptions};
use xmpp_tether_testkit::xml::NS_CLIENT;

const T: Duration = Duration::from_secs(10);

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn login_bind_and_message_to_self() {
    let prosody = Prosody::start(&ProsodyOptions::default().account("alice", "secret"))
        .unwrap_or_else(|e| panic!("starting prosody: {e}"));
    let jid = BareJid::new(&format!("alice@{DOMAIN}")).unwrap();
    let (mut conn, features) = Connection::login(prosody.c2s_addr(), &jid, "secret", T)
        .unwrap_or_else(|e| panic!("login: {e}\n{}", prosody.log_tail(40)));
    assert!(
        features.has_child("sm", "urn:xmpp:sm:3"),
        "no <sm/> in {features:?}"
    );
    let full = conn.bind(Some("plumbing"), T).unwrap();
    assert_eq!(full.to_string(), format!("alice@{DOMAIN}/plumbing"));

    let body = "ping through prosody";
    let msg: Element = format!(
        "<message xmlns='{NS_CLIENT}' to='{full}' type='chat' id='m1'><body>{body}</body></message>"
    )
    .parse()
    .unwrap();
    conn.send(&msg).unwrap();
    let back = loop {
        let el = conn.recv_element(T, "the message back").unwrap();
        if el.is("message", NS_CLIENT) {
            break el;
        }
    };
    assert_eq!(
        back.get_child("body", NS_CLIENT)
            .map(Element::text)
            .as_deref(),
        Some(body)
    );
    conn.close();

    let wrong = Connection::login(prosody.c2s_addr(), &jid, "wrong", T);
    assert!(
        matches!(wrong, Err(ClientError::AuthFailed(_))),
        "{wrong:?}"
    );
}
