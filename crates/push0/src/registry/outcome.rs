//! Publishes after their first send: their answers, timeouts and retries (XEP-0357 §7.1).

use std::sync::Arc;

use jid::{BareJid, Jid};
use minidom::Element;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};
use xmpp_tether_core::Now;

use super::Registry;
use super::event::{AbandonReason, DisableReason, Event, Incoming, PushNode};
use super::table::{Pending, Suspension, Timer};
use super::transmit::{PublishId, PublishIq, Transmit};
use crate::xml;

impl Registry {
    /// Brings the global size index up to date for `account`'s pending publishes.
    pub(super) fn pending_index_refresh(&mut self, account: &BareJid) {
        let Some(a) = self.accounts.get_mut(account) else {
            return;
        };
        let (old, new) = (a.pending_indexed, a.pending.len());
        a.pending_indexed = new;
        let jid = Arc::clone(&a.jid);
        self.pending_index.update(&jid, old, new);
    }

    fn publish_id(&self, seq: u64, attempt: u32) -> PublishId {
        PublishId::new(&self.id_prefix, seq, attempt)
    }

    /// The (sequence, attempt) an id of ours names.
    fn parse_id(&self, id: &str) -> Option<(u64, u32)> {
        let rest = id.strip_prefix(self.id_prefix.as_str())?;
        let (seq, attempt) = rest.split_once('.')?;
        Some((
            u64::from_str_radix(seq, 16).ok()?,
            u32::from_str_radix(attempt, 16).ok()?,
        ))
    }

    /// Removes a pending publish from every table.
    fn take_pending(&mut self, seq: u64) -> Option<Pending> {
        let p = self.pending.remove(&seq)?;
        if let Some(timer) = p.timer {
            self.timers.disarm(timer);
        }
        self.prune_responses();
        let account = Arc::clone(&p.batch.account);
        if let Some(a) = self.accounts.get_mut(&*account) {
            a.unpend(seq);
        }
        self.pending_index_refresh(&account);
        self.gc(&account);
        Some(p)
    }

    /// Drops answer deadlines of sends no longer in flight from the front of their queue (so
    /// `poll_timeout` is exact), and compacts it when they outnumber the pending publishes.
    fn prune_responses(&mut self) {
        let pending = &self.pending;
        self.responses.prune(pending.len(), |r| {
            pending
                .get(&r.seq)
                .is_some_and(|p| p.attempt == r.attempt && !p.waiting)
        });
    }

    /// Gives a pending publish up, reported.
    pub(super) fn abandon(&mut self, seq: u64, reason: AbandonReason) {
        if let Some(p) = self.take_pending(seq) {
            self.emit(Event::Abandoned {
                account: (*p.batch.account).clone(),
                node: (*p.node).clone(),
                reason,
                attempts: p.attempt,
                first_sent: p.first_sent,
            });
        }
    }

    /// An iq result or error: ours if its id is one of our publishes in flight and it comes
    /// from the service we sent that publish to.
    pub(super) fn on_answer(&mut self, now: Now, iq: &Element) -> Incoming {
        let Some((seq, attempt)) = iq.attr("id").and_then(|id| self.parse_id(id)) else {
            return Incoming::NotOurs;
        };
        let matches = self.pending.get(&seq).is_some_and(|p| {
            p.attempt == attempt && !p.waiting && is_from(iq.attr("from"), &p.node.service)
        });
        if !matches {
            return Incoming::NotOurs;
        }
        if iq.attr("type") == Some("result") {
            self.on_delivered(seq);
            return Incoming::Handled;
        }
        let error = xml::stanza_error(iq).unwrap_or_else(|| {
            StanzaError::new(
                ErrorType::Cancel,
                DefinedCondition::UndefinedCondition,
                "en",
                "the push service's error did not parse",
            )
        });
        if error.type_ == ErrorType::Wait {
            self.retry_or_abandon(now, seq, Some(error));
        } else {
            self.on_failed(now, seq, error);
        }
        Incoming::Handled
    }

    fn on_delivered(&mut self, seq: u64) {
        let Some(p) = self.take_pending(seq) else {
            return;
        };
        let reset = self.accounts.get_mut(&*p.batch.account).is_some_and(|a| {
            a.registrations
                .iter_mut()
                .find(|r| r.node == p.node)
                .filter(|r| r.errors > 0 && r.suspended.is_none())
                .is_some_and(|r| {
                    r.errors = 0;
                    true
                })
        });
        self.emit(Event::Delivered {
            account: (*p.batch.account).clone(),
            node: (*p.node).clone(),
            attempts: p.attempt,
            first_sent: p.first_sent,
        });
        if reset {
            self.changed(&p.batch.account);
        }
    }

    /// A `wait` error (`Some`) or no answer (`None`): send again after the back-off, or give
    /// up after the last attempt.
    fn retry_or_abandon(&mut self, now: Now, seq: u64, wait: Option<StanzaError>) {
        let attempts = self.config.retry.attempts.max(1);
        let Some(p) = self.pending.get_mut(&seq) else {
            return;
        };
        if p.attempt >= attempts {
            let reason = wait.map_or(AbandonReason::TimedOut, |e| {
                AbandonReason::Wait(Box::new(e))
            });
            self.abandon(seq, reason);
            return;
        }
        let delay = self.config.retry.delay(p.attempt);
        p.waiting = true;
        p.last_wait = wait.map(Box::new);
        let timer = self.timers.arm(now.monotonic() + delay, Timer::Retry(seq));
        if let Some(p) = self.pending.get_mut(&seq) {
            p.timer = Some(timer);
        }
        self.prune_responses();
    }

