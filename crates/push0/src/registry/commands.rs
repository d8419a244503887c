//! The user's commands (XEP-0357 §5 enable, §6 disable), the service's remote disabling (§8),
//! and the registration table they change.

use std::sync::Arc;

use jid::{BareJid, FullJid, Jid};
use minidom::Element;
use minidom::rxml::xml_ncname;
use xmpp_parsers::stanza_error::StanzaError;
use xmpp_tether_core::Now;

use super::Registry;
use super::event::{Bound, DisableReason, Event, Incoming, PushNode};
use super::table::Registration;
use super::transmit::{Options, Transmit};
use crate::elements::{AffiliationChange, Disable, Enable};
use crate::error::{EnableError, ParseError};
use crate::ns;
use crate::xml;

impl Registry {
    /// An iq carrying `<enable/>` or `<disable/>`: validated, applied and answered.
    pub(super) fn on_command(
        &mut self,
        now: Now,
        iq: &Element,
        command: &Element,
    ) -> Result<Incoming, EnableError> {
        // Without an id there is nothing to answer, without a from no one to answer; routing
        // never hands us such an iq from a session, so it is not ours.
        let (Some(id), Some(from)) = (
            iq.attr("id"),
            iq.attr("from").and_then(|f| f.parse::<Jid>().ok()),
        ) else {
            return Ok(Incoming::NotOurs);
        };
        let account = match iq.attr("to").map(str::parse::<Jid>) {
            None => from.to_bare(),
            // To the server itself (as ejabberd accepts): about the sender's own account.
            Some(Ok(to)) if to.node().is_none() && to.domain() == from.domain() => from.to_bare(),
            Some(Ok(to)) if to.is_bare() => to.to_bare(),
            // To a session or unparsable: not a command to an account.
            Some(_) => return Ok(Incoming::NotOurs),
        };
        let outcome = self.command(now, iq, command, &from, &account);
        let reply = match &outcome {
            Ok(()) => reply(id, &from, &account, None),
            Err(e) => reply(
                id,
                &from,
                &account,
                Some(StanzaError::new(
                    e.error_type(),
                    e.condition(),
                    "en",
                    e.to_string(),
                )),
            ),
        };
        self.transmit.push_back(Transmit::Reply {
            to: from,
            element: Box::new(reply),
        });
        outcome.map(|()| Incoming::Handled)
    }

    fn command(
        &mut self,
        now: Now,
        iq: &Element,
        command: &Element,
        from: &Jid,
        account: &BareJid,
    ) -> Result<(), EnableError> {
        if iq.attr("type") != Some("set") {
            return Err(EnableError::NotSet);
        }
        if from.to_bare() != *account {
            return Err(EnableError::Forbidden {
                from: from.clone(),
                account: account.clone(),
            });
        }
        if command.name() == "enable" {
            let enable = Enable::try_from(command)?;
            self.enable(now, from, account, enable)
        } else {
            let disable = Disable::try_from(command)?;
            self.disable(now, from, account, &disable);
            Ok(())
        }
    }

    fn enable(
        &mut self,
        now: Now,
        from: &Jid,
        account: &BareJid,
        enable: Enable,
    ) -> Result<(), EnableError> {
        // Prosody refuses the sender's own JID; any JID of the account is as wrong.
        if enable.jid.to_bare() == *account {
            return Err(EnableError::OwnJid);
        }
        match &enable.node {
            None if self.config.require_node => return Err(EnableError::NodeRequired),
            Some(node) if node.len() > self.config.max_node_bytes => {
                return Err(ParseError::TooLarge {
                    what: "node",
                    limit: self.config.max_node_bytes,
                }
                .into());
            }
            _ => {}
        }
        let options = match enable.publish_options {
            None => None,
            Some(form) => {
                let options = Options::new(form);
                if options.xml.len() > self.config.max_options_bytes {
                    return Err(ParseError::TooLarge {
                        what: "publish options",
                        limit: self.config.max_options_bytes,
                    }
                    .into());
                }
                Some(Arc::new(options))
            }
        };
        let registration = Registration {
            node: Arc::new(PushNode::new(enable.jid, enable.node)),
            options,
            enabled_at: now.wall(),
            enabled_by: from.clone().try_into_full().ok(),
            errors: 0,
            suspended: None,
        };
        self.insert_registration(now, account, registration);
        Ok(())
    }

