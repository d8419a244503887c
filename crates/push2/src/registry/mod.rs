//! The user's server side of Push 2.0: the [`Registry`] of every account's registrations,
//! the notifications it builds for the stanzas routed to them, and their outcomes.

mod commands;
mod config;
mod delivery;
mod event;
mod notify;
mod record;
mod table;
mod validate;

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::time::SystemTime;

use jid::{BareJid, Jid};
use rand_core::CryptoRng;
use xmpp_push2_crypto::{EcPublicKey, TokenCache};
use xmpp_tether_core::{Monotonic, Now};

pub use self::config::{Backoff, EnableLimits, PaddingPolicy, RegistryConfig, SizeBudget};
pub use self::event::{
    Bound, Delivery, DisableReason, DiscardReason, Event, Incoming, NotificationId,
    OutgoingNotification, Transmit,
};
pub use self::notify::{Selected, Selection};
pub use self::record::{AccountRecord, RegistrationRecord, Snapshot};
use self::table::{Account, Pending, SizeIndex, Timer, Timers};
use crate::elements::{MatchProfile, account_features};
use crate::stanza::{Classification, RegistrationKey, Routed};

/// Match profiles beyond the seed's four, implemented by the caller (the seed: "Other XEPs
/// may define additional profiles ... Custom profiles not defined in a XEP should use their
/// own appropriate URI").
///
/// ```
/// use xmpp_push2::{Classification, CustomProfiles, Routed};
///
/// /// Pushes only calls.
/// struct CallsOnly;
/// impl CustomProfiles for CallsOnly {
///     fn profiles(&self) -> Vec<String> { vec!["urn:example:push:calls".into()] }
///     fn matches(&self, profile: &str, _: &Routed<'_>, c: &Classification) -> bool {
///         profile == "urn:example:push:calls" && c.is_call()
///     }
/// }
/// assert!(CallsOnly.supports("urn:example:push:calls"));
/// ```
pub trait CustomProfiles {
    /// The profile URIs this implements: advertised in disco
    /// ([`Registry::account_features`]) and accepted in `<enable/>`.
    fn profiles(&self) -> Vec<String>;

    /// Whether `profile` is one of [`CustomProfiles::profiles`].
    fn supports(&self, profile: &str) -> bool {
        self.profiles().iter().any(|p| p == profile)
    }

    /// Whether `stanza` matches `profile` (one this implements).
    fn matches(&self, profile: &str, stanza: &Routed<'_>, classification: &Classification) -> bool;
}

/// No custom profiles: only the seed's four are accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoCustomProfiles;

impl CustomProfiles for NoCustomProfiles {
    fn profiles(&self) -> Vec<String> {
        Vec::new()
    }

    fn supports(&self, _: &str) -> bool {
        false
    }

    fn matches(&self, _: &str, _: &Routed<'_>, _: &Classification) -> bool {
        false
    }
}

/// What [`Registry::registrations`] tells about one registration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistrationView {
    /// Its key.
    pub key: RegistrationKey,
    /// The push service.
    pub service: Jid,
    /// The `<client/>` string.
    pub client: String,
    /// The match profiles, in order.
    pub profiles: Vec<MatchProfile>,
    /// When it was enabled (wall clock).
    pub enabled_at: SystemTime,
    /// The first failure since the last success, if it is failing.
    pub failing_since: Option<SystemTime>,
}

