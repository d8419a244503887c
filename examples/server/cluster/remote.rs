//! Between nodes: which node holds each live stream, stanzas for it published to that node,
//! and the take-over of a stream still open on another node.
//!
//! - **Keys**: `live:{full JID}` the node whose live stream has that JID bound; `stream:{id}`
//!   the node whose live stream holds that SM-ID, each as `NODE#CONNECTION`. Set when a
//!   stream binds, enables or resumes; removed (only if they still name that stream: a newer
//!   stream of the same session, even on the same node, keeps them) when it hibernates or
//!   ends. Node names must not contain `#`.
//! - **Channels**: each node subscribes to `node:{name}` before it accepts clients. A stanza
//!   for a JID live on another node is published there (in the same script that would
//!   otherwise append it to a hibernated record, so a JID is never both); a take-over request
//!   names the SM-ID and the account. Every node also subscribes to `push`, where push
//!   registration changes are announced (`push.rs`).
//! - **Why pub/sub, not streams**: what travels is either a stanza for a stream that is live
//!   right now, or a request to a node that is up right now. `PUBLISH` answers how many
//!   subscribers got it, so "nobody is there" is known at once and the stanza goes down the
//!   ordinary path (a hibernated record, or offline); nothing is left in a backlog for a node
//!   that may never come back, and no consumer group has to be cleaned up after a dead node.
//!   The durable state, the hibernated records, stays in keys.
//! - **Take-over** (XEP-0198 §5 across nodes): a `<resume/>` on node B for a session whose
//!   stream is open on node A makes B publish a request to A; A's stream hibernates at once
//!   (so its unacknowledged stanzas go into the record in Redis), gets the `conflict` stream
//!   error and closes; B claims the record as for any hibernated session, waiting at most
//!   [`HANDOVER`]. If nobody is subscribed at A (it died) or A does not hand over in time
//!   (it hangs, or died half way), B falls back to A's last checkpoint of the live session
//!   (`checkpoint.rs`): resumed like a record, with the gap reported.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use xmpp_tether::jid::{BareJid, FullJid};
use xmpp_tether::sm::{SmId, Unacked};

use super::{Cluster, PREFIX};
use crate::state::{Shared, Signal, lock};

/// How many times a stanza is passed on to the node that now holds its session.
pub(crate) const MAX_HOPS: u8 = 3;

/// How long a node waits for another to hand a live session over.
pub(crate) const HANDOVER: Duration = Duration::from_secs(5);

/// What one node publishes to another.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Remote {
    /// A stanza for a JID whose live stream is on the receiving node.
    Stanza {
        /// Its full JID.
        to: FullJid,
        /// The stanza, with its first-sent time.
        stanza: Unacked,
        /// How many times it was passed on already (its session moved meanwhile).
        #[serde(default)]
        hops: u8,
    },
    /// A `<resume/>` elsewhere wants this session: hibernate it now.
    TakeOver {
        /// The SM-ID.
        id: SmId,
        /// The account that asked (checked against the stream's).
        owner: BareJid,
    },
    /// On the `nodes` channel, to every node: `node` took a change of `jid`'s presence
    /// (see `presence.rs`).
    Presence {
        /// The resource.
        jid: FullJid,
        /// The node that took it (which ignores its own message).
        node: String,
    },
    /// On the `nodes` channel, to every node: `node` changed the account's registrations
    /// (see `push.rs`).
    Push {
        /// Which registry.
        registry: super::push::Kind,
        /// The account.
        account: BareJid,
        /// The node that changed them (which ignores its own message).
        node: String,
    },
}

/// The live streams of this node by SM-ID (owner, connection, its task), for take-over
/// requests, and the SM-ID each connection holds.
#[derive(Default)]
pub(crate) struct Streams {
    by_id: HashMap<SmId, (BareJid, u64, mpsc::UnboundedSender<Signal>)>,
    by_conn: HashMap<u64, SmId>,
}

impl Streams {
    /// Asks connection `conn`'s stream of session `id` to end as taken over.
    pub(super) fn take_over(&self, id: &SmId, conn: u64) {
        if let Some((_, c, signals)) = self.by_id.get(id)
            && *c == conn
        {
            let _ = signals.send(Signal::TakeOver);
        }
    }

    /// The stream holding session `id`: its owner and task.
    fn get(&self, id: &SmId) -> Option<(BareJid, mpsc::UnboundedSender<Signal>)> {
        self.by_id.get(id).map(|(o, _, s)| (o.clone(), s.clone()))
    }

    /// The session connection `conn` holds.
    pub(super) fn id_of(&self, conn: u64) -> Option<SmId> {
        self.by_conn.get(&conn).cloned()
    }

    fn insert(
        &mut self,
        id: &SmId,
        owner: &BareJid,
        conn: u64,
        signals: &mpsc::UnboundedSender<Signal>,
    ) {
        let old = self
            .by_id
            .insert(id.clone(), (owner.clone(), conn, signals.clone()));
        if let Some((_, old, _)) = old {
            self.by_conn.remove(&old);
        }
        self.by_conn.insert(conn, id.clone());
    }