    /// Adds a registration, or replaces the one of the same pair (new options, newest), making
    /// room within the bounds first.
    pub(super) fn insert_registration(
        &mut self,
        now: Now,
        account: &BareJid,
        registration: Registration,
    ) {
        let node = (*registration.node).clone();
        let by = registration.enabled_by.clone();
        let entry = self.account_entry(account);
        let jid = Arc::clone(&entry.jid);
        let replaced = match entry.position(&node) {
            Some(i) => {
                let old = entry.registrations.remove(i);
                if let Some(s) = old.suspended {
                    self.timers.disarm(s.timer);
                }
                true
            }
            None => false,
        };
        if !replaced {
            let per_account = self.config.max_per_account.max(1);
            while self
                .accounts
                .get(account)
                .is_some_and(|a| a.registrations.len() >= per_account)
            {
                self.remove_registration(now, &jid, 0, evicted(Bound::Account));
            }
            while self.total >= self.config.max_registrations.max(1) {
                let Some(largest) = self.registrations.largest() else {
                    break;
                };
                self.remove_registration(now, &largest, 0, evicted(Bound::Global));
            }
        }
        let entry = self.account_entry(account);
        let before = entry.registrations.len();
        entry.registrations.push(registration);
        let jid = Arc::clone(&entry.jid);
        // A replaced registration was removed above without telling the index.
        self.registrations
            .update(&jid, before + usize::from(replaced), before + 1);
        if !replaced {
            self.total += 1;
        }
        self.emit(Event::Enabled {
            account: account.clone(),
            node,
            by,
            replaced,
        });
        self.changed(account);
        // A replaced registration may have been suspended: the sessions it covers are
        // unchanged, so no extension needs rechecking.
    }

    fn disable(&mut self, now: Now, from: &Jid, account: &BareJid, disable: &Disable) {
        let Some(jid) = self.accounts.get(account).map(|a| Arc::clone(&a.jid)) else {
            return;
        };
        // XEP-0357 §6: with a node, that pair; without, every node of the service.
        while let Some(i) = self.accounts.get(account).and_then(|a| {
            a.registrations.iter().position(|r| {
                r.node.service == disable.jid
                    && disable
                        .node
                        .as_ref()
                        .is_none_or(|n| r.node.node.as_ref() == Some(n))
            })
        }) {
            let reason = DisableReason::User { by: from.clone() };
            self.remove_registration(now, &jid, i, reason);
        }
    }

    /// Removes registration `index` of `account`, reported with `reason`.
    pub(super) fn remove_registration(
        &mut self,
        now: Now,
        account: &BareJid,
        index: usize,
        reason: DisableReason,
    ) {
        let Some(entry) = self.accounts.get_mut(account) else {
            return;
        };
        if index >= entry.registrations.len() {
            return;
        }
        let before = entry.registrations.len();
        let removed = entry.registrations.remove(index);
        let jid = Arc::clone(&entry.jid);
        self.registrations.update(&jid, before, before - 1);
        self.total -= 1;
        if let Some(s) = &removed.suspended {
            self.timers.disarm(s.timer);
        }
        self.emit(Event::Disabled {
            account: account.clone(),
            node: (*removed.node).clone(),
            reason,
        });
        self.changed(account);
        self.recheck_extensions(now, account);
        self.gc(account);
    }

    /// A message that may be a XEP-0357 §8 affiliation change notice from a push service.
    pub(super) fn on_affiliation(&mut self, now: Now, message: &Element) -> Incoming {
        let Some(Ok(change)) = message
            .get_child("pubsub", ns::PUBSUB)
            .map(AffiliationChange::try_from)
        else {
            return Incoming::NotOurs;
        };
        let (Some(from), Some(to)) = (
            message.attr("from").and_then(|f| f.parse::<Jid>().ok()),
            message.attr("to").and_then(|t| t.parse::<Jid>().ok()),
        ) else {
            return Incoming::NotOurs;
        };
        let account = to.to_bare();
        let node = PushNode::new(from, Some(change.node.clone()));
        let Some(index) = self.accounts.get(&account).and_then(|a| a.position(&node)) else {
            return Incoming::NotOurs;
        };
        // The notice names the user (0.2.1 publishes from the bare JID) or the server (0.3+).
        let about_us = change.jid == account
            || (change.jid.node().is_none() && change.jid.domain() == account.domain());
        if !about_us {
            return Incoming::NotOurs;
        }
        if change.revokes_publishing() {
            self.remove_registration(now, &account, index, DisableReason::Service);
        }
        Incoming::Handled
    }
}

fn evicted(bound: Bound) -> DisableReason {
    DisableReason::Evicted { bound }
}

/// The result (or, with `error`, the error) answering command `id` from `to`.
fn reply(id: &str, to: &Jid, account: &BareJid, error: Option<StanzaError>) -> Element {
    let mut iq = Element::bare("iq", ns::JABBER_CLIENT);
    let kind = if error.is_some() { "error" } else { "result" };
    xml::set(&mut iq, xml_ncname!("type"), kind);
    xml::set(&mut iq, xml_ncname!("id"), id);
    xml::set(&mut iq, xml_ncname!("from"), account.as_str());
    xml::set(&mut iq, xml_ncname!("to"), to.as_str());
    if let Some(error) = error {
        iq.append_child(error.into());
    }
    iq
}

/// The session a registration record names must belong to its account.
pub(super) fn owned_by(session: Option<&FullJid>, account: &BareJid) -> bool {
    session.is_none_or(|s| s.to_bare() == *account)
}
