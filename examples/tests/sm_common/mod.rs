//! What the stream-management tests against the example server (`server_sessions.rs`,
//! `server_cluster.rs`) share: logging in as a test account, enabling and resuming with the
//! testkit's `SmDriver`, and counting bodies.

use std::collections::BTreeMap;
use std::time::Duration;

use jid::BareJid;
use minidom::Element;
use xmpp_sm::{ClientConfig, ClientEvent};
use xmpp_tether_testkit::client::{Connection, SmDriver};
use xmpp_tether_testkit::example_server::ExampleServer;
use xmpp_tether_testkit::xml::StreamEvent;
use xmpp_tether_testkit::{deadline_in, remaining};

/// Bound on every single wait.
pub(crate) const T: Duration = Duration::from_secs(15);

/// A PLAIN login as `user` (password `{user}-pass`) on a new connection.
pub(crate) fn login(server: &ExampleServer, user: &str) -> (Connection, Element) {
    let bare = BareJid::new(&format!("{user}@localhost")).expect("a test JID");
    Connection::login(server.addr(), &bare, &format!("{user}-pass"), T)
        .unwrap_or_else(|e| panic!("{user}'s login: {e}\n{}", server.transcript()))
}

/// Our client as `user@localhost/resource`, bound and enabled.
pub(crate) fn enabled(server: &ExampleServer, user: &str, resource: &str) -> SmDriver {
    let (mut conn, features) = login(server, user);
    conn.bind(Some(resource), T).expect("bound");
    let mut driver = SmDriver::new(ClientConfig::default());
    driver.attach(conn);
    driver.enable(&features, T).expect("enabled");
    driver
}

/// Resumes `driver`'s session on a new connection to `server`.
pub(crate) fn resume(server: &ExampleServer, user: &str, driver: &mut SmDriver) -> ClientEvent {
    let (conn, _) = login(server, user);
    driver.attach(conn);
    driver
        .resume(T)
        .unwrap_or_else(|e| panic!("{user}'s resume: {e}\n{}", server.transcript()))
}

/// Each body once: what exactly-once delivery of `bodies` counts to.
pub(crate) fn once(bodies: &[&str]) -> BTreeMap<String, usize> {
    bodies.iter().map(|b| ((*b).to_owned(), 1)).collect()
}

/// Everything the server writes on `conn` until the stream ends (at most `timeout`), read
/// raw: nothing is handed to a stream-management machine.
pub(crate) fn drain_raw(conn: &mut Connection, timeout: Duration) -> (Vec<Element>, bool) {
    let deadline = deadline_in(timeout);
    let mut elements = Vec::new();
    while let Some(left) = remaining(deadline) {
        match conn.recv(left) {
            Ok(Some(StreamEvent::Element(el))) => elements.push(el),
            Ok(Some(StreamEvent::Header(_)) | None) => {}
            Ok(Some(_)) | Err(_) => return (elements, true),
        }
    }
    (elements, false)
}
