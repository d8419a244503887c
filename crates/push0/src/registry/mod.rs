//! The user's server side of XEP-0357: the [`Registry`] of every account's push
//! registrations, and the publishes it sends for them.

mod commands;
mod config;
mod event;
mod hibernation;
mod outcome;
mod record;
mod sending;
mod table;
mod transmit;
mod trigger;

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Arc;

use jid::{BareJid, FullJid, Jid};
use minidom::Element;
use rand_core::CryptoRng;
use xmpp_tether_core::{Monotonic, Now};

pub use self::config::{Backoff, ErrorPolicy, Privacy, PublishFrom, RegistryConfig};
pub use self::event::{AbandonReason, Bound, DisableReason, Event, Incoming, PushNode};
pub use self::hibernation::Hibernation;
pub use self::record::{AccountRecord, HibernationRecord, RegistrationRecord, Snapshot, Suspended};
use self::table::{Account, Hibernating, Pending, Responses, SeqMap, SizeIndex, Timer, Timers};
pub use self::transmit::{PublishIq, Transmit};
pub use self::trigger::{Target, Trigger, TriggerKind};
use crate::error::EnableError;
use crate::ns;
use crate::xml;

/// The pending publishes and queued stanzas a new [`Registry`] has room for.
const INITIAL_PENDING: usize = 16;