    /// The answer deadline of send `attempt` of publish `seq` passed (nothing happens if that
    /// send was answered, or was not the last).
    pub(super) fn on_response_timeout(&mut self, now: Now, seq: u64, attempt: u32) {
        let in_flight = self
            .pending
            .get(&seq)
            .is_some_and(|p| p.attempt == attempt && !p.waiting);
        if in_flight {
            self.retry_or_abandon(now, seq, None);
        }
        self.prune_responses();
    }

    pub(super) fn on_retry_due(&mut self, now: Now, seq: u64) {
        let Some(p) = self.pending.get(&seq) else {
            return;
        };
        let active = self.accounts.get(&*p.batch.account).is_some_and(|a| {
            a.registrations
                .iter()
                .any(|r| r.node == p.node && r.suspended.is_none())
        });
        if !active {
            self.abandon(seq, AbandonReason::Disabled);
            return;
        }
        let attempt = p.attempt + 1;
        let id = self.publish_id(seq, attempt);
        let Some(p) = self.pending.get_mut(&seq) else {
            return;
        };
        p.attempt = attempt;
        p.waiting = false;
        // The retry timer fired: it is already out of the table.
        p.timer = None;
        let transmit = Transmit::Publish(PublishIq {
            batch: Arc::clone(&p.batch),
            node: Arc::clone(&p.node),
            id,
            options: p.options.clone(),
        });
        self.transmit.push_back(transmit);
        self.responses
            .arm(now.monotonic() + self.config.response_timeout, seq, attempt);
        self.prune_responses();
    }

    /// An error whose type is not `wait`: counted against the registration, which the policy
    /// may then disable.
    fn on_failed(&mut self, now: Now, seq: u64, error: StanzaError) {
        let Some(p) = self.take_pending(seq) else {
            return;
        };
        let limit = self.config.errors.limit();
        let counted = self.accounts.get_mut(&*p.batch.account).and_then(|a| {
            let i = a
                .registrations
                .iter()
                .position(|r| r.node == p.node && r.suspended.is_none())?;
            let r = &mut a.registrations[i];
            r.errors = r.errors.saturating_add(1);
            Some((i, r.errors))
        });
        self.emit(Event::PublishFailed {
            account: (*p.batch.account).clone(),
            node: (*p.node).clone(),
            error: error.clone(),
            consecutive: counted.map_or(0, |(_, n)| n),
        });
        let Some((index, count)) = counted else {
            return;
        };
        if count >= limit {
            self.disable_by_errors(now, &p.batch.account, index, error, count);
        } else {
            self.changed(&p.batch.account);
        }
    }

    /// Suspends (when retries of disabled registrations are configured) or removes a
    /// registration after errors.
    fn disable_by_errors(
        &mut self,
        now: Now,
        account: &Arc<BareJid>,
        index: usize,
        error: StanzaError,
        count: u32,
    ) {
        let Some(after) = self.config.retry_disabled_after else {
            let reason = DisableReason::Errors {
                error,
                count,
                retry_at: None,
            };
            self.remove_registration(now, account, index, reason);
            return;
        };
        let retry_at = now.wall() + after;
        let Some(node) = self
            .accounts
            .get(&**account)
            .and_then(|a| a.registrations.get(index))
            .map(|r| Arc::clone(&r.node))
        else {
            return;
        };
        let timer = self.timers.arm(
            now.monotonic() + after,
            Timer::Reenable(Arc::clone(account), Arc::clone(&node)),
        );
        if let Some(r) = self
            .accounts
            .get_mut(&**account)
            .and_then(|a| a.registrations.get_mut(index))
        {
            r.suspended = Some(Suspension {
                since: now.wall(),
                retry_at,
                timer,
            });
        }
        self.emit(Event::Disabled {
            account: (**account).clone(),
            node: (*node).clone(),
            reason: DisableReason::Errors {
                error,
                count,
                retry_at: Some(retry_at),
            },
        });
        self.changed(account);
        self.recheck_extensions(now, account);
    }

    pub(super) fn on_reenable_due(&mut self, _now: Now, account: &BareJid, node: &PushNode) {
        let probation = self.config.errors.limit().saturating_sub(1);
        let Some(r) = self.accounts.get_mut(account).and_then(|a| {
            a.registrations
                .iter_mut()
                .find(|r| *r.node == *node && r.suspended.is_some())
        }) else {
            return;
        };
        r.suspended = None;
        r.errors = probation;
        self.emit(Event::Reenabled {
            account: account.clone(),
            node: node.clone(),
        });
        self.changed(account);
    }
}

/// Whether a stanza's `from` is `service`: the same text as its normalised form (what a
/// service answering us sends; no need to parse it), or a JID that normalises to it.
fn is_from(from: Option<&str>, service: &Jid) -> bool {
    from.is_some_and(|f| f == service.as_str() || f.parse::<Jid>().is_ok_and(|j| j == *service))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::sending::truncate;

    #[test]
    fn hex_and_truncate() {
        assert_eq!(PublishId::new("p0a.", 0x1f, 0).as_str(), "p0a.1f.0");
        let longest = PublishId::new("p0123456789ab.", u64::MAX, u32::MAX);
        assert_eq!(longest.as_str(), "p0123456789ab.ffffffffffffffff.ffffffff");
        assert_eq!(truncate("héllo", 2), "hé");
        assert_eq!(truncate("hi", 5), "hi");
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo", 4), "héll");
    }

    #[test]
    fn answers_are_matched_on_the_normalised_from() {
        let service: Jid = "push.example".parse().expect("JID");
        assert!(is_from(Some("push.example"), &service));
        assert!(is_from(Some("PUSH.example"), &service));
        assert!(!is_from(Some("push.example/r"), &service));
        assert!(!is_from(Some("not a jid@"), &service));
        assert!(!is_from(None, &service));
    }
}
