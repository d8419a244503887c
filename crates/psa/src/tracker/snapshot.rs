//! Persistence (`serde` feature): a [`Snapshot`] of the tracker, and a restore that validates
//! it like peer data.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use jid::{DomainPart, Jid};
use minidom::Element;
use xmpp_parsers::presence::{Presence, Type};
use xmpp_parsers::stream_error::DefinedCondition;
use xmpp_tether_core::Now;

use super::Tracker;
use super::table::{Interest, Stale};
use crate::config::TrackerConfig;
use crate::error::{Misuse, RestoreError};
use crate::link::{LinkLoss, State};

/// The most bytes one stored presence may take.
pub const MAX_STORED_PRESENCE: usize = 64 * 1024;
/// The deepest XML nesting a stored presence may have.
pub const MAX_STORED_DEPTH: usize = 16;

/// Everything a [`Tracker`] knows, for a store (Redis, PostgreSQL, a file) to keep across a
/// restart or hand to another node. Opaque: serialise it with any serde format, and read it
/// back with [`Tracker::restore`].
///
/// It holds wall-clock times only (a grace's end, when a link went down), no stream handles
/// (a restart closes every stream: links that were up come back idle), and each distinct
/// stored presence once, as XML.
///
/// A store must be as trusted as the server's memory: a forged snapshot can make the server
/// send presences on behalf of the JIDs it names (within the validation below). Where the
/// store is shared, authenticate records (a keyed MAC with a server secret) before restoring.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    presences: Vec<String>,
    parties: Vec<StoredParty>,
    entries: Vec<StoredEntry>,
    domains: Vec<StoredDomain>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct StoredParty {
    jid: Jid,
    interest: Interest,
    paused: bool,
    real: Option<Jid>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct StoredEntry {
    watcher: Jid,
    source: Jid,
    presence: usize,
    stale: Option<Stale>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct StoredDomain {
    domain: DomainPart,
    down: bool,
    reason: StoredLoss,
    /// Down: since when. Suspect: when the grace ends.
    at: SystemTime,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
enum StoredLoss {
    Idle,
    Closed,
    Replaced,
    /// The condition's element name.
    StreamError(String),
    Network,
    Timeout,
    ConnectFailed,
}

impl From<&LinkLoss> for StoredLoss {
    fn from(loss: &LinkLoss) -> Self {
        match loss {
            LinkLoss::Idle => Self::Idle,
            LinkLoss::Closed => Self::Closed,
            LinkLoss::Replaced => Self::Replaced,
            LinkLoss::StreamError(condition) => {
                Self::StreamError(Element::from(condition.clone()).name().to_owned())
            }
            LinkLoss::Network => Self::Network,
            LinkLoss::Timeout => Self::Timeout,
            LinkLoss::ConnectFailed => Self::ConnectFailed,
        }
    }
}

impl StoredLoss {
    fn restore(&self, index: usize) -> Result<LinkLoss, RestoreError> {
        Ok(match self {
            Self::Idle => LinkLoss::Idle,
            Self::Closed => LinkLoss::Closed,
            Self::Replaced => LinkLoss::Replaced,
            Self::StreamError(name) => {
                let element = minidom::rxml::NcName::try_from(name.as_str())
                    .ok()
                    .map(|_| Element::bare(name.as_str(), "urn:ietf:params:xml:ns:xmpp-streams"));
                let condition = element.and_then(|e| DefinedCondition::try_from(e).ok());
                LinkLoss::StreamError(condition.ok_or(RestoreError::Inconsistent {
                    index,
                    why: "not a stream error condition",
                })?)
            }
            Self::Network => LinkLoss::Network,
            Self::Timeout => LinkLoss::Timeout,
            Self::ConnectFailed => LinkLoss::ConnectFailed,
        })
    }
}

impl Tracker {
    /// Everything the tracker knows, for a store. Take it after draining.
    ///
    /// # Errors
    /// [`Misuse::Undrained`] while transmits or events wait: they are not part of a snapshot.
    pub fn snapshot(&self, now: Now) -> Result<Snapshot, Misuse> {
        let (transmits, events) = (self.transmits.len(), self.events.len());
        if transmits + events > 0 {
            return Err(Misuse::Undrained { transmits, events });
        }
        let mut snapshot = Snapshot {
            presences: Vec::new(),
            parties: Vec::new(),
            entries: Vec::new(),
            domains: Vec::new(),
        };
        let mut index: HashMap<*const Presence, usize> = HashMap::new();
        let mut order: Vec<_> = self.t.entries.iter().collect();
        order.sort_by_key(|(_, entry)| entry.seq);
        for (&(watcher, source), entry) in order {
            let presence = *index
                .entry(Arc::as_ptr(&entry.presence))
                .or_insert_with(|| {
                    snapshot
                        .presences
                        .push(String::from(&crate::presence_element(Presence::clone(
                            &entry.presence,
                        ))));
                    snapshot.presences.len() - 1
                });
            snapshot.entries.push(StoredEntry {
                watcher: self.t.party(watcher).jid.clone(),
                source: self.t.party(source).jid.clone(),
                presence,
                stale: entry.sent,
            });
        }
        for (_, party) in self.t.parties.iter() {
            if party.interest != Interest::Unknown || party.paused || party.real.is_some() {
                snapshot.parties.push(StoredParty {
                    jid: party.jid.clone(),
                    interest: party.interest,
                    paused: party.paused,
                    real: party.real.map(|real| self.t.party(real).jid.clone()),
                });
            }
        }
        for (_, domain) in self.t.domains.iter() {
            let (down, reason, at) = match &domain.link.state {
                State::Up => continue,
                State::Suspect { reason, deadline } => (false, reason, now.wall_for(*deadline)),
                State::Down { reason, since } => (true, reason, *since),
            };
            snapshot.domains.push(StoredDomain {
                domain: domain.name.clone(),
                down,
                reason: reason.into(),
                at,
            });
        }
        // A deterministic order, whatever the slabs' history.
        snapshot
            .parties
            .sort_by(|a, b| a.jid.as_str().cmp(b.jid.as_str()));
        snapshot
            .domains
            .sort_by(|a, b| a.domain.as_str().cmp(b.domain.as_str()));
        Ok(snapshot)
    }

    /// A tracker from a [`Snapshot`], validated as if a peer had sent it: presences must be
    /// bounded, well-formed available presences from the source they are filed under; every
    /// record must be one the tracker could have made under `config` (local sessions on local
    /// domains, trackable pairs, no duplicates); the limits must hold. A grace that ended
    /// while the tracker was away ends at the first [`handle_timeout`](Self::handle_timeout).
    ///
    /// # Errors
    /// The first [`RestoreError`] found.
    pub fn restore(
        config: TrackerConfig,
        snapshot: Snapshot,
        now: Now,
    ) -> Result<Self, RestoreError> {
        let mut tracker = Self::new(config);
        tracker.restore_domains(&snapshot.domains, now)?;
        tracker.restore_parties(&snapshot.parties)?;
        let presences = snapshot
            .presences
            .iter()
            .enumerate()
            .map(|(index, xml)| {
                stored_presence(xml).map_err(|why| RestoreError::Presence { index, why })
            })
            .collect::<Result<Vec<_>, _>>()?;
        tracker.restore_entries(&snapshot.entries, &presences)?;
        tracker.transmits = VecDeque::new();
        tracker.events = VecDeque::new();
        Ok(tracker)
    }

    fn restore_domains(&mut self, domains: &[StoredDomain], now: Now) -> Result<(), RestoreError> {
        if domains.len() > self.config.max_domains {
            return Err(RestoreError::OverLimit {
                what: "domains",
                limit: self.config.max_domains,
            });
        }
        for (index, stored) in domains.iter().enumerate() {
            let inconsistent = |why| RestoreError::Inconsistent { index, why };
            if self.config.is_local(&stored.domain) {
                return Err(inconsistent("a local domain as a link"));
            }
            if self.t.find_domain(&stored.domain).is_some() {
                return Err(inconsistent("a domain twice"));
            }
            let id = self
                .t
                .ensure_domain(&stored.domain, &self.config)
                .map_err(|_| inconsistent("no room for the domain"))?;
            let reason = stored.reason.restore(index)?;
            let link = &mut self.t.domain_mut(id).link;
            if stored.down {
                link.state = State::Down {
                    reason,
                    since: stored.at,
                };
            } else {
                let deadline = now.monotonic_for(stored.at);
                link.state = State::Suspect { reason, deadline };
                let _ = self.t.deadlines.insert((deadline, id));
            }
        }
        Ok(())
    }

    fn restore_parties(&mut self, parties: &[StoredParty]) -> Result<(), RestoreError> {
        let mut seen = HashSet::new();
        for (index, stored) in parties.iter().enumerate() {
            let inconsistent = |why| RestoreError::Inconsistent { index, why };
            if !seen.insert(&stored.jid) {
                return Err(inconsistent("a JID twice"));
            }
            let local = self.config.is_local(stored.jid.domain());
            if stored.paused && !(local && stored.jid.is_full()) {
                return Err(inconsistent(
                    "a paused session that is not a local full JID",
                ));
            }
            if stored.real.is_some() && !(local && stored.jid.is_full()) {
                return Err(inconsistent("an occupant that is not in a local room"));
            }
            let id = self.party(&stored.jid)?;
            let row = self.t.party_mut(id);
            row.interest = stored.interest;
            row.paused = stored.paused;
            if let Some(real) = &stored.real {
                let real = self.party(real)?;
                self.t.link_occupant(id, real);
            }
        }
        Ok(())
    }

    fn restore_entries(
        &mut self,
        entries: &[StoredEntry],
        presences: &[Arc<Presence>],
    ) -> Result<(), RestoreError> {
        if entries.len() > self.config.max_presences {
            return Err(RestoreError::OverLimit {
                what: "presences",
                limit: self.config.max_presences,
            });
        }
        for (index, stored) in entries.iter().enumerate() {
            let inconsistent = |why| RestoreError::Inconsistent { index, why };
            let presence =
                presences
                    .get(stored.presence)
                    .ok_or(RestoreError::DanglingPresence {
                        index,
                        presence: stored.presence,
                    })?;
            if presence.from.as_ref() != Some(&stored.source) {
                return Err(RestoreError::Presence {
                    index: stored.presence,
                    why: "not from the source it is filed under",
                });
            }
            let local_to = self.config.is_local(stored.watcher.domain());
            let local_from = self.config.is_local(stored.source.domain());
            if (local_to && !stored.watcher.is_full())
                || (local_from && !stored.source.is_full())
                || (!local_to && !local_from)
                || stored.watcher == stored.source
            {
                return Err(inconsistent("a pair the tracker does not track"));
            }
            let watcher = self.party(&stored.watcher)?;
            let source = self.party(&stored.source)?;
            if self.t.entries.contains_key(&(watcher, source)) {
                return Err(RestoreError::DuplicateEntry { index });
            }
            let evicted = self
                .t
                .upsert(watcher, source, Arc::clone(presence), &self.config)
                .map_err(|_| RestoreError::OverLimit {
                    what: "presences",
                    limit: self.config.max_presences,
                })?;
            if !evicted.is_empty() {
                return Err(RestoreError::OverLimit {
                    what: "presences per account",
                    limit: self.config.max_presences_per_account,
                });
            }
            if let Some(entry) = self.t.entries.get_mut(&(watcher, source)) {
                entry.sent = stored.stale;
            }
            self.t.party_mut(source).current = Some(Arc::clone(presence));
        }
        // Records that carry nothing (a stored party with nothing left) go.
        let ids: Vec<_> = self.t.parties.iter().map(|(id, _)| id).collect();
        for id in ids {
            self.t.release_party(id);
        }
        Ok(())
    }

    fn party(&mut self, jid: &Jid) -> Result<super::table::Id, RestoreError> {
        self.t
            .ensure_party(jid, &self.config)
            .map_err(|_| RestoreError::OverLimit {
                what: "JIDs",
                limit: self.config.max_parties,
            })
    }
}

/// Reads a stored presence back, bounded.
fn stored_presence(xml: &str) -> Result<Arc<Presence>, &'static str> {
    if xml.len() > MAX_STORED_PRESENCE {
        return Err("too large");
    }
    if depth(xml) > MAX_STORED_DEPTH {
        return Err("nested too deep");
    }
    let element: Element = xml.parse().map_err(|_| "not XML")?;
    let presence = Presence::try_from(element).map_err(|_| "not a presence")?;
    if presence.type_ != Type::None || presence.from.is_none() || presence.to.is_some() {
        return Err("not a stored available presence");
    }
    Ok(Arc::new(presence))
}

/// An upper bound of the element nesting of `xml`, without parsing it (so a hostile store
/// cannot make the parser or the drop of a tree recurse deeply).
fn depth(xml: &str) -> usize {
    let bytes = xml.as_bytes();
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut i = 0;
    while let Some(offset) = bytes[i..].iter().position(|b| *b == b'<') {
        let start = i + offset;
        let end = bytes[start..]
            .iter()
            .position(|b| *b == b'>')
            .map_or(bytes.len(), |e| start + e);
        match bytes.get(start + 1) {
            Some(b'/') => depth = depth.saturating_sub(1),
            Some(b'!' | b'?') => {}
            _ if end > 0 && bytes.get(end - 1) == Some(&b'/') => {}
            _ => {
                depth += 1;
                deepest = deepest.max(depth);
            }
        }
        i = (end + 1).min(bytes.len());
        if i >= bytes.len() {
            break;
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    #[test]
    fn depth_counts_nesting() {
        assert_eq!(super::depth("<a/>"), 0);
        assert_eq!(super::depth("<a><b><c/></b></a>"), 2);
        assert_eq!(super::depth("<a x='>'><b></b></a>"), 2);
        assert_eq!(super::depth(&"<a>".repeat(40)), 40);
    }
}
