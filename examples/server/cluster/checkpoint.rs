//! Checkpoints of live sessions: a node that dies (or hangs) with streams open loses nothing
//! they held, because another node resumes each from its last checkpoint.
//!
//! - **Write-ahead.** Before a stream's output is written to its socket, a copy of its session
//!   (`Server::checkpoint`, only when `Server::checkpoint_mark` moved) is in Redis: so every
//!   stanza the client can have received, and every `h` it can have been told, is in the
//!   copy. Keys: `ckpt:{id}` (`holder` NODE#BOOT.CONN, `instance`, `owner`, `record`), and the
//!   SM-ID in `ckpts:{instance}`. A hibernating stream's record replaces its checkpoint in one
//!   script; a stream that ends removes it.
//! - **Fall-back.** A `<resume/>` on node B for a stream live on node A asks A to hand the
//!   session over (`remote.rs`). If nobody listens on A's channel (it died) or A does not hand
//!   over within `HANDOVER` (it hangs), B takes the checkpoint out, turns it into a hibernated
//!   record (deadline from now) and claims it as any other. The library accepts the client's
//!   `h` beyond the copy and reports the gap (`ServerEvent::ResumedFromCheckpoint`), which is
//!   logged here: what A handled from the client after the copy arrives again (the client
//!   resends it), and a stanza routed to A but not yet taken by its stream is lost with A's
//!   memory (pub/sub to a hung node, a queue between tasks): the copy holds what A's stream
//!   held.
//! - **Fencing.** The fall-back sets `stream:{id}` to a fence naming B's instance in the same
//!   step (a claim moves it to the claiming instance) until B's stream names itself there.
//!   If A still runs, its next checkpoint or hibernation of the session is refused: its
//!   stream ends with `conflict` and what it held is handed back there (offline, so nothing
//!   is lost; some of it may also be in B's copy).
//! - **Cost.** One script per flush that changed the session (a stanza sent or handled, an
//!   acknowledgement), carrying the whole record: O(queue) each. Clients acknowledge often, so
//!   queues stay short; a deployment with deep queues would append each stanza to the copy and
//!   rewrite it only on acknowledgements.
//! - **Orphans.** Each node instance renews `alive:{NODE#BOOT}` every second (5 s to live).
//!   Every node's sweep takes the checkpoints of instances whose key is gone and turns each
//!   into a hibernated record, fenced the same way: a session of a dead node whose client
//!   never comes back expires once, on one node, with its stanzas stored offline. The same
//!   sweep ends the shared presence of the dead instance's other resources (`presence.rs`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use xmpp_tether::Now;
use xmpp_tether::jid::BareJid;
use xmpp_tether::sm::{HibernatedSession, Server, SmId};

use super::scripts::{CHECKPOINT, DROP_CHECKPOINT, FALLBACK, FENCE_MS, ORPHANS};
use super::{Cluster, PREFIX};
use crate::state::{Handle, Shared, lock};

/// How long an instance's `alive:` key lives unless renewed (every second, by the sweep).
const ALIVE: Duration = Duration::from_secs(5);
/// Orphaned checkpoints taken per sweep.
const ORPHAN_SWEEP: usize = 64;

/// The checkpoint scripts.
pub(super) struct Scripts {
    write: redis::Script,
    drop: redis::Script,
    fall_back: redis::Script,
    orphans: redis::Script,
}

impl Scripts {
    pub(super) fn new(script: impl Fn(&str) -> redis::Script) -> Self {
        Self {
            write: script(CHECKPOINT),
            drop: script(DROP_CHECKPOINT),
            fall_back: script(FALLBACK),
            orphans: script(ORPHANS),
        }
    }
}

/// This run of node `node`, started at `now`: `NODE#BOOT`, BOOT from the process id and the
/// start time.
pub(super) fn instance(node: &str, now: Now) -> String {
    let boot = now
        .wall()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{node}#{:x}-{boot:x}", std::process::id())
}

/// Renews `instance`'s `alive:` key (and lists it among the instances).
pub(super) fn alive(conn: &mut redis::Connection, instance: &str) -> redis::RedisResult<()> {
    let ttl = u64::try_from(ALIVE.as_millis()).unwrap_or(u64::MAX);
    redis::pipe()
        .cmd("SET")
        .arg(format!("{PREFIX}alive:{instance}"))
        .arg(1)
        .arg("PX")
        .arg(ttl)
        .ignore()
        .cmd("SADD")
        .arg(format!("{PREFIX}instances"))
        .arg(instance)
        .ignore()
        .query(conn)
}

impl Cluster {
    /// What `stream:`, `live:` and `ckpt:` keys name for connection `conn` of this instance.
    pub(super) fn holder(&self, conn: u64) -> String {
        format!("{}.{conn}", self.instance)
    }

    /// What `stream:{id}` says once this instance took a session over from a checkpoint:
    /// until a stream of it resumes the session, any stream of this instance may hold it,
    /// no other may.
    fn fence(&self) -> String {
        format!("{}.fence", self.instance)
    }

    /// Writes a checkpoint: `false` if the session was taken over from one elsewhere.
    fn write_checkpoint(&self, copy: &HibernatedSession, conn: u64) -> Result<bool, String> {
        let record = serde_json::to_string(copy).map_err(|e| e.to_string())?;
        let written: i64 = self.with(|c| {
            self.checkpoints
                .write
                .arg(PREFIX)
                .arg(copy.id().as_str())
                .arg(self.holder(conn))
                .arg(&self.instance)
                .arg(copy.owner().as_str())
                .arg(&record)
                .invoke(c)
        })?;
        Ok(written == 1)
    }

