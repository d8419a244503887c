//! The XEP-0357 side of the push service: an [`AppServer`] over a node store kept in a JSON
//! file, and what it prints (or hands to a program) for each accepted notification.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::SystemTime;

use xmpp_tether::jid::Jid;
use xmpp_tether::minidom::Element;
use xmpp_tether::push0::{
    AppEvent, AppIncoming, AppServer, AppServerConfig, Enable, NodeRecord, NodeStore,
    NodeStoreConfig, Now, Received,
};
use xmpp_tether::rand_core::CryptoRng;

use crate::Error;

/// The nodes this service issued, persisted as a JSON array of records.
pub(crate) struct Store {
    path: PathBuf,
}

impl Store {
    pub(crate) fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
        }
    }

    /// The store, read back and checked (an absent file is an empty store).
    pub(crate) fn load(&self) -> Result<NodeStore, Error> {
        let records: Vec<NodeRecord> = match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("{}: {e}", self.path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("{}: {e}", self.path.display()).into()),
        };
        Ok(NodeStore::restore(NodeStoreConfig::default(), records)
            .map_err(|e| format!("{}: {e}", self.path.display()))?)
    }

    /// When the file was last changed (`None`: it does not exist).
    pub(crate) fn modified(&self) -> Option<SystemTime> {
        std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok()
    }

    /// Writes the store (to a temporary file first, so a crash never leaves half a file).
    pub(crate) fn save(&self, store: &NodeStore) -> Result<(), Error> {
        let json = serde_json::to_vec_pretty(&store.records())?;
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, &self.path)?;
        Ok(())
    }
}

/// `create`: issues a node for `owner` and prints what the owner's client needs.
pub(crate) fn create(
    store: &Store,
    service: &Jid,
    owner: &str,
    now: Now,
    rng: &mut impl CryptoRng,
) -> Result<(), Error> {
    let mut app = AppServer::with_store(service.clone(), AppServerConfig::default(), store.load()?);
    let credentials = app.create_node(now, rng, owner);
    while let Some(event) = app.poll_event() {
        if let AppEvent::NodeEvicted(gone) = event {
            eprintln!(
                "evicted node {} of {:?} to make room",
                gone.node, gone.owner
            );
        }
    }
    store.save(app.store())?;
    let enable = Enable::new(service.clone(), credentials.node.clone())
        .with_secret(credentials.secret.as_str())
        .to_iq("push-enable");
    println!("node   {}", credentials.node);
    println!("secret {}", credentials.secret.as_str());
    println!("enable {}", String::from(&enable));
    Ok(())
}

/// `list`: the nodes, least recently used first per owner.
pub(crate) fn list(store: &Store) -> Result<(), Error> {
    for r in store.load()?.records() {
        println!("{}  owner={:?}  publishes={}", r.node, r.owner, r.publishes);
    }
    Ok(())
}

/// `retire`: removes a node; later publishes to it are answered `item-not-found`.
pub(crate) fn retire(store: &Store, service: &Jid, node: &str, now: Now) -> Result<(), Error> {
    let mut app = AppServer::with_store(service.clone(), AppServerConfig::default(), store.load()?);
    if !app.retire_node(now, node, None) {
        return Err(format!("no node {node:?}").into());
    }
    store.save(app.store())
}

/// The running service: the app server, the store file it follows, and where to forward.
///
/// The store file is the source of truth: `create` and `retire` edit it while the service
/// runs, and the service reloads it when it changes. Use counts and last-use times live in
/// memory only (the service never writes the file, so it cannot undo an edit).
pub(crate) struct Service {
    app: AppServer,
    store: Store,
    loaded: Option<SystemTime>,
    exec: Option<String>,
}

impl Service {
    pub(crate) fn new(jid: Jid, store: Store, exec: Option<String>) -> Result<Self, Error> {
        let loaded = store.modified();
        let nodes = store.load()?;
        eprintln!("push0: {} node(s) in {}", nodes.len(), store.path.display());
        Ok(Self {
            app: AppServer::with_store(jid, AppServerConfig::default(), nodes),
            store,
            loaded,
            exec,
        })
    }

    /// Handles one stanza; returns the stanzas to write, or `None` when it is not XEP-0357
    /// business.
    pub(crate) fn handle(&mut self, now: Now, stanza: &Element) -> Option<Vec<Element>> {
        match self.app.handle_stanza(now, stanza) {
            Ok(AppIncoming::NotOurs) => return None,
            Ok(_) => {}
            Err(e) => eprintln!(
                "push0: refused a publish from {:?}: {e}",
                stanza.attr("from")
            ),
        }
        let out = std::iter::from_fn(|| self.app.poll_transmit())
            .map(|t| t.element)
            .collect();
        while let Some(event) = self.app.poll_event() {
            match event {
                AppEvent::Notification(n) => self.forward(&n),
                AppEvent::NodeEvicted(gone) => eprintln!("push0: evicted node {}", gone.node),
                _ => {}
            }
        }
        Some(out)
    }

    /// Reloads the store file if it changed since it was read (a `create` or `retire` ran).
    /// A file that does not read back is reported and the nodes in memory are kept.
    pub(crate) fn refresh(&mut self) {
        let modified = self.store.modified();
        if modified == self.loaded {
            return;
        }
        match self.store.load() {
            Ok(nodes) => {
                eprintln!("push0: reloaded {} node(s)", nodes.len());
                let jid = self.app.jid().clone();
                self.app = AppServer::with_store(jid, AppServerConfig::default(), nodes);
                self.loaded = modified;
            }
            Err(e) => eprintln!("push0: keeping the nodes in memory: {e}"),
        }
    }

    /// Prints the summary as one JSON line, and hands it to `--exec` on stdin.
    fn forward(&self, n: &Received) {
        let s = n.summary.clone().unwrap_or_default();
        let line = serde_json::json!({
            "node": n.node,
            "owner": n.owner,
            "publisher": n.publisher.to_string(),
            "message_count": s.message_count,
            "pending_subscription_count": s.pending_subscription_count,
            "last_message_sender": s.last_message_sender.map(|j| j.to_string()),
            "last_message_body": s.last_message_body,
            "payloads": n.payloads.len(),
        })
        .to_string();
        println!("{line}");
        let Some(program) = &self.exec else {
            return;
        };
        let child = std::process::Command::new(program)
            .stdin(Stdio::piped())
            .spawn();
        match child {
            Ok(mut child) => {
                let stdin = child.stdin.take();
                // Feed and reap it on a thread: the service does not wait for delivery.
                std::thread::spawn(move || {
                    if let Some(mut stdin) = stdin {
                        let _ = writeln!(stdin, "{line}");
                    }
                    let _ = child.wait();
                });
            }
            Err(e) => eprintln!("push0: cannot run {program:?}: {e}"),
        }
    }
}
