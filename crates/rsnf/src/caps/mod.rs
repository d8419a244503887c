//! Caps plumbing: a verified XEP-0115 cache of parsed filters, keyed by ver, so each distinct
//! caps set is queried and parsed once; a per-JID fallback for caps that do not verify; and
//! the bookkeeping of the disco#info queries in flight.

mod cache;
mod snapshot;
pub(crate) mod table;
pub(crate) mod verify;

use std::time::Duration;

use jid::Jid;
use minidom::Element;
use xmpp_parsers::disco::DiscoInfoQuery;
use xmpp_parsers::iq::Iq;

use crate::error::{QueryFailure, Unverifiable};
use crate::info::CapsInfo;

pub use self::cache::{CapsCache, Handled};
pub use self::snapshot::{CapsSnapshot, SnapshotEntry};
pub use self::verify::{CapsKey, caps_for, verification_string};

/// The bounds and timer of a [`CapsCache`], with what happens at each bound.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CapsConfig {
    /// Verified caps sets (global: an entry belongs to no account). At the bound the least
    /// recently used goes ([`CapsEvent::Evicted`]); resources that hold its [`CapsInfo`] keep
    /// it, and the next presence with that ver is queried again. Default 10,000 (Prosody's
    /// `pep_info_cache_size`).
    pub max_entries: usize,
    /// Per-JID entries (results that did not verify, and queries that failed, remembered so
    /// the JID is not asked again until its caps change). Default 10,000 globally.
    pub max_per_jid: usize,
    /// Per-JID entries of one account (bare JID). At either bound, the least recently used
    /// entry of the account (the one at its bound, or the one that holds the most) goes
    /// ([`CapsEvent::PerJidEvicted`]). Default 64.
    pub max_per_jid_per_account: usize,
    /// Queries in flight, globally. Default 1,000.
    pub max_pending: usize,
    /// Queries in flight asked of one account's JIDs. At either bound the least recently
    /// started query of that account (or of the account with the most) is abandoned:
    /// [`CapsEvent::Unresolved`] with [`QueryFailure::Evicted`] for every JID it held.
    /// Default 16.
    pub max_pending_per_account: usize,
    /// JIDs waiting on one query (same caps, asked once, XEP-0115 §6.3). At the bound the
    /// longest waiting is dropped ([`CapsEvent::Unresolved`], [`QueryFailure::Evicted`]).
    /// Default 10,000.
    pub max_waiting: usize,
    /// Children of one disco#info result (identities, features, forms); a larger result is
    /// [`QueryFailure::TooLarge`]. Default 1,000.
    pub max_children: usize,
    /// Bytes of one feature; a longer one makes the result [`QueryFailure::TooLarge`].
    /// Default 1,024.
    pub max_feature_len: usize,
    /// How long a query may go unanswered ([`QueryFailure::TimedOut`]). Default 30 s.
    pub query_timeout: Duration,
    /// Features beyond this crate's own to keep in each [`CapsInfo`] (at most these, so the
    /// bound is this list), for other decisions a server makes from the same caps: say
    /// `urn:xmpp:psa`, XEP-0310's ([`CapsInfo::has_feature`]). Persisted with the verified
    /// entries. Default none.
    pub keep_features: Vec<String>,
}

impl Default for CapsConfig {
    fn default() -> Self {
        Self {
            max_entries: 10_000,
            max_per_jid: 10_000,
            max_per_jid_per_account: 64,
            max_pending: 1_000,
            max_pending_per_account: 16,
            max_waiting: 10_000,
            max_children: 1_000,
            max_feature_len: 1_024,
            query_timeout: Duration::from_secs(30),
            keep_features: Vec::new(),
        }
    }
}

