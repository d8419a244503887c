//! How a deployment runs the user's-server side of Push 2.0.

use std::time::Duration;

use rand_core::CryptoRng;
use xmpp_push2_crypto::Padding;
use xmpp_push2_crypto::webpush::MAX_PLAINTEXT_LEN;

/// Configuration of a [`Registry`](crate::Registry).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistryConfig {
    /// Registrations per account (5); at the bound, enabling one more evicts the least
    /// recently enabled, reported.
    pub max_per_account: usize,
    /// Registrations in all (100,000); at the bound the least recently enabled of the
    /// account holding the most is evicted, reported.
    pub max_registrations: usize,
    /// Notifications awaiting an outcome or a retry, per account (32).
    pub max_pending_per_account: usize,
    /// Notifications awaiting an outcome or a retry, in all (10,000); at either bound the
    /// oldest of the account holding the most is discarded, reported.
    pub max_pending: usize,
    /// How large the envelope of an encrypted notification may be.
    pub budget: SizeBudget,
    /// How the envelope is padded within the budget.
    pub padding: PaddingPolicy,
    /// The VAPID `sub` claim (a contact URI for the push service's operator); `None` (the
    /// default) uses `xmpp:` and the account's domain, as mod_push2 does.
    pub vapid_sub: Option<String>,
    /// Retries of notifications answered with a `wait` error.
    pub retry: Backoff,
    /// How long a sent notification waits for an error before it counts as delivered (60 s).
    /// A `<message/>` has no positive acknowledgement: the push service answers only
    /// failures, so silence past this window is success. It should exceed the push service's
    /// own request timeout.
    pub outcome_window: Duration,
    /// A registration whose notifications have failed, with no success in between, for this
    /// long is disabled (72 h, the seed's recommended minimum).
    pub disable_after: Duration,
    /// A `cancel` / `item-not-found` or `gone` error (the push service's 404 or 410: the
    /// subscription no longer exists, RFC 8030 section 7.3) disables the registration at once
    /// (true). Off, it counts like any other failure.
    pub disable_on_gone: bool,
    /// Call proposals are pushed even to registrations whose session is live (true, as
    /// mod_push2: a call must ring now, and a connection that looks live may be dead).
    pub calls_reach_live_sessions: bool,
    /// Add XEP-0420's `<time/>` affix to the envelope (true).
    pub envelope_time: bool,
    /// Bounds on what one `<enable/>` may hold.
    pub limits: EnableLimits,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            max_per_account: 5,
            max_registrations: 100_000,
            max_pending_per_account: 32,
            max_pending: 10_000,
            budget: SizeBudget::ApnsRelay,
            padding: PaddingPolicy::Fill,
            vapid_sub: None,
            retry: Backoff::default(),
            outcome_window: Duration::from_secs(60),
            disable_after: Duration::from_secs(72 * 3600),
            disable_on_gone: true,
            calls_reach_live_sessions: true,
            envelope_time: true,
            limits: EnableLimits::default(),
        }
    }
}

/// How large an encrypted notification's envelope may be, in octets of XML before
/// encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SizeBudget {
    /// The RFC 8030 floor: a push service must accept a 4096-octet body (section 7.2), which
    /// holds 3993 octets of envelope after RFC 8291's header, tag and delimiter.
    Rfc8030,
    /// 2847 octets (the default): the body is then 2950 octets, whose base64 (3936
    /// characters) still fits a 4 KiB APNs payload with 160 octets of JSON around it, for a
    /// push service that relays the notification to Apple. This is mod_push2's
    /// `max_data_size`, from web-push-php issue 108.
    ApnsRelay,
    /// A custom bound, at most 3993.
    Octets(usize),
}

impl SizeBudget {
    /// The bound in octets.
    #[must_use]
    pub fn octets(self) -> usize {
        match self {
            Self::Rfc8030 => MAX_PLAINTEXT_LEN,
            Self::ApnsRelay => 2847,
            Self::Octets(n) => n.min(MAX_PLAINTEXT_LEN),
        }
    }
}

/// How an envelope is padded within its [`SizeBudget`] (XEP-0420 `<rpad/>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PaddingPolicy {
    /// Up to the budget (the default): every notification has the same length, so the push
    /// service learns nothing from it.
    Fill,
    /// A random length up to what fits.
    Random,
    /// No padding.
    None,
}

impl PaddingPolicy {
    pub(crate) fn padding(self, budget: SizeBudget) -> Padding {
        let padding = match self {
            Self::Fill => Padding::fill(),
            Self::Random => Padding::random_up_to_fit(),
            Self::None => Padding::NONE,
        };
        padding.within(budget.octets())
    }
}

/// Exponential back-off with jitter for notifications answered with a `wait` error: after
/// send `n` fails, the next waits `first * 2^(n-1)` (at most `max`), scaled by a random
/// factor in `[1/2, 1]` from the caller's RNG; at most `attempts` sends in all (6: about 5,
/// 10, 20, 40 and 80 s apart at most).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backoff {
    /// The delay before the first retry, before jitter.
    pub first: Duration,
    /// The longest delay, before jitter.
    pub max: Duration,
    /// Sends in all, the first one included (at least 1).
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(5),
            max: Duration::from_secs(600),
            attempts: 6,
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

    /// The delay before send `attempt + 1` after send `attempt` (1-based) failed, before
    /// jitter.
    #[must_use]
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.first
            .checked_mul(1 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// The delay before send `attempt + 1`, with "equal jitter": uniform in
    /// `[ceiling / 2, ceiling]`.
    pub fn delay(&self, rng: &mut impl CryptoRng, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        let half = ceiling / 2;
        let span = u64::try_from((ceiling - half).as_millis()).unwrap_or(u64::MAX);
        // The modulo bias is below span / 2^64: negligible for a back-off.
        let extra = rng.next_u64() % span.saturating_add(1);
        half + Duration::from_millis(extra)
    }
}

/// Bounds on one `<enable/>`: a client is a peer, and a registration is kept for days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnableLimits {
    /// `<match/>` elements (8).
    pub max_matches: usize,
    /// `<filter/>` elements per match (64).
    pub max_filters: usize,
    /// `<jwt-claim/>` elements per send profile (8).
    pub max_claims: usize,
    /// Octets of `<client/>` (2048; Web Push endpoints are a few hundred).
    pub max_client_bytes: usize,
    /// Octets of any other text: keys, claim values (4096).
    pub max_text_bytes: usize,
}

impl Default for EnableLimits {
    fn default() -> Self {
        Self {
            max_matches: 8,
            max_filters: 64,
            max_claims: 8,
            max_client_bytes: 2048,
            max_text_bytes: 4096,
        }
    }
}
