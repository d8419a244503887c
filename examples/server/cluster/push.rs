//! Push registrations shared between nodes (XEP-0357 with xmpp-push0, Push 2.0 with
//! xmpp-push2), so that a node that did not see the `<enable/>` still pushes.
//!
//! - **Keys**: `push0:{account}` and `push2:{account}`, the account's `AccountRecord` as JSON
//!   (what each registry's `Changed` event says to store), and the sets `push0:accounts` and
//!   `push2:accounts` naming them; a record and its set entry change in one transaction.
//! - **Flow**: a registry change on any node (an enable, a disable, a registration disabled
//!   after its app server failed, an account's registrations evicted) is written there and
//!   announced on the `nodes` channel, which every node subscribes to with its own. The others
//!   read the record back, check it like peer data (`restore_account`: bounds, structure, and
//!   here that it is the account the key names) and replace the account's registrations with
//!   it; their pending publishes and extended hibernations stay. What a node applies is what
//!   it reads from Redis, not what the message carried, so two changes racing on two nodes
//!   converge on the one written last. Summary counts travel with the records.
//! - **Start**: after its `--state`, a node loads every record in Redis, which wins.
//! - **Failures**: a record that cannot be written stays on its node (logged), and a node
//!   that missed an announcement (its subscription was down) catches up at its next start.

use serde::{Deserialize, Serialize};
use xmpp_tether::Now;
use xmpp_tether::jid::BareJid;
use xmpp_tether::{push0, push2};

use super::remote::Remote;
use super::{Cluster, PREFIX};
use crate::state::{Shared, lock};

/// Which registry a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    /// XEP-0357 (xmpp-push0).
    Zero,
    /// Push 2.0 (xmpp-push2).
    Two,
}

impl Kind {
    const ALL: [Self; 2] = [Self::Zero, Self::Two];

    const fn name(self) -> &'static str {
        match self {
            Self::Zero => "push0",
            Self::Two => "push2",
        }
    }
}

impl Cluster {
    fn push_store(
        &self,
        kind: Kind,
        account: &BareJid,
        record: Option<&str>,
    ) -> Result<(), String> {
        let key = format!("{PREFIX}{}:{account}", kind.name());
        let set = format!("{PREFIX}{}:accounts", kind.name());
        self.with(|c| {
            let mut pipe = redis::pipe();
            pipe.atomic();
            match record {
                Some(json) => pipe.set(&key, json).ignore().sadd(&set, account.as_str()),
                None => pipe.del(&key).ignore().srem(&set, account.as_str()),
            };
            pipe.ignore().query::<()>(c)
        })
    }

    fn push_fetch(&self, kind: Kind, account: &BareJid) -> Result<Option<String>, String> {
        let key = format!("{PREFIX}{}:{account}", kind.name());
        self.with(|c| redis::cmd("GET").arg(&key).query(c))
    }

    fn push_accounts(&self, kind: Kind) -> Result<Vec<String>, String> {
        let set = format!("{PREFIX}{}:accounts", kind.name());
        self.with(|c| redis::cmd("SMEMBERS").arg(&set).query(c))
    }
}

