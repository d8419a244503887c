//! Cluster mode (`--redis redis://HOST:PORT --node NAME`, cargo feature `cluster`): several
//! nodes of this server behind one name share their hibernated XEP-0198 sessions in Redis,
//! so a client resumes on whichever node its new connection lands on.
//!
//! xmpp-sm picks no store; it gives the pieces (`SessionStore::release`, `adopt`,
//! `HibernatedSession` as a serde record validated like peer data, `may_claim`, `ended`,
//! `remember`), and this file makes them a cluster on Redis:
//!
//! - **Where a session lives.** Live streams stay in their node's `SessionStore`. When a
//!   stream hibernates, its node takes the session out whole (`release`: nothing handed back)
//!   and writes it to Redis; from then on Redis is the only holder, so no node keeps a copy
//!   that could be resumed or expired twice. If Redis cannot be written, the session goes
//!   back into the local store (`adopt`) and stays resumable on that node only.
//! - **Keys** (prefix `tether:`): `sm:{id}` a hash (`owner`, `jid`, `node`, `deadline` in ms
//!   since the epoch, `record` the JSON of the `HibernatedSession`, `queued` its queue
//!   length); `sm:{id}:q` a list of the stanzas routed to it since (each an `Unacked` as
//!   JSON, with its first-sent time); `jid:{full JID}` the SM-ID hibernated on that JID (the
//!   route); `deadlines` a sorted set of SM-IDs by deadline; `ended:{id}` a hash (`owner`,
//!   `h`) for a day, so a late `<resume/>` gets `<failed h/>` on every node.
//! - **Atomicity.** Every change is one Lua script (Redis runs each alone, start to end):
//!   `hibernate` writes the record and its indexes; `route` adds a stanza only while the
//!   record exists and its deadline has not passed, within `max_queue`; `claim` checks the
//!   owner and the deadline and deletes the record, its queue and indexes in the same step,
//!   returning them; `expire` does the same for every record whose deadline has passed.
//!   Deadlines are compared with Redis's own `TIME`, one clock for every node: a claim after
//!   the deadline fails everywhere, and of two nodes racing to claim or expire one record
//!   exactly one gets it (the other finds nothing, and answers as for an unknown SM-ID: a
//!   claim leaves `claimed:{id}` for 250 ms, and a `<resume/>` that finds it naming another
//!   node lost a race rather than asking for a take-over).
//! - **Resuming.** Before a `<resume/>` (top level or inside SASL2) reaches the stream, the
//!   node claims its SM-ID for the authenticated account; a record it gets is parsed
//!   (bounded XML, structure checked), checked again with `may_claim`, given the stanzas
//!   appended meanwhile (`HibernatedSession::push`), and `adopt`ed; the stream then resumes
//!   it as if it had hibernated here. Nothing found: the ended sessions' `h` is looked up
//!   and `remember`ed, so the answer is the one a single node would give.
//! - **Routing.** A stanza for a full JID that no local stream or session holds goes, in one
//!   script (`route`), to the record hibernated on that JID, or else to the node whose live
//!   stream has the JID bound (`live:{jid}`, published there), or else is handled as for an
//!   absent resource (offline or bounced). One script, because the record and the live key
//!   hand over to each other (a claim names its node live as it deletes the record; a
//!   hibernating node writes the record before it stops naming itself): two lookups could
//!   fall between them. Between `release` and the record being in Redis, stanzas for the
//!   JID wait in `moving` and are appended right after, in order.
//! - **Expiry.** Every node sweeps `deadlines` once a second; the script hands each expired
//!   record to exactly one node, which stores its stanzas offline (or with the account's
//!   other resources), tells the contacts, and writes the ended `h`.
//! - **Failures.** A node that dies (even SIGKILL) loses nothing hibernated: the records are
//!   in Redis, resumed or expired by the others. Its live sessions are checkpointed
//!   (`checkpoint.rs`): a resume elsewhere falls back to the checkpoint, with the gap
//!   reported, and the old stream fenced. A Redis error is logged and the operation
//!   falls back to this node alone (the record stays local, a stanza goes offline); the
//!   connection is opened again on the next call. One blocking connection per node, held for
//!   one script at a time (about 0.1 ms on loopback): plain, and enough for this example.
//! - **Between nodes** (`remote.rs`): stanzas for a JID live on another node are published
//!   to that node's channel, and a `<resume/>` for a session whose stream is still open on
//!   another node takes it over from there (`conflict` on the old stream).
//! - **Push registrations** (`push.rs`): each registry change is written to Redis and
//!   announced; the other nodes load the record, so any node pushes.
//! - **Not here** (see the README's server section): Redis Cluster (the scripts touch keys they
//!   compute, so they need one Redis, or a hash tag per session), and authenticating records
//!   with a server secret: Redis must be as trusted as the nodes' memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use xmpp_tether::Now;
use xmpp_tether::jid::{BareJid, FullJid};
use xmpp_tether::minidom::Element;
use xmpp_tether::sm::{
    EndedSession, HibernatedSession, Refusal, Refused, ServerEvent, SmId, Unacked,
};

