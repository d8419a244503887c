//! How a deployment runs its user's-server side of XEP-0357.

use std::time::Duration;

use xmpp_parsers::data_forms::DataFormType;

/// Configuration of a [`Registry`](crate::Registry). `Default` follows Prosody's
/// mod_cloud_notify where it has a setting, ejabberd's mod_push otherwise.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RegistryConfig {
    /// Registrations per account; at the bound the least recently enabled one is evicted and
    /// reported (Prosody's `push_max_devices`, 5).
    pub max_per_account: usize,
    /// Registrations in total; at the bound the least recently enabled registration of the
    /// account holding the most is evicted and reported.
    pub max_registrations: usize,
    /// Publishes awaiting an answer or a retry, per account (32).
    pub max_pending_per_account: usize,
    /// Publishes awaiting an answer or a retry, in total; at either bound the oldest of the
    /// account holding the most is abandoned and reported (10,000).
    pub max_pending: usize,
    /// Hibernating sessions whose lifetime is extended, per account (8).
    pub max_hibernating_per_account: usize,
    /// Hibernating sessions whose lifetime is extended, in total; at either bound the oldest
    /// of the account holding the most gets its own timeout back, reported (10,000).
    pub max_hibernating: usize,
    /// What a notification may reveal.
    pub privacy: Privacy,
    /// `last-message-body` is cut to this many characters (512).
    pub max_body_chars: usize,
    /// The `from` of publishes.
    pub publish_from: PublishFrom,
    /// What a publish error does to its registration.
    pub errors: ErrorPolicy,
    /// Retries of publishes answered with a `wait` error or not answered at all.
    pub retry: Backoff,
    /// How long a publish may go unanswered before it counts as lost (60 s): retried like a
    /// `wait` error, never counted as a failure.
    pub response_timeout: Duration,
    /// If set, a registration disabled by publish errors is kept and retried after this long
    /// (XEP-0357 §7.1: "MAY retry ... after a period of time (e.g. 1 day)"); it is then on
    /// probation: its next error disables it again. `None` (the default, as in Prosody and
    /// ejabberd) removes it.
    pub retry_disabled_after: Option<Duration>,
    /// How long a hibernating session with push enabled is kept until its first push (72 h,
    /// Prosody's `push_max_hibernation_timeout` and ejabberd's mod_push_keepalive).
    pub hibernation_extension: Duration,
    /// The `type` of the summary form: `Some(Submit)` (the default, as ejabberd), `Some(Form)`
    /// (as Prosody), or `None` (no attribute, as in XEP-0357's examples).
    pub summary_form_type: Option<DataFormType>,
    /// Refuse `<enable/>` without `node` with `feature-not-implemented` (true, as ejabberd;
    /// Prosody accepts it and publishes without a node).
    pub require_node: bool,
    /// The largest publish-options form accepted, serialised (4,096 bytes).
    pub max_options_bytes: usize,
    /// The longest node name accepted (1,024 bytes).
    pub max_node_bytes: usize,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            max_per_account: 5,
            max_registrations: 100_000,
            max_pending_per_account: 32,
            max_pending: 10_000,
            max_hibernating_per_account: 8,
            max_hibernating: 10_000,
            privacy: Privacy::default(),
            max_body_chars: 512,
            publish_from: PublishFrom::Server,
            errors: ErrorPolicy::default(),
            retry: Backoff::default(),
            response_timeout: Duration::from_secs(60),
            retry_disabled_after: None,
            hibernation_extension: Duration::from_secs(72 * 3600),
            summary_form_type: Some(DataFormType::Submit),
            require_node: true,
            max_options_bytes: 4096,
            max_node_bytes: 1024,
        }
    }
}

/// What a notification may reveal to the push service (XEP-0357 §9: "servers SHOULD allow
/// users to limit the information sent via push notifications"). Counts are always sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Privacy {
    /// `message-count` and `pending-subscription-count` only.
    CountsOnly,
    /// Counts and `last-message-sender`.
    Sender,
    /// Counts, `last-message-sender` and `last-message-body`.
    SenderAndBody,
    /// Counts, and for important triggers (see [`Trigger::important`](crate::Trigger)) this
    /// fixed `last-message-body`, so an app can show "new message" without learning it
    /// (Prosody's `push_notification_important_body`, ejabberd's `include_body` text).
    Placeholder(String),
}

impl Privacy {
    /// Whether notifications name the sender (`last-message-sender`).
    #[must_use]
    pub const fn reveals_sender(&self) -> bool {
        matches!(self, Self::Sender | Self::SenderAndBody)
    }

    /// Whether notifications carry the message's own body (`last-message-body`; a
    /// placeholder is not the body).
    #[must_use]
    pub const fn reveals_body(&self) -> bool {
        matches!(self, Self::SenderAndBody)
    }
}

impl Default for Privacy {
    /// Prosody's default: a placeholder "New Message!" for important messages.
    fn default() -> Self {
        Self::Placeholder("New Message!".to_owned())
    }
}

/// The `from` of a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PublishFrom {
    /// The server's domain: XEP-0357 0.3 and later ("Use server JID as 'from' address"), what
    /// Prosody and ejabberd send.
    #[default]
    Server,
    /// The user's bare JID: XEP-0357 0.2.1 (the seed).
    Account,
}

/// What a publish error whose type is not `wait` does to its registration (XEP-0357 §7.1:
/// "SHOULD consider the ... combination to be disabled", or "MAY ... keep a service enabled
/// ... until a sufficient number of errors have been received in a row").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorPolicy {
    /// Disable at the first such error (ejabberd).
    DisableAtFirst,
    /// Count such errors in a row; a success resets the count; disable when it reaches
    /// `limit` (Prosody, `push_max_errors`, 16).
    Count {
        /// Errors in a row that disable.
        limit: u32,
    },
}

impl Default for ErrorPolicy {
    fn default() -> Self {
        Self::Count { limit: 16 }
    }
}

impl ErrorPolicy {
    /// The number of errors in a row that disables (1 for [`ErrorPolicy::DisableAtFirst`]).
    #[must_use]
    pub const fn limit(self) -> u32 {
        match self {
            Self::DisableAtFirst => 1,
            Self::Count { limit } => {
                if limit == 0 {
                    1
                } else {
                    limit
                }
            }
        }
    }
}

/// Exponential back-off for retried publishes: `first`, doubled per attempt up to `max`, for at
/// most `attempts` sends in all (4 sends: 10 s, 20 s, 40 s between them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backoff {
    /// Delay before the first retry.
    pub first: Duration,
    /// The longest delay.
    pub max: Duration,
    /// Sends in all, the first one included (at least 1).
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(10),
            max: Duration::from_secs(300),
            attempts: 4,
        }
    }
}

impl Backoff {
    /// `first`, doubled per attempt up to `max`, for `attempts` sends in all.
    #[must_use]
    pub const fn new(first: Duration, max: Duration, attempts: u32) -> Self {
        Self {
            first,
            max,
            attempts,
        }
    }

    /// The delay before send number `attempt + 1`, after send `attempt` (1-based) failed.
    #[must_use]
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.first
            .checked_mul(1 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }
}