    /// Forgets session `id` if connection `conn` still holds it.
    fn remove(&mut self, id: &SmId, conn: u64) {
        if self.by_id.get(id).is_some_and(|s| s.1 == conn) {
            self.by_id.remove(id);
            self.by_conn.remove(&conn);
        }
    }
}

/// ARGV: prefix, key, holder. Deletes the key if it still names that holder.
pub(crate) const FORGET: &str = r"
if redis.call('GET', ARGV[1] .. ARGV[2]) == ARGV[3] then
  redis.call('DEL', ARGV[1] .. ARGV[2])
end
return 1
";

impl Cluster {
    /// Subscribes to this node's channel (before it returns), then forwards every message to
    /// `tx` from a thread of its own, subscribing again after a lost connection.
    pub(crate) fn subscribe(&self, tx: mpsc::UnboundedSender<String>) -> Result<(), String> {
        let channel = format!("{PREFIX}node:{}", self.node);
        let channels = [channel.clone(), super::nodes_channel()];
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let client = self.client.clone();
        std::thread::spawn(move || {
            let mut ready_tx = Some(ready_tx);
            loop {
                let listened = client.get_connection().map(|mut conn| {
                    let mut pubsub = conn.as_pubsub();
                    if let Err(e) = pubsub.subscribe(&channels) {
                        return e.to_string();
                    }
                    if let Some(ready) = ready_tx.take() {
                        let _ = ready.send(());
                    }
                    loop {
                        match pubsub.get_message().and_then(|m| m.get_payload::<String>()) {
                            Ok(payload) => {
                                if tx.send(payload).is_err() {
                                    return "the server is gone".to_owned();
                                }
                            }
                            Err(e) => return e.to_string(),
                        }
                    }
                });
                if tx.is_closed() {
                    return;
                }
                let why = listened.unwrap_or_else(|e| e.to_string());
                eprintln!("cluster: subscription to {channel} lost ({why}); again in 1 s");
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        ready
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| format!("cannot subscribe to {PREFIX}node:{}", self.node))
    }

    /// Names connection `conn` of this node as the holder of `key` (`live:…`, `stream:…`).
    fn claim_key(&self, key: &str, conn: u64) -> Result<(), String> {
        let key = format!("{PREFIX}{key}");
        let holder = self.holder(conn);
        self.with(|c| redis::cmd("SET").arg(&key).arg(&holder).query::<()>(c))
    }

    /// Removes `key` if it still names connection `conn` of this node.
    fn forget_key(&self, key: &str, conn: u64) -> Result<(), String> {
        let holder = self.holder(conn);
        self.with(|c| {
            self.forget
                .arg(PREFIX)
                .arg(key)
                .arg(&holder)
                .invoke::<i64>(c)
        })
        .map(drop)
    }

    /// The node that `key` names, if it names another one.
    pub(super) fn other_node(&self, key: &str) -> Result<Option<String>, String> {
        let key = format!("{PREFIX}{key}");
        let holder: Option<String> = self.with(|c| redis::cmd("GET").arg(&key).query(c))?;
        Ok(holder
            .map(|h| h.split('#').next().unwrap_or_default().to_owned())
            .filter(|n| *n != self.node))
    }

    /// The node whose live stream holds session `id`, if another one does.
    fn stream_node(&self, id: &SmId) -> Result<Option<String>, String> {
        self.other_node(&format!("stream:{id}"))
    }

    /// Publishes to `node`: whether a subscriber got it.
    fn publish(&self, node: &str, remote: &Remote) -> Result<bool, String> {
        let payload = serde_json::to_string(remote).map_err(|e| e.to_string())?;
        let channel = format!("{PREFIX}node:{node}");
        let got: i64 = self.with(|c| redis::cmd("PUBLISH").arg(&channel).arg(&payload).query(c))?;
        Ok(got > 0)
    }
}

impl Shared {
    /// Connection `conn` of this node bound `jid`: stanzas for it from other nodes come here.
    pub(crate) fn cluster_live(&self, jid: Option<&FullJid>, conn: u64) {
        let (Some(cluster), Some(jid)) = (self.cluster(), jid) else {
            return;
        };
        if let Err(e) = cluster.claim_key(&format!("live:{jid}"), conn) {
            eprintln!("cluster: cannot register {jid} ({e})");
        }
    }

    /// Connection `conn` of this node (whose task `signals` reaches) holds session `id`
    /// (enabled or resumed here).
    pub(crate) fn cluster_stream(
        &self,
        id: &SmId,
        owner: &BareJid,
        conn: u64,
        signals: &mpsc::UnboundedSender<Signal>,
    ) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        lock(&cluster.streams).insert(id, owner, conn, signals);
        if let Err(e) = cluster.claim_key(&format!("stream:{id}"), conn) {
            eprintln!("cluster: cannot register {id} ({e})");
        }
    }

    /// Session `id` (on `jid`) is no longer live on connection `conn` of this node.
    pub(crate) fn cluster_unlive(&self, id: Option<&SmId>, jid: Option<&FullJid>, conn: u64) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        if let Some(id) = id {
            lock(&cluster.streams).remove(id, conn);
            if let Err(e) = cluster.forget_key(&format!("stream:{id}"), conn) {
                eprintln!("cluster: cannot unregister {id} ({e})");
            }
            cluster.drop_checkpoint(id, conn);
        }
        if let Some(jid) = jid
            && let Err(e) = cluster.forget_key(&format!("live:{jid}"), conn)
        {
            eprintln!("cluster: cannot unregister {jid} ({e})");
        }
    }