/// The Push 2.0 registrations of every account on a server, and the notifications they
/// cause: the "user's server" role.
///
/// One `Registry` serves the whole server. It owns every rule about which registration a
/// command, a stanza or an outcome belongs to; the server routes stanzas to it with the
/// context only it knows ([`Routed`]), and writes out what it hands back.
///
/// Methods, by kind:
/// - getters: [`config`](Self::config), [`profiles`](Self::profiles),
///   [`account_features`](Self::account_features),
///   [`registration_count`](Self::registration_count),
///   [`account_count`](Self::account_count), [`pending_count`](Self::pending_count),
///   [`registrations`](Self::registrations), [`select`](Self::select),
///   [`record`](Self::record), [`snapshot`](Self::snapshot);
/// - input: [`handle_iq`](Self::handle_iq) (enable and disable iqs),
///   [`handle_bind2`](Self::handle_bind2) (an `<enable/>` inside Bind2 `<bind/>`),
///   [`handle_routed`](Self::handle_routed) (every stanza routed to an account),
///   [`handle_stanza`](Self::handle_stanza) (error bounces from push services),
///   [`handle_delivery`](Self::handle_delivery) (outcomes learned otherwise),
///   [`handle_timeout`](Self::handle_timeout);
/// - commands: [`enable`](Self::enable), [`disable`](Self::disable),
///   [`remove_account`](Self::remove_account), [`restore_account`](Self::restore_account);
/// - output: [`poll_transmit`](Self::poll_transmit), [`poll_event`](Self::poll_event),
///   [`poll_timeout`](Self::poll_timeout).
///
/// **After every `&mut` call, drain `poll_transmit` (write each element to its `to`, in order:
/// a [`Transmit::Bind2`] goes inside the `<bound/>` being built), then `poll_event`; then
/// re-arm the timer from `poll_timeout`.**
#[derive(Debug)]
pub struct Registry<P = NoCustomProfiles> {
    config: RegistryConfig,
    profiles: P,
    /// Random per registry, so bounces meant for another process never match ours.
    id_prefix: String,
    next_seq: u64,
    accounts: HashMap<BareJid, Account>,
    total: usize,
    index: SizeIndex,
    pending: HashMap<u64, Pending>,
    pending_index: SizeIndex,
    timers: Timers,
    tokens: TokenCache,
    /// How many registrations sign with each VAPID key, so the token cache forgets a key
    /// when the last one goes.
    key_refs: HashMap<EcPublicKey, usize>,
    transmit: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl Registry {
    /// An empty registry with the seed's match profiles only. The RNG makes the prefix of
    /// notification ids.
    pub fn new(config: RegistryConfig, rng: &mut impl CryptoRng) -> Self {
        Self::with_profiles(config, NoCustomProfiles, rng)
    }
}

impl<P: CustomProfiles> Registry<P> {
    /// An empty registry that also accepts the caller's custom match profiles.
    pub fn with_profiles(config: RegistryConfig, profiles: P, rng: &mut impl CryptoRng) -> Self {
        let mut bytes = [0u8; 6];
        rng.fill_bytes(&mut bytes);
        let mut id_prefix = String::with_capacity(16);
        id_prefix.push_str("p2.");
        for b in bytes {
            // Writing into a String cannot fail.
            let _ = write!(id_prefix, "{b:02x}");
        }
        id_prefix.push('.');
        Self {
            config,
            profiles,
            id_prefix,
            next_seq: 1,
            accounts: HashMap::new(),
            total: 0,
            index: SizeIndex::default(),
            pending: HashMap::new(),
            pending_index: SizeIndex::default(),
            timers: Timers::default(),
            tokens: TokenCache::new(),
            key_refs: HashMap::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// The custom profiles.
    #[must_use]
    pub const fn profiles(&self) -> &P {
        &self.profiles
    }

    /// The disco features to advertise on every account ([`account_features`]).
    #[must_use]
    pub fn account_features(&self) -> Vec<String> {
        account_features(&self.profiles)
    }

    /// Registrations in all.
    #[must_use]
    pub const fn registration_count(&self) -> usize {
        self.total
    }

    /// Accounts the registry holds anything for.
    #[must_use]
    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }

    /// Notifications awaiting an outcome or a retry.
    #[must_use]
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// The registrations of `account`, least recently enabled first.
    #[must_use]
    pub fn registrations(&self, account: &BareJid) -> Vec<RegistrationView> {
        self.accounts.get(account).map_or_else(Vec::new, |a| {
            a.registrations
                .iter()
                .map(|r| RegistrationView {
                    key: r.key.clone(),
                    service: r.service.clone(),
                    client: r.client.to_string(),
                    profiles: r.matches.iter().map(|m| m.profile.clone()).collect(),
                    enabled_at: r.enabled_at,
                    failing_since: r.failing_since,
                })
                .collect()
        })
    }

    /// Handles the timer: outcome windows that ended in silence, retries that are due. A
    /// spurious call is a no-op.
    pub fn handle_timeout(&mut self, now: Now) {
        while let Some(timer) = self.timers.pop_due(now.monotonic()) {
            match timer {
                Timer::Silence(seq) => self.on_silence(now, seq),
                Timer::Retry(seq) => self.on_retry_due(now, seq),
            }
        }
    }

    /// The next element to write.
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
        self.timers.next()
    }