/// A disco#info query to write (XEP-0115 §6.3), from [`CapsCache::poll_transmit`]. The
/// server stamps `from` as it does for its own stanzas (its domain, or the account whose PEP
/// service asks, as Prosody does).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Query {
    /// Who is asked.
    pub to: Jid,
    /// The iq id; the answer carries it.
    pub id: String,
    /// `<caps node>#<ver>`, the node queried.
    pub node: String,
}

impl Query {
    /// The `<iq type='get'/>` (in `jabber:client`).
    #[must_use]
    pub fn to_element(&self) -> Element {
        Iq::from_get(
            self.id.clone(),
            DiscoInfoQuery {
                node: Some(self.node.clone()),
            },
        )
        .with_to(self.to.clone())
        .into()
    }
}

/// What happened to caps being resolved, from [`CapsCache::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CapsEvent {
    /// A result verified: every JID listed (the one asked, and all that advertised the same
    /// caps meanwhile) now has `info`; set their [`CapsState::Known`](crate::CapsState). Once
    /// per query that verifies.
    Resolved {
        /// The JIDs resolved, the one asked first.
        jids: Vec<Jid>,
        /// Their caps.
        info: CapsInfo,
    },
    /// A result did not verify: `jid` alone gets `info` (per-JID fallback); the next JID
    /// waiting on the same caps, if any, is asked (XEP-0115 §5.4 step 8). Once per such
    /// result.
    ResolvedForOne {
        /// The JID that answered.
        jid: Jid,
        /// What its answer says.
        info: CapsInfo,
        /// Why it is not shared.
        reason: Unverifiable,
    },
    /// `jid`'s caps could not be resolved; set its [`CapsState::Unknown`](crate::CapsState).
    /// Its own query failed (or was abandoned at a bound), and no other JID with the same
    /// caps answered in a way that verified: a JID whose query fails stays on the query while
    /// others with the same caps are asked, and is reported only when none is left. It is not
    /// asked again until it advertises other caps or goes unavailable. Once per JID and
    /// query.
    Unresolved {
        /// The JID.
        jid: Jid,
        /// Why.
        reason: QueryFailure,
    },
    /// A verified entry left the cache at [`CapsConfig::max_entries`]. Nothing to do:
    /// resources keep their [`CapsInfo`].
    Evicted {
        /// The caps set evicted.
        key: CapsKey,
    },
    /// A per-JID entry left at its bound. Nothing to do: the resource keeps its state; its
    /// next presence with caps is looked up afresh.
    PerJidEvicted {
        /// The JID whose entry went.
        jid: Jid,
    },
}

impl CapsEvent {
    /// The JIDs whose caps the event changes: every JID of `Resolved`, the one JID of
    /// `ResolvedForOne` and `Unresolved`; none for the evictions. A server with one
    /// [`ResourceTable`](crate::ResourceTable) per account hands the event to the tables of
    /// these JIDs' accounts ([`ResourceTable::apply`](crate::ResourceTable::apply)).
    ///
    /// ```
    /// use jid::Jid;
    /// use xmpp_rsnf::{CapsEvent, CapsInfo};
    ///
    /// let phone: Jid = "juliet@example.com/phone".parse()?;
    /// let desk: Jid = "romeo@example.net/desk".parse()?;
    /// let info = CapsInfo::from_features(["urn:example:n+notify"]);
    /// let event = CapsEvent::Resolved { jids: vec![phone.clone(), desk.clone()], info };
    /// let accounts: Vec<_> = event.jids().iter().map(Jid::to_bare).collect();
    /// assert_eq!(accounts, [phone.to_bare(), desk.to_bare()]);
    /// # Ok::<(), jid::Error>(())
    /// ```
    #[must_use]
    pub fn jids(&self) -> &[Jid] {
        match self {
            Self::Resolved { jids, .. } => jids,
            Self::ResolvedForOne { jid, .. } | Self::Unresolved { jid, .. } => {
                std::slice::from_ref(jid)
            }
            Self::Evicted { .. } | Self::PerJidEvicted { .. } => &[],
        }
    }
}
