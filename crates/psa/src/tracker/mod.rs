//! The server side: [`Tracker`], which learns what presence each watcher holds and re-sends
//! it annotated when its sender goes stale, and again with the empty annotation when it is
//! fresh again.

#[cfg(any(test, feature = "__fuzzing"))]
mod invariants;
mod presence;
mod reconcile;
#[cfg(feature = "serde")]
mod snapshot;
pub(crate) mod table;

#[cfg(feature = "serde")]
pub use self::snapshot::{MAX_STORED_DEPTH, MAX_STORED_PRESENCE, Snapshot};

use std::collections::{HashSet, VecDeque};

use jid::{DomainRef, FullJid, Jid};
use xmpp_parsers::disco::DiscoInfoResult;
use xmpp_parsers::presence::Presence;
use xmpp_tether_core::{Monotonic, Now};

use self::reconcile::{Annotations, Queued};
use self::table::{Home, Id, Interest, Tables};
use crate::config::TrackerConfig;
use crate::elements::{self, Condition};
use crate::error::Misuse;
use crate::event::{Event, Relay, Table};
use crate::link::{Change, Link, LinkLoss, LinkStatus, StreamId};
use crate::transmit::Transmit;

/// The server-side tracker of XEP-0310 Presence State Annotations, sans-IO.
///
/// One per server (every hosted domain and MUC service in
/// [`TrackerConfig::local_domains`]). The server feeds it what it already knows, with the
/// time, and sends what it hands back.
///
/// Methods, by kind:
/// - **getters**: [`config`](Self::config), [`presences`](Self::presences),
///   [`link`](Self::link), [`is_paused`](Self::is_paused), [`holds`](Self::holds),
///   [`annotated`](Self::annotated);
/// - **input**, `handle_*(now, ...)`:
///   - every presence the server delivers, on its way out:
///     [`handle_presence`](Self::handle_presence);
///   - what a watcher wants, from its caps: [`handle_caps`](Self::handle_caps),
///     [`handle_interest`](Self::handle_interest);
///   - s2s links: [`handle_link_established`](Self::handle_link_established),
///     [`handle_link_closed`](Self::handle_link_closed),
///     [`handle_link_failed`](Self::handle_link_failed);
///   - local sessions, by full JID: [`handle_session_paused`](Self::handle_session_paused),
///     [`handle_session_resumed`](Self::handle_session_resumed),
///     [`handle_session_ended`](Self::handle_session_ended);
///   - rooms: [`handle_occupant_joined`](Self::handle_occupant_joined),
///     [`handle_occupant_left`](Self::handle_occupant_left);
///   - the clock: [`handle_timeout`](Self::handle_timeout);
/// - **output**, drained in this order after every `&mut` call:
///   [`poll_transmit`](Self::poll_transmit) (presences to send, each addressed),
///   [`poll_event`](Self::poll_event), then [`poll_timeout`](Self::poll_timeout) to re-arm
///   the grace timer.
///
/// Costs scale with the presences a change affects, not with all that are tracked: a link
/// change touches the parties on that domain (an index), a session change that session's
/// watchers and rooms (indexes), a relayed presence one entry.
#[derive(Debug)]
pub struct Tracker {
    config: TrackerConfig,
    t: Tables,
    transmits: VecDeque<Queued>,
    events: VecDeque<Event>,
}

