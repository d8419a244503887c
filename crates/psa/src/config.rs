//! Configuration of the [`crate::Tracker`] and the client-side [`crate::View`].

use std::collections::BTreeSet;
use std::time::Duration;

use jid::{DomainPart, DomainRef};

/// Which remote entities get `<connection-paused/>` (and MUC) annotations.
///
/// A remote watcher's interest is unknowable without its caps (XEP-0310 §3 says "servers
/// autoenable based on" caps, which only the watcher's own server sees for sure). A server
/// that resolves the caps of remote full JIDs (for PEP, say) reports them with
/// [`crate::Tracker::handle_caps`] and keeps the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum RemoteWatchers {
    /// Only remote JIDs the caller reported as advertising `urn:xmpp:psa`
    /// ([`crate::Tracker::handle_caps`] / [`crate::Tracker::handle_interest`]).
    #[default]
    Advertised,
    /// Every remote JID that received the presence, unless reported as not interested: a
    /// client that does not know the element ignores it (RFC 6120 §8.4), but it gets the
    /// presence once more.
    All,
    /// No remote JID: annotations stay on this server.
    Never,
}

/// Configuration of a [`crate::Tracker`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct TrackerConfig {
    /// The domains this server hosts (user hosts and MUC services). Every other domain is
    /// remote, reached over s2s links.
    pub local_domains: BTreeSet<DomainPart>,
    /// How long the last stream to a domain may stay lost before the domain counts as down
    /// and its presences are annotated: the debounce that keeps a reconnect, a restart or a
    /// NAT dropping an idle connection from annotating anything. Zero annotates at once.
    pub grace: Duration,
    /// When a down domain comes back, send a probe after the empty annotations (XEP-0310
    /// §4.1 "MAY subsequently attempt to refresh this presence by reprobing"): from each
    /// local account to each remote contact's bare JID, and from each room to each occupant's
    /// real JID.
    pub probe_on_restore: bool,
    /// Which remote watchers get annotations.
    pub remote_watchers: RemoteWatchers,
    /// Put a human-readable `<description/>` in stale annotations (English, as in the
    /// XEP's examples).
    pub describe: bool,
    /// The `xml:lang` of those descriptions; `None` leaves the stanza's language.
    pub description_lang: Option<String>,
    /// The most presences tracked, over all watchers. At the limit, a new one evicts the least
    /// recently updated presence of the account (watcher's bare JID) holding the most,
    /// reported in [`crate::Event::Evicted`].
    pub max_presences: usize,
    /// The most presences tracked for one account (all its resources). At the limit, a new
    /// one evicts that account's least recently updated presence, reported too.
    pub max_presences_per_account: usize,
    /// The most JIDs the tracker keeps a record of (sessions, remote sources and watchers,
    /// occupants). At the limit a presence involving a new JID is not tracked
    /// ([`crate::Untracked::Limit`]) and a new session state is not kept
    /// ([`crate::Event::Refused`]).
    pub max_parties: usize,
    /// The most remote domains whose link state is kept. At the limit a new domain's link
    /// events and presences are not tracked ([`crate::Event::Refused`],
    /// [`crate::Untracked::Limit`]).
    pub max_domains: usize,
}

impl TrackerConfig {
    /// A configuration for a server hosting `domain` (add more with
    /// [`with_domain`](Self::with_domain)), with a 30-second grace, probes on restore, remote
    /// watchers by advertisement, descriptions, and room for a million presences, ten thousand
    /// per account.
    #[must_use]
    pub fn new(domain: DomainPart) -> Self {
        Self {
            local_domains: BTreeSet::from([domain]),
            grace: Duration::from_secs(30),
            probe_on_restore: true,
            remote_watchers: RemoteWatchers::default(),
            describe: true,
            description_lang: None,
            max_presences: 1_000_000,
            max_presences_per_account: 10_000,
            max_parties: 1_000_000,
            max_domains: 100_000,
        }
    }

    /// Adds a hosted domain (another virtual host, a MUC service).
    #[must_use]
    pub fn with_domain(mut self, domain: DomainPart) -> Self {
        let _ = self.local_domains.insert(domain);
        self
    }

    /// Whether `domain` is hosted here.
    #[must_use]
    pub fn is_local(&self, domain: &DomainRef) -> bool {
        self.local_domains.contains(domain)
    }
}

/// Configuration of a client-side [`crate::View`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ViewConfig {
    /// The client's own server: its annotations are trusted, as are a sender's domain's own
    /// (a remote MUC service annotating its occupants, XEP-0310 §4.3).
    pub server: DomainPart,
    /// The most resources remembered. At the limit, a new one evicts the least recently
    /// updated, reported in [`crate::ViewUpdate::evicted`].
    pub max_resources: usize,
}

impl ViewConfig {
    /// A view for an account on `server`, remembering up to 10,000 resources.
    #[must_use]
    pub const fn new(server: DomainPart) -> Self {
        Self {
            server,
            max_resources: 10_000,
        }
    }
}
