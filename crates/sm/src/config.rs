//! Configuration: ack policy, limits, resumption.

use std::time::Duration;

use minidom::Element;

use crate::elements::Feature;
use crate::ns::Namespace;

/// When a state machine asks its peer for an acknowledgement, and how long it waits.
///
/// At most one `<r/>` is outstanding at a time: a new one is only sent after the peer
/// answered the previous one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct AckPolicy {
    /// Send `<r/>` as soon as this many stanzas are unacknowledged (`Some(1)`: after every
    /// stanza, as Prosody does by default). `None`: never because of a count.
    pub after_stanzas: Option<u32>,
    /// Send `<r/>` once stanzas have been in flight this long without an acknowledgement
    /// (measured on the monotonic clock from the first unacknowledged send, restarted by each
    /// ack). `None`: never because of time.
    pub after_time: Option<Duration>,
    /// Report an `AckTimeout` event when an `<r/>` stays unanswered this long.
    pub timeout: Option<Duration>,
}

impl Default for AckPolicy {
    /// After 5 stanzas or 5 seconds, whichever comes first; time out after 60 seconds.
    fn default() -> Self {
        Self {
            after_stanzas: Some(5),
            after_time: Some(Duration::from_secs(5)),
            timeout: Some(Duration::from_secs(60)),
        }
    }
}

impl AckPolicy {
    /// Never ask on its own; the caller uses `request_ack`.
    #[must_use]
    pub const fn manual() -> Self {
        Self {
            after_stanzas: None,
            after_time: None,
            timeout: None,
        }
    }
}

/// Configuration of a [`crate::Client`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Ask for a resumable stream.
    pub resume: bool,
    /// Preferred resumption time in seconds, sent as `max` on `<enable/>`.
    pub max: Option<u32>,
    /// When to request acknowledgements.
    pub ack: AckPolicy,
    /// The most unacknowledged stanzas held for retransmission. Sending one more is refused
    /// with [`crate::Refusal::QueueFull`] and ends stream management: the peer is not
    /// acknowledging, every held stanza is handed back.
    pub max_queue: usize,
    /// How long an `<enable/>` or `<resume/>` may go unanswered before
    /// [`crate::ClientEvent::RequestTimedOut`] (a server that advertises inline stream
    /// management but never answers it). `None`: wait forever.
    pub request_timeout: Option<Duration>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            resume: true,
            max: None,
            ack: AckPolicy::default(),
            max_queue: 1000,
            request_timeout: Some(Duration::from_secs(30)),
        }
    }
}

/// Whether a server stream answers `<enable/>` on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum EnablePolicy {
    /// Answer at once (resumable when [`ServerConfig::resume`] allows it and the client asks).
    #[default]
    Accept,
    /// Report [`crate::ServerEvent::EnableRequested`] and wait for
    /// [`crate::Server::accept_enable`] or [`crate::Server::reject_enable`] (for a server that
    /// decides per account).
    Ask,
}

/// Configuration of a [`crate::SessionStore`] and every [`crate::Server`] stream it makes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The dialects offered in stream features, in the order listed. Requests in any of them
    /// are answered in the namespace they came in.
    pub namespaces: Vec<Namespace>,
    /// Allow resumption.
    pub resume: bool,
    /// The longest resumption time granted, in seconds: a client's `max` is honoured up to
    /// this cap.
    pub max_resume: u32,
    /// The resumption time granted when the client does not ask for one, in seconds.
    pub default_resume: u32,
    /// `location` to advertise on `<enabled/>`.
    pub location: Option<String>,
    /// When to request acknowledgements.
    pub ack: AckPolicy,
    /// The most unacknowledged stanzas held, on the live stream and while hibernated. At the
    /// limit a live stream is closed with `resource-constraint` and the stanza refused with
    /// [`crate::Refusal::QueueFull`]; a hibernated session refuses the stanza.
    pub max_queue: usize,
    /// Whether streams answer `<enable/>` themselves.
    pub enable: EnablePolicy,
    /// How long a resuming stream waits for the stream that still holds the session to hand
    /// it over (XEP-0198 §5 take-over), before it answers `item-not-found`.
    pub handover_timeout: Duration,
    /// The store's limits.
    pub store: StoreConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            namespaces: vec![Namespace::Sm2, Namespace::Sm3],
            resume: true,
            max_resume: 600,
            default_resume: 300,
            location: None,
            ack: AckPolicy::default(),
            max_queue: 1000,
            enable: EnablePolicy::Accept,
            handover_timeout: Duration::from_secs(10),
            store: StoreConfig::default(),
        }
    }
}

impl ServerConfig {
    /// The `<sm/>` stream features this configuration offers, one per dialect.
    #[must_use]
    pub fn features(&self) -> Vec<Element> {
        self.namespaces
            .iter()
            .map(|&ns| {
                let mut feature = Feature::new(ns);
                if ns == Namespace::Sm1 && self.resume {
                    feature.max = Some(self.max_resume);
                }
                feature.into()
            })
            .collect()
    }

    /// What a session record read back is checked against.
    pub(crate) const fn record_limits(&self) -> RecordLimits {
        RecordLimits {
            max_queue: self.max_queue,
            max_resume: self.max_resume,
        }
    }
}

/// The limits a session record is checked against (from a [`ServerConfig`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordLimits {
    pub(crate) max_queue: usize,
    pub(crate) max_resume: u32,
}

/// The limits of a [`crate::SessionStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct StoreConfig {
    /// The most hibernated sessions kept in all. Hibernating one more evicts the session
    /// closest to its deadline of the account that holds the most (its stanzas are handed
    /// back in [`crate::StoreEvent::HandedBack`] with [`crate::HandBackReason::Evicted`]).
    pub max_hibernated: usize,
    /// The most hibernated sessions one account keeps. Hibernating one more evicts that
    /// account's session closest to its deadline.
    pub max_per_account: usize,
    /// How many ended sessions' last `h` are remembered, so a late `<resume/>` can be answered
    /// `<failed h='…'/>` (XEP-0198 §5). The oldest are forgotten first.
    pub max_remembered: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            max_hibernated: 10_000,
            max_per_account: 10,
            max_remembered: 10_000,
        }
    }
}
