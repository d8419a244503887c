//! What the cluster tests share: a redis-server of their own and two example server nodes
//! on loopback sharing it.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};

use std::time::Duration;

use minidom::Element;
use xmpp_sm::{ClientEvent, SmId};
use xmpp_tether_testkit::client::{Connection, SmDriver};
use xmpp_tether_testkit::example_server::{ExampleServer, ServerOptions};
use xmpp_tether_testkit::process::{
    ChildGuard, PeerError, RunDir, free_port, wait_for_port, which,
};
use xmpp_tether_testkit::stanza::chat;

use xmpp_tether_testkit::xml::StreamEvent;
use xmpp_tether_testkit::{deadline_in, remaining};

use crate::sm_common::{T, enabled, login};

/// A redis-server of our own: no config file, no persistence, killed by pid when dropped.
pub(crate) struct Redis {
    // Field order: the process stops before its directory is removed.
    _child: ChildGuard,
    _dir: RunDir,
    port: u16,
}

impl Redis {
    fn start() -> Result<Self, PeerError> {
        let program = which("redis-server").ok_or_else(|| PeerError::Missing {
            program: "redis-server".into(),
            hint: "run ./scripts/setup-peers.sh (Debian's redis-server)".into(),
        })?;
        let dir = RunDir::new("redis")?;
        let port = free_port()?;
        let mut cmd = Command::new(program);
        cmd.current_dir(dir.path())
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = ChildGuard::spawn("redis-server", &mut cmd)?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        wait_for_port(addr, T, || match child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(PeerError::Failed {
                what: "redis-server".into(),
                status,
                output: String::new(),
            }),
        })?;
        Ok(Self {
            _child: child,
            _dir: dir,
            port,
        })
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

/// Redis and two nodes, `a` and `b`, with the same accounts.
pub(crate) struct Cluster {
    pub(crate) a: ExampleServer,
    pub(crate) b: ExampleServer,
    _redis: Redis,
}

pub(crate) fn cluster() -> Cluster {
    cluster_of(&["alice", "bob"])
}

/// Redis and two nodes with these accounts (password: `USER-pass`).
pub(crate) fn cluster_of(users: &[&str]) -> Cluster {
    cluster_with(users, |opts| opts)
}

/// [`cluster_of`], each node's options passed through `more` first.
pub(crate) fn cluster_with(
    users: &[&str],
    more: impl Fn(ServerOptions) -> ServerOptions,
) -> Cluster {
    let redis = Redis::start().unwrap_or_else(|e| panic!("starting redis-server: {e}"));
    let node = |name: &str| {
        let mut opts = more(ServerOptions::default());
        for user in users {
            opts = opts.account(user, &format!("{user}-pass"));
        }
        let opts = opts
            .arg("--redis")
            .arg(&redis.url())
            .arg("--node")
            .arg(name);
        ExampleServer::start(&opts).unwrap_or_else(|e| panic!("starting node {name}: {e}"))
    };
    let (a, b) = (node("a"), node("b"));
    Cluster {
        a,
        b,
        _redis: redis,
    }
}

/// The driver's SM-ID.
pub(crate) fn sm_id(driver: &SmDriver) -> SmId {
    driver
        .events()
        .iter()
        .find_map(|e| match e {
            ClientEvent::Enabled { id: Some(id), .. } => Some(id.clone()),
            _ => None,
        })
        .expect("a resumable session")
}

/// `user` logs in on `node` as `resource` with initial presence: the messages that arrive
/// within `wait` (what waited offline for the account).
pub(crate) fn messages_at_login(
    node: &ExampleServer,
    user: &str,
    resource: &str,
    wait: Duration,
) -> Vec<Element> {
    let (mut conn, _) = login(node, user);
    conn.bind(Some(resource), T).expect("bound");
    let presence = Element::builder("presence", "jabber:client").build();
    conn.send(&presence).expect("sent");
    let mut got = Vec::new();
    let until = deadline_in(wait);
    while remaining(until).is_some() {
        if let Ok(Some(StreamEvent::Element(el))) = conn.recv(Duration::from_millis(200))
            && el.name() == "message"
        {
            got.push(el);
        }
    }
    got
}

/// Bob on `b`, Alice on `a`, talking; then Alice's client gives its connection up while it
/// stays open, and Bob's `bodies` are written into it by node `a` (she never acknowledges
/// them). Returns both drivers, what Alice got so far, and her old connection.
pub(crate) fn alice_away_on_a(
    c: &Cluster,
    bodies: &[&str],
) -> (SmDriver, SmDriver, Vec<Element>, Connection) {
    let mut bob = enabled(&c.b, "bob", "desk");
    let mut alice = enabled(&c.a, "alice", "phone");
    alice.send(chat("bob@localhost/desk", "a1")).unwrap();
    bob.pump_until(T, "a1 at bob", |d| d.stanzas().len() == 1)
        .unwrap_or_else(|e| panic!("{e}\n{}", c.b.transcript()));
    bob.send(chat("alice@localhost/phone", "b1")).unwrap();
    alice
        .pump_until(T, "b1 at alice", |d| d.stanzas().len() == 1)
        .unwrap_or_else(|e| panic!("{e}\n{}", c.a.transcript()));
    let at_alice = alice.take_stanzas();
    let old = alice.abandon().expect("alice had a connection");
    for body in bodies {
        bob.send(chat("alice@localhost/phone", body)).unwrap();
        let written = format!("<body>{body}</body>");
        c.a.wait_for_trace(T, "written to alice's old stream", |l| {
            l.contains(" S: <message ") && l.contains(&written)
        })
        .unwrap();
    }
    (bob, alice, at_alice, old)
}

/// `user` on `node` as `resource`, stream management enabled asking for `max` seconds of
/// resumption.
pub(crate) fn enabled_for(node: &ExampleServer, user: &str, resource: &str, max: u32) -> SmDriver {
    let mut config = xmpp_sm::ClientConfig::default();
    config.max = Some(max);
    let (mut conn, features) = login(node, user);
    conn.bind(Some(resource), T).expect("bound");
    let mut driver = SmDriver::new(config);
    driver.attach(conn);
    driver.enable(&features, T).expect("enabled");
    driver
}