use crate::state::{Shared, Signal, lock};

mod checkpoint;
mod presence;
mod push;
mod remote;
mod scripts;

use self::scripts::{CLAIM, COMMON, DEADLINE, EXPIRE, HIBERNATE, PRESENCE, ROUTE};

pub(crate) use self::push::Kind;
pub(crate) use self::remote::join;

/// Every key starts with this.
const PREFIX: &str = "tether:";

/// The channel every node subscribes to for changes every node follows: push registrations
/// (`push.rs`) and presence (`presence.rs`).
fn nodes_channel() -> String {
    format!("{PREFIX}nodes")
}
/// How long an ended session's `h` is kept.
const ENDED_TTL: u64 = 86_400;
/// Expired records taken per sweep.
const SWEEP: usize = 64;

/// Two `<resume/>`s of one session on different nodes this close together race: the one
/// whose claim came second fails as for an unknown SM-ID instead of taking the session over.
/// Short: a client that reconnects after a cut takes longer than this (a TCP connection and
/// a SASL exchange), and gets a take-over.
const RACE: Duration = Duration::from_millis(250);

/// This node's link to the cluster's Redis.
pub(crate) struct Cluster {
    node: String,
    /// `NODE#BOOT`: this run of the node (a restarted node is another instance), whose
    /// `alive:` key other nodes watch for its checkpoints (`checkpoint.rs`).
    instance: String,
    client: redis::Client,
    conn: Mutex<Option<redis::Connection>>,
    hibernate: redis::Script,
    route: redis::Script,
    deadline: redis::Script,
    claim: redis::Script,
    expire: redis::Script,
    forget: redis::Script,
    checkpoints: checkpoint::Scripts,
    presence: redis::Script,
    /// Held from claiming a record to adopting it (see `claim_here`).
    claiming: Mutex<()>,
    /// This node's live resumable streams, for take-over requests from other nodes.
    streams: Mutex<remote::Streams>,
    /// Stanzas for full JIDs whose session is on its way to Redis, appended once it is there.
    moving: Mutex<HashMap<FullJid, Vec<Unacked>>>,
    /// The SASL2 user-agent ids of sessions on other nodes (from their shared presence).
    agents: Mutex<HashMap<FullJid, String>>,
    /// The last checkpoint written of each live stream of this node.
    marks: Mutex<HashMap<SmId, xmpp_tether::sm::CheckpointMark>>,
    max_queue: usize,
}

/// What is left to do once a claimed record is adopted (or refused), outside the lock.
enum Settle {
    HandBack(Option<FullJid>, Vec<Unacked>),
    End(HibernatedSession, Vec<Unacked>),
}

/// Where [`ROUTE`] put a stanza.
enum Route {
    Appended,
    Full,
    /// Live on this other node: publish it there.
    Live(String),
    Nowhere,
}

