//! Which resources of an account are available, shared between nodes: each node's presence
//! map holds every node's resources, so a message to a bare JID reaches the account's
//! resources wherever they are (into a session hibernated in Redis, or published to the node
//! whose stream has it), an account's own resources see each other's presence, and a session
//! handed back finds the account's other resources on any node.
//!
//! - **Keys**: `presence:{account}` a hash, full JID to the resource's last available
//!   presence (JSON: the XML, and the SASL2 user-agent id Push 2.0 keys the session by);
//!   `presence:accounts` the set of accounts that have one.
//! - **Flow**: a node that takes a resource's broadcast presence (available, or unavailable
//!   when the session ends) writes it there and announces the full JID on the channel every
//!   node subscribes to; the others read the entry back (checked like peer data: bounded
//!   XML, a `<presence/>` from that full JID) and set or remove it in their map, without
//!   broadcasting again. What a node applies is what Redis holds, so racing changes converge.
//! - **Start**: a node loads every entry, after its `--state`.
//! - **A dead node's resources**: each entry's instance lists it in `presences:{instance}`;
//!   the sweep that finds the instance dead (`checkpoint.rs`) takes the list, and each
//!   resource neither hibernated in Redis (its checkpoint revived) nor live on a running node
//!   goes unavailable, as if its session ended there.
//! - **Push 2.0** sees the account's sessions on other nodes too (`cluster_sessions`): a
//!   resource in the map that no local stream holds is live if `live:{jid}` names a node,
//!   hibernated if `jid:{jid}` names a record, so a user chatting on another node is not
//!   pushed to.
//! - **Not shared**: rosters, offline messages and PEP stay per node, so presence reaches
//!   the contacts whose subscription that node knows, and a message for an account with no
//!   available resource anywhere waits offline on the node that took it.

use std::collections::HashSet;

use xmpp_tether::Now;
use xmpp_tether::framing::{self, Limits};
use xmpp_tether::jid::{BareJid, FullJid};
use xmpp_tether::minidom::Element;
use xmpp_tether::push2::{Device, SessionState, SessionStatus};

use super::remote::Remote;
use super::{Cluster, PREFIX};
use crate::state::{Shared, lock};
use crate::xml::CLIENT;

/// A shared presence entry.
#[derive(serde::Serialize, serde::Deserialize)]
struct Entry {
    /// The `<presence/>`.
    xml: String,
    /// The session's SASL2 user-agent id, if it gave one.
    #[serde(default)]
    agent: Option<String>,
}

impl Cluster {
    /// Writes `jid`'s presence (none: removes it) and announces the change to every node.
    fn presence_store(&self, jid: &FullJid, xml: Option<&str>) -> Result<(), String> {
        let told = Remote::Presence {
            jid: jid.clone(),
            node: self.node().to_owned(),
        };
        let payload = serde_json::to_string(&told).map_err(|e| e.to_string())?;
        self.with(|c| {
            self.presence
                .arg(PREFIX)
                .arg(jid.to_bare().as_str())
                .arg(jid.as_str())
                .arg(xml.unwrap_or_default())
                .arg(&payload)
                .arg(super::nodes_channel())
                .arg(&self.instance)
                .invoke::<i64>(c)
        })
        .map(drop)
    }

    fn presence_fetch(&self, jid: &FullJid) -> Result<Option<String>, String> {
        let key = format!("{PREFIX}presence:{}", jid.to_bare());
        self.with(|c| redis::cmd("HGET").arg(&key).arg(jid.as_str()).query(c))
    }

    /// Whether each of `jids` is live on some node, and whether a record is hibernated on it.
    fn where_are(&self, jids: &[FullJid]) -> Result<Vec<(bool, bool)>, String> {
        let mut pipe = redis::pipe();
        for jid in jids {
            pipe.exists(format!("{PREFIX}live:{jid}"))
                .exists(format!("{PREFIX}jid:{jid}"));
        }
        let flags: Vec<bool> = self.with(|c| pipe.query(c))?;
        Ok(flags
            .chunks(2)
            .map(|f| (f[0], f.get(1) == Some(&true)))
            .collect())
    }

    /// Whether a session of `jid` lives on: hibernated in Redis, or live on a node instance
    /// that is alive.
    fn lives_on(&self, jid: &FullJid) -> Result<bool, String> {
        let (record, live): (bool, Option<String>) = self.with(|c| {
            redis::pipe()
                .exists(format!("{PREFIX}jid:{jid}"))
                .get(format!("{PREFIX}live:{jid}"))
                .query(c)
        })?;
        let Some(holder) = live.filter(|_| !record) else {
            return Ok(record);
        };
        let instance = holder.rsplit_once('.').map_or(holder.as_str(), |(i, _)| i);
        let alive: bool = self.with(|c| {
            redis::cmd("EXISTS")
                .arg(format!("{PREFIX}alive:{instance}"))
                .query(c)
        })?;
        Ok(alive)
    }

    /// Every shared entry: (full JID, JSON).
    fn presence_all(&self) -> Result<Vec<(String, String)>, String> {
        let accounts: Vec<String> = self.with(|c| {
            redis::cmd("SMEMBERS")
                .arg(format!("{PREFIX}presence:accounts"))
                .query(c)
        })?;
        let mut all = Vec::new();
        for account in accounts {
            let key = format!("{PREFIX}presence:{account}");
            let entries: Vec<(String, String)> =
                self.with(|c| redis::cmd("HGETALL").arg(&key).query(c))?;
            all.extend(entries);
        }
        Ok(all)
    }
}

