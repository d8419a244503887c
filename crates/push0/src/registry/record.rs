//! What a server persists (`serde` feature): per-account records and whole snapshots, and
//! their validation when read back.
//!
//! A store must be as trusted as the server's memory: a record names the push services that
//! receive the account's notifications and the secrets they get. When the store is shared,
//! authenticate records (a keyed MAC with a server secret) before handing them back. Whatever
//! comes back is still checked like peer data: bounds, duplicates, owners, the size and depth
//! of stored forms.
//!
//! Publishes in flight and their retries are not persisted: after a restart they are lost
//! (their answers would go to a process that no longer exists).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use jid::{BareJid, FullJid};
use rand_core::CryptoRng;
use xmpp_tether_core::Now;
use xmpp_tether_core::framing::{Limits, parse_element};

use super::Registry;
use super::commands::owned_by;
use super::config::RegistryConfig;
use super::event::PushNode;
use super::table::{Hibernating, Registration, Suspension, Timer};
use super::transmit::Options;
use crate::elements::PublishOptions;
use crate::error::{ParseError, RestoreError};

/// How deeply a stored publish-options form may nest (`x` > `field` > `value` is 3).
const MAX_FORM_DEPTH: usize = 8;

/// The persisted state of one account: its registrations and summary counts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct AccountRecord {
    /// The account.
    pub account: BareJid,
    /// Its registrations, oldest enabled first.
    pub registrations: Vec<RegistrationRecord>,
    /// Messages pushed since the user was last online.
    pub message_count: u32,
    /// Subscription requests pushed since the user was last online.
    pub subscription_count: u32,
}

/// One persisted registration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct RegistrationRecord {
    /// The service and node.
    pub node: PushNode,
    /// The publish-options form, as XML text.
    pub publish_options: Option<String>,
    /// When it was (last) enabled.
    pub enabled_at: SystemTime,
    /// The session that enabled it.
    pub enabled_by: Option<FullJid>,
    /// Errors in a row whose type is not `wait`.
    pub errors: u32,
    /// Set while suspended after errors.
    pub suspended: Option<Suspended>,
}

/// A suspension after errors, waiting for its retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Suspended {
    /// When the registration was suspended.
    pub since: SystemTime,
    /// When it is re-enabled.
    pub retry_at: SystemTime,
}

/// A hibernating session whose lifetime is extended until its first push.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct HibernationRecord {
    /// The session.
    pub session: FullJid,
    /// When it hibernated.
    pub since: SystemTime,
    /// Its own resumption timeout.
    pub timeout: Duration,
}

/// The whole persisted state of a [`Registry`].
///
/// A store must be as trusted as the server's memory: records name the push services that get
/// the account's notifications and the secrets they are sent. When the store is shared,
/// authenticate records (a keyed MAC with a server secret) before handing them back; what
/// comes back is still checked like peer data ([`Registry::restore`]). Publishes in flight and
/// their retries are not persisted: after a restart they are lost.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Snapshot {
    /// Every account with registrations.
    pub accounts: Vec<AccountRecord>,
    /// Every extended hibernation.
    pub hibernating: Vec<HibernationRecord>,
}

