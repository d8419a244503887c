//! Persistence: the registrations of an account as a record, of the whole registry as a
//! snapshot, and reading them back as input.
//!
//! A record holds each registration's `<enable/>` as XML text (the keys and secrets the
//! client sent included: **a store must be as trusted as the server's memory**; authenticate
//! records with a keyed MAC when the store is shared), its key, and its wall-clock times.
//! Reading back parses the XML within `xmpp_tether_core`'s bounds and runs the same checks
//! as a client's `<enable/>`. Notifications in flight are not persisted: after a restart
//! their outcomes are unknown and nothing retries them.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::SystemTime;

use jid::BareJid;
use rand_core::CryptoRng;
use xmpp_tether_core::Now;
use xmpp_tether_core::framing::{Limits, parse_element};

use super::table::Registration;
use super::validate::validate;
use super::{CustomProfiles, Registry, RegistryConfig};
use crate::elements::Enable;
use crate::error::{ParseError, RestoreError};
use crate::stanza::RegistrationKey;
use crate::xml;

/// The largest stored `<enable/>` read back (bytes).
const MAX_RECORD_BYTES: usize = 64 * 1024;

/// One stored registration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct RegistrationRecord {
    /// Its key.
    pub key: RegistrationKey,
    /// The `<enable/>` as XML text.
    pub enable: String,
    /// When it was enabled.
    pub enabled_at: SystemTime,
    /// The first failure since the last success.
    pub failing_since: Option<SystemTime>,
}

/// The stored registrations of one account, least recently enabled first.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct AccountRecord {
    /// The account.
    pub account: BareJid,
    /// Its registrations.
    pub registrations: Vec<RegistrationRecord>,
}

/// Every account's record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Snapshot {
    /// The accounts.
    pub accounts: Vec<AccountRecord>,
}

impl<P: CustomProfiles> Registry<P> {
    /// The record of `account`, or `None` when it has no registrations (delete the record).
    #[must_use]
    pub fn record(&self, account: &BareJid) -> Option<AccountRecord> {
        let a = self.accounts.get(account)?;
        if a.registrations.is_empty() {
            return None;
        }
        Some(AccountRecord {
            account: account.clone(),
            registrations: a
                .registrations
                .iter()
                .filter_map(|r| {
                    Some(RegistrationRecord {
                        key: r.key.clone(),
                        enable: xml::to_text(&r.enable.clone().into())?,
                        enabled_at: r.enabled_at,
                        failing_since: r.failing_since,
                    })
                })
                .collect(),
        })
    }

    /// Every account's record.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        let mut accounts: Vec<AccountRecord> = self
            .accounts
            .keys()
            .filter_map(|a| self.record(a))
            .collect();
        accounts.sort_by(|a, b| a.account.cmp(&b.account));
        Snapshot { accounts }
    }

    /// A registry holding `snapshot`, checked like peer data: every `<enable/>` parses within
    /// bounds and passes the checks a client's would, keys are unique per account, accounts
    /// appear once, and both bounds hold.
    ///
    /// # Errors
    /// The first [`RestoreError`] found; nothing is half-restored.
    pub fn restore(
        config: RegistryConfig,
        profiles: P,
        snapshot: Snapshot,
        rng: &mut impl CryptoRng,
        now: Now,
    ) -> Result<Self, RestoreError> {
        let mut registry = Self::with_profiles(config, profiles, rng);
        let mut seen = HashSet::new();
        let mut total = 0usize;
        let mut parsed = Vec::with_capacity(snapshot.accounts.len());
        for record in snapshot.accounts {
            if !seen.insert(record.account.clone()) {
                return Err(RestoreError::DuplicateAccount {
                    account: record.account,
                });
            }
            total += record.registrations.len();
            parsed.push(registry.check(record)?);
        }
        let limit = registry.config.max_registrations.max(1);
        if total > limit {
            return Err(RestoreError::TooMany {
                count: total,
                limit,
            });
        }
        for (account, registrations) in parsed {
            for r in registrations {
                let _ = registry.insert(now, &account, r);
            }
        }
        // Restoring is not a change to persist, and evicts nothing: the bounds were checked.
        registry.events.clear();
        Ok(registry)
    }

    /// Replaces everything held for `record.account` with `record` (a record read back on
    /// another node, say), checked like [`restore`](Self::restore). Registrations it holds
    /// that the record lacks are removed ([`DisableReason::Evicted`] is not used: they are
    /// reported as [`DisableReason::AccountRemoved`]).
    ///
    /// [`DisableReason::Evicted`]: crate::DisableReason::Evicted
    /// [`DisableReason::AccountRemoved`]: crate::DisableReason::AccountRemoved
    ///
    /// # Errors
    /// [`RestoreError`]; the registry is unchanged then.
    pub fn restore_account(&mut self, now: Now, record: AccountRecord) -> Result<(), RestoreError> {
        let (account, registrations) = self.check(record)?;
        self.remove_account(now, &account);
        for r in registrations {
            let _ = self.insert(now, &account, r);
        }
        self.changed(&account);
        Ok(())
    }

    fn check(
        &mut self,
        record: AccountRecord,
    ) -> Result<(BareJid, Vec<Registration>), RestoreError> {
        let account = record.account;
        let limit = self.config.max_per_account.max(1);
        if record.registrations.len() > limit {
            return Err(RestoreError::TooManyForAccount {
                account,
                count: record.registrations.len(),
                limit,
            });
        }
        let limits = Limits::default().with_max_element_bytes(MAX_RECORD_BYTES);
        let mut keys = HashSet::new();
        let mut out = Vec::with_capacity(record.registrations.len());
        for r in record.registrations {
            if !keys.insert(r.key.clone()) {
                return Err(RestoreError::DuplicateKey {
                    account,
                    key: r.key.to_string(),
                });
            }
            let element =
                parse_element(r.enable.as_bytes(), &limits).map_err(|_| RestoreError::NotXml {
                    account: account.clone(),
                })?;
            let enable =
                Enable::try_from(&element).map_err(|e: ParseError| RestoreError::Refused {
                    account: account.clone(),
                    error: e.into(),
                })?;
            let matches =
                validate(&self.config, &self.profiles, &account, &enable).map_err(|error| {
                    RestoreError::Refused {
                        account: account.clone(),
                        error,
                    }
                })?;
            out.push(Registration {
                key: r.key,
                generation: self.next_seq(),
                service: enable.service.clone(),
                client: Arc::from(enable.client.as_str()),
                matches,
                enable,
                enabled_at: r.enabled_at,
                failing_since: r.failing_since,
            });
        }
        Ok((account, out))
    }
}