/// A record taken out of Redis: its JSON and the stanzas appended to it, as JSON.
struct Taken {
    record: String,
    appended: Vec<String>,
}

impl Cluster {
    /// Connects to `url` (checked with a PING) as node `node`, started at `now`.
    pub(crate) fn connect(
        url: &str,
        node: String,
        max_queue: usize,
        now: Now,
    ) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("--redis {url}: {e}"))?;
        let mut conn = client
            .get_connection()
            .map_err(|e| format!("--redis {url}: {e}"))?;
        redis::cmd("PING")
            .query::<String>(&mut conn)
            .map_err(|e| format!("--redis {url}: {e}"))?;
        let script = |body: &str| redis::Script::new(&format!("{COMMON}{body}"));
        let instance = checkpoint::instance(&node, now);
        checkpoint::alive(&mut conn, &instance).map_err(|e| format!("--redis {url}: {e}"))?;
        Ok(Self {
            node,
            instance,
            client,
            conn: Mutex::new(Some(conn)),
            hibernate: script(HIBERNATE),
            route: script(ROUTE),
            deadline: script(DEADLINE),
            claim: script(CLAIM),
            expire: script(EXPIRE),
            forget: redis::Script::new(remote::FORGET),
            checkpoints: checkpoint::Scripts::new(script),
            presence: script(PRESENCE),
            streams: Mutex::default(),
            claiming: Mutex::default(),
            moving: Mutex::default(),
            marks: Mutex::default(),
            agents: Mutex::default(),
            max_queue,
        })
    }

    pub(crate) fn node(&self) -> &str {
        &self.node
    }

    /// Runs `f` on the connection, opening it again if the last call broke it.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, String> {
        let mut slot = lock(&self.conn);
        if slot.is_none() {
            *slot = Some(self.client.get_connection().map_err(|e| e.to_string())?);
        }
        let Some(conn) = slot.as_mut() else {
            return Err("no connection".to_owned());
        };
        let result = f(conn);
        if let Err(e) = &result
            && (e.is_io_error() || e.is_connection_dropped() || e.is_timeout())
        {
            *slot = None;
        }
        result.map_err(|e| e.to_string())
    }

    /// Writes a hibernated record: `false`, writing nothing, if `holder` (the stream it
    /// comes from; `None` not to check) no longer holds the session (see [`HIBERNATE`]).
    fn write(&self, session: &HibernatedSession, holder: Option<&str>) -> Result<bool, String> {
        let record = serde_json::to_string(session).map_err(|e| e.to_string())?;
        let jid = session
            .resource()
            .map(ToString::to_string)
            .unwrap_or_default();
        self.with(|c| {
            self.hibernate
                .arg(PREFIX)
                .arg(session.id().as_str())
                .arg(session.owner().as_str())
                .arg(&jid)
                .arg(&self.node)
                .arg(millis(session.deadline()))
                .arg(&record)
                .arg(session.unacked())
                .arg(holder.unwrap_or_default())
                .arg(session.max())
                .invoke::<i64>(c)
        })
        .map(|written| written == 1)
    }

    /// Appends a stanza to the session hibernated in Redis on `jid`, or names the node its
    /// live stream is on (see [`ROUTE`]).
    fn route(&self, jid: &FullJid, stanza: &Unacked) -> Result<Route, String> {
        let item = serde_json::to_string(stanza).map_err(|e| e.to_string())?;
        let answer: String = self.with(|c| {
            self.route
                .arg(PREFIX)
                .arg(jid.to_string())
                .arg(&item)
                .arg(self.max_queue)
                .arg(&self.node)
                .invoke(c)
        })?;
        Ok(match answer.as_str() {
            "appended" => Route::Appended,
            "full" => Route::Full,
            other => match other.strip_prefix("live:") {
                Some(node) => Route::Live(node.to_owned()),
                None => Route::Nowhere,
            },
        })
    }

    /// Ends the extended hibernation of the session hibernated in Redis on `jid`: its
    /// deadline moves to `deadline` (`None`: its resumption time from now), if earlier.
    /// Whether it moved.
    fn set_deadline(&self, jid: &FullJid, deadline: Option<SystemTime>) -> Result<bool, String> {
        let moved = self.with(|c| {
            self.deadline
                .arg(PREFIX)
                .arg(jid.to_string())
                .arg(
                    deadline
                        .map(millis)
                        .map(|ms| ms.to_string())
                        .unwrap_or_default(),
                )
                .invoke::<i64>(c)
        })?;
        Ok(moved == 1)
    }

    fn claim(&self, id: &SmId, owner: &BareJid) -> Result<Option<Taken>, String> {
        let taken: Option<Vec<String>> = self.with(|c| {
            self.claim
                .arg(PREFIX)
                .arg(id.as_str())
                .arg(owner.as_str())
                .arg(&self.node)
                .arg(millis(UNIX_EPOCH + RACE))
                .arg(&self.instance)
                .arg(scripts::FENCE_MS)
                .invoke(c)
        })?;
        Ok(taken.and_then(|t| {
            let mut t = t.into_iter();
            let record = t.next()?;
            Some(Taken {
                record,
                appended: t.collect(),
            })
        }))
    }

    fn expired(&self) -> Result<Vec<(String, Taken)>, String> {
        let batches: Vec<Vec<String>> =
            self.with(|c| self.expire.arg(PREFIX).arg(SWEEP).invoke(c))?;
        Ok(batches
            .into_iter()
            .filter_map(|b| {
                let mut b = b.into_iter();
                let id = b.next()?;
                let record = b.next()?;
                Some((
                    id,
                    Taken {
                        record,
                        appended: b.collect(),
                    },
                ))
            })
            .collect())
    }

    /// Whether another node claimed session `id` within the race window.
    fn lost_race(&self, id: &SmId) -> Result<bool, String> {
        let key = format!("{PREFIX}claimed:{id}");
        let node: Option<String> = self.with(|c| redis::cmd("GET").arg(&key).query(c))?;
        Ok(node.is_some_and(|n| n != self.node))
    }

    fn set_ended(&self, ended: &EndedSession) -> Result<(), String> {
        let key = format!("{PREFIX}ended:{}", ended.id);
        self.with(|c| {
            redis::pipe()
                .atomic()
                .hset_multiple(
                    &key,
                    &[
                        ("owner", ended.owner.to_string()),
                        ("h", ended.h.to_string()),
                    ],
                )
                .ignore()
                .expire(&key, ENDED_TTL as i64)
                .ignore()
                .query::<()>(c)
        })
    }

    fn ended(&self, id: &SmId) -> Result<Option<(String, u32)>, String> {
        let key = format!("{PREFIX}ended:{id}");
        let (owner, h): (Option<String>, Option<u32>) =
            self.with(|c| redis::cmd("HMGET").arg(&key).arg("owner").arg("h").query(c))?;
        Ok(owner.zip(h))
    }
}

