//! XEP-0357 Push Notifications with xmpp-push0: the `<enable/>` and `<disable/>` iqs, a
//! publish to the app server for each stanza queued in a hibernated session or stored
//! offline, the hibernation extension until the first push, and the publishes' outcomes from
//! the app server's answers. The registry owns every rule; this file routes.

use xmpp_tether::Now;
use xmpp_tether::jid::{BareJid, FullJid};
use xmpp_tether::minidom::Element;
use xmpp_tether::push0::{Event, Hibernation, Registry, RegistryConfig, Target, Trigger};
use xmpp_tether::sm::{Route, ServerEvent};

use crate::state::{Shared, lock};

/// Prosody's mod_cloud_notify defaults (the crate's): publishes from the server, a
/// placeholder body for important messages, 16 errors in a row disable a registration.
pub(super) fn config() -> RegistryConfig {
    RegistryConfig::default()
}

impl Shared {
    /// Runs `f` on the registry, then writes what it queued and acts on its events (with
    /// the registry unlocked: routing may come back here).
    pub(crate) fn push0<R>(&self, now: Now, f: impl FnOnce(&mut Registry) -> R) -> R {
        let (result, transmits, events) = {
            let mut registry = lock(&self.push.zero);
            let result = f(&mut registry);
            // push0 {
            let transmits: Vec<_> = std::iter::from_fn(|| registry.poll_transmit()).collect();
            let events: Vec<_> = std::iter::from_fn(|| registry.poll_event()).collect();
            // push0 }
            (result, transmits, events)
        };
        for t in transmits {
            self.push_send(now, &t.to().clone(), t.into_element()); // push0
        }
        for event in events {
            self.push0_event(now, event);
        }
        self.push_wake();
        result
    }

    pub(crate) fn push0_event(&self, now: Now, event: Event) {
        match event {
            // push0 {
            Event::HibernationDeadline { session, deadline } => {
                if let Some(Route::Hibernated(id)) = self.sessions.route(&session) {
                    self.sessions.set_deadline(now, &id, deadline);
                    eprintln!("push0: {session} pushed, back to its own timeout");
                }
                #[cfg(feature = "cluster")] // cluster
                self.cluster_set_deadline(&session, Some(deadline)); // cluster
            }
            // push0 }
            Event::Changed { account } => {
                #[cfg(feature = "cluster")] // cluster
                self.cluster_push_changed(crate::cluster::Kind::Zero, &account); // cluster
                let _ = account; // else the registry is in the state written at shutdown
            }
            other => eprintln!("push0: {other:?}"),
        }
    }

    pub(super) fn push0_restore(
        &self,
        now: Now,
        snapshot: xmpp_tether::push0::Snapshot,
    ) -> Result<(), String> {
        let restored = {
            let rng = &mut *lock(&self.rng);
            Registry::restore(config(), rng, snapshot, now) // push0
        };
        *lock(&self.push.zero) = restored.map_err(|e| format!("push0: {e}"))?;
        self.push0(now, |_| ());
        Ok(())
    }

    /// What a stanza for `to` is worth pushing about, if `to` is hibernated.
    pub(crate) fn push0_trigger(&self, to: &FullJid, stanza: &Element) -> Option<Trigger> {
        let hibernated = matches!(self.sessions.route(to), Some(Route::Hibernated(_)));
        hibernated.then(|| worth_a_push(stanza)).flatten()
    }
}

/// What a stanza is worth pushing about (Prosody's classification), if anything, keeping
/// only what the registry's privacy policy lets a notification reveal.
pub(crate) fn worth_a_push(stanza: &Element) -> Option<Trigger> {
    Trigger::from_stanza_for(stanza, &config().privacy) // push0
}

impl Shared {
    /// The stanza was routed: if it was queued in `to`'s hibernated session, push.
    pub(crate) fn push0_queued(&self, now: Now, to: &FullJid, trigger: Option<Trigger>) {
        let Some(trigger) = trigger else { return };
        if matches!(self.sessions.route(to), Some(Route::Hibernated(_))) {
            let target = Target::Session(to.clone()); // push0
            self.push0(now, |r| r.notify(now, &target, &trigger)); // push0
        }
    }

    /// A message was stored offline for `account`: push to all its registrations.
    pub(crate) fn push0_offline(&self, now: Now, account: &BareJid, trigger: Option<Trigger>) {
        let Some(trigger) = trigger else { return };
        let target = Target::Account(account.clone()); // push0
        self.push0(now, |r| r.notify(now, &target, &trigger)); // push0
    }

    /// What a stream reports about its session: it hibernated (extended until its first
    /// push if push was enabled from it), resumed, or started stream management (the user
    /// is back: the summary counts restart; a client without XEP-0198 is not pushed to
    /// while hibernated either, so its counts run on until one that has it logs in).
    pub(crate) fn push0_session(&self, now: Now, jid: Option<&FullJid>, event: &ServerEvent) {
        let Some(jid) = jid else { return };
        match event {
            // push0 {
            ServerEvent::Hibernated { id, .. } => {
                let until = self.sessions.deadline(id).unwrap_or_else(|| now.wall());
                let hibernation = self.push0(now, |r| r.handle_hibernated_until(now, jid, until));
                if let Hibernation::Extended { deadline } = hibernation {
                    self.sessions.extend(now, id, deadline);
                    eprintln!("push0: {jid} hibernated, kept until its first push");
                }
            }
            ServerEvent::Resumed { .. } => self.push0(now, |r| r.handle_resumed(now, jid)),
            ServerEvent::Enabled { .. } => {
                self.push0(now, |r| r.handle_online(now, &jid.to_bare()));
            }
            // push0 }
            _ => {}
        }
    }

    /// A session is over for good (closed, or expired while hibernated).
    pub(crate) fn push0_gone(&self, now: Now, jid: Option<&FullJid>) {
        let Some(jid) = jid else { return };
        self.push0(now, |r| r.handle_session_closed(now, jid)); // push0
    }
}
