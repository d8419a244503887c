//! The client's commands (enable, disable; as iqs or inside Bind2) and the registration table
//! they change.

use std::sync::Arc;

use jid::{BareJid, Jid};
use minidom::Element;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::stanza_error::StanzaError;
use xmpp_tether_core::Now;

use super::event::{Bound, DisableReason, DiscardReason, Event, Incoming, Transmit};
use super::table::{Account, Registration};
use super::validate::validate;
use super::{CustomProfiles, Registry};
use crate::elements::Enable;
use crate::error::{EnableError, Refused};
use crate::ns;
use crate::stanza::{Device, RegistrationKey};
use crate::xml;

impl<P: CustomProfiles> Registry<P> {
    /// Handles an iq from one of the account's own sessions (`device`, as its stream knows
    /// it) that may carry `<enable/>` or `<disable/>`: validated, applied and answered (the
    /// result or error is queued for `device`). Anything else is [`Incoming::NotOurs`].
    ///
    /// # Errors
    /// [`EnableError`] when the command was refused (its error reply is queued).
    pub fn handle_iq(
        &mut self,
        now: Now,
        device: &Device,
        iq: &Element,
    ) -> Result<Incoming, EnableError> {
        if !xml::is_stanza(iq, "iq") {
            return Ok(Incoming::NotOurs);
        }
        let Some(command) = iq
            .children()
            .find(|c| c.has_ns(ns::PUSH2) && matches!(c.name(), "enable" | "disable"))
        else {
            return Ok(Incoming::NotOurs);
        };
        let Some(id) = iq.attr("id") else {
            // Nothing to answer: routing never hands us such an iq from a session.
            return Ok(Incoming::NotOurs);
        };
        if !matches!(iq.attr("type"), Some("set" | "get")) {
            return Ok(Incoming::NotOurs);
        }
        let outcome = self.command(now, device, iq, command);
        let reply = match &outcome {
            Ok(()) => Iq::empty_result(Jid::from(device.jid.clone()), id.to_owned()).into(),
            Err(e) => Iq::from_error(id.to_owned(), e.to_stanza_error())
                .with_to(Jid::from(device.jid.clone()))
                .into(),
        };
        self.transmit.push_back(Transmit::Reply {
            to: device.jid.clone(),
            element: Box::new(reply),
        });
        outcome.map(|()| Incoming::Handled)
    }

    fn command(
        &mut self,
        now: Now,
        device: &Device,
        iq: &Element,
        command: &Element,
    ) -> Result<(), EnableError> {
        let account = device.jid.to_bare();
        // Only the account itself (no `to`, or its bare JID): RFC 6120 §10.3.3.
        if let Some(to) = iq.attr("to") {
            let to_account = to
                .parse::<Jid>()
                .ok()
                .is_some_and(|to| to.to_bare() == account && to.resource().is_none());
            if !to_account {
                return Err(EnableError::Forbidden {
                    from: Jid::from(device.jid.clone()),
                    to: to
                        .parse::<Jid>()
                        .unwrap_or_else(|_| Jid::from(account.clone())),
                });
            }
        }
        if iq.attr("type") != Some("set") {
            return Err(EnableError::NotSet);
        }
        if command.name() == "disable" {
            self.disable(now, device);
            return Ok(());
        }
        let enable = Enable::try_from(command)?;
        self.enable(now, device, enable).map_err(|r| r.reason)
    }