    fn emit(&mut self, event: Event) {
        self.events.push_back(event);
    }

    fn changed(&mut self, account: &BareJid) {
        self.emit(Event::Changed {
            account: account.clone(),
        });
    }

    fn next_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Drops an account entry that holds nothing any more.
    fn gc(&mut self, account: &BareJid) {
        if self.accounts.get(account).is_some_and(Account::is_empty) {
            self.accounts.remove(account);
        }
    }

    /// Brings both size indexes up to date for `account`.
    fn reindex(&mut self, account: &BareJid) {
        let Some(a) = self.accounts.get_mut(account) else {
            return;
        };
        let jid = std::sync::Arc::clone(&a.jid);
        let (old, new) = (a.indexed, a.registrations.len());
        let (old_p, new_p) = (a.pending_indexed, a.pending.len());
        a.indexed = new;
        a.pending_indexed = new_p;
        self.index.update(&jid, old, new);
        self.pending_index.update(&jid, old_p, new_p);
    }

    /// Checks every cross-table invariant (tests and fuzzing).
    #[cfg(any(test, feature = "__fuzzing"))]
    #[doc(hidden)]
    pub fn assert_invariants(&self) {
        let mut total = 0;
        let mut pending = 0;
        let mut refs: HashMap<EcPublicKey, usize> = HashMap::new();
        for (jid, account) in &self.accounts {
            assert_eq!(*account.jid, *jid, "account key");
            assert!(!account.is_empty(), "empty account {jid} kept");
            assert!(account.registrations.len() <= self.config.max_per_account.max(1));
            assert_eq!(account.indexed, account.registrations.len(), "size index");
            assert_eq!(
                account.pending_indexed,
                account.pending.len(),
                "pending index"
            );
            total += account.registrations.len();
            for (i, r) in account.registrations.iter().enumerate() {
                assert!(
                    account.registrations[..i].iter().all(|o| o.key != r.key),
                    "duplicate key"
                );
                assert_ne!(r.service.to_bare(), *jid, "own JID as service");
                for key in r.vapid_keys() {
                    *refs.entry(key).or_default() += 1;
                }
            }
            assert!(account.pending.len() <= self.config.max_pending_per_account.max(1));
            for seq in &account.pending {
                let p = self.pending.get(seq).expect("indexed notification exists");
                assert_eq!(*p.account, *jid);
            }
            pending += account.pending.len();
        }
        assert_eq!(total, self.total, "registration total");
        assert_eq!(self.index.total(), total, "global size index");
        assert!(self.total <= self.config.max_registrations.max(1));
        assert_eq!(pending, self.pending.len(), "pending index");
        assert_eq!(self.pending_index.total(), pending, "global pending index");
        assert!(self.pending.len() <= self.config.max_pending.max(1));
        assert_eq!(
            self.timers.len(),
            self.pending.len(),
            "one timer per notification"
        );
        assert_eq!(refs, self.key_refs, "VAPID key references");
    }
}