impl Shared {
    fn cluster(&self) -> Option<&Cluster> {
        self.cluster.get()
    }

    /// A stream event of `owner`'s stream (whose task `signals` reaches): a session enabled
    /// or resumed here is registered as live on this node; one that hibernated moves to
    /// Redis.
    pub(crate) fn cluster_session(
        &self,
        now: Now,
        event: &ServerEvent,
        owner: &BareJid,
        (conn, signals): (u64, &tokio::sync::mpsc::UnboundedSender<Signal>),
    ) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        let (id, jid) = match event {
            ServerEvent::Enabled { id: Some(id) } => {
                return self.cluster_stream(id, owner, conn, signals);
            }
            ServerEvent::Resumed { previd, jid, .. } => {
                self.cluster_stream(previd, owner, conn, signals);
                return self.cluster_live(jid.as_ref(), conn);
            }
            ServerEvent::Hibernated { id, jid } => (id, jid),
            ServerEvent::ResumedFromCheckpoint {
                previd,
                checkpointed_at,
                acked_beyond,
            } => return checkpoint::report_gap(previd, *checkpointed_at, *acked_beyond, now),
            _ => return,
        };
        if let Some(jid) = jid {
            lock(&cluster.moving).insert(jid.clone(), Vec::new());
        }
        let Some(session) = self.sessions.release(now, id) else {
            if let Some(jid) = jid {
                lock(&cluster.moving).remove(jid);
            }
            return;
        };
        let written = cluster.write(&session, Some(&cluster.holder(conn)));
        let mut moving = lock(&cluster.moving);
        let late = jid
            .as_ref()
            .and_then(|j| moving.remove(j))
            .unwrap_or_default();
        match written {
            Ok(true) => {
                self.trace_cluster(format_args!("{id} hibernated into redis"));
                let mut refused = Vec::new();
                for u in late {
                    // Still holding `moving`: stanzas for the JID arriving now wait, in order.
                    let routed = jid.as_ref().map(|j| (j, cluster.route(j, &u)));
                    match routed {
                        Some((j, Ok(Route::Appended))) => self.cluster_appended(now, j, &u),
                        Some((j, Ok(Route::Live(node))))
                            if self.cluster_publish(&node, j, &u, 0) => {}
                        _ => refused.push(u),
                    }
                }
                drop(moving);
                self.hand_back(now, jid.as_ref(), refused);
            }
            Ok(false) => {
                drop(moving);
                let mut stanzas = session.into_unacked();
                eprintln!(
                    "cluster: {id} was taken over from its checkpoint by another node: its {} \
                     unacknowledged stanzas are handed back here (that node may deliver some \
                     of them too)",
                    stanzas.len()
                );
                stanzas.extend(late);
                self.hand_back(now, jid.as_ref(), stanzas);
            }
            Err(e) => {
                drop(moving);
                eprintln!("cluster: cannot write {id} to redis ({e}); kept on this node");
                let jid = session.resource().cloned();
                let refused = self.keep_here(now, session, late);
                self.hand_back(now, jid.as_ref(), refused);
            }
        }
        // Only now: until the record was in Redis, other nodes sent its stanzas here.
        self.cluster_unlive(Some(id), jid.as_ref(), conn);
    }

    /// At start, after `--state`: the push registrations and presence other nodes shared.
    pub(crate) fn cluster_load(&self, now: Now) {
        self.cluster_push_load(now);
        self.cluster_presence_load();
    }

    /// A session that could not go to (or came from) Redis hibernates in this node's store,
    /// with `late` stanzas appended; what it cannot keep is returned, to hand back.
    fn keep_here(
        &self,
        now: Now,
        mut session: HibernatedSession,
        late: Vec<Unacked>,
    ) -> Vec<Unacked> {
        let limit = self.sessions.config().max_queue;
        let mut refused = Vec::new();
        for u in late {
            if let Err(r) = session.push(u.stanza, u.first_sent, limit) {
                refused.push(Unacked::new(r.into_inner(), u.first_sent));
            }
        }
        if let Err(r) = self.sessions.adopt(now, session) {
            eprintln!(
                "cluster: session refused ({}): its stanzas handed back",
                r.reason()
            );
            refused.extend(r.into_inner().into_unacked());
        }
        refused
    }

    /// A stanza this node had no live stream or hibernated session for: into the session
    /// hibernated in Redis on that JID, or handed back to the caller.
    pub(crate) fn cluster_deliver(
        &self,
        now: Now,
        to: &FullJid,
        refused: Refused<Element>,
    ) -> Option<Element> {
        if self.cluster().is_none() || !matches!(refused.reason(), Refusal::UnknownSession) {
            return Some(refused.into_inner());
        }
        let stanza = Unacked::new(refused.into_inner(), now.wall());
        self.cluster_route(now, to, stanza, 0).map(|u| u.stanza)
    }

    /// A stanza published here by another node (`hops` times so far) for a JID live on
    /// this one: to its stream, or (gone since) to its hibernated session here or in Redis,
    /// or on to the node that resumed it meanwhile (at most [`remote::MAX_HOPS`] times, so
    /// stale `live:` keys cannot bounce it for ever), or offline.
    pub(crate) fn deliver_from_node(&self, now: Now, to: &FullJid, stanza: Unacked, hops: u8) {
        let first_sent = stanza.first_sent;
        let Err(refused) = self.sessions.send(now, to, stanza.stanza) else {
            return;
        };
        let unknown = matches!(refused.reason(), Refusal::UnknownSession);
        let stanza = Unacked::new(refused.into_inner(), first_sent);
        let left = if unknown {
            self.cluster_route(now, to, stanza, hops + 1)
        } else {
            Some(stanza)
        };
        if let Some(left) = left {
            self.hand_back(now, None, vec![left]);
        }
    }

    /// A stanza for `to`, which no stream or session of this node holds: into the session on
    /// its way to Redis from here, or the one hibernated in Redis, or published to the node
    /// whose stream has `to` bound (as its `hops`-th hop, at most [`remote::MAX_HOPS`]), or
    /// into a session this node claimed a moment ago. The stanza back if none of them has it.
    fn cluster_route(&self, now: Now, to: &FullJid, stanza: Unacked, hops: u8) -> Option<Unacked> {
        let cluster = self.cluster()?;
        {
            let mut moving = lock(&cluster.moving);
            if let Some(waiting) = moving.get_mut(to) {
                waiting.push(stanza);
                return None;
            }
        }
        match cluster.route(to, &stanza) {
            Ok(Route::Appended) => {
                self.trace_cluster(format_args!("a stanza for {to} appended in redis"));
                self.cluster_appended(now, to, &stanza);
                None
            }
            Ok(Route::Live(node)) => {
                if hops <= remote::MAX_HOPS && self.cluster_publish(&node, to, &stanza, hops) {
                    self.trace_cluster(format_args!("a stanza for {to} published to node {node}"));
                    return None;
                }
                self.trace_cluster(format_args!("a stanza for {to}: node {node} unreachable"));
                Some(stanza)
            }
            Ok(Route::Full) => {
                self.trace_cluster(format_args!("a stanza for {to}: its session is full"));
                Some(stanza)
            }
            Ok(Route::Nowhere) => {
                // Claimed by this node a moment ago, and being adopted? Then it is here now.
                let _claiming = lock(&cluster.claiming);
                let first_sent = stanza.first_sent;
                let left = self
                    .sessions
                    .send(now, to, stanza.stanza)
                    .err()
                    .map(|r| Unacked::new(r.into_inner(), first_sent));
                if left.is_some() {
                    self.trace_cluster(format_args!("a stanza for {to}: no session anywhere"));
                }
                left
            }
            Err(e) => {
                eprintln!("cluster: cannot route a stanza for {to} ({e})");
                Some(stanza)
            }
        }
    }

    /// A stanza went into the session hibernated in Redis on `to`: what the user misses
    /// there is pushed (XEP-0357) to the registrations enabled from that session, from
    /// whichever node appended it, as the hibernating node would for its own store. A push
    /// that ends an extended hibernation ends it in Redis: the node that hibernated the
    /// session holds the extension in its registry, so this node cannot rely on the event.
    fn cluster_appended(&self, now: Now, to: &FullJid, stanza: &Unacked) {
        let Some(trigger) = crate::push::worth_a_push(&stanza.stanza) else {
            return;
        };
        let target = xmpp_tether::push0::Target::Session(to.clone());
        let ends = self.push0(now, |r| {
            r.notify(now, &target, &trigger) > 0 && r.ends_extension(&trigger)
        });
        if ends {
            self.cluster_set_deadline(to, None);
        }
    }

    /// Whether a session of `jid` lives on in the cluster: hibernated in Redis, or live on
    /// another node (which claimed it a moment ago). A stream that hibernated into Redis is
    /// not a session that ended: its contacts are not told it is gone, its push state stays.
    pub(crate) fn cluster_holds(&self, jid: &FullJid) -> bool {
        let Some(cluster) = self.cluster() else {
            return false;
        };
        let keys = [format!("{PREFIX}jid:{jid}"), format!("{PREFIX}live:{jid}")];
        match cluster.with(|c| redis::cmd("EXISTS").arg(&keys).query::<i64>(c)) {
            Ok(n) => n > 0,
            Err(e) => {
                eprintln!("cluster: cannot look {jid} up ({e}); taken as gone");
                false
            }
        }
    }

    /// XEP-0357's extended hibernation of `jid` ended (its first push): a session of it held
    /// in Redis goes back to its own deadline there (`deadline`, or with `None` its
    /// resumption time from now), never later than it was.
    pub(crate) fn cluster_set_deadline(&self, jid: &FullJid, deadline: Option<SystemTime>) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        match cluster.set_deadline(jid, deadline) {
            Ok(true) => self.trace_cluster(format_args!("{jid}'s deadline moved in redis")),
            Ok(false) => {}
            Err(e) => eprintln!("cluster: cannot move {jid}'s deadline ({e})"),
        }
    }

    /// Before a `<resume/>` (or a SASL2 `<authenticate/>` with one inside, XEP-0198 §9.2)
    /// reaches the stream of `owner`: the session is claimed from Redis and adopted here, or
    /// its ended `h` remembered.
    pub(crate) async fn cluster_resume(&self, now: Now, owner: Option<BareJid>, element: &Element) {
        let (Some(cluster), Some(owner)) = (self.cluster(), owner.as_ref()) else {
            return;
        };
        let resume = if element.name() == "resume" {
            element
        } else if let Some(inline) = element.children().find(|c| c.name() == "resume") {
            inline
        } else {
            return;
        };
        let Some(previd) = resume.attr("previd").and_then(|p| SmId::new(p).ok()) else {
            return;
        };
        if self.sessions.deadline(&previd).is_some() {
            return; // hibernated here (Redis was down when it hibernated)
        }
        match self.claim_here(now, owner, &previd) {
            Ok(true) => {}
            Ok(false) if cluster.lost_race(&previd).unwrap_or(false) => {
                // Answered as for an unknown SM-ID: the other node's claim won.
                self.trace_cluster(format_args!("{previd}: lost the race to another node"));
            }
            Ok(false) if self.cluster_take_over(owner, &previd).await => {}
            // No record and no live stream: a stream that was hibernating when the claim
            // looked writes the record before it stops naming itself, so a second claim
            // finds what the first missed.
            Ok(false) if matches!(self.claim_here(self.now(), owner, &previd), Ok(true)) => {}
            Ok(false) => match cluster.ended(&previd) {
                Ok(Some((o, h))) if o == owner.as_str() => {
                    let _ = self
                        .sessions
                        .remember(EndedSession::new(previd, owner.clone(), h));
                }
                Ok(_) => {}
                Err(e) => eprintln!("cluster: cannot read ended {previd} ({e})"),
            },
            Err(e) => eprintln!("cluster: cannot claim {previd} ({e})"),
        }
    }

    /// Claims session `previd` for `owner` from Redis and adopts it here, so that the
    /// `<resume/>` finds it: `Ok(true)` if there was a record. Claim and adoption happen
    /// under `claiming`, which a failed append waits for before it tries this node's store
    /// again: a stanza arriving between the two is not mistaken for one with nowhere to go.
    fn claim_here(&self, now: Now, owner: &BareJid, previd: &SmId) -> Result<bool, String> {
        let Some(cluster) = self.cluster() else {
            return Ok(false);
        };
        let settle = {
            let _claiming = lock(&cluster.claiming);
            let Some(taken) = cluster.claim(previd, owner)? else {
                return Ok(false);
            };
            let appended = self.appended(&taken);
            match serde_json::from_str::<HibernatedSession>(&taken.record) {
                Ok(session) if session.id() == previd && session.may_claim(owner, now) => {
                    self.trace_cluster(format_args!(
                        "{previd} claimed from redis with {} appended",
                        appended.len()
                    ));
                    let jid = session.resource().cloned();
                    Settle::HandBack(jid, self.keep_here(now, session, appended))
                }
                Ok(session) => {
                    // Past its deadline by this node's clock (or not the record asked
                    // for): it ends here, as an expiry would end it.
                    eprintln!("cluster: claimed {previd} is no longer resumable: handed back");
                    Settle::End(session, appended)
                }
                Err(e) => {
                    eprintln!("cluster: unreadable record {previd} ({e}): stanzas handed back");
                    Settle::HandBack(None, appended)
                }
            }
        };
        // Handing back routes stanzas, which may need `claiming`: not while it is held.
        match settle {
            Settle::HandBack(jid, stanzas) => self.hand_back(now, jid.as_ref(), stanzas),
            Settle::End(session, appended) => self.end_record(now, session, appended),
        }
        Ok(true)
    }

    /// The stanzas appended to a record, each read back like peer data.
    fn appended(&self, taken: &Taken) -> Vec<Unacked> {
        taken
            .appended
            .iter()
            .filter_map(|item| match serde_json::from_str::<Unacked>(item) {
                Ok(u) => Some(u),
                Err(e) => {
                    eprintln!("cluster: an unreadable appended stanza skipped ({e})");
                    None
                }
            })
            .collect()
    }

    /// A record that ends: its stanzas handed back, the contacts told, its `h` shared.
    fn end_record(&self, now: Now, session: HibernatedSession, appended: Vec<Unacked>) {
        let ended = EndedSession::from(&session);
        if let Some(cluster) = self.cluster()
            && let Err(e) = cluster.set_ended(&ended)
        {
            eprintln!("cluster: cannot write ended {} ({e})", ended.id);
        }
        let jid = session.resource().cloned();
        let mut stanzas = session.into_unacked();
        stanzas.extend(appended);
        self.push0_gone(now, jid.as_ref());
        self.push2_gone(jid.as_ref());
        self.resource_gone(now, jid.as_ref(), stanzas);
    }

    /// The store timer's turn: the records whose deadline passed, each taken by one node.
    pub(crate) fn cluster_expire(&self, now: Now) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        self.cluster_orphans(now);
        let expired = match cluster.expired() {
            Ok(expired) => expired,
            Err(e) => return eprintln!("cluster: expiry sweep failed ({e})"),
        };
        for (id, taken) in expired {
            let appended = self.appended(&taken);
            match serde_json::from_str::<HibernatedSession>(&taken.record) {
                Ok(session) => {
                    self.trace_cluster(format_args!("{id} expired in redis, handed back here"));
                    self.end_record(now, session, appended);
                }
                Err(e) => {
                    eprintln!("cluster: unreadable expired record {id} ({e})");
                    self.hand_back(now, None, appended);
                }
            }
        }
    }

    /// Connection `conn` is over (`jid` the full JID it had bound): its session, if it held
    /// one, is no longer live here, and if the session ended for good, its `h` is shared,
    /// for a late `<resume/>` elsewhere.
    pub(crate) fn cluster_closed(&self, jid: Option<&FullJid>, conn: u64) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        let id = lock(&cluster.streams).id_of(conn);
        self.cluster_unlive(id.as_ref(), jid, conn);
        if let Some(id) = id
            && let Some(ended) = self.sessions.ended(&id)
            && let Err(e) = cluster.set_ended(&ended)
        {
            eprintln!("cluster: cannot write ended {id} ({e})");
        }
    }

    fn trace_cluster(&self, what: std::fmt::Arguments<'_>) {
        if self.trace
            && let Some(cluster) = self.cluster()
        {
            eprintln!("cluster {}: {what}", cluster.node());
        }
    }
}

/// A wall-clock time as milliseconds since the epoch (0 before it).
fn millis(at: SystemTime) -> u64 {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}