    /// Handles a Bind2 `<bind xmlns='urn:xmpp:bind:0'/>` request: an `<enable/>` inside it
    /// is applied as [`handle_iq`](Self::handle_iq) would, and answered with
    /// [`Transmit::Bind2`] (`<enabled xmlns='urn:xmpp:push2:0'/>`, or `<failed/>` holding the
    /// stanza error) for the server's `<bound/>`. Call it once the resource is bound, with
    /// `device` naming it. A `<bind/>` without one is [`Incoming::NotOurs`].
    ///
    /// # Errors
    /// [`EnableError`] when the enable was refused (the `<failed/>` is queued).
    pub fn handle_bind2(
        &mut self,
        now: Now,
        device: &Device,
        bind: &Element,
    ) -> Result<Incoming, EnableError> {
        if !bind.is("bind", ns::BIND2) {
            return Ok(Incoming::NotOurs);
        }
        let Some(enable) = bind.get_child("enable", ns::PUSH2) else {
            return Ok(Incoming::NotOurs);
        };
        let outcome = Enable::try_from(enable)
            .map_err(EnableError::from)
            .and_then(|e| self.enable(now, device, e).map_err(|r| r.reason));
        let element = match &outcome {
            Ok(()) => Element::bare("enabled", ns::PUSH2),
            Err(e) => failed(&e.to_stanza_error()),
        };
        self.transmit.push_back(Transmit::Bind2 {
            session: device.jid.clone(),
            element: Box::new(element),
        });
        outcome.map(|()| Incoming::Handled)
    }

