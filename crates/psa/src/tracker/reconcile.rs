//! One rule for every state change: *reconcile* a tracked presence, comparing the annotation
//! the watcher holds with the one it should hold now, and queueing the difference.
//!
//! That single comparison is what makes "exactly one annotation per state change" hold: a
//! link going down, a session pausing, a watcher resuming or turning out to want annotations
//! all just reconcile the entries they touch, found through the indexes, and an entry whose
//! watcher already holds the right annotation produces nothing.

use std::sync::Arc;

use jid::{DomainRef, Jid};
use minidom::Element;
use xmpp_parsers::presence::Presence;

use super::Tracker;
use super::table::{Home, Id, Interest, Stale};
use crate::config::RemoteWatchers;
use crate::elements::{Condition, Description, StateAnnotation};

/// A transmit waiting in the queue, built into a [`crate::Transmit`] when polled.
#[derive(Debug, Clone)]
pub(crate) enum Queued {
    Annotated {
        to: Jid,
        presence: Arc<Presence>,
        condition: Condition,
        annotation: Arc<Element>,
    },
    Restored {
        to: Jid,
        presence: Arc<Presence>,
        annotation: Arc<Element>,
    },
    Probe {
        from: Jid,
        to: Jid,
    },
}

/// What a reconcile queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    Annotated,
    Restored,
}

/// Which description a stale annotation carries (one key per distinct text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Text {
    /// "The <domain> server is no longer available": the source's domain.
    Server(Id),
    /// "<node>'s session has been paused": the session.
    Session(Id),
    /// A room's occupant ("The user's server is no longer reachable", XEP-0310 Example 9).
    Room,
    /// No description (the empty annotation, or descriptions off).
    None,
}

/// The last annotation element built, reused while the next one is the same: a link going
/// down builds one element for thousands of presences.
#[derive(Debug, Default)]
pub(crate) struct Annotations {
    last: Option<(Jid, Option<Stale>, Text, Arc<Element>)>,
}

impl Tracker {
    /// Whether annotations may be queued for `watcher` now (XEP-0310: nothing is queued for
    /// a watcher that is itself hibernating or offline, or behind a down link).
    pub(crate) fn deliverable(&self, watcher: Id) -> bool {
        let party = self.t.party(watcher);
        match party.home {
            Home::Local => !party.paused,
            Home::Remote(domain) => !self.t.domain(domain).link.is_down(),
        }
    }

    /// Whether `watcher` wants annotations.
    pub(crate) fn interested(&self, watcher: Id) -> bool {
        let party = self.t.party(watcher);
        match (party.home, self.config.remote_watchers) {
            (Home::Local, _) | (Home::Remote(_), RemoteWatchers::Advertised) => {
                party.interest == Interest::Yes
            }
            (Home::Remote(_), RemoteWatchers::All) => party.interest != Interest::No,
            (Home::Remote(_), RemoteWatchers::Never) => false,
        }
    }

    /// Whether presences `watcher` receives are worth tracking (a local resource whose caps
    /// are not known yet is tracked, so the presences it got before they are known can be
    /// annotated once they are).
    pub(crate) fn tracks(&self, watcher: Id) -> bool {
        let party = self.t.party(watcher);
        match party.home {
            Home::Local => party.interest != Interest::No,
            Home::Remote(_) => self.interested(watcher),
        }
    }

    /// The stale annotation `watcher` should hold for `source` now.
    pub(crate) fn desired(&self, watcher: Id, source: Id) -> Option<Stale> {
        if !self.interested(watcher) {
            return None;
        }
        let party = self.t.party(source);
        let (behind, via_room) = party.real.map_or((source, false), |real| (real, true));
        let behind = self.t.party(behind);
        match behind.home {
            Home::Local => behind.paused.then_some(Stale::ConnectionPaused),
            // Only a local watcher can learn from us that a remote server is gone, unless a
            // room of ours relays the presence.
            Home::Remote(_) if !via_room && self.t.party(watcher).home != Home::Local => None,
            Home::Remote(domain) => self
                .t
                .domain(domain)
                .link
                .is_down()
                .then_some(Stale::ServerUnavailable),
        }
    }

    /// Who annotates `source`'s presence to `watcher`: a room's domain for its occupants
    /// (§4.3), the session's server for a paused session (§4.2), the watcher's server for a
    /// remote server's outage (§4.1).
    fn annotator(&self, watcher: Id, source: Id) -> &DomainRef {
        let party = self.t.party(source);
        if party.real.is_some() || party.home == Home::Local {
            party.jid.domain()
        } else {
            self.t.party(watcher).jid.domain()
        }
    }

