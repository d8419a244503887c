//! Which resources of an account are available, shared between nodes: each node's presence
//! map holds every node's resources, so a message to a bare JID reaches the account's
//! resources wherever they are (into a session hibernated in Redis, or published to the node
//! whose stream has it), an account's own resources see each other's presence, and a session
//! handed back finds the account's other resources on any node.
//!
//! - **Keys**: `presence:{account}` a hash, full JID to the resource's last available
//!   presence (XML); `presence:accounts` the set of accounts that have one.
//! - **Flow**: a node that takes a resource's broadcast presence (available, or unavailable
//!   when the session ends) writes it there and announces the full JID on the channel every
//!   node subscribes to; the others read the entry back (checked like peer data: bounded
//!   XML, a `<presence/>` from that full JID) and set or remove it in their map, without
//!   broadcasting again. What a node applies is what Redis holds, so racing changes converge.
//! - **Start**: a node loads every entry, after its `--state`.
//! - **Not shared**: rosters, offline messages and PEP stay per node, so presence reaches
//!   the contacts whose subscription that node knows, and a message for an account with no
//!   available resource anywhere waits offline on the node that took it.

use xmpp_tether::framing::{self, Limits};
use xmpp_tether::jid::FullJid;
use xmpp_tether::minidom::Element;

use super::remote::Remote;
use super::{Cluster, PREFIX};
use crate::state::{Shared, lock};
use crate::xml::CLIENT;

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
                .invoke::<i64>(c)
        })
        .map(drop)
    }

    fn presence_fetch(&self, jid: &FullJid) -> Result<Option<String>, String> {
        let key = format!("{PREFIX}presence:{}", jid.to_bare());
        self.with(|c| redis::cmd("HGET").arg(&key).arg(jid.as_str()).query(c))
    }

    /// Every shared entry: (full JID, XML).
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
    /// A resource's broadcast presence was taken here (`None`: it is unavailable now): every
    /// node's presence map follows.
    pub(crate) fn cluster_presence(&self, jid: &FullJid, presence: Option<&Element>) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        let xml = match presence.map(text).transpose() {
            Ok(xml) => xml,
            Err(e) => return eprintln!("cluster: {jid}'s presence not shared ({e})"),
        };
        if let Err(e) = cluster.presence_store(jid, xml.as_deref()) {
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
    fn presence_apply(&self, jid: &FullJid, xml: Option<&str>) {
        let Some(xml) = xml else {
            lock(&self.presence).remove(jid);
            return self.trace_cluster(format_args!("{jid} unavailable on another node"));
        };
        match checked(jid, xml) {
            Ok(presence) => {
                lock(&self.presence).insert(jid.clone(), presence);
                self.trace_cluster(format_args!("{jid} available on another node"));
            }
            Err(e) => eprintln!("cluster: {jid}'s shared presence refused ({e})"),
        }
    }
}

/// A presence as stored: the workspace's writer (it never panics on a built element).
fn text(presence: &Element) -> Result<String, String> {
    let mut out = Vec::new();
    framing::serialize_element(presence, &mut out).map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// A shared presence read back: bounded XML, an available `<presence/>` from `jid`.
fn checked(jid: &FullJid, xml: &str) -> Result<Element, String> {
    let presence =
        framing::parse_element(xml.as_bytes(), &Limits::default()).map_err(|e| e.to_string())?;
    if !presence.is("presence", CLIENT) || presence.attr("type").is_some() {
        return Err("not an available presence".to_owned());
    }
    if presence.attr("from") != Some(jid.as_str()) {
        return Err("a presence from another resource".to_owned());
    }
    Ok(presence)
}