/// The push registrations of every account on a server, and the publishes they cause
/// (XEP-0357 §5–§8, the "user's server" role).
///
/// One `Registry` serves the whole server: it owns every rule about which registration a
/// command, an answer or a notice belongs to, so the server only routes stanzas to it and
/// writes what it hands out.
///
/// Methods, by kind:
/// - getters: [`config`](Self::config), [`registration_count`](Self::registration_count),
///   [`account_count`](Self::account_count), [`pending_count`](Self::pending_count),
///   [`is_extended`](Self::is_extended), [`nodes`](Self::nodes), [`record`](Self::record),
///   [`snapshot`](Self::snapshot);
/// - input: [`handle_stanza`](Self::handle_stanza) (enable/disable iqs from users, answers
///   to publishes, remote-disable notices), [`handle_hibernated`](Self::handle_hibernated),
///   [`handle_hibernated_until`](Self::handle_hibernated_until),
///   [`handle_resumed`](Self::handle_resumed),
///   [`handle_session_closed`](Self::handle_session_closed),
///   [`handle_online`](Self::handle_online), [`handle_timeout`](Self::handle_timeout);
/// - commands: [`notify`](Self::notify), [`remove_account`](Self::remove_account),
///   [`restore_account`](Self::restore_account);
/// - output: [`poll_transmit`](Self::poll_transmit), [`poll_event`](Self::poll_event),
///   [`poll_timeout`](Self::poll_timeout).
///
/// **After every `&mut` call, drain `poll_transmit` (write each stanza to its `to`, in order),
/// then `poll_event`; then re-arm the timer from `poll_timeout`.**
#[derive(Debug)]
pub struct Registry {
    config: RegistryConfig,
    /// Random per registry, so answers to another process's publishes never match ours.
    id_prefix: String,
    next_seq: u64,
    accounts: HashMap<BareJid, Account>,
    registrations: SizeIndex,
    total: usize,
    pending: SeqMap<Pending>,
    pending_index: SizeIndex,
    hibernating: HashMap<FullJid, Hibernating>,
    hibernating_index: SizeIndex,
    /// Answer deadlines of publishes in flight, in send order.
    responses: Responses,
    /// Retries and re-enables.
    timers: Timers,
    transmit: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl Registry {
    /// An empty registry. The RNG makes the prefix of publish ids, so that answers meant for
    /// another process (or an earlier run) never match.
    pub fn new(config: RegistryConfig, rng: &mut impl CryptoRng) -> Self {
        let mut bytes = [0u8; 6];
        rng.fill_bytes(&mut bytes);
        let mut id_prefix = String::with_capacity(14);
        id_prefix.push('p');
        for b in bytes {
            // Writing into a String cannot fail.
            let _ = write!(id_prefix, "{b:02x}");
        }
        id_prefix.push('.');
        Self {
            config,
            id_prefix,
            next_seq: 1,
            accounts: HashMap::new(),
            registrations: SizeIndex::default(),
            total: 0,
            // Room for the publishes of a first few notifications, so the first pushes do not
            // grow the tables one rehash at a time.
            pending: SeqMap::with_capacity_and_hasher(INITIAL_PENDING, Default::default()),
            pending_index: SizeIndex::default(),
            hibernating: HashMap::new(),
            hibernating_index: SizeIndex::default(),
            responses: Responses::with_capacity(INITIAL_PENDING),
            timers: Timers::default(),
            transmit: VecDeque::with_capacity(INITIAL_PENDING),
            events: VecDeque::new(),
        }
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// Registrations in total (suspended ones included).
    #[must_use]
    pub const fn registration_count(&self) -> usize {
        self.total
    }

    /// Accounts the registry holds anything for.
    #[must_use]
    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }

    /// Publishes awaiting an answer or a retry.
    #[must_use]
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// Whether `session`'s hibernation is extended until its first push.
    #[must_use]
    pub fn is_extended(&self, session: &FullJid) -> bool {
        self.hibernating.contains_key(session)
    }

    /// The registrations of `account`, oldest enabled first, with whether each is active
    /// (`false`: suspended after errors, waiting for its retry).
    #[must_use]
    pub fn nodes(&self, account: &BareJid) -> Vec<(PushNode, bool)> {
        self.accounts.get(account).map_or_else(Vec::new, |a| {
            a.registrations
                .iter()
                .map(|r| ((*r.node).clone(), r.suspended.is_none()))
                .collect()
        })
    }

    /// Handles a stanza addressed to a user's bare JID or to the server that may be push
    /// business: an `<enable/>`/`<disable/>` iq from the account's own session (XEP-0357 §5,
    /// §6), the result or error answering one of our publishes (§7.1), or a push service's
    /// affiliation change notice (§8). Anything else is [`Incoming::NotOurs`].
    ///
    /// The stanza's `from` must be what routing stamped (RFC 6120 §8.1.2.1): the sending
    /// session's full JID, or the remote entity. A command is answered in `poll_transmit` in
    /// every case; the error only classifies what was wrong.
    ///
    /// # Errors
    /// [`EnableError`] when a push command was refused (its error reply is queued).
    pub fn handle_stanza(&mut self, now: Now, stanza: &Element) -> Result<Incoming, EnableError> {
        if xml::is_stanza(stanza, "iq") {
            return match stanza.attr("type") {
                Some("set" | "get") => {
                    let command = stanza
                        .children()
                        .find(|c| c.has_ns(ns::PUSH) && matches!(c.name(), "enable" | "disable"));
                    match command {
                        Some(command) => self.on_command(now, stanza, command),
                        None => Ok(Incoming::NotOurs),
                    }
                }
                Some("result" | "error") => Ok(self.on_answer(now, stanza)),
                _ => Ok(Incoming::NotOurs),
            };
        }
        if xml::is_stanza(stanza, "message") {
            return Ok(self.on_affiliation(now, stanza));
        }
        Ok(Incoming::NotOurs)
    }

    /// Removes everything of `account` (it was deleted): every registration is reported
    /// [`DisableReason::AccountRemoved`], every pending publish [`AbandonReason::Disabled`].
    pub fn remove_account(&mut self, now: Now, account: &BareJid) {
        let Some(entry) = self.accounts.get(account) else {
            return;
        };
        let jid = Arc::clone(&entry.jid);
        while self
            .accounts
            .get(account)
            .is_some_and(|a| !a.registrations.is_empty())
        {
            self.remove_registration(now, &jid, 0, DisableReason::AccountRemoved);
        }
        let seqs: Vec<u64> = self
            .accounts
            .get(account)
            .map(|a| a.pending.iter().copied().collect())
            .unwrap_or_default();
        for seq in seqs {
            self.abandon(seq, AbandonReason::Disabled);
        }
        let sessions = self
            .accounts
            .get(account)
            .map(|a| a.hibernating.clone())
            .unwrap_or_default();
        for session in sessions {
            self.forget_hibernation(&session);
        }
        self.gc(account);
    }

    /// Handles the timer: answers that did not come, retries that are due, suspended
    /// registrations to re-enable. A spurious call is a no-op.
    pub fn handle_timeout(&mut self, now: Now) {
        // Answer deadlines and the other timers, earliest first (an answer deadline before
        // a timer due at the same instant).
        loop {
            let due = |at: Option<Monotonic>| at.filter(|at| *at <= now.monotonic());
            match (due(self.responses.next()), due(self.timers.next())) {
                (Some(response), timer) if timer.is_none_or(|t| response <= t) => {
                    let Some(r) = self.responses.pop_due(now.monotonic()) else {
                        break;
                    };
                    self.on_response_timeout(now, r.seq, r.attempt);
                }
                (_, Some(_)) => match self.timers.pop_due(now.monotonic()) {
                    Some(Timer::Retry(seq)) => self.on_retry_due(now, seq),
                    Some(Timer::Reenable(account, node)) => {
                        self.on_reenable_due(now, &account, &node);
                    }
                    None => break,
                },
                _ => break,
            }
        }
    }

    /// The next stanza to write, addressed.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmit.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Monotonic> {
        match (self.responses.next(), self.timers.next()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // --- Internals shared by the impl blocks in the other files ---

    fn emit(&mut self, event: Event) {
        self.events.push_back(event);
    }

    fn changed(&mut self, account: &BareJid) {
        self.emit(Event::Changed {
            account: account.clone(),
        });
    }

    /// The `from` of publishes about `account` (XEP-0357 0.3+: the server; 0.2.1: the user).
    fn publish_from(&self, account: &BareJid) -> Jid {
        match self.config.publish_from {
            PublishFrom::Server => Jid::from(BareJid::from_parts(None, account.domain())),
            PublishFrom::Account => Jid::from(account.clone()),
        }
    }

    /// Drops an account entry that holds nothing any more.
    fn gc(&mut self, account: &BareJid) {
        if self.accounts.get(account).is_some_and(Account::is_empty) {
            self.accounts.remove(account);
        }
    }

    fn account_entry(&mut self, account: &BareJid) -> &mut Account {
        let from = self.publish_from(account);
        self.accounts
            .entry(account.clone())
            .or_insert_with(|| Account::new(account.clone(), from))
    }

    /// Checks every cross-table invariant (tests and fuzzing).
    #[cfg(any(test, feature = "__fuzzing"))]
    #[doc(hidden)]
    pub fn assert_invariants(&self) {
        let mut total = 0;
        let mut pending = 0;
        let mut hibernating = 0;
        for (jid, account) in &self.accounts {
            assert_eq!(**account.jid, *jid, "account key");
            assert!(!account.is_empty(), "empty account {jid} kept");
            assert!(account.registrations.len() <= self.config.max_per_account.max(1));
            total += account.registrations.len();
            for (i, r) in account.registrations.iter().enumerate() {
                assert!(
                    account.registrations[..i].iter().all(|o| o.node != r.node),
                    "duplicate registration"
                );
                if let Some(by) = &r.enabled_by {
                    assert_eq!(by.to_bare(), *jid, "registration enabled by a stranger");
                }
            }
            assert!(account.pending.len() <= self.config.max_pending_per_account.max(1));
            assert!(
                account.pending.iter().is_sorted_by(|a, b| a < b),
                "account index ascending"
            );
            assert_eq!(*account.publish_from, self.publish_from(jid), "cached from");
            for seq in &account.pending {
                let p = self
                    .pending
                    .get(seq)
                    .expect("indexed pending publish exists");
                assert_eq!(*p.batch.account, *jid);
            }
            pending += account.pending.len();
            assert!(account.hibernating.len() <= self.config.max_hibernating_per_account.max(1));
            for s in &account.hibernating {
                assert!(
                    self.hibernating.contains_key(s),
                    "indexed hibernation exists"
                );
                assert_eq!(s.to_bare(), *jid);
            }
            hibernating += account.hibernating.len();
        }
        assert_eq!(total, self.total, "registration total");
        assert!(self.total <= self.config.max_registrations.max(1));
        assert_eq!(pending, self.pending.len(), "pending index");
        assert!(self.pending.len() <= self.config.max_pending.max(1));
        assert_eq!(hibernating, self.hibernating.len(), "hibernation index");
        assert!(self.hibernating.len() <= self.config.max_hibernating.max(1));
        // Every timer serves an entry, and every entry has its timer.
        let suspended = self
            .accounts
            .values()
            .flat_map(|a| a.registrations.iter())
            .filter(|r| r.suspended.is_some())
            .count();
        let waiting = self.pending.values().filter(|p| p.waiting).count();
        assert_eq!(self.timers.len(), waiting + suspended, "timers");
        for p in self.pending.values() {
            assert_eq!(
                p.waiting,
                p.timer.is_some(),
                "a retry timer exactly while waiting"
            );
        }
        // Every publish in flight has one answer deadline; the first deadline is live, so
        // `poll_timeout` is exact; stale entries stay within the bound.
        let live = |r: &table::Response| {
            self.pending
                .get(&r.seq)
                .is_some_and(|p| p.attempt == r.attempt && !p.waiting)
        };
        let in_flight = self.pending.len() - waiting;
        assert_eq!(
            self.responses.iter().filter(|r| live(r)).count(),
            in_flight,
            "deadlines"
        );
        assert!(
            self.responses.iter().next().is_none_or(live),
            "first deadline live"
        );
        assert!(self.responses.len() <= 2 * self.pending.len() + Responses::SLACK);
        let deadlines: Vec<Monotonic> = self.responses.iter().map(|r| r.at).collect();
        assert!(deadlines.is_sorted(), "deadlines in order");
    }
}
