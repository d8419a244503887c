//! Push 2.0 (`urn:xmpp:push2:0`) with xmpp-push2: the `<enable/>` and `<disable/>` iqs, the
//! `<enable/>` inside Bind2, a notification to the push service for each stanza routed to an
//! account whose client is hibernated or offline (the registry decides which, from the
//! sessions' state), and the delivery errors the push service bounces back. The registry
//! owns every rule, the notification's encryption and its VAPID tokens (signed with the key
//! each client sent, cached in the registry); this file routes.

use xmpp_tether::Now;
use xmpp_tether::jid::{FullJid, Jid};
use xmpp_tether::minidom::Element;
use xmpp_tether::push2::{
    Device, Event, NoCustomProfiles, Registry, RegistryConfig, Routed, SessionState, SessionStatus,
    Snapshot, Transmit,
};
use xmpp_tether::sm::Route;
use xmpp_tether::xmpp_parsers::disco::DiscoInfoResult;

use crate::state::{Shared, lock};

const SASL2: &str = "urn:xmpp:sasl:2";

/// The crate's defaults: envelopes within the APNs relay budget, `wait` errors retried with
/// back-off, a registration failing for 72 h (or gone, a 404/410) disabled.
pub(super) fn config() -> RegistryConfig {
    RegistryConfig::default()
}

impl Shared {
    /// Runs `f` on the registry, then writes what it queued and reports its events (with the
    /// registry unlocked: routing may come back here).
    pub(crate) fn push2<R>(&self, now: Now, f: impl FnOnce(&mut Registry) -> R) -> R {
        let (result, transmits, events) = {
            let mut registry = lock(&self.push.two);
            let result = f(&mut registry);
            // push2 {
            let transmits: Vec<_> = std::iter::from_fn(|| registry.poll_transmit()).collect();
            let events: Vec<_> = std::iter::from_fn(|| registry.poll_event()).collect();
            // push2 }
            (result, transmits, events)
        };
        for t in transmits {
            match t {
                // push2 {
                Transmit::Bind2 { session, element } => {
                    lock(&self.push.bound)
                        .entry(session)
                        .or_default()
                        .push(*element);
                }
                other => self.push_send(now, &other.to(), other.into_element()),
                // push2 }
            }
        }
        for event in events {
            match event {
                Event::Changed { account } => {
                    #[cfg(feature = "cluster")] // cluster
                    self.cluster_push_changed(crate::cluster::Kind::Two, &account); // cluster
                    let _ = account; // else the registry is in the state written at shutdown
                }
                other => eprintln!("push2: {other:?}"),
            }
        }
        self.push_wake();
        result
    }

    /// The session `jid` as Push 2.0 keys it: its SASL2 user-agent id, else its resource.
    pub(crate) fn push2_device(&self, jid: &FullJid) -> Device {
        let device = Device::new(jid.clone()); // push2
        match lock(&self.push.agents).get(jid) {
            Some(id) => device.with_user_agent(id.clone()), // push2
            None => device,
        }
    }

    /// The account advertises Push 2.0 and its profiles.
    pub(crate) fn push2_disco(&self, info: &mut DiscoInfoResult) {
        let features = lock(&self.push.two).account_features(); // push2
        info.features.extend(features); // push2
    }

    pub(super) fn push2_restore(&self, now: Now, snapshot: Snapshot) -> Result<(), String> {
        let restored = {
            let rng = &mut *lock(&self.rng);
            Registry::restore(config(), NoCustomProfiles, snapshot, rng, now) // push2
        };
        *lock(&self.push.two) = restored.map_err(|e| format!("push2: {e}"))?;
        Ok(())
    }

    /// A Bind2 `<bind/>` just bound `jid`: remembers the SASL2 user-agent id, and applies an
    /// `<enable/>` inside it (its answer waits for [`push2_bound`](Self::push2_bound)).
    pub(crate) fn push2_bind2(&self, now: Now, jid: &FullJid, auth: &Element, bind: &Element) {
        let agent = auth
            .get_child("user-agent", SASL2)
            .and_then(|a| a.attr("id"));
        if let Some(id) = agent.filter(|id| !id.is_empty()) {
            lock(&self.push.agents).insert(jid.clone(), id.to_owned());
        }
        let device = self.push2_device(jid);
        let _ = self.push2(now, |r| r.handle_bind2(now, &device, bind)); // push2
    }

    /// What goes inside `jid`'s Bind2 `<bound/>`: `<enabled/>` or `<failed/>`.
    pub(crate) fn push2_bound(&self, jid: &FullJid) -> Vec<Element> {
        lock(&self.push.bound).remove(jid).unwrap_or_default()
    }

    /// A stanza routed to `to` (a local account, or one of its resources): the registry
    /// decides which registrations get a notification, from each session's state (live or
    /// hibernated; a registration with no session is offline). Iqs to the bare JID are the
    /// server's business, not the account's.
    pub(crate) fn push2_routed(&self, now: Now, to: &Jid, stanza: &Element) {
        let account = to.to_bare();
        if (stanza.name() == "iq" && to.resource().is_none()) || !self.is_local(&account) {
            return;
        }
        let sessions: Vec<SessionState> = self
            .sessions
            .resources(&account)
            .into_iter()
            .map(|(jid, route)| {
                let status = match route {
                    Route::Hibernated(_) => SessionStatus::Hibernated,
                    _ => SessionStatus::Live,
                };
                let state = SessionState::new(self.push2_device(&jid).key(), status); // push2
                match lock(&self.push.activity).get(&jid) {
                    Some(at) => state.with_last_activity(*at), // push2
                    None => state,
                }
            })
            .collect();
        #[cfg(feature = "cluster")] // cluster
        let sessions = self.cluster_sessions(&account, sessions); // cluster
        // push2 {
        let routed = Routed::new(&account, stanza).with_sessions(&sessions);
        self.push2(now, |r| {
            r.handle_routed(now, &mut *lock(&self.rng), &routed)
        });
        // push2 }
    }

    /// A session is over for good: forget its user-agent id and unsent Bind2 answers.
    pub(crate) fn push2_gone(&self, jid: Option<&FullJid>) {
        let Some(jid) = jid else { return };
        lock(&self.push.agents).remove(jid);
        lock(&self.push.bound).remove(jid);
        lock(&self.push.activity).remove(jid);
    }

    /// The session `from` sent a message: the user is active there (mod_push2 counts
    /// messages and chat states).
    pub(crate) fn push2_activity(&self, now: Now, from: &FullJid) {
        lock(&self.push.activity).insert(from.clone(), now.monotonic());
    }
}