impl Shared {
    /// The resources a dead node instance had shared: each one whose session lives on
    /// nowhere (no record hibernated on it, no stream of a running node) is unavailable now.
    pub(super) fn cluster_presence_orphans(&self, now: Now, jids: Vec<String>) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        for jid in jids {
            let Ok(jid) = jid.parse::<FullJid>() else {
                continue;
            };
            match cluster.lives_on(&jid) {
                Ok(true) => {}
                Ok(false) => {
                    eprintln!("cluster: {jid}'s node is gone: unavailable");
                    self.session_ended(now, &jid);
                }
                Err(e) => eprintln!("cluster: cannot look {jid} up ({e})"),
            }
        }
    }

    /// A resource's broadcast presence was taken here (`None`: it is unavailable now): every
    /// node's presence map follows.
    pub(crate) fn cluster_presence(&self, jid: &FullJid, presence: Option<&Element>) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        let entry = presence.map(|p| {
            let xml = text(p)?;
            let agent = self.push2_device(jid).user_agent;
            serde_json::to_string(&Entry { xml, agent }).map_err(|e| e.to_string())
        });
        let json = match entry.transpose() {
            Ok(json) => json,
            Err(e) => return eprintln!("cluster: {jid}'s presence not shared ({e})"),
        };
        if let Err(e) = cluster.presence_store(jid, json.as_deref()) {
            eprintln!("cluster: cannot share {jid}'s presence ({e})");
        }
    }

    /// Another node announced a change of `jid`'s presence: this map takes what Redis holds.
    pub(super) fn cluster_presence_remote(&self, jid: &FullJid) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        match cluster.presence_fetch(jid) {
            Ok(xml) => self.presence_apply(jid, xml.as_deref()),
            Err(e) => eprintln!("cluster: cannot read {jid}'s presence ({e})"),
        }
    }

    /// At start, after `--state`: every resource available on another node.
    pub(super) fn cluster_presence_load(&self) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        match cluster.presence_all() {
            Ok(entries) => {
                for (jid, xml) in entries {
                    match jid.parse::<FullJid>() {
                        Ok(jid) => self.presence_apply(&jid, Some(&xml)),
                        Err(e) => eprintln!("cluster: a presence of {jid:?} skipped ({e})"),
                    }
                }
            }
            Err(e) => eprintln!("cluster: cannot load the shared presence ({e})"),
        }
    }

    /// Sets (or removes) `jid` in this node's presence map, from a shared entry read back
    /// like peer data.
    fn presence_apply(&self, jid: &FullJid, json: Option<&str>) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        let Some(json) = json else {
            lock(&self.presence).remove(jid);
            lock(&cluster.agents).remove(jid);
            return self.trace_cluster(format_args!("{jid} unavailable on another node"));
        };
        match checked(jid, json) {
            Ok((presence, agent)) => {
                lock(&self.presence).insert(jid.clone(), presence);
                let mut agents = lock(&cluster.agents);
                match agent {
                    Some(agent) => agents.insert(jid.clone(), agent),
                    None => agents.remove(jid),
                };
                drop(agents);
                self.trace_cluster(format_args!("{jid} available on another node"));
            }
            Err(e) => eprintln!("cluster: {jid}'s shared presence refused ({e})"),
        }
    }

    /// Push 2.0's view of `account`'s sessions (`local`, from this node's store), with the
    /// ones other nodes hold.
    pub(crate) fn cluster_sessions(
        &self,
        account: &BareJid,
        mut local: Vec<SessionState>,
    ) -> Vec<SessionState> {
        let Some(cluster) = self.cluster() else {
            return local;
        };
        let here: HashSet<FullJid> = self
            .sessions
            .resources(account)
            .into_iter()
            .map(|(jid, _)| jid)
            .collect();
        let elsewhere: Vec<FullJid> = lock(&self.presence)
            .keys()
            .filter(|j| j.to_bare() == *account && !here.contains(*j))
            .cloned()
            .collect();
        if elsewhere.is_empty() {
            return local;
        }
        let flags = match cluster.where_are(&elsewhere) {
            Ok(flags) => flags,
            Err(e) => {
                eprintln!("cluster: cannot look {account}'s sessions up ({e})");
                return local;
            }
        };
        let agents = lock(&cluster.agents);
        for (jid, (live, hibernated)) in elsewhere.into_iter().zip(flags) {
            let status = match (live, hibernated) {
                (true, _) => SessionStatus::Live,
                (false, true) => SessionStatus::Hibernated,
                (false, false) => continue,
            };
            let mut device = Device::new(jid.clone());
            if let Some(agent) = agents.get(&jid) {
                device = device.with_user_agent(agent.clone());
            }
            local.push(SessionState::new(device.key(), status));
        }
        local
    }
}

/// A presence as stored: the workspace's writer (it never panics on a built element).
fn text(presence: &Element) -> Result<String, String> {
    let mut out = Vec::new();
    framing::serialize_element(presence, &mut out).map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// A shared presence read back: bounded XML, an available `<presence/>` from `jid`, and the
/// session's user-agent id.
fn checked(jid: &FullJid, json: &str) -> Result<(Element, Option<String>), String> {
    let entry: Entry = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let presence = framing::parse_element(entry.xml.as_bytes(), &Limits::default())
        .map_err(|e| e.to_string())?;
    if !presence.is("presence", CLIENT) || presence.attr("type").is_some() {
        return Err("not an available presence".to_owned());
    }
    if presence.attr("from") != Some(jid.as_str()) {
        return Err("a presence from another resource".to_owned());
    }
    Ok((presence, entry.agent))
}
