//! What a caps set means to this crate ([`CapsInfo`]) and a resource's view of its caps
//! ([`CapsState`]).

use std::sync::Arc;

use crate::filter::{Filter, is_filter_feature};
use crate::sender::NS_RSF;

/// What this crate takes from one entity's disco features: its notification [`Filter`] and
/// whether it is a server that speaks XEP-0351 (`urn:xmpp:rsf:0`).
///
/// Shared: cloning is a reference count, and every resource that advertised the same
/// verified caps holds the same `CapsInfo`, so a fan-out decides once per distinct caps set.
/// Equality compares contents.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CapsInfo(Arc<Inner>);

#[derive(Debug, PartialEq, Eq, Hash)]
struct Inner {
    filter: Filter,
    rsf: bool,
}

impl CapsInfo {
    /// From a filter and the RSF flag.
    #[must_use]
    pub fn new(filter: Filter, rsf: bool) -> Self {
        Self(Arc::new(Inner { filter, rsf }))
    }

    /// From an entity's disco features (for a resource whose features the caller already
    /// knows, without caps): the filter features and `urn:xmpp:rsf:0`; the rest is ignored.
    #[must_use]
    pub fn from_features<I, S>(features: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut filter = Filter::new();
        let mut rsf = false;
        for feature in features {
            let feature = feature.as_ref();
            rsf |= feature == NS_RSF;
            filter.add_feature(feature);
        }
        Self::new(filter, rsf)
    }

    /// The notification filter.
    #[must_use]
    pub fn filter(&self) -> &Filter {
        &self.0.filter
    }

    /// Whether the entity advertised `urn:xmpp:rsf:0` (a server that filters for its own
    /// users, XEP-0351 §3.1).
    #[must_use]
    pub fn supports_rsf(&self) -> bool {
        self.0.rsf
    }

    /// The features this was built from, normalised: the filter's, then `urn:xmpp:rsf:0`.
    #[must_use]
    pub fn features(&self) -> Vec<String> {
        let mut features = self.0.filter.features();
        if self.0.rsf {
            features.push(NS_RSF.to_owned());
        }
        features
    }

    /// Whether `feature` is one this type keeps.
    pub(crate) fn keeps(feature: &str) -> bool {
        feature == NS_RSF || is_filter_feature(feature)
    }

    /// The identity of the shared value, for per-fan-out memos (valid while it is alive).
    pub(crate) fn addr(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }
}

/// A resource's caps, as the fan-out sees them. Keep one per resource, set from what
/// [`CapsCache::handle_caps`](crate::CapsCache::handle_caps) returns and from its
/// [`CapsEvent`](crate::CapsEvent)s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CapsState {
    /// No caps advertised (or not yet seen). The [`Policy`](crate::Policy) decides
    /// ([`UnresolvedCaps`](crate::UnresolvedCaps)).
    #[default]
    Unknown,
    /// Caps advertised, disco#info query in flight. Treated like `Unknown`.
    Resolving,
    /// Resolved caps.
    Known(CapsInfo),
}

impl CapsState {
    /// The resolved caps, if any.
    #[must_use]
    pub const fn info(&self) -> Option<&CapsInfo> {
        match self {
            Self::Known(info) => Some(info),
            Self::Unknown | Self::Resolving => None,
        }
    }
}

impl From<CapsInfo> for CapsState {
    fn from(info: CapsInfo) -> Self {
        Self::Known(info)
    }
}
