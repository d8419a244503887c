//! Presences on their way to watchers: stripping foreign annotations, recording what each
//! watcher holds, and keeping the annotation on what is relayed for a stale entity.

use std::sync::Arc;

use jid::Jid;
use minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

use super::Tracker;
use super::reconcile::{Annotations, condition};
use super::table::{Home, Id, Interest, NoRoom};
use crate::config::RemoteWatchers;
use crate::elements::{self, StateAnnotation};
use crate::event::{Event, Relay, Untracked};

impl Tracker {
    /// Removes annotations a presence may not carry here: only the sender's own domain, when
    /// it is remote (a remote MUC service annotating its occupant, a remote server its paused
    /// user), may annotate across servers (XEP-0310 §4.3 and §6). Our own annotations are
    /// added after this, from what the tracker knows.
    pub(crate) fn strip(&mut self, presence: &mut Presence) {
        if !presence.payloads.iter().any(elements::is_annotation) {
            return;
        }
        let trusted = presence
            .from
            .as_ref()
            .filter(|from| !self.config.is_local(from.domain()))
            .map(|from| from.domain().to_owned());
        let before = presence.payloads.len();
        presence.payloads.retain(|payload| {
            !elements::is_annotation(payload)
                || trusted.as_ref().is_some_and(|domain| {
                    payload
                        .attr("from")
                        .and_then(|by| by.parse::<Jid>().ok())
                        .is_some_and(|by| {
                            by.node().is_none()
                                && by.resource().is_none()
                                && by.domain() == &**domain
                        })
                })
        });
        let count = before - presence.payloads.len();
        if count > 0 {
            self.events.push_back(Event::Stripped {
                from: presence.from.clone(),
                to: presence.to.clone(),
                count,
            });
        }
    }

    pub(crate) fn relay(&mut self, presence: &mut Presence) -> Relay {
        self.strip(presence);
        if presence.from.is_none() || presence.to.is_none() {
            return Relay::Untracked(Untracked::NotAddressed);
        }
        match presence.type_ {
            Type::None => self.relay_available(presence),
            // XEP-0310 §4.1: only when "the most recent presence is an available type (i.e.
            // not error or unavailable)".
            Type::Unavailable | Type::Error => self.relay_gone(presence),
            Type::Probe
            | Type::Subscribe
            | Type::Subscribed
            | Type::Unsubscribe
            | Type::Unsubscribed => Relay::Untracked(Untracked::Excluded),
        }
    }

    fn relay_gone(&mut self, presence: &Presence) -> Relay {
        let (Some(from), Some(to)) = (&presence.from, &presence.to) else {
            return Relay::Untracked(Untracked::NotAddressed);
        };
        if let Some(watcher) = self.t.find_party(to) {
            if from.is_full() {
                if let Some(source) = self.t.find_party(from) {
                    let _ = self.t.remove(watcher, source);
                }
            } else {
                // An unavailable from a bare JID stands for all its resources.
                let sources: Vec<Id> = self
                    .t
                    .party(watcher)
                    .watching
                    .iter()
                    .copied()
                    .filter(|source| self.t.party(*source).jid.to_bare() == from.to_bare())
                    .collect();
                for source in sources {
                    let _ = self.t.remove(watcher, source);
                }
            }
        }
        if presence.type_ == Type::Unavailable {
            self.gone_away(from);
        }
        Relay::Cleared
    }

    /// A JID that goes unavailable receives no presence until it is available again (RFC
    /// 6121 §4.5), and then receives it afresh: forget what it holds, and, for a remote JID,
    /// its interest (the next client on that resource may be another).
    fn gone_away(&mut self, jid: &Jid) {
        let Some(party) = self.t.find_party(jid) else {
            return;
        };
        let forgotten = self.t.forget_watching(party);
        if let Some(row) = self.t.parties.get_mut(party)
            && row.home != Home::Local
        {
            row.interest = Interest::Unknown;
        }
        self.t.release_party(party);
        if forgotten > 0 {
            self.events.push_back(Event::Forgotten {
                jid: jid.clone(),
                presences: forgotten,
            });
        }
    }

