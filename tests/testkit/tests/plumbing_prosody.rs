//! The plumbing alone against Debian's Prosody: SASL PLAIN, restart, bind, a message to self,
//! and a wrong password rejected; the same with SASL2 and Bind2 (mod_sasl2, mod_sasl2_bind2).
//! Stream management is exercised in `tests/sm_prosody.rs`.

use std::time::Duration;

use jid::BareJid;
use minidom::Element;
use xmpp_tether_testkit::client::{ClientError, Connection, Sasl2Login};
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

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn sasl2_with_bind2_then_message_to_self() {
    let prosody = Prosody::start(
        &ProsodyOptions::default()
            .with_sasl2()
            .account("alice", "secret"),
    )
    .unwrap_or_else(|e| panic!("starting prosody: {e}"));
    let jid = BareJid::new(&format!("alice@{DOMAIN}")).unwrap();
    let login =
        Sasl2Login::new("3f2b8c1d-5e6a-4b7c-8d9e-0a1b2c3d4e5f").with_bind2(Some("plumbing"));
    let (mut conn, success) =
        Connection::login_sasl2(prosody.c2s_addr(), &jid, "secret", &login, T)
            .unwrap_or_else(|e| panic!("SASL2 login: {e}\n{}", prosody.log_tail(40)));
    assert!(success.bound, "{:?}", success.success);
    let full = success.full_jid().expect("Bind2 bound a resource");
    assert!(full.resource().as_str().starts_with("plumbing~"), "{full}");
    assert!(
        success.features.has_child("sm", "urn:xmpp:sm:3"),
        "stream management offered after SASL2: {:?}",
        success.features
    );

    let msg = xmpp_tether_testkit::stanza::chat(&full, "ping over SASL2");
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
        Some("ping over SASL2")
    );
    conn.close();

    let wrong = Connection::login_sasl2(prosody.c2s_addr(), &jid, "wrong", &login, T);
    assert!(
        matches!(wrong, Err(ClientError::AuthFailed(_))),
        "{wrong:?}"
    );
}