    /// A `<resume/>` found no record: if another node's live stream holds the session, ask
    /// it to hand the session over and wait (at most [`HANDOVER`]) for the record. Whether
    /// a record was claimed and adopted.
    pub(crate) async fn cluster_take_over(&self, owner: &BareJid, id: &SmId) -> bool {
        let Some(cluster) = self.cluster() else {
            return false;
        };
        // Live on this node: its stream hands the session over through Redis too, rather
        // than in the local store, which the session may be leaving for Redis right now.
        let local = lock(&cluster.streams).get(id);
        let (node, asked) = if let Some((o, signals)) = local {
            if o != *owner {
                return false;
            }
            (
                cluster.node.clone(),
                Ok(signals.send(Signal::TakeOver).is_ok()),
            )
        } else {
            let node = match cluster.stream_node(id) {
                Ok(Some(node)) => node,
                Ok(None) => return false,
                Err(e) => {
                    eprintln!("cluster: cannot look {id} up ({e})");
                    return false;
                }
            };
            let request = Remote::TakeOver {
                id: id.clone(),
                owner: owner.clone(),
            };
            let asked = cluster.publish(&node, &request);
            (node, asked)
        };
        if !matches!(asked, Ok(true)) {
            eprintln!("cluster: {id} is live on node {node}, which does not answer");
            return self.cluster_fall_back(self.now(), owner, id);
        }
        self.trace_cluster(format_args!("{id}: take-over asked of node {node}"));
        let deadline = tokio::time::Instant::now() + HANDOVER;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
            match self.claim_here(self.now(), owner, id) {
                Ok(true) => {
                    self.trace_cluster(format_args!("{id}: handed over by node {node}"));
                    return true;
                }
                Ok(false) => {}
                Err(e) => eprintln!("cluster: cannot claim {id} ({e})"),
            }
        }
        eprintln!("cluster: node {node} did not hand {id} over within {HANDOVER:?}");
        self.cluster_fall_back(self.now(), owner, id)
    }

    /// A stanza for `to` on another node, if `to` is live there: whether it was published.
    pub(crate) fn cluster_publish(
        &self,
        node: &str,
        to: &FullJid,
        stanza: &Unacked,
        hops: u8,
    ) -> bool {
        let Some(cluster) = self.cluster() else {
            return false;
        };
        let remote = Remote::Stanza {
            to: to.clone(),
            stanza: stanza.clone(),
            hops,
        };
        matches!(cluster.publish(node, &remote), Ok(true))
    }
}

/// Joins the cluster on the Redis at `url` as node `node`: connected, subscribed to its
/// channels, and listening, before the first client is accepted.
pub(crate) fn join(shared: &Arc<Shared>, url: &str, node: &str) -> Result<(), String> {
    let max_queue = shared.sessions.config().max_queue;
    let cluster = Cluster::connect(url, node.to_owned(), max_queue, shared.now())?;
    // Subscribed before the first client is accepted: nothing published here is missed.
    let (tx, rx) = mpsc::unbounded_channel();
    cluster.subscribe(tx)?;
    println!("cluster node {node} on {url}");
    let _ = shared.cluster.set(cluster);
    tokio::spawn(listen(Arc::clone(shared), rx));
    Ok(())
}

/// Takes what other nodes publish to this one: stanzas for its live streams, and take-over
/// requests.
async fn listen(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<String>) {
    while let Some(payload) = rx.recv().await {
        match serde_json::from_str::<Remote>(&payload) {
            Ok(Remote::Stanza { to, stanza, hops }) => {
                let now = shared.now();
                shared.trace_cluster(format_args!("a stanza for {to} from another node"));
                shared.deliver_from_node(now, &to, stanza, hops);
            }
            Ok(Remote::TakeOver { id, owner }) => {
                let Some(cluster) = shared.cluster() else {
                    continue;
                };
                let stream = lock(&cluster.streams).get(&id);
                match stream {
                    Some((o, signals)) if o == owner => {
                        shared.trace_cluster(format_args!("{id}: taken over by another node"));
                        let _ = signals.send(Signal::TakeOver);
                    }
                    _ => {}
                }
            }
            Ok(Remote::Presence { jid, node }) => {
                if shared.cluster().is_some_and(|c| c.node() != node) {
                    shared.cluster_presence_remote(&jid);
                }
            }
            Ok(Remote::Push {
                registry,
                account,
                node,
            }) => {
                if shared.cluster().is_some_and(|c| c.node() != node) {
                    shared.cluster_push_remote(shared.now(), registry, &account);
                }
            }
            Err(e) => eprintln!("cluster: unreadable message from another node ({e})"),
        }
    }
}