    /// Registers `enable` for `device`'s account and key, replacing the registration with
    /// that key, or evicting the least recently enabled one at the per-account bound
    /// (reported). The command behind [`handle_iq`](Self::handle_iq); a server that takes
    /// registrations another way (an admin interface, a migration) calls it directly.
    ///
    /// # Errors
    /// [`Refused`] with the reason and the `Enable` when validation fails.
    #[expect(
        clippy::result_large_err,
        reason = "the Enable is handed back by value, as std's SendError<T> does"
    )]
    pub fn enable(
        &mut self,
        now: Now,
        device: &Device,
        enable: Enable,
    ) -> Result<(), Refused<Enable>> {
        let account = device.jid.to_bare();
        let matches = match validate(&self.config, &self.profiles, &account, &enable) {
            Ok(matches) => matches,
            Err(reason) => {
                return Err(Refused {
                    reason,
                    value: enable,
                });
            }
        };
        let registration = Registration {
            key: device.key(),
            generation: self.next_seq(),
            service: enable.service.clone(),
            client: Arc::from(enable.client.as_str()),
            matches,
            enable,
            enabled_at: now.wall(),
            failing_since: None,
        };
        let service = registration.service.clone();
        let key = registration.key.clone();
        let replaced = self.insert(now, &account, registration);
        self.emit(Event::Enabled {
            account: account.clone(),
            key,
            service,
            by: device.jid.clone(),
            replaced,
        });
        self.changed(&account);
        Ok(())
    }

    /// Removes `device`'s registration (the seed's `<disable/>`); returns whether there was
    /// one. A disable with nothing to remove is still a success, as mod_push2 answers it.
    pub fn disable(&mut self, now: Now, device: &Device) -> bool {
        let account = device.jid.to_bare();
        let Some(index) = self
            .accounts
            .get(&account)
            .and_then(|a| a.position(&device.key()))
        else {
            return false;
        };
        let reason = DisableReason::User {
            by: device.jid.clone(),
        };
        self.remove_registration(now, &account, index, reason);
        true
    }

    /// Removes everything of `account` (it was deleted): each registration is reported
    /// [`DisableReason::AccountRemoved`], each pending notification
    /// [`DiscardReason::Disabled`].
    pub fn remove_account(&mut self, now: Now, account: &BareJid) {
        while self
            .accounts
            .get(account)
            .is_some_and(|a| !a.registrations.is_empty())
        {
            self.remove_registration(now, account, 0, DisableReason::AccountRemoved);
        }
        let seqs: Vec<u64> = self
            .accounts
            .get(account)
            .map(|a| a.pending.iter().copied().collect())
            .unwrap_or_default();
        for seq in seqs {
            self.discard(seq, DiscardReason::Disabled);
        }
        self.gc(account);
    }

    /// Adds `registration`, replacing one with the same key (whose notifications are
    /// discarded) or making room within both bounds. Returns whether it replaced one.
    pub(super) fn insert(
        &mut self,
        now: Now,
        account: &BareJid,
        registration: Registration,
    ) -> bool {
        let existing = self
            .accounts
            .get(account)
            .and_then(|a| a.position(&registration.key));
        let replaced = if let Some(index) = existing {
            let old = self
                .accounts
                .get_mut(account)
                .map(|a| a.registrations.remove(index));
            self.total -= 1;
            if let Some(old) = old {
                self.forget(account, &old);
            }
            true
        } else {
            self.make_room(now, account);
            false
        };
        for key in registration.vapid_keys() {
            *self.key_refs.entry(key).or_default() += 1;
        }
        self.accounts
            .entry(account.clone())
            .or_insert_with(|| Account::new(account.clone()))
            .registrations
            .push(registration);
        self.total += 1;
        self.reindex(account);
        replaced
    }

    /// Evicts registrations until one more fits within both bounds.
    fn make_room(&mut self, now: Now, account: &BareJid) {
        let per_account = self.config.max_per_account.max(1);
        while self
            .accounts
            .get(account)
            .is_some_and(|a| a.registrations.len() >= per_account)
        {
            let reason = DisableReason::Evicted {
                bound: Bound::Account,
            };
            self.remove_registration(now, account, 0, reason);
        }
        let global = self.config.max_registrations.max(1);
        while self.total >= global {
            let Some(largest) = self.index.largest() else {
                break;
            };
            let reason = DisableReason::Evicted {
                bound: Bound::Global,
            };
            self.remove_registration(now, &largest, 0, reason);
        }
    }

    /// Removes the registration at `index` of `account`, reported with `reason`.
    pub(super) fn remove_registration(
        &mut self,
        _now: Now,
        account: &BareJid,
        index: usize,
        reason: DisableReason,
    ) {
        let Some(removed) = self
            .accounts
            .get_mut(account)
            .and_then(|a| (index < a.registrations.len()).then(|| a.registrations.remove(index)))
        else {
            return;
        };
        self.total -= 1;
        self.forget(account, &removed);
        self.emit(Event::Disabled {
            account: account.clone(),
            key: removed.key,
            service: removed.service,
            reason,
        });
        self.changed(account);
        self.reindex(account);
        self.gc(account);
    }

    /// Discards the notifications of a registration that is gone and releases its keys.
    fn forget(&mut self, account: &BareJid, registration: &Registration) {
        let seqs: Vec<u64> = self.accounts.get(account).map_or_else(Vec::new, |a| {
            a.pending
                .iter()
                .copied()
                .filter(|seq| {
                    self.pending
                        .get(seq)
                        .is_some_and(|p| p.generation == registration.generation)
                })
                .collect()
        });
        for seq in seqs {
            self.discard(seq, DiscardReason::Disabled);
        }
        for key in registration.vapid_keys() {
            if let Some(count) = self.key_refs.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    self.key_refs.remove(&key);
                    self.tokens.remove_key(&key);
                }
            }
        }
    }

    /// The position of the registration `key` of `account` if it is still `generation`.
    pub(super) fn find(
        &self,
        account: &BareJid,
        key: &RegistrationKey,
        generation: u64,
    ) -> Option<usize> {
        let a = self.accounts.get(account)?;
        let index = a.position(key)?;
        (a.registrations[index].generation == generation).then_some(index)
    }
}

/// `<failed xmlns='urn:xmpp:push2:0'>` with the stanza error's condition and text, the
/// Bind2 answer to a refused inline `<enable/>` (our form, after XEP-0198's inline
/// `<failed/>`).
fn failed(error: &StanzaError) -> Element {
    let error = Element::from(error.clone());
    let mut out = Element::bare("failed", ns::PUSH2);
    xml::copy_attrs(&error, &mut out);
    for child in error.children() {
        out.append_child(child.clone());
    }
    out
}
