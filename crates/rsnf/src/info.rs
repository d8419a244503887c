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
    /// Other features the caller asked to keep ([`CapsConfig::keep_features`]), sorted.
    ///
    /// [`CapsConfig::keep_features`]: crate::CapsConfig::keep_features
    kept: Box<[String]>,
}

impl CapsInfo {
    /// From a filter and the RSF flag.
    #[must_use]
    pub fn new(filter: Filter, rsf: bool) -> Self {
        Self(Arc::new(Inner {
            filter,
            rsf,
            kept: Box::default(),
        }))
    }

    /// From an entity's disco features (for a resource whose features the caller already
    /// knows, without caps): the filter features and `urn:xmpp:rsf:0`; the rest is ignored.
    #[must_use]
    pub fn from_features<I, S>(features: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::from_features_keeping(features, &[] as &[&str])
    }

    /// As [`from_features`](Self::from_features), also keeping the features listed in `keep`
    /// that the entity advertised (what a [`CapsCache`](crate::CapsCache) does with
    /// [`CapsConfig::keep_features`](crate::CapsConfig::keep_features)), so that another
    /// protocol can decide from the same caps ([`has_feature`](Self::has_feature)).
    #[must_use]
    pub fn from_features_keeping<I, S, K>(features: I, keep: &[K]) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
        K: AsRef<str>,
    {
        let mut filter = Filter::new();
        let mut rsf = false;
        let mut kept = Vec::new();
        for feature in features {
            let feature = feature.as_ref();
            rsf |= feature == NS_RSF;
            filter.add_feature(feature);
            if !Self::keeps(feature) && keep.iter().any(|k| k.as_ref() == feature) {
                kept.push(feature.to_owned());
            }
        }
        kept.sort_unstable();
        kept.dedup();
        Self(Arc::new(Inner {
            filter,
            rsf,
            kept: kept.into_boxed_slice(),
        }))
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

    /// The features this was built from, normalised: the filter's, then `urn:xmpp:rsf:0`,
    /// then the other kept ones, sorted.
    #[must_use]
    pub fn features(&self) -> Vec<String> {
        let mut features = self.0.filter.features();
        if self.0.rsf {
            features.push(NS_RSF.to_owned());
        }
        features.extend(self.0.kept.iter().cloned());
        features
    }

    /// Whether the entity advertised `feature`, among those kept: filter features,
    /// `urn:xmpp:rsf:0`, and those of [`CapsConfig::keep_features`](crate::CapsConfig)
    /// (for any other feature, `false`: it was not kept).
    #[must_use]
    pub fn has_feature(&self, feature: &str) -> bool {
        if Self::keeps(feature) {
            return (feature == NS_RSF && self.0.rsf)
                || self.0.filter.features().iter().any(|f| f == feature);
        }
        self.0
            .kept
            .binary_search_by(|k| k.as_str().cmp(feature))
            .is_ok()
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