impl Registry {
    /// The persisted state of `account`; `None` when it has no registrations (delete its
    /// record).
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
                .map(|r| RegistrationRecord {
                    node: (*r.node).clone(),
                    publish_options: r.options.as_ref().map(|o| o.xml.clone()),
                    enabled_at: r.enabled_at,
                    enabled_by: r.enabled_by.clone(),
                    errors: r.errors,
                    suspended: r.suspended.as_ref().map(|s| Suspended {
                        since: s.since,
                        retry_at: s.retry_at,
                    }),
                })
                .collect(),
            message_count: a.messages,
            subscription_count: a.subscriptions,
        })
    }

    /// Everything a restart needs, accounts in a stable order.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        let mut accounts: Vec<&BareJid> = self.accounts.keys().collect();
        accounts.sort();
        let mut hibernating: Vec<HibernationRecord> = self
            .hibernating
            .iter()
            .map(|(session, h)| HibernationRecord {
                session: session.clone(),
                since: h.since,
                timeout: h.timeout,
            })
            .collect();
        hibernating.sort_by(|a, b| (a.since, &a.session).cmp(&(b.since, &b.session)));
        Snapshot {
            accounts: accounts
                .into_iter()
                .filter_map(|a| self.record(a))
                .collect(),
            hibernating,
        }
    }

    /// A registry from a snapshot, checked like peer data. Suspensions whose retry time has
    /// passed are re-enabled at the next [`handle_timeout`](Self::handle_timeout); extended
    /// hibernations that no active registration covers end at once
    /// ([`Event::HibernationDeadline`](crate::Event::HibernationDeadline)).
    ///
    /// # Errors
    /// [`RestoreError`] when the snapshot breaks a bound or does not hold together.
    pub fn restore(
        config: RegistryConfig,
        rng: &mut impl CryptoRng,
        snapshot: Snapshot,
        now: Now,
    ) -> Result<Self, RestoreError> {
        let mut registry = Self::new(config, rng);
        let mut seen = HashSet::new();
        let total: usize = snapshot
            .accounts
            .iter()
            .map(|a| a.registrations.len())
            .sum();
        let limit = registry.config.max_registrations.max(1);
        if total > limit {
            return Err(RestoreError::TooMany {
                count: total,
                limit,
            });
        }
        for record in snapshot.accounts {
            if !seen.insert(record.account.clone()) {
                return Err(RestoreError::DuplicateAccount {
                    account: record.account,
                });
            }
            registry.load_account(now, record)?;
        }
        let limit = registry.config.max_hibernating.max(1);
        if snapshot.hibernating.len() > limit {
            return Err(RestoreError::TooMany {
                count: snapshot.hibernating.len(),
                limit,
            });
        }
        for h in snapshot.hibernating {
            registry.load_hibernation(h)?;
        }
        let accounts: Vec<BareJid> = registry.accounts.keys().cloned().collect();
        for account in accounts {
            registry.recheck_extensions(now, &account);
        }
        Ok(registry)
    }

    /// Loads (or reloads) one account from its record, checked like peer data; it replaces
    /// whatever the registry held as the account's registrations and counts (pending publishes
    /// and extended hibernations are kept).
    ///
    /// # Errors
    /// [`RestoreError`] when the record breaks a bound or does not hold together; the
    /// registry is then unchanged.
    pub fn restore_account(&mut self, now: Now, record: AccountRecord) -> Result<(), RestoreError> {
        let held = self
            .accounts
            .get(&record.account)
            .map_or(0, |a| a.registrations.len());
        let after = self.total - held + record.registrations.len();
        let limit = self.config.max_registrations.max(1);
        if after > limit {
            return Err(RestoreError::TooMany {
                count: after,
                limit,
            });
        }
        let account = record.account.clone();
        self.load_account(now, record)?;
        self.recheck_extensions(now, &account);
        self.gc(&account);
        Ok(())
    }

    fn load_account(&mut self, now: Now, record: AccountRecord) -> Result<(), RestoreError> {
        let registrations = self.validate(now, &record)?;
        let entry = self.account_entry(&record.account);
        let old = std::mem::take(&mut entry.registrations);
        entry.messages = record.message_count;
        entry.subscriptions = record.subscription_count;
        let jid = Arc::clone(&entry.jid);
        for r in &old {
            if let Some(s) = &r.suspended {
                self.timers.disarm(s.timer);
            }
        }
        let mut armed = Vec::with_capacity(registrations.len());
        for (mut registration, suspended) in registrations {
            if let Some(s) = suspended {
                let timer = self.timers.arm(
                    now.monotonic_for(s.retry_at),
                    Timer::Reenable(Arc::clone(&jid), Arc::clone(&registration.node)),
                );
                registration.suspended = Some(Suspension {
                    since: s.since,
                    retry_at: s.retry_at,
                    timer,
                });
            }
            armed.push(registration);
        }
        let (before, after) = (old.len(), armed.len());
        self.total = self.total - before + after;
        self.registrations.update(&jid, before, after);
        if let Some(entry) = self.accounts.get_mut(&*jid) {
            entry.registrations = armed;
        }
        Ok(())
    }

    fn validate(
        &self,
        _now: Now,
        record: &AccountRecord,
    ) -> Result<Vec<(Registration, Option<Suspended>)>, RestoreError> {
        let account = &record.account;
        let limit = self.config.max_per_account.max(1);
        if record.registrations.len() > limit {
            return Err(RestoreError::TooManyForAccount {
                account: account.clone(),
                count: record.registrations.len(),
                limit,
            });
        }
        let mut out: Vec<(Registration, Option<Suspended>)> = Vec::new();
        for r in &record.registrations {
            if out.iter().any(|(o, _)| *o.node == r.node) {
                return Err(RestoreError::DuplicateRegistration {
                    account: account.clone(),
                    service: r.node.service.clone(),
                    node: r.node.node.clone(),
                });
            }
            if r.node.service.to_bare() == *account {
                return Err(RestoreError::OwnJid {
                    account: account.clone(),
                });
            }
            if let Some(by) = r
                .enabled_by
                .as_ref()
                .filter(|s| !owned_by(Some(s), account))
            {
                return Err(RestoreError::WrongOwner {
                    account: account.clone(),
                    session: by.clone(),
                });
            }
            let invalid = |error| RestoreError::InvalidOptions {
                account: account.clone(),
                error,
            };
            if r.node
                .node
                .as_ref()
                .is_some_and(|n| n.len() > self.config.max_node_bytes)
            {
                return Err(invalid(ParseError::TooLarge {
                    what: "node",
                    limit: self.config.max_node_bytes,
                }));
            }
            let options = match &r.publish_options {
                None => None,
                Some(text) => Some(Arc::new(self.stored_options(text).map_err(invalid)?)),
            };
            out.push((
                Registration {
                    node: Arc::new(r.node.clone()),
                    options,
                    enabled_at: r.enabled_at,
                    enabled_by: r.enabled_by.clone(),
                    errors: r.errors,
                    suspended: None,
                },
                r.suspended,
            ));
        }
        Ok(out)
    }

    /// Stored publish options: read with the workspace's bounded parser (size and depth),
    /// then parsed as a form.
    fn stored_options(&self, text: &str) -> Result<Options, ParseError> {
        let limit = self.config.max_options_bytes;
        if text.len() > limit {
            return Err(ParseError::TooLarge {
                what: "publish options",
                limit,
            });
        }
        let limits = Limits::DEFAULT
            .with_max_depth(MAX_FORM_DEPTH)
            .with_max_element_bytes(limit);
        let el = parse_element(text.as_bytes(), &limits).map_err(|e| ParseError::InvalidForm {
            detail: e.to_string(),
        })?;
        Ok(Options::new(PublishOptions::try_from(&el)?))
    }

    fn load_hibernation(&mut self, h: HibernationRecord) -> Result<(), RestoreError> {
        let account = h.session.to_bare();
        let limit = self.config.max_hibernating_per_account.max(1);
        let held = self
            .accounts
            .get(&account)
            .map_or(0, |a| a.hibernating.len());
        if held >= limit {
            return Err(RestoreError::TooManyForAccount {
                account,
                count: held + 1,
                limit,
            });
        }
        if self.hibernating.contains_key(&h.session) {
            return Err(RestoreError::DuplicateSession { session: h.session });
        }
        let entry = self.account_entry(&account);
        entry.hibernating.push(h.session.clone());
        let jid = Arc::clone(&entry.jid);
        self.hibernating_index.update(&jid, held, held + 1);
        self.hibernating.insert(
            h.session,
            Hibernating {
                since: h.since,
                timeout: h.timeout,
            },
        );
        Ok(())
    }
}