    /// Session `id` is no longer live on connection `conn`: its checkpoint goes.
    pub(super) fn drop_checkpoint(&self, id: &SmId, conn: u64) {
        lock(&self.marks).remove(id);
        let dropped = self.with(|c| {
            self.checkpoints
                .drop
                .arg(PREFIX)
                .arg(id.as_str())
                .arg(self.holder(conn))
                .invoke::<i64>(c)
        });
        if let Err(e) = dropped {
            eprintln!("cluster: cannot remove the checkpoint of {id} ({e})");
        }
    }

    /// Takes the checkpoint of session `id` out for `owner`, fencing its old stream.
    fn fall_back(&self, id: &SmId, owner: &BareJid) -> Result<Option<String>, String> {
        self.with(|c| {
            self.checkpoints
                .fall_back
                .arg(PREFIX)
                .arg(id.as_str())
                .arg(owner.as_str())
                .arg(self.fence())
                .arg(FENCE_MS)
                .invoke(c)
        })
    }

    /// Renews this instance's `alive:` key, then takes what dead instances left: their
    /// checkpoints, and the full JIDs whose presence they shared.
    fn orphans(&self) -> Result<(Vec<String>, Vec<String>), String> {
        self.with(|c| alive(c, &self.instance))?;
        self.with(|c| {
            self.checkpoints
                .orphans
                .arg(PREFIX)
                .arg(ORPHAN_SWEEP)
                .arg(self.fence())
                .arg(FENCE_MS)
                .invoke(c)
        })
    }
}

impl Shared {
    /// Before connection `conn` writes its stream's output: a new checkpoint of its session
    /// if anything changed. A refusal means another node took the session over from a
    /// checkpoint: this stream ends (`conflict`, its stanzas handed back).
    pub(crate) fn cluster_checkpoint(&self, now: Now, sm: &Server<Handle>, conn: u64) {
        let (Some(cluster), Some(id), Some(mark)) = (self.cluster(), sm.id(), sm.checkpoint_mark())
        else {
            return;
        };
        if lock(&cluster.marks).get(id) == Some(&mark) {
            return;
        }
        let Some(copy) = sm.checkpoint(now) else {
            return;
        };
        match cluster.write_checkpoint(&copy, conn) {
            Ok(true) => {
                lock(&cluster.marks).insert(id.clone(), mark);
            }
            Ok(false) => {
                eprintln!("cluster: {id} was taken over from its checkpoint: this stream ends");
                lock(&cluster.streams).take_over(id, conn);
            }
            Err(e) => eprintln!("cluster: cannot checkpoint {id} ({e})"),
        }
    }

    /// The stream of session `id` is live on a node that does not hand it over: its
    /// checkpoint becomes a hibernated record, claimed here for `owner`. Whether it was.
    pub(crate) fn cluster_fall_back(&self, now: Now, owner: &BareJid, id: &SmId) -> bool {
        let Some(cluster) = self.cluster() else {
            return false;
        };
        match cluster.fall_back(id, owner) {
            Ok(Some(record)) => {
                eprintln!("cluster: {id} falls back to its last checkpoint");
                self.revive(now, &record);
                matches!(self.claim_here(now, owner, id), Ok(true))
            }
            Ok(None) => {
                eprintln!("cluster: {id} has no checkpoint to fall back to");
                false
            }
            Err(e) => {
                eprintln!("cluster: cannot fall back to the checkpoint of {id} ({e})");
                false
            }
        }
    }

    /// The sweep's turn: this instance is alive; dead instances' checkpoints hibernate.
    pub(super) fn cluster_orphans(&self, now: Now) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        match cluster.orphans() {
            Ok((records, jids)) => {
                for record in records {
                    self.revive(now, &record);
                }
                // After the revivals: a resource whose checkpoint hibernated stays.
                self.cluster_presence_orphans(now, jids);
            }
            Err(e) => eprintln!("cluster: orphaned checkpoint sweep failed ({e})"),
        }
    }

    /// A checkpoint taken out of Redis hibernates from `now`, as a record in Redis (or here,
    /// if Redis cannot take it back); an unreadable one is reported.
    fn revive(&self, now: Now, record: &str) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        let mut session = match serde_json::from_str::<HibernatedSession>(record) {
            Ok(session) => session,
            Err(e) => return eprintln!("cluster: an unreadable checkpoint dropped ({e})"),
        };
        let resume_for = Duration::from_secs(u64::from(session.max()));
        session.extend_deadline(now.wall() + resume_for);
        let id = session.id().clone();
        self.trace_cluster(format_args!("{id}: its checkpoint hibernates in redis"));
        match cluster.write(&session, None) {
            Ok(_) => {}
            Err(e) => {
                eprintln!("cluster: cannot write {id} to redis ({e}); kept on this node");
                let jid = session.resource().cloned();
                let refused = self.keep_here(now, session, Vec::new());
                self.hand_back(now, jid.as_ref(), refused);
            }
        }
    }
}

/// The library's report of a resumption from a checkpoint, logged.
pub(super) fn report_gap(previd: &SmId, checkpointed_at: SystemTime, acked_beyond: u32, now: Now) {
    let age = now
        .wall()
        .duration_since(checkpointed_at)
        .unwrap_or(Duration::ZERO);
    eprintln!(
        "cluster: {previd} resumed from a checkpoint taken {age:?} before (its node did not \
         hand it over): the client acknowledged {acked_beyond} stanza(s) beyond it; stanzas \
         its old stream handled from the client after it are counted again (the client \
         resends them)"
    );
}