    fn text(&self, source: Id, stale: Option<Stale>) -> Text {
        if !self.config.describe || stale.is_none() {
            return Text::None;
        }
        let party = self.t.party(source);
        if party.real.is_some() {
            return Text::Room;
        }
        match party.home {
            Home::Local => Text::Session(source),
            Home::Remote(domain) => Text::Server(domain),
        }
    }

    fn describe(&self, text: Text, stale: Option<Stale>) -> Option<Description> {
        let text = match (text, stale) {
            (Text::None, _) | (_, None) => return None,
            (Text::Server(domain), _) => format!(
                "The {} server is no longer available",
                self.t.domain(domain).name
            ),
            (Text::Session(session), _) => {
                let jid = &self.t.party(session).jid;
                let who = jid
                    .node()
                    .map_or_else(|| jid.to_string(), ToString::to_string);
                format!("{who}'s session has been paused")
            }
            (Text::Room, Some(Stale::ServerUnavailable)) => {
                "The user's server is no longer reachable".to_owned()
            }
            (Text::Room, Some(Stale::ConnectionPaused)) => {
                "The user's session has been paused".to_owned()
            }
        };
        let description = Description::new(text);
        Some(match &self.config.description_lang {
            Some(lang) => description.with_lang(lang.clone()),
            None => description,
        })
    }

    /// The annotation element for (watcher, source) in state `stale`, from the cache.
    pub(crate) fn annotation(
        &self,
        cache: &mut Annotations,
        watcher: Id,
        source: Id,
        stale: Option<Stale>,
    ) -> Arc<Element> {
        let annotator = self.annotator(watcher, source);
        let text = self.text(source, stale);
        if let Some((by, was, had, element)) = &cache.last
            && by.domain() == annotator
            && *was == stale
            && *had == text
        {
            return Arc::clone(element);
        }
        let by = Jid::from(jid::BareJid::from(annotator));
        let mut annotation = StateAnnotation::new(by.clone(), stale.map(condition));
        if let Some(description) = self.describe(text, stale) {
            annotation = annotation.with_description(description);
        }
        let element = Arc::new(Element::from(annotation));
        cache.last = Some((by, stale, text, Arc::clone(&element)));
        element
    }

    /// Queues what `watcher` must receive so that its annotation for `source` is current.
    pub(crate) fn reconcile(
        &mut self,
        cache: &mut Annotations,
        watcher: Id,
        source: Id,
    ) -> Option<Sent> {
        if !self.deliverable(watcher) {
            return None;
        }
        let want = self.desired(watcher, source);
        // One lookup of the entry: a link-down makes one per presence, in a table of them all.
        let entry = self.t.entries.get_mut(&(watcher, source))?;
        if entry.sent == want {
            return None;
        }
        entry.sent = want;
        let presence = Arc::clone(&entry.presence);
        let annotation = self.annotation(cache, watcher, source, want);
        let to = self.t.party(watcher).jid.clone();
        let (queued, sent) = match want {
            Some(stale) => (
                Queued::Annotated {
                    to,
                    presence,
                    condition: condition(stale),
                    annotation,
                },
                Sent::Annotated,
            ),
            None => (
                Queued::Restored {
                    to,
                    presence,
                    annotation,
                },
                Sent::Restored,
            ),
        };
        self.transmits.push_back(queued);
        Some(sent)
    }

    /// Reconciles every watcher of `source`.
    pub(crate) fn reconcile_source(&mut self, cache: &mut Annotations, source: Id) -> usize {
        let watchers: Vec<Id> = self.t.party(source).watched_by.iter().copied().collect();
        watchers
            .into_iter()
            .filter(|watcher| self.reconcile(cache, *watcher, source).is_some())
            .count()
    }

    /// Reconciles every presence whose freshness depends on `party`: its own, and that of the
    /// room occupants it is behind.
    pub(crate) fn reconcile_behind(&mut self, cache: &mut Annotations, party: Id) -> usize {
        let occupants: Vec<Id> = self.t.party(party).occupants.iter().copied().collect();
        let mut count = self.reconcile_source(cache, party);
        for occupant in occupants {
            count += self.reconcile_source(cache, occupant);
        }
        count
    }

    /// Reconciles everything `watcher` holds (it became reachable, or interested).
    pub(crate) fn reconcile_watcher(&mut self, cache: &mut Annotations, watcher: Id) -> usize {
        let sources: Vec<Id> = self.t.party(watcher).watching.iter().copied().collect();
        sources
            .into_iter()
            .filter(|source| self.reconcile(cache, watcher, *source).is_some())
            .count()
    }
}

pub(crate) const fn condition(stale: Stale) -> Condition {
    match stale {
        Stale::ServerUnavailable => Condition::ServerUnavailable,
        Stale::ConnectionPaused => Condition::ConnectionPaused,
    }
}
