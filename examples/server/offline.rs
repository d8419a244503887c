//! Offline messages (XEP-0160 behaviour): messages for an account with no available resource
//! wait here, with a XEP-0203 delay stamp, until it sends initial presence.

use std::collections::{HashMap, VecDeque};
use std::time::SystemTime;

use xmpp_tether::jid::BareJid;
use xmpp_tether::minidom::Element;
use xmpp_tether::xmpp_parsers::date::DateTime;
use xmpp_tether::xmpp_parsers::delay::Delay;

/// At most this many messages wait per account; more are bounced to their sender.
const PER_ACCOUNT: usize = 1000;

#[derive(Debug, Default)]
pub(crate) struct Offline {
    queues: HashMap<BareJid, VecDeque<Element>>,
}

impl Offline {
    /// Keeps `message` for `account`, stamped with when it was first sent (by `domain`).
    /// Hands it back when the account's queue is full.
    pub(crate) fn store(
        &mut self,
        account: BareJid,
        mut message: Element,
        first_sent: SystemTime,
        domain: &str,
    ) -> Result<(), Element> {
        let queue = self.queues.entry(account).or_default();
        if queue.len() >= PER_ACCOUNT {
            return Err(message);
        }
        if !message.has_child("delay", "urn:xmpp:delay") {
            let stamp = chrono::DateTime::<chrono::Utc>::from(first_sent);
            let delay = Delay {
                from: domain.parse().ok(),
                stamp: DateTime(stamp.fixed_offset()),
                data: None,
            };
            message.append_child(delay.into());
        }
        queue.push_back(message);
        Ok(())
    }

    /// Everything waiting for `account`, oldest first.
    pub(crate) fn take(&mut self, account: &BareJid) -> Vec<Element> {
        self.queues
            .remove(account)
            .map(Vec::from)
            .unwrap_or_default()
    }

    /// For the state file: every queue as XML text.
    pub(crate) fn to_saved(&self) -> Vec<(BareJid, Vec<String>)> {
        self.queues
            .iter()
            .map(|(jid, q)| (jid.clone(), q.iter().map(String::from).collect()))
            .collect()
    }

    /// Back from the state file; messages that do not parse within the framing limits, or
    /// are not messages, are skipped (and counted).
    pub(crate) fn from_saved(saved: Vec<(BareJid, Vec<String>)>) -> (Self, usize) {
        let mut offline = Self::default();
        let mut skipped = 0;
        let limits = xmpp_tether::framing::Limits::default();
        for (jid, messages) in saved {
            let queue = offline.queues.entry(jid).or_default();
            for xml in messages {
                match xmpp_tether::framing::parse_element(xml.as_bytes(), &limits) {
                    Ok(el) if el.is("message", "jabber:client") && queue.len() < PER_ACCOUNT => {
                        queue.push_back(el);
                    }
                    _ => skipped += 1,
                }
            }
        }
        (offline, skipped)
    }
}
