//! Persisting the verified part of a [`CapsCache`] (serialisable with the feature `serde`).
//!
//! Only verified entries are worth keeping: they hold for every entity that advertises the
//! same ver, across restarts. Queries in flight and per-JID entries belong to live
//! resources, which send presence again after a restart; they are not persisted.
//!
//! A snapshot is input: [`CapsCache::restore`] checks it like peer data (bounds, algorithms,
//! ver lengths, duplicates, and that every feature is one the cache keeps). It cannot
//! re-verify a ver, since only the features that matter here are kept, not the whole disco
//! result: the store must be as trusted as the server's memory, or its records authenticated
//! (a keyed MAC with a server secret) when it is shared.

use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use xmpp_parsers::hashes::Algo;

use super::verify::{CapsKey, digest_len};
use super::{CapsCache, CapsConfig};
use crate::error::RestoreError;
use crate::info::CapsInfo;

/// The verified entries of a [`CapsCache`], least recently used first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CapsSnapshot {
    /// The entries.
    pub entries: Vec<SnapshotEntry>,
}

/// One verified caps set.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SnapshotEntry {
    /// The hash algorithm, as in `<c hash/>` (`sha-1`).
    pub algo: String,
    /// The ver, base64 as in `<c ver/>`.
    pub ver: String,
    /// The features kept: filter features, `urn:xmpp:rsf:0`, and those of
    /// [`CapsConfig::keep_features`].
    pub features: Vec<String>,
}

impl CapsCache {
    /// The verified entries, to persist.
    #[must_use]
    pub fn snapshot(&self) -> CapsSnapshot {
        let entries = self
            .verified_oldest_first()
            .into_iter()
            .map(|(key, info)| SnapshotEntry {
                algo: String::from(key.algo().clone()),
                ver: key.ver_base64(),
                features: info.features(),
            })
            .collect();
        CapsSnapshot { entries }
    }

    /// A cache holding `snapshot`'s entries, checked against `config`, in the same order of
    /// use.
    ///
    /// # Errors
    /// [`RestoreError`] for the first entry that breaks a bound or a rule.
    pub fn restore(config: CapsConfig, snapshot: CapsSnapshot) -> Result<Self, RestoreError> {
        if snapshot.entries.len() > config.max_entries {
            return Err(RestoreError::TooManyEntries {
                count: snapshot.entries.len(),
                limit: config.max_entries,
            });
        }
        let mut seen = HashSet::with_capacity(snapshot.entries.len());
        let mut checked = Vec::with_capacity(snapshot.entries.len());
        for (index, entry) in snapshot.entries.into_iter().enumerate() {
            let algo: Algo = entry
                .algo
                .parse()
                .map_err(|_| RestoreError::UnsupportedHash {
                    index,
                    algo: entry.algo.clone(),
                })?;
            let Some(len) = digest_len(&algo) else {
                return Err(RestoreError::UnsupportedHash {
                    index,
                    algo: entry.algo,
                });
            };
            let ver = BASE64
                .decode(&entry.ver)
                .ok()
                .filter(|ver| ver.len() == len)
                .ok_or_else(|| RestoreError::BadVer {
                    index,
                    ver: entry.ver.clone(),
                })?;
            let key = CapsKey::new(algo, &ver);
            if !seen.insert(key.clone()) {
                return Err(RestoreError::DuplicateVer {
                    index,
                    ver: entry.ver,
                });
            }
            check_features(index, &entry.features, &config)?;
            checked.push((
                key,
                CapsInfo::from_features_keeping(&entry.features, &config.keep_features),
            ));
        }
        let mut cache = Self::new(config);
        for (key, info) in checked {
            cache.insert_verified(key, info);
        }
        Ok(cache)
    }
}

fn check_features(
    index: usize,
    features: &[String],
    config: &CapsConfig,
) -> Result<(), RestoreError> {
    let bad = |feature: &str| RestoreError::BadFeature {
        index,
        feature: feature.chars().take(64).collect(),
    };
    if features.len() > config.max_children {
        return Err(bad(features.first().map_or("", String::as_str)));
    }
    let mut seen = HashSet::with_capacity(features.len());
    for feature in features {
        if feature.len() > config.max_feature_len
            || !(CapsInfo::keeps(feature) || config.keep_features.contains(feature))
            || !seen.insert(feature.as_str())
        {
            return Err(bad(feature));
        }
    }
    Ok(())
}
