//! Push notifications for users whose session is hibernated (XEP-0198) or who are offline:
//! XEP-0357 with xmpp-push0 (`push/zero.rs`) and Push 2.0 with xmpp-push2 (`push/two.rs`).
//! Both send to a push service, usually an XEP-0114 component (`--component`), and learn
//! the outcome from what it answers.
//!
//! What is shared lives here: the two registries, their timer task, where their stanzas go,
//! and what `--state` keeps of them.

mod two;
mod zero;

pub(crate) use self::zero::worth_a_push;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rand_chacha::ChaCha20Rng;
use xmpp_tether::jid::{FullJid, Jid};
use xmpp_tether::minidom::Element;
use xmpp_tether::xmpp_parsers::stanza_error::DefinedCondition;
use xmpp_tether::{Now, push0, push2};

use crate::state::{Shared, lock};
use crate::xml::{self, CLIENT};

/// At most this many SASL2 user-agent ids are kept (one per bound session).
const MAX_AGENTS: usize = 100_000;

/// Both registries, and what the server remembers for them.
pub(crate) struct Push {
    pub(crate) zero: Mutex<push0::Registry>,
    pub(crate) two: Mutex<push2::Registry>,
    /// The SASL2 `<user-agent id/>` of each session that gave one: Push 2.0 keys a client's
    /// registration by it.
    agents: Mutex<HashMap<FullJid, String>>,
    /// Push 2.0's answers to an inline `<enable/>`, waiting for the Bind2 `<bound/>`.
    bound: Mutex<HashMap<FullJid, Vec<Element>>>,
    /// When each session last sent a message (or a chat state): what Push 2.0's `<grace/>`
    /// periods look at.
    activity: Mutex<HashMap<FullJid, xmpp_tether::Monotonic>>,
    /// Wakes the timer task when a registry may have armed an earlier timer.
    wake: tokio::sync::Notify,
}

/// What `--state` keeps: both registries' snapshots and the user-agent ids of the sessions
/// (hibernated ones resume under the same key after a restart).
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Saved {
    push0: push0::Snapshot,
    push2: push2::Snapshot,
    agents: Vec<(FullJid, String)>,
}

impl Push {
    pub(crate) fn new(rng: &mut ChaCha20Rng) -> Self {
        Self {
            zero: Mutex::new(push0::Registry::new(zero::config(), rng)), // push0
            two: Mutex::new(push2::Registry::new(two::config(), rng)),   // push2
            agents: Mutex::default(),
            bound: Mutex::default(),
            activity: Mutex::default(),
            wake: tokio::sync::Notify::new(),
        }
    }
}

impl Shared {
    /// Back from `--state`, checked like peer data: a snapshot that breaks a bound or does
    /// not hold together is refused, the whole file with it.
    pub(crate) fn push_restore(&self, now: Now, saved: Saved) -> Result<(), String> {
        if saved.agents.len() > MAX_AGENTS {
            return Err(format!("{} user-agent ids", saved.agents.len()));
        }
        self.push0_restore(now, saved.push0)?;
        self.push2_restore(now, saved.push2)?;
        *lock(&self.push.agents) = saved.agents.into_iter().collect();
        Ok(())
    }

    pub(crate) fn push_saved(&self) -> Saved {
        let mut agents: Vec<_> = lock(&self.push.agents).clone().into_iter().collect();
        agents.sort();
        Saved {
            push0: lock(&self.push.zero).snapshot(), // push0
            push2: lock(&self.push.two).snapshot(),  // push2
            agents,
        }
    }

    /// Writes what a registry queued: a reply to a local session, or a publish or a
    /// notification to a push service (a component). What cannot be reached (no
    /// server-to-server here) is bounced back to the server, and the registries count the
    /// error like the service's own.
    pub(crate) fn push_send(&self, now: Now, to: &Jid, stanza: Element) {
        let domain = to.domain().as_str();
        if lock(&self.components).is_component(domain) {
            let stanza = xml::renamespace(stanza, CLIENT, "jabber:component:accept");
            self.to_component(now, domain, stanza);
        } else if let (true, Ok(session)) = (domain == self.domain, to.clone().try_into_full()) {
            self.deliver(now, &session, stanza);
        } else {
            self.bounce(now, &stanza, DefinedCondition::RemoteServerNotFound);
        }
    }

    pub(crate) fn push_wake(&self) {
        self.push.wake.notify_one();
    }
}

/// The registries' timer: publishes unanswered, retries due, suspended registrations to
/// re-enable (XEP-0357); outcome windows and back-offs (Push 2.0).
pub(crate) async fn timer(shared: Arc<Shared>) {
    loop {
        let next = {
            let zero = lock(&shared.push.zero).poll_timeout(); // push0
            let two = lock(&shared.push.two).poll_timeout(); // push2
            zero.into_iter().chain(two).min()
        };
        let sleep = next.map(|at| shared.instant(at));
        tokio::select! {
            () = crate::conn::sleep_until(sleep) => {}
            () = shared.push.wake.notified() => continue,
        }
        let now = shared.now();
        shared.push0(now, |r| r.handle_timeout(now)); // push0
        shared.push2(now, |r| r.handle_timeout(now)); // push2
    }
}