    fn relay_available(&mut self, presence: &mut Presence) -> Relay {
        let (watcher, source) = match self.record(presence) {
            Ok(pair) => pair,
            Err(untracked) => return Relay::Untracked(untracked),
        };
        let want = self.desired(watcher, source);
        if let Some(entry) = self.t.entries.get_mut(&(watcher, source)) {
            entry.sent = want;
        }
        match want {
            Some(stale) => {
                let mut cache = Annotations::default();
                let annotation = self.annotation(&mut cache, watcher, source, Some(stale));
                let _ = StateAnnotation::remove_from(presence);
                presence.payloads.push(Element::clone(&annotation));
                Relay::Annotated(condition(stale))
            }
            None => Relay::Tracked,
        }
    }

    /// Records an available presence as what its recipient holds from its sender.
    fn record(&mut self, presence: &Presence) -> Result<(Id, Id), Untracked> {
        let (Some(from), Some(to)) = (&presence.from, &presence.to) else {
            return Err(Untracked::NotAddressed);
        };
        let local_to = self.config.is_local(to.domain());
        let local_from = self.config.is_local(from.domain());
        if local_to && !to.is_full() {
            return Err(Untracked::NotAddressed);
        }
        // A local sender can only go stale as a session (a full JID) or a room occupant.
        if local_from && !from.is_full() {
            return Err(Untracked::NeverStale);
        }
        // A remote watcher of a remote sender: we only pass it through (an occupant of one
        // of our rooms has a local JID as sender).
        if !local_to && !local_from || from == to {
            return Err(Untracked::NeverStale);
        }
        match self.t.find_party(to) {
            Some(watcher) if !self.tracks(watcher) => {
                return Err(Untracked::NotInterested);
            }
            Some(_) => {}
            // A remote watcher is tracked by advertisement only once reported interested,
            // and then it has a record already.
            None if !local_to && self.config.remote_watchers != RemoteWatchers::All => {
                return Err(Untracked::NotInterested);
            }
            None => {}
        }
        let Ok(watcher) = self.t.ensure_party(to, &self.config) else {
            return Err(Untracked::Limit);
        };
        let Ok(source) = self.t.ensure_party(from, &self.config) else {
            self.t.release_party(watcher);
            return Err(Untracked::Limit);
        };
        let stored = self.stored(source, presence);
        let evicted = match self.t.upsert(watcher, source, stored, &self.config) {
            Ok(evicted) => evicted,
            Err(NoRoom) => {
                self.t.release_party(watcher);
                self.t.release_party(source);
                return Err(Untracked::Limit);
            }
        };
        for (watcher, source) in evicted {
            self.events.push_back(Event::Evicted { watcher, source });
        }
        Ok((watcher, source))
    }

    /// The presence as stored for `source`: without `to`, `id` and our own annotations,
    /// shared with the source's other watchers while it is the same.
    fn stored(&mut self, source: Id, presence: &Presence) -> Arc<Presence> {
        let party = self.t.party_mut(source);
        if let Some(current) = &party.current
            && same_content(current, presence)
        {
            return Arc::clone(current);
        }
        let mut stored = presence.clone();
        stored.to = None;
        stored.id = None;
        let stored = Arc::new(stored);
        party.current = Some(Arc::clone(&stored));
        stored
    }
}

/// Whether `incoming` says what `stored` says (addresses and ids aside).
fn same_content(stored: &Presence, incoming: &Presence) -> bool {
    stored.from == incoming.from
        && stored.type_ == incoming.type_
        && stored.show == incoming.show
        && stored.statuses == incoming.statuses
        && stored.priority == incoming.priority
        && stored.payloads == incoming.payloads
}
