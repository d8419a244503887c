//! XEP-0310 Presence State Annotations with xmpp-psa's [`Tracker`]: when a contact's
//! session hibernates (its XEP-0198 stream lost its connection), the local resources that
//! advertise `urn:xmpp:psa` in their caps get that contact's presence again, annotated
//! `<connection-paused/>` by the server; when the session resumes, the same presence with the
//! empty annotation; when the hibernation runs out, only the plain unavailable presence the
//! server sends anyway (XEP-0310 §4.2: never an empty annotation first).
//!
//! - Every presence the server delivers to a local resource passes through the tracker on
//!   its way ([`Shared::psa_deliver`], called by `deliver`): it learns what each resource
//!   holds from whom, strips annotations a client put in its own presence (§6), and keeps
//!   the annotation on a presence relayed for a paused contact.
//! - Who asked for annotations: the caps the PEP service resolves through xmpp-rsnf's
//!   `CapsCache`, configured to keep `urn:xmpp:psa` ([`caps_config`]); each resource's
//!   resolved caps reach [`Shared::psa_caps`]. A resource whose caps are not (yet) known is
//!   tracked but not annotated, and caught up as soon as they are.
//! - Sessions, from xmpp-sm's events: `ServerEvent::Hibernated` pauses and
//!   `ServerEvent::Resumed` resumes ([`Shared::psa_session`], from each stream's drain in
//!   `conn.rs`); a resource gone for good (closed, or its hibernation expired or evicted)
//!   ends, before its unavailable presence goes out ([`Shared::psa_ended`], from
//!   `session_ended`). A watcher that hibernates is a paused session too: nothing is queued
//!   for it, and it is caught up when it resumes.
//!
//! Not here: s2s (so no link outages, and the tracker's grace timer never runs), MUC, remote
//! watchers. The tracker is not kept in `--state`: after a restart it learns again from the
//! presences that follow (a session restored hibernated gets no annotation until it
//! resumes and sends presence).

use std::sync::Mutex;

use xmpp_tether::Now;
use xmpp_tether::jid::{DomainPart, FullJid, Jid};
use xmpp_tether::minidom::Element;
use xmpp_tether::psa::{Event, Misuse, Relay, Tracker, TrackerConfig, elements, presence_element};
use xmpp_tether::rsnf::{CapsConfig, CapsInfo};
use xmpp_tether::sm::ServerEvent;
use xmpp_tether::xmpp_parsers::presence::Presence;

use crate::state::{Shared, lock};

/// The server's tracker (`None` only for a `--domain` that is no domain, which serves no
/// JID anyway).
pub(crate) struct Psa {
    tracker: Mutex<Option<Tracker>>,
}

impl Psa {
    pub(crate) fn new(domain: &str) -> Self {
        let config = DomainPart::new(domain).map(|d| TrackerConfig::new(d.into_owned()));
        Self {
            tracker: Mutex::new(config.ok().map(Tracker::new)), // psa
        }
    }
}

/// The PEP service's caps cache keeps `urn:xmpp:psa`, so that the caps it resolves also say
/// which resources want annotations (XEP-0310 §3).
pub(crate) fn caps_config() -> CapsConfig {
    let mut config = CapsConfig::default();
    config.keep_features.push(elements::FEATURE.to_owned()); // psa
    config
}

impl Shared {
    /// A stanza on its way to the local resource it is addressed to: a presence goes through
    /// the tracker, and comes back changed only if it had to be (an annotation stripped or
    /// added); everything else passes untouched.
    pub(crate) fn psa_deliver(&self, now: Now, stanza: Element) -> Element {
        if stanza.name() != "presence" {
            return stanza;
        }
        let Ok(mut presence) = Presence::try_from(stanza.clone()) else {
            return stanza;
        };
        let had = stanza.children().any(elements::is_annotation);
        let relay = self.psa(now, |t| Ok(t.handle_presence(now, &mut presence))); // psa
        if had || matches!(relay, Some(Relay::Annotated(_))) {
            presence_element(presence)
        } else {
            stanza
        }
    }

    /// A local resource's caps, resolved: does it want annotations?
    pub(crate) fn psa_caps(&self, now: Now, jid: &FullJid, caps: &CapsInfo) {
        let wants = caps.has_feature(elements::FEATURE); // psa
        let jid = Jid::from(jid.clone());
        let _ = self.psa(now, |t| {
            t.handle_interest(now, &jid, wants); // psa
            Ok(())
        });
    }

    /// A stream's event, after the server's own handling of it: a hibernation pauses the
    /// session, a resumption (on the new stream) resumes it.
    pub(crate) fn psa_session(&self, now: Now, event: &ServerEvent) {
        let _ = self.psa(now, |t| match event {
            // psa {
            ServerEvent::Hibernated { jid: Some(jid), .. } => t.handle_session_paused(now, jid),
            ServerEvent::Resumed { jid: Some(jid), .. } => t.handle_session_resumed(now, jid),
            // psa }
            _ => Ok(()),
        });
    }

    /// A resource is gone for good: the tracker forgets it, so that the unavailable presence
    /// that follows goes out plain.
    pub(crate) fn psa_ended(&self, now: Now, jid: &FullJid) {
        let _ = self.psa(now, |t| t.handle_session_ended(now, jid)); // psa
    }

    /// Runs `input` on the tracker, then its drain contract: the presences it hands back go
    /// straight to their resources (live or hibernated: a paused watcher is never sent one),
    /// then its events are logged. `None` without a tracker.
    fn psa<T>(&self, now: Now, input: impl FnOnce(&mut Tracker) -> Result<T, Misuse>) -> Option<T> {
        let (out, transmits, events) = {
            let mut tracker = lock(&self.psa.tracker);
            let tracker = tracker.as_mut()?;
            let out = input(tracker);
            // psa {
            let transmits: Vec<_> = std::iter::from_fn(|| tracker.poll_transmit()).collect();
            let events: Vec<_> = std::iter::from_fn(|| tracker.poll_event()).collect();
            // psa }
            (out, transmits, events)
        };
        for transmit in transmits {
            // Every watcher here is a local resource; without s2s nothing else is tracked.
            if let Ok(to) = transmit.to().clone().try_into_full() {
                let _ = self.sessions.send(now, &to, transmit.into_element()); // psa
            }
        }
        for event in &events {
            // A table at its bound is worth a line always; the rest with --trace.
            if self.trace || matches!(event, Event::Evicted { .. } | Event::Refused { .. }) {
                eprintln!("psa: {event:?}");
            }
        }
        out.map_err(|misuse| eprintln!("psa: {misuse}")).ok()
    }
}