impl Shared {
    /// The registry of `kind` changed `account` here: its record goes to Redis, and the other
    /// nodes are told.
    pub(crate) fn cluster_push_changed(&self, kind: Kind, account: &BareJid) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        let record = match kind {
            Kind::Zero => lock(&self.push.zero)
                .record(account)
                .map(|r| serde_json::to_string(&r)),
            Kind::Two => lock(&self.push.two)
                .record(account)
                .map(|r| serde_json::to_string(&r)),
        };
        let stored = record
            .transpose()
            .map_err(|e| e.to_string())
            .and_then(|json| cluster.push_store(kind, account, json.as_deref()));
        if let Err(e) = stored {
            return eprintln!(
                "cluster: cannot share {}'s {} registrations ({e}): this node only",
                account,
                kind.name()
            );
        }
        let told = Remote::Push {
            registry: kind,
            account: account.clone(),
            node: cluster.node().to_owned(),
        };
        match serde_json::to_string(&told).map_err(|e| e.to_string()) {
            Ok(payload) => {
                let sent = cluster.with(|c| {
                    redis::cmd("PUBLISH")
                        .arg(super::nodes_channel())
                        .arg(&payload)
                        .query::<i64>(c)
                });
                if let Err(e) = sent {
                    eprintln!("cluster: cannot announce {account}'s registrations ({e})");
                }
            }
            Err(e) => eprintln!("cluster: {e}"),
        }
        self.trace_cluster(format_args!(
            "{account}'s {} registrations shared",
            kind.name()
        ));
    }

    /// Another node changed `account`'s registrations of `kind`: the record in Redis replaces
    /// them here.
    pub(crate) fn cluster_push_remote(&self, now: Now, kind: Kind, account: &BareJid) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        match cluster.push_fetch(kind, account) {
            Ok(json) => self.push_apply(now, kind, account, json.as_deref()),
            Err(e) => eprintln!("cluster: cannot read {account}'s registrations ({e})"),
        }
    }

    /// At start, after `--state`: every record in Redis.
    pub(super) fn cluster_push_load(&self, now: Now) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        for kind in Kind::ALL {
            let accounts = match cluster.push_accounts(kind) {
                Ok(accounts) => accounts,
                Err(e) => {
                    eprintln!("cluster: cannot list {} registrations ({e})", kind.name());
                    continue;
                }
            };
            for account in accounts {
                match BareJid::new(&account) {
                    Ok(account) => self.cluster_push_remote(now, kind, &account),
                    Err(e) => eprintln!("cluster: {account:?} in {}: {e}", kind.name()),
                }
            }
        }
    }

    /// Replaces `account`'s registrations with `json` (none: removes them), checked like
    /// peer data. What the registry queues is written and acted on as usual, except its
    /// `Changed` for this account, which came from Redis and is not shared back.
    fn push_apply(&self, now: Now, kind: Kind, account: &BareJid, json: Option<&str>) {
        let applied = match kind {
            Kind::Zero => self.push0_apply(now, account, json),
            Kind::Two => self.push2_apply(now, account, json),
        };
        match applied {
            Ok(()) => self.trace_cluster(format_args!(
                "{account}'s {} registrations from another node",
                kind.name()
            )),
            Err(e) => eprintln!("cluster: {account}'s {} record refused ({e})", kind.name()),
        }
    }

    fn push0_apply(&self, now: Now, account: &BareJid, json: Option<&str>) -> Result<(), String> {
        let record = checked(json, account, |r: &push0::AccountRecord| &r.account)?;
        let (transmits, events) = {
            let mut registry = lock(&self.push.zero);
            match record {
                Some(record) => registry
                    .restore_account(now, record)
                    .map_err(|e| e.to_string())?,
                None => registry.remove_account(now, account),
            }
            let transmits: Vec<_> = std::iter::from_fn(|| registry.poll_transmit()).collect();
            let events: Vec<_> = std::iter::from_fn(|| registry.poll_event()).collect();
            (transmits, events)
        };
        for t in transmits {
            self.push_send(now, &t.to().clone(), t.into_element());
        }
        for event in events {
            if !matches!(&event, push0::Event::Changed { account: a } if a == account) {
                self.push0_event(now, event);
            }
        }
        self.push_wake();
        Ok(())
    }

    fn push2_apply(&self, now: Now, account: &BareJid, json: Option<&str>) -> Result<(), String> {
        let record = checked(json, account, |r: &push2::AccountRecord| &r.account)?;
        let (transmits, events) = {
            let mut registry = lock(&self.push.two);
            match record {
                Some(record) => registry
                    .restore_account(now, record)
                    .map_err(|e| e.to_string())?,
                None => registry.remove_account(now, account),
            }
            let transmits: Vec<_> = std::iter::from_fn(|| registry.poll_transmit()).collect();
            let events: Vec<_> = std::iter::from_fn(|| registry.poll_event()).collect();
            (transmits, events)
        };
        for t in transmits {
            self.push_send(now, &t.to(), t.into_element());
        }
        for event in events {
            if !matches!(&event, push2::Event::Changed { account: a } if a == account) {
                eprintln!("push2: {event:?}");
            }
        }
        self.push_wake();
        Ok(())
    }
}

/// A record read back from Redis, like peer data: it parses, and it is `account`'s (the
/// registry checks the rest when it restores it).
fn checked<T: for<'de> Deserialize<'de>>(
    json: Option<&str>,
    account: &BareJid,
    account_of: impl Fn(&T) -> &BareJid,
) -> Result<Option<T>, String> {
    let record: Option<T> = json
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| e.to_string())?;
    match record {
        Some(r) if account_of(&r) != account => Err("a record of another account".to_owned()),
        record => Ok(record),
    }
}