impl Tracker {
    /// An empty tracker.
    #[must_use]
    pub fn new(config: TrackerConfig) -> Self {
        Self {
            config,
            t: Tables::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    // ---- getters ----

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// How many presences are tracked.
    #[must_use]
    pub fn presences(&self) -> usize {
        self.t.len()
    }

    /// The link state of a remote domain (`Up` with no stream for one never heard of).
    #[must_use]
    pub fn link(&self, domain: &DomainRef) -> LinkStatus {
        self.t.find_domain(domain).map_or_else(
            || Link::new().status(),
            |id| self.t.domain(id).link.status(),
        )
    }

    /// Whether a local session is paused.
    #[must_use]
    pub fn is_paused(&self, jid: &FullJid) -> bool {
        self.t
            .find_party(&Jid::from(jid.clone()))
            .is_some_and(|id| self.t.party(id).paused)
    }

    /// Whether `watcher` holds a tracked available presence from `source`.
    #[must_use]
    pub fn holds(&self, watcher: &Jid, source: &Jid) -> bool {
        self.entry_of(watcher, source).is_some()
    }

    /// The stale annotation `watcher` holds from us for `source` (`None`: fresh, or not
    /// tracked).
    #[must_use]
    pub fn annotated(&self, watcher: &Jid, source: &Jid) -> Option<Condition> {
        self.entry_of(watcher, source)
            .and_then(|(w, s)| self.t.entries.get(&(w, s))?.sent)
            .map(reconcile::condition)
    }

    fn entry_of(&self, watcher: &Jid, source: &Jid) -> Option<(Id, Id)> {
        let pair = (self.t.find_party(watcher)?, self.t.find_party(source)?);
        self.t.entries.contains_key(&pair).then_some(pair)
    }

    // ---- input: presences ----

    /// A presence the server is about to deliver to one recipient (call it once per
    /// recipient of a broadcast, with the full JID of each local resource).
    ///
    /// In place, it strips annotations the presence may not carry (only the sender's own
    /// remote domain may annotate across servers; reported in [`Event::Stripped`]), and, if
    /// the sender is stale for a watcher that wants annotations, adds ours. Then it records
    /// the presence: an available one as what the watcher holds from the sender, an
    /// unavailable or error one as the end of it. Subscription presences and probes are left
    /// alone. An unavailable presence also ends its *sender's* role as a watcher: a JID that
    /// is not available receives no presence (RFC 6121 §4.5).
    pub fn handle_presence(&mut self, now: Now, presence: &mut Presence) -> Relay {
        let _ = now;
        self.relay(presence)
    }

    // ---- input: interest ----

    /// A watcher's caps resolved (XEP-0115): it wants annotations if they list
    /// `urn:xmpp:psa` (XEP-0310 §3).
    pub fn handle_caps(&mut self, now: Now, jid: &Jid, disco: &DiscoInfoResult) {
        self.handle_interest(now, jid, elements::advertises(disco));
    }

    /// Whether a watcher wants annotations. A local resource starts unknown (its presences
    /// are tracked, not annotated); learning that it does catches it up at once; learning
    /// that it does not forgets what it holds. A remote JID is tracked only as
    /// [`TrackerConfig::remote_watchers`] says.
    pub fn handle_interest(&mut self, now: Now, jid: &Jid, wants: bool) {
        let _ = now;
        let interest = if wants { Interest::Yes } else { Interest::No };
        if !self.config.is_local(jid.domain())
            && self.config.remote_watchers == crate::RemoteWatchers::Never
        {
            return;
        }
        let id = match self.t.find_party(jid) {
            Some(id) => id,
            // By advertisement, an unknown remote JID that does not want them is the default.
            None if !wants
                && !self.config.is_local(jid.domain())
                && self.config.remote_watchers == crate::RemoteWatchers::Advertised =>
            {
                return;
            }
            None => match self.t.ensure_party(jid, &self.config) {
                Ok(id) => id,
                Err(table) => return self.refused(table, jid.clone()),
            },
        };
        if self.t.party(id).interest == interest {
            return;
        }
        self.t.party_mut(id).interest = interest;
        if wants {
            let mut cache = Annotations::default();
            let _ = self.reconcile_watcher(&mut cache, id);
        } else {
            let forgotten = self.t.forget_watching(id);
            self.forgotten(jid.clone(), forgotten);
        }
        self.t.release_party(id);
    }

    // ---- input: links ----

    /// An s2s stream with `domain` was established (authenticated, ready for stanzas). Ends a
    /// suspected outage quietly, or a real one with the empty annotations (and probes).
    ///
    /// # Errors
    /// [`Misuse::LocalDomain`] for one of our own domains.
    pub fn handle_link_established(
        &mut self,
        now: Now,
        domain: &DomainRef,
        stream: StreamId,
    ) -> Result<(), Misuse> {
        self.link_input(now, domain, |link| link.established(stream))
    }

    /// An s2s stream with `domain` ended. If it was the last one and `reason` may be an
    /// outage ([`LinkLoss::is_outage`]), the grace starts ([`Event::LinkLost`]).
    ///
    /// # Errors
    /// [`Misuse::LocalDomain`] for one of our own domains.
    pub fn handle_link_closed(
        &mut self,
        now: Now,
        domain: &DomainRef,
        stream: StreamId,
        reason: LinkLoss,
    ) -> Result<(), Misuse> {
        let grace = self.config.grace;
        self.link_input(now, domain, |link| link.closed(now, grace, stream, reason))
    }

    /// A connection attempt to `domain` failed before the stream was established. With no
    /// stream open, the grace starts (or goes on: a failure does not extend it).
    ///
    /// # Errors
    /// [`Misuse::LocalDomain`] for one of our own domains.
    pub fn handle_link_failed(
        &mut self,
        now: Now,
        domain: &DomainRef,
        reason: LinkLoss,
    ) -> Result<(), Misuse> {
        let grace = self.config.grace;
        self.link_input(now, domain, |link| link.failed(now, grace, reason))
    }

    fn link_input(
        &mut self,
        now: Now,
        domain: &DomainRef,
        input: impl FnOnce(&mut Link) -> Change,
    ) -> Result<(), Misuse> {
        if self.config.is_local(domain) {
            return Err(Misuse::LocalDomain {
                domain: domain.to_string(),
            });
        }
        let id = match self.t.ensure_domain(domain, &self.config) {
            Ok(id) => id,
            Err(table) => {
                self.refused(table, Jid::from(jid::BareJid::from(domain)));
                return Ok(());
            }
        };
        self.with_link(now, id, input);
        Ok(())
    }

    /// Applies a link input, keeping the grace deadlines in step, and acts on the change.
    fn with_link(&mut self, now: Now, id: Id, input: impl FnOnce(&mut Link) -> Change) {
        let link = &mut self.t.domain_mut(id).link;
        let before = link.deadline();
        let change = input(link);
        let after = link.deadline();
        if before != after {
            if let Some(deadline) = before {
                let _ = self.t.deadlines.remove(&(deadline, id));
            }
            if let Some(deadline) = after {
                let _ = self.t.deadlines.insert((deadline, id));
            }
        }
        let domain = self.t.domain(id).name.clone();
        match change {
            Change::None => {}
            Change::Suspected(reason, deadline) => self.events.push_back(Event::LinkLost {
                domain,
                reason,
                deadline,
            }),
            Change::Recovered => self.events.push_back(Event::LinkRecovered { domain }),
            Change::WentDown(reason) => {
                let annotated = self.domain_changed(id, false).0;
                self.events.push_back(Event::LinkDown {
                    domain,
                    reason,
                    annotated,
                });
            }
            Change::Restored => {
                let (restored, probes) = self.domain_changed(id, true);
                self.events.push_back(Event::LinkRestored {
                    domain,
                    restored,
                    probes,
                });
            }
        }
        let _ = now;
        self.t.release_domain(id);
    }

    /// Reconciles what depends on a domain's parties; on restore, catches up its watchers and
    /// queues the probes. Returns (queued annotations, probes).
    fn domain_changed(&mut self, id: Id, restored: bool) -> (usize, usize) {
        let members: Vec<Id> = self.t.domain(id).members.iter().copied().collect();
        let mut cache = Annotations::default();
        let mut count = 0;
        for member in &members {
            count += self.reconcile_behind(&mut cache, *member);
        }
        if !restored {
            return (count, 0);
        }
        for member in &members {
            count += self.reconcile_watcher(&mut cache, *member);
        }
        let probes = if self.config.probe_on_restore {
            self.probe(&members)
        } else {
            0
        };
        (count, probes)
    }

    /// Probes after a restore (XEP-0310 §4.1 and §5), one per (prober, probed) pair: from
    /// each local account to each contact's bare JID, from each room to each occupant's real
    /// JID.
    fn probe(&mut self, members: &[Id]) -> usize {
        let mut pairs: HashSet<(Jid, Jid)> = HashSet::new();
        let mut probes = Vec::new();
        for member in members {
            let party = self.t.party(*member);
            for watcher in &party.watched_by {
                let watcher = self.t.party(*watcher);
                if watcher.home == Home::Local {
                    let pair = (
                        Jid::from(watcher.jid.to_bare()),
                        Jid::from(party.jid.to_bare()),
                    );
                    if pairs.insert(pair.clone()) {
                        probes.push(pair);
                    }
                }
            }
            for occupant in &party.occupants {
                let pair = (
                    Jid::from(self.t.party(*occupant).jid.to_bare()),
                    party.jid.clone(),
                );
                if pairs.insert(pair.clone()) {
                    probes.push(pair);
                }
            }
        }
        let count = probes.len();
        self.transmits.extend(
            probes
                .into_iter()
                .map(|(from, to)| Queued::Probe { from, to }),
        );
        count
    }

    // ---- input: local sessions ----

    /// A local session paused: its XEP-0198 stream hibernated, or its BOSH session paused.
    /// Its presence is re-sent with `<connection-paused/>` to every watcher that holds it and
    /// wants annotations, local or remote (XEP-0310 §4.2), and to the room occupants who see
    /// it through a room of ours. Nothing is queued *for* it while it is paused. A second
    /// pause is a no-op.
    ///
    /// # Errors
    /// [`Misuse::NotLocal`] for a JID on a remote domain.
    pub fn handle_session_paused(&mut self, now: Now, jid: &FullJid) -> Result<(), Misuse> {
        let _ = now;
        let key = self.local(jid)?;
        let id = match self.t.ensure_party(&key, &self.config) {
            Ok(id) => id,
            Err(table) => {
                self.refused(table, key);
                return Ok(());
            }
        };
        if self.t.party(id).paused {
            return Ok(());
        }
        self.t.party_mut(id).paused = true;
        let mut cache = Annotations::default();
        let annotated = self.reconcile_behind(&mut cache, id);
        self.events.push_back(Event::Paused {
            jid: jid.clone(),
            annotated,
        });
        Ok(())
    }

    /// A paused local session resumed (a XEP-0198 resumption, a BOSH request after a pause):
    /// the empty annotation goes to every watcher that got the paused one, and the session is
    /// caught up on what changed for it while it was away. A session not paused is a no-op.
    ///
    /// # Errors
    /// [`Misuse::NotLocal`] for a JID on a remote domain.
    pub fn handle_session_resumed(&mut self, now: Now, jid: &FullJid) -> Result<(), Misuse> {
        let _ = now;
        let key = self.local(jid)?;
        let Some(id) = self.t.find_party(&key) else {
            return Ok(());
        };
        if !self.t.party(id).paused {
            return Ok(());
        }
        self.t.party_mut(id).paused = false;
        let mut cache = Annotations::default();
        let restored = self.reconcile_behind(&mut cache, id);
        let caught_up = self.reconcile_watcher(&mut cache, id);
        self.events.push_back(Event::Resumed {
            jid: jid.clone(),
            restored,
            caught_up,
        });
        self.t.release_party(id);
        Ok(())
    }

    /// A local session ended (closed, or paused and never resumed: a hibernation that
    /// expired). Nothing is sent: the server sends its unavailable presence as usual, and
    /// XEP-0310 §4.2 wants no empty annotation before it. The tracker forgets the session,
    /// as a sender and as a watcher ([`Event::Forgotten`]).
    ///
    /// # Errors
    /// [`Misuse::NotLocal`] for a JID on a remote domain.
    pub fn handle_session_ended(&mut self, now: Now, jid: &FullJid) -> Result<(), Misuse> {
        let _ = now;
        let key = self.local(jid)?;
        let Some(id) = self.t.find_party(&key) else {
            return Ok(());
        };
        let row = self.t.party_mut(id);
        row.paused = false;
        row.interest = Interest::Unknown;
        row.current = None;
        let forgotten = self.t.forget_watched(id) + self.t.forget_watching(id);
        let occupants: Vec<Id> = self.t.party(id).occupants.iter().copied().collect();
        for occupant in occupants {
            // Its rooms will see it leave; until then nothing can make it stale. Unlinking
            // the last occupant may release the session's row: nothing reads it after this.
            self.t.unlink_occupant(occupant);
            self.t.release_party(occupant);
        }
        self.t.release_party(id);
        self.forgotten(key, forgotten);
        Ok(())
    }

    fn local(&self, jid: &FullJid) -> Result<Jid, Misuse> {
        if self.config.is_local(jid.domain()) {
            Ok(Jid::from(jid.clone()))
        } else {
            Err(Misuse::NotLocal {
                jid: jid.to_string(),
            })
        }
    }

    // ---- input: rooms ----

    /// A room of ours admitted an occupant: presence from `occupant` (`room@service/nick`)
    /// is stale when its `real` JID is: that JID's server is down (if remote), or its session
    /// paused (if local). The room's domain annotates (XEP-0310 §4.3). Joining again with
    /// another real JID re-points the occupant.
    ///
    /// # Errors
    /// [`Misuse::NotLocal`] for an occupant JID of a remote service.
    pub fn handle_occupant_joined(
        &mut self,
        now: Now,
        occupant: &FullJid,
        real: &Jid,
    ) -> Result<(), Misuse> {
        let _ = now;
        let key = self.local(occupant)?;
        let id = match self.t.ensure_party(&key, &self.config) {
            Ok(id) => id,
            Err(table) => {
                self.refused(table, key);
                return Ok(());
            }
        };
        let real = match self.t.ensure_party(real, &self.config) {
            Ok(real) => real,
            Err(table) => {
                self.t.release_party(id);
                self.refused(table, real.clone());
                return Ok(());
            }
        };
        // An occupant is never its own real JID; re-joining with the same one changes nothing.
        if real != id && self.t.party(id).real != Some(real) {
            self.t.link_occupant(id, real);
            let mut cache = Annotations::default();
            let _ = self.reconcile_source(&mut cache, id);
        }
        self.t.release_party(real);
        self.t.release_party(id);
        Ok(())
    }

    /// An occupant left its room, or was ejected: nothing is sent (XEP-0310 §4.3, "no
    /// additional stanza"), and the tracker forgets the occupant's presence.
    ///
    /// # Errors
    /// [`Misuse::NotLocal`] for an occupant JID of a remote service.
    pub fn handle_occupant_left(&mut self, now: Now, occupant: &FullJid) -> Result<(), Misuse> {
        let _ = now;
        let key = self.local(occupant)?;
        let Some(id) = self.t.find_party(&key) else {
            return Ok(());
        };
        let forgotten = self.t.forget_watched(id);
        self.t.party_mut(id).current = None;
        self.t.unlink_occupant(id);
        self.t.release_party(id);
        self.forgotten(key, forgotten);
        Ok(())
    }

    // ---- input: the clock ----

    /// The grace timer: every suspected link whose grace ran out goes down. A spurious call
    /// is a no-op, and a wall-clock step moves nothing (the grace runs on the monotonic
    /// clock).
    pub fn handle_timeout(&mut self, now: Now) {
        while let Some(&(deadline, id)) = self.t.deadlines.first() {
            if deadline > now.monotonic() {
                break;
            }
            self.with_link(now, id, |link| link.timeout(now));
            // Invariant: `timeout` at or after the deadline leaves the suspect state, and
            // `with_link` removed the deadline; drop it anyway should a row have vanished.
            let _ = self.t.deadlines.remove(&(deadline, id));
        }
    }

    // ---- output ----

    /// The next presence to send. Drain after every `&mut` call, before
    /// [`poll_event`](Self::poll_event).
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        Some(match self.transmits.pop_front()? {
            Queued::Annotated {
                to,
                presence,
                condition,
                annotation,
            } => Transmit::annotated(to, &presence, condition, &annotation),
            Queued::Restored {
                to,
                presence,
                annotation,
            } => Transmit::restored(to, &presence, &annotation),
            Queued::Probe { from, to } => Transmit::probe(from, to),
        })
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout): the end of the earliest grace.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Monotonic> {
        self.t.deadlines.first().map(|(deadline, _)| *deadline)
    }

    // ---- helpers ----

    fn refused(&mut self, table: Table, jid: Jid) {
        self.events.push_back(Event::Refused { table, jid });
    }

    fn forgotten(&mut self, jid: Jid, presences: usize) {
        if presences > 0 {
            self.events.push_back(Event::Forgotten { jid, presences });
        }
    }
}
